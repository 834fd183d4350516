//! Listing the archives in the destinations, and pruning them the way restic's
//! `forget --keep-last --keep-daily --keep-weekly --keep-monthly` does: a backup
//! is kept when any rule keeps it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::BackupError;
use super::manifest::{SIDECAR_SUFFIX, Sidecar};
use super::sink::TMP_PREFIX;
use crate::audit::checkpoint::PublicKey;
use crate::config::BackupConfig;

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub path: PathBuf,
    pub name: String,
    pub backup_id: String,
    pub created_at: String,
    pub host: String,
    pub encryption: String,
    pub size: u64,
    /// Whether the sidecar's signature verifies with a trusted key (the
    /// ciphertext itself is checked by `verify`).
    pub signature: String,
}

/// Finished archives: those with a sidecar beside them. Temporary files of runs
/// that did not finish are never shown.
pub fn list(dirs: &[PathBuf], trusted: &[PublicKey]) -> Result<Vec<Listed>, BackupError> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let Some(archive) = name.strip_suffix(SIDECAR_SUFFIX) else {
                continue;
            };
            let path = dir.join(archive);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let Ok(side) = Sidecar::read(&entry.path()) else {
                continue;
            };
            let signature = match side.verify(trusted) {
                Ok(key) => format!("ok ({key})"),
                Err(e) => format!("BAD: {e}"),
            };
            out.push(Listed {
                path,
                name: archive.to_string(),
                backup_id: side.body.backup_id,
                created_at: side.body.created_at,
                host: side.body.host,
                encryption: side.body.encryption,
                size: meta.len(),
                signature,
            });
        }
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.path.cmp(&b.path)));
    Ok(out)
}

/// The backup ids to keep, newest first in `backups` (id, time).
pub fn keep(backups: &[(String, DateTime<Utc>)], rules: &BackupConfig) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    for (id, _) in backups.iter().take(rules.keep_last as usize) {
        kept.insert(id.clone());
    }
    let mut bucketed = |n: u32, key: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
        let mut seen = BTreeSet::new();
        for (id, at) in backups {
            if seen.len() >= n as usize {
                break;
            }
            if seen.insert(key(at)) {
                kept.insert(id.clone());
            }
        }
    };
    bucketed(rules.keep_daily, &|t| (t.year(), t.ordinal()));
    bucketed(rules.keep_weekly, &|t| {
        let w = t.iso_week();
        (w.year(), w.week())
    });
    bucketed(rules.keep_monthly, &|t| (t.year(), t.month()));
    kept
}

#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub removed: Vec<PathBuf>,
    pub kept: usize,
    pub stale_temporaries: Vec<PathBuf>,
}

/// Removes the archives (and sidecars) no rule keeps. Only archives whose
/// sidecar verifies are considered: a file Holdfast cannot vouch for is left.
pub fn prune(
    dirs: &[PathBuf],
    trusted: &[PublicKey],
    rules: &BackupConfig,
) -> Result<Pruned, BackupError> {
    let listed: Vec<Listed> = list(dirs, trusted)?
        .into_iter()
        .filter(|l| l.signature.starts_with("ok"))
        .collect();
    let mut by_id: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for l in &listed {
        if let Ok(t) = DateTime::parse_from_rfc3339(&l.created_at) {
            by_id.insert(l.backup_id.clone(), t.with_timezone(&Utc));
        }
    }
    let mut backups: Vec<(String, DateTime<Utc>)> = by_id.into_iter().collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.1));
    let kept = keep(&backups, rules);
    let mut removed = Vec::new();
    for l in &listed {
        if kept.contains(&l.backup_id) || !backups.iter().any(|(id, _)| *id == l.backup_id) {
            continue;
        }
        let side = super::manifest::sidecar_path(&l.path);
        // The archive first: a sidecar without its archive is never listed.
        std::fs::remove_file(&l.path)
            .map_err(|e| BackupError::Io(format!("removing {}: {e}", l.path.display())))?;
        let _ = std::fs::remove_file(&side);
        removed.push(l.path.clone());
    }
    Ok(Pruned {
        removed,
        kept: kept.len(),
        stale_temporaries: remove_stale(dirs, Duration::from_secs(24 * 3600)),
    })
}

/// Temporary files of runs killed more than `age` ago.
fn remove_stale(dirs: &[PathBuf], age: Duration) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let now = SystemTime::now();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in read.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|d| d > age);
            if name.starts_with(TMP_PREFIX) && old && std::fs::remove_file(e.path()).is_ok() {
                out.push(e.path());
            }
        }
    }
    out
}

pub fn is_archive(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".tar.age")
}
