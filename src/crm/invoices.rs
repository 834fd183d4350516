//! Invoices, credit notes and payments. An invoice belongs to a client and is
//! reached exactly when its client is (like deals).
//!
//! Life of a document: a draft is edited freely; issuing it takes the next
//! number of the one sequence shared by invoices and credit notes (in the issuing
//! transaction, so a rolled-back issue gives the number back and there are no
//! gaps) and freezes it — the database refuses any later edit (triggers). After
//! that only settlement moves: payments, issued credit notes, and voiding (an
//! issued invoice with no payments or credits; it keeps its number).
//! Paid, partly paid and overdue are derived from those sums, the due date and
//! the clock when read, so no job has to run for an invoice to become overdue.
//! Arithmetic and its rounding rule: `invoice_math`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::clients::Ctx;
use super::deals::AmountInput;
use super::invoice_math::{self, LineAmounts};
use super::types::{DEFAULT_PAGE, MAX_PAGE, Page, utc};
use super::work::{
    self, ClientRef, client_in_scope, currency_minor_units, parse_currency, parse_date,
    parse_decimal, require, within_client_scope,
};
use super::{CrmError, cursor, text};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::billing::{InvoiceLineRow, InvoiceRow, PaymentRow};
use crate::store::schema::{clients, invoice_lines, invoice_sequences, invoices, payments};

const LINES_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;
const NOTES_MAX: usize = 4000;
/// Whole units: a quantity, a unit price and a line's net stay below these, so
/// 200 lines with 100% tax still fit the 1/10000-unit integers storage keeps.
const QUANTITY_MAX: i64 = 1_000_000;
const PRICE_MAX: i64 = 1_000_000_000_000;
const LINE_NET_MAX: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invoice,
    CreditNote,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::CreditNote => "credit_note",
        }
    }

    fn parse(s: &str) -> Kind {
        if s == "credit_note" {
            Kind::CreditNote
        } else {
            Kind::Invoice
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Sent,
    PartlyPaid,
    Paid,
    Overdue,
    Void,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Sent => "sent",
            Status::PartlyPaid => "partly_paid",
            Status::Paid => "paid",
            Status::Overdue => "overdue",
            Status::Void => "void",
        }
    }
}

