//! The funnel, revenue and clients-at-risk reports at scale, through the Gate (role check, SQL
//! scope, the aggregate queries, the audit event), for an owner (everything), a
//! team lead (a team) and a salesperson (their own), against a baseline measured
//! in the same run on the same rows: a plain `COUNT(*)` (and sum) over the deals,
//! or the issued invoices, of the same period, with no grouping and no scope.
//!
//! ```text
//! cargo bench --bench reports                                  # SQLite, 1 000 000 clients
//! HOLDFAST_BENCH_CLIENTS=100000 cargo bench --bench reports    # quick
//! HOLDFAST_BENCH_SQLITE=/tmp/reports.db cargo bench --bench reports   # keep (or reuse) the file
//! HOLDFAST_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/postgres …  # PostgreSQL too
//! ```
//!
//! Settings: `HOLDFAST_BENCH_CLIENTS` (1 000 000), `HOLDFAST_BENCH_RUNS` per
//! workload (60), `HOLDFAST_BENCH_SQLITE` (a database file to load into, or to
//! reuse when it already holds the demo data; default: a temporary file) and
//! `HOLDFAST_BENCH_PG_DATABASE` (the same for PostgreSQL: a database of that name
//! next to the URL's, created when missing and kept).
//!
//! The owner's session is treated as elevated (the hardware-key rule is
//! configured off for this process): the bench measures the queries and the
//! audit write, not the key ceremony.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use chrono::{Duration, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;
use holdfast::access::{DetectRules, Gate, KeyRules, Policy};
use holdfast::audit::values::ValuePolicy;
use holdfast::audit::{AuditLog, RequestMeta};
use holdfast::clock::Env;
use holdfast::config::KeysConfig;
use holdfast::crm::reports::{AtRiskQuery, PeriodInput};
use holdfast::identity::{Actor, Role};
use holdfast::store::Store;
use holdfast::store::schema::{clients, deals, invoices, users as user_rows};
use secrecy::SecretString;

#[path = "support/fresh_pg.rs"]
mod fresh_pg;
#[path = "support/owner.rs"]
mod owner;
use fresh_pg::FreshPg;

const SEED: u64 = 11;
const PASSWORD: &str = "bench-password-2026";
const OWNER: &str = "bench.owner";
const MANAGER: &str = "manager.north";
const SALES: &str = "sales.north.1";

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a number, not `{v}`")),
        Err(_) => Ok(default),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Funnel(Role),
    Revenue(Role),
    AtRisk(Role),
    DealCount,
    InvoiceSum,
}

impl Work {
    const ALL: [Work; 11] = [
        Work::Funnel(Role::Owner),
        Work::Funnel(Role::Manager),
        Work::Funnel(Role::Sales),
        Work::DealCount,
        Work::Revenue(Role::Owner),
        Work::Revenue(Role::Manager),
        Work::Revenue(Role::Sales),
        Work::InvoiceSum,
        Work::AtRisk(Role::Owner),
        Work::AtRisk(Role::Manager),
        Work::AtRisk(Role::Sales),
    ];

    /// The baseline a workload is compared with.
    fn baseline(self) -> Option<Work> {
        match self {
            Work::Funnel(_) => Some(Work::DealCount),
            Work::Revenue(_) | Work::AtRisk(_) => Some(Work::InvoiceSum),
            Work::DealCount | Work::InvoiceSum => None,
        }
    }

