//! Backups from the admin page and API. Every function takes the `Cleared`
//! capability that only `AdminGate::clear_privileged` hands out (role, hardware
//! key, and for a restore a fresh proof), so none can run unchecked.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::make::{self, Made, Plan, Trigger};
use super::restore::{self, Restored};
use super::retention::{self, Listed};
use super::runs::{self, Run};
use super::{BackupError, keys, notify, read};
use crate::access::Cleared;
use crate::access::gate::who_of;
use crate::audit::{self, Outcome, RequestMeta};
use crate::clock::Env;
use crate::config::Config;
use crate::store::{Store, Target};

#[derive(Debug, Serialize)]
pub struct History {
    pub runs: Vec<Run>,
    pub archives: Vec<Listed>,
}

/// Recent runs and the archives in the destinations (a read, audited).
pub fn history(
    cleared: &Cleared,
    config: &Config,
    store: &Store,
    env: &Env,
    meta: &RequestMeta,
) -> Result<History, BackupError> {
    super::liveness::sweep_logged(store, env);
    let mut conn = store.conn()?;
    let runs = runs::recent(&mut conn, 50)?;
    let archives = match keys::trusted(config, &[]) {
        Ok(trusted) => {
            retention::list(&config.backup.destination_dirs(&config.data_dir), &trusted)?
        }
        // No key yet: no backup was ever made here.
        Err(_) => Vec::new(),
    };
    let event = audit::Event::new("backup.list", Outcome::Ok)
        .by(who_of(cleared.actor()))
        .detail(json!({"runs": runs.len(), "archives": archives.len()}));
    audit::record(&mut conn, env, meta, &event)?;
    Ok(History { runs, archives })
}

/// A backup now, to the configured recipients and destinations.
pub fn run(
    cleared: &Cleared,
    config: &Config,
    store: &Store,
    env: &Env,
) -> Result<Made, BackupError> {
    let plan = Plan::from_config(config, Trigger::Admin, who_of(cleared.actor()))?;
    make::run(config, store, env, &plan)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// File name of an archive listed in the destinations.
    pub archive: String,
    /// The age identity (`AGE-SECRET-KEY-1…`): used for this restore in memory
    /// only, never stored.
    pub identity: String,
    /// The database to restore into: an empty one, not the one this server runs on.
    pub target_url: String,
    #[serde(default)]
    pub force: bool,
}

impl std::fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreRequest")
            .field("archive", &self.archive)
            .field("identity", &"[redacted]")
            .field("target_url", &"[redacted]")
            .field("force", &self.force)
            .finish()
    }
}

/// Restores a listed archive into another database (a fresh one, or PostgreSQL
/// when moving off SQLite). Audited here and in the restored database, announced
/// to the owners of both.
pub fn restore(
    cleared: &Cleared,
    config: &Config,
    store: &Store,
    env: &Env,
    meta: &RequestMeta,
    req: &RestoreRequest,
) -> Result<Restored, BackupError> {
    let who = who_of(cleared.actor());
    let result = restore_inner(config, req).and_then(|(archive, restored, mut target)| {
        notify::after_restore(&mut target, env, &who, &archive, &restored, req.force)?;
        Ok(restored)
    });
    let mut conn = store.conn()?;
    let (outcome, detail) = match &result {
        Ok(r) => (
            Outcome::Ok,
            json!({"archive": req.archive, "restored": r, "forced": req.force}),
        ),
        Err(e) => (
            Outcome::Failed,
            json!({"archive": req.archive, "error": e.to_string(), "kind": e.kind()}),
        ),
    };
    let event = audit::Event::new("backup.restore", outcome)
        .by(who.clone())
        .detail(detail.clone());
    audit::record(&mut conn, env, meta, &event)?;
    if let Ok(r) = &result {
        notify::alert(
            &mut conn,
            env,
            notify::For::Owners,
            "backup.restored",
            true,
            format!(
                "Backup {} of {} was restored into another database by {}",
                r.backup_id, r.created_at, who.id
            ),
            detail,
        )?;
    }
    result
}

/// The page restores only where the configuration allows (`backup.restore_targets`):
/// otherwise it would be a way to carry the client base to any database the
/// requester controls, or to write files anywhere on the server.
fn allowed_target(config: &Config, target: &Target) -> Result<(), BackupError> {
    use secrecy::ExposeSecret;
    let allowed = &config.backup.restore_targets;
    if allowed.is_empty() {
        return Err(BackupError::Refused(
            "restoring from the admin page is off: list the allowed targets in backup.restore_targets, or restore on the server's console".into(),
        ));
    }
    let ok = match target {
        Target::Postgres(url) => allowed
            .iter()
            .any(|a| a.expose_secret() == url.expose_secret()),
        Target::Sqlite(path) => {
            let path = std::path::Path::new(path);
            if path.exists() {
                return Err(BackupError::Refused(
                    "a SQLite target must be a new file; restoring over an existing one is done on the console".into(),
                ));
            }
            // The file's directory, resolved, must be one of the allowed ones.
            let dir = path.parent().and_then(|d| std::fs::canonicalize(d).ok());
            let named = path.file_name().is_some();
            named
                && dir.is_some_and(|dir| {
                    allowed.iter().any(|a| {
                        a.expose_secret()
                            .strip_prefix("sqlite://")
                            .and_then(|d| std::fs::canonicalize(d).ok())
                            .is_some_and(|d| d == dir)
                    })
                })
        }
    };
    if ok {
        Ok(())
    } else {
        Err(BackupError::Refused(
            "this target is not in backup.restore_targets; restore there on the server's console"
                .into(),
        ))
    }
}

fn restore_inner(
    config: &Config,
    req: &RestoreRequest,
) -> Result<(PathBuf, Restored, crate::store::DbConn), BackupError> {
    let trusted = keys::trusted(config, &[])?;
    let listed = retention::list(&config.backup.destination_dirs(&config.data_dir), &trusted)?;
    let archive = listed
        .iter()
        .find(|l| l.name == req.archive)
        .map(|l| l.path.clone())
        .ok_or_else(|| BackupError::Refused(format!("no archive named {}", req.archive)))?;
    let url = secrecy::SecretString::from(req.target_url.clone());
    let target = Target::parse(&url).map_err(|_| {
        BackupError::Refused("target_url must be postgres://… or sqlite://PATH".into())
    })?;
    allowed_target(config, &target)?;
    let live = Target::parse(&config.database_url())?;
    let same = match (&target, &live) {
        (Target::Sqlite(a), Target::Sqlite(b)) => std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a)),
        (Target::Postgres(a), Target::Postgres(b)) => {
            use secrecy::ExposeSecret;
            a.expose_secret() == b.expose_secret()
        }
        _ => false,
    };
    if same {
        return Err(BackupError::Refused(
            "this is the database the server runs on: stop the server and use `holdfast backup restore` on the console".into(),
        ));
    }
    let ids: keys::Identities = {
        let file = age::IdentityFile::from_buffer(req.identity.as_bytes())
            .map_err(|e| BackupError::Keys(format!("identity: {e}")))?;
        file.into_identities()
            .map_err(|e| BackupError::Keys(format!("identity: {e}")))?
    };
    let expected = read::check_sidecar(&archive, &trusted)?.manifest_sha256;
    let mut conn = target.establish()?;
    let restored = restore::restore_into(
        &mut conn,
        &archive,
        &ids,
        &trusted,
        Some(&expected),
        req.force,
    )?;
    Ok((archive, restored, conn))
}
