//! Encrypted, signed, verifiable backups (issue 7). The archive format is written
//! down in `backup/FORMAT.md` at the top of the repository.
//!
//! - `catalog`: which tables and columns a database has (read from the database).
//! - `rows`: rows out as canonical JSON lines and back in, streamed.
//! - `manifest`: the signed manifest and the signed sidecar beside each file.
//! - `sink`: temporary file, fsync, rename, in several destinations at once.
//! - `make`: `backup run`. `read`: decrypting and checking an archive.
//! - `restore`: into an empty SQLite or PostgreSQL database. `runs`: history.
//! - `liveness`: finding runs whose process died (marked interrupted).
//! - `keys`: the manifest signing key, age recipients and identities.

pub mod admin;
pub mod catalog;
mod fastrow;
pub mod keys;
pub mod liveness;
pub mod make;
pub mod manifest;
pub mod notify;
pub mod read;
pub mod restore;
pub mod retention;
pub mod rows;
pub mod runs;
pub mod schedule;
pub mod sink;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("the archive is not valid: {0}")]
    Archive(String),
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
    #[error("refused, possibly forged: {0}")]
    Forged(String),
    #[error("{0}")]
    Keys(String),
    #[error("{0}")]
    Refused(String),
    #[error("no backup destination could be written: {0}")]
    Destinations(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for BackupError {
    fn from(e: diesel::result::Error) -> Self {
        BackupError::Store(StoreError::Query(e))
    }
}

impl BackupError {
    /// A short stable name for the kind of failure (audit details, alerts, API).
    pub fn kind(&self) -> &'static str {
        match self {
            BackupError::Io(_) => "io",
            BackupError::Schema(_) => "schema",
            BackupError::Archive(_) => "invalid_archive",
            BackupError::Corrupt(_) => "corrupt",
            BackupError::Forged(_) => "forged",
            BackupError::Keys(_) => "keys",
            BackupError::Refused(_) => "refused",
            BackupError::Destinations(_) => "destinations",
            BackupError::Store(_) => "database",
        }
    }
}

/// The machine's name, for manifests (where a backup came from).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}
