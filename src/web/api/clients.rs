//! `/api/v1/clients`: list/search, create, read, update, delete, restore, timeline.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::crm::types::{ClientPatch, ListQuery, NewClient, TimelineInput};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/clients/{id}")
            .route(web::get().to(read))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .route("/clients/{id}/restore", web::post().to(restore))
    .route("/clients/{id}/reveal", web::post().to(reveal))
    .service(
        web::resource("/clients/{id}/timeline")
            .route(web::get().to(timeline))
            .route(web::post().to(add_timeline)),
    );
    #[cfg(feature = "bench")]
    cfg.route("/bench-baseline/clients", web::get().to(baseline_list))
        .route("/bench-baseline/clients/{id}", web::get().to(baseline_read))
        .route(
            "/bench-unaudited/clients/{id}",
            web::get().to(unaudited_read),
        );
}

#[cfg(feature = "bench")]
async fn unaudited_read(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let card = state
        .gate
        .unaudited_card(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(card))
}

#[cfg(feature = "bench")]
async fn baseline_read(
    state: web::Data<AppState>,
    _authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.gate.unguarded_card(&id).await?))
}

#[cfg(feature = "bench")]
async fn baseline_list(
    state: web::Data<AppState>,
    authed: Authed,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .gate
            .unguarded_list(&authed.actor, query.into_inner())
            .await?,
    ))
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .gate
        .list_clients(&authed.actor, &meta.0, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn create(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewClient>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .gate
        .create_client(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/clients/{}", created.client.id)))
        .json(created))
}

async fn read(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let card = state.gate.client_card(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(card))
}

async fn update(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    let client = state
        .gate
        .update_client(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(client))
}

async fn delete(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .gate
        .delete_client(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn restore(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = state
        .gate
        .restore_client(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(client))
}

#[derive(Deserialize)]
struct TimelineQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

async fn timeline(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = state
        .gate
        .timeline(&authed.actor, &meta.0, &id, q.cursor, q.limit.unwrap_or(50))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn add_timeline(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<TimelineInput>,
) -> Result<HttpResponse, ApiError> {
    let entry = state
        .gate
        .add_timeline(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(entry))
}

/// The full phones and emails of one client shown masked in lists (audited as
/// `client.reveal`).
async fn reveal(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let revealed = state
        .gate
        .reveal_client(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(revealed))
}
