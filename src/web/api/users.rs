//! `/api/v1/users/{id}/…`: account operations for owners and admins, through
//! `AdminGate` (role, hardware-key elevation, step-up).

use actix_web::{HttpResponse, web};

use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/keys", web::get().to(keys))
        .route(
            "/users/{id}/key-enrollment-code",
            web::post().to(enrollment_code),
        )
        .route("/users/{id}/disable", web::post().to(disable))
        .route("/users/{id}/email", web::put().to(set_email));
}

async fn keys(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let keys = state.admin.list_keys(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(keys))
}

async fn enrollment_code(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issued = state
        .admin
        .issue_enrollment_code(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Created().json(issued))
}

async fn disable(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .admin
        .disable_user(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    /// `null` or empty removes the address.
    email: Option<String>,
}

async fn set_email(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = state
        .admin
        .set_user_email(&authed.actor, &meta.0, &id, body.email.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "user_id": id.as_str(), "email": email })))
}
