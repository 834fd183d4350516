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
