//! Backing up and restoring the demo database, next to the shell pipeline a user
//! might write instead, measured in the same run on the same data:
//! `sqlite3 DB ".backup COPY"` then `age -r R -o COPY.age COPY`, and for restore
//! `age -d` to a file. Holdfast does more (typed JSON lines per table, hashes,
//! a signed manifest and sidecar, and on restore a read-back check of every table),
//! so the target is a ratio, not parity: at most 1.5× the pipeline's time.
//! Each side runs as its own process under `/usr/bin/time -v` for peak memory.
//!
//! ```text
//! cargo bench --bench backup                                  # 1 000 000 clients
//! HOLDFAST_BENCH_CLIENTS=100000 cargo bench --bench backup    # quick
//! ```
//! Needs `sqlite3`, `age` and `/usr/bin/time` (Debian: sqlite3, age, time).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use holdfast::clock::Env;
use holdfast::store::Store;
use secrecy::SecretString;

struct Measured {
    seconds: f64,
    peak_kib: u64,
}

/// Runs `cmd` under `/usr/bin/time -v`: wall time and the peak resident set.
fn measure(cmd: Command) -> anyhow::Result<Measured> {
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let started = Instant::now();
    let out = timed.output()?;
    let seconds = started.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{:?} failed: {err}", cmd.get_program());
    }
    let peak_kib = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Measured { seconds, peak_kib })
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let clients: usize = std::env::var("HOLDFAST_BENCH_CLIENTS")
        .ok()
        .map(|v| v.replace('_', "").parse())
        .transpose()
        .context("HOLDFAST_BENCH_CLIENTS")?
        .unwrap_or(1_000_000);
    let holdfast = env!("CARGO_BIN_EXE_holdfast");
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let db = data.join("holdfast.db");
    let url = format!("sqlite://{}", db.display());
    let env = Env::system();
    let started = Instant::now();
    {
        let store = Store::open(&SecretString::from(url.clone()), 2)?;
        holdfast::demo::load(
            &store,
            &env,
            clients,
            7,
            &SecretString::from("correct horse battery staple".to_string()),
        )?;
    }
    eprintln!(
        "demo data: {clients} clients in {:.0} s, database {} MB",
        started.elapsed().as_secs_f64(),
        size(&db) / 1_000_000
    );
    let id = age::x25519::Identity::generate();
    let key = dir.path().join("key.txt");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&key, format!("{}\n", id.to_string().expose_secret()))?;
    }
    let recipient = id.to_public().to_string();
    let dest = dir.path().join("dest");
    let config = dir.path().join("holdfast.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[backup]\nrecipients = [\"{recipient}\"]\ndestinations = [\"{}\"]\n",
            data.display(),
            dest.display()
        ),
    )?;
    let hf = |args: &[&str]| {
        let mut c = Command::new(holdfast);
        c.args(["--config", &config.display().to_string()])
            .args(args)
            .env_remove("HOLDFAST_TEST_DATABASE_URL")
            .env_remove("HOLDFAST_DATABASE__URL")
            // The bench's own setting would be an unknown configuration key.
            .env_remove("HOLDFAST_BENCH_CLIENTS")
            .env("HOLDFAST_LOG__LEVEL", "warn");
        c
    };

    // Backup: the pipeline, then Holdfast (same page cache state for both: the
    // pipeline runs first and warms it, so Holdfast is not disadvantaged by it).
    let copy = dir.path().join("copy.db");
    let piped = dir.path().join("copy.db.age");
    let pipeline = measure(sh(&format!(
        "sqlite3 '{}' \".backup '{}'\" && age -r {recipient} -o '{}' '{}'",
        db.display(),
        copy.display(),
        piped.display(),
        copy.display()
    )))?;
    let ours = measure(hf(&["backup", "run"]))?;
    let archive = std::fs::read_dir(&dest)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.age"))
        .context("no archive")?;

    // Restore: the pipeline decrypts to a database file; Holdfast decrypts,
    // checks, inserts and reads every table back.
    let back = dir.path().join("back.db");
    let pipeline_restore = measure(sh(&format!(
        "age -d -i '{}' -o '{}' '{}'",
        key.display(),
        back.display(),
        piped.display()
    )))?;
    let restored = dir.path().join("restored.db");
    let ours_restore = measure(hf(&[
        "backup",
        "restore",
        &archive.display().to_string(),
        "--identity",
        &key.display().to_string(),
        "--to",
        &format!("sqlite://{}", restored.display()),
    ]))?;

    println!();
    println!(
        "## backup and restore ({clients} clients, SQLite, database {} MB)",
        size(&db) / 1_000_000
    );
    println!();
    println!(
        "| step | pipeline s | Holdfast s | ratio | pipeline peak MB | Holdfast peak MB | pipeline output MB | Holdfast output MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| backup | {:.1} | {:.1} | {:.2}× | {} | {} | {} | {} |",
        pipeline.seconds,
        ours.seconds,
        ours.seconds / pipeline.seconds,
        pipeline.peak_kib / 1024,
        ours.peak_kib / 1024,
        size(&piped) / 1_000_000,
        size(&archive) / 1_000_000
    );
    println!(
        "| restore | {:.1} | {:.1} | {:.2}× | {} | {} | {} | {} |",
        pipeline_restore.seconds,
        ours_restore.seconds,
        ours_restore.seconds / pipeline_restore.seconds,
        pipeline_restore.peak_kib / 1024,
        ours_restore.peak_kib / 1024,
        size(&back) / 1_000_000,
        size(&restored) / 1_000_000
    );
    Ok(())
}
