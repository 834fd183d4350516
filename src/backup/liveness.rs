//! Whether a backup run that has not finished can still finish. A run records the
//! process that runs it (`Owner`) and beats a heartbeat into its row while it
//! works; a process that is killed leaves a row that says "running" forever.
//! `sweep` (at server start, before every run, when the history is read and at
//! the lateness check) marks such rows interrupted: a failed run, audited and
//! alerted like any other failure.
//!
//! Several app nodes may share one PostgreSQL, and another node may really be
//! running a backup, so a row is only declared dead on evidence:
//! - its process ran on this kernel in this PID namespace (same boot id and
//!   namespace), and no process with its pid and start time exists any more:
//!   certain, and immediate after a restart;
//! - otherwise (another machine or container) its last heartbeat is older than
//!   `STALE`, many beats missed: a live run beats every `BEAT`.
//!
//! A live process that stopped beating (a database it cannot reach) is left
//! alone on its own machine: it may still finish, and then records its outcome.

use std::sync::mpsc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::json;

use super::BackupError;
use super::notify::{self, For};
use super::runs::{self, Run};
use crate::audit::{self, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::store::Store;

/// How often a running backup says it is alive.
pub const BEAT: StdDuration = StdDuration::from_secs(30);

/// No heartbeat for this long (twenty beats) and the run's process is not one this
/// machine can look at: it is taken as dead. Also covers clock skew between nodes.
pub fn stale() -> Duration {
    Duration::minutes(10)
}

/// The process that runs a backup: enough to find it again on its own machine,
/// and to tell it from a later process that got the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat`, field 22).
    pub start: u64,
    /// The kernel's boot id: a pid means nothing across reboots.
    pub boot: String,
    /// The PID namespace: containers on one kernel each have their own pids.
    pub pid_ns: String,
}

impl Owner {
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: super::host_name(),
            pid,
            start: start_ticks(pid).unwrap_or(0),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }

    /// `host/pid/start/boot/pidns` (a host name has no `/`).
    pub fn encode(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.host, self.pid, self.start, self.boot, self.pid_ns
        )
    }

    pub fn parse(s: &str) -> Option<Owner> {
        let mut it = s.splitn(5, '/');
        let host = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let start = it.next()?.parse().ok()?;
        let boot = it.next()?.to_string();
        let pid_ns = it.next()?.to_string();
        Some(Owner {
            host,
            pid,
            start,
            boot,
            pid_ns,
        })
    }

    /// Whether this machine can see the owner's process table.
    fn visible_from(&self, me: &Owner) -> bool {
        !self.boot.is_empty()
            && !self.pid_ns.is_empty()
            && self.start != 0
            && self.boot == me.boot
            && self.pid_ns == me.pid_ns
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A process's start time, or None when there is no such process.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Why an unfinished run can no longer finish, or None while it may.
pub fn dead_because(
    run: &Run,
    now: DateTime<Utc>,
    me: &Owner,
    probe: impl Fn(u32) -> Option<u64>,
) -> Option<String> {
    let last_seen = last_seen(run).and_utc();
    let owner = run.node.as_deref().and_then(Owner::parse);
    if let Some(o) = owner.as_ref().filter(|o| o.visible_from(me)) {
        return match probe(o.pid) {
            Some(start) if start == o.start => None,
            _ => Some(format!(
                "its process (pid {} on {}) ended before the run finished",
                o.pid, o.host
            )),
        };
    }
    if now - last_seen > stale() {
        let who = owner.map_or_else(|| "an unknown node".to_string(), |o| o.host);
        return Some(format!(
            "no sign of life from {who} since {} (more than {} minutes)",
            last_seen.format("%Y-%m-%d %H:%M:%S UTC"),
            stale().num_minutes()
        ));
    }
    None
}

/// The last moment the run was known to be alive: its finish time once it is
/// found dead (the true moment is somewhere before the next heartbeat).
fn last_seen(run: &Run) -> NaiveDateTime {
    run.heartbeat_at
        .map_or(run.started_at, |h| h.max(run.started_at))
}

/// A run this process found dead and marked interrupted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Interrupted {
    pub backup_id: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub reason: String,
}

fn who() -> Who {
    Who {
        id: "system:backup".into(),
        role: "system".into(),
        session_ref: None,
    }
}

