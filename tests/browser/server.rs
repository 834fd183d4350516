//! The real `holdfast` binary on a free loopback port, over a fresh database: a
//! SQLite file in a temporary data directory, or a new PostgreSQL database when
//! `HOLDFAST_TEST_DATABASE_URL` points at a server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use diesel::{Connection, PgConnection, RunQueryDsl};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// A PostgreSQL database made for one test run and dropped after it.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("hf_browser_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url)
            .with_context(|| "connecting to HOLDFAST_TEST_DATABASE_URL".to_string())?;
        diesel::sql_query(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .execute(&mut conn)
        .with_context(|| format!("CREATE DATABASE {name}"))?;
        let mut url = url::Url::parse(admin_url).context("HOLDFAST_TEST_DATABASE_URL")?;
        url.set_path(&format!("/{name}"));
        Ok(PgDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub struct Server {
    /// `https://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
    child: Child,
    dir: tempfile::TempDir,
    /// The test PIV attestation intermediate; its root is in the server's trust dir.
    pub piv_f9: crate::piv::TestCa,
    db_url: Option<String>,
    /// Extra environment for every `holdfast` run (see `start_with`).
    env: Vec<(String, String)>,
    // Dropped after the server has been stopped (see `Drop`).
    _pg: Option<PgDatabase>,
}

pub struct User<'a> {
    pub username: &'a str,
    pub role: &'a str,
    pub team: Option<&'a str>,
    pub display_name: &'a str,
    pub password: &'a str,
}

impl Server {
    /// Creates the users with `holdfast user add`, then runs `holdfast serve`.
    pub fn start(users: &[User<'_>]) -> anyhow::Result<Server> {
        Self::start_with(users, |_| Vec::new())
    }

    /// Like `start`, with more environment for `holdfast`, made from the
    /// temporary working directory (files the test puts there).
    pub fn start_with(
        users: &[User<'_>],
        extra_env: impl FnOnce(&Path) -> Vec<(String, String)>,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("temporary working dir")?;
        let pg = match std::env::var("HOLDFAST_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => Some(PgDatabase::create(&admin)?),
            _ => None,
        };
        let db_url = pg.as_ref().map(|p| p.url.clone());
        let data_dir = dir.path().join("data");
        // A test PIV root the server trusts (see `command`), for the owner's key.
        let piv_root = crate::piv::root("Holdfast Browser Test PIV Root");
        let piv_f9 = crate::piv::f9(&piv_root, false);
        std::fs::create_dir_all(dir.path().join("trust"))?;
        std::fs::write(dir.path().join("trust/test-root.pem"), &piv_root.pem)?;
        let env = extra_env(dir.path());
        for u in users {
            let mut cmd = command(dir.path(), &data_dir, db_url.as_deref(), &env);
            cmd.args([
                "user",
                "add",
                "--username",
                u.username,
                "--role",
                u.role,
                "--display-name",
                u.display_name,
                "--password-stdin",
            ]);
            if let Some(team) = u.team {
                cmd.args(["--team", team]);
            }
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running `holdfast user add`")?;
            child
                .stdin
                .take()
                .ok_or_else(|| anyhow!("no stdin"))?
                .write_all(format!("{}\n", u.password).as_bytes())?;
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "`holdfast user add --username {}` failed: {}{}",
                    u.username,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path)?;
        let mut child = command(dir.path(), &data_dir, db_url.as_deref(), &env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("running `holdfast serve`")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("server has no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Holdfast is listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not start; its log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        Ok(Server {
            base,
            child,
            dir,
            piv_f9,
            db_url,
            env,
            _pg: pg,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The port, for clients that must use the name on the certificate.
    pub fn port(&self) -> anyhow::Result<u16> {
        url::Url::parse(&self.base)?
            .port()
            .ok_or_else(|| anyhow!("no port in {}", self.base))
    }

    /// The self-signed certificate the server generated.
    pub fn certificate(&self) -> anyhow::Result<Vec<u8>> {
        let path = self.dir.path().join("data/tls/holdfast-selfsigned.crt");
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// `holdfast key break-glass` on the console: a one-time enrollment code.
    pub fn enrollment_code(&self, username: &str) -> anyhow::Result<String> {
        let out = command(
            self.dir.path(),
            &self.dir.path().join("data"),
            self.db_url.as_deref(),
            &self.env,
        )
        .args(["key", "break-glass", "--username", username])
        .output()
        .context("running `holdfast key break-glass`")?;
        if !out.status.success() {
            bail!(
                "break-glass failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .nth(1)
            .map(|l| l.trim().to_string())
            .filter(|c| c.len() == 43)
            .ok_or_else(|| anyhow!("no code in: {text}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `holdfast` with only the environment this test sets.
fn command(
    cwd: &Path,
    data_dir: &PathBuf,
    db_url: Option<&str>,
    env: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOLDFAST_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd)
        .env("HOLDFAST_DATA_DIR", data_dir)
        .env("HOLDFAST_SERVER__LISTEN", "127.0.0.1:0")
        .env("HOLDFAST_SERVER__WORKERS", "2")
        .env("HOLDFAST_LOG__FORMAT", "pretty")
        .env("HOLDFAST_KEYS__TRUST_DIR", cwd.join("trust"))
        .env("NO_COLOR", "1");
    if let Some(url) = db_url {
        cmd.env("HOLDFAST_DATABASE__URL", url);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}
