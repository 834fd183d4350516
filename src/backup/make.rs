//! `backup run`: a consistent snapshot, tables spooled to private temporary files
//! (hashed and counted on the way), a signed manifest, then one pass that writes
//! the tar container through age into every destination.
//!
//! Memory stays bounded: rows stream from the database to the spool files, and the
//! spool files stream into the archive. The plaintext spool lives under the data
//! directory (beside the database it copies) and is removed when the run ends.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde::Serialize;

use super::catalog;
use super::keys;
use super::liveness;
use super::manifest::{self, AuditHead, Manifest, Sidecar, SidecarBody, TableEntry};
use super::rows;
use super::runs::{self, Run};
use super::sink::{DestOutcome, Fanout, Hashing, Tee, write_atomic};
use super::{BackupError, host_name};
use crate::audit::{self, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::config::Config;
use crate::store::{DbConn, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Console,
    Admin,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Console => "console",
            Trigger::Admin => "admin",
        }
    }
}

/// What to back up to where; the CLI overrides the configuration here.
pub struct Plan {
    pub recipients: Vec<String>,
    pub destinations: Vec<PathBuf>,
    pub passphrase: Option<SecretString>,
    pub trigger: Trigger,
    pub who: Who,
}

impl Plan {
    pub fn from_config(config: &Config, trigger: Trigger, who: Who) -> Result<Plan, BackupError> {
        Ok(Plan {
            recipients: config.backup.recipients.clone(),
            destinations: config.backup.destination_dirs(&config.data_dir),
            passphrase: config
                .backup
                .passphrase_file
                .as_deref()
                .map(keys::passphrase)
                .transpose()?,
            trigger,
            who,
        })
    }
}

/// One encrypted file of a finished backup.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub name: String,
    pub encryption: &'static str,
    pub size: u64,
    pub sha256: String,
    pub destinations: Vec<DestOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Made {
    pub backup_id: String,
    pub manifest_sha256: String,
    pub rows: u64,
    pub tables: usize,
    pub files: Vec<Written>,
}

impl Made {
    /// Destinations that failed (the backup still succeeded somewhere).
    pub fn failed_destinations(&self) -> Vec<&DestOutcome> {
        self.files
            .iter()
            .flat_map(|f| f.destinations.iter())
            .filter(|d| d.error.is_some())
            .collect()
    }
}

struct Spooled {
    entry: TableEntry,
    path: PathBuf,
}

struct Snapshot {
    tables: Vec<Spooled>,
    schema_version: String,
    audit_head: AuditHead,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(format!("{what}: {e}"))
}

fn spool_tables(conn: &mut DbConn, dir: &Path) -> Result<Snapshot, BackupError> {
    let tables = catalog::read(conn)?;
    let schema_version = catalog::schema_version(conn)?;
    let (seq, hash) = crate::audit::chain::head(conn)?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let member = format!("tables/{}.jsonl", t.name);
        let path = dir.join(format!("{}.jsonl", t.name));
        let file = File::create(&path).map_err(io("spool file"))?;
        let mut w = Hashing::new(BufWriter::with_capacity(256 * 1024, file));
        let rows = rows::dump(conn, &t, &mut w)?;
        let bytes = w.bytes;
        let (mut inner, sha256) = w.finish();
        inner.flush().map_err(io("spool file"))?;
        out.push(Spooled {
            entry: TableEntry {
                table: t,
                member,
                rows,
                bytes,
                sha256,
            },
            path,
        });
    }
    Ok(Snapshot {
        tables: out,
        schema_version,
        audit_head: AuditHead {
            seq,
            hash: hex::encode(hash),
        },
    })
}

