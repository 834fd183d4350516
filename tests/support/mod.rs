//! Test harness: a real server (TLS on a free loopback port) over a fresh
//! database per test — a SQLite file, or a new PostgreSQL database when
//! `HOLDFAST_TEST_DATABASE_URL` points at a server.

#![allow(dead_code)]

pub mod piv;
pub mod webauthn;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Once;

use diesel::{Connection, PgConnection, RunQueryDsl};
use holdfast::clock::Env;
use holdfast::config::Config;
use holdfast::identity::Role;
use holdfast::identity::users::{self, NewUser};
use holdfast::store::Store;
use holdfast::web::{self, AppState};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

static CRYPTO: Once = Once::new();

fn install_crypto() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A database of its own for one test; dropped PostgreSQL databases are removed.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        match std::env::var("HOLDFAST_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("hf_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).expect("connect to PostgreSQL");
                diesel::sql_query(format!(
                    "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
                ))
                .execute(&mut conn)
                .expect("create database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin.clone());
                TestDb {
                    url: format!("{base}/{name}"),
                    admin_url: Some(admin),
                    name: Some(name),
                    _dir: dir,
                }
            }
            _ => TestDb {
                url: format!("sqlite://{}", dir.path().join("holdfast.db").display()),
                admin_url: None,
                name: None,
                _dir: dir,
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.name.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name)
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    pub env: Env,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub cert_pem: Vec<u8>,
    pub config: Config,
    /// The test PIV attestation root the server trusts, and an f9 under it.
    pub piv_root: piv::TestCa,
    pub piv_f9: piv::TestCa,
    /// The test FIDO attestation CA the server allows for WebAuthn keys.
    pub webauthn_root: piv::TestCa,
}

/// A clock the test moves by hand.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn new() -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::Mutex::new(chrono::Utc::now())))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl holdfast::clock::Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

