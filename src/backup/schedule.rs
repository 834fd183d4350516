//! Scheduled backups. The cron job (web/backup_jobs.rs) only calls `tick`; what
//! happens at a tick depends on the `Env` clock alone, so tests drive it with a
//! clock of their own. Every app node schedules the job; the node that claims the
//! (job, slot) lease runs it, the others skip.

use chrono::Duration;
use serde::Serialize;
use serde_json::json;

use super::make::{self, Plan, Trigger};
use super::notify::{self, For};
use super::{BackupError, keys, retention, runs};
use crate::audit::Who;
use crate::clock::Env;
use crate::config::Config;
use crate::store::{Store, lease};

pub const JOB: &str = "backup";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Tick {
    /// Another node claimed this slot.
    Skipped,
    Done {
        backup_id: String,
        pruned: usize,
    },
    Failed {
        error: String,
    },
}

fn who() -> Who {
    Who {
        id: "system:backup".into(),
        role: "system".into(),
        session_ref: None,
    }
}

/// One firing of the schedule on `node`: claim, back up, prune, record.
pub fn tick(config: &Config, store: &Store, env: &Env, node: &str) -> Result<Tick, BackupError> {
    let now = env.now();
    let slot = lease::slot_of(now, Duration::minutes(1));
    let mut conn = store.conn()?;
    if !lease::claim_run(&mut conn, JOB, slot, node, now)? {
        return Ok(Tick::Skipped);
    }
    drop(conn);
    let result = match Plan::from_config(config, Trigger::Schedule, who()) {
        Ok(plan) => make::run(config, store, env, &plan),
        Err(e) => {
            // A configuration that cannot even start a run (an unreadable
            // passphrase file) is a failed backup too: audited and alerted.
            let mut conn = store.conn()?;
            let event = crate::audit::Event::new("backup.run", crate::audit::Outcome::Failed)
                .by(who())
                .detail(json!({"trigger": "schedule", "error": e.to_string(), "kind": e.kind()}));
            crate::audit::record(&mut conn, env, &Default::default(), &event)?;
            let failed = Err(e);
            notify::after_run(&mut conn, env, &failed);
            failed
        }
    };
    let outcome = match result {
        Ok(made) => {
            // Pruning only after a good backup, so a broken schedule never eats
            // the history it cannot replace.
            let dirs = config.backup.destination_dirs(&config.data_dir);
            let pruned = keys::trusted(config, &[])
                .and_then(|trusted| prune(config, store, env, &dirs, &trusted))
                .map(|p| p.removed.len());
            match pruned {
                Ok(n) => Tick::Done {
                    backup_id: made.backup_id,
                    pruned: n,
                },
                Err(e) => Tick::Failed {
                    error: format!("backup {} made, pruning failed: {e}", made.backup_id),
                },
            }
        }
        Err(e) => Tick::Failed {
            error: e.to_string(),
        },
    };
    let (ok, note) = match &outcome {
        Tick::Done { backup_id, .. } => (true, backup_id.clone()),
        Tick::Failed { error } => (false, error.clone()),
        Tick::Skipped => (true, String::new()),
    };
    let mut conn = store.conn()?;
    lease::finish_run(&mut conn, JOB, slot, ok, &note, env.now())?;
    Ok(outcome)
}

fn prune(
    config: &Config,
    store: &Store,
    env: &Env,
    dirs: &[std::path::PathBuf],
    trusted: &[crate::audit::checkpoint::PublicKey],
) -> Result<retention::Pruned, BackupError> {
    notify::prune_as(store, env, dirs, trusted, config, who())
}

/// Raises an alert when no backup succeeded within `backup.max_age_hours`
/// (counted from the first run when there has never been a good one).
pub fn check_late(config: &Config, store: &Store, env: &Env) -> Result<bool, BackupError> {
    let hours = config.backup.max_age_hours;
    if hours == 0 || config.backup.schedule.trim().is_empty() {
        return Ok(false);
    }
    // A run whose process died is a failure (alerted by the sweep), not a run
    // that may still end well.
    super::liveness::sweep_logged(store, env);
    let mut conn = store.conn()?;
    let last = runs::last_ok(&mut conn)?.map(|r| r.started_at.and_utc());
    let now = env.now();
    let late = match last {
        Some(t) => now - t > Duration::hours(hours),
        None => {
            let first = runs::first_started(&mut conn)?.map(|t| t.and_utc());
            first.is_some_and(|t| now - t > Duration::hours(hours))
        }
    };
    if late {
        notify::alert(
            &mut conn,
            env,
            For::Admins,
            "backup.late",
            true,
            match last {
                Some(t) => format!(
                    "No good backup for more than {hours} hours (the last one started {})",
                    t.format("%Y-%m-%d %H:%M UTC")
                ),
                None => {
                    format!("No backup has succeeded in the {hours} hours since the first attempt")
                }
            },
            json!({"last_good": last, "max_age_hours": hours}),
        )?;
    }
    Ok(late)
}