    fn label(self) -> String {
        let who = |r: Role| match r {
            Role::Owner => "owner (all)",
            Role::Manager => "team lead (team)",
            _ => "salesperson (own)",
        };
        match self {
            Work::Funnel(r) => format!("funnel, 365 days, {}", who(r)),
            Work::Revenue(r) => format!("revenue, 12 months, {}", who(r)),
            Work::AtRisk(r) => format!("clients at risk, first 100, {}", who(r)),
            Work::DealCount => "baseline: COUNT(*) of the period's deals".into(),
            Work::InvoiceSum => "baseline: COUNT(*), SUM(total) of the period's invoices".into(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let clients = env_number("HOLDFAST_BENCH_CLIENTS", 1_000_000)?;
    let runs = env_number("HOLDFAST_BENCH_RUNS", 60)?.max(5);
    let env = Env::system();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut tables = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite_path = std::env::var("HOLDFAST_BENCH_SQLITE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| dir.path().join("reports.db").display().to_string());
    let sqlite = format!("sqlite://{sqlite_path}");
    tables.push(runtime.block_on(run("SQLite", &sqlite, clients, runs, &env))?);
    if let Ok(admin) = std::env::var("HOLDFAST_BENCH_DATABASE_URL") {
        let pg = FreshPg::kept_or_fresh(&admin, &env)?;
        tables.push(runtime.block_on(run("PostgreSQL", &pg.url, clients, runs, &env))?);
    }
    for t in tables {
        println!("{t}");
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn actor(store: &Store, username: &str) -> anyhow::Result<Actor> {
    let mut conn = store.conn()?;
    let (id, name, role, team): (String, String, String, Option<String>) = user_rows::table
        .filter(user_rows::username.eq(username))
        .select((
            user_rows::id,
            user_rows::display_name,
            user_rows::role,
            user_rows::team_id,
        ))
        .first(&mut conn)
        .with_context(|| format!("no user {username}"))?;
    let role = match role.as_str() {
        "owner" => Role::Owner,
        "manager" => Role::Manager,
        "sales" => Role::Sales,
        other => return Err(anyhow!("unexpected role {other}")),
    };
    Ok(Actor {
        user_id: id,
        username: username.into(),
        display_name: name,
        role,
        team_id: team,
        session_ref: "bench".into(),
        elevation: None,
    })
}

async fn run(
    backend: &str,
    url: &str,
    clients: usize,
    runs: usize,
    env: &Env,
) -> anyhow::Result<String> {
    let store = Store::open(&SecretString::from(url.to_string()), 0)?;
    let have: i64 = clients::table
        .count()
        .get_result(&mut *store.conn()?)
        .unwrap_or(0);
    let password = SecretString::from(PASSWORD.to_string());
    if have == 0 {
        eprintln!("{backend}: loading {clients} demo clients…");
        let t = Instant::now();
        let summary = holdfast::demo::load(&store, env, clients, SEED, &password)
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!("{summary}\n(loaded in {:.0} s)", t.elapsed().as_secs_f64());
    } else {
        eprintln!("{backend}: reusing {have} clients already in {url}");
    }
    owner::ensure_owner(&mut *store.conn()?, env, OWNER, &password)?;
    let rows = {
        let mut conn = store.conn()?;
        let deals: i64 = deals::table.count().get_result(&mut conn)?;
        let invoices: i64 = invoices::table.count().get_result(&mut conn)?;
        (deals, invoices)
    };
    let policy = Arc::new(Policy::load(None).await?);
    let audit = AuditLog::start(store.clone(), env.clone(), ValuePolicy::Keep)?;
    let keys = KeysConfig {
        privileged_roles: vec![],
        ..KeysConfig::default()
    };
    // A kept database carries the counters of earlier runs (the HTTP bench's
    // user reads thousands of cards): the detector would step the salesperson up.
    let mut config = holdfast::config::Config::default();
    config.detection.enabled = false;
    let detection = DetectRules::from_config(&config).map_err(|e| anyhow!(e))?;
    let gate = Gate::new(store.clone(), policy, env.clone(), None, None, audit)
        .with_key_rules(KeyRules::from_config(&keys))
        .with_detection(detection);
    let owner = actor(&store, OWNER)?;
    let manager = actor(&store, MANAGER)?;
    let sales = actor(&store, SALES)?;
    let who = |r: Role| match r {
        Role::Owner => &owner,
        Role::Manager => &manager,
        _ => &sales,
    };
    let meta = RequestMeta::default();
    let today = env.now().date_naive();
    let funnel_from = (today - Duration::days(364)).to_string();
    let revenue_from = {
        use chrono::Datelike;
        let first = today.with_day(1).unwrap_or(today);
        let m = first.year() * 12 + first.month0() as i32 - 11;
        chrono::NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1)
            .unwrap_or(first)
    };
    let start_of =
        |d: chrono::NaiveDate| -> NaiveDateTime { d.and_hms_opt(0, 0, 0).unwrap_or_default() };
    let funnel_start = start_of(today - Duration::days(364));
    let revenue_start = start_of(revenue_from);
    let end = start_of(today + Duration::days(1));
    let period = |from: &str| PeriodInput {
        from: Some(from.to_string()),
        to: Some(today.to_string()),
    };
    let revenue_from = revenue_from.to_string();

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Work::ALL.len()];
    let mut checks: Vec<String> = vec![String::new(); Work::ALL.len()];
    // One warm-up round, then `runs` interleaved rounds (machine noise falls on
    // every workload alike).
    for round in 0..=runs {
        for (i, w) in Work::ALL.iter().enumerate() {
            let t = Instant::now();
            let note = match *w {
                Work::Funnel(r) => {
                    let f = gate
                        .report_funnel(who(r), &meta, period(&funnel_from))
                        .await
                        .map_err(|e| anyhow!("funnel: {e}"))?;
                    format!("{} deals, {} owners", f.total.deals, f.by_owner.len())
                }
                Work::Revenue(r) => {
                    let f = gate
                        .report_revenue(who(r), &meta, period(&revenue_from))
                        .await
                        .map_err(|e| anyhow!("revenue: {e}"))?;
                    let n: i64 = f.totals.iter().map(|t| t.invoices).sum();
                    format!("{n} invoices, {} currencies", f.totals.len())
                }
                Work::AtRisk(r) => {
                    let f = gate
                        .report_at_risk(
                            who(r),
                            &meta,
                            AtRiskQuery {
                                limit: Some("100".into()),
                            },
                        )
                        .await
                        .map_err(|e| anyhow!("at risk: {e}"))?;
                    format!("{} clients listed", f.clients.len())
                }
                Work::DealCount => {
                    let mut conn = store.conn()?;
                    let n: i64 = deals::table
                        .filter(deals::created_at.ge(funnel_start))
                        .filter(deals::created_at.lt(end))
                        .count()
                        .get_result(&mut conn)?;
                    format!("{n} deals")
                }
                Work::InvoiceSum => {
                    let mut conn = store.conn()?;
                    let (n, _sum): (i64, i64) = invoices::table
                        .filter(invoices::state.eq("sent"))
                        .filter(invoices::issued_at.ge(revenue_start))
                        .filter(invoices::issued_at.lt(end))
                        .select((
                            count_star(),
                            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                                "CAST(COALESCE(SUM(total_e4), 0) AS BIGINT)",
                            ),
                        ))
                        .first(&mut conn)?;
                    format!("{n} invoices")
                }
            };
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if round > 0 {
                samples[i].push(ms);
            }
            checks[i] = note;
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "\n## reports, {backend}: {clients} clients, {} deals, {} invoices, {runs} runs each\n\n",
        rows.0, rows.1
    ));
    out.push_str(
        "| workload | rows aggregated | p50 ms | p99 ms | mean ms | ratio to its baseline (p50) |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    let p50 = |w: Work| -> f64 {
        let i = Work::ALL.iter().position(|x| *x == w).unwrap_or(0);
        let mut s = samples[i].clone();
        s.sort_by(|a, b| a.total_cmp(b));
        percentile(&s, 50.0)
    };
    for (i, w) in Work::ALL.iter().enumerate() {
        let mut s = samples[i].clone();
        s.sort_by(|a, b| a.total_cmp(b));
        let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
        let ratio = match w.baseline() {
            Some(b) => format!("{:.1}×", percentile(&s, 50.0) / p50(b).max(0.001)),
            None => "1×".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} |\n",
            w.label(),
            checks[i],
            percentile(&s, 50.0),
            percentile(&s, 99.0),
            mean,
            ratio
        ));
    }
    Ok(out)
}