pub struct Options {
    pub clock: Option<std::sync::Arc<ManualClock>>,
    pub call_secret: Option<String>,
    pub form_per_ip_per_hour: i32,
    pub body_limit: usize,
    pub max_failures_per_account: i32,
    pub max_failures_per_ip: i32,
    /// Overrides for `[keys]`.
    pub keys: Option<holdfast::config::KeysConfig>,
    /// Overrides for `[exports]`.
    pub exports: Option<holdfast::config::ExportsConfig>,
    /// Last changes to the configuration before the server starts.
    pub tweak: Option<fn(&mut Config)>,
    /// Overrides for `[backup]`.
    pub backup: Option<holdfast::config::BackupConfig>,
    /// `public_url` = `https://localhost:PORT` (a domain name, as WebAuthn needs)
    /// instead of the listening address.
    pub localhost_url: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: None,
            call_secret: Some("test-call-secret-0123456789".into()),
            form_per_ip_per_hour: 5,
            body_limit: 64 * 1024,
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            keys: None,
            exports: None,
            tweak: None,
            backup: None,
            localhost_url: false,
        }
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> TestServer {
        install_crypto();
        let db = TestDb::new();
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = Some(SecretString::from(db.url.clone()));
        config.database.pool_size = 4;
        config.server.workers = 1;
        config.server.body_limit = opts.body_limit;
        config.intake.call_secret = opts.call_secret.map(SecretString::from);
        config.intake.form_per_ip_per_hour = opts.form_per_ip_per_hour;
        config.login.max_failures_per_account = opts.max_failures_per_account;
        config.login.max_failures_per_ip = opts.max_failures_per_ip;
        if let Some(keys) = opts.keys {
            config.keys = keys;
        }
        if let Some(exports) = opts.exports {
            config.exports = exports;
        }
        if let Some(backup) = opts.backup {
            config.backup = backup;
        }
        // A test PIV root in the server's trust directory (with Yubico's built in).
        let piv_root = piv::root("Holdfast Test PIV Root CA");
        let piv_f9 = piv::f9(&piv_root, false);
        let trust_dir = data_dir.path().join("trust");
        std::fs::create_dir_all(&trust_dir).expect("trust dir");
        std::fs::write(trust_dir.join("test-root.pem"), &piv_root.pem).expect("trust root");
        config.keys.trust_dir = Some(trust_dir);
        let webauthn_root = webauthn::attestation_root("Holdfast Test FIDO Root CA");
        let webauthn_dir = data_dir.path().join("webauthn-trust");
        std::fs::create_dir_all(&webauthn_dir).expect("webauthn trust dir");
        std::fs::write(webauthn_dir.join("test-fido-root.pem"), &webauthn_root.pem)
            .expect("webauthn root");
        config.keys.webauthn_trust_dir = Some(webauthn_dir);
        if let Some(tweak) = opts.tweak {
            tweak(&mut config);
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        config.server.listen = listener.local_addr().expect("addr");
        if opts.localhost_url {
            config.public_url = Some(format!("https://localhost:{}", config.server.listen.port()));
        }
        let store = Store::open(&config.database_url(), 4).expect("open store");
        let mut env = Env::system();
        if let Some(clock) = opts.clock {
            env.clock = clock;
        }
        let tls = web::tls::load(&config).expect("tls");
        let cert_path: PathBuf = data_dir.path().join("tls/holdfast-selfsigned.crt");
        let cert_pem = std::fs::read(&cert_path).expect("cert");
        let base = format!("https://localhost:{}", config.server.listen.port());
        let (cfg2, store2, env2) = (config.clone(), store.clone(), env.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let state = AppState::new(cfg2, store2, env2).await.expect("state");
                tx.send(()).expect("ready");
                web::run(state, listener, Some(tls.config))
                    .await
                    .expect("server");
            });
        });
        rx.recv().expect("server started");
        TestServer {
            base,
            store,
            env,
            db,
            data_dir,
            cert_pem,
            config,
            piv_root,
            piv_f9,
            webauthn_root,
        }
    }

    /// An enrollment code for `user_id`, issued as the server console would.
    pub fn enrollment_code(&self, user_id: &str) -> String {
        let mut conn = self.store.conn().expect("conn");
        holdfast::keys::service::issue_code(
            &mut conn,
            &self.env,
            &self.config.keys,
            user_id,
            "test-console",
        )
        .expect("issue code")
        .code
    }

    /// The enrollment request `holdfast key enroll` would send for `key`.
    pub fn enroll_request(&self, key: &piv::SoftPiv, code: &str, slot: &str) -> Value {
        use holdfast::keys::protocol;
        let msg = protocol::enroll_message(
            &self.config.base_url(),
            &holdfast::identity::token_hash(code),
            slot,
            &protocol::key_fingerprint(&key.spki),
        )
        .expect("message");
        json!({
            "code": code,
            "kind": "piv",
            "slot": slot,
            "public_key": protocol::b64(&key.spki),
            "attestation": protocol::b64(&key.slot_der),
            "intermediate": protocol::b64(&key.f9_der),
            "signature": protocol::b64(&key.sign(&msg)),
        })
    }

    /// A software YubiKey attested under this server's test root.
    pub fn soft_key(&self) -> piv::SoftPiv {
        piv::SoftPiv::attested(&self.piv_f9, &piv::SlotSpec::default())
    }

    /// Enrolls a new software key for `user_id` over HTTP and returns it.
    pub async fn enroll_soft_key(&self, user_id: &str) -> std::sync::Arc<piv::SoftPiv> {
        let key = self.soft_key();
        let code = self.enrollment_code(user_id);
        let (status, body) = self
            .client()
            .post(
                "/api/v1/keys/enroll",
                self.enroll_request(&key, &code, "9a"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "enroll: {body}");
        std::sync::Arc::new(key)
    }

    /// Signs in, enrolls a software key for the user and elevates the session with
    /// a proof: how an owner or admin starts work.
    pub async fn login_elevated(&self, username: &str) -> Client {
        let mut c = self.login(username).await;
        let (_, me) = c.get("/api/v1/session").await;
        let user_id = me["user"]["id"].as_str().expect("user id").to_string();
        let key = self.enroll_soft_key(&user_id).await;
        c.key = Some(key);
        let (status, body) = c.prove().await;
        assert_eq!(status, StatusCode::OK, "proof: {body}");
        c
    }

    pub fn add_user(&self, username: &str, role: Role, team: Option<&str>) -> String {
        let mut conn = self.store.conn().expect("conn");
        users::add(
            &mut conn,
            &self.env,
            NewUser {
                username: username.into(),
                display_name: None,
                role,
                team: team.map(str::to_string),
                password: Some(SecretString::from(PASSWORD)),
            },
        )
        .expect("add user")
        .id
    }

    /// An HTTP client that trusts this server's certificate (real verification).
    pub fn client(&self) -> Client {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem).expect("cert");
        let http = reqwest::Client::builder()
            .add_root_certificate(cert)
            .cookie_store(true)
            .build()
            .expect("client");
        Client {
            http,
            base: self.base.clone(),
            csrf: None,
            key: None,
            cert_pem: self.cert_pem.clone(),
        }
    }

    pub async fn login(&self, username: &str) -> Client {
        let mut c = self.client();
        let (status, body) = c
            .send(
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        c.csrf = body["csrf_token"].as_str().map(str::to_string);
        c
    }

    /// Audit events, newest first, for checks from the attacker's side.
    pub fn audit(&self, action: &str) -> Vec<holdfast::store::models::audit_events::AuditRow> {
        let mut conn = self.store.conn().expect("conn");
        holdfast::audit::search(
            &mut conn,
            &holdfast::audit::Query {
                action: Some(action.into()),
                limit: 1000,
                ..Default::default()
            },
        )
        .expect("audit")
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    /// The software YubiKey enrolled for this client's user, if any.
    pub key: Option<std::sync::Arc<piv::SoftPiv>>,
    pub cert_pem: Vec<u8>,
}

impl Client {
    /// A cookie-less client to the same server: what `holdfast key login` is.
    pub fn cli(&self) -> Client {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem).expect("cert");
        let http = reqwest::Client::builder()
            .add_root_certificate(cert)
            .build()
            .expect("client");
        Client {
            http,
            base: self.base.clone(),
            csrf: None,
            key: None,
            cert_pem: self.cert_pem.clone(),
        }
    }

    /// Asks for a challenge in this (browser) session.
    pub async fn challenge(&self) -> Value {
        let (status, c) = self.post("/api/v1/keys/challenge", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "challenge: {c}");
        c
    }

    /// The proof `holdfast key login` would post for `challenge`, signed by `key`.
    pub fn proof_for(challenge: &Value, key: &piv::SoftPiv) -> Value {
        use holdfast::keys::protocol;
        let msg = protocol::proof_message(
            challenge["origin"].as_str().expect("origin"),
            challenge["id"].as_str().expect("id"),
            challenge["nonce"].as_str().expect("nonce"),
            challenge["session_binding"].as_str().expect("binding"),
            &protocol::key_fingerprint(&key.spki),
        )
        .expect("message");
        json!({
            "challenge": challenge["id"],
            "public_key": protocol::b64(&key.spki),
            "signature": protocol::b64(&key.sign(&msg)),
        })
    }

    /// A fresh challenge for this session, signed with this client's key and posted
    /// by a cookie-less client, as `holdfast key login` does.
    pub async fn prove(&self) -> (StatusCode, Value) {
        let key = self.key.clone().expect("no key enrolled for this client");
        let challenge = self.challenge().await;
        self.cli()
            .post("/api/v1/keys/proof", Self::proof_for(&challenge, &key))
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != Method::GET
            && let Some(csrf) = &self.csrf
        {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }

    /// Raw request for malformed bodies and odd headers.
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        req
    }

    pub async fn create_client(&self, body: Value) -> String {
        let (status, v) = self.post("/api/v1/clients", body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["client"]["id"].as_str().expect("id").to_string()
    }
}

/// A minimal SMTP server: accepts every message and hands back (recipients, data).
pub async fn smtp_sink() -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<(Vec<String>, String)>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = sock.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut rcpt = vec![];
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        write.write_all(b"250 sink\r\n").await.unwrap();
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        write.write_all(b"250 ok\r\n").await.unwrap();
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        tx.send((std::mem::take(&mut rcpt), data)).unwrap();
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        write.write_all(b"250 ok\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (port, rx)
}
