//! `/api/v1/audit`: the owner's views of the audit log — search and filter across
//! all events, one client's history, one user's activity in a period, and a CSV
//! export of a filter. Owners only (`audit read` / `audit export`); every call is
//! itself recorded in the log.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::audit::views::{self, Filter};
use crate::i18n::Msg;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit/events", web::get().to(events))
        .route("/audit/export", web::get().to(export))
        .route("/audit/clients/{id}", web::get().to(client))
        .route("/audit/users/{id}", web::get().to(user));
}

/// The filter parameters shared by the search, the export and the audit page.
/// Empty values count as absent, so an HTML form can send every field.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct FilterParams {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn bad_time(field: &str) -> ApiError {
    ApiError::Invalid {
        field: Some(field.to_string()),
        msg: Msg::new("invalid-time"),
    }
}

impl FilterParams {
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let from = match given(&self.from) {
            Some(s) => Some(views::parse_time(&s).ok_or_else(|| bad_time("from"))?),
            None => None,
        };
        let to = match given(&self.to) {
            Some(s) => Some(views::parse_until(&s).ok_or_else(|| bad_time("to"))?),
            None => None,
        };
        Ok(Filter {
            action: given(&self.action),
            actor_id: given(&self.actor),
            outcome: given(&self.outcome),
            object_id: given(&self.object),
            from,
            to,
            request_id: given(&self.request_id),
            text: given(&self.q),
        })
    }

    /// The same filter as a query string (for page links and the export link).
    pub fn query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("outcome", &self.outcome),
            ("object", &self.object),
            ("from", &self.from),
            ("to", &self.to),
            ("request_id", &self.request_id),
            ("q", &self.q),
        ] {
            if let Some(v) = given(value) {
                s.append_pair(name, &v);
            }
        }
        s.finish()
    }
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

async fn events(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    params: web::Query<FilterParams>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.filter()?;
    let (page, last) = state
        .gate
        .audit_search(
            &authed.actor,
            &meta.0,
            filter,
            paging.cursor.clone(),
            paging.limit.unwrap_or(50),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor,
        "last_verification": last,
    })))
}

async fn client(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .gate
        .audit_client(
            &authed.actor,
            &meta.0,
            &id,
            paging.cursor.clone(),
            paging.limit.unwrap_or(50),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
pub struct PeriodParams {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

impl PeriodParams {
    /// `from` and `to` as dates (`YYYY-MM-DD`); absent or empty means the default.
    pub fn dates(
        &self,
    ) -> Result<(Option<chrono::NaiveDate>, Option<chrono::NaiveDate>), ApiError> {
        let date = |v: &Option<String>, field: &str| match given(v) {
            Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| bad_time(field)),
            None => Ok(None),
        };
        Ok((date(&self.from, "from")?, date(&self.to, "to")?))
    }
}

async fn user(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    period: web::Query<PeriodParams>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = period.dates()?;
    let activity = state
        .gate
        .audit_user(&authed.actor, &meta.0, &id, from, to)
        .await?;
    Ok(HttpResponse::Ok().json(activity))
}

/// The CSV download of a filter; shared by the API and the audit page.
pub async fn export_response(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    params: &FilterParams,
) -> Result<HttpResponse, ApiError> {
    let filter = params.filter()?;
    let (rows, truncated) = state
        .gate
        .audit_export(&authed.actor, &meta.0, filter)
        .await?;
    let name = format!(
        "holdfast-audit-{}.csv",
        state.env.now().format("%Y%m%d-%H%M%S")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("X-Holdfast-Rows", rows.len().to_string()))
        .insert_header(("X-Holdfast-Truncated", truncated.to_string()))
        .body(views::csv(&rows)))
}

async fn export(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    params: web::Query<FilterParams>,
) -> Result<HttpResponse, ApiError> {
    export_response(&state, &authed, &meta, &params).await
}
