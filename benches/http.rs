//! What the access layer costs over HTTPS: the guarded client routes (casbin role
//! check, SQL scope, per-row check, audit write) against the bench-only baseline
//! routes (same session lookup and the same domain queries, no policy check, no
//! audit write), on a demo database of realistic size.
//!
//! ```text
//! cargo bench --features bench --bench http
//! HOLDFAST_BENCH_CLIENTS=50000 cargo bench --features bench --bench http   # quick
//! HOLDFAST_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/postgres …     # PostgreSQL too
//! ```
//!
//! Steps, per backend: generate the clients with `holdfast::demo::load` into a
//! fresh database (SQLite in a temporary directory; on PostgreSQL a new database
//! created next to the one the URL names, dropped afterwards); start the real
//! server in this process (`AppState::new` + `web::run`, TLS with a fresh
//! certificate); sign in as a sales user and as an owner over HTTPS; then run
//! eleven workloads in interleaved blocks, so that machine noise falls on all of
//! them alike:
//!
//! * card read, guarded:   `GET /api/v1/clients/{id}` (the user's own clients)
//! * card read, guarded, audit off: `GET /api/v1/bench-unaudited/clients/{id}`
//!   (the same policy check and scope, no audit event: the audit write's cost)
//! * card read, baseline:  `GET /api/v1/bench-baseline/clients/{id}`
//! * list page, guarded:   `GET /api/v1/clients?limit=25&cursor=…`
//! * list page, baseline:  `GET /api/v1/bench-baseline/clients?limit=25&cursor=…`
//! * search, guarded, by the sales user (own clients) and by the owner (the whole
//!   base): `GET /api/v1/clients?limit=25&q=…` with a client's full name, the first
//!   eight digits of a client's phone number, and a two-letter prefix in one of
//!   several scripts (`Ağ`, `Mə`, `Ив`, `ნი`, `ال`, `Ka`: tens of thousands of
//!   matches each at a million clients). Reported against the list-page baseline.
//!
//! The owner is a user this benchmark adds (`owner.bench`); the server runs with
//! no hardware-key requirement for owners (`keys.privileged_roles = []`), as a
//! key cannot be touched in a benchmark.
//!
//! Settings (environment): `HOLDFAST_BENCH_CLIENTS` (1 000 000),
//! `HOLDFAST_BENCH_REQUESTS` per workload (10 000), `HOLDFAST_BENCH_CONCURRENCY`
//! connections (4), `HOLDFAST_BENCH_MAX_SECONDS` for the measured part (300),
//! `HOLDFAST_BENCH_DATABASE_URL` (unset: SQLite only). To generate a million
//! clients once and reuse them: `HOLDFAST_BENCH_SQLITE=FILE` and
//! `HOLDFAST_BENCH_PG_DATABASE=NAME` keep the databases (generated when empty;
//! the reports bench takes the same two variables).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use diesel::prelude::*;
use secrecy::SecretString;

use holdfast::clock::Env;
use holdfast::config::Config;
use holdfast::store::Store;
use holdfast::store::schema::{client_contacts, clients, users};
use holdfast::web::{self, AppState};

#[path = "support/fresh_pg.rs"]
mod fresh_pg;
#[path = "support/owner.rs"]
mod owner;
use fresh_pg::FreshPg;

const SEED: u64 = 7;
const PASSWORD: &str = "bench-password-2026";
/// The signed-in user, a colleague in the other team, and the user's team lead.
const USER: &str = "sales.north.1";
const COLLEAGUE: &str = "sales.south.1";
const MANAGER: &str = "manager.north";
/// Requests per workload before measuring (not counted).
const WARM_UP: usize = 200;
/// Requests per workload in one interleaved block.
const BLOCK: usize = 100;
/// List pages are read at depths 0..LIST_DEPTH (cursors collected up front).
const LIST_DEPTH: usize = 40;
/// The owner who searches the whole base (added by the benchmark).
const OWNER: &str = "owner.bench";
/// Two-letter prefixes typed into the search box, in the demo's scripts.
const PREFIXES: &[&str] = &["Ağ", "Mə", "Ив", "ნი", "ال", "Ka"];
/// Full names and phone numbers to search for, per searching user.
const SEARCH_SAMPLES: i64 = 500;

