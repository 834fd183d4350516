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
//! HOLDFAST_BENCH_SOURCE=/work/bench/demo-1m.db cargo bench --bench backup
//! ```
//! `HOLDFAST_BENCH_SOURCE` takes an existing demo database instead of loading
//! one: it is copied (reflink where the file system can) and only the copy is
//! used, so a shared file is never written to.
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

/// The 1-minute load average: the machine is shared, so it goes with the numbers.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn count_clients(url: &str) -> anyhow::Result<i64> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let store = Store::open(&SecretString::from(url.to_string()), 1)?;
    let mut conn = store.conn()?;
    let n: Vec<N> = diesel::sql_query("SELECT COUNT(*) AS n FROM clients").load(&mut conn)?;
    Ok(n.first().map_or(0, |n| n.n))
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
    let source = std::env::var("HOLDFAST_BENCH_SOURCE")
        .ok()
        .filter(|p| !p.is_empty());
    let what = match &source {
        Some(src) => {
            std::fs::create_dir_all(&data)?;
            let copied = Command::new("cp")
                .arg("--reflink=auto")
                .arg(src)
                .arg(&db)
                .status()?;
            if !copied.success() {
                bail!("copying {src} failed");
            }
            format!("a copy of {src}")
        }
        None => {
            let store = Store::open(&SecretString::from(url.clone()), 2)?;
            holdfast::demo::load(
                &store,
                &env,
                clients,
                7,
                &SecretString::from("correct horse battery staple".to_string()),
            )?;
            format!("{clients} clients")
        }
    };
    eprintln!(
        "demo data: {what} in {:.0} s, database {} MB",
        started.elapsed().as_secs_f64(),
        size(&db) / 1_000_000
    );
    let clients = count_clients(&url)?;
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
            .env_remove("HOLDFAST_BENCH_SOURCE")
            .env("HOLDFAST_LOG__LEVEL", "warn");
        c
    };

    let load_before = load_average();
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
        "## backup and restore ({clients} clients, SQLite, database {} MB; load average before / after: {load_before} / {})",
        size(&db) / 1_000_000,
        load_average()
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
