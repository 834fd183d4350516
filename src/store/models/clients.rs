use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::store::schema::{
    client_contacts, client_statuses, client_tags, clients, deals, timeline_entries,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub source: Option<String>,
    pub address: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub duplicate_of: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = clients)]
pub struct NewClientRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub source: Option<String>,
    pub address: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub duplicate_of: Option<String>,
    pub search_text: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_contacts)]
pub struct ContactRow {
    pub id: String,
    pub client_id: String,
    pub kind: String,
    pub value: String,
    pub normalized: String,
    pub label: Option<String>,
    pub position: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_tags)]
pub struct TagRow {
    pub client_id: String,
    pub tag: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_statuses)]
pub struct StatusRow {
    pub code: String,
    pub label: String,
    pub position: i32,
    pub active: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = timeline_entries)]
pub struct TimelineRow {
    pub id: String,
    pub client_id: String,
    pub kind: String,
    pub occurred_at: NaiveDateTime,
    pub author_id: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub call_direction: Option<String>,
    pub call_duration_secs: Option<i32>,
    pub call_outcome: Option<String>,
    pub recording_url: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deals)]
pub struct DealRow {
    pub id: String,
    pub client_id: String,
    pub title: String,
    pub amount_e4: i64,
    pub currency: String,
    pub stage: String,
    pub expected_close: Option<NaiveDate>,
    pub owner_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