/// The status as of `today`: settled (outstanding ≤ 0) is paid; otherwise a
/// passed due date is overdue, whatever was paid so far.
fn status_of(row: &InvoiceRow, today: NaiveDate) -> Status {
    match row.state.as_str() {
        "draft" => Status::Draft,
        "void" => Status::Void,
        _ if row.kind == "credit_note" => Status::Sent,
        _ => {
            let outstanding = row.total_e4 + row.credited_e4 - row.paid_e4;
            if outstanding <= 0 {
                Status::Paid
            } else if row.due_on.is_some_and(|d| d < today) {
                Status::Overdue
            } else if row.paid_e4 > 0 {
                Status::PartlyPaid
            } else {
                Status::Sent
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub description: String,
    pub quantity: AmountInput,
    pub unit_price: AmountInput,
    /// Percent, 0 to 100.
    #[serde(default)]
    pub tax_rate: Option<AmountInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub client_id: String,
    pub currency: String,
    #[serde(default)]
    pub due_on: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub lines: Vec<LineInput>,
}

/// A draft's changes; absent fields stay, `lines` replaces every line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicePatch {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub due_on: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<LineInput>>,
}

/// A credit note for an issued invoice. Quantities are written positive (what
/// is credited) and stored negated; without lines, everything not yet credited
/// is: every line of the invoice, negated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCreditNote {
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<LineInput>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub amount: AmountInput,
    /// Defaults to today.
    #[serde(default)]
    pub paid_on: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InvoiceQuery {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invoice {
    pub id: String,
    pub client: ClientRef,
    pub kind: Kind,
    /// In the one sequence of invoices and credit notes; none while a draft.
    pub number: Option<i64>,
    pub status: Status,
    pub currency: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_on: Option<NaiveDate>,
    pub notes: Option<String>,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub paid: Decimal,
    /// Issued credit notes against this invoice (negative).
    pub credited: Decimal,
    /// total + credited − paid (negative: owed to the client).
    pub outstanding: Decimal,
    /// The invoice a credit note corrects.
    pub credits_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub position: i32,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub tax_rate: Decimal,
    pub net: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub client_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub paid_on: NaiveDate,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceDetail {
    pub invoice: Invoice,
    pub lines: Vec<Line>,
    pub payments: Vec<Payment>,
    pub credit_notes: Vec<Invoice>,
}

fn view(row: InvoiceRow, client_name: Option<String>, today: NaiveDate) -> Invoice {
    let e4 = invoice_math::from_e4;
    Invoice {
        status: status_of(&row, today),
        client: ClientRef {
            id: row.client_id,
            name: client_name,
        },
        kind: Kind::parse(&row.kind),
        number: row.number,
        currency: row.currency,
        issued_at: row.issued_at.map(utc),
        due_on: row.due_on,
        notes: row.notes,
        subtotal: e4(row.subtotal_e4),
        tax: e4(row.tax_e4),
        total: e4(row.total_e4),
        paid: e4(row.paid_e4),
        credited: e4(row.credited_e4),
        outstanding: e4(row.total_e4 + row.credited_e4 - row.paid_e4),
        credits_id: row.credits_id,
        id: row.id,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

fn payment_view(p: PaymentRow, client_id: &str, currency: &str) -> Payment {
    Payment {
        id: p.id,
        invoice_id: p.invoice_id,
        client_id: client_id.to_string(),
        amount: invoice_math::from_e4(p.amount_e4),
        currency: currency.to_string(),
        paid_on: p.paid_on,
        method: p.method,
        reference: p.reference,
        created_at: utc(p.created_at),
    }
}

fn today(ctx: Ctx<'_>) -> NaiveDate {
    ctx.env.now().date_naive()
}

// ---------------------------------------------------------------------------
// Lines

/// A checked line, ready to store.
struct PricedLine {
    description: String,
    quantity_e4: i64,
    unit_price_e4: i64,
    tax_rate_e4: i64,
    amounts: LineAmounts,
}

fn bounded(field: &str, value: Decimal, max: i64, scale: u32) -> Result<i64, CrmError> {
    if value.abs() >= Decimal::from(max) {
        return Err(CrmError::invalid(
            field,
            Msg::new("invalid-amount-too-large").arg("max", max),
        ));
    }
    if value.normalize().scale() > scale {
        return Err(CrmError::invalid(
            field,
            Msg::new("invalid-decimal-scale").arg("digits", scale),
        ));
    }
    invoice_math::to_e4(value).ok_or_else(|| CrmError::invalid(field, Msg::new("invalid-amount")))
}

/// Checks and prices lines. Quantities must be positive as written; a credit
/// note's are negated here.
fn price_lines(
    inputs: &[LineInput],
    currency: &str,
    kind: Kind,
) -> Result<Vec<PricedLine>, CrmError> {
    if inputs.len() > LINES_MAX {
        return Err(CrmError::invalid(
            "lines",
            Msg::new("invalid-too-many-lines").arg("max", LINES_MAX),
        ));
    }
    let minor = currency_minor_units(currency);
    let mut out = Vec::with_capacity(inputs.len());
    for (i, l) in inputs.iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        let description = text::body(&f("description"), &l.description, DESCRIPTION_MAX)?;
        if description.trim().is_empty() {
            return Err(CrmError::invalid(
                &f("description"),
                Msg::new("invalid-empty"),
            ));
        }
        let quantity = parse_decimal(&f("quantity"), &l.quantity.text())?;
        if quantity <= Decimal::ZERO {
            return Err(CrmError::invalid(
                &f("quantity"),
                Msg::new("invalid-quantity-positive"),
            ));
        }
        let quantity = if kind == Kind::CreditNote {
            -quantity
        } else {
            quantity
        };
        let quantity_e4 = bounded(&f("quantity"), quantity, QUANTITY_MAX, 4)?;
        let unit_price = parse_decimal(&f("unit_price"), &l.unit_price.text())?;
        if unit_price.is_sign_negative() && !unit_price.is_zero() {
            return Err(CrmError::invalid(
                &f("unit_price"),
                Msg::new("invalid-amount-negative"),
            ));
        }
        let unit_price_e4 = bounded(&f("unit_price"), unit_price, PRICE_MAX, 4)?;
        let tax_rate = match &l.tax_rate {
            Some(r) => parse_decimal(&f("tax_rate"), &r.text())?,
            None => Decimal::ZERO,
        };
        if tax_rate < Decimal::ZERO || tax_rate > Decimal::ONE_HUNDRED {
            return Err(CrmError::invalid(
                &f("tax_rate"),
                Msg::new("invalid-tax-rate"),
            ));
        }
        let tax_rate_e4 = bounded(&f("tax_rate"), tax_rate, 1_000, 4)?;
        let amounts = invoice_math::line(
            invoice_math::from_e4(quantity_e4),
            invoice_math::from_e4(unit_price_e4),
            invoice_math::from_e4(tax_rate_e4),
            minor,
        )
        .filter(|a| a.net.abs() < Decimal::from(LINE_NET_MAX))
        .ok_or_else(|| {
            CrmError::invalid(
                &f("unit_price"),
                Msg::new("invalid-amount-too-large").arg("max", LINE_NET_MAX),
            )
        })?;
        out.push(PricedLine {
            description,
            quantity_e4,
            unit_price_e4,
            tax_rate_e4,
            amounts,
        });
    }
    Ok(out)
}

fn e4_of(value: Decimal) -> Result<i64, CrmError> {
    invoice_math::to_e4(value).ok_or_else(|| CrmError::Internal("amount out of range".into()))
}

/// Replaces a draft's lines and stores its totals.
fn store_lines(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    invoice_id: &str,
    lines: &[PricedLine],
) -> Result<(), CrmError> {
    diesel::delete(invoice_lines::table.filter(invoice_lines::invoice_id.eq(invoice_id)))
        .execute(conn)?;
    for (i, l) in lines.iter().enumerate() {
        diesel::insert_into(invoice_lines::table)
            .values(InvoiceLineRow {
                id: ctx.env.new_id()?.to_string(),
                invoice_id: invoice_id.to_string(),
                position: i32::try_from(i + 1).unwrap_or(i32::MAX),
                description: l.description.clone(),
                quantity_e4: l.quantity_e4,
                unit_price_e4: l.unit_price_e4,
                tax_rate_e4: l.tax_rate_e4,
                net_e4: e4_of(l.amounts.net)?,
                tax_e4: e4_of(l.amounts.tax)?,
                total_e4: e4_of(l.amounts.total)?,
            })
            .execute(conn)?;
    }
    let t = invoice_math::totals(lines.iter().map(|l| &l.amounts));
    diesel::update(invoices::table.filter(invoices::id.eq(invoice_id)))
        .set((
            invoices::line_count.eq(i32::try_from(lines.len()).unwrap_or(i32::MAX)),
            invoices::subtotal_e4.eq(e4_of(t.subtotal)?),
            invoices::tax_e4.eq(e4_of(t.tax)?),
            invoices::total_e4.eq(e4_of(t.total)?),
        ))
        .execute(conn)?;
    Ok(())
}

fn lines_of(conn: &mut DbConn, invoice_id: &str) -> Result<Vec<Line>, CrmError> {
    let rows: Vec<InvoiceLineRow> = invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice_id))
        .select(InvoiceLineRow::as_select())
        .order(invoice_lines::position)
        .load(conn)?;
    let e4 = invoice_math::from_e4;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            position: r.position,
            description: r.description,
            quantity: e4(r.quantity_e4),
            unit_price: e4(r.unit_price_e4),
            tax_rate: e4(r.tax_rate_e4),
            net: e4(r.net_e4),
            tax: e4(r.tax_e4),
            total: e4(r.total_e4),
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Reading

fn load_in_scope(
    conn: &mut DbConn,
    scope: &Scope,
    id: &str,
) -> Result<(InvoiceRow, String), CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: Option<InvoiceRow> = invoices::table
        .filter(invoices::id.eq(id))
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(CrmError::NotFound);
    };
    let name = client_in_scope(conn, scope, &row.client_id)?;
    Ok((row, name))
}

fn detail_of(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    row: InvoiceRow,
    client_name: String,
) -> Result<InvoiceDetail, CrmError> {
    let day = today(ctx);
    let lines = lines_of(conn, &row.id)?;
    let paid: Vec<PaymentRow> = payments::table
        .filter(payments::invoice_id.eq(&row.id))
        .select(PaymentRow::as_select())
        .order((payments::paid_on, payments::created_at))
        .load(conn)?;
    let notes: Vec<InvoiceRow> = invoices::table
        .filter(invoices::credits_id.eq(&row.id))
        .select(InvoiceRow::as_select())
        .order(invoices::created_at)
        .load(conn)?;
    let payments = paid
        .into_iter()
        .map(|p| payment_view(p, &row.client_id, &row.currency))
        .collect();
    let credit_notes = notes
        .into_iter()
        .map(|n| view(n, Some(client_name.clone()), day))
        .collect();
    Ok(InvoiceDetail {
        invoice: view(row, Some(client_name), day),
        lines,
        payments,
        credit_notes,
    })
}

pub fn get(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<InvoiceDetail, CrmError> {
    require(scope, Object::Invoice, &[Action::Read])?;
    let (row, name) = load_in_scope(conn, scope, id)?;
    detail_of(conn, ctx, row, name)
}

type InvoiceWithClient = work::WithClient<InvoiceRow>;

/// One page of invoices and credit notes, newest first.
pub fn list(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    query: &InvoiceQuery,
) -> Result<Page<Invoice>, CrmError> {
    require(scope, Object::Invoice, &[Action::List])?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let day = today(ctx);
    let q = invoices::table
        .inner_join(clients::table.on(clients::id.eq(invoices::client_id)))
        .select((
            InvoiceRow::as_select(),
            (clients::name, clients::owner_id, clients::team_id),
        ))
        .into_boxed();
    let mut q = within_client_scope!(q, scope);
    if let Some(client) = query.client_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(invoices::client_id.eq(client.to_string()));
    }
    if let Some(kind) = query.kind.as_deref().filter(|s| !s.is_empty()) {
        if kind != "invoice" && kind != "credit_note" {
            return Err(CrmError::invalid("kind", Msg::new("invalid-invoice-kind")));
        }
        q = q.filter(invoices::kind.eq(kind.to_string()));
    }
    if let Some(status) = query.status.as_deref().filter(|s| !s.is_empty()) {
        let open = (invoices::total_e4 + invoices::credited_e4 - invoices::paid_e4).gt(0i64);
        let issued = invoices::state.eq("sent").and(invoices::kind.eq("invoice"));
        let not_due = invoices::due_on.is_null().or(invoices::due_on.ge(day));
        q = match status {
            "draft" | "void" => q.filter(invoices::state.eq(status.to_string())),
            "paid" => q.filter(issued.and(open.eq(false))),
            "overdue" => q.filter(issued.and(open).and(invoices::due_on.lt(day))),
            "partly_paid" => q.filter(
                issued
                    .and(open)
                    .and(not_due)
                    .and(invoices::paid_e4.gt(0i64)),
            ),
            "sent" => q.filter(
                invoices::state.eq("sent").and(
                    invoices::kind.eq("credit_note").or(issued
                        .and(open)
                        .and(not_due)
                        .and(invoices::paid_e4.eq(0i64))),
                ),
            ),
            _ => {
                return Err(CrmError::invalid(
                    "status",
                    Msg::new("invalid-invoice-status"),
                ));
            }
        };
    }
    if let Some(c) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = cursor::decode(c)?;
        q = q.filter(
            invoices::created_at
                .lt(at)
                .or(invoices::created_at.eq(at).and(invoices::id.lt(id))),
        );
    }
    let mut rows: Vec<InvoiceWithClient> = q
        .order((invoices::created_at.desc(), invoices::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = work::cut_page(
        scope,
        &mut rows,
        limit,
        |r| (r.created_at, &r.id),
        "invoice",
    );
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(r, (name, _, _))| view(r, Some(name), day))
            .collect(),
        next_cursor,
    })
}

