//! `/api/v1/reassignments`: move clients to another owner with a reason (rate
//! limited; beyond the allowance it waits for an owner), the waiting requests,
//! and the owner's approve/reject with a fresh hardware-key proof.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::exports::Decision;
use crate::access::ReassignRequest;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reassignments", web::post().to(reassign))
        .route("/reassignments/pending", web::get().to(pending))
        .route("/reassignments/{id}/approve", web::post().to(approve))
        .route("/reassignments/{id}/reject", web::post().to(reject));
}

async fn reassign(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<ReassignRequest>,
) -> Result<HttpResponse, ApiError> {
    let outcome = state
        .gate
        .reassign(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(if outcome.state == "done" {
        HttpResponse::Ok().json(outcome)
    } else {
        HttpResponse::Accepted().json(outcome)
    })
}

async fn pending(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let items = state
        .gate
        .pending_reassignments(&authed.actor, &meta.0)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn decide(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    id: &str,
    body: Option<web::Json<Decision>>,
    approve: bool,
) -> Result<HttpResponse, ApiError> {
    let comment = body.and_then(|b| b.into_inner().comment);
    let r = state
        .gate
        .decide_reassign(&authed.actor, &meta.0, id, comment, approve)
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

async fn approve(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, &authed, &meta, &id, body, true).await
}

async fn reject(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, &authed, &meta, &id, body, false).await
}