struct Settings {
    clients: usize,
    requests: usize,
    concurrency: usize,
    max_seconds: u64,
    pg_url: Option<String>,
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a number, not `{v}`")),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        Ok(Settings {
            clients: env_number("HOLDFAST_BENCH_CLIENTS", 1_000_000)?,
            requests: env_number("HOLDFAST_BENCH_REQUESTS", 10_000)?.max(BLOCK),
            concurrency: env_number("HOLDFAST_BENCH_CONCURRENCY", 4)?.clamp(1, 64),
            max_seconds: env_number("HOLDFAST_BENCH_MAX_SECONDS", 300)? as u64,
            pg_url: std::env::var("HOLDFAST_BENCH_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty()),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Sales,
    Owner,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Search {
    Name,
    Phone,
    Prefix,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    CardGuarded,
    CardUnaudited,
    CardBaseline,
    ListGuarded,
    ListBaseline,
    Search(Who, Search),
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::CardGuarded,
        Kind::CardUnaudited,
        Kind::CardBaseline,
        Kind::ListGuarded,
        Kind::ListBaseline,
        Kind::Search(Who::Sales, Search::Name),
        Kind::Search(Who::Sales, Search::Phone),
        Kind::Search(Who::Sales, Search::Prefix),
        Kind::Search(Who::Owner, Search::Name),
        Kind::Search(Who::Owner, Search::Phone),
        Kind::Search(Who::Owner, Search::Prefix),
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::CardGuarded => "card read, guarded",
            Kind::CardUnaudited => "card read, guarded, audit off",
            Kind::CardBaseline => "card read, baseline",
            Kind::ListGuarded => "list page, guarded",
            Kind::ListBaseline => "list page, baseline",
            Kind::Search(Who::Sales, Search::Name) => "search, sales: full name",
            Kind::Search(Who::Sales, Search::Phone) => "search, sales: phone digits",
            Kind::Search(Who::Sales, Search::Prefix) => "search, sales: 2-letter prefix",
            Kind::Search(Who::Owner, Search::Name) => "search, owner: full name",
            Kind::Search(Who::Owner, Search::Phone) => "search, owner: phone digits",
            Kind::Search(Who::Owner, Search::Prefix) => "search, owner: 2-letter prefix",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::CardGuarded | Kind::ListGuarded | Kind::Search(..) => "/api/v1/clients",
            Kind::CardBaseline | Kind::ListBaseline => "/api/v1/bench-baseline/clients",
            Kind::CardUnaudited => "/api/v1/bench-unaudited/clients",
        }
    }

    fn is_card(self) -> bool {
        matches!(
            self,
            Kind::CardGuarded | Kind::CardUnaudited | Kind::CardBaseline
        )
    }

    fn who(self) -> Who {
        match self {
            Kind::Search(who, _) => who,
            _ => Who::Sales,
        }
    }
}

/// What each searching user types: full names and phone digits of clients the
/// user can see.
struct SearchInputs {
    sales: Vec<(String, String)>,
    owner: Vec<(String, String)>,
}

impl SearchInputs {
    fn of(&self, who: Who) -> &[(String, String)] {
        match who {
            Who::Sales => &self.sales,
            Who::Owner => &self.owner,
        }
    }
}

/// splitmix64, for picking ids reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: usize,
    wall: Duration,
}

impl Samples {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

struct Report {
    backend: &'static str,
    clients: usize,
    /// None when the data came from an earlier run.
    generate_secs: Option<f64>,
    generate_summary: String,
    db_bytes: Option<u64>,
    own_clients: usize,
    measured: Measured,
}

impl Report {
    fn samples_of(&self, kind: Kind) -> Option<&Samples> {
        self.measured
            .samples
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| s)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    // reqwest's rustls has no provider of its own in this build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = Settings::from_env()?;
    let env = Env::system();
    let mut reports = Vec::new();
    // Kept until the end: the in-process servers keep their databases open.
    let mut keep_dirs = Vec::new();

    let dir = tempfile::tempdir()?;
    // A kept file is generated on the first run and reused by the next ones.
    let db = std::env::var("HOLDFAST_BENCH_SQLITE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    reports.push(run_backend(
        "SQLite",
        &format!("sqlite://{}", db.display()),
        Some(&db),
        dir.path(),
        &settings,
        &env,
    )?);
    keep_dirs.push(dir);

    let mut keep_pg = None;
    if let Some(admin_url) = &settings.pg_url {
        let fresh = FreshPg::kept_or_fresh(admin_url, &env)?;
        let dir = tempfile::tempdir()?;
        let report = run_backend("PostgreSQL", &fresh.url, None, dir.path(), &settings, &env);
        keep_dirs.push(dir);
        keep_pg = Some(fresh);
        reports.push(report?);
    }