/// Every invoice and credit note of one client the scope reaches (its card).
pub fn of_client(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    client_id: &str,
) -> Result<Vec<Invoice>, CrmError> {
    require(scope, Object::Invoice, &[Action::List, Action::Read])?;
    let name = client_in_scope(conn, scope, client_id)?;
    let day = today(ctx);
    let rows: Vec<InvoiceRow> = invoices::table
        .filter(invoices::client_id.eq(client_id))
        .select(InvoiceRow::as_select())
        .order((invoices::created_at.desc(), invoices::id.desc()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| view(r, Some(name.clone()), day))
        .collect())
}

/// Payments of one invoice.
pub fn payments_of(
    conn: &mut DbConn,
    scope: &Scope,
    invoice_id: &str,
) -> Result<Vec<Payment>, CrmError> {
    require(scope, Object::Payment, &[Action::List])?;
    let (row, _) = load_in_scope(conn, scope, invoice_id)?;
    let rows: Vec<PaymentRow> = payments::table
        .filter(payments::invoice_id.eq(&row.id))
        .select(PaymentRow::as_select())
        .order((payments::paid_on, payments::created_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|p| payment_view(p, &row.client_id, &row.currency))
        .collect())
}

/// Every payment of one client's invoices, newest first.
pub fn payments_of_client(
    conn: &mut DbConn,
    scope: &Scope,
    client_id: &str,
) -> Result<Vec<Payment>, CrmError> {
    require(scope, Object::Payment, &[Action::List])?;
    client_in_scope(conn, scope, client_id)?;
    let rows: Vec<(PaymentRow, String)> = payments::table
        .inner_join(invoices::table.on(invoices::id.eq(payments::invoice_id)))
        .filter(invoices::client_id.eq(client_id))
        .select((PaymentRow::as_select(), invoices::currency))
        .order((payments::paid_on.desc(), payments::created_at.desc()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(p, cur)| payment_view(p, client_id, &cur))
        .collect())
}

