//! Restoring an archive into an empty SQLite or PostgreSQL database (either one,
//! whichever made the backup: also the way from SQLite to PostgreSQL), and the
//! trial restore into a scratch SQLite file that `verify` does.
//!
//! Everything is inserted in one transaction while the archive is decrypted and
//! checked; any damage, a forged manifest or a schema mismatch rolls it all back.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;

use super::BackupError;
use super::catalog::{self, SEEDED, Table};
use super::keys::Identities;
use super::manifest::{Manifest, TableEntry};
use super::read::{self, Visitor};
use super::rows::Inserter;
use crate::audit::checkpoint::PublicKey;
use crate::audit::verify;
use crate::store::{self, Backend, DbConn};

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub backup_id: String,
    pub created_at: String,
    pub host: String,
    pub source_backend: String,
    pub schema_version: String,
    pub tables: usize,
    pub rows: u64,
    pub audit_head_seq: i64,
}

struct Loader<'c> {
    conn: &'c mut DbConn,
    target: BTreeMap<String, Table>,
    rows: u64,
}

fn read_line_err(e: std::io::Error) -> BackupError {
    BackupError::Corrupt(e.to_string())
}

impl Visitor for Loader<'_> {
    fn manifest(&mut self, m: &Manifest) -> Result<(), BackupError> {
        let have = catalog::schema_version(self.conn)?;
        if have != m.schema_version {
            return Err(BackupError::Refused(format!(
                "the archive has schema version {} and this Holdfast {have}; restore with the Holdfast version that made the backup, then upgrade",
                m.schema_version
            )));
        }
        for t in &m.tables {
            match self.target.get(&t.table.name) {
                Some(mine) if mine.columns == t.table.columns => {}
                Some(_) => {
                    return Err(BackupError::Refused(format!(
                        "table {} has other columns in the archive than in the target database",
                        t.table.name
                    )));
                }
                None => {
                    return Err(BackupError::Refused(format!(
                        "table {} is in the archive but not in the target database",
                        t.table.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn table(&mut self, entry: &TableEntry, lines: &mut dyn BufRead) -> Result<(), BackupError> {
        let backend = self.conn.backend();
        let seeded = SEEDED.contains(&entry.table.name.as_str());
        if seeded && entry.table.name != "audit_head" {
            // The migration's rows make way for the archive's (the head row can
            // only be updated, which the upsert does).
            diesel::sql_query(format!("DELETE FROM \"{}\"", entry.table.name))
                .execute(self.conn)?;
        }
        let mut ins = Inserter::new(backend, &entry.table, seeded)?;
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            let n = lines.read_until(b'\n', &mut line).map_err(read_line_err)?;
            if n == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            ins.push(self.conn, body)?;
        }
        ins.flush(self.conn)?;
        self.rows += ins.rows;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

/// Drops the indexes that no constraint needs and returns the statements that
/// make them again. Built once over the loaded rows, an index costs a sort; kept
/// up row by row while loading, it was the largest part of a restore. Primary
/// keys and unique constraints stay, so duplicates still fail at the row.
fn drop_secondary_indexes(conn: &mut DbConn) -> Result<Vec<String>, BackupError> {
    let sql = match conn.backend() {
        // Indexes SQLite made for a constraint have no SQL of their own.
        Backend::Sqlite => {
            "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        }
        Backend::Postgres => {
            "SELECT i.indexname::text AS name, i.indexdef AS def FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND NOT EXISTS (\
               SELECT 1 FROM pg_constraint c \
               WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)"
        }
    };
    let found: Vec<IndexDef> = diesel::sql_query(sql).load(conn)?;
    let mut again = Vec::with_capacity(found.len());
    for i in found {
        catalog::check_ident(&i.name)?;
        diesel::sql_query(format!("DROP INDEX \"{}\"", i.name)).execute(conn)?;
        again.push(i.def);
    }
    Ok(again)
}

#[derive(QueryableByName)]
struct Serial {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
}

/// PostgreSQL's sequences continue after the restored ids (SQLite's
/// AUTOINCREMENT counter follows explicit inserts by itself).
fn fix_sequences(conn: &mut DbConn) -> Result<(), BackupError> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    let serials: Vec<Serial> = diesel::sql_query(
        "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
    )
    .load(conn)?;
    for s in serials {
        catalog::check_ident(&s.t)?;
        catalog::check_ident(&s.c)?;
        diesel::sql_query(format!(
            "SELECT setval(pg_get_serial_sequence('\"{t}\"', '{c}'), COALESCE((SELECT MAX(\"{c}\") FROM \"{t}\"), 0) + 1, false)",
            t = s.t,
            c = s.c
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Tables (other than the migrations' seeded ones) that hold rows.
pub fn non_empty_tables(conn: &mut DbConn) -> Result<Vec<String>, BackupError> {
    let mut out = Vec::new();
    for t in catalog::read(conn)? {
        if !SEEDED.contains(&t.name.as_str()) && catalog::count_rows(conn, &t.name)? > 0 {
            out.push(t.name);
        }
    }
    Ok(out)
}

/// Restores into `conn`: migrates it, refuses a database with data unless
/// `force` (which then drops and recreates every table), and loads the archive.
pub fn restore_into(
    conn: &mut DbConn,
    archive: &Path,
    identities: &Identities,
    trusted: &[PublicKey],
    expected_manifest: Option<&str>,
    force: bool,
) -> Result<Restored, BackupError> {
    store::run_migrations(conn)?;
    let full = non_empty_tables(conn)?;
    if !full.is_empty() {
        if !force {
            return Err(BackupError::Refused(format!(
                "the target database is not empty (rows in {}); restore into an empty database, or pass --force to replace everything in it",
                full.join(", ")
            )));
        }
        store::revert_all_migrations(conn)?;
        store::run_migrations(conn)?;
    }
    let target: BTreeMap<String, Table> = catalog::read(conn)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let sqlite = conn.backend() == Backend::Sqlite;
    if sqlite {
        // One transaction the size of the database: in WAL mode every page went
        // through the WAL and was looked up there again, and a 2 MB page cache
        // spilled all the time (two thirds of a restore's time). A rollback journal
        // holds only the few pages that existed before, and a bigger cache spills
        // less; WAL comes back after the load.
        conn.batch_execute(&format!(
            "PRAGMA journal_mode = TRUNCATE; PRAGMA cache_size = -{RESTORE_CACHE_KIB};"
        ))?;
    }
    let loaded = load(
        conn,
        archive,
        identities,
        trusted,
        expected_manifest,
        target,
    );
    if sqlite {
        let back = conn.batch_execute("PRAGMA cache_size = -2000; PRAGMA journal_mode = WAL;");
        // A failed load is the error to report; the journal mode matters only
        // for a database that was restored.
        if loaded.is_ok() {
            back?;
        }
    }
    let manifest = loaded?;
    Ok(Restored {
        backup_id: manifest.backup_id.clone(),
        created_at: manifest.created_at.clone(),
        host: manifest.host.clone(),
        source_backend: manifest.source_backend.clone(),
        schema_version: manifest.schema_version.clone(),
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        audit_head_seq: manifest.audit_head.seq,
    })
}

/// SQLite's page cache during a restore, KiB: bounded, and large enough that a
/// load rarely spills.
const RESTORE_CACHE_KIB: u32 = 64 * 1024;

/// Loads the archive in one transaction and reads every table back.
fn load(
    conn: &mut DbConn,
    archive: &Path,
    identities: &Identities,
    trusted: &[PublicKey],
    expected_manifest: Option<&str>,
    target: BTreeMap<String, Table>,
) -> Result<Manifest, BackupError> {
    conn.transaction::<_, BackupError, _>(|c| {
        if c.backend() == Backend::Sqlite {
            c.batch_execute("PRAGMA defer_foreign_keys = ON")?;
        }
        let indexes = drop_secondary_indexes(c)?;
        let mut loader = Loader {
            conn: c,
            target,
            rows: 0,
        };
        let m = read::read_archive(archive, identities, trusted, expected_manifest, &mut loader)?;
        let loaded = loader.rows;
        if c.backend() == Backend::Postgres {
            // Deferred checks (a credit note may arrive before its invoice) run
            // now, not at commit: PostgreSQL builds no index on a table with
            // trigger events still pending.
            c.batch_execute("SET CONSTRAINTS ALL IMMEDIATE")?;
        }
        for sql in &indexes {
            c.batch_execute(sql)?;
        }
        let expected: u64 = m.tables.iter().map(|t| t.rows).sum();
        if loaded != expected {
            return Err(BackupError::Corrupt(format!(
                "restored {loaded} rows, the manifest lists {expected}"
            )));
        }
        // Read back what was written: every table must give the archive's bytes.
        for t in &m.tables {
            let (n, sha) = super::rows::digest(c, &t.table)?;
            if n != t.rows || sha != t.sha256 {
                return Err(BackupError::Corrupt(format!(
                    "table {} reads back differently after the restore ({n} rows)",
                    t.table.name
                )));
            }
        }
        fix_sequences(c)?;
        Ok(m)
    })
}

/// `verify --identity`: the full check plus a trial restore into a scratch SQLite
/// file and a verification of the restored audit chain.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub restored: Restored,
    pub audit: verify::Report,
}

pub fn trial(
    archive: &Path,
    identities: &Identities,
    trusted: &[PublicKey],
    expected_manifest: Option<&str>,
    audit_keys: &[PublicKey],
    scratch_dir: &Path,
) -> Result<TrialReport, BackupError> {
    let dir = tempfile::Builder::new()
        .prefix("holdfast-trial-")
        .tempdir_in(scratch_dir)
        .map_err(|e| BackupError::Io(format!("scratch directory: {e}")))?;
    let path = dir.path().join("trial.sqlite");
    let mut conn = store::Target::Sqlite(path.display().to_string()).establish()?;
    let restored = restore_into(
        &mut conn,
        archive,
        identities,
        trusted,
        expected_manifest,
        false,
    )?;
    let audit = verify::verify(&mut conn, audit_keys, &[])?;
    if let Some(p) = &audit.problem {
        return Err(BackupError::Corrupt(format!(
            "the restored audit log fails verification at position {}: {}",
            p.seq, p.message
        )));
    }
    if audit.head_seq != restored.audit_head_seq {
        return Err(BackupError::Corrupt(format!(
            "the restored audit head is at {}, the manifest says {}",
            audit.head_seq, restored.audit_head_seq
        )));
    }
    Ok(TrialReport { restored, audit })
}
