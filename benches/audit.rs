//! `holdfast audit verify` at scale: how many events per second the chain check
//! runs at, against two ceilings measured in the same run on the same data:
//! SHA-256 over the canonical encodings alone (rows already in memory) and reading
//! the rows alone (no hashing). Verification pipelines the two, so the target is
//! to run at the slower of them, i.e. to be limited by SHA-256, not the driver.
//!
//! ```text
//! cargo bench --bench audit                                   # SQLite, 10 000 000 events
//! HOLDFAST_BENCH_EVENTS=1000000 cargo bench --bench audit     # quick
//! HOLDFAST_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo bench --bench audit
//! ```

use std::time::Instant;

use anyhow::{Context, anyhow};
use diesel::prelude::*;
use holdfast::audit::{self, Event, Outcome, RequestMeta, Who, chain, reading, verify};
use holdfast::clock::Env;
use holdfast::store::models::audit_events::AuditRow;
use holdfast::store::schema::audit_events;
use holdfast::store::{Store, write_tx};
use secrecy::SecretString;
use serde_json::json;

#[path = "support/fresh_pg.rs"]
mod fresh_pg;
use fresh_pg::FreshPg;

const BATCH: usize = 10_000;
/// Rows kept in memory for the hash-only ceiling.
const HASH_SAMPLE: i64 = 1_000_000;

fn main() -> anyhow::Result<()> {
    let events: usize = std::env::var("HOLDFAST_BENCH_EVENTS")
        .ok()
        .map(|v| v.replace('_', "").parse())
        .transpose()
        .context("HOLDFAST_BENCH_EVENTS")?
        .unwrap_or(10_000_000);
    let env = Env::system();
    let mut results = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("audit.db").display());
    results.push(run("SQLite", &sqlite, events, &env)?);
    if let Ok(admin) = std::env::var("HOLDFAST_BENCH_DATABASE_URL") {
        let pg = FreshPg::create(&admin, &env)?;
        results.push(run("PostgreSQL", &pg.url, events, &env)?);
    }
    println!();
    println!("## audit verify ({events} events)");
    println!();
    println!(
        "| backend | write ev/s | read as rows ev/s | read encoded ev/s | SHA-256 only ev/s | verify ev/s | verify / SHA-256 | verify / read encoded |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.backend,
            r.write,
            r.rows_read,
            r.read,
            r.hash,
            r.verify,
            r.verify / r.hash,
            r.verify / r.read
        );
    }
    Ok(())
}

struct Rates {
    backend: &'static str,
    write: f64,
    rows_read: f64,
    read: f64,
    hash: f64,
    verify: f64,
}

/// Events shaped like real traffic: mostly card reads, some list pages with 25
/// ids, sign-ins, a few denials.
fn event(i: usize) -> Event {
    let who = Who {
        id: format!("{:08x}-1111-4111-8111-{:012x}", i % 40, i % 40),
        role: "sales".into(),
        session_ref: Some(format!("{:016x}", i % 997)),
    };
    let id = |k: usize| format!("{:08x}-2222-4222-8222-{:012x}", k % 1_000_000, k);
    match i % 20 {
        0..=15 => Event::new("client.read", Outcome::Ok)
            .by(who)
            .on("client", [id(i)])
            .detail(json!({})),
        16..=18 => Event::new("client.list", Outcome::Ok)
            .by(who)
            .on("client", (0..25).map(|k| id(i * 25 + k)))
            .detail(json!({"q": null, "status": null, "count": 25})),
        _ => Event::new("session.login", Outcome::Denied)
            .by(who)
            .detail(json!({"reason": "bad password"})),
    }
}

fn run(backend: &'static str, url: &str, n: usize, env: &Env) -> anyhow::Result<Rates> {
    let store = Store::open(&SecretString::from(url.to_string()), 2)?;
    let mut conn = store.conn()?;
    let meta = RequestMeta {
        request_id: "bench".into(),
        ip: Some("198.51.100.23".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0".into()),
    };
    let started = Instant::now();
    let mut written = 0;
    while written < n {
        let k = BATCH.min(n - written);
        let rows = (written..written + k)
            .map(|i| audit::prepare(env, &meta, &event(i)))
            .collect::<Result<Vec<_>, _>>()?;
        write_tx(&mut conn, |c| chain::append(c, rows))?;
        written += k;
        if written % 1_000_000 == 0 {
            eprintln!("{backend}: {written} events written");
        }
    }
    let write = n as f64 / started.elapsed().as_secs_f64();

    // Read only, as diesel rows: the row structs verify read before.
    let started = Instant::now();
    let (mut after, mut read_rows) = (i64::MIN, 0usize);
    loop {
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(20_000)
            .select(AuditRow::as_select())
            .load(&mut *conn)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        read_rows += rows.len();
    }
    let rows_read = read_rows as f64 / started.elapsed().as_secs_f64();

    // Read only, as verify reads now: the same keyset batches straight into
    // encodings, no hashing.
    let started = Instant::now();
    let (mut after, mut read_rows) = (i64::MIN, 0usize);
    let mut batch = reading::Batch::default();
    loop {
        reading::read(&mut conn, after, i64::MAX, 20_000, &mut batch)?;
        let Some(last) = batch.last_seq() else { break };
        after = last;
        read_rows += batch.len();
    }
    let read = read_rows as f64 / started.elapsed().as_secs_f64();

    // SHA-256 only: encodings and hashes of rows already in memory.
    let sample: Vec<AuditRow> = audit_events::table
        .order(audit_events::seq.asc())
        .limit(HASH_SAMPLE)
        .select(AuditRow::as_select())
        .load(&mut *conn)?;
    let mut buf = Vec::with_capacity(1024);
    let started = Instant::now();
    let mut x = 0u8;
    for row in &sample {
        let prev = row.prev_hash.as_deref().unwrap_or(&chain::GENESIS);
        x ^= chain::hash_with(prev, &chain::Fields::from(row), &mut buf)[0];
    }
    let hash = sample.len() as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(x);

    let report = verify::verify(&mut conn, &[], &[])?;
    if !report.ok() || report.events != n as u64 {
        return Err(anyhow!("verification failed: {:?}", report.problem));
    }
    eprintln!(
        "{backend}: written {write:.0} ev/s, read {rows_read:.0} ev/s as rows, {read:.0} ev/s encoded, hash {hash:.0} ev/s, verify {:.0} ev/s",
        report.events_per_second()
    );
    Ok(Rates {
        backend,
        write,
        rows_read,
        read,
        hash,
        verify: report.events_per_second(),
    })
}
