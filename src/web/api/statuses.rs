//! `GET /api/v1/statuses` (anyone signed in), `PUT /api/v1/statuses/{code}` (owners).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::crm::statuses;
use crate::crm::types::Status;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/statuses", web::get().to(list))
        .route("/statuses/{code}", web::put().to(upsert));
}

async fn list(state: web::Data<AppState>, _authed: Authed) -> Result<HttpResponse, ApiError> {
    let list = state
        .store
        .run(|conn| statuses::list(conn).map_err(|e| ApiError::Internal(e.to_string())))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    label: String,
    #[serde(default)]
    position: i32,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

async fn upsert(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    code: web::Path<String>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let list = state
        .gate
        .upsert_status(
            &authed.actor,
            &meta.0,
            Status {
                code: code.into_inner(),
                label: b.label,
                position: b.position,
                active: b.active,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