/// Marks every unfinished run that can no longer finish as interrupted; each one
/// is audited (`backup.run`, failed) and raises the admins' `backup.failed` alert.
pub fn sweep(store: &Store, env: &Env) -> Result<Vec<Interrupted>, BackupError> {
    let mut conn = store.conn()?;
    let me = Owner::current();
    let now = env.now();
    let mut out = Vec::new();
    for run in runs::unfinished(&mut conn)? {
        let Some(reason) = dead_because(&run, now, &me, start_ticks) else {
            continue;
        };
        let finished_at = last_seen(&run);
        let error = format!("interrupted: {reason}");
        if !runs::mark_interrupted(&mut conn, &run.id, finished_at, &error)? {
            continue;
        }
        if run.trigger_kind == "schedule" {
            // The schedule's claim of this firing (made just before the run
            // started) ends with it, so the job history does not show it running.
            crate::store::lease::fail_unfinished(
                &mut conn,
                super::schedule::JOB,
                run.started_at - Duration::minutes(5),
                run.started_at,
                &error,
                now,
            )?;
        }
        let detail = json!({
            "backup_id": run.id,
            "trigger": run.trigger_kind,
            "interrupted": true,
            "kind": "interrupted",
            "error": error,
            "node": run.node,
            "started_at": run.started_at,
            "last_seen": finished_at,
            "found_by": me.encode(),
            "found_at": now,
        });
        let event = audit::Event::new("backup.run", Outcome::Failed)
            .by(who())
            .on("backup", [run.id.clone()])
            .detail(detail.clone());
        audit::record(&mut conn, env, &RequestMeta::default(), &event)?;
        notify::alert(
            &mut conn,
            env,
            For::Admins,
            "backup.failed",
            true,
            format!(
                "Backup {} started {} was interrupted: {reason}",
                run.id,
                run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            detail,
        )?;
        tracing::error!(backup_id = %run.id, %reason, "backup run interrupted");
        out.push(Interrupted {
            backup_id: run.id,
            started_at: run.started_at,
            finished_at,
            reason,
        });
    }
    Ok(out)
}

/// `sweep` where its failure must not stop what called it (a backup, a page):
/// logged, and tried again at the next occasion.
pub fn sweep_logged(store: &Store, env: &Env) {
    if let Err(e) = sweep(store, env) {
        tracing::error!(error = %e, "could not look for interrupted backup runs");
    }
}

/// Runs `work` while a thread beats run `id`'s heartbeat every `BEAT`. A beat
/// that fails is logged; the run goes on (it is judged by its process first).
pub fn beating<T>(store: &Store, env: &Env, id: &str, work: impl FnOnce() -> T) -> T {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(BEAT) {
                let beat = store
                    .conn()
                    .and_then(|mut c| runs::beat(&mut c, id, env.now().naive_utc()));
                if let Err(e) = beat {
                    tracing::warn!(backup_id = id, error = %e, "backup heartbeat not recorded");
                }
            }
        });
        let out = work();
        drop(stop);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(node: Option<&Owner>, started: NaiveDateTime, beat: Option<NaiveDateTime>) -> Run {
        Run {
            id: "r".into(),
            started_at: started,
            finished_at: None,
            trigger_kind: "console".into(),
            actor: None,
            ok: None,
            archive: None,
            manifest_sha256: None,
            ciphertext_sha256: None,
            size_bytes: None,
            row_count: None,
            destinations: "[]".into(),
            error: None,
            node: node.map(Owner::encode),
            heartbeat_at: beat,
            interrupted: false,
        }
    }

    fn me() -> Owner {
        Owner {
            host: "a".into(),
            pid: 10,
            start: 500,
            boot: "boot-1".into(),
            pid_ns: "pid:[1]".into(),
        }
    }

    #[test]
    fn owner_round_trips() {
        let o = me();
        assert_eq!(Owner::parse(&o.encode()), Some(o));
        let here = Owner::current();
        assert_eq!(start_ticks(here.pid), Some(here.start));
        assert_eq!(Owner::parse(&here.encode()), Some(here));
    }

    #[test]
    fn a_run_is_dead_only_on_evidence() {
        let now = Utc::now();
        let t = now.naive_utc();
        let me = me();
        let other_pid = Owner {
            pid: 11,
            ..me.clone()
        };
        let none = |_| None;
        let same = |pid| (pid == 11).then_some(500);
        let reused = |pid| (pid == 11).then_some(900);
        // Same kernel and namespace: the process table decides, at once.
        assert!(dead_because(&run(Some(&other_pid), t, Some(t)), now, &me, none).is_some());
        assert!(dead_because(&run(Some(&other_pid), t, Some(t)), now, &me, reused).is_some());
        let old = t - Duration::hours(3);
        assert!(dead_because(&run(Some(&other_pid), old, Some(old)), now, &me, same).is_none());
        // Another node (or another container): the heartbeat decides.
        let far = Owner {
            boot: "boot-2".into(),
            ..other_pid.clone()
        };
        let recent = t - Duration::minutes(9);
        assert!(dead_because(&run(Some(&far), old, Some(recent)), now, &me, none).is_none());
        let stale = t - Duration::minutes(11);
        assert!(dead_because(&run(Some(&far), old, Some(stale)), now, &me, none).is_some());
        let ns = Owner {
            pid_ns: "pid:[2]".into(),
            ..other_pid
        };
        assert!(dead_because(&run(Some(&ns), t, Some(recent)), now, &me, none).is_none());
        // A row from before the heartbeat existed: its start time.
        assert!(dead_because(&run(None, recent, None), now, &me, none).is_none());
        assert!(dead_because(&run(None, stale, None), now, &me, none).is_some());
    }
}
