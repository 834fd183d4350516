//! The audit pipeline: every pass through the access layer, every denial, every
//! sign-in and sign-out becomes an event here. Recording is fail-closed: callers
//! return no data when `record` fails.
//!
//! This recorder sits just above the store so that `identity` and `access` can write
//! their events where the decision is made; the owner's audit views live in `web`.

pub mod archive;
pub mod chain;
pub mod checkpoint;
pub mod reading;
pub mod values;
pub mod verify;
pub mod views;
// Detection counters, kept with the events.
pub mod usage;
pub mod writer;

use diesel::prelude::*;

use serde::Serialize;
pub use writer::AuditLog;

use crate::clock::Env;
use crate::store::models::audit_events::{AuditRow, NewAuditRow};
use crate::store::schema::audit_events;
use crate::store::{DbConn, StoreError, write_tx};

/// Where a request came from, carried from the web layer into every event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who acted, as the audit log records it (plain strings; no identity types here).
#[derive(Debug, Clone, Serialize)]
pub struct Who {
    pub id: String,
    pub role: String,
    pub session_ref: Option<String>,
}

impl Who {
    /// A command run on the server's own console (the Unix user is all we know).
    pub fn console() -> Who {
        Who {
            id: format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
            role: "console".into(),
            session_ref: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// What a list event covered, as the access layer states it when it records
/// the list. Detection counts list pages and rows only for `Collection`: the
/// lists inside one record (a client's own deals and tasks, shown on its card)
/// are part of reading that record, not a walk through the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Span {
    #[default]
    Collection,
    OneRecord,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub outcome: Outcome,
    pub who: Option<Who>,
    pub object_kind: Option<&'static str>,
    pub object_ids: Vec<String>,
    pub detail: serde_json::Value,
    pub span: Span,
}

impl Event {
    pub fn new(action: &'static str, outcome: Outcome) -> Self {
        Event {
            action,
            outcome,
            who: None,
            object_kind: None,
            object_ids: Vec::new(),
            detail: serde_json::Value::Object(Default::default()),
            span: Span::Collection,
        }
    }

    pub fn span(mut self, span: Span) -> Self {
        self.span = span;
        self
    }

    pub fn by(mut self, who: Who) -> Self {
        self.who = Some(who);
        self
    }

    pub fn on(mut self, kind: &'static str, ids: impl IntoIterator<Item = String>) -> Self {
        self.object_kind = Some(kind);
        self.object_ids = ids.into_iter().collect();
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Turns an event into the row to append; the chain fills in `seq` and the hashes.
pub fn prepare(env: &Env, meta: &RequestMeta, event: &Event) -> Result<NewAuditRow, StoreError> {
    let id = env
        .new_id()
        .map_err(|e| StoreError::Audit(e.to_string()))?
        .to_string();
    Ok(NewAuditRow {
        seq: 0,
        id,
        at: env.now().naive_utc(),
        request_id: Some(meta.request_id.clone()).filter(|s| !s.is_empty()),
        actor_id: event.who.as_ref().map(|w| w.id.clone()),
        actor_role: event.who.as_ref().map(|w| w.role.clone()),
        session_ref: event.who.as_ref().and_then(|w| w.session_ref.clone()),
        action: event.action.to_string(),
        object_kind: event.object_kind.map(str::to_string),
        object_ids: serde_json::to_string(&event.object_ids).unwrap_or_else(|_| "[]".into()),
        object_count: i32::try_from(event.object_ids.len()).unwrap_or(i32::MAX),
        outcome: event.outcome.as_str().to_string(),
        detail: event.detail.to_string(),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.as_ref().map(|ua| truncate(ua, 512)),
        prev_hash: Vec::new(),
        hash: Vec::new(),
        one_record: event.span == Span::OneRecord,
    })
}

/// Appends one event on `conn`: inside the caller's transaction when there is one
/// (a write commits together with its event), else in a transaction of its own.
/// Fails when the event cannot be stored; the caller then answers with an error
/// and returns no data.
pub fn record(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    event: &Event,
) -> Result<(), StoreError> {
    let row = prepare(env, meta, event)?;
    write_tx(conn, |c| chain::append(c, vec![row]).map(|_| ()))
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Filter for reading the log back (owner views and tests).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub object_id: Option<String>,
    pub outcome: Option<String>,
    pub limit: i64,
}

pub fn search(conn: &mut DbConn, q: &Query) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = audit_events::table
        .select(AuditRow::as_select())
        .order(audit_events::seq.desc())
        .limit(q.limit.clamp(1, 1000))
        .into_boxed();
    if let Some(a) = &q.action {
        query = query.filter(audit_events::action.eq(a.clone()));
    }
    if let Some(a) = &q.actor_id {
        query = query.filter(audit_events::actor_id.eq(a.clone()));
    }
    if let Some(o) = &q.outcome {
        query = query.filter(audit_events::outcome.eq(o.clone()));
    }
    if let Some(id) = &q.object_id {
        // Ids are UUIDs, so a quoted substring match cannot hit a different id.
        query = query.filter(audit_events::object_ids.like(format!("%\"{id}\"%")));
    }
    Ok(query.load(conn)?)
}

pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(audit_events::table.count().get_result(conn)?)
}
