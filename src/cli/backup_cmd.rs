//! `holdfast backup …`: make, list, verify, restore and prune encrypted backups.
//! Restoring from the console needs file access on the server (the identity, the
//! configuration), like break-glass; it is audited in the restored database and
//! announced to its owners.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::audit::checkpoint::{self, PublicKey};
use crate::audit::{self, Outcome, RequestMeta, Who};
use crate::backup::keys::{self, Identities};
use crate::backup::make::{self, Plan, Trigger};
use crate::backup::{BackupError, notify, read, restore, retention, runs};
use crate::clock::Env;
use crate::config::Config;
use crate::store::Target;

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Make a backup now (recipients and destinations from `[backup]` unless given).
    Run {
        /// age recipient (age1… or a plugin recipient); repeatable; replaces the configured ones.
        #[arg(long = "recipient", value_name = "R")]
        recipients: Vec<String>,
        /// Destination directory; repeatable; replaces the configured ones.
        #[arg(long = "dest", value_name = "DIR")]
        dests: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List the finished backups in the destinations, newest first, and the
    /// recent runs (ok, failed, interrupted or running).
    List {
        #[arg(long = "dest", value_name = "DIR")]
        dests: Vec<PathBuf>,
        /// Also trust this manifest public key (hex or a .pub file); repeatable.
        #[arg(long = "trusted-key", value_name = "KEY")]
        trusted: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check a backup. Without an identity: the signed sidecar, the ciphertext's
    /// checksums (a damaged block is located) and the age header. With one: also
    /// decryption, every member's checksum, a trial restore into a scratch
    /// database and the restored audit chain. Exits with 2 when the backup is bad.
    Verify {
        archive: PathBuf,
        /// age identity file (e.g. from age-keygen, or age-plugin-yubikey).
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// For the passphrase copy: a file holding the passphrase.
        #[arg(long, value_name = "FILE", conflicts_with = "identity")]
        passphrase_file: Option<PathBuf>,
        #[arg(long = "trusted-key", value_name = "KEY")]
        trusted: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into an empty SQLite or PostgreSQL database.
    Restore {
        archive: PathBuf,
        #[arg(long, value_name = "FILE", required_unless_present = "passphrase_file")]
        identity: Option<PathBuf>,
        #[arg(long, value_name = "FILE", conflicts_with = "identity")]
        passphrase_file: Option<PathBuf>,
        /// Target database: postgres://… or sqlite://PATH.
        #[arg(long = "to", value_name = "URL")]
        to: String,
        /// Replace everything in a target that already holds data.
        #[arg(long)]
        force: bool,
        #[arg(long = "trusted-key", value_name = "KEY")]
        trusted: Vec<String>,
    },
    /// The restore drill: the newest backup, fully verified with a trial restore.
    /// Exits with 2 (and raises an alert) when it fails.
    Drill {
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
        #[arg(long = "dest", value_name = "DIR")]
        dests: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Remove old backups by the `[backup] keep_*` rules (audited).
    Prune {
        #[arg(long = "dest", value_name = "DIR")]
        dests: Vec<PathBuf>,
    },
    /// Print the manifest signing public key (creating the key pair if there is none).
    PublicKey,
}

fn identities(
    identity: Option<&PathBuf>,
    passphrase_file: Option<&PathBuf>,
) -> anyhow::Result<Option<Identities>> {
    Ok(match (identity, passphrase_file) {
        (Some(i), _) => Some(keys::identities(i)?),
        (None, Some(p)) => Some(read::passphrase_identity(keys::passphrase(p)?)),
        (None, None) => None,
    })
}

fn dirs(config: &Config, dests: Vec<PathBuf>) -> Vec<PathBuf> {
    if dests.is_empty() {
        config.backup.destination_dirs(&config.data_dir)
    } else {
        dests
    }
}

fn audit_keys(config: &Config) -> Vec<PublicKey> {
    let p = checkpoint::public_key_path(&config.audit.signing_key_path(&config.data_dir));
    PublicKey::read(&p).ok().into_iter().collect()
}

pub fn run(config: &Config, env: &Env, command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::PublicKey => {
            let signer = keys::signer(config)?;
            println!("{}", hex::encode(&signer.public().bytes));
            eprintln!(
                "key id {} (file {})",
                signer.public().id,
                checkpoint::public_key_path(&config.backup.signing_key_path(&config.data_dir))
                    .display()
            );
            Ok(())
        }
        BackupCommand::Run {
            recipients,
            dests,
            json,
        } => {
            let store = super::open_store(config)?;
            let mut plan = Plan::from_config(config, Trigger::Console, Who::console())?;
            if !recipients.is_empty() {
                plan.recipients = recipients;
            }
            if !dests.is_empty() {
                plan.destinations = dests;
            }
            let made = make::run(config, &store, env, &plan)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&made)?);
            } else {
                for f in &made.files {
                    for d in &f.destinations {
                        match &d.error {
                            None => println!("{}", d.dir.join(&f.name).display()),
                            Some(e) => eprintln!("warning: {e}"),
                        }
                    }
                }
                eprintln!(
                    "backup {}: {} tables, {} rows, manifest {}",
                    made.backup_id, made.tables, made.rows, made.manifest_sha256
                );
            }
            Ok(())
        }
        BackupCommand::List {
            dests,
            trusted,
            json,
        } => {
            let trusted = keys::trusted(config, &trusted)?;
            let listed = retention::list(&dirs(config, dests), &trusted)?;
            let runs = recent_runs(config, env);
            if json {
                let out = serde_json::json!({"archives": listed, "runs": runs});
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            if listed.is_empty() {
                println!("no backups");
            }
            for l in listed {
                println!(
                    "{}  {:>12}  {:<10}  {}  signature {}",
                    l.created_at,
                    l.size,
                    l.encryption,
                    l.path.display(),
                    l.signature
                );
            }
            if !runs.is_empty() {
                println!("recent runs, newest first:");
            }
            for r in &runs {
                let finished = r
                    .finished_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "  {}  {:<8}  {:<11}  finished {}{}",
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    r.trigger_kind,
                    r.state(),
                    finished,
                    r.error
                        .as_deref()
                        .map(|e| format!("  {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        BackupCommand::Verify {
            archive,
            identity,
            passphrase_file,
            trusted,
            json,
        } => {
            let trusted = keys::trusted(config, &trusted)?;
            let ids = identities(identity.as_ref(), passphrase_file.as_ref())?;
            let result = verify(config, &archive, ids.as_ref(), &trusted);
            let store = super::open_store(config)?;
            let mut conn = store.conn()?;
            let (outcome, detail) = match &result {
                Ok(v) => (Outcome::Ok, serde_json::to_value(v)?),
                Err(e) => (
                    Outcome::Failed,
                    serde_json::json!({"error": e.to_string(), "kind": e.kind()}),
                ),
            };
            let event = audit::Event::new("backup.verify", outcome)
                .by(Who::console())
                .detail(serde_json::json!({
                    "archive": archive.display().to_string(),
                    "decrypted": ids.is_some(),
                    "result": detail,
                }));
            audit::record(&mut conn, env, &RequestMeta::default(), &event)?;
            match result {
                Ok(v) if json => println!("{}", serde_json::to_string_pretty(&v)?),
                Ok(v) => print_verified(&v),
                Err(e) => {
                    eprintln!("BACKUP FAILED VERIFICATION: {e}");
                    return Err(super::audit_cmd::VerifyFailed.into());
                }
            }
            Ok(())
        }
        BackupCommand::Restore {
            archive,
            identity,
            passphrase_file,
            to,
            force,
            trusted,
        } => {
            let trusted = keys::trusted(config, &trusted)?;
            let ids = identities(identity.as_ref(), passphrase_file.as_ref())?
                .context("restore needs --identity FILE or --passphrase-file FILE")?;
            let target = Target::parse(&secrecy::SecretString::from(to.clone()))?;
            let expected = match read::check_sidecar(&archive, &trusted) {
                Ok(c) => Some(c.manifest_sha256),
                Err(BackupError::Archive(msg)) => {
                    eprintln!("note: {msg}; relying on the manifest's own signature");
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let mut conn = target.establish()?;
            let restored = restore::restore_into(
                &mut conn,
                &archive,
                &ids,
                &trusted,
                expected.as_deref(),
                force,
            )?;
            notify::after_restore(&mut conn, env, &Who::console(), &archive, &restored, force)?;
            println!(
                "restored backup {} of {} ({} tables, {} rows, from {} on {})",
                restored.backup_id,
                restored.created_at,
                restored.tables,
                restored.rows,
                restored.source_backend,
                restored.host
            );
            Ok(())
        }
        BackupCommand::Drill {
            identity,
            dests,
            json,
        } => {
            let trusted = keys::trusted(config, &[])?;
            let ids = keys::identities(&identity)?;
            let listed = retention::list(&dirs(config, dests), &trusted)?;
            let newest = listed.iter().find(|l| l.encryption == "recipients");
            let result = match newest {
                Some(l) => verify(config, &l.path, Some(&ids), &trusted),
                None => Err(BackupError::Refused("there is no backup to drill".into())),
            };
            let store = super::open_store(config)?;
            notify::after_drill(&store, env, newest.map(|l| l.path.clone()), &result)?;
            match result {
                Ok(v) if json => println!("{}", serde_json::to_string_pretty(&v)?),
                Ok(v) => print_verified(&v),
                Err(e) => {
                    eprintln!("RESTORE DRILL FAILED: {e}");
                    return Err(super::audit_cmd::VerifyFailed.into());
                }
            }
            Ok(())
        }
        BackupCommand::Prune { dests } => {
            let store = super::open_store(config)?;
            let trusted = keys::trusted(config, &[])?;
            let pruned = notify::prune_as(
                &store,
                env,
                &dirs(config, dests),
                &trusted,
                config,
                Who::console(),
            )?;
            for p in &pruned.removed {
                println!("removed {}", p.display());
            }
            eprintln!("{} backups kept", pruned.kept);
            Ok(())
        }
    }
}

/// The run history beside the archives, after marking runs whose process died.
/// A machine that holds the archives but cannot reach the database still lists
/// them (with a note).
fn recent_runs(config: &Config, env: &Env) -> Vec<runs::Run> {
    let found = super::open_store(config).and_then(|store| {
        crate::backup::liveness::sweep_logged(&store, env);
        let mut conn = store.conn()?;
        Ok(runs::recent(&mut conn, RECENT_RUNS)?)
    });
    found.unwrap_or_else(|e| {
        eprintln!("note: the run history is not shown: {e}");
        Vec::new()
    })
}

const RECENT_RUNS: i64 = 10;

#[derive(Debug, serde::Serialize)]
pub struct Verified {
    pub sidecar: Option<read::SidecarCheck>,
    pub trial: Option<restore::TrialReport>,
}

fn verify(
    config: &Config,
    archive: &std::path::Path,
    ids: Option<&Identities>,
    trusted: &[PublicKey],
) -> Result<Verified, BackupError> {
    let sidecar = read::check_sidecar(archive, trusted)?;
    let trial = match ids {
        None => None,
        Some(ids) => {
            let scratch = config.data_dir.join("backup").join("spool");
            crate::files::private_dir(&scratch)
                .map_err(|e| BackupError::Io(format!("{}: {e}", scratch.display())))?;
            Some(restore::trial(
                archive,
                ids,
                trusted,
                Some(&sidecar.manifest_sha256),
                &audit_keys(config),
                &scratch,
            )?)
        }
    };
    Ok(Verified {
        sidecar: Some(sidecar),
        trial,
    })
}

fn print_verified(v: &Verified) {
    if let Some(s) = &v.sidecar {
        println!(
            "signature ok (key {}), ciphertext intact: {} bytes, {} encryption, backup {} of {} from {}",
            s.signed_by, s.size, s.encryption, s.backup_id, s.created_at, s.host
        );
    }
    match &v.trial {
        Some(t) => println!(
            "decrypted, every member matches the signed manifest; trial restore: {} tables, {} rows; audit chain verified ({} events, head {})",
            t.restored.tables, t.restored.rows, t.audit.events, t.audit.head_seq
        ),
        None => {
            println!("(not decrypted: pass --identity FILE for the full check and a trial restore)")
        }
    }
}
