//! The printable invoice (and credit note): one page laid out for paper; the
//! browser's "print to PDF" makes the file. `static/work.css` holds its print
//! rules (no navigation, no buttons, black on white).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::clients::chrome;
use super::pipeline::money;
use super::{Chrome, render};
use crate::crm::invoices::{InvoiceDetail, Kind};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoices/{id}/print", web::get().to(print));
}

struct LineView {
    description: String,
    quantity: String,
    unit_price: String,
    tax_rate: String,
    total: String,
}

#[derive(Template)]
#[template(path = "invoice_print.html")]
struct PrintPage {
    c: Chrome,
    heading: String,
    number: Option<String>,
    status: String,
    client: String,
    client_href: String,
    issued: Option<String>,
    due: Option<String>,
    notes: Option<String>,
    lines: Vec<LineView>,
    subtotal: String,
    tax: String,
    total: String,
    paid: String,
    outstanding: String,
}

fn page(c: Chrome, d: InvoiceDetail) -> PrintPage {
    let t = &c.t;
    let inv = d.invoice;
    let cur = inv.currency.clone();
    let heading = match inv.kind {
        Kind::Invoice => t.t("invoice-heading"),
        Kind::CreditNote => t.t("credit-note-heading"),
    };
    let status = t.t(&format!("invoice-status-{}", inv.status.as_str()));
    PrintPage {
        heading,
        number: inv.number.map(|n| format!("{n:06}")),
        status,
        client: inv.client.name.clone().unwrap_or_default(),
        client_href: format!("/clients/{}", urlencoding::encode(&inv.client.id)),
        issued: inv.issued_at.map(|a| a.date_naive().to_string()),
        due: inv.due_on.map(|d| d.to_string()),
        notes: inv.notes.clone(),
        lines: d
            .lines
            .into_iter()
            .map(|l| LineView {
                description: l.description,
                quantity: l.quantity.to_string(),
                unit_price: l.unit_price.to_string(),
                tax_rate: format!("{}%", l.tax_rate),
                total: money(l.total, &cur),
            })
            .collect(),
        subtotal: money(inv.subtotal, &cur),
        tax: money(inv.tax, &cur),
        total: money(inv.total, &cur),
        paid: money(inv.paid, &cur),
        outstanding: money(inv.outstanding, &cur),
        c,
    }
}

async fn print(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.gate.invoice(&authed.actor, &meta.0, &id).await?;
    let c = chrome(&state, lang.0, &authed);
    render(StatusCode::OK, &page(c, detail))
}

// ---------------------------------------------------------------------------
// The client card's billing part: projects, invoices, payments and balance.

pub(super) struct ProjectRowView {
    pub name: String,
    pub status: String,
    pub dates: String,
}

pub(super) struct InvoiceRowView {
    pub label: String,
    pub href: String,
    pub status: String,
    pub total: String,
    pub outstanding: String,
    pub due: String,
}

pub(super) struct PaymentRowView {
    pub paid_on: String,
    pub amount: String,
    pub method: String,
}

pub(super) struct BalanceView {
    pub invoiced: String,
    pub paid: String,
    pub outstanding: String,
    pub overdue: String,
}

pub(super) struct CardBilling {
    pub projects: Vec<ProjectRowView>,
    pub invoices: Vec<InvoiceRowView>,
    pub payments: Vec<PaymentRowView>,
    pub balance: Vec<BalanceView>,
}

/// What the card shows of the client's delivery and billing (read through the
/// gate, each part checked and audited); `None` when the role reads no invoices.
pub(super) async fn card_billing(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: &crate::i18n::Localizer,
    client_id: &str,
) -> Result<Option<CardBilling>, ApiError> {
    use crate::access::{Action, Object};
    let can = |o| state.gate.can(&authed.actor, o, Action::List);
    if !(can(Object::Invoice) && can(Object::Project) && can(Object::Payment)) {
        return Ok(None);
    }
    let rel = state
        .gate
        .client_billing(&authed.actor, &meta.0, client_id)
        .await?;
    let projects = rel
        .projects
        .into_iter()
        .map(|p| ProjectRowView {
            status: t.t(&format!("project-status-{}", p.status)),
            dates: match (p.starts_on, p.ends_on) {
                (None, None) => String::new(),
                (s, e) => format!(
                    "{} – {}",
                    s.map(|d| d.to_string()).unwrap_or_default(),
                    e.map(|d| d.to_string()).unwrap_or_default()
                ),
            },
            name: p.name,
        })
        .collect();
    let invoices = rel
        .invoices
        .iter()
        .map(|i| InvoiceRowView {
            label: format!(
                "{} {}",
                match i.kind {
                    Kind::Invoice => t.t("invoice-heading"),
                    Kind::CreditNote => t.t("credit-note-heading"),
                },
                i.number.map(|n| format!("{n:06}")).unwrap_or_default()
            ),
            href: format!("/invoices/{}/print", urlencoding::encode(&i.id)),
            status: t.t(&format!("invoice-status-{}", i.status.as_str())),
            total: money(i.total, &i.currency),
            outstanding: money(i.outstanding, &i.currency),
            due: i.due_on.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    let payments = rel
        .payments
        .into_iter()
        .map(|p| PaymentRowView {
            paid_on: p.paid_on.to_string(),
            amount: money(p.amount, &p.currency),
            method: p.method.unwrap_or_default(),
        })
        .collect();
    let balance = rel
        .balance
        .into_iter()
        .map(|b| BalanceView {
            invoiced: money(b.invoiced + b.credited, &b.currency),
            paid: money(b.paid, &b.currency),
            outstanding: money(b.outstanding, &b.currency),
            overdue: money(b.overdue, &b.currency),
        })
        .collect();
    Ok(Some(CardBilling {
        projects,
        invoices,
        payments,
        balance,
    }))
}
