//! `/control/departures`: departure mode for owners on the web. The list of
//! sales staff and team leads with who is leaving; marking one as leaving; the
//! departure report (what they touched in the last 90 days, the days detection
//! flagged highlighted); and the final hand-over of their clients to chosen
//! colleagues, which disables the account. Marking and handing over ask for a
//! ticked confirmation here and a fresh hardware-key proof at the Gate, like
//! every owner action; everything is decided and audited by `state.gate`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::audit::{Stamp, stamp};
use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::gate::DepartureReport;
use crate::i18n::Msg;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/control/departures", web::get().to(list))
        .route("/control/departures/{id}", web::get().to(report))
        .route(
            "/control/departures/{id}/leaving",
            web::post().to(mark_leaving),
        )
        .route("/control/departures/{id}/depart", web::post().to(depart));
}

struct PersonRow {
    id: String,
    name: String,
    username: String,
    role: String,
    team: String,
    disabled: bool,
    is_leaving: bool,
    leaving: Stamp,
}

#[derive(Template)]
#[template(path = "departures.html")]
struct ListPage {
    c: Chrome,
    people: Vec<PersonRow>,
}

struct DayRow {
    day: String,
    anomalous: bool,
    counts: String,
}

struct AlertLine {
    at: Stamp,
    severity: String,
    kind: String,
    summary: String,
    open: bool,
}

struct BookLine {
    id: String,
    name: String,
    still_owned: bool,
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "departure.html")]
struct ReportPage {
    c: Chrome,
    user_id: String,
    name: String,
    is_leaving: bool,
    leaving: Stamp,
    disabled: bool,
    from: Stamp,
    touched_label: String,
    outside_label: String,
    outside_book: Vec<String>,
    book_label: String,
    book: Vec<BookLine>,
    depart_label: String,
    actions: Vec<(String, String, i64)>,
    days: Vec<DayRow>,
    anomalous_days: usize,
    anomalous_label: String,
    alerts: Vec<AlertLine>,
    /// Colleagues who can take the book: active sales staff and team leads.
    recipients: Vec<Choice>,
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
) -> Result<HttpResponse, ApiError> {
    let people = state.gate.departure_people(&authed.actor, &meta.0).await?;
    let t = lang.0;
    let rows = people
        .iter()
        .map(|p| PersonRow {
            id: p.user_id.clone(),
            name: p.display_name.clone(),
            username: p.username.clone(),
            role: p.role.as_str().to_string(),
            team: p.team.clone().unwrap_or_default(),
            disabled: p.disabled,
            is_leaving: p.leaving_since.is_some(),
            leaving: p
                .leaving_since
                .as_ref()
                .map(|at| stamp(&t, at))
                .unwrap_or_else(empty_stamp),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            people: rows,
            c: chrome(&state, t, &authed),
        },
    )
}

fn empty_stamp() -> Stamp {
    Stamp {
        text: String::new(),
        iso: String::new(),
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn day_counts(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

async fn report(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r: DepartureReport = state
        .gate
        .departure_report(&authed.actor, &meta.0, &id)
        .await?;
    let people = state.gate.departure_people(&authed.actor, &meta.0).await?;
    let t = lang.0;
    let me = people.iter().find(|p| p.user_id == r.user_id);
    let recipients = people
        .iter()
        .filter(|p| p.user_id != r.user_id && !p.disabled && p.leaving_since.is_none())
        .map(|p| Choice {
            value: p.user_id.clone(),
            label: format!(
                "{} ({}, {}{})",
                p.display_name,
                p.username,
                p.role.as_str(),
                p.team
                    .as_deref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default()
            ),
        })
        .collect();
    let days: Vec<DayRow> = r
        .days
        .iter()
        .map(|d| DayRow {
            day: d.day.clone(),
            anomalous: d.anomalous,
            counts: day_counts(&d.counts),
        })
        .collect();
    let page = ReportPage {
        user_id: r.user_id.clone(),
        name: me
            .map(|p| format!("{} ({})", p.display_name, p.username))
            .unwrap_or_else(|| r.username.clone()),
        disabled: me.is_some_and(|p| p.disabled),
        is_leaving: r.leaving_since.is_some(),
        leaving: r
            .leaving_since
            .as_ref()
            .map(|at| stamp(&t, at))
            .unwrap_or_else(empty_stamp),
        from: stamp(&t, &r.from),
        touched_label: t.tn("departure-touched", "n", count(r.clients_touched)),
        outside_label: t.tn("departure-outside-book", "n", count(r.outside_book.len())),
        outside_book: r.outside_book.clone(),
        book_label: t.tn("departure-book", "n", count(r.book.len())),
        depart_label: t.tn(
            "departure-depart-explain",
            "n",
            count(r.book.iter().filter(|b| b.still_owned).count()),
        ),
        anomalous_label: t.tn(
            "departure-anomalous-days",
            "n",
            count(days.iter().filter(|d| d.anomalous).count()),
        ),
        book: r
            .book
            .iter()
            .map(|b| BookLine {
                id: b.client_id.clone(),
                name: b.name.clone().unwrap_or_default(),
                still_owned: b.still_owned,
            })
            .collect(),
        actions: r
            .actions
            .iter()
            .map(|a| (a.action.clone(), a.outcome.clone(), a.count))
            .collect(),
        anomalous_days: days.iter().filter(|d| d.anomalous).count(),
        days,
        alerts: r
            .alerts
            .iter()
            .map(|a| AlertLine {
                at: stamp(&t, &a.raised_at),
                severity: a.severity.as_str().to_string(),
                kind: a.kind.clone(),
                summary: a.summary.clone(),
                open: a.acknowledged_at.is_none(),
            })
            .collect(),
        recipients,
        c: chrome(&state, t, &authed),
    };
    render(StatusCode::OK, &page)
}

/// The box an owner ticks to say they mean it.
fn confirmed(confirm: &Option<String>) -> Result<(), ApiError> {
    if confirm.as_deref() == Some("yes") {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            field: Some("confirm".into()),
            msg: Msg::new("departure-confirm-needed"),
        })
    }
}

#[derive(Deserialize)]
struct LeavingForm {
    #[allow(dead_code)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn mark_leaving(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    form: web::Form<LeavingForm>,
) -> Result<HttpResponse, ApiError> {
    confirmed(&form.confirm)?;
    state.gate.mark_leaving(&authed.actor, &meta.0, &id).await?;
    Ok(see_other(&format!(
        "/control/departures/{}",
        urlencoding::encode(&id)
    )))
}

/// The hand-over form: `to_owner`, `reason`, `confirm`, and per client of the
/// book an optional `to.<client id>` naming someone else to take it.
async fn depart(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let fields = form.into_inner();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    confirmed(&get("confirm"))?;
    let to_owner = get("to_owner").unwrap_or_default();
    if to_owner.trim().is_empty() {
        return Err(ApiError::Invalid {
            field: Some("to_owner".into()),
            msg: Msg::new("invalid-empty"),
        });
    }
    let assign: BTreeMap<String, String> = fields
        .iter()
        .filter_map(|(k, v)| {
            let client = k.strip_prefix("to.")?;
            (!v.trim().is_empty()).then(|| (client.to_string(), v.clone()))
        })
        .collect();
    state
        .gate
        .depart_split(
            &authed.actor,
            &meta.0,
            &id,
            &to_owner,
            &assign,
            &get("reason").unwrap_or_default(),
        )
        .await?;
    Ok(see_other("/control/departures"))
}