// ---------------------------------------------------------------------------
// Writing

fn require_draft(row: &InvoiceRow) -> Result<(), CrmError> {
    if row.state == "draft" {
        Ok(())
    } else {
        Err(CrmError::Conflict(
            "the invoice is issued and is never edited; write a credit note".into(),
        ))
    }
}

/// What a new draft (invoice or credit note) starts with.
struct Draft {
    client_id: String,
    kind: Kind,
    credits_id: Option<String>,
    currency: String,
    due_on: Option<NaiveDate>,
    notes: Option<String>,
}

fn insert_draft(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    draft: Draft,
    lines: &[PricedLine],
    client_name: String,
) -> Result<InvoiceDetail, CrmError> {
    let now = ctx.env.now().naive_utc();
    let row = InvoiceRow {
        id: ctx.env.new_id()?.to_string(),
        client_id: draft.client_id,
        kind: draft.kind.as_str().into(),
        credits_id: draft.credits_id,
        number: None,
        state: "draft".into(),
        currency: draft.currency,
        issued_at: None,
        due_on: draft.due_on,
        notes: draft.notes,
        line_count: 0,
        subtotal_e4: 0,
        tax_e4: 0,
        total_e4: 0,
        paid_e4: 0,
        credited_e4: 0,
        created_by: scope.user_id().map(str::to_string),
        created_at: now,
        updated_at: now,
        voided_at: None,
    };
    diesel::insert_into(invoices::table)
        .values(&row)
        .execute(conn)?;
    store_lines(conn, ctx, &row.id, lines)?;
    let (row, _) = load_in_scope(conn, scope, &row.id)?;
    detail_of(conn, ctx, row, client_name)
}

