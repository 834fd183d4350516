//! `holdfast trace FILE | --email E | --phone P`: which export a leaked file, or
//! a seed email or phone that someone outside contacted, came from. The trace is
//! itself recorded in the audit log (`export.trace`, by the console).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::access::console_trace;
use crate::clock::Env;
use crate::config::Config;
use crate::exports::trace::Clue;

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A leaked export file (CSV, XLSX or JSON; a part of one works too).
    #[arg(value_name = "FILE", conflicts_with_all = ["email", "phone"])]
    pub file: Option<PathBuf>,
    /// A seed email address that received mail.
    #[arg(long, conflicts_with = "phone")]
    pub email: Option<String>,
    /// A seed phone number that was called.
    #[arg(long)]
    pub phone: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Nothing matched: distinct from "could not run".
#[derive(Debug, thiserror::Error)]
#[error("no export matches")]
pub struct NoMatch;

pub fn run(config: &Config, env: &Env, args: TraceArgs) -> anyhow::Result<()> {
    let clue = match (args.file, args.email, args.phone) {
        (Some(f), None, None) => {
            Clue::File(std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?)
        }
        (None, Some(e), None) => Clue::Email(e),
        (None, None, Some(p)) => Clue::Phone(p),
        _ => bail!("give a FILE, --email or --phone"),
    };
    let store = super::open_store(config)?;
    let mut conn = store.conn()?;
    let hits = console_trace(&mut conn, env, &clue).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        println!("no export matches");
    } else {
        for h in &hits {
            let e = &h.export;
            println!(
                "export {}  by {} ({})  at {}  {} rows as {}  state {}",
                e.id,
                e.requested_by.name,
                e.requested_by.id,
                e.requested_at.format("%Y-%m-%d %H:%M:%S UTC"),
                e.row_count,
                e.format,
                e.state.as_str(),
            );
            if h.exact_file {
                println!("  the file is byte for byte this export's download");
            }
            if h.seeds_total > 0 {
                println!(
                    "  {} of its {} seed records found: {}",
                    h.seeds_found,
                    h.seeds_total,
                    h.matched.join(", ")
                );
            }
        }
    }
    if hits.is_empty() {
        return Err(NoMatch.into());
    }
    Ok(())
}