    print_reports(&reports, &settings);
    drop(keep_pg);
    drop(keep_dirs);
    Ok(())
}

fn run_backend(
    backend: &'static str,
    url: &str,
    sqlite_file: Option<&std::path::Path>,
    data_dir: &std::path::Path,
    s: &Settings,
    env: &Env,
) -> anyhow::Result<Report> {
    let store = Store::open(&SecretString::from(url.to_string()), 0)?;
    let password = SecretString::from(PASSWORD.to_string());
    let have: i64 = clients::table
        .count()
        .get_result(&mut *store.conn()?)
        .unwrap_or(0);
    let (generate_secs, summary) = if have == 0 {
        eprintln!("[{backend}] generating {} demo clients …", s.clients);
        let started = Instant::now();
        let summary = holdfast::demo::load(&store, env, s.clients, SEED, &password)?;
        (Some(started.elapsed().as_secs_f64()), summary)
    } else {
        (
            None,
            format!("reused {have} clients generated by an earlier run"),
        )
    };
    eprintln!("[{backend}] {summary}");
    let db_bytes = sqlite_file.map(|f| {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                std::fs::metadata(format!("{}{suffix}", f.display()))
                    .ok()
                    .map(|m| m.len())
            })
            .sum()
    });

    // The signed-in user's clients (to read), and one of a colleague's (must be refused).
    let (own_ids, foreign_id) = {
        let mut conn = store.conn()?;
        let conn: &mut holdfast::store::DbConn = &mut conn;
        let user_id = |conn: &mut holdfast::store::DbConn, name: &str| {
            users::table
                .filter(users::username.eq(name))
                .select(users::id)
                .first::<String>(conn)
        };
        let me = user_id(conn, USER)?;
        let colleague = user_id(conn, COLLEAGUE)?;
        let own: Vec<String> = clients::table
            .filter(clients::owner_id.eq(&me))
            .select(clients::id)
            .load(conn)?;
        let foreign: String = clients::table
            .filter(clients::owner_id.eq(&colleague))
            .select(clients::id)
            .first(conn)?;
        (own, foreign)
    };
    if own_ids.is_empty() {
        bail!("{USER} owns no clients; generate more");
    }
    let search = search_inputs(&store, env, &password)?;

    let (addr, cert_der) = start_server(data_dir, url, store.clone(), env.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    eprintln!("[{backend}] measuring on https://{addr} …");
    let measured = runtime.block_on(measure(addr, &cert_der, s, &own_ids, &foreign_id, &search))?;
    Ok(Report {
        backend,
        clients: s.clients,
        generate_secs,
        generate_summary: summary,
        db_bytes,
        own_clients: own_ids.len(),
        measured,
    })
}

/// Adds the owner, and picks what the sales user and the owner search for: the
/// full name and the first eight digits of the first phone number of clients each
/// can see.
fn search_inputs(
    store: &Store,
    env: &Env,
    password: &SecretString,
) -> anyhow::Result<SearchInputs> {
    let mut conn = store.conn()?;
    let conn: &mut holdfast::store::DbConn = &mut conn;
    owner::ensure_owner(conn, env, OWNER, password)?;
    let me: String = users::table
        .filter(users::username.eq(USER))
        .select(users::id)
        .first(conn)?;
    let mut sample = |owner: Option<&str>| -> anyhow::Result<Vec<(String, String)>> {
        let mut q = clients::table
            .inner_join(client_contacts::table.on(client_contacts::client_id.eq(clients::id)))
            .filter(client_contacts::kind.eq("phone"))
            .filter(client_contacts::position.eq(0))
            .filter(clients::deleted_at.is_null())
            .select((clients::name, client_contacts::normalized))
            .limit(SEARCH_SAMPLES)
            .into_boxed();
        if let Some(o) = owner {
            q = q.filter(clients::owner_id.eq(o.to_string()));
        }
        let rows: Vec<(String, String)> = q.load(conn)?;
        if rows.is_empty() {
            bail!("no clients with a phone number to search for");
        }
        Ok(rows
            .into_iter()
            .map(|(name, phone)| {
                let digits: String = phone.chars().filter(char::is_ascii_digit).take(8).collect();
                (name, digits)
            })
            .collect())
    };
    Ok(SearchInputs {
        sales: sample(Some(&me))?,
        owner: sample(None)?,
    })
}

