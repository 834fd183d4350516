//! `POST /api/v1/session` signs in, `DELETE` signs out, `GET` says who is signed in.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::identity::users::User;
use crate::identity::{login, sessions};
use crate::web::AppState;
use crate::web::auth::{self, Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/session")
            .route(web::post().to(create))
            .route(web::get().to(current))
            .route(web::delete().to(destroy)),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
}

#[derive(Serialize)]
pub struct SessionInfo {
    pub user: SessionUser,
    pub role: String,
    pub csrf_token: String,
}

#[derive(Serialize)]
pub struct SessionUser {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub team_id: Option<String>,
}

/// Signs in; shared by the API and the login page.
pub async fn sign_in(
    state: &AppState,
    meta: RequestMeta,
    username: String,
    password: SecretString,
) -> Result<(login::LoginOk, actix_web::cookie::Cookie<'static>), ApiError> {
    if username.len() > 256 {
        return Err(ApiError::BadCredentials);
    }
    let (env, login_cfg, session_cfg, dummy) = (
        state.env.clone(),
        state.config.login.clone(),
        state.config.session.clone(),
        state.dummy_hash.clone(),
    );
    let ok = state
        .store
        .run(move |conn| {
            login::login(
                conn,
                &env,
                &login_cfg,
                &session_cfg,
                &dummy,
                &meta,
                &username,
                &password,
            )
        })
        .await?;
    let max_age = state.config.session.absolute_timeout_hours * 3600;
    let cookie = auth::session_cookie(&ok.session.token, max_age);
    Ok((ok, cookie))
}

fn info(user: &User, csrf_token: String) -> SessionInfo {
    SessionInfo {
        user: SessionUser {
            id: user.id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            team_id: user.team_id.clone(),
        },
        role: user.role.as_str().to_string(),
        csrf_token,
    }
}

async fn create(
    state: web::Data<AppState>,
    meta: Meta,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { username, password } = body.into_inner();
    let (ok, cookie) = sign_in(&state, meta.0, username, password).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(info(&ok.user, ok.session.csrf_token.clone())))
}

async fn current(authed: Authed) -> Result<HttpResponse, ApiError> {
    let a = &authed.actor;
    Ok(HttpResponse::Ok().json(SessionInfo {
        user: SessionUser {
            id: a.user_id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            team_id: a.team_id.clone(),
        },
        role: a.role.as_str().to_string(),
        csrf_token: authed.csrf_token.clone(),
    }))
}

/// Signs out; shared by the API and the page.
pub async fn sign_out(
    state: &AppState,
    meta: RequestMeta,
    authed: &Authed,
) -> Result<(), ApiError> {
    let env = state.env.clone();
    let token = authed.token.clone();
    let who = Who {
        id: authed.actor.user_id.clone(),
        role: authed.actor.role.as_str().to_string(),
        session_ref: Some(authed.actor.session_ref.clone()),
    };
    state
        .store
        .run(move |conn| {
            sessions::revoke(conn, &env, &token)?;
            audit::record(
                conn,
                &env,
                &meta,
                &Event::new("logout", Outcome::Ok).by(who),
            )?;
            Ok::<_, crate::identity::IdentityError>(())
        })
        .await?;
    Ok(())
}

async fn destroy(
    state: web::Data<AppState>,
    meta: Meta,
    authed: Authed,
) -> Result<HttpResponse, ApiError> {
    sign_out(&state, meta.0, &authed).await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::expired_cookie())
        .finish())
}