pub fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &NewInvoice,
) -> Result<InvoiceDetail, CrmError> {
    require(scope, Object::Invoice, &[Action::Create])?;
    let client_name = client_in_scope(conn, scope, &input.client_id)?;
    let currency = parse_currency(&input.currency)?;
    let due_on = parse_date("due_on", input.due_on.as_deref())?;
    let notes = text::opt_body("notes", input.notes.as_deref(), NOTES_MAX)?;
    let lines = price_lines(&input.lines, &currency, Kind::Invoice)?;
    let draft = Draft {
        client_id: input.client_id.clone(),
        kind: Kind::Invoice,
        credits_id: None,
        currency,
        due_on,
        notes,
    };
    insert_draft(conn, ctx, scope, draft, &lines, client_name)
}

/// Edits a draft (an invoice or a credit note); an issued one is refused.
pub fn update(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    patch: &InvoicePatch,
) -> Result<(InvoiceDetail, Vec<&'static str>), CrmError> {
    require(scope, Object::Invoice, &[Action::Update])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    require_draft(&row)?;
    let kind = Kind::parse(&row.kind);
    let mut fields = Vec::new();
    let currency = match &patch.currency {
        Some(_) if kind == Kind::CreditNote => {
            return Err(CrmError::invalid(
                "currency",
                Msg::new("invalid-credit-note-currency"),
            ));
        }
        Some(c) => parse_currency(c)?,
        None => row.currency.clone(),
    };
    let due_on = match &patch.due_on {
        Some(d) => parse_date("due_on", Some(d))?,
        None => row.due_on,
    };
    let notes = match &patch.notes {
        Some(n) => text::opt_body("notes", Some(n), NOTES_MAX)?,
        None => row.notes.clone(),
    };
    // Lines are priced in the (possibly new) currency: its minor units round them.
    let lines = match (&patch.lines, currency != row.currency) {
        (Some(l), _) => Some(price_lines(l, &currency, kind)?),
        (None, true) => {
            return Err(CrmError::invalid(
                "lines",
                Msg::new("invalid-lines-with-currency"),
            ));
        }
        (None, false) => None,
    };
    for (field, changed) in [
        ("currency", currency != row.currency),
        ("due_on", due_on != row.due_on),
        ("notes", notes != row.notes),
        ("lines", lines.is_some()),
    ] {
        if changed {
            fields.push(field);
        }
    }
    diesel::update(invoices::table.filter(invoices::id.eq(&row.id)))
        .set((
            invoices::currency.eq(&currency),
            invoices::due_on.eq(due_on),
            invoices::notes.eq(&notes),
            invoices::updated_at.eq(ctx.env.now().naive_utc()),
        ))
        .execute(conn)?;
    if let Some(lines) = &lines {
        store_lines(conn, ctx, &row.id, lines)?;
    }
    let (row, _) = load_in_scope(conn, scope, &row.id)?;
    Ok((detail_of(conn, ctx, row, client_name)?, fields))
}