/// The server as `holdfast serve` runs it, on 127.0.0.1 with a fresh certificate.
/// Returns the address and the certificate (DER) for the client to trust.
fn start_server(
    data_dir: &std::path::Path,
    url: &str,
    store: Store,
    env: Env,
) -> anyhow::Result<(SocketAddr, Vec<u8>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.database.url = Some(SecretString::from(url.to_string()));
    config.server.listen = addr;
    // The owner searches without a hardware key (see the top of this file).
    config.keys.privileged_roles = vec![];
    // One user reading thousands of cards a minute is exactly what theft
    // detection stops (step-up, then 403 for every guarded request): the
    // bench measures the request path, not the detector's verdict on it.
    config.detection.enabled = false;

    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let cert_der = certified.cert.der().to_vec();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(rustls_pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let tls = web::tls::server_config(vec![certified.cert.der().clone()], key)?;

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("holdfast-server".into())
        .spawn(move || {
            let result = actix_web::rt::System::new().block_on(async move {
                let state = AppState::new(config, store, env).await?;
                let _ = ready_tx.send(Ok(()));
                web::run(state, listener, Some(tls)).await
            });
            if let Err(e) = result {
                eprintln!("the server stopped: {e}");
            }
        })?;
    match ready_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => Ok((addr, cert_der)),
        Ok(Err(e)) => bail!("the server did not start: {e}"),
        Err(_) => bail!("the server did not start within two minutes"),
    }
}

struct Http {
    client: reqwest::Client,
    base: String,
    cookie: String,
    user_id: String,
}

impl Http {
    async fn get(&self, path: &str) -> anyhow::Result<(u16, Body)> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok((status, Body(body.to_vec())))
    }

    async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.get(path).await?;
        if status != 200 {
            bail!("GET {path}: HTTP {status}: {}", body.text());
        }
        Ok(serde_json::from_slice(&body.0)?)
    }
}

/// A response body, read in full (what a browser would wait for).
struct Body(Vec<u8>);

impl Body {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).chars().take(300).collect()
    }
}

async fn sign_in(
    addr: SocketAddr,
    cert_der: &[u8],
    pool: usize,
    username: &str,
) -> anyhow::Result<Http> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(cert_der)?)
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(120))
        .user_agent("holdfast-bench")
        .build()?;
    let base = format!("https://{addr}");
    let resp = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!(
            "sign-in as {username}: HTTP {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let cookie: String = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-holdfast="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the sign-in response set no session cookie"))?;
    let session: serde_json::Value = resp.json().await?;
    let user_id = session["user"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the sign-in response names no user: {session}"))?
        .to_string();
    Ok(Http {
        client,
        base,
        cookie,
        user_id,
    })
}

/// The paths one workload requests, in order.
fn paths(
    kind: Kind,
    n: usize,
    own_ids: &[String],
    cursors: &[Option<String>],
    search: &SearchInputs,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| match kind {
            Kind::Search(who, what) => {
                let inputs = search.of(who);
                let (name, phone) = &inputs[rng.below(inputs.len())];
                let q = match what {
                    Search::Name => name.as_str(),
                    Search::Phone => phone.as_str(),
                    Search::Prefix => PREFIXES[i % PREFIXES.len()],
                };
                format!("{}?limit=25&q={}", kind.prefix(), urlencoding::encode(q))
            }
            _ if kind.is_card() => {
                format!("{}/{}", kind.prefix(), own_ids[rng.below(own_ids.len())])
            }
            _ => match &cursors[i % cursors.len()] {
                None => format!("{}?limit=25", kind.prefix()),
                Some(c) => format!("{}?limit=25&cursor={c}", kind.prefix()),
            },
        })
        .collect()
}

/// Runs `paths` over `concurrency` connections; latency of every request.
async fn run_block(http: &Http, paths: &[String], concurrency: usize, into: &mut Samples) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| async {
        let mut lat = Vec::new();
        let mut errors = 0usize;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            let t = Instant::now();
            match http.get(path).await {
                Ok((200, _)) => lat.push(t.elapsed()),
                Ok((status, body)) => {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("GET {path}: HTTP {status}: {}", body.text());
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("GET {path}: {e}");
                    }
                }
            }
        }
        (lat, errors)
    });
    for (lat, errors) in futures_util::future::join_all(workers).await {
        into.latencies.extend(lat);
        into.errors += errors;
    }
    into.wall += started.elapsed();
}

