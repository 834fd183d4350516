//! `/api/v1/alerts` (owners read the owners' alerts, admins the admins') with
//! acknowledgement, and `/api/v1/decoys` (owners).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::access::NewDecoy;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/alerts", web::get().to(list))
        .route("/alerts/{id}/acknowledge", web::post().to(acknowledge))
        .service(
            web::resource("/decoys")
                .route(web::get().to(decoys))
                .route(web::post().to(create_decoy)),
        );
}

#[derive(Deserialize)]
struct ListParams {
    /// `all` includes acknowledged alerts; by default only open ones.
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    q: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let items = state
        .gate
        .list_alerts(
            &authed.actor,
            &meta.0,
            q.show.as_deref() != Some("all"),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    comment: String,
}

async fn acknowledge(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<Ack>,
) -> Result<HttpResponse, ApiError> {
    let alert = state
        .gate
        .acknowledge_alert(&authed.actor, &meta.0, &id, &body.comment)
        .await?;
    Ok(HttpResponse::Ok().json(alert))
}

async fn decoys(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let items = state.gate.list_decoys(&authed.actor, &meta.0).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn create_decoy(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewDecoy>,
) -> Result<HttpResponse, ApiError> {
    let decoy = state
        .gate
        .create_decoy(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(decoy))
}
