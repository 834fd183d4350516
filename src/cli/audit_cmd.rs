//! `holdfast audit …`: verify the chain offline, make a checkpoint, show the key.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::audit::RequestMeta;
use crate::audit::archive;
use crate::audit::checkpoint::{self, PublicKey, Signer};
use crate::audit::values::ValuePolicy;
use crate::audit::verify::{self, Report};
use crate::clock::Env;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute the hash chain and check every signed checkpoint; report the first
    /// broken place. Exits with 2 when the log was tampered with.
    Verify {
        /// Public key(s) that sign checkpoints (hex files as written beside the
        /// signing key). Default: the configured key's `.pub` file.
        #[arg(long = "public-key", value_name = "FILE")]
        public_keys: Vec<PathBuf>,
        /// Exported checkpoints (JSON lines) to check too. Default: the configured
        /// `audit.checkpoint_file`, when it exists.
        #[arg(long = "checkpoints", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Archive files (from `audit archive`) whose events to re-check too.
        #[arg(long = "archive", value_name = "FILE")]
        archives: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the current head now and send it where configured.
    Checkpoint,
    /// Move old events to a signed archive file (JSON lines), after checking their
    /// chain. With --prune, then delete them from the database; `verify` continues
    /// the chain from the archive and re-checks the file with --archive.
    Archive {
        /// Archive events up to this position (inclusive)…
        #[arg(long, conflicts_with = "before", required_unless_present = "before")]
        through: Option<i64>,
        /// …or all events older than this date (YYYY-MM-DD, UTC).
        #[arg(long)]
        before: Option<chrono::NaiveDate>,
        /// Where the file goes (default: <data_dir>/audit/archive). Keep a copy on
        /// another disk: once pruned, the file is the only copy of those events.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Delete the archived events from the database after re-reading the file.
        #[arg(long)]
        prune: bool,
    },
    /// Delete the events of an archive file from the database (the file is checked
    /// against its signed record first).
    Prune {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the checkpoint public key (creating the key pair if there is none).
    PublicKey,
    /// Print how VALUE appears in write events under `audit.changed_values =
    /// "hash"`, to search the log for an old phone number or name. Phones and
    /// emails are hashed in their normalised form (+995599123456, lower-case).
    HashValue { value: String },
}

/// The chain is broken: distinct from "could not run" so scripts can tell.
#[derive(Debug, thiserror::Error)]
#[error("the audit log failed verification")]
pub struct VerifyFailed;

pub fn run(config: &Config, env: &Env, command: AuditCommand) -> anyhow::Result<()> {
    let key_path = config.audit.signing_key_path(&config.data_dir);
    match command {
        AuditCommand::HashValue { value } => {
            let policy = ValuePolicy::hashed(&config.audit.values_key_path(&config.data_dir))?;
            println!("{}", policy.show(Some(&value)).as_str().unwrap_or_default());
            Ok(())
        }
        AuditCommand::PublicKey => {
            let signer = Signer::load_or_create(&key_path)?;
            println!("{}", hex::encode(&signer.public().bytes));
            eprintln!(
                "key id {} (file {})",
                signer.public().id,
                checkpoint::public_key_path(&key_path).display()
            );
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let store = super::open_store(config)?;
            let signer = std::sync::Arc::new(Signer::load_or_create(&key_path)?);
            let exports = checkpoint::Exports::from_config(config)?;
            let made = actix_web::rt::System::new()
                .block_on(checkpoint::make_and_send(&store, &signer, env, &exports))?;
            match made {
                Some(cp) => println!("{}", serde_json::to_string(&cp)?),
                None => println!("the head is already checkpointed (or the log is empty)"),
            }
            Ok(())
        }
        AuditCommand::Archive {
            through,
            before,
            dir,
            prune,
        } => {
            let signer = Signer::load_or_create(&key_path)?;
            let dir = dir.unwrap_or_else(|| config.data_dir.join("audit").join("archive"));
            let store = super::open_store(config)?;
            let mut conn = store.conn()?;
            let through = match (through, before) {
                (Some(seq), _) => seq,
                (None, Some(date)) => {
                    let Some(seq) = archive::last_before(&mut conn, date)? else {
                        println!("no events before {date}");
                        return Ok(());
                    };
                    seq
                }
                (None, None) => anyhow::bail!("give --through SEQ or --before DATE"),
            };
            let (segment, path) = archive::write(&mut conn, &signer, env, through, &dir)?;
            println!(
                "archived events {}..{} ({} events) to {}",
                segment.first_seq,
                segment.last_seq,
                segment.events,
                path.display()
            );
            if prune {
                let deleted =
                    archive::prune(&mut conn, env, &path, std::slice::from_ref(signer.public()))?;
                println!("pruned {deleted} events from the database");
            }
            Ok(())
        }
        AuditCommand::Prune { file } => {
            let signer = Signer::load_or_create(&key_path)?;
            let store = super::open_store(config)?;
            let mut conn = store.conn()?;
            let deleted =
                archive::prune(&mut conn, env, &file, std::slice::from_ref(signer.public()))?;
            println!("pruned {deleted} events from the database");
            Ok(())
        }
        AuditCommand::Verify {
            public_keys,
            checkpoints,
            archives,
            json,
        } => {
            let keys = if public_keys.is_empty() {
                let default = checkpoint::public_key_path(&key_path);
                vec![PublicKey::read(&default).with_context(|| {
                    "no checkpoint public key; pass --public-key FILE".to_string()
                })?]
            } else {
                public_keys
                    .iter()
                    .map(|p| PublicKey::read(p))
                    .collect::<Result<_, _>>()?
            };
            let files = if checkpoints.is_empty() {
                config
                    .audit
                    .checkpoint_file
                    .iter()
                    .filter(|p| p.exists())
                    .cloned()
                    .collect()
            } else {
                checkpoints
            };
            let mut external = Vec::new();
            for f in &files {
                external.extend(checkpoint::read_exported(f)?);
            }
            let store = super::open_store(config)?;
            let mut conn = store.conn()?;
            let report = verify::verify_with(&mut conn, &keys, &external, &archives)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            remember(&mut conn, env, &report, &files);
            if report.ok() {
                Ok(())
            } else {
                Err(VerifyFailed.into())
            }
        }
    }
}

fn print_report(r: &Report) {
    match &r.problem {
        None => println!("audit log: OK"),
        Some(b) => {
            println!(
                "audit log: BROKEN at position {} ({})",
                b.seq,
                serde_json::to_value(b.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            println!("  {}", b.message);
        }
    }
    println!(
        "  events checked: {} ({} from before the chain began)",
        r.events, r.unchained
    );
    println!("  head: position {}, hash {}", r.head_seq, r.head_hash);
    match r.last_checkpoint {
        Some(seq) => println!(
            "  signed checkpoints: {} valid, newest at position {seq}",
            r.checkpoints
        ),
        None => println!("  signed checkpoints: none yet"),
    }
    if r.archives > 0 {
        println!(
            "  archives: {} signed records; {} events only in archive files, {} files re-checked",
            r.archives, r.archived_events, r.archive_files
        );
    }
    println!(
        "  {:.2} s, {:.0} events/s",
        r.seconds,
        r.events_per_second()
    );
}

/// The result goes into the log itself, so the owner's pages can show the last
/// verification. A failure to record is reported but does not change the verdict.
fn remember(conn: &mut crate::store::DbConn, env: &Env, r: &Report, files: &[PathBuf]) {
    let event = verify::event(r, crate::audit::Who::console(), files.len());
    if let Err(e) = crate::audit::record(conn, env, &RequestMeta::default(), &event) {
        eprintln!("warning: could not record this verification in the audit log: {e}");
    }
}