async fn measure(
    addr: SocketAddr,
    cert_der: &[u8],
    s: &Settings,
    own_ids: &[String],
    foreign_id: &str,
    search: &SearchInputs,
) -> anyhow::Result<Measured> {
    let http = sign_in(addr, cert_der, s.concurrency, USER).await?;
    let owner = sign_in(addr, cert_der, s.concurrency, OWNER).await?;
    let as_who = |who: Who| match who {
        Who::Sales => &http,
        Who::Owner => &owner,
    };

    // The routes answer what they should before anything is timed.
    let own = &own_ids[0];
    for kind in [Kind::CardGuarded, Kind::CardUnaudited, Kind::CardBaseline] {
        let card = http.get_json(&format!("{}/{own}", kind.prefix())).await?;
        if card["client"]["id"].as_str() != Some(own.as_str()) {
            bail!("{}: the card of {own} came back as {card}", kind.label());
        }
    }
    let (status, _) = http.get(&format!("/api/v1/clients/{foreign_id}")).await?;
    if status != 404 {
        bail!("a colleague's client answered HTTP {status} instead of 404");
    }
    let guarded = http.get_json("/api/v1/clients?limit=25").await?;
    let baseline = http
        .get_json("/api/v1/bench-baseline/clients?limit=25")
        .await?;
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if ids(&guarded).len() != 25 || ids(&guarded) != ids(&baseline) {
        bail!("the guarded and baseline list pages differ");
    }
    let owners_ok = guarded["items"]
        .as_array()
        .is_some_and(|items| items.iter().all(|i| i["owner_id"] == http.user_id));
    if !owners_ok {
        bail!("the list page holds clients {USER} does not own");
    }

    // Cursors for pages 0..LIST_DEPTH, walked once (baseline: no audit events).
    let mut cursors: Vec<Option<String>> = vec![None];
    while cursors.len() < LIST_DEPTH {
        let path = match cursors.last().and_then(|c| c.as_ref()) {
            Some(c) => format!("/api/v1/bench-baseline/clients?limit=25&cursor={c}"),
            None => "/api/v1/bench-baseline/clients?limit=25".to_string(),
        };
        let page = http.get_json(&path).await?;
        match page["next_cursor"].as_str() {
            Some(c) => cursors.push(Some(c.to_string())),
            None => break,
        }
    }

    // Every search finds what it looks for: a client's own name and phone number
    // (the sales user's searches only the user's own clients).
    for who in [Who::Sales, Who::Owner] {
        let (name, phone) = &search.of(who)[0];
        for q in [name.as_str(), phone.as_str(), PREFIXES[0]] {
            let page = as_who(who)
                .get_json(&format!(
                    "/api/v1/clients?limit=25&q={}",
                    urlencoding::encode(q)
                ))
                .await?;
            if ids(&page).is_empty() {
                bail!("searching `{q}` found nothing");
            }
            let mine = page["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i["owner_id"] == http.user_id));
            if who == Who::Sales && !mine {
                bail!("searching `{q}` as {USER} found clients {USER} does not own");
            }
        }
    }

    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let warm = paths(kind, WARM_UP, own_ids, &cursors, search, 1_000 + i as u64);
        run_block(
            as_who(kind.who()),
            &warm,
            s.concurrency,
            &mut Samples::default(),
        )
        .await;
    }

    let planned: Vec<Vec<String>> = Kind::ALL
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            paths(
                kind,
                s.requests,
                own_ids,
                &cursors,
                search,
                2_000 + i as u64,
            )
        })
        .collect();
    let mut samples: Vec<Samples> = Kind::ALL.iter().map(|_| Samples::default()).collect();
    let rounds = s.requests.div_ceil(BLOCK);
    let started = Instant::now();
    let mut done = 0;
    for round in 0..rounds {
        // Every workload runs first, second, third and last equally often.
        let mut order: Vec<usize> = (0..Kind::ALL.len()).collect();
        order.rotate_left(round % Kind::ALL.len());
        if (round / Kind::ALL.len()) % 2 == 1 {
            order.reverse();
        }
        let range = round * BLOCK..((round + 1) * BLOCK).min(s.requests);
        for k in order {
            run_block(
                as_who(Kind::ALL[k].who()),
                &planned[k][range.clone()],
                s.concurrency,
                &mut samples[k],
            )
            .await;
        }
        done = round + 1;
        if started.elapsed() > Duration::from_secs(s.max_seconds) {
            eprintln!("time bound reached after {done} of {rounds} rounds");
            break;
        }
    }
    let measured = started.elapsed().as_secs_f64();

    // Not part of the comparison: a team lead's first list page, twice, one at a time.
    let mut manager = Vec::new();
    let lead = sign_in(addr, cert_der, 1, MANAGER).await?;
    for _ in 0..2 {
        let t = Instant::now();
        manager.push(match lead.get("/api/v1/clients?limit=25").await {
            Ok((200, _)) => Ok(t.elapsed()),
            Ok((status, body)) => Err(format!("HTTP {status}: {}", body.text())),
            Err(e) => Err(e.to_string()),
        });
    }
    Ok(Measured {
        rounds: done,
        secs: measured,
        samples: Kind::ALL.into_iter().zip(samples).collect(),
        manager,
    })
}

