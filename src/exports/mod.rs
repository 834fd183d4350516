//! Guarded exports: their records, files and fingerprint seeds, the allowances
//! (`limits`), the file formats and tracing a leaked file back to its export.
//! Storage and pure logic only; `access::Gate` decides who may do what and
//! writes the audit events.

pub mod format;
pub mod limits;
pub mod seeds;
pub mod trace;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::crm::export::ExportFilter;
use crate::crm::types::{UserRef, utc};
use crate::store::models::exports::{ExportRow, SeedRow};
use crate::store::schema::{export_files, export_seeds, exports, users};
use crate::store::{DbConn, StoreError};

pub use format::Format;
pub use limits::{Allowance, ExportUsage, Limits, Over};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ready,
    Pending,
    Rejected,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Pending => "pending",
            State::Rejected => "rejected",
            State::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            "ready" => Some(State::Ready),
            "pending" => Some(State::Pending),
            "rejected" => Some(State::Rejected),
            "expired" => Some(State::Expired),
            _ => None,
        }
    }
}

/// An export as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub id: String,
    /// `clients`, `deals` or `invoices`.
    pub object: String,
    pub state: State,
    pub format: String,
    pub filter: ExportFilter,
    pub reason: Option<String>,
    /// Real clients in the file (seeds not counted).
    pub row_count: i32,
    pub requested_by: UserRef,
    pub requested_at: DateTime<Utc>,
    /// The allowances the request went beyond, when it needed an approval.
    pub over_allowance: serde_json::Value,
    pub decided_by: Option<UserRef>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_comment: Option<String>,
    pub file_sha256: Option<String>,
    pub file_bytes: Option<i64>,
    pub ready_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub downloads: i32,
}

/// A seed as owners see it (trace results, the owner's page).
#[derive(Debug, Clone, Serialize)]
pub struct SeedView {
    pub export_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn user_ref(conn: &mut DbConn, id: &str) -> Result<UserRef, StoreError> {
    let name: Option<String> = users::table
        .find(id)
        .select(users::display_name)
        .first(conn)
        .optional()?;
    Ok(UserRef {
        id: id.to_string(),
        name: name.unwrap_or_else(|| id.to_string()),
    })
}

pub fn view(conn: &mut DbConn, r: ExportRow) -> Result<Export, StoreError> {
    let requested_by = user_ref(conn, &r.requested_by)?;
    let decided_by = match &r.decided_by {
        Some(u) => Some(user_ref(conn, u)?),
        None => None,
    };
    Ok(Export {
        state: State::parse(&r.state).unwrap_or(State::Expired),
        filter: serde_json::from_str(&r.filter).unwrap_or_default(),
        over_allowance: r
            .over_allowance
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null),
        id: r.id,
        object: r.object,
        format: r.format,
        reason: r.reason,
        row_count: r.row_count,
        requested_by,
        requested_at: utc(r.requested_at),
        decided_by,
        decided_at: r.decided_at.map(utc),
        decision_comment: r.decision_comment,
        file_sha256: r.file_sha256,
        file_bytes: r.file_bytes,
        ready_at: r.ready_at.map(utc),
        expires_at: r.expires_at.map(utc),
        downloads: r.downloads,
    })
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<ExportRow>, StoreError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    Ok(exports::table
        .find(id)
        .select(ExportRow::as_select())
        .first(conn)
        .optional()?)
}

