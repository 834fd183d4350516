//! Sign-in, sign-out and the first owner's one-time set-up page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, render, see_other};
use crate::identity::users;
use crate::web::AppState;
use crate::web::api::session::{sign_in, sign_out};
use crate::web::auth::{self, Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .service(
            web::resource("/login")
                .route(web::get().to(login_form))
                .route(web::post().to(login_submit)),
        )
        .route("/logout", web::post().to(logout))
        .service(
            web::resource("/setup")
                .route(web::get().to(setup_form))
                .route(web::post().to(setup_submit)),
        );
}

async fn home() -> HttpResponse {
    see_other("/clients")
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    error: Option<String>,
    username: String,
}

async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = req.cookie(auth::SESSION_COOKIE)
        && auth::resolve(&state, cookie.value()).await.is_ok()
    {
        return Ok(see_other("/clients"));
    }
    render(
        StatusCode::OK,
        &LoginPage {
            c: Chrome {
                t: lang.0,
                user: None,
                csrf: String::new(),
                audit_nav: false,
                reports_nav: false,
            },
            error: None,
            username: String::new(),
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: SecretString,
}

async fn login_submit(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let LoginForm { username, password } = form.into_inner();
    match sign_in(&state, meta.0, username.clone(), password).await {
        Ok((_, cookie)) => Ok(HttpResponse::SeeOther()
            .cookie(cookie)
            .insert_header(("Location", "/clients"))
            .finish()),
        Err(e @ (ApiError::BadCredentials | ApiError::Throttled)) => {
            let (status, key) = match e {
                ApiError::Throttled => (StatusCode::TOO_MANY_REQUESTS, "login-throttled"),
                _ => (StatusCode::UNAUTHORIZED, "login-failed"),
            };
            let t = lang.0;
            render(
                status,
                &LoginPage {
                    error: Some(t.t(key)),
                    c: Chrome {
                        t,
                        user: None,
                        csrf: String::new(),
                        audit_nav: false,
                        reports_nav: false,
                    },
                    username: username.chars().take(64).collect(),
                },
            )
        }
        Err(other) => Err(other),
    }
}

async fn logout(
    state: web::Data<AppState>,
    meta: Meta,
    authed: Authed,
) -> Result<HttpResponse, ApiError> {
    sign_out(&state, meta.0, &authed).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(auth::expired_cookie())
        .insert_header(("Location", "/login"))
        .finish())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    c: Chrome,
    error: Option<String>,
    code: String,
}

#[derive(Deserialize)]
struct SetupQuery {
    #[serde(default)]
    code: String,
}

async fn setup_form(lang: Lang, query: web::Query<SetupQuery>) -> Result<HttpResponse, ApiError> {
    render(
        StatusCode::OK,
        &SetupPage {
            c: Chrome {
                t: lang.0,
                user: None,
                csrf: String::new(),
                audit_nav: false,
                reports_nav: false,
            },
            error: None,
            code: query.into_inner().code.chars().take(64).collect(),
        },
    )
}

#[derive(Deserialize)]
struct SetupForm {
    code: String,
    password: SecretString,
    password_again: SecretString,
}

async fn setup_submit(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, ApiError> {
    use secrecy::ExposeSecret;
    let form = form.into_inner();
    let t = lang.0;
    let fail = |t: crate::i18n::Localizer, msg: String, code: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                c: Chrome {
                    t,
                    user: None,
                    csrf: String::new(),
                    audit_nav: false,
                    reports_nav: false,
                },
                error: Some(msg),
                code,
            },
        )
    };
    if form.password.expose_secret() != form.password_again.expose_secret() {
        let msg = t.t("setup-mismatch");
        return fail(t, msg, form.code);
    }
    let (env, code, pw) = (state.env.clone(), form.code.clone(), form.password);
    let meta = meta.0;
    let result = state
        .store
        .run(move |conn| {
            let user = users::redeem_setup_token(conn, &env, &code, &pw)?;
            crate::audit::record(
                conn,
                &env,
                &meta,
                &crate::audit::Event::new("user.setup_password", crate::audit::Outcome::Ok).by(
                    crate::audit::Who {
                        id: user.id.clone(),
                        role: user.role.as_str().to_string(),
                        session_ref: None,
                    },
                ),
            )?;
            Ok::<_, crate::identity::IdentityError>(user)
        })
        .await;
    match result {
        Ok(_) => Ok(see_other("/login")),
        Err(crate::identity::IdentityError::Invalid(m)) if m.key == "setup-link-invalid" => {
            let msg = t.t("setup-invalid");
            fail(t, msg, String::new())
        }
        Err(crate::identity::IdentityError::Invalid(m)) => {
            let msg = t.msg(&m);
            fail(t, msg, form.code)
        }
        Err(e) => Err(e.into()),
    }
}
