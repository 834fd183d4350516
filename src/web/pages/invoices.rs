//! The printable invoice (and credit note): one page laid out for paper; the
//! browser's "print to PDF" makes the file. `static/work.css` holds its print
//! rules (no navigation, no buttons, black on white).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::clients::chrome;
use super::pipeline::money;
use super::{Chrome, render, see_other};
use crate::access::GateError;
use crate::crm::deals::AmountInput;
use crate::crm::invoices::{
    InvoiceDetail, InvoicePatch, Kind, LineInput, NewInvoice, NewPayment, Status,
};
use crate::crm::projects::NewProject;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoices/{id}/print", web::get().to(print))
        .route("/invoices/{id}/issue", web::post().to(issue))
        .route("/invoices/{id}/edit", web::post().to(edit))
        .route("/invoices/{id}/void", web::post().to(void))
        .route("/invoices/{id}/credit", web::post().to(credit))
        .route("/invoices/{id}/payments", web::post().to(pay))
        .route("/clients/{id}/invoices", web::post().to(new_invoice))
        .route("/clients/{id}/projects", web::post().to(new_project));
}

/// Validation messages are shown with the form, so the page answers 200 (the
/// envelope middleware would replace a 4xx body with its error page).
const FORM_ERROR: StatusCode = StatusCode::OK;

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
    href: String,
    can_issue: bool,
    can_void: bool,
    can_credit: bool,
    can_pay: bool,
    notice: Option<String>,
    error: Option<String>,
    payment: PaymentForm,
    /// The edit form, while the document is a draft.
    draft: Option<DraftEdit>,
}

/// Empty line rows offered below a draft's lines.
const BLANK_LINES: usize = 2;

#[derive(Default)]
struct LineForm {
    description: String,
    quantity: String,
    unit_price: String,
    tax_rate: String,
}

struct DraftEdit {
    /// A credit note keeps its invoice's currency.
    credit_note: bool,
    currency: String,
    due_on: String,
    notes: String,
    lines: Vec<LineForm>,
}

impl DraftEdit {
    fn typed(credit_note: bool, form: &InvoiceForm) -> DraftEdit {
        DraftEdit {
            credit_note,
            currency: form.currency.clone(),
            due_on: form.due_on.clone(),
            notes: form.notes.clone(),
            lines: form.rows(),
        }
    }
}

fn page(c: Chrome, d: InvoiceDetail, notice: Option<String>, error: Option<String>) -> PrintPage {
    let t = &c.t;
    let inv = d.invoice;
    let cur = inv.currency.clone();
    let heading = match inv.kind {
        Kind::Invoice => t.t("invoice-heading"),
        Kind::CreditNote => t.t("credit-note-heading"),
    };
    let status = t.t(&format!("invoice-status-{}", inv.status.as_str()));
    let sent_invoice =
        inv.kind == Kind::Invoice && inv.issued_at.is_some() && inv.status != Status::Void;
    let draft = (inv.status == Status::Draft).then(|| {
        let credit_note = inv.kind == Kind::CreditNote;
        // A credit note's quantities are stored negated and written positive.
        let form = InvoiceForm {
            currency: inv.currency.clone(),
            due_on: inv.due_on.map(|d| d.to_string()).unwrap_or_default(),
            notes: inv.notes.clone().unwrap_or_default(),
            description: d.lines.iter().map(|l| l.description.clone()).collect(),
            quantity: d
                .lines
                .iter()
                .map(|l| if credit_note { -l.quantity } else { l.quantity }.to_string())
                .collect(),
            unit_price: d.lines.iter().map(|l| l.unit_price.to_string()).collect(),
            tax_rate: d.lines.iter().map(|l| l.tax_rate.to_string()).collect(),
        };
        DraftEdit::typed(credit_note, &form)
    });
    PrintPage {
        draft,
        href: format!("/invoices/{}", urlencoding::encode(&inv.id)),
        can_issue: inv.status == Status::Draft,
        can_void: inv.status == Status::Draft
            || (sent_invoice && inv.paid.is_zero() && inv.credited.is_zero()),
        can_credit: sent_invoice,
        can_pay: sent_invoice && inv.outstanding > rust_decimal::Decimal::ZERO,
        notice,
        error,
        payment: PaymentForm::default(),
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
    params: web::Query<Done>,
) -> Result<HttpResponse, ApiError> {
    let notice = match params.done.as_str() {
        "" => None,
        done => Some(lang.0.t(&format!("notice-invoice-{done}"))),
    };
    show(&state, &authed, &meta, lang.0, &id, notice, None).await
}

async fn show(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: crate::i18n::Localizer,
    id: &str,
    notice: Option<String>,
    refused: Option<(String, Typed)>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.gate.invoice(&authed.actor, &meta.0, id).await?;
    let c = chrome(state, t, authed);
    let (error, typed) = match refused {
        Some((e, f)) => (Some(e), Some(f)),
        None => (None, None),
    };
    let mut p = page(c, detail, notice, error);
    match typed {
        Some(Typed::Payment(f)) => p.payment = f,
        Some(Typed::Draft(f)) => {
            if let Some(d) = &mut p.draft {
                *d = DraftEdit::typed(d.credit_note, &f);
            }
        }
        None => {}
    }
    render(
        if p.error.is_some() {
            FORM_ERROR
        } else {
            StatusCode::OK
        },
        &p,
    )
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: String,
}

#[derive(Deserialize, Default, Clone)]
struct PaymentForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    paid_on: String,
    #[serde(default)]
    method: String,
}