/// What `user_id` exported in the last day and asked for in the last hour.
pub fn usage(
    conn: &mut DbConn,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<ExportUsage, StoreError> {
    let day = (now - Duration::hours(24)).naive_utc();
    let hour = (now - Duration::hours(1)).naive_utc();
    let rows: Vec<i32> = exports::table
        .filter(exports::requested_by.eq(user_id))
        .filter(exports::ready_at.ge(day))
        .filter(exports::file_sha256.is_not_null())
        .select(exports::row_count)
        .load(conn)?;
    let asked: i64 = exports::table
        .filter(exports::requested_by.eq(user_id))
        .filter(exports::requested_at.ge(hour))
        .count()
        .get_result(conn)?;
    Ok(ExportUsage {
        rows_last_day: rows.iter().map(|n| i64::from(*n)).sum(),
        exports_last_hour: asked,
    })
}

pub fn insert(conn: &mut DbConn, row: &ExportRow) -> Result<(), StoreError> {
    diesel::insert_into(exports::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A produced file: stored with its seeds, the record marked ready.
pub struct Produced {
    pub content: Vec<u8>,
    pub sha256: String,
    pub row_count: i32,
    pub seeds: Vec<seeds::Seed>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub fn store_file(
    conn: &mut DbConn,
    id: &str,
    produced: &Produced,
    now: DateTime<Utc>,
    keep: Duration,
) -> Result<(), StoreError> {
    for s in &produced.seeds {
        diesel::insert_into(export_seeds::table)
            .values(SeedRow {
                id: s.row.id.clone(),
                export_id: id.to_string(),
                name: s.row.name.clone(),
                email: s.email.clone(),
                phone: s.phone.clone(),
                created_at: now.naive_utc(),
            })
            .execute(conn)?;
    }
    diesel::insert_into(export_files::table)
        .values((
            export_files::export_id.eq(id),
            export_files::content.eq(&produced.content),
        ))
        .execute(conn)?;
    diesel::update(exports::table.find(id))
        .set((
            exports::state.eq(State::Ready.as_str()),
            exports::row_count.eq(produced.row_count),
            exports::seed_count.eq(i32::try_from(produced.seeds.len()).unwrap_or(i32::MAX)),
            exports::file_sha256.eq(&produced.sha256),
            exports::file_bytes.eq(i64::try_from(produced.content.len()).unwrap_or(i64::MAX)),
            exports::ready_at.eq(now.naive_utc()),
            exports::expires_at.eq((now + keep).naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records an owner's decision on a pending export. False when it was no longer
/// pending (decided meanwhile).
pub fn decide(
    conn: &mut DbConn,
    id: &str,
    state: State,
    by: &str,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        exports::table
            .find(id)
            .filter(exports::state.eq(State::Pending.as_str())),
    )
    .set((
        exports::state.eq(state.as_str()),
        exports::decided_by.eq(by),
        exports::decided_at.eq(now.naive_utc()),
        exports::decision_comment.eq(comment),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The file of a ready export that has not expired; counts the download.
pub fn take_file(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<u8>>, StoreError> {
    purge_expired(conn, now)?;
    let content: Option<Vec<u8>> = export_files::table
        .find(id)
        .select(export_files::content)
        .first(conn)
        .optional()?;
    if content.is_some() {
        diesel::update(exports::table.find(id))
            .set(exports::downloads.eq(exports::downloads + 1))
            .execute(conn)?;
    }
    Ok(content)
}

/// Deletes files past their expiry; their records stay (state `expired`).
pub fn purge_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let at: NaiveDateTime = now.naive_utc();
    let expired: Vec<String> = exports::table
        .filter(exports::state.eq(State::Ready.as_str()))
        .filter(exports::expires_at.lt(at))
        .select(exports::id)
        .load(conn)?;
    if expired.is_empty() {
        return Ok(0);
    }
    diesel::delete(export_files::table.filter(export_files::export_id.eq_any(&expired)))
        .execute(conn)?;
    diesel::update(exports::table.filter(exports::id.eq_any(&expired)))
        .set(exports::state.eq(State::Expired.as_str()))
        .execute(conn)?;
    Ok(expired.len())
}

/// Exports newest first: one user's (`Some`) or everyone's, optionally in one state.
pub fn list(
    conn: &mut DbConn,
    user_id: Option<&str>,
    state: Option<State>,
    limit: i64,
) -> Result<Vec<Export>, StoreError> {
    let mut q = exports::table
        .select(ExportRow::as_select())
        .order(exports::requested_at.desc())
        .limit(limit.clamp(1, 500))
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(exports::requested_by.eq(u.to_string()));
    }
    if let Some(s) = state {
        q = q.filter(exports::state.eq(s.as_str()));
    }
    let rows: Vec<ExportRow> = q.load(conn)?;
    rows.into_iter().map(|r| view(conn, r)).collect()
}

pub fn seeds_of(conn: &mut DbConn, export_ids: &[String]) -> Result<Vec<SeedView>, StoreError> {
    if export_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<SeedRow> = export_seeds::table
        .filter(export_seeds::export_id.eq_any(export_ids))
        .select(SeedRow::as_select())
        .order(export_seeds::created_at)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| SeedView {
            export_id: r.export_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
        })
        .collect())
}

/// Whether an email or phone already belongs to a seed.
pub fn seed_taken(
    conn: &mut DbConn,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<bool, StoreError> {
    if let Some(e) = email {
        let n: i64 = export_seeds::table
            .filter(export_seeds::email.eq(e))
            .count()
            .get_result(conn)?;
        if n > 0 {
            return Ok(true);
        }
    }
    if let Some(p) = phone {
        let n: i64 = export_seeds::table
            .filter(export_seeds::phone.eq(p))
            .count()
            .get_result(conn)?;
        if n > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The data-loss rules the access layer applies: allowances, seeds, file life.
#[derive(Debug, Clone)]
pub struct GuardRules {
    pub limits: Limits,
    pub seeds: seeds::SeedConfig,
    pub file_hours: i64,
    pub max_rows: usize,
}

impl Default for GuardRules {
    /// The built-in allowances, two seeds without company contacts.
    fn default() -> Self {
        GuardRules {
            limits: Limits::parse(include_str!("../../policies/limits.toml")).unwrap_or_default(),
            seeds: seeds::SeedConfig {
                domain: None,
                phones: seeds::PhonePool::default(),
                per_export: 2,
            },
            file_hours: 24,
            max_rows: 50_000,
        }
    }
}

impl GuardRules {
    pub fn from_config(cfg: &crate::config::Config) -> Result<GuardRules, String> {
        let limits = Limits::load(cfg.access.policy_dir.as_deref()).map_err(|e| e.to_string())?;
        let phones = seeds::PhonePool::parse(&cfg.exports.seed_phones)?;
        if cfg.exports.seed_domain.is_none() && phones.size() == 0 {
            tracing::warn!(
                "exports: no seed_domain or seed_phones configured; export seeds carry \
                 names only, so a partial leak cannot be traced by email or phone"
            );
        }
        Ok(GuardRules {
            limits,
            seeds: seeds::SeedConfig {
                domain: cfg.exports.seed_domain.as_ref().map(|d| d.to_lowercase()),
                phones,
                per_export: cfg.exports.seeds_per_export,
            },
            file_hours: cfg.exports.file_hours,
            max_rows: cfg.exports.max_rows,
        })
    }
}

/// What `POST /api/v1/exports` asks for.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// What to export: `clients` (the default), `deals` or `invoices`.
    #[serde(default = "default_object")]
    pub object: String,
    pub format: Format,
    #[serde(default)]
    pub filter: ExportFilter,
    /// Why, for the owner who approves an export beyond the allowance.
    #[serde(default)]
    pub reason: Option<String>,
}

fn default_object() -> String {
    "clients".into()
}
pub mod moves;
