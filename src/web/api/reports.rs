//! `/api/v1/reports/...`: the funnel, revenue, activity and clients at risk, and
//! the owner's clients-at-risk flags. A bad period or limit is a 400 naming the
//! parameter; the numbers come through the Gate (scoped, audited).

use actix_web::{HttpResponse, web};

use crate::access::GateError;
use crate::crm::reports::{AtRiskQuery, PeriodInput, RiskSettingsInput};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/funnel", web::get().to(funnel))
        .route("/reports/revenue", web::get().to(revenue))
        .route("/reports/activity", web::get().to(activity))
        .route("/reports/at-risk", web::get().to(at_risk))
        .service(
            web::resource("/reports/settings")
                .route(web::get().to(settings))
                .route(web::put().to(update_settings)),
        );
}

/// A refused query parameter is the request's fault: 400, not 422.
pub fn query_error(e: GateError) -> ApiError {
    match e {
        GateError::Invalid { field, msg } => ApiError::BadParameter { field, msg },
        other => ApiError::from(other),
    }
}

async fn funnel(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .report_funnel(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    Ok(HttpResponse::Ok().json(r))
}

async fn revenue(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .report_revenue(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    Ok(HttpResponse::Ok().json(r))
}

async fn activity(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .report_activity(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    Ok(HttpResponse::Ok().json(r))
}

async fn at_risk(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<AtRiskQuery>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .report_at_risk(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    Ok(HttpResponse::Ok().json(r))
}

async fn settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let s = state.gate.report_settings(&authed.actor, &meta.0).await?;
    Ok(HttpResponse::Ok().json(s))
}

async fn update_settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<RiskSettingsInput>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .gate
        .update_report_settings(&authed.actor, &meta.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
