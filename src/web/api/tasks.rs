//! `/api/v1/tasks` (list, create, read, update) and `/api/v1/notifications`
//! (the caller's own: list with the unread count, mark read, e-mail setting).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::crm::tasks::{NewTask, TaskPatch, TaskQuery};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tasks")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/tasks/{id}")
            .route(web::get().to(read))
            .route(web::patch().to(update)),
    )
    .route("/notifications", web::get().to(inbox))
    .route("/notifications/read", web::post().to(read_all))
    .service(
        web::resource("/notifications/settings")
            .route(web::get().to(settings))
            .route(web::put().to(set_settings)),
    )
    .route("/notifications/{id}/read", web::post().to(read_one));
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .gate
        .list_tasks(&authed.actor, &meta.0, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn create(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewTask>,
) -> Result<HttpResponse, ApiError> {
    let task = state
        .gate
        .create_task(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/tasks/{}", task.id)))
        .json(task))
}

async fn read(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.gate.task(&authed.actor, &meta.0, &id).await?))
}

async fn update(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<TaskPatch>,
) -> Result<HttpResponse, ApiError> {
    let task = state
        .gate
        .update_task(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

#[derive(Deserialize)]
struct InboxQuery {
    #[serde(default)]
    unread: Option<bool>,
}

async fn inbox(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let unread_only = query.unread.unwrap_or(false);
    let inbox = state
        .gate
        .inbox(&authed.actor, &meta.0, unread_only)
        .await?;
    Ok(HttpResponse::Ok().json(inbox))
}

async fn read_one(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let n = state
        .gate
        .mark_read(&authed.actor, &meta.0, Some(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "marked": n })))
}

async fn read_all(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let n = state.gate.mark_read(&authed.actor, &meta.0, None).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "marked": n })))
}

async fn settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .gate
            .notification_settings(&authed.actor, &meta.0)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    email: Option<String>,
}

async fn set_settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .gate
        .set_notification_email(&authed.actor, &meta.0, body.into_inner().email)
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
