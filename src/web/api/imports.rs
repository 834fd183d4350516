//! `/api/v1/imports`: CSV import of clients. Upload the file as the request body
//! (`POST /imports?file_name=…`, any content type, at most `import.max_bytes`,
//! else 413); read the preview with every row checked (`GET /imports/{id}`);
//! save the column mapping and the duplicate policy (`PUT /imports/{id}`);
//! commit all rows or none (`POST /imports/{id}/commit`). A staged import is
//! visible to its uploader only.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::crm::imports::{ImportView, RowIssue, Settings, Upload};
use crate::i18n::{Localizer, Msg};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/imports")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(
        web::resource("/imports/{id}")
            .route(web::get().to(show))
            .route(web::put().to(settings))
            .route(web::delete().to(discard)),
    )
    .route("/imports/{id}/commit", web::post().to(commit));
}

#[derive(Deserialize)]
pub struct UploadParams {
    #[serde(default)]
    pub file_name: Option<String>,
    /// `comma`, `semicolon`, `tab` or `pipe` (or the character); unset: detected.
    #[serde(default)]
    pub delimiter: Option<String>,
}

/// The delimiter a user named, if any.
pub fn delimiter_of(name: Option<&str>) -> Result<Option<u8>, ApiError> {
    match name.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("auto") => Ok(None),
        Some("comma" | ",") => Ok(Some(b',')),
        Some("semicolon" | ";") => Ok(Some(b';')),
        Some("tab" | "\t") => Ok(Some(b'\t')),
        Some("pipe" | "|") => Ok(Some(b'|')),
        Some(_) => Err(ApiError::Invalid {
            field: Some("delimiter".into()),
            msg: Msg::new("import-file-delimiter"),
        }),
    }
}

/// Reads the body up to `max` bytes; a longer one is refused with 413 before
/// more of it is read.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::TooLargeFile(too_large_msg(max)));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::TooLargeFile(too_large_msg(max)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large_msg(max: usize) -> Msg {
    Msg::new("import-file-too-large").arg("max", crate::crm::import_csv::size_label(max))
}

async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    q: web::Query<UploadParams>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let cfg = &state.config.import;
    let delimiter = delimiter_of(q.delimiter.as_deref())?;
    let bytes = read_body(&req, payload, cfg.max_bytes).await?;
    let upload = Upload {
        file_name: q.file_name.clone().unwrap_or_default(),
        bytes,
        delimiter,
    };
    let view = state
        .gate
        .import_upload(
            &authed.actor,
            &meta.0,
            upload,
            cfg.limits(),
            chrono::Duration::hours(cfg.staged_hours),
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/imports/{}", view.id)))
        .json(view_json(&view, &lang.0)))
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let items = state.gate.import_list(&authed.actor, &meta.0).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn show(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state.gate.import_show(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(view_json(&view, &lang.0)))
}

async fn settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    body: web::Json<Settings>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .gate
        .import_configure(&authed.actor, &meta.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(view_json(&view, &lang.0)))
}

async fn discard(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .gate
        .import_discard(&authed.actor, &meta.0, &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn commit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The body is optional: without one, the saved settings are used.
    let settings: Settings = if body.iter().all(u8::is_ascii_whitespace) {
        Settings::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))?
    };
    let outcome = state
        .gate
        .import_commit(&authed.actor, &meta.0, &id, settings)
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}

fn issue_json(i: &RowIssue, t: &Localizer) -> serde_json::Value {
    json!({
        "row": i.row, "column": i.column, "header": i.header, "field": i.field,
        "message": t.msg(&i.msg),
    })
}

/// The preview as JSON, with row problems worded in the reader's language.
pub fn view_json(v: &ImportView, t: &Localizer) -> serde_json::Value {
    let mut out = serde_json::to_value(v).unwrap_or_default();
    out["issues"] = v.issues.iter().map(|i| issue_json(i, t)).collect();
    out["mapping_issues"] = v.mapping_issues.iter().map(|i| issue_json(i, t)).collect();
    out
}
