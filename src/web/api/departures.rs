//! Departure mode for owners: `POST /users/{id}/leaving` marks a user as leaving,
//! `GET /users/{id}/departure` is the report of what they touched in the last 90
//! days, `POST /users/{id}/depart` hands their clients on and disables them.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/leaving", web::post().to(leaving))
        .route("/users/{id}/departure", web::get().to(report))
        .route("/users/{id}/depart", web::post().to(depart));
}

async fn leaving(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let d = state.gate.mark_leaving(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(d))
}

async fn report(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .departure_report(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartBody {
    to_owner: String,
    reason: String,
    /// Clients that go to someone else than `to_owner`: client id → new owner.
    #[serde(default)]
    assign: std::collections::BTreeMap<String, String>,
}

async fn depart(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<DepartBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let out = state
        .gate
        .depart_split(
            &authed.actor,
            &meta.0,
            &id,
            &b.to_owner,
            &b.assign,
            &b.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(out))
}