fn print_href(id: &str, done: &str) -> String {
    format!("/invoices/{}/print?done={done}", urlencoding::encode(id))
}

/// What was typed into a refused form, to show it again.
enum Typed {
    Payment(PaymentForm),
    Draft(InvoiceForm),
}

/// A refused action is shown on the invoice page with its message.
async fn refused(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: crate::i18n::Localizer,
    id: &str,
    e: GateError,
    form: Typed,
) -> Result<HttpResponse, ApiError> {
    let message = match &e {
        GateError::Invalid { field, msg } => format!("{field}: {}", t.msg(msg)),
        GateError::NotAllowed(msg) => t.msg(msg),
        GateError::Conflict(_) => t.t("invoice-action-conflict"),
        _ => return Err(e.into()),
    };
    show(state, authed, meta, t, id, None, Some((message, form))).await
}

/// `issue`, `void`: a state move, then back to the page.
async fn state_move(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: String,
    to_void: bool,
) -> Result<HttpResponse, ApiError> {
    let done = if to_void { "voided" } else { "issued" };
    match state
        .gate
        .move_invoice(&authed.actor, &meta.0, &id, to_void)
        .await
    {
        Ok(_) => Ok(see_other(&print_href(&id, done))),
        Err(e) => {
            refused(
                &state,
                &authed,
                &meta,
                lang.0,
                &id,
                e,
                Typed::Payment(PaymentForm::default()),
            )
            .await
        }
    }
}

async fn issue(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state_move(state, authed, meta, lang, id.into_inner(), false).await
}

async fn void(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state_move(state, authed, meta, lang, id.into_inner(), true).await
}

/// A draft credit note for the whole invoice; shown for review and issuing.
async fn credit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let input = crate::crm::invoices::NewCreditNote::default();
    match state
        .gate
        .credit_invoice(&authed.actor, &meta.0, &id, input)
        .await
    {
        Ok(d) => Ok(see_other(&print_href(&d.invoice.id, "credit"))),
        Err(e) => {
            refused(
                &state,
                &authed,
                &meta,
                lang.0,
                &id,
                e,
                Typed::Payment(PaymentForm::default()),
            )
            .await
        }
    }
}

async fn pay(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<PaymentForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let input = NewPayment {
        amount: AmountInput::Text(form.amount.clone()),
        paid_on: Some(form.paid_on.clone()),
        method: Some(form.method.clone()),
        reference: None,
    };
    match state
        .gate
        .pay_invoice(&authed.actor, &meta.0, &id, input)
        .await
    {
        Ok(_) => Ok(see_other(&print_href(&id, "paid"))),
        Err(e) => refused(&state, &authed, &meta, lang.0, &id, e, Typed::Payment(form)).await,
    }
}

/// The card's "new invoice" form and a draft's edit form: lines are repeated
/// fields; blank lines are skipped.
#[derive(Deserialize, Default, Clone)]
struct InvoiceForm {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    due_on: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    description: Vec<String>,
    #[serde(default)]
    quantity: Vec<String>,
    #[serde(default)]
    unit_price: Vec<String>,
    #[serde(default)]
    tax_rate: Vec<String>,
}

impl InvoiceForm {
    /// Repeated fields (one per line) need the pair list, not a map.
    fn parse(body: &str) -> InvoiceForm {
        let mut form = InvoiceForm::default();
        for (k, v) in url::form_urlencoded::parse(body.as_bytes()).into_owned() {
            match k.as_str() {
                "currency" => form.currency = v,
                "due_on" => form.due_on = v,
                "notes" => form.notes = v,
                "description" => form.description.push(v),
                "quantity" => form.quantity.push(v),
                "unit_price" => form.unit_price.push(v),
                "tax_rate" => form.tax_rate.push(v),
                _ => {}
            }
        }
        form
    }

