//! The owner's audit pages: search and filter across all events (with the last
//! verification and a CSV export of the filter), one user's activity in a period
//! (distinct clients viewed per day as a server-rendered SVG chart, then tables),
//! and the history section of the client card. Everything goes through
//! `state.gate`, which checks the role and records each read of the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::clients::chrome;
use super::{Chrome, render};
use crate::access::{Action, Object};
use crate::audit::views::{EventView, Touch, UserActivity, Verification};
use crate::i18n::Localizer;
use crate::identity::users;
use crate::web::AppState;
use crate::web::api::audit::{FilterParams, PeriodParams, export_response};
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(search))
        .route("/audit/export", web::get().to(export))
        .route("/audit/users/{id}", web::get().to(user));
}

/// Events per page of the audit page.
const PAGE: u32 = 50;
/// Events the client card shows (the audit page has the rest).
pub const CARD_EVENTS: u32 = 20;
/// Detail text shown in a table cell at most (the export has all of it).
const DETAIL_CHARS: usize = 160;

/// Actions offered as suggestions in the filter (any action can be typed).
const KNOWN_ACTIONS: &[&str] = &[
    "client.read",
    "client.list",
    "client.create",
    "client.update",
    "client.delete",
    "client.restore",
    "timeline.read",
    "timeline.add",
    "statuses.update",
    "deal.read",
    "deal.create",
    "deal.update",
    "deal.move",
    "deal_stages.update",
    "task.create",
    "task.update",
    "task.remind",
    "task.escalate",
    "intake.call",
    "intake.form",
    "login",
    "logout",
    "csrf.rejected",
    "user.setup_password",
    "audit.read",
    "audit.export",
    "audit.verify",
];

pub(super) struct Stamp {
    pub text: String,
    pub iso: String,
}

