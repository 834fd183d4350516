//! Rows of projects, invoices (and credit notes), their lines and payments.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::store::schema::{invoice_lines, invoices, payments, projects};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub status: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub responsible_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub struct InvoiceRow {
    pub id: String,
    pub client_id: String,
    pub kind: String,
    pub credits_id: Option<String>,
    pub number: Option<i64>,
    pub state: String,
    pub currency: String,
    pub issued_at: Option<NaiveDateTime>,
    pub due_on: Option<NaiveDate>,
    pub notes: Option<String>,
    pub line_count: i32,
    pub subtotal_e4: i64,
    pub tax_e4: i64,
    pub total_e4: i64,
    pub paid_e4: i64,
    pub credited_e4: i64,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub voided_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_lines)]
pub struct InvoiceLineRow {
    pub id: String,
    pub invoice_id: String,
    pub position: i32,
    pub description: String,
    pub quantity_e4: i64,
    pub unit_price_e4: i64,
    pub tax_rate_e4: i64,
    pub net_e4: i64,
    pub tax_e4: i64,
    pub total_e4: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    pub id: String,
    pub invoice_id: String,
    pub amount_e4: i64,
    pub paid_on: NaiveDate,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}
