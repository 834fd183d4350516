//! In-app notifications, and the reminder run that makes them: a reminder to
//! the assignee when a task falls due, an escalation to the assignee's team
//! lead when it is still open some time later.
//!
//! Exactly once: a task is marked (`reminded_at`, `escalated_at`) by a
//! conditional update in the same transaction that writes its notifications
//! and audit event, so a run that dies half-way leaves either all of it or none,
//! two runs at once cannot both win the update, and a run after a restart picks
//! up whatever fell due meanwhile (nothing is kept in memory between runs).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::CrmError;
use super::types::utc;
use super::work::require;
use crate::access::{Action, Object, Scope};
use crate::clock::Env;
use crate::store::models::work::{NotificationRow, NotificationSettingsRow, TaskRow};
use crate::store::schema::{notification_settings, notifications, tasks, users};
use crate::store::{DbConn, write_tx};

/// Tasks handled per transaction (a large backlog after downtime is worked
/// off in slices, each committed on its own).
const SLICE: i64 = 200;
const LIST_MAX: i64 = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub task_id: Option<String>,
    pub title: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inbox {
    pub unread: i64,
    pub items: Vec<Notification>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub email: Option<String>,
}

fn view(r: NotificationRow) -> Notification {
    Notification {
        id: r.id,
        kind: r.kind,
        task_id: r.task_id,
        title: r.title,
        due_at: r.due_at.map(utc),
        created_at: utc(r.created_at),
        read: r.read_at.is_some(),
    }
}

/// A user's own notifications, newest first. Nobody reads anyone else's.
pub fn inbox(conn: &mut DbConn, user_id: &str, unread_only: bool) -> Result<Inbox, CrmError> {
    let unread = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result::<i64>(conn)?;
    let mut q = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .select(NotificationRow::as_select())
        .into_boxed();
    if unread_only {
        q = q.filter(notifications::read_at.is_null());
    }
    let rows: Vec<NotificationRow> = q
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(LIST_MAX)
        .load(conn)?;
    Ok(Inbox {
        unread,
        items: rows.into_iter().map(view).collect(),
    })
}

/// Marks one of the user's notifications (or, with `None`, all of them) read;
/// returns the ids marked. Another user's notification is not found.
pub fn mark_read(
    conn: &mut DbConn,
    env: &Env,
    user_id: &str,
    id: Option<&str>,
) -> Result<Vec<String>, CrmError> {
    let mut q = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .select(notifications::id)
        .into_boxed();
    if let Some(id) = id {
        let exists = notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::user_id.eq(user_id))
            .count()
            .get_result::<i64>(conn)?;
        if exists == 0 {
            return Err(CrmError::NotFound);
        }
        q = q.filter(notifications::id.eq(id.to_string()));
    }
    let ids: Vec<String> = q.load(conn)?;
    if !ids.is_empty() {
        diesel::update(notifications::table.filter(notifications::id.eq_any(&ids)))
            .set(notifications::read_at.eq(Some(env.now().naive_utc())))
            .execute(conn)?;
    }
    Ok(ids)
}

pub fn settings(conn: &mut DbConn, user_id: &str) -> Result<Settings, CrmError> {
    let email: Option<Option<String>> = notification_settings::table
        .find(user_id)
        .select(notification_settings::email)
        .first(conn)
        .optional()?;
    Ok(Settings {
        email: email.flatten(),
    })
}

/// Where the user's reminders are e-mailed; `None` stops e-mail.
pub fn set_email(
    conn: &mut DbConn,
    env: &Env,
    user_id: &str,
    email: Option<&str>,
) -> Result<Settings, CrmError> {
    let email = match email.map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) => {
            let e = super::text::line("email", e, 254)?;
            Some(super::contact::normalize_email(&e)?)
        }
        None => None,
    };
    let now = env.now().naive_utc();
    let exists = notification_settings::table
        .find(user_id)
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        diesel::update(notification_settings::table.find(user_id))
            .set((
                notification_settings::email.eq(&email),
                notification_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(notification_settings::table)
            .values(NotificationSettingsRow {
                user_id: user_id.to_string(),
                email: email.clone(),
                updated_at: now,
            })
            .execute(conn)?;
    }
    Ok(Settings { email })
}