struct Measured {
    rounds: usize,
    secs: f64,
    samples: Vec<(Kind, Samples)>,
    /// A team lead's list page: latency or what went wrong.
    manager: Vec<Result<Duration, String>>,
}

fn print_reports(reports: &[Report], s: &Settings) {
    println!();
    println!(
        "## HTTP benchmark: guarded vs baseline, and search ({} requests per workload, {} connections)",
        s.requests, s.concurrency
    );
    for r in reports {
        println!();
        println!("### {}", r.backend);
        println!();
        let generated = match r.generate_secs {
            Some(secs) => format!(
                "{} clients in {secs:.1} s ({:.0} clients/s)",
                r.clients,
                r.clients as f64 / secs.max(1e-9)
            ),
            None => "reused from an earlier run".to_string(),
        };
        println!(
            "Demo data: {generated}{}.",
            r.db_bytes
                .map(|b| format!(", database {:.2} GB", b as f64 / 1e9))
                .unwrap_or_default()
        );
        println!("{}", r.generate_summary.lines().last().unwrap_or_default());
        println!(
            "Signed in as {USER} ({} own clients); {} interleaved rounds in {:.1} s.",
            r.own_clients, r.measured.rounds, r.measured.secs
        );
        println!();
        println!("| workload | requests | errors | p50 ms | p90 ms | p99 ms | req/s |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (kind, sm) in &r.measured.samples {
            println!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
                kind.label(),
                sm.latencies.len(),
                sm.errors,
                ms(sm.percentile(50.0)),
                ms(sm.percentile(90.0)),
                ms(sm.percentile(99.0)),
                sm.per_second()
            );
        }
        println!();
        println!("| guarded / baseline | p50 | p99 | req/s |");
        println!("|---|---:|---:|---:|");
        for (guarded, baseline, label) in [
            (Kind::CardGuarded, Kind::CardBaseline, "card read"),
            (Kind::ListGuarded, Kind::ListBaseline, "list page"),
            (
                Kind::CardGuarded,
                Kind::CardUnaudited,
                "card read, audit on / audit off",
            ),
        ] {
            if let (Some(g), Some(b)) = (r.samples_of(guarded), r.samples_of(baseline)) {
                println!(
                    "| {label} | {:.2}× | {:.2}× | {:.2}× |",
                    ms(g.percentile(50.0)) / ms(b.percentile(50.0)).max(1e-9),
                    ms(g.percentile(99.0)) / ms(b.percentile(99.0)).max(1e-9),
                    g.per_second() / b.per_second().max(1e-9)
                );
            }
        }
        println!();
        println!("| search / list page, baseline | p50 | p99 | req/s |");
        println!("|---|---:|---:|---:|");
        if let Some(b) = r.samples_of(Kind::ListBaseline) {
            for kind in Kind::ALL
                .into_iter()
                .filter(|k| matches!(k, Kind::Search(..)))
            {
                if let Some(g) = r.samples_of(kind) {
                    println!(
                        "| {} | {:.2}× | {:.2}× | {:.2}× |",
                        kind.label(),
                        ms(g.percentile(50.0)) / ms(b.percentile(50.0)).max(1e-9),
                        ms(g.percentile(99.0)) / ms(b.percentile(99.0)).max(1e-9),
                        g.per_second() / b.per_second().max(1e-9)
                    );
                }
            }
        }
        println!();
        println!(
            "Team lead ({MANAGER}) first list page, guarded, one request at a time: {}.",
            r.measured
                .manager
                .iter()
                .map(|m| match m {
                    Ok(d) => format!("{:.1} ms", ms(*d)),
                    Err(e) => format!("failed ({e})"),
                })
                .collect::<Vec<_>>()
                .join(", then ")
        );
    }
}
