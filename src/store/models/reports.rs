//! The owner's settings for the clients-at-risk report.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::report_settings;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = report_settings)]
pub struct ReportSettingsRow {
    pub id: String,
    pub complaints_on: bool,
    pub complaints_min: i32,
    pub complaints_days: i32,
    pub complaint_outcome: String,
    pub no_contact_on: bool,
    pub no_contact_days: i32,
    pub overdue_on: bool,
    pub overdue_days: i32,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<String>,
}