// ---------------------------------------------------------------------------
// The reminder run

#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Remind this long before the due time (zero: at the due time).
    pub remind_before: Duration,
    /// Escalate a task still open this long after its due time.
    pub escalate_after: Duration,
    /// Queue e-mail for users who gave an address (only when SMTP is set up).
    pub email: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RunReport {
    pub reminded: usize,
    pub escalated: usize,
    pub emails_queued: usize,
}

/// Records what the run did, in the run's transaction (the access layer
/// passes its audit writer): action, record ids, detail.
pub type Record<'r> = dyn FnMut(&mut DbConn, &'static str, Vec<String>, serde_json::Value) -> Result<(), CrmError>
    + 'r;

fn email_of(conn: &mut DbConn, user_id: &str, enabled: bool) -> Result<Option<String>, CrmError> {
    if !enabled {
        return Ok(None);
    }
    Ok(notification_settings::table
        .find(user_id)
        .select(notification_settings::email)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

fn notify(
    conn: &mut DbConn,
    env: &Env,
    settings: &RunSettings,
    user_id: &str,
    kind: &str,
    task: &TaskRow,
    now: NaiveDateTime,
) -> Result<bool, CrmError> {
    let email_to = email_of(conn, user_id, settings.email)?;
    let queued = email_to.is_some();
    diesel::insert_into(notifications::table)
        .values(NotificationRow {
            id: env.new_id()?.to_string(),
            user_id: user_id.to_string(),
            kind: kind.to_string(),
            task_id: Some(task.id.clone()),
            title: task.title.clone(),
            due_at: Some(task.due_at),
            created_at: now,
            read_at: None,
            email_to,
            emailed_at: None,
            email_attempts: 0,
        })
        .execute(conn)?;
    Ok(queued)
}

/// Who hears of an overdue task: the enabled team leads of the assignee's team
/// (not the assignee), or, for a team without one, the owners.
fn leads_of(conn: &mut DbConn, task: &TaskRow) -> Result<Vec<String>, CrmError> {
    if let Some(team) = &task.team_id {
        let leads: Vec<String> = users::table
            .filter(users::team_id.eq(team))
            .filter(users::role.eq("manager"))
            .filter(users::disabled.eq(false))
            .filter(users::id.ne(&task.assignee_id))
            .select(users::id)
            .order(users::id)
            .load(conn)?;
        if !leads.is_empty() {
            return Ok(leads);
        }
    }
    Ok(users::table
        .filter(users::role.eq("owner"))
        .filter(users::disabled.eq(false))
        .filter(users::id.ne(&task.assignee_id))
        .select(users::id)
        .order(users::id)
        .load(conn)?)
}

fn audit_ids(task: &TaskRow) -> Vec<String> {
    std::iter::once(task.id.clone())
        .chain(task.client_id.clone())
        .collect()
}

/// Reminds and escalates whatever is due at `env.now()`. Safe to run at any
/// time, on any node, any number of times. Only an automatic process's scope
/// (not a user's) may run it.
pub fn run(
    conn: &mut DbConn,
    env: &Env,
    scope: &Scope,
    settings: &RunSettings,
    record: &mut Record<'_>,
) -> Result<RunReport, CrmError> {
    require(scope, Object::Task, &[Action::Update])?;
    if scope.user_id().is_some() {
        return Err(CrmError::Internal(
            "the reminder run is not a user's".into(),
        ));
    }
    let now = env.now().naive_utc();
    let mut report = RunReport::default();
    let remind_until = now + settings.remind_before;
    loop {
        let due: Vec<TaskRow> = tasks::table
            .filter(tasks::done_at.is_null())
            .filter(tasks::reminded_at.is_null())
            .filter(tasks::due_at.le(remind_until))
            .order((tasks::due_at, tasks::id))
            .limit(SLICE)
            .select(TaskRow::as_select())
            .load(conn)?;
        if due.is_empty() {
            break;
        }
        write_tx(conn, |conn| -> Result<(), CrmError> {
            for task in &due {
                let won = diesel::update(
                    tasks::table
                        .filter(tasks::id.eq(&task.id))
                        .filter(tasks::reminded_at.is_null())
                        .filter(tasks::done_at.is_null()),
                )
                .set(tasks::reminded_at.eq(Some(now)))
                .execute(conn)?;
                if won == 0 {
                    continue;
                }
                if notify(
                    conn,
                    env,
                    settings,
                    &task.assignee_id,
                    "reminder",
                    task,
                    now,
                )? {
                    report.emails_queued += 1;
                }
                record(
                    conn,
                    "task.remind",
                    audit_ids(task),
                    json!({ "assignee": task.assignee_id }),
                )?;
                report.reminded += 1;
            }
            Ok(())
        })?;
    }
    let escalate_before = now - settings.escalate_after;
    loop {
        let late: Vec<TaskRow> = tasks::table
            .filter(tasks::done_at.is_null())
            .filter(tasks::escalated_at.is_null())
            .filter(tasks::due_at.le(escalate_before))
            .order((tasks::due_at, tasks::id))
            .limit(SLICE)
            .select(TaskRow::as_select())
            .load(conn)?;
        if late.is_empty() {
            break;
        }
        write_tx(conn, |conn| -> Result<(), CrmError> {
            for task in &late {
                let won = diesel::update(
                    tasks::table
                        .filter(tasks::id.eq(&task.id))
                        .filter(tasks::escalated_at.is_null())
                        .filter(tasks::done_at.is_null()),
                )
                .set(tasks::escalated_at.eq(Some(now)))
                .execute(conn)?;
                if won == 0 {
                    continue;
                }
                let leads = leads_of(conn, task)?;
                for lead in &leads {
                    if notify(conn, env, settings, lead, "escalation", task, now)? {
                        report.emails_queued += 1;
                    }
                }
                record(
                    conn,
                    "task.escalate",
                    audit_ids(task),
                    json!({ "assignee": task.assignee_id, "to": leads }),
                )?;
                report.escalated += 1;
            }
            Ok(())
        })?;
    }
    Ok(report)
}

/// A queued e-mail: the notification it belongs to and what to say.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub to: String,
    pub kind: String,
    pub title: String,
    pub due_at: Option<DateTime<Utc>>,
}

/// Attempts after which an e-mail is given up (the in-app notification stays).
pub const MAX_EMAIL_ATTEMPTS: i32 = 5;

pub fn outbox(conn: &mut DbConn, scope: &Scope, limit: i64) -> Result<Vec<Outgoing>, CrmError> {
    require(scope, Object::Task, &[Action::Update])?;
    let rows: Vec<NotificationRow> = notifications::table
        .filter(notifications::email_to.is_not_null())
        .filter(notifications::emailed_at.is_null())
        .filter(notifications::email_attempts.lt(MAX_EMAIL_ATTEMPTS))
        .order((notifications::created_at, notifications::id))
        .limit(limit)
        .select(NotificationRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Outgoing {
                to: r.email_to?,
                id: r.id,
                kind: r.kind,
                title: r.title,
                due_at: r.due_at.map(utc),
            })
        })
        .collect())
}

pub fn mark_sent(conn: &mut DbConn, env: &Env, scope: &Scope, id: &str) -> Result<(), CrmError> {
    require(scope, Object::Task, &[Action::Update])?;
    diesel::update(notifications::table.find(id))
        .set(notifications::emailed_at.eq(Some(env.now().naive_utc())))
        .execute(conn)?;
    Ok(())
}

pub fn mark_failed(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<(), CrmError> {
    require(scope, Object::Task, &[Action::Update])?;
    diesel::update(notifications::table.find(id))
        .set(notifications::email_attempts.eq(notifications::email_attempts + 1))
        .execute(conn)?;
    Ok(())
}
