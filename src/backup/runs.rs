//! The history of backup runs (table `backup_runs`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::store::{DbConn, StoreError};

diesel::table! {
    backup_runs (id) {
        id -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        trigger_kind -> Text,
        actor -> Nullable<Text>,
        ok -> Nullable<Bool>,
        archive -> Nullable<Text>,
        manifest_sha256 -> Nullable<Text>,
        ciphertext_sha256 -> Nullable<Text>,
        size_bytes -> Nullable<BigInt>,
        row_count -> Nullable<BigInt>,
        destinations -> Text,
        error -> Nullable<Text>,
        node -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
        interrupted -> Bool,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = backup_runs)]
pub struct Run {
    pub id: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub trigger_kind: String,
    pub actor: Option<String>,
    pub ok: Option<bool>,
    pub archive: Option<String>,
    pub manifest_sha256: Option<String>,
    pub ciphertext_sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub row_count: Option<i64>,
    pub destinations: String,
    pub error: Option<String>,
    /// The process that runs it (`liveness::Owner`), to tell a dead run from a
    /// live one on another node.
    pub node: Option<String>,
    /// The last time the running process showed it was alive.
    pub heartbeat_at: Option<NaiveDateTime>,
    /// Its process died before it finished (found by `liveness::sweep`).
    pub interrupted: bool,
}

impl Run {
    /// `ok`, `failed`, `interrupted` (a failure whose process died), or `running`.
    pub fn state(&self) -> &'static str {
        match (self.ok, self.interrupted) {
            (_, true) => "interrupted",
            (Some(true), _) => "ok",
            (Some(false), _) => "failed",
            (None, _) => "running",
        }
    }
}

pub fn start(conn: &mut DbConn, run: &Run) -> Result<(), StoreError> {
    diesel::insert_into(backup_runs::table)
        .values(run)
        .execute(conn)?;
    Ok(())
}

pub fn finish(conn: &mut DbConn, run: &Run) -> Result<(), StoreError> {
    diesel::update(backup_runs::table.filter(backup_runs::id.eq(&run.id)))
        .set((
            backup_runs::finished_at.eq(run.finished_at),
            backup_runs::ok.eq(run.ok),
            backup_runs::archive.eq(&run.archive),
            backup_runs::manifest_sha256.eq(&run.manifest_sha256),
            backup_runs::ciphertext_sha256.eq(&run.ciphertext_sha256),
            backup_runs::size_bytes.eq(run.size_bytes),
            backup_runs::row_count.eq(run.row_count),
            backup_runs::destinations.eq(&run.destinations),
            backup_runs::error.eq(&run.error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Runs that have not finished (running, or dead and not yet found out).
pub fn unfinished(conn: &mut DbConn) -> Result<Vec<Run>, StoreError> {
    Ok(backup_runs::table
        .filter(backup_runs::finished_at.is_null())
        .order(backup_runs::started_at.asc())
        .select(Run::as_select())
        .load(conn)?)
}

/// The running process is still alive at `at`.
pub fn beat(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        backup_runs::table
            .filter(backup_runs::id.eq(id))
            .filter(backup_runs::finished_at.is_null()),
    )
    .set(backup_runs::heartbeat_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// Marks a run whose process died as interrupted (a failure) that ended at
/// `finished_at`. False when it finished meanwhile, or another node marked it
/// first: exactly one caller records and announces it.
pub fn mark_interrupted(
    conn: &mut DbConn,
    id: &str,
    finished_at: NaiveDateTime,
    error: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        backup_runs::table
            .filter(backup_runs::id.eq(id))
            .filter(backup_runs::finished_at.is_null()),
    )
    .set((
        backup_runs::finished_at.eq(Some(finished_at)),
        backup_runs::ok.eq(Some(false)),
        backup_runs::interrupted.eq(true),
        backup_runs::error.eq(Some(error)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The newest successful run: its manifest hash chains into the next manifest.
pub fn last_ok(conn: &mut DbConn) -> Result<Option<Run>, StoreError> {
    Ok(backup_runs::table
        .filter(backup_runs::ok.eq(true))
        .order(backup_runs::started_at.desc())
        .select(Run::as_select())
        .first(conn)
        .optional()?)
}

pub fn recent(conn: &mut DbConn, limit: i64) -> Result<Vec<Run>, StoreError> {
    Ok(backup_runs::table
        .order(backup_runs::started_at.desc())
        .limit(limit)
        .select(Run::as_select())
        .load(conn)?)
}

/// When the first run (good or not) started.
pub fn first_started(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(backup_runs::table
        .select(diesel::dsl::min(backup_runs::started_at))
        .first(conn)?)
}