/// A consistent view while the CRM keeps serving: one read transaction. SQLite in
/// WAL mode keeps the snapshot its first read saw while writers go on (copying
/// the file first with `VACUUM INTO` doubled a backup's time); PostgreSQL reads
/// everything inside one repeatable-read, read-only transaction.
fn snapshot(conn: &mut DbConn, dir: &Path) -> Result<Snapshot, BackupError> {
    conn.transaction(|c| {
        if c.backend() == crate::store::Backend::Postgres {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        spool_tables(c, dir)
    })
}

fn tar_header(size: u64, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    mtime: i64,
    data: impl std::io::Read,
) -> Result<(), BackupError> {
    let mut h = tar_header(size, mtime);
    tar.append_data(&mut h, path, data)
        .map_err(|e| BackupError::Destinations(e.to_string()))
}

/// Makes a backup as `plan` says; records the run, audits it either way.
pub fn run(config: &Config, store: &Store, env: &Env, plan: &Plan) -> Result<Made, BackupError> {
    let id = env
        .new_id()
        .map_err(|e| BackupError::Io(e.to_string()))?
        .to_string();
    let started = env.now().naive_utc();
    let mut record = Run {
        id: id.clone(),
        started_at: started,
        finished_at: None,
        trigger_kind: plan.trigger.as_str().into(),
        actor: Some(plan.who.id.clone()),
        ok: None,
        archive: None,
        manifest_sha256: None,
        ciphertext_sha256: None,
        size_bytes: None,
        row_count: None,
        destinations: "[]".into(),
        error: None,
        node: Some(liveness::Owner::current().encode()),
        heartbeat_at: Some(started),
        interrupted: false,
    };
    // A run killed earlier is marked before this one starts, so its row does not
    // read "running" beside this one and the failure is on record.
    liveness::sweep_logged(store, env);
    let mut conn = store.conn()?;
    runs::start(&mut conn, &record)?;
    drop(conn);
    let result = liveness::beating(store, env, &id, || make(config, store, env, plan, &id));
    record.finished_at = Some(env.now().naive_utc());
    let mut conn = store.conn()?;
    let (outcome, detail) = match &result {
        Ok(made) => {
            record.ok = Some(true);
            record.archive = made.files.first().map(|f| f.name.clone());
            record.manifest_sha256 = Some(made.manifest_sha256.clone());
            record.ciphertext_sha256 = made.files.first().map(|f| f.sha256.clone());
            record.size_bytes = made.files.first().map(|f| f.size as i64);
            record.row_count = Some(made.rows as i64);
            record.destinations =
                serde_json::to_string(&made.files).unwrap_or_else(|_| "[]".into());
            (
                Outcome::Ok,
                serde_json::json!({
                    "backup_id": id,
                    "trigger": plan.trigger,
                    "files": made.files,
                    "rows": made.rows,
                    "tables": made.tables,
                    "manifest_sha256": made.manifest_sha256,
                    "failed_destinations": made.failed_destinations().len(),
                }),
            )
        }
        Err(e) => {
            record.ok = Some(false);
            record.error = Some(e.to_string());
            (
                Outcome::Failed,
                serde_json::json!({
                    "backup_id": id,
                    "trigger": plan.trigger,
                    "error": e.to_string(),
                    "kind": e.kind(),
                }),
            )
        }
    };
    runs::finish(&mut conn, &record)?;
    let event = audit::Event::new("backup.run", outcome)
        .by(plan.who.clone())
        .on("backup", [id.clone()])
        .detail(detail);
    audit::record(&mut conn, env, &RequestMeta::default(), &event)?;
    super::notify::after_run(&mut conn, env, &result);
    result
}

fn make(
    config: &Config,
    store: &Store,
    env: &Env,
    plan: &Plan,
    id: &str,
) -> Result<Made, BackupError> {
    // Everything that can be refused is refused before any work.
    let recipients = keys::recipients(&plan.recipients)?;
    let signer = keys::signer(config)?;
    if plan.destinations.is_empty() {
        return Err(BackupError::Destinations("no destination directory".into()));
    }
    let spool_root = config.data_dir.join("backup").join("spool");
    crate::files::private_dir(&spool_root).map_err(io("spool directory"))?;
    remove_stale_spools(&spool_root);
    let spool = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&spool_root)
        .map_err(io("spool directory"))?;
    let mut conn = store.conn()?;
    let previous = runs::last_ok(&mut conn)?.and_then(|r| r.manifest_sha256);
    let snap = snapshot(&mut conn, spool.path())?;
    drop(conn);

    let now = env.now();
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        backup_id: id.to_string(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        host: host_name(),
        holdfast_version: env!("CARGO_PKG_VERSION").into(),
        source_backend: match store.backend() {
            crate::store::Backend::Sqlite => "sqlite".into(),
            crate::store::Backend::Postgres => "postgres".into(),
        },
        schema_version: snap.schema_version.clone(),
        tables: snap.tables.iter().map(|s| s.entry.clone()).collect(),
        audit_head: snap.audit_head.clone(),
        previous_manifest_sha256: previous.clone(),
        signing_key_id: signer.public().id.clone(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Io(format!("manifest: {e}")))?;
    let manifest_sha256 = manifest::sha256_hex(&manifest_json);
    let sig_json = serde_json::to_vec_pretty(&manifest::sign_manifest(&signer, &manifest_json))
        .map_err(|e| BackupError::Io(format!("manifest signature: {e}")))?;

    let stem = format!(
        "holdfast-{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        id.get(..8).unwrap_or(id)
    );
    let name = format!("{stem}.tar.age");
    let pass_name = format!("{stem}.pass.tar.age");

    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| BackupError::Keys(format!("age recipients: {e}")))?;
    let main = encryptor
        .wrap_output(Fanout::open(&plan.destinations, &name))
        .map_err(|e| BackupError::Destinations(e.to_string()))?;
    let second = match &plan.passphrase {
        Some(p) => Some(
            age::Encryptor::with_user_passphrase(p.clone())
                .wrap_output(Fanout::open(&plan.destinations, &pass_name))
                .map_err(|e| BackupError::Destinations(e.to_string()))?,
        ),
        None => None,
    };
    let mut tar = tar::Builder::new(Tee { a: main, b: second });
    let mtime = now.timestamp();
    append(
        &mut tar,
        "manifest.json",
        manifest_json.len() as u64,
        mtime,
        &manifest_json[..],
    )?;
    append(
        &mut tar,
        "manifest.sig",
        sig_json.len() as u64,
        mtime,
        &sig_json[..],
    )?;
    for s in &snap.tables {
        let f = File::open(&s.path).map_err(io("spool file"))?;
        append(
            &mut tar,
            &s.entry.member,
            s.entry.bytes,
            mtime,
            BufReader::with_capacity(256 * 1024, f),
        )?;
        // The plaintext copy goes as soon as it is in the archive.
        let _ = std::fs::remove_file(&s.path);
    }
    let tee = tar
        .into_inner()
        .map_err(|e| BackupError::Destinations(e.to_string()))?;
    let mut files = Vec::new();
    let streams = [(tee.a, name, "recipients")]
        .into_iter()
        .chain(tee.b.map(|b| (b, pass_name, "passphrase")));
    for (stream, file_name, encryption) in streams {
        let fan = stream
            .finish()
            .map_err(|e| BackupError::Destinations(e.to_string()))?;
        let size = fan.size;
        let (sha256, blocks, mut outcomes) = fan.finish();
        let body = SidecarBody {
            format: manifest::FORMAT.into(),
            format_version: manifest::FORMAT_VERSION,
            archive: file_name.clone(),
            encryption: encryption.into(),
            backup_id: id.to_string(),
            created_at: manifest.created_at.clone(),
            host: manifest.host.clone(),
            size,
            sha256: sha256.clone(),
            block_size: manifest::BLOCK,
            block_sha256: blocks,
            manifest_sha256: manifest_sha256.clone(),
            previous_manifest_sha256: previous.clone(),
        };
        let sidecar = serde_json::to_vec_pretty(&Sidecar::sign(&signer, body)?)
            .map_err(|e| BackupError::Io(format!("sidecar: {e}")))?;
        for o in outcomes.iter_mut().filter(|o| o.error.is_none()) {
            let side_name = format!("{file_name}{}", manifest::SIDECAR_SUFFIX);
            if let Err(e) = write_atomic(&o.dir, &side_name, &sidecar) {
                // An archive without its sidecar is never listed; take it away.
                let _ = std::fs::remove_file(o.dir.join(&file_name));
                o.error = Some(format!("writing the sidecar in {}: {e}", o.dir.display()));
            }
        }
        files.push(Written {
            name: file_name,
            encryption,
            size,
            sha256,
            destinations: outcomes,
        });
    }
    if files
        .iter()
        .all(|f| f.destinations.iter().all(|d| d.error.is_some()))
    {
        let why: Vec<String> = files
            .iter()
            .flat_map(|f| f.destinations.iter().filter_map(|d| d.error.clone()))
            .collect();
        return Err(BackupError::Destinations(why.join("; ")));
    }
    Ok(Made {
        backup_id: id.to_string(),
        manifest_sha256,
        rows: snap.tables.iter().map(|s| s.entry.rows).sum(),
        tables: snap.tables.len(),
        files,
    })
}

/// Plaintext left by runs and trial restores that were killed: a spool directory
/// untouched for six hours belongs to no live run (each table written touches it).
fn remove_stale_spools(root: &Path) {
    let Ok(read) = std::fs::read_dir(root) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for e in read.flatten() {
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(6 * 3600));
        if stale {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => {
                    tracing::warn!(path = %e.path().display(), "removed the spool of a killed backup run")
                }
                Err(err) => {
                    tracing::error!(path = %e.path().display(), error = %err, "cannot remove an old backup spool")
                }
            }
        }
    }
}