    fn cell(list: &[String], i: usize) -> String {
        list.get(i).cloned().unwrap_or_default()
    }

    fn lines(&self) -> Vec<LineInput> {
        (0..self.description.len())
            .filter(|&i| !Self::cell(&self.description, i).trim().is_empty())
            .map(|i| LineInput {
                description: Self::cell(&self.description, i),
                quantity: AmountInput::Text(Self::cell(&self.quantity, i)),
                unit_price: AmountInput::Text(Self::cell(&self.unit_price, i)),
                tax_rate: Some(AmountInput::Text(Self::cell(&self.tax_rate, i)))
                    .filter(|r| !r.text().trim().is_empty()),
            })
            .collect()
    }

    /// The form's rows for the page: every typed line, then blank ones.
    fn rows(&self) -> Vec<LineForm> {
        (0..self.description.len())
            .map(|i| LineForm {
                description: Self::cell(&self.description, i),
                quantity: Self::cell(&self.quantity, i),
                unit_price: Self::cell(&self.unit_price, i),
                tax_rate: Self::cell(&self.tax_rate, i),
            })
            .chain(std::iter::repeat_with(LineForm::default).take(BLANK_LINES))
            .collect()
    }
}

/// A draft's edit form: every field and every line as typed (a blank line
/// drops it); refused input comes back with the message.
async fn edit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let form = InvoiceForm::parse(&body);
    let patch = InvoicePatch {
        // Absent for credit notes, whose form has no currency.
        currency: Some(form.currency.clone()).filter(|c| !c.trim().is_empty()),
        due_on: Some(form.due_on.clone()),
        notes: Some(form.notes.clone()),
        lines: Some(form.lines()),
    };
    match state
        .gate
        .update_invoice(&authed.actor, &meta.0, &id, patch)
        .await
    {
        Ok(_) => Ok(see_other(&print_href(&id, "drafted"))),
        Err(e) => refused(&state, &authed, &meta, lang.0, &id, e, Typed::Draft(form)).await,
    }
}

async fn new_invoice(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let form = InvoiceForm::parse(&body);
    let input = NewInvoice {
        client_id: id.to_string(),
        lines: form.lines(),
        currency: form.currency,
        due_on: Some(form.due_on),
        notes: Some(form.notes).filter(|n| !n.trim().is_empty()),
    };
    match state
        .gate
        .create_invoice(&authed.actor, &meta.0, input)
        .await
    {
        Ok(d) => Ok(see_other(&print_href(&d.invoice.id, "drafted"))),
        Err(e) => refused_on_card(&state, &authed, lang.0, &id, e),
    }
}

fn card_href(id: &str) -> String {
    format!("/clients/{}", urlencoding::encode(id))
}

#[derive(Template)]
#[template(path = "billing_refused.html")]
struct RefusedPage {
    c: Chrome,
    message: String,
    back: String,
}

fn refused_on_card(
    state: &AppState,
    authed: &Authed,
    t: crate::i18n::Localizer,
    client_id: &str,
    e: GateError,
) -> Result<HttpResponse, ApiError> {
    let message = match &e {
        GateError::Invalid { field, msg } => format!("{field}: {}", t.msg(msg)),
        GateError::NotAllowed(msg) => t.msg(msg),
        _ => return Err(e.into()),
    };
    let page = RefusedPage {
        message,
        back: card_href(client_id),
        c: chrome(state, t, authed),
    };
    render(FORM_ERROR, &page)
}

#[derive(Deserialize, Default)]
struct ProjectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
}

async fn new_project(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<ProjectForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let input = NewProject {
        client_id: id.to_string(),
        name: form.name,
        status: Some(form.status).filter(|s| !s.is_empty()),
        starts_on: Some(form.starts_on),
        ends_on: Some(form.ends_on),
        responsible_id: None,
    };
    match state
        .gate
        .create_project(&authed.actor, &meta.0, input)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=project#billing",
            card_href(&id)
        ))),
        Err(e) => refused_on_card(&state, &authed, lang.0, &id, e),
    }
}

// ---------------------------------------------------------------------------
// The client card's billing part: projects, invoices, payments and balance.

pub(super) struct ProjectRowView {
    pub name: String,
    pub href: String,
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
            href: super::projects::project_href(&p.id),
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
