use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::audit_events;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow {
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
}
