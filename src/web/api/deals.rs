//! `/api/v1/deals` (list, create, read, update, move, history), `/api/v1/pipeline`
//! and `/api/v1/deal-stages` (anyone signed in reads; owners edit).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::crm::deals::{DealPatch, DealQuery, NewDeal, StageInput, StageMove};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/deals")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/deals/{id}")
            .route(web::get().to(read))
            .route(web::patch().to(update)),
    )
    .route("/deals/{id}/stage", web::post().to(move_stage))
    .route("/deals/{id}/history", web::get().to(history))
    .route("/clients/{id}/deals", web::get().to(of_client))
    .route("/pipeline", web::get().to(pipeline))
    .route("/deal-stages", web::get().to(stages))
    .route("/deal-stages/{code}", web::put().to(upsert_stage));
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<DealQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .gate
        .list_deals(&authed.actor, &meta.0, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn of_client(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // The client itself must be readable: a client outside the scope is 404,
    // not an empty list.
    state.gate.client_card(&authed.actor, &meta.0, &id).await?;
    let deals = state.gate.client_deals(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(deals))
}

async fn create(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewDeal>,
) -> Result<HttpResponse, ApiError> {
    let deal = state
        .gate
        .create_deal(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/deals/{}", deal.id)))
        .json(deal))
}

async fn read(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deal = state.gate.deal(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(deal))
}

async fn update(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<DealPatch>,
) -> Result<HttpResponse, ApiError> {
    let deal = state
        .gate
        .update_deal(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(deal))
}

async fn move_stage(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<StageMove>,
) -> Result<HttpResponse, ApiError> {
    let deal = state
        .gate
        .move_deal(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(deal))
}

async fn history(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let history = state.gate.deal_history(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(history))
}

#[derive(Deserialize)]
struct PipelineQuery {
    #[serde(default)]
    owner_id: Option<String>,
}

async fn pipeline(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<PipelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.into_inner().owner_id.filter(|s| !s.is_empty());
    let board = state.gate.pipeline(&authed.actor, &meta.0, owner).await?;
    Ok(HttpResponse::Ok().json(board))
}

async fn stages(state: web::Data<AppState>, _authed: Authed) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.gate.deal_stages().await?))
}

async fn upsert_stage(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    code: web::Path<String>,
    body: web::Json<StageInput>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .gate
        .upsert_deal_stage(&authed.actor, &meta.0, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
