//! The report pages: a server-rendered SVG chart (with a title and a
//! description for screen readers) and the table with the numbers under it, for
//! the funnel, revenue, activity and clients at risk; owners edit the
//! clients-at-risk flags on that page. Everything goes through `state.gate`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::{Action, GateError, Object};
use crate::crm::reports::{AtRiskQuery, PeriodInput, RiskSettings, RiskSettingsInput};
use crate::i18n::Localizer;
use crate::web::AppState;
use crate::web::api::reports::query_error;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(index))
        .route("/reports/funnel", web::get().to(funnel))
        .route("/reports/revenue", web::get().to(revenue))
        .route("/reports/activity", web::get().to(activity))
        .route("/reports/at-risk", web::get().to(at_risk))
        .route("/reports/settings", web::post().to(save_settings));
}

// ---------------------------------------------------------------------------
// Charts: horizontal bars, laid out here so the template only draws them.

const LABEL_W: i64 = 200;
const BAR_MAX: i64 = 400;
const ROW_H: i64 = 22;
const BAR_H: i64 = 16;
const VALUE_W: i64 = 140;

pub struct ChartRow {
    pub label: String,
    pub value: String,
    pub class: &'static str,
    pub y: i64,
    pub text_y: i64,
    pub bar_w: i64,
    pub value_x: i64,
}

pub struct Chart {
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    pub label_w: i64,
    pub bar_h: i64,
    pub rows: Vec<ChartRow>,
    /// (css class, label) of each series.
    pub legend: Vec<(&'static str, String)>,
}

/// A bar: its label (empty for a second series of the same group), its size,
/// the value written after it, and the series' class.
struct Bar {
    label: String,
    size: f64,
    value: String,
    class: &'static str,
}

fn chart(
    id: &str,
    title: String,
    desc: String,
    bars: Vec<Bar>,
    legend: Vec<(&'static str, String)>,
) -> Chart {
    let max = bars.iter().map(|b| b.size).fold(0.0_f64, f64::max);
    let rows: Vec<ChartRow> = bars
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let y = i as i64 * ROW_H + 4;
            let bar_w = if max > 0.0 && b.size > 0.0 {
                ((b.size / max) * BAR_MAX as f64).round().max(1.0) as i64
            } else {
                0
            };
            ChartRow {
                label: b.label,
                value: b.value,
                class: b.class,
                y,
                text_y: y + BAR_H - 3,
                bar_w,
                value_x: LABEL_W + bar_w + 6,
            }
        })
        .collect();
    Chart {
        id: id.to_string(),
        title,
        desc,
        width: LABEL_W + BAR_MAX + VALUE_W,
        height: (rows.len() as i64).max(1) * ROW_H + 8,
        label_w: LABEL_W,
        bar_h: BAR_H,
        rows,
        legend,
    }
}

// ---------------------------------------------------------------------------
// Tables

pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub num: bool,
}

fn text(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        href: None,
        num: false,
    }
}

fn num(s: impl ToString) -> Cell {
    Cell {
        text: s.to_string(),
        href: None,
        num: true,
    }
}

pub struct Table {
    pub id: String,
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

fn pct(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1} %")).unwrap_or_else(|| "–".into())
}

// ---------------------------------------------------------------------------
// The page

