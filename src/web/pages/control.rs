//! `/control`, the owner's page for the data-loss controls: open alerts with the
//! audit events behind them, exports and bulk moves waiting for approval,
//! recent exports with their seeds, the decoys, and a trace form. Everything
//! goes through `state.gate`, which checks the role and key proof and records
//! each read; approving asks for a fresh hardware-key proof.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::audit::{Stamp, stamp};
use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::Decoy;
use crate::access::gate::EvidenceEvent;
use crate::alerts::Alert;
use crate::exports::trace::{Clue, Hit};
use crate::exports::{Export, SeedView, State};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/control", web::get().to(page))
        .route("/control/alerts/{id}/ack", web::post().to(acknowledge))
        .route(
            "/control/exports/{id}/{decision}",
            web::post().to(decide_export),
        )
        .route(
            "/control/reassignments/{id}/{decision}",
            web::post().to(decide_reassign),
        );
}

struct AlertRow {
    id: String,
    at: Stamp,
    severity: String,
    kind: String,
    summary: String,
    evidence: Vec<(String, String)>,
}

struct ExportRowView {
    id: String,
    at: Stamp,
    who: String,
    state: String,
    format: String,
    rows: i32,
    rows_label: String,
    reason: String,
    sha: String,
    seeds: Vec<String>,
}

struct MoveRow {
    id: String,
    at: Stamp,
    who: String,
    count_label: String,
    to: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "control.html")]
struct ControlPage {
    c: Chrome,
    alerts: Vec<AlertRow>,
    pending: Vec<ExportRowView>,
    moves: Vec<MoveRow>,
    recent: Vec<ExportRowView>,
    decoys: Vec<(String, String, String)>,
    trace_done: bool,
    hits: Vec<(String, String, Stamp, String)>,
    /// Each watched user's numbers today against their baseline.
    usage: Vec<crate::access::gate::UsageLine>,
}

#[derive(Deserialize, Default)]
struct TraceParams {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

fn evidence_link(e: &EvidenceEvent) -> (String, String) {
    let label = format!("#{} {} {}", e.seq, e.action, e.outcome);
    let href = match &e.request_id {
        Some(r) => format!("/audit?request_id={}", urlencoding::encode(r)),
        None => format!("/audit?action={}", urlencoding::encode(&e.action)),
    };
    (label, href)
}

fn export_view(t: &crate::i18n::Localizer, e: &Export, seeds: &[SeedView]) -> ExportRowView {
    ExportRowView {
        id: e.id.clone(),
        at: stamp(t, &e.requested_at),
        who: e.requested_by.name.clone(),
        state: e.state.as_str().to_string(),
        format: e.format.clone(),
        rows: e.row_count,
        rows_label: t.tn("control-rows", "n", i64::from(e.row_count)),
        reason: e.reason.clone().unwrap_or_default(),
        sha: e.file_sha256.clone().unwrap_or_default(),
        seeds: seeds
            .iter()
            .filter(|s| s.export_id == e.id)
            .map(|s| {
                [Some(s.name.clone()), s.email.clone(), s.phone.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .collect(),
    }
}

async fn page(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    q: web::Query<TraceParams>,
) -> Result<HttpResponse, ApiError> {
    let (gate, a, m) = (&state.gate, &authed.actor, &meta.0);
    let alerts: Vec<Alert> = gate.list_alerts(a, m, true, 100).await?;
    let seqs: Vec<i64> = alerts.iter().flat_map(|x| x.evidence.clone()).collect();
    let evidence = gate.alert_evidence(a, m, seqs).await?;
    let pending = gate
        .list_exports(a, m, true, Some(State::Pending), 50)
        .await?;
    let moves = gate.pending_reassignments(a, m).await?;
    let recent = gate.list_exports(a, m, true, None, 20).await?;
    let ids: Vec<String> = recent.iter().map(|e| e.id.clone()).collect();
    let seeds = gate.export_seeds(a, m, ids).await?;
    let decoys: Vec<Decoy> = gate.list_decoys(a, m).await?;
    let usage = gate.usage_overview(a, m).await?;
    let clue = match (&q.email, &q.phone) {
        (Some(e), _) if !e.trim().is_empty() => Some(Clue::Email(e.clone())),
        (_, Some(p)) if !p.trim().is_empty() => Some(Clue::Phone(p.clone())),
        _ => None,
    };
    let trace_done = clue.is_some();
    let hits: Vec<Hit> = match clue {
        Some(c) => gate.trace_export(a, m, c).await?,
        None => Vec::new(),
    };
    let t = lang.0;
    let page = ControlPage {
        alerts: alerts
            .iter()
            .map(|x| AlertRow {
                id: x.id.clone(),
                at: stamp(&t, &x.raised_at),
                severity: x.severity.as_str().to_string(),
                kind: x.kind.clone(),
                summary: x.summary.clone(),
                evidence: evidence
                    .iter()
                    .filter(|e| x.evidence.contains(&e.seq))
                    .map(evidence_link)
                    .collect(),
            })
            .collect(),
        pending: pending.iter().map(|e| export_view(&t, e, &[])).collect(),
        moves: moves
            .iter()
            .map(|r| MoveRow {
                id: r.id.clone(),
                at: stamp(&t, &r.requested_at),
                who: r.requested_by.clone(),
                count_label: t.tn("control-move-count", "n", r.client_ids.len() as i64),
                to: r.to_owner.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
        recent: recent.iter().map(|e| export_view(&t, e, &seeds)).collect(),
        decoys: decoys
            .iter()
            .map(|d| {
                (
                    format!("/clients/{}", urlencoding::encode(&d.client_id)),
                    d.name.clone(),
                    d.owner_id.clone().unwrap_or_default(),
                )
            })
            .collect(),
        trace_done,
        usage,
        hits: hits
            .iter()
            .map(|h| {
                (
                    h.export.id.clone(),
                    h.export.requested_by.name.clone(),
                    stamp(&t, &h.export.requested_at),
                    h.matched.join(", "),
                )
            })
            .collect(),
        c: chrome(&state, t, &authed),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct AckForm {
    #[allow(dead_code)]
    csrf: String,
    comment: String,
}

async fn acknowledge(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    form: web::Form<AckForm>,
) -> Result<HttpResponse, ApiError> {
    state
        .gate
        .acknowledge_alert(&authed.actor, &meta.0, &id, &form.comment)
        .await?;
    Ok(see_other("/control"))
}

#[derive(Deserialize)]
struct DecisionForm {
    #[allow(dead_code)]
    csrf: String,
    #[serde(default)]
    comment: Option<String>,
}

async fn decide_export(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    path: web::Path<(String, String)>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, ApiError> {
    let (id, decision) = path.into_inner();
    let comment = form.into_inner().comment;
    match decision.as_str() {
        "approve" => {
            state
                .gate
                .approve_export(&authed.actor, &meta.0, &id, comment)
                .await?
        }
        "reject" => {
            state
                .gate
                .reject_export(&authed.actor, &meta.0, &id, comment)
                .await?
        }
        _ => return Err(ApiError::NotFound),
    };
    Ok(see_other("/control"))
}

async fn decide_reassign(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    path: web::Path<(String, String)>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, ApiError> {
    let (id, decision) = path.into_inner();
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::NotFound),
    };
    state
        .gate
        .decide_reassign(
            &authed.actor,
            &meta.0,
            &id,
            form.into_inner().comment,
            approve,
        )
        .await?;
    Ok(see_other("/control"))
}
