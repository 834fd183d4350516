use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{decoys, export_seeds, exports, reassign_requests, reassignments};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = exports)]
pub struct ExportRow {
    pub id: String,
    pub requested_by: String,
    pub requested_role: String,
    pub requested_at: NaiveDateTime,
    pub object: String,
    pub format: String,
    pub filter: String,
    pub reason: Option<String>,
    pub state: String,
    pub row_count: i32,
    pub seed_count: i32,
    pub over_allowance: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_comment: Option<String>,
    pub file_sha256: Option<String>,
    pub file_bytes: Option<i64>,
    pub ready_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub downloads: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = export_seeds)]
pub struct SeedRow {
    pub id: String,
    pub export_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = decoys)]
pub struct DecoyRow {
    pub client_id: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reassignments)]
pub struct ReassignmentRow {
    pub id: String,
    pub client_id: String,
    pub from_owner: Option<String>,
    pub to_owner: String,
    pub by_user: String,
    pub at: NaiveDateTime,
    pub reason: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reassign_requests)]
pub struct ReassignRequestRow {
    pub id: String,
    pub requested_by: String,
    pub requested_at: NaiveDateTime,
    pub client_ids: String,
    pub to_owner: String,
    pub reason: String,
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_comment: Option<String>,
}
