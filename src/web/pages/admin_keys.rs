//! `/admin/keys`: owners and admins see every user's hardware keys, revoke a key
//! and issue one-time enrollment codes. Everything goes through `AdminGate`
//! (role, elevation, step-up); a refusal renders the error page, which links to
//! `/keys/elevate`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Chrome, render, see_other};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/keys", web::get().to(page))
        .route("/admin/keys/{id}/revoke", web::post().to(revoke))
        .route(
            "/admin/users/{id}/key-enrollment-code",
            web::post().to(issue_code),
        );
}

struct KeyRow {
    id: String,
    name: String,
    serial: String,
    policies: String,
    enrolled: String,
    last_used: String,
    revoked: bool,
    /// A WebAuthn key: `serial` holds its AAGUID and `ca` its attestation CA.
    webauthn: bool,
    ca: String,
}

struct UserRow {
    id: String,
    username: String,
    role: String,
    keys: Vec<KeyRow>,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct AdminKeysPage {
    c: Chrome,
    users: Vec<UserRow>,
    /// A code just issued: (username, code, valid until).
    issued: Option<(String, String, String)>,
    notice: Option<String>,
}

async fn view(
    state: &AppState,
    lang: Lang,
    meta: &Meta,
    authed: &Authed,
    issued: Option<(String, String, String)>,
    notice: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let list = state.admin.users_and_keys(&authed.actor, &meta.0).await?;
    let users = list
        .into_iter()
        .map(|(u, keys)| UserRow {
            id: u.id,
            username: u.username,
            role: u.role.as_str().to_string(),
            keys: keys
                .into_iter()
                .map(|k| KeyRow {
                    webauthn: k.kind == "webauthn",
                    ca: k.attestation_ca.clone().unwrap_or_default(),
                    name: k.label.clone().unwrap_or_else(|| match k.kind.as_str() {
                        "webauthn" => "WebAuthn".to_string(),
                        _ => format!("PIV {}", k.slot.as_deref().unwrap_or("?")),
                    }),
                    serial: k
                        .serial
                        .map(|s| s.to_string())
                        .or_else(|| k.aaguid.clone())
                        .unwrap_or_default(),
                    policies: format!(
                        "{} / {}",
                        k.pin_policy.as_deref().unwrap_or("?"),
                        k.touch_policy.as_deref().unwrap_or("?")
                    ),
                    enrolled: k.enrolled_at.format("%Y-%m-%d").to_string(),
                    last_used: k
                        .last_used_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                    revoked: k.revoked_at.is_some(),
                    id: k.id,
                })
                .collect(),
        })
        .collect();
    render(
        StatusCode::OK,
        &AdminKeysPage {
            c: super::clients::chrome(state, lang.0, authed),
            users,
            issued,
            notice,
        },
    )
}

#[derive(serde::Deserialize)]
struct Done {
    #[serde(default)]
    done: String,
}

async fn page(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    authed: Authed,
    done: web::Query<Done>,
) -> Result<HttpResponse, ApiError> {
    let notice = (done.done == "revoked").then(|| lang.0.t("admin-keys-revoked"));
    view(&state, lang, &meta, &authed, None, notice).await
}

async fn revoke(
    state: web::Data<AppState>,
    meta: Meta,
    authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.admin.revoke_key(&authed.actor, &meta.0, &id).await?;
    Ok(see_other("/admin/keys?done=revoked"))
}

/// Shows the code once, on the page that answers the POST (never in a URL).
async fn issue_code(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issued = state
        .admin
        .issue_enrollment_code(&authed.actor, &meta.0, &id)
        .await?;
    let list = state.admin.users_and_keys(&authed.actor, &meta.0).await?;
    let username = list
        .iter()
        .find(|(u, _)| u.id == issued.user_id)
        .map(|(u, _)| u.username.clone())
        .unwrap_or_default();
    let until = issued.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    view(
        &state,
        lang,
        &meta,
        &authed,
        Some((username, issued.code, until)),
        None,
    )
    .await
}