pub struct Tab {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

pub struct SettingsForm {
    pub s: RiskSettings,
    pub editable: bool,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportPage {
    c: Chrome,
    title: String,
    tabs: Vec<Tab>,
    /// The period form's action and values; `None` on reports without a period.
    period: Option<(&'static str, String, String)>,
    intro: String,
    charts: Vec<Chart>,
    tables: Vec<Table>,
    settings: Option<SettingsForm>,
    notice: Option<String>,
    error: Option<String>,
}

fn tabs(t: &Localizer, current: &str) -> Vec<Tab> {
    [
        ("/reports/funnel", "report-funnel"),
        ("/reports/revenue", "report-revenue"),
        ("/reports/activity", "report-activity"),
        ("/reports/at-risk", "report-at-risk"),
    ]
    .into_iter()
    .map(|(href, key)| Tab {
        href,
        label: t.t(key),
        current: href == current,
    })
    .collect()
}

#[allow(clippy::too_many_arguments)]
fn page(
    state: &AppState,
    authed: &Authed,
    t: Localizer,
    current: &'static str,
    period: Option<(String, String)>,
    intro: String,
    charts: Vec<Chart>,
    tables: Vec<Table>,
) -> ReportPage {
    ReportPage {
        title: t.t("reports-title"),
        tabs: tabs(&t, current),
        period: period.map(|(f, to)| (current, f, to)),
        intro,
        charts,
        tables,
        settings: None,
        notice: None,
        error: None,
        c: chrome(state, t, authed),
    }
}

async fn index() -> HttpResponse {
    see_other("/reports/funnel")
}

async fn funnel(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let r = state
        .gate
        .report_funnel(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    let total = &r.total;
    let mut bars: Vec<Bar> = total
        .stages
        .iter()
        .map(|s| Bar {
            label: s.label.clone(),
            size: s.reached as f64,
            value: s.reached.to_string(),
            class: "bar-a",
        })
        .collect();
    bars.push(Bar {
        label: t.t("report-won"),
        size: total.won as f64,
        value: total.won.to_string(),
        class: "bar-b",
    });
    let charts = vec![chart(
        "funnel-chart",
        t.t("report-funnel-chart"),
        t.t("report-funnel-desc"),
        bars,
        vec![
            ("bar-a", t.t("report-reached")),
            ("bar-b", t.t("report-won")),
        ],
    )];
    let stages = Table {
        id: "funnel-stages".into(),
        caption: t.t("report-funnel-stages"),
        head: vec![
            t.t("report-stage"),
            t.t("report-reached"),
            t.t("report-conversion"),
            t.t("report-lost-here"),
            t.t("report-open-here"),
        ],
        rows: total
            .stages
            .iter()
            .map(|s| {
                vec![
                    text(s.label.clone()),
                    num(s.reached),
                    num(pct(s.conversion_pct)),
                    num(s.lost_here),
                    num(s.open_here),
                ]
            })
            .collect(),
    };
    let owners = Table {
        id: "funnel-owners".into(),
        caption: t.t("report-by-manager"),
        head: vec![
            t.t("report-manager"),
            t.t("report-deals"),
            t.t("report-won"),
            t.t("report-lost"),
            t.t("report-open"),
            t.t("report-win-rate"),
            t.t("report-won-amount"),
        ],
        rows: r
            .by_owner
            .iter()
            .map(|f| {
                vec![
                    text(
                        f.owner
                            .as_ref()
                            .map(|o| o.name.clone())
                            .unwrap_or_else(|| t.t("report-no-owner")),
                    ),
                    num(f.deals),
                    num(f.won),
                    num(f.lost),
                    num(f.open),
                    num(pct(f.win_rate_pct)),
                    num(join_amounts(&f.won_amounts)),
                ]
            })
            .collect(),
    };
    let reasons = Table {
        id: "funnel-reasons".into(),
        caption: t.t("report-lost-reasons"),
        head: vec![t.t("report-reason"), t.t("report-deals")],
        rows: total
            .lost_reasons
            .iter()
            .map(|l| {
                vec![
                    text(l.reason.clone().unwrap_or_else(|| t.t("report-no-reason"))),
                    num(l.count),
                ]
            })
            .collect(),
    };
    let intro = t.t("report-funnel-intro");
    let p = page(
        &state,
        &authed,
        t,
        "/reports/funnel",
        Some((r.period.from.to_string(), r.period.to.to_string())),
        intro,
        charts,
        vec![stages, owners, reasons],
    );
    render(StatusCode::OK, &p)
}

fn join_amounts(a: &[crate::crm::reports::Amount]) -> String {
    if a.is_empty() {
        return "–".into();
    }
    a.iter()
        .map(|x| super::pipeline::money(x.amount, &x.currency))
        .collect::<Vec<_>>()
        .join(" · ")
}

async fn revenue(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let r = state
        .gate
        .report_revenue(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    // One chart per currency: amounts in different currencies share no axis.
    let mut currencies: Vec<String> = r.totals.iter().map(|x| x.currency.clone()).collect();
    currencies.dedup();
    let mut charts = Vec::new();
    for cur in &currencies {
        let mut bars = Vec::new();
        for m in r.months.iter().filter(|m| &m.currency == cur) {
            bars.push(Bar {
                label: m.month.clone(),
                size: decimal_size(m.invoiced),
                value: super::pipeline::money(m.invoiced, cur),
                class: "bar-a",
            });
            bars.push(Bar {
                label: String::new(),
                size: decimal_size(m.paid),
                value: super::pipeline::money(m.paid, cur),
                class: "bar-b",
            });
        }
        charts.push(chart(
            &format!("revenue-chart-{}", cur.to_lowercase()),
            t.t1("report-revenue-chart", "currency", cur),
            t.t1("report-revenue-desc", "currency", cur),
            bars,
            vec![
                ("bar-a", t.t("report-invoiced")),
                ("bar-b", t.t("report-paid")),
            ],
        ));
    }
    let months = Table {
        id: "revenue-months".into(),
        caption: t.t("report-revenue-months"),
        head: vec![
            t.t("report-month"),
            t.t("report-currency"),
            t.t("report-invoices"),
            t.t("report-invoiced"),
            t.t("report-credited"),
            t.t("report-payments"),
            t.t("report-paid"),
        ],
        rows: r
            .months
            .iter()
            .chain(r.totals.iter())
            .map(|m| {
                vec![
                    text(if m.month == "total" {
                        t.t("report-total")
                    } else {
                        m.month.clone()
                    }),
                    text(m.currency.clone()),
                    num(m.invoices),
                    num(m.invoiced),
                    num(m.credited),
                    num(m.payments),
                    num(m.paid),
                ]
            })
            .collect(),
    };
    let open = Table {
        id: "revenue-open".into(),
        caption: t.t1("report-open-invoices", "date", r.today),
        head: vec![
            t.t("report-currency"),
            t.t("report-unpaid-count"),
            t.t("report-unpaid"),
            t.t("report-overdue-count"),
            t.t("report-overdue"),
        ],
        rows: r
            .open
            .iter()
            .map(|o| {
                vec![
                    text(o.currency.clone()),
                    num(o.unpaid_count),
                    num(o.unpaid),
                    num(o.overdue_count),
                    num(o.overdue),
                ]
            })
            .collect(),
    };
    let intro = t.t("report-revenue-intro");
    let p = page(
        &state,
        &authed,
        t,
        "/reports/revenue",
        Some((r.period.from.to_string(), r.period.to.to_string())),
        intro,
        charts,
        vec![months, open],
    );
    render(StatusCode::OK, &p)
}

fn decimal_size(d: rust_decimal::Decimal) -> f64 {
    d.to_string().parse::<f64>().unwrap_or(0.0).max(0.0)
}

async fn activity(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    query: web::Query<PeriodInput>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let r = state
        .gate
        .report_activity(&authed.actor, &meta.0, query.into_inner())
        .await
        .map_err(query_error)?;
    let mut bars = Vec::new();
    for p in &r.people {
        let contacts = p.calls + p.emails + p.meetings + p.notes;
        bars.push(Bar {
            label: p.user.name.clone(),
            size: contacts as f64,
            value: contacts.to_string(),
            class: "bar-a",
        });
        bars.push(Bar {
            label: String::new(),
            size: p.tasks_done as f64,
            value: p.tasks_done.to_string(),
            class: "bar-b",
        });
        bars.push(Bar {
            label: String::new(),
            size: p.tasks_overdue as f64,
            value: p.tasks_overdue.to_string(),
            class: "bar-c",
        });
    }
    let charts = vec![chart(
        "activity-chart",
        t.t("report-activity-chart"),
        t.t("report-activity-desc"),
        bars,
        vec![
            ("bar-a", t.t("report-contacts")),
            ("bar-b", t.t("report-tasks-done")),
            ("bar-c", t.t("report-tasks-overdue")),
        ],
    )];
    let table = Table {
        id: "activity-people".into(),
        caption: t.t("report-activity-people"),
        head: vec![
            t.t("report-manager"),
            t.t("report-calls"),
            t.t("report-emails"),
            t.t("report-meetings"),
            t.t("report-notes"),
            t.t("report-tasks-done"),
            t.t("report-tasks-overdue"),
        ],
        rows: r
            .people
            .iter()
            .map(|p| {
                vec![
                    text(p.user.name.clone()),
                    num(p.calls),
                    num(p.emails),
                    num(p.meetings),
                    num(p.notes),
                    num(p.tasks_done),
                    num(p.tasks_overdue),
                ]
            })
            .collect(),
    };
    let intro = t.t("report-activity-intro");
    let p = page(
        &state,
        &authed,
        t,
        "/reports/activity",
        Some((r.period.from.to_string(), r.period.to.to_string())),
        intro,
        charts,
        vec![table],
    );
    render(StatusCode::OK, &p)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AtRiskParams {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn at_risk(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    query: web::Query<AtRiskParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let notice = (q.done.as_deref() == Some("settings")).then(|| lang.0.t("report-settings-saved"));
    at_risk_page(&state, &authed, &meta, lang.0, q.limit, notice, None, None).await
}

#[allow(clippy::too_many_arguments)]
async fn at_risk_page(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    limit: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    shown: Option<RiskSettings>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .report_at_risk(&authed.actor, &meta.0, AtRiskQuery { limit })
        .await
        .map_err(query_error)?;
    let count = |flag: &'static str| r.clients.iter().filter(|c| c.flags.contains(&flag)).count();
    let mut bars = Vec::new();
    for (flag, key, on) in [
        (
            "overdue_invoices",
            "report-flag-overdue",
            r.settings.overdue_on,
        ),
        (
            "complaints",
            "report-flag-complaints",
            r.settings.complaints_on,
        ),
        (
            "no_contact",
            "report-flag-no-contact",
            r.settings.no_contact_on,
        ),
    ] {
        if on {
            let n = count(flag);
            bars.push(Bar {
                label: t.t(key),
                size: n as f64,
                value: n.to_string(),
                class: "bar-c",
            });
        }
    }
    let charts = vec![chart(
        "at-risk-chart",
        t.t("report-at-risk-chart"),
        t.t("report-at-risk-desc"),
        bars,
        vec![],
    )];
    let flag_label = |f: &str| match f {
        "overdue_invoices" => t.t("report-flag-overdue"),
        "complaints" => t.t("report-flag-complaints"),
        _ => t.t("report-flag-no-contact"),
    };
    let table = Table {
        id: "at-risk-clients".into(),
        caption: if r.more {
            t.t1("report-at-risk-first", "count", r.clients.len())
        } else {
            t.t("report-at-risk-clients")
        },
        head: vec![
            t.t("report-client"),
            t.t("report-owner"),
            t.t("report-flags"),
            t.t("report-complaints"),
            t.t("report-last-contact"),
            t.t("report-overdue-invoices"),
        ],
        rows: r
            .clients
            .iter()
            .map(|c| {
                vec![
                    Cell {
                        text: c.name.clone(),
                        href: Some(format!("/clients/{}", urlencoding::encode(&c.id))),
                        num: false,
                    },
                    text(c.owner.as_ref().map(|o| o.name.clone()).unwrap_or_default()),
                    text(
                        c.flags
                            .iter()
                            .map(|f| flag_label(f))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    num(c.complaints),
                    text(
                        c.last_contact_at
                            .map(|d| d.format("%Y-%m-%d").to_string())
                            .unwrap_or_else(|| "–".into()),
                    ),
                    num(c.overdue_invoices),
                ]
            })
            .collect(),
    };
    let editable = state
        .gate
        .can(&authed.actor, Object::ReportSettings, Action::Update);
    let intro = t.t("report-at-risk-intro");
    let mut p = page(
        state,
        authed,
        t,
        "/reports/at-risk",
        None,
        intro,
        charts,
        vec![table],
    );
    p.settings = Some(SettingsForm {
        s: shown.unwrap_or(r.settings),
        editable,
    });
    p.notice = notice;
    p.error = error;
    render(StatusCode::OK, &p)
}

/// The settings form: checkboxes are absent when unchecked.
#[derive(Deserialize)]
struct SettingsFormInput {
    #[serde(default)]
    complaints_on: Option<String>,
    complaints_min: String,
    complaints_days: String,
    complaint_outcome: String,
    #[serde(default)]
    no_contact_on: Option<String>,
    no_contact_days: String,
    #[serde(default)]
    overdue_on: Option<String>,
    overdue_days: String,
}

async fn save_settings(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    form: web::Form<SettingsFormInput>,
) -> Result<HttpResponse, ApiError> {
    let f = form.into_inner();
    let t = lang.0;
    let whole = |field: &str, v: &str| -> Result<i64, String> {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("{field}: {}", t.t("report-setting-not-number")))
    };
    let parsed = (|| -> Result<RiskSettingsInput, String> {
        Ok(RiskSettingsInput {
            complaints_on: Some(f.complaints_on.is_some()),
            complaints_min: Some(whole(
                &t.t("report-setting-complaints-min"),
                &f.complaints_min,
            )?),
            complaints_days: Some(whole(
                &t.t("report-setting-complaints-days"),
                &f.complaints_days,
            )?),
            complaint_outcome: Some(f.complaint_outcome.clone()),
            no_contact_on: Some(f.no_contact_on.is_some()),
            no_contact_days: Some(whole(
                &t.t("report-setting-no-contact-days"),
                &f.no_contact_days,
            )?),
            overdue_on: Some(f.overdue_on.is_some()),
            overdue_days: Some(whole(&t.t("report-setting-overdue-days"), &f.overdue_days)?),
        })
    })();
    let input = match parsed {
        Ok(i) => i,
        Err(message) => {
            return at_risk_page(&state, &authed, &meta, t, None, None, Some(message), None).await;
        }
    };
    match state
        .gate
        .update_report_settings(&authed.actor, &meta.0, input)
        .await
    {
        Ok(_) => Ok(see_other("/reports/at-risk?done=settings")),
        Err(GateError::Invalid { field, msg }) => {
            let message = format!("{field}: {}", t.msg(&msg));
            at_risk_page(&state, &authed, &meta, t, None, None, Some(message), None).await
        }
        Err(e) => Err(e.into()),
    }
}
