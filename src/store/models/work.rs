//! Rows of the deal pipeline, tasks and notifications.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::store::schema::{
    deal_stage_changes, deal_stages, deals, notification_settings, notifications, tasks,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_stages)]
pub struct StageRow {
    pub code: String,
    pub label: String,
    pub position: i32,
    pub kind: String,
    pub active: bool,
}

/// A deal with every column (the older `clients::DealRow` predates some).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deals)]
pub struct FullDealRow {
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
    pub lost_reason: Option<String>,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_stage_changes)]
pub struct StageChangeRow {
    pub id: String,
    pub deal_id: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub lost_reason: Option<String>,
    pub changed_at: NaiveDateTime,
    pub changed_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub notes: Option<String>,
    pub due_at: NaiveDateTime,
    pub priority: String,
    pub assignee_id: String,
    pub team_id: Option<String>,
    pub client_id: Option<String>,
    pub deal_id: Option<String>,
    pub done_at: Option<NaiveDateTime>,
    pub done_by: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub reminded_at: Option<NaiveDateTime>,
    pub escalated_at: Option<NaiveDateTime>,
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub task_id: Option<String>,
    pub title: String,
    pub due_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
    pub email_to: Option<String>,
    pub emailed_at: Option<NaiveDateTime>,
    pub email_attempts: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notification_settings)]
pub struct NotificationSettingsRow {
    pub user_id: String,
    pub email: Option<String>,
    pub updated_at: NaiveDateTime,
}
