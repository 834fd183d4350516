use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::audit_events;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow {
    pub seq: i64,
    pub id: String,
    pub at: NaiveDateTime,
    pub request_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub session_ref: Option<String>,
    pub action: String,
    pub object_kind: Option<String>,
    pub object_ids: String,
    pub object_count: i32,
    pub outcome: String,
    pub detail: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// A list inside one record (`audit::Span::OneRecord`): not stored (nor
    /// hashed), read by the detection counters in the same transaction.
    #[diesel(skip_insertion)]
    pub one_record: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub at: NaiveDateTime,
    pub request_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub session_ref: Option<String>,
    pub action: String,
    pub object_kind: Option<String>,
    pub object_ids: String,
    pub object_count: i32,
    pub outcome: String,
    pub detail: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::store::schema::audit_checkpoints)]
pub struct CheckpointRow {
    pub seq: i64,
    pub head_hash: Vec<u8>,
    pub at: NaiveDateTime,
    pub key_id: String,
    pub signature: Vec<u8>,
}
