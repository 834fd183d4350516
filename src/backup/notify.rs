//! What follows a run, a restore, a drill or a prune: the audit event, and an
//! alert for the people who must know (admins for failures, owners for restores).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::BackupError;
use super::make::Made;
use super::restore::Restored;
use super::retention::{self, Pruned};
use crate::audit::checkpoint::PublicKey;
use crate::audit::{self, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::config::Config;
use crate::store::{DbConn, Store, StoreError};

/// Who an alert is for.
#[derive(Debug, Clone, Copy)]
pub enum For {
    Admins,
    Owners,
}

/// Raises an alert (stored for the admin and owner pages) and logs it. While an
/// alert of the same kind is open, a repeat is not raised again (`dedupe`).
pub fn alert(
    conn: &mut DbConn,
    env: &Env,
    audience: For,
    kind: &str,
    high: bool,
    summary: String,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    use crate::alerts::{self, Audience, NewAlert, Severity};
    tracing::error!(kind, ?audience, %summary, "backup alert");
    let dedupe = match audience {
        // Every restore is announced; repeated failures are one open alert.
        For::Owners => None,
        For::Admins => Some(kind.to_string()),
    };
    alerts::raise(
        conn,
        env,
        &NewAlert {
            kind: kind.to_string(),
            severity: if high {
                Severity::High
            } else {
                Severity::Warning
            },
            audience: match audience {
                For::Admins => Audience::Admins,
                For::Owners => Audience::Owners,
            },
            subject_user: None,
            summary,
            detail,
            evidence: Vec::new(),
            dedupe_key: dedupe,
        },
    )?;
    Ok(())
}

/// After a run (which `make::run` audited): an alert for the admins when it
/// failed or when a destination could not be written.
pub fn after_run(conn: &mut DbConn, env: &Env, result: &Result<Made, BackupError>) {
    let raised = match result {
        Err(e) => alert(
            conn,
            env,
            For::Admins,
            "backup.failed",
            true,
            format!("Backup failed: {e}"),
            json!({"error": e.to_string(), "kind": e.kind()}),
        ),
        Ok(made) if !made.failed_destinations().is_empty() => {
            let failed: Vec<String> = made
                .failed_destinations()
                .iter()
                .filter_map(|d| d.error.clone())
                .collect();
            alert(
                conn,
                env,
                For::Admins,
                "backup.destination_failed",
                true,
                format!(
                    "Backup {} was written, but not to every destination: {}",
                    made.backup_id,
                    failed.join("; ")
                ),
                json!({"backup_id": made.backup_id, "errors": failed}),
            )
        }
        Ok(_) => Ok(()),
    };
    if let Err(e) = raised {
        tracing::error!(error = %e, "could not raise the backup alert");
    }
}

/// After a restore: audited in the restored database and announced to owners.
pub fn after_restore(
    conn: &mut DbConn,
    env: &Env,
    who: &Who,
    archive: &Path,
    restored: &Restored,
    forced: bool,
) -> Result<(), StoreError> {
    let detail = json!({
        "archive": archive.display().to_string(),
        "backup_id": restored.backup_id,
        "backup_created_at": restored.created_at,
        "source_host": restored.host,
        "source_backend": restored.source_backend,
        "tables": restored.tables,
        "rows": restored.rows,
        "forced": forced,
    });
    let event = audit::Event::new("backup.restore", Outcome::Ok)
        .by(who.clone())
        .on("backup", [restored.backup_id.clone()])
        .detail(detail.clone());
    audit::record(conn, env, &RequestMeta::default(), &event)?;
    alert(
        conn,
        env,
        For::Owners,
        "backup.restored",
        true,
        format!(
            "The database was restored from backup {} of {} by {}",
            restored.backup_id, restored.created_at, who.id
        ),
        detail,
    )
}

pub fn after_drill<T: serde::Serialize>(
    store: &Store,
    env: &Env,
    archive: Option<PathBuf>,
    result: &Result<T, BackupError>,
) -> Result<(), StoreError> {
    let mut conn = store.conn()?;
    let (outcome, detail) = match result {
        Ok(v) => (
            Outcome::Ok,
            json!({"archive": archive, "result": serde_json::to_value(v).unwrap_or_default()}),
        ),
        Err(e) => (
            Outcome::Failed,
            json!({"archive": archive, "error": e.to_string(), "kind": e.kind()}),
        ),
    };
    let event = audit::Event::new("backup.drill", outcome)
        .by(Who::console())
        .detail(detail.clone());
    audit::record(&mut conn, env, &RequestMeta::default(), &event)?;
    if let Err(e) = result {
        alert(
            &mut conn,
            env,
            For::Admins,
            "backup.drill_failed",
            true,
            format!("The restore drill failed: {e}"),
            detail,
        )?;
    }
    Ok(())
}

/// Prunes by the configured rules; every removal is in the audit log.
pub fn prune_as(
    store: &Store,
    env: &Env,
    dirs: &[PathBuf],
    trusted: &[PublicKey],
    config: &Config,
    who: Who,
) -> Result<Pruned, BackupError> {
    let pruned = retention::prune(dirs, trusted, &config.backup)?;
    let mut conn = store.conn()?;
    let event = audit::Event::new("backup.prune", Outcome::Ok)
        .by(who)
        .detail(json!({
            "removed": pruned.removed,
            "kept_backups": pruned.kept,
            "stale_temporaries": pruned.stale_temporaries,
            "rules": {
                "keep_last": config.backup.keep_last,
                "keep_daily": config.backup.keep_daily,
                "keep_weekly": config.backup.keep_weekly,
                "keep_monthly": config.backup.keep_monthly,
            },
        }));
    audit::record(&mut conn, env, &RequestMeta::default(), &event)?;
    Ok(pruned)
}
