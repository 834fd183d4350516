//! `/api/v1/exports`: ask for an export (ready at once within the allowance,
//! else pending an owner's approval), its record, its file (the requester
//! only), the owner's approve/reject (fresh hardware-key proof, never the
//! requester), the seeds and the trace of a leaked file, email or phone.

use actix_web::{HttpResponse, web};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::exports::trace::Clue;
use crate::exports::{ExportRequest, Format, State};
use crate::i18n::Msg;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/exports")
            .route(web::get().to(list))
            .route(web::post().to(request)),
    )
    .route("/exports/trace", web::post().to(trace))
    .route("/exports/seeds", web::get().to(seeds))
    .route("/exports/{id}", web::get().to(status))
    .route("/exports/{id}/file", web::get().to(file))
    .route("/exports/{id}/approve", web::post().to(approve))
    .route("/exports/{id}/reject", web::post().to(reject));
}

async fn request(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    let export = state
        .gate
        .request_export(&authed.actor, &meta.0, body.into_inner())
        .await?;
    let status = if export.state == State::Ready {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::ACCEPTED
    };
    Ok(HttpResponse::build(status)
        .insert_header(("Location", format!("/api/v1/exports/{}", export.id)))
        .json(export))
}

#[derive(Deserialize)]
struct ListParams {
    /// `all` (owners): everyone's exports; otherwise the caller's own.
    #[serde(default)]
    who: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    q: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let wanted = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(State::parse(s).ok_or_else(|| ApiError::Invalid {
            field: Some("state".into()),
            msg: Msg::new("invalid-export-state"),
        })?),
        None => None,
    };
    let items = state
        .gate
        .list_exports(
            &authed.actor,
            &meta.0,
            q.who.as_deref() == Some("all"),
            wanted,
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn status(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let export = state
        .gate
        .export_status(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(export))
}

async fn file(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (export, content) = state.gate.export_file(&authed.actor, &meta.0, &id).await?;
    let format = Format::parse(&export.format).unwrap_or(Format::Csv);
    let name = format!(
        "holdfast-clients-{}.{}",
        export.requested_at.format("%Y%m%d-%H%M%S"),
        format.as_str()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Holdfast-Export", export.id.clone()))
        .insert_header(("X-Holdfast-Sha256", export.file_sha256.unwrap_or_default()))
        .body(content))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[serde(default)]
    pub comment: Option<String>,
}

async fn approve(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> Result<HttpResponse, ApiError> {
    let comment = body.and_then(|b| b.into_inner().comment);
    let export = state
        .gate
        .approve_export(&authed.actor, &meta.0, &id, comment)
        .await?;
    Ok(HttpResponse::Ok().json(export))
}

async fn reject(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> Result<HttpResponse, ApiError> {
    let comment = body.and_then(|b| b.into_inner().comment);
    let export = state
        .gate
        .reject_export(&authed.actor, &meta.0, &id, comment)
        .await?;
    Ok(HttpResponse::Ok().json(export))
}

#[derive(Deserialize)]
struct SeedParams {
    /// Comma-separated export ids.
    ids: String,
}

async fn seeds(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    q: web::Query<SeedParams>,
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<String> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(200)
        .map(str::to_string)
        .collect();
    let seeds = state.gate.export_seeds(&authed.actor, &meta.0, ids).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": seeds })))
}

/// One clue: a seed email, a seed phone, or a leaked file (base64).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    file_base64: Option<String>,
}

async fn trace(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<TraceBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let clue = match (b.email, b.phone, b.file_base64) {
        (Some(e), None, None) if !e.trim().is_empty() => Clue::Email(e),
        (None, Some(p), None) if !p.trim().is_empty() => Clue::Phone(p),
        (None, None, Some(f)) => Clue::File(
            base64::engine::general_purpose::STANDARD
                .decode(f.trim())
                .map_err(|_| ApiError::Invalid {
                    field: Some("file_base64".into()),
                    msg: Msg::new("invalid-base64"),
                })?,
        ),
        _ => {
            return Err(ApiError::Invalid {
                field: None,
                msg: Msg::new("invalid-trace-clue"),
            });
        }
    };
    let hits = state
        .gate
        .trace_export(&authed.actor, &meta.0, clue)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "hits": hits })))
}
