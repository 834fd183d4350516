//! The `holdfast` binary as a new user meets it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn holdfast(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    // Unknown HOLDFAST_* variables are configuration errors, so the test harness's
    // own variable must not reach the binary. The CLI test keeps to the embedded
    // default (SQLite); PostgreSQL is covered by the in-process suites.
    cmd.current_dir(dir)
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_TEST_DATABASE_URL")
        .env_remove("HOLDFAST_DATABASE__URL")
        .env("HOLDFAST_LOG__FORMAT", "json");
    cmd
}

#[test]
fn first_run_serves_tls_prints_setup_link_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = holdfast(dir.path())
        .args(["serve"])
        .env("HOLDFAST_SERVER__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = vec![];
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        assert!(Instant::now() < deadline, "no listening line: {printed:?}");
        let line = lines.next().expect("server exited").unwrap();
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("Holdfast is listening on ") {
            break url.to_string();
        }
    };
    let text = printed.join("\n");
    assert!(text.contains("/setup?code="), "{text}");
    assert!(text.contains("SHA-256 fingerprint"), "{text}");
    let data = dir.path().join("holdfast-data");
    assert!(data.join("holdfast.db").exists());
    assert!(data.join("tls/holdfast-selfsigned.crt").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("tls/holdfast-selfsigned.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "private key readable by others");
    assert!(url.starts_with("https://127.0.0.1:"));
    // It answers over TLS.
    let out = Command::new("curl")
        .args(["-sk", &format!("{url}/healthz")])
        .output();
    if let Ok(out) = out {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"status\":\"ok\"}");
    }
    // Graceful stop on SIGTERM.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn user_commands_and_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = holdfast(dir.path())
        .args([
            "user",
            "add",
            "--username",
            "Nino",
            "--role",
            "sales",
            "--team",
            "north",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added nino (sales), team north"));

    let out = holdfast(dir.path())
        .args(["user", "add", "--username", "nino", "--role", "sales"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "duplicate user accepted");
    let out = holdfast(dir.path())
        .args(["user", "add", "--username", "x", "--role", "king"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));

    let out = holdfast(dir.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        list.contains("nino") && list.contains("north") && list.contains("active"),
        "{list}"
    );
    let out = holdfast(dir.path())
        .args(["user", "disable", "--username", "nino"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = holdfast(dir.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled"));

    std::fs::write(
        dir.path().join("holdfast.toml"),
        "[server]\nlisten_adress = \"x\"\n",
    )
    .unwrap();
    let out = holdfast(dir.path()).args(["migrate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen_adress"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = holdfast(dir.path()).args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "init", "user", "demo"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn init_and_migrate_with_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("custom.toml"),
        "data_dir = \"elsewhere\"\n[server]\nlisten = \"127.0.0.1:9443\"\n",
    )
    .unwrap();
    let out = holdfast(dir.path())
        .args(["--config", "custom.toml", "init"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("https://127.0.0.1:9443/setup?code="),
        "{stdout}"
    );
    assert!(stdout.contains("fingerprint"), "{stdout}");
    assert!(dir.path().join("elsewhere/holdfast.db").exists());
    // A second init does not mint another owner; the link is renewed while no password is set.
    let code = |s: &str| {
        s.split("code=")
            .nth(1)
            .and_then(|c| c.split_whitespace().next())
            .map(str::to_string)
            .unwrap()
    };
    let first_code = code(&stdout);
    let out = holdfast(dir.path())
        .args(["--config", "custom.toml", "init"])
        .output()
        .unwrap();
    let second_code = code(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(first_code, second_code);
    // Only the newest link works.
    let db = format!(
        "sqlite://{}",
        dir.path().join("elsewhere/holdfast.db").display()
    );
    let store = holdfast::store::Store::open(&secrecy::SecretString::from(db), 1).unwrap();
    let env = holdfast::clock::Env::system();
    let mut conn = store.conn().unwrap();
    assert!(!holdfast::identity::users::setup_token_valid(&mut conn, &env, &first_code).unwrap());
    assert!(holdfast::identity::users::setup_token_valid(&mut conn, &env, &second_code).unwrap());
    let out = holdfast(dir.path())
        .env("HOLDFAST_CONFIG", "custom.toml")
        .args(["user", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(list.matches("owner").count(), 2, "{list}"); // username and role of one account
    let out = holdfast(dir.path())
        .env("HOLDFAST_CONFIG", "custom.toml")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    let out = holdfast(dir.path())
        .args(["--config", "missing.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn user_add_takes_the_address_alerts_go_to() {
    let dir = tempfile::tempdir().unwrap();
    // A bad address adds nobody.
    let out = holdfast(dir.path())
        .args([
            "user",
            "add",
            "--username",
            "tamar",
            "--role",
            "owner",
            "--email",
            "not-an-address",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an email address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = holdfast(dir.path())
        .args([
            "user",
            "add",
            "--username",
            "tamar",
            "--role",
            "owner",
            "--email",
            "Tamar@Example.GE",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = holdfast::config::Config {
        data_dir: dir.path().join("holdfast-data"),
        ..holdfast::config::Config::default()
    };
    let store = holdfast::cli::open_store(&config).unwrap();
    let mut conn = store.conn().unwrap();
    let user = holdfast::identity::users::find_by_username(&mut conn, "tamar")
        .unwrap()
        .unwrap();
    assert_eq!(
        holdfast::identity::users::email_of(&mut conn, &user.id).unwrap(),
        Some("tamar@example.ge".to_string())
    );
    assert_eq!(
        holdfast::alerts::outbox::recipients(&mut conn, holdfast::alerts::Audience::Owners)
            .unwrap(),
        vec!["tamar@example.ge".to_string()]
    );
    let users = holdfast::identity::users::list(&mut conn).unwrap();
    assert_eq!(users.len(), 1, "only the one added");
}
