//! Server-rendered pages (askama templates in `templates/`, strings from
//! `locales/`). No JavaScript build step; `static/app.js` is a small enhancement.

pub mod admin_backups;
pub mod admin_keys;
pub mod audit;
pub mod clients;
pub mod control;
pub mod keys;
pub mod login;
// Deals, tasks, "my day".
pub mod my_day;
pub mod pipeline;
// Printable invoices.
pub mod invoices;
// A project's page with its tasks.
pub mod projects;
// The one-click reveal of masked contacts.
pub mod reveal;
// CSV import of clients.
pub mod imports;
// Departure mode for owners: leaving users, their reports, the hand-over.
pub mod departures;
// Reports: funnel, revenue, activity, clients at risk.
pub mod reports;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::AppState;
use super::auth;
use super::error::ApiError;
use crate::i18n::Localizer;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/app.css", web::get().to(css))
        .route("/static/app.js", web::get().to(js))
        .configure(login::configure)
        .configure(clients::configure)
        .configure(keys::configure)
        .configure(admin_keys::configure)
        .configure(audit::configure)
        .configure(control::configure)
        .configure(pipeline::configure)
        .configure(my_day::configure)
        .configure(admin_backups::configure)
        .configure(invoices::configure)
        .configure(projects::configure)
        .configure(reveal::configure)
        .configure(imports::configure)
        .configure(departures::configure)
        .configure(reports::configure);
}

const APP_CSS: &str = include_str!("../../../static/app.css");
const APP_JS: &str = include_str!("../../../static/app.js");

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(APP_CSS)
}

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(APP_JS)
}

/// What every page's layout needs.
pub struct Chrome {
    pub t: Localizer,
    /// Display name of the signed-in user, if any.
    pub user: Option<String>,
    pub csrf: String,
    /// Whether the navigation links the audit log (owners).
    pub audit_nav: bool,
    /// Whether the navigation links the reports (roles that read them).
    pub reports_nav: bool,
}

pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ApiError> {
    let html = page
        .render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    status: u16,
    message: String,
    request_id: &'a str,
    /// Link to `/keys/elevate` (a hardware-key proof would help).
    elevate: bool,
}

/// The HTML form of an `ApiError` (the JSON form is for `/api`).
pub fn error_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    err: &ApiError,
    request_id: &str,
) -> HttpResponse {
    let t = auth::localizer(req, state);
    let message = match err {
        ApiError::NotFound => t.t("error-not-found"),
        ApiError::Forbidden | ApiError::NotAllowed(_) => t.t("error-forbidden"),
        ApiError::Csrf => t.t("error-csrf"),
        ApiError::Throttled => t.t("error-throttled"),
        ApiError::AuditUnavailable | ApiError::Unavailable => t.t("error-unavailable"),
        ApiError::Internal(_) => t.t("error-internal"),
        other => other.message(Some(&t)),
    };
    let page = ErrorPage {
        c: Chrome {
            t,
            user: None,
            csrf: String::new(),
            audit_nav: false,
            reports_nav: false,
        },
        status: status.as_u16(),
        message,
        request_id,
        elevate: matches!(
            err,
            ApiError::KeyProofRequired | ApiError::KeyStepUpRequired
        ),
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(_) => HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{} ({request_id})", status.as_u16())),
    }
}

/// A `303 See Other` after a successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_string()))
        .finish()
}
