//! Extractors: who is asking (`Authed`), where from (`Meta`), in which language (`Lang`).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::AppState;
use super::error::ApiError;
use super::middleware::RequestId;
use crate::audit::RequestMeta;
use crate::i18n::Localizer;
use crate::identity::sessions::{self, Resolved};
use crate::identity::{Actor, IdentityError};

/// `__Host-` binds the cookie to this origin: Secure, Path=/, no Domain.
pub const SESSION_COOKIE: &str = "__Host-holdfast";

pub fn session_cookie(token: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

pub fn expired_cookie() -> Cookie<'static> {
    let mut c = session_cookie("", 0);
    c.make_removal();
    c
}

pub fn request_meta(req: &HttpRequest, state: &AppState) -> RequestMeta {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let ip = if state.config.server.trust_forwarded_headers {
        req.connection_info()
            .realip_remote_addr()
            .map(str::to_string)
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    RequestMeta {
        request_id,
        ip,
        user_agent,
    }
}

pub async fn resolve(state: &AppState, token: &str) -> Result<Resolved, IdentityError> {
    let (env, cfg, token) = (
        state.env.clone(),
        state.config.session.clone(),
        token.to_string(),
    );
    state
        .store
        .run(move |conn| sessions::resolve(conn, &env, &cfg, &token))
        .await
}

/// A signed-in request. CSRF for unsafe methods is checked by middleware before
/// any handler runs.
pub struct Authed {
    pub actor: Actor,
    pub csrf_token: String,
    pub token: String,
}

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("no app state".into()))?;
            let token = token.ok_or(ApiError::Unauthenticated)?;
            let resolved = resolve(&state, &token).await.map_err(ApiError::from)?;
            Ok(Authed {
                actor: resolved.actor,
                csrf_token: resolved.csrf_token,
                token,
            })
        })
    }
}

/// Request id, client address and user agent, for audit events.
pub struct Meta(pub RequestMeta);

impl FromRequest for Meta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.app_data::<web::Data<AppState>>() {
            Some(state) => Ok(Meta(request_meta(req, state))),
            None => Err(ApiError::Internal("no app state".into())),
        })
    }
}

/// The request's language, negotiated from `Accept-Language`.
pub struct Lang(pub Localizer);

impl FromRequest for Lang {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.app_data::<web::Data<AppState>>() {
            Some(state) => Ok(Lang(localizer(req, state))),
            None => Err(ApiError::Internal("no app state".into())),
        })
    }
}

pub fn localizer(req: &HttpRequest, state: &AppState) -> Localizer {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    state.i18n.negotiate(accept)
}