pub(super) fn stamp(t: &Localizer, at: &DateTime<Utc>) -> Stamp {
    Stamp {
        text: t.t1("time-utc", "time", at.format("%Y-%m-%d %H:%M:%S")),
        iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn touch_label(t: &Localizer, touch: Touch) -> String {
    t.t(&format!("audit-touch-{}", touch.as_str().replace('_', "-")))
}

fn outcome_label(t: &Localizer, outcome: &str) -> String {
    match outcome {
        "ok" => t.t("audit-outcome-ok"),
        "denied" => t.t("audit-outcome-denied"),
        "failed" => t.t("audit-outcome-failed"),
        other => other.to_string(),
    }
}

fn user_href(id: &str) -> String {
    format!("/audit/users/{}", urlencoding::encode(id))
}

fn client_href(id: &str) -> String {
    format!("/clients/{}", urlencoding::encode(id))
}

/// One event as a table row.
pub(super) struct EventRow {
    pub at: Stamp,
    pub who: String,
    pub who_href: Option<String>,
    pub role: String,
    pub action: String,
    pub touch: String,
    pub touch_class: &'static str,
    pub outcome: String,
    pub outcome_code: String,
    /// (label, link) per object; links only for clients.
    pub objects: Vec<(String, Option<String>)>,
    /// "and N more" when the event names more objects than shown.
    pub more_objects: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    pub detail: String,
}

pub(super) fn event_row(t: &Localizer, e: &EventView) -> EventRow {
    let who = e
        .actor_name
        .clone()
        .or_else(|| e.actor_id.clone())
        .unwrap_or_else(|| t.t("audit-anonymous"));
    // Users have pages; `system:…` and `cli:…` actors do not.
    let who_href = e
        .actor_id
        .as_deref()
        .filter(|_| e.actor_name.is_some())
        .map(user_href);
    let is_client = e.object_kind.as_deref() == Some("client");
    let objects = e
        .object_ids
        .iter()
        .take(3)
        .map(|id| (id.clone(), is_client.then(|| client_href(id))))
        .collect();
    let detail = match &e.detail {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut short: String = detail.chars().take(DETAIL_CHARS).collect();
    if short.len() < detail.len() {
        short.push('…');
    }
    EventRow {
        at: stamp(t, &e.at),
        who,
        who_href,
        role: e.actor_role.clone().unwrap_or_default(),
        action: e.action.clone(),
        touch: touch_label(t, e.touch),
        touch_class: e.touch.as_str(),
        outcome: outcome_label(t, &e.outcome),
        outcome_code: e.outcome.clone(),
        objects,
        more_objects: (e.object_ids.len() > 3)
            .then(|| t.tn("audit-more-objects", "n", e.object_ids.len() as i64 - 3)),
        ip: e.ip.clone().unwrap_or_default(),
        user_agent: e.user_agent.clone().unwrap_or_default(),
        request_id: e.request_id.clone().unwrap_or_default(),
        detail: short,
    }
}

/// The last verification as the page shows it.
struct VerificationView {
    at: Stamp,
    ok: bool,
    events: String,
    head_seq: String,
    by: String,
    problem: Option<String>,
}

fn verification_view(t: &Localizer, v: &Verification) -> VerificationView {
    VerificationView {
        at: stamp(t, &v.at),
        ok: v.ok,
        events: v.events.map(|n| n.to_string()).unwrap_or_default(),
        head_seq: v.head_seq.map(|n| n.to_string()).unwrap_or_default(),
        by: v.by.clone().unwrap_or_default(),
        problem: v.problem.as_ref().map(|p| {
            let at = p.seq.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
            let key = format!("audit-break-{}", p.kind.replace('_', "-"));
            let kind = if t.has(&key) {
                t.t(&key)
            } else {
                p.kind.clone()
            };
            format!(
                "{} {} — {}",
                kind,
                t.t1("audit-verify-break-at", "seq", at),
                p.message
            )
        }),
    }
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct Person {
    name: String,
    username: String,
    role: String,
    href: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    p: FilterParams,
    actions: Vec<&'static str>,
    actors: Vec<Choice>,
    outcomes: Vec<Choice>,
    rows: Vec<EventRow>,
    next_href: Option<String>,
    first_href: Option<String>,
    export_href: String,
    filtered: bool,
    verification: Option<VerificationView>,
    people: Vec<Person>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PageParams {
    #[serde(default)]
    cursor: Option<String>,
}

async fn search(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    params: web::Query<FilterParams>,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let p = params.into_inner();
    let qs = p.query_string();
    // A filter that does not parse is shown with its message and no results;
    // the role check and the audit event still happen for a valid one only.
    let (rows, next_cursor, last, error) = match p.filter() {
        Ok(filter) => {
            match state
                .gate
                .audit_search(&authed.actor, &meta.0, filter, paging.cursor.clone(), PAGE)
                .await
            {
                Ok((page, last)) => (page.items, page.next_cursor, last, None),
                Err(crate::access::GateError::Invalid { field, msg }) => (
                    vec![],
                    None,
                    None,
                    Some(format!("{field}: {}", t.msg(&msg))),
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Invalid { field, msg }) => {
            if !state.gate.can(&authed.actor, Object::Audit, Action::Read) {
                // Refused (and recorded) by the gate, as a valid filter would be.
                state
                    .gate
                    .audit_search(&authed.actor, &meta.0, Default::default(), None, 1)
                    .await?;
            }
            (
                vec![],
                None,
                None,
                Some(format!("{}: {}", field.unwrap_or_default(), t.msg(&msg))),
            )
        }
        Err(e) => return Err(e),
    };
    let people_list = state
        .store
        .run(|conn| users::list(conn).map_err(ApiError::from))
        .await?;
    let actor = p.actor.clone().unwrap_or_default();
    let mut actors = vec![Choice {
        value: String::new(),
        label: t.t("audit-anyone"),
        selected: actor.is_empty(),
    }];
    actors.extend(people_list.iter().map(|u| Choice {
        value: u.id.clone(),
        label: format!("{} ({})", u.display_name, u.username),
        selected: u.id == actor,
    }));
    let outcome = p.outcome.clone().unwrap_or_default();
    let outcomes = [
        ("", "audit-any-outcome"),
        ("ok", "audit-outcome-ok"),
        ("denied", "audit-outcome-denied"),
        ("failed", "audit-outcome-failed"),
    ]
    .iter()
    .map(|(v, k)| Choice {
        value: v.to_string(),
        label: t.t(k),
        selected: *v == outcome,
    })
    .collect();
    let people = people_list
        .iter()
        .map(|u| Person {
            name: u.display_name.clone(),
            username: u.username.clone(),
            role: u.role.as_str().to_string(),
            href: user_href(&u.id),
        })
        .collect();
    let sep = if qs.is_empty() { "" } else { "&" };
    let page = AuditPage {
        next_href: next_cursor
            .map(|c| format!("/audit?{qs}{sep}cursor={}#events", urlencoding::encode(&c))),
        first_href: paging
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|_| format!("/audit?{qs}#events")),
        export_href: format!("/audit/export?{qs}"),
        filtered: !qs.is_empty(),
        rows: rows.iter().map(|e| event_row(&t, e)).collect(),
        verification: last.as_ref().map(|v| verification_view(&t, v)),
        actions: KNOWN_ACTIONS.to_vec(),
        actors,
        outcomes,
        people,
        error,
        p,
        c: chrome(&state, t, &authed),
    };
    render(StatusCode::OK, &page)
}

async fn export(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    params: web::Query<FilterParams>,
) -> Result<HttpResponse, ApiError> {
    export_response(&state, &authed, &meta, &params).await
}

/// One bar of the chart, in SVG user units.
struct Bar {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    label: String,
}

struct DayRow {
    day: String,
    clients: usize,
    reads: usize,
}

#[derive(Template)]
#[template(path = "audit_user.html")]
struct UserPage {
    c: Chrome,
    name: String,
    username: String,
    role: String,
    actor_id: String,
    from: String,
    to: String,
    chart_width: u32,
    chart_height: u32,
    chart_base: u32,
    bars: Vec<Bar>,
    max_label: String,
    first_day: String,
    last_day: String,
    chart_title: String,
    days: Vec<DayRow>,
    a: UserActivity,
    exports: Vec<EventRow>,
    reassignments: Vec<EventRow>,
    denials: Vec<EventRow>,
    sign_ins: Vec<EventRow>,
    events_href: String,
    error: Option<String>,
}

const BAR: u32 = 14;
const GAP: u32 = 4;
const PLOT: u32 = 160;
const TOP: u32 = 8;

fn chart(t: &Localizer, a: &UserActivity) -> (Vec<Bar>, u32, usize) {
    let max = a
        .days
        .iter()
        .map(|d| d.distinct_clients)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = a
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = (d.distinct_clients as u64 * u64::from(PLOT) / max as u64) as u32;
            let h = if d.distinct_clients > 0 { h.max(1) } else { 0 };
            Bar {
                x: i as u32 * (BAR + GAP),
                y: TOP + PLOT - h,
                width: BAR,
                height: h,
                label: t.t1(
                    "audit-chart-bar",
                    "day",
                    format!("{}: {}", d.day.format("%Y-%m-%d"), d.distinct_clients),
                ),
            }
        })
        .collect::<Vec<_>>();
    let width = (a.days.len() as u32 * (BAR + GAP)).max(BAR + GAP);
    (bars, width, max)
}

async fn user(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    period: web::Query<PeriodParams>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let (from, to) = period.dates()?;
    let a = state
        .gate
        .audit_user(&authed.actor, &meta.0, &id, from, to)
        .await?;
    let (bars, chart_width, max) = chart(&t, &a);
    let rows = |list: &[EventView]| list.iter().map(|e| event_row(&t, e)).collect::<Vec<_>>();
    let (name, username, role) = match &a.user {
        Some(u) => (u.name.clone(), u.username.clone(), u.role.clone()),
        None => (a.actor_id.clone(), String::new(), String::new()),
    };
    let mut qs = url::form_urlencoded::Serializer::new(String::new());
    qs.append_pair("actor", &a.actor_id);
    qs.append_pair("from", &a.from.to_string());
    qs.append_pair("to", &a.to.to_string());
    let page = UserPage {
        chart_title: t.t1("audit-chart-title", "name", &name),
        name,
        username,
        role,
        actor_id: a.actor_id.clone(),
        from: a.from.to_string(),
        to: a.to.to_string(),
        chart_width,
        chart_height: TOP + PLOT + 2,
        chart_base: TOP + PLOT,
        bars,
        max_label: max.to_string(),
        first_day: a.from.format("%Y-%m-%d").to_string(),
        last_day: a.to.format("%Y-%m-%d").to_string(),
        days: a
            .days
            .iter()
            .rev()
            .filter(|d| d.reads > 0)
            .map(|d| DayRow {
                day: d.day.format("%Y-%m-%d").to_string(),
                clients: d.distinct_clients,
                reads: d.reads,
            })
            .collect(),
        exports: rows(&a.exports),
        reassignments: rows(&a.reassignments),
        denials: rows(&a.denials),
        sign_ins: rows(&a.sign_ins),
        events_href: format!("/audit?{}#events", qs.finish()),
        error: a.truncated.then(|| t.t("audit-user-truncated")),
        a,
        c: chrome(&state, t, &authed),
    };
    render(StatusCode::OK, &page)
}
