use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::import_batches;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = import_batches)]
pub struct ImportBatchRow {
    pub id: String,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub file_name: String,
    pub file_sha256: String,
    pub file_bytes: i64,
    pub encoding: String,
    pub delimiter: String,
    pub headers: String,
    pub staged_rows: String,
    pub row_count: i32,
    pub mapping: String,
    pub policy: String,
    pub decisions: String,
    pub state: String,
    pub committed_at: Option<NaiveDateTime>,
    pub result: Option<String>,
}
