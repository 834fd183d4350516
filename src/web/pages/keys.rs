//! `/keys/elevate`: where a signed-in owner or admin gets a challenge for
//! `holdfast key login`. The proof, posted by the command line, elevates this
//! browser session (see `src/keys/PROTOCOL.md`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Chrome, render};
use crate::audit::Who;
use crate::identity::token_hash;
use crate::keys::service;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/keys/elevate")
            .route(web::get().to(page))
            .route(web::post().to(new_challenge)),
    );
}

#[derive(Template)]
#[template(path = "keys_elevate.html")]
struct ElevatePage {
    c: Chrome,
    elevated_until: Option<String>,
    token: Option<String>,
    seconds: i64,
    /// The user's own keys: (label or slot, serial, enrolled, revoked).
    keys: Vec<KeyLine>,
    /// Security keys in this browser (WebAuthn) are offered.
    webauthn: bool,
    /// Whether the user has a WebAuthn key to prove with.
    has_webauthn_key: bool,
}

struct KeyLine {
    /// A WebAuthn key: `serial` holds its AAGUID.
    webauthn: bool,
    name: String,
    serial: String,
    enrolled: String,
    revoked: bool,
}

async fn own_keys(state: &AppState, authed: &Authed) -> Result<Vec<KeyLine>, ApiError> {
    let user_id = authed.actor.user_id.clone();
    let keys = state
        .store
        .run(move |conn| service::user_keys(conn, &user_id))
        .await?;
    Ok(keys
        .into_iter()
        .map(|k| KeyLine {
            webauthn: k.kind == "webauthn",
            name: k.label.clone().unwrap_or_else(|| match k.kind.as_str() {
                "webauthn" => "WebAuthn".to_string(),
                _ => format!("PIV {}", k.slot.as_deref().unwrap_or("?")),
            }),
            serial: k
                .serial
                .map(|s| s.to_string())
                .or_else(|| k.aaguid.clone())
                .unwrap_or_default(),
            enrolled: k.enrolled_at.format("%Y-%m-%d").to_string(),
            revoked: k.revoked_at.is_some(),
        })
        .collect())
}

fn view(
    state: &AppState,
    lang: Lang,
    authed: &Authed,
    token: Option<String>,
    keys: Vec<KeyLine>,
) -> ElevatePage {
    let now = state.env.now();
    let has_webauthn_key = keys.iter().any(|k| k.webauthn && !k.revoked);
    ElevatePage {
        webauthn: state.keys.webauthn.available()
            && state
                .config
                .keys
                .accepted_kinds
                .iter()
                .any(|k| k == "webauthn"),
        has_webauthn_key,
        keys,
        c: super::clients::chrome(state, lang.0, authed),
        elevated_until: authed
            .actor
            .elevation
            .as_ref()
            .filter(|e| e.active_at(now))
            .map(|e| e.until().format("%Y-%m-%d %H:%M UTC").to_string()),
        token,
        seconds: state.config.keys.challenge_seconds.min(120),
    }
}

async fn page(
    state: web::Data<AppState>,
    lang: Lang,
    authed: Authed,
) -> Result<HttpResponse, ApiError> {
    let keys = own_keys(&state, &authed).await?;
    render(StatusCode::OK, &view(&state, lang, &authed, None, keys))
}

async fn new_challenge(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    authed: Authed,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta) = (state.env.clone(), state.keys.clone(), meta.0);
    let hash = token_hash(&authed.token);
    let who = Who {
        id: authed.actor.user_id.clone(),
        role: authed.actor.role.as_str().to_string(),
        session_ref: Some(authed.actor.session_ref.clone()),
    };
    let challenge = state
        .store
        .run(move |conn| service::create_challenge(conn, &env, &svc, &meta, &hash, who))
        .await?;
    let keys = own_keys(&state, &authed).await?;
    render(
        StatusCode::OK,
        &view(&state, lang, &authed, Some(challenge.token), keys),
    )
}