/// Takes the next number of the sequence. The row update makes concurrent
/// issuers queue (PostgreSQL row lock; SQLite's write lock is taken at the start
/// of every write transaction), and a rollback gives the number back.
fn next_number(conn: &mut DbConn) -> Result<i64, CrmError> {
    let n = diesel::update(invoice_sequences::table.filter(invoice_sequences::name.eq("invoice")))
        .set(invoice_sequences::last_number.eq(invoice_sequences::last_number + 1i64))
        .execute(conn)?;
    if n != 1 {
        return Err(CrmError::Internal("the invoice sequence is missing".into()));
    }
    Ok(invoice_sequences::table
        .filter(invoice_sequences::name.eq("invoice"))
        .select(invoice_sequences::last_number)
        .first(conn)?)
}

/// Issues a draft: takes its number and freezes it. A credit note is applied to
/// its invoice in the same transaction.
pub fn issue(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<InvoiceDetail, CrmError> {
    require(scope, Object::Invoice, &[Action::Update])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    require_draft(&row)?;
    if row.line_count == 0 {
        return Err(CrmError::invalid(
            "lines",
            Msg::new("invalid-invoice-no-lines"),
        ));
    }
    let now = ctx.env.now().naive_utc();
    let number = next_number(conn)?;
    let issued = diesel::update(
        invoices::table
            .filter(invoices::id.eq(&row.id))
            .filter(invoices::state.eq("draft")),
    )
    .set((
        invoices::state.eq("sent"),
        invoices::number.eq(number),
        invoices::issued_at.eq(now),
        invoices::updated_at.eq(now),
    ))
    .execute(conn)?;
    if issued != 1 {
        // Issued (or voided) meanwhile by someone else: this transaction, and the
        // number it took, are rolled back.
        return Err(CrmError::Conflict(
            "the invoice is no longer a draft".into(),
        ));
    }
    if let Some(of) = &row.credits_id {
        // Never credits more than the invoice's total, even with concurrent notes.
        let applied = diesel::update(
            invoices::table
                .filter(invoices::id.eq(of))
                .filter(invoices::state.eq("sent"))
                .filter((invoices::total_e4 + invoices::credited_e4 + row.total_e4).ge(0i64)),
        )
        .set(invoices::credited_e4.eq(invoices::credited_e4 + row.total_e4))
        .execute(conn)?;
        if applied != 1 {
            return Err(CrmError::invalid(
                "lines",
                Msg::new("invalid-credit-exceeds-invoice"),
            ));
        }
    }
    let (row, _) = load_in_scope(conn, scope, &row.id)?;
    detail_of(conn, ctx, row, client_name)
}

/// Voids a draft, or an issued invoice nothing was paid or credited on (it
/// keeps its number). An issued credit note is not voided: write an invoice.
pub fn void(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<InvoiceDetail, CrmError> {
    require(scope, Object::Invoice, &[Action::Update])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    let voidable = row.state == "draft" || (row.state == "sent" && row.kind == "invoice");
    if !voidable {
        return Err(CrmError::Conflict("this document cannot be voided".into()));
    }
    let now = ctx.env.now().naive_utc();
    let n = diesel::update(
        invoices::table
            .filter(invoices::id.eq(&row.id))
            .filter(invoices::state.eq(&row.state))
            .filter(invoices::paid_e4.eq(0i64))
            .filter(invoices::credited_e4.eq(0i64)),
    )
    .set((
        invoices::state.eq("void"),
        invoices::voided_at.eq(now),
        invoices::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n != 1 {
        return Err(CrmError::Conflict(
            "an invoice with payments or credit notes is corrected with a credit note".into(),
        ));
    }
    let (row, _) = load_in_scope(conn, scope, &row.id)?;
    detail_of(conn, ctx, row, client_name)
}

/// A draft credit note for an issued invoice.
pub fn credit(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    invoice_id: &str,
    input: &NewCreditNote,
) -> Result<InvoiceDetail, CrmError> {
    require(scope, Object::Invoice, &[Action::Update])?;
    let (inv, client_name) = load_in_scope(conn, scope, invoice_id)?;
    if inv.state != "sent" || inv.kind != "invoice" {
        return Err(CrmError::Conflict(
            "only an issued invoice takes a credit note".into(),
        ));
    }
    let lines = match &input.lines {
        Some(l) => price_lines(l, &inv.currency, Kind::CreditNote)?,
        None => {
            if inv.credited_e4 != 0 {
                return Err(CrmError::invalid(
                    "lines",
                    Msg::new("invalid-credit-lines-required"),
                ));
            }
            let minor = currency_minor_units(&inv.currency);
            let rows: Vec<InvoiceLineRow> = invoice_lines::table
                .filter(invoice_lines::invoice_id.eq(&inv.id))
                .select(InvoiceLineRow::as_select())
                .order(invoice_lines::position)
                .load(conn)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let e4 = invoice_math::from_e4;
                let amounts = invoice_math::line(
                    -e4(r.quantity_e4),
                    e4(r.unit_price_e4),
                    e4(r.tax_rate_e4),
                    minor,
                )
                .ok_or_else(|| CrmError::Internal("credit line out of range".into()))?;
                out.push(PricedLine {
                    description: r.description,
                    quantity_e4: -r.quantity_e4,
                    unit_price_e4: r.unit_price_e4,
                    tax_rate_e4: r.tax_rate_e4,
                    amounts,
                });
            }
            out
        }
    };
    if lines.is_empty() {
        return Err(CrmError::invalid(
            "lines",
            Msg::new("invalid-invoice-no-lines"),
        ));
    }
    let notes = text::opt_body("notes", input.notes.as_deref(), NOTES_MAX)?;
    let draft = Draft {
        client_id: inv.client_id.clone(),
        kind: Kind::CreditNote,
        credits_id: Some(inv.id.clone()),
        currency: inv.currency.clone(),
        due_on: None,
        notes,
    };
    insert_draft(conn, ctx, scope, draft, &lines, client_name)
}

/// Records a payment against an issued invoice; never more than is outstanding.
pub fn pay(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    invoice_id: &str,
    input: &NewPayment,
) -> Result<(Payment, Invoice), CrmError> {
    require(scope, Object::Payment, &[Action::Create])?;
    let (inv, client_name) = load_in_scope(conn, scope, invoice_id)?;
    if inv.state != "sent" || inv.kind != "invoice" {
        return Err(CrmError::Conflict(
            "payments are recorded against issued invoices only".into(),
        ));
    }
    let amount_e4 = work::parse_amount(&input.amount.text(), &inv.currency)?;
    if amount_e4 == 0 {
        return Err(CrmError::invalid(
            "amount",
            Msg::new("invalid-quantity-positive"),
        ));
    }
    let paid_on = parse_date("paid_on", input.paid_on.as_deref())?.unwrap_or(today(ctx));
    let method = text::opt_line("method", input.method.as_deref(), 60)?;
    let reference = text::opt_line("reference", input.reference.as_deref(), 200)?;
    // Conditional on what is outstanding at this moment: two concurrent payments
    // cannot both pass the check (the second re-reads the updated row).
    let applied = diesel::update(
        invoices::table
            .filter(invoices::id.eq(&inv.id))
            .filter(invoices::state.eq("sent"))
            .filter((invoices::paid_e4 + amount_e4).le(invoices::total_e4 + invoices::credited_e4)),
    )
    .set((
        invoices::paid_e4.eq(invoices::paid_e4 + amount_e4),
        invoices::updated_at.eq(ctx.env.now().naive_utc()),
    ))
    .execute(conn)?;
    if applied != 1 {
        return Err(CrmError::invalid(
            "amount",
            Msg::new("invalid-payment-exceeds"),
        ));
    }
    let row = PaymentRow {
        id: ctx.env.new_id()?.to_string(),
        invoice_id: inv.id.clone(),
        amount_e4,
        paid_on,
        method,
        reference,
        created_by: scope.user_id().map(str::to_string),
        created_at: ctx.env.now().naive_utc(),
    };
    diesel::insert_into(payments::table)
        .values(&row)
        .execute(conn)?;
    let (inv, _) = load_in_scope(conn, scope, &inv.id)?;
    let payment = payment_view(row, &inv.client_id, &inv.currency);
    Ok((payment, view(inv, Some(client_name), today(ctx))))
}

// ---------------------------------------------------------------------------
// A client's balance

/// Per currency: what was invoiced (issued invoices, not void), credited,
/// paid, and what is still owed.
#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub currency: String,
    pub invoiced: Decimal,
    pub credited: Decimal,
    pub paid: Decimal,
    pub outstanding: Decimal,
    pub overdue: Decimal,
}

pub fn balance(invoices: &[Invoice]) -> Vec<Balance> {
    let mut by: std::collections::BTreeMap<String, Balance> = Default::default();
    for i in invoices
        .iter()
        .filter(|i| i.kind == Kind::Invoice && !matches!(i.status, Status::Draft | Status::Void))
    {
        let b = by.entry(i.currency.clone()).or_insert_with(|| Balance {
            currency: i.currency.clone(),
            invoiced: Decimal::ZERO,
            credited: Decimal::ZERO,
            paid: Decimal::ZERO,
            outstanding: Decimal::ZERO,
            overdue: Decimal::ZERO,
        });
        b.invoiced += i.total;
        b.credited += i.credited;
        b.paid += i.paid;
        b.outstanding += i.outstanding;
        if i.status == Status::Overdue {
            b.overdue += i.outstanding;
        }
    }
    by.into_values()
        .map(|mut b| {
            for v in [
                &mut b.invoiced,
                &mut b.credited,
                &mut b.paid,
                &mut b.outstanding,
                &mut b.overdue,
            ] {
                *v = v.normalize();
            }
            b
        })
        .collect()
}
