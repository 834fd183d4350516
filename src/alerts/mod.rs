//! Alerts for owners and admins: what detection, decoys and backups raise. Storage
//! only; the caller records the audit event and decides who may read them.

pub mod outbox;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::Env;
use crate::store::lease::numbered;
use crate::store::schema::alerts;
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// Who is told: owners (data-loss signals) or admins (operations such as backups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Owners,
    Admins,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Owners => "owners",
            Audience::Admins => "admins",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        match s {
            "owners" => Some(Audience::Owners),
            "admins" => Some(Audience::Admins),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAlert {
    pub kind: String,
    pub severity: Severity,
    pub audience: Audience,
    pub subject_user: Option<String>,
    pub summary: String,
    pub detail: serde_json::Value,
    /// Sequence numbers of the audit events that caused it.
    pub evidence: Vec<i64>,
    /// While an alert with this key is open, the same alert is not raised again.
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub kind: String,
    pub severity: Severity,
    pub audience: Audience,
    pub subject_user: Option<String>,
    pub summary: String,
    pub detail: serde_json::Value,
    pub evidence: Vec<i64>,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub ack_comment: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = alerts)]
struct Row {
    id: String,
    kind: String,
    severity: String,
    audience: String,
    subject_user: Option<String>,
    summary: String,
    detail: String,
    evidence: String,
    raised_at: chrono::NaiveDateTime,
    acknowledged_at: Option<chrono::NaiveDateTime>,
    acknowledged_by: Option<String>,
    ack_comment: Option<String>,
}

impl Row {
    fn into_alert(self) -> Result<Alert, StoreError> {
        let bad = |what: &str| {
            StoreError::Query(diesel::result::Error::DeserializationError(
                format!("alert {}: bad {what}", self.id).into(),
            ))
        };
        Ok(Alert {
            severity: Severity::parse(&self.severity).ok_or_else(|| bad("severity"))?,
            audience: Audience::parse(&self.audience).ok_or_else(|| bad("audience"))?,
            detail: serde_json::from_str(&self.detail).map_err(|_| bad("detail"))?,
            evidence: serde_json::from_str(&self.evidence).map_err(|_| bad("evidence"))?,
            raised_at: self.raised_at.and_utc(),
            acknowledged_at: self.acknowledged_at.map(|t| t.and_utc()),
            id: self.id,
            kind: self.kind,
            subject_user: self.subject_user,
            summary: self.summary,
            acknowledged_by: self.acknowledged_by,
            ack_comment: self.ack_comment,
        })
    }
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Raises an alert; `None` when an open alert with the same dedupe key exists.
/// Safe inside a transaction on PostgreSQL: a duplicate is skipped by the
/// statement, not by an error that would abort the transaction.
pub fn raise(conn: &mut DbConn, env: &Env, alert: &NewAlert) -> Result<Option<Alert>, StoreError> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    const INSERT: &str = "INSERT INTO alerts (id, kind, severity, audience, subject_user, \
        summary, detail, evidence, dedupe_key, raised_at) \
        VALUES ({1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}) \
        ON CONFLICT DO NOTHING RETURNING id";
    let id = env
        .new_id()
        .map_err(|e| StoreError::Audit(e.to_string()))?
        .to_string();
    let detail = alert.detail.to_string();
    let evidence = serde_json::to_string(&alert.evidence).unwrap_or_else(|_| "[]".into());
    let now = env.now().naive_utc();
    macro_rules! run {
        ($c:expr, $sigil:expr) => {
            diesel::sql_query(numbered(INSERT, $sigil))
                .bind::<Text, _>(&id)
                .bind::<Text, _>(&alert.kind)
                .bind::<Text, _>(alert.severity.as_str())
                .bind::<Text, _>(alert.audience.as_str())
                .bind::<Nullable<Text>, _>(alert.subject_user.as_deref())
                .bind::<Text, _>(&alert.summary)
                .bind::<Text, _>(&detail)
                .bind::<Text, _>(&evidence)
                .bind::<Nullable<Text>, _>(alert.dedupe_key.as_deref())
                .bind::<Timestamp, _>(now)
                .load::<Inserted>($c)?
        };
    }
    let rows = match conn {
        DbConn::Sqlite(c) => run!(c, "?"),
        DbConn::Pg(c) => run!(c, "$"),
    };
    match rows.into_iter().next() {
        Some(row) => {
            // Its notices (e-mail, webhook) leave from the outbox, in this
            // transaction's wake: never within the request that raised it.
            outbox::queue(conn, &row.id, now)?;
            get(conn, &row.id)
        }
        None => Ok(None),
    }
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Alert>, StoreError> {
    alerts::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_alert)
        .transpose()
}

/// Newest first.
pub fn list(
    conn: &mut DbConn,
    audience: Audience,
    open_only: bool,
    limit: i64,
) -> Result<Vec<Alert>, StoreError> {
    let mut q = alerts::table
        .filter(alerts::audience.eq(audience.as_str()))
        .select(Row::as_select())
        .order((alerts::raised_at.desc(), alerts::id.desc()))
        .limit(limit.clamp(1, 1000))
        .into_boxed();
    if open_only {
        q = q.filter(alerts::acknowledged_at.is_null());
    }
    q.load(conn)?.into_iter().map(Row::into_alert).collect()
}

/// Marks an alert seen, with the comment of who saw it; acknowledging twice keeps
/// the first acknowledgement.
pub fn acknowledge(
    conn: &mut DbConn,
    env: &Env,
    id: &str,
    by_user: &str,
    comment: &str,
) -> Result<Option<Alert>, StoreError> {
    diesel::update(
        alerts::table
            .find(id)
            .filter(alerts::acknowledged_at.is_null()),
    )
    .set((
        alerts::acknowledged_at.eq(Some(env.now().naive_utc())),
        alerts::acknowledged_by.eq(Some(by_user)),
        alerts::ack_comment.eq(Some(comment)),
    ))
    .execute(conn)?;
    get(conn, id)
}

/// The newest acknowledged alert with `dedupe_key`.
pub fn last_acknowledged(conn: &mut DbConn, dedupe_key: &str) -> Result<Option<Alert>, StoreError> {
    alerts::table
        .filter(alerts::dedupe_key.eq(dedupe_key))
        .filter(alerts::acknowledged_at.is_not_null())
        .order((alerts::raised_at.desc(), alerts::id.desc()))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_alert)
        .transpose()
}

/// Replaces an alert's detail (what its rule noted since it was raised).
pub fn set_detail(
    conn: &mut DbConn,
    id: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    diesel::update(alerts::table.find(id))
        .set(alerts::detail.eq(detail.to_string()))
        .execute(conn)?;
    Ok(())
}
