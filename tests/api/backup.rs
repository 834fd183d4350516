//! Encrypted backups (issue 7): round trips on both backends and across them,
//! and the faults: a damaged byte, a wrong identity, a forged manifest, a full
//! disk, a killed process. Decryption with the independent Go `age` tool shows
//! the archive is plain age.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use holdfast::audit::Who;
use holdfast::backup::keys;
use holdfast::backup::make::{self, Made, Plan, Trigger};
use holdfast::backup::manifest::{self, Manifest};
use holdfast::backup::read::{self, CheckOnly};
use holdfast::backup::{BackupError, catalog, restore, retention, rows};
use holdfast::config::Config;
use holdfast::store::{DbConn, Store, Target};
use secrecy::SecretString;

use crate::support::{PASSWORD, TestDb, TestServer};

pub(crate) struct Keys {
    pub(crate) dir: tempfile::TempDir,
    identity: PathBuf,
    pub(crate) recipient: String,
}

pub(crate) fn age_keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let id = age::x25519::Identity::generate();
    let identity = dir.path().join("key.txt");
    std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
    Keys {
        recipient: id.to_public().to_string(),
        identity,
        dir,
    }
}

/// A server with demo data (names in Georgian, Cyrillic, Arabic… as the demo
/// generator writes them) and a backup configuration for it.
fn server_with_data(clients: usize) -> (TestServer, Keys, Config) {
    let s = TestServer::start();
    holdfast::demo::load(
        &s.store,
        &s.env,
        clients,
        11,
        &SecretString::from(PASSWORD.to_string()),
    )
    .unwrap();
    let k = age_keys();
    let mut config = s.config.clone();
    config.backup.recipients = vec![k.recipient.clone()];
    config.backup.destinations = vec![k.dir.path().join("dest")];
    (s, k, config)
}

fn plan(config: &Config) -> Plan {
    Plan::from_config(config, Trigger::Console, Who::console()).unwrap()
}

pub(crate) fn backup(s: &TestServer, config: &Config) -> Made {
    make::run(config, &s.store, &s.env, &plan(config)).unwrap()
}

pub(crate) fn archive_path(config: &Config, made: &Made) -> PathBuf {
    config.backup.destinations[0].join(&made.files[0].name)
}

fn trusted(config: &Config) -> Vec<holdfast::audit::checkpoint::PublicKey> {
    keys::trusted(config, &[]).unwrap()
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

pub(crate) fn open(url: &str) -> DbConn {
    Target::parse(&SecretString::from(url.to_string()))
        .unwrap()
        .establish()
        .unwrap()
}

/// Per-table row counts and hashes, read from a live database.
fn table_digests(conn: &mut DbConn) -> Vec<(String, u64, String)> {
    use diesel::Connection;
    conn.transaction::<_, BackupError, _>(|c| {
        let mut out = Vec::new();
        for t in catalog::read(c)? {
            let (n, sha) = rows::digest(c, &t)?;
            out.push((t.name, n, sha));
        }
        Ok(out)
    })
    .unwrap()
}

fn manifest_digests(m: &Manifest) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = m
        .tables
        .iter()
        .map(|t| (t.table.name.clone(), t.rows, t.sha256.clone()))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, u64, String)>) -> Vec<(String, u64, String)> {
    v.sort();
    v
}

fn read_manifest(config: &Config, k: &Keys, archive: &Path) -> Manifest {
    let ids = keys::identities(&k.identity).unwrap();
    read::read_archive(archive, &ids, &trusted(config), None, &mut CheckOnly).unwrap()
}

pub(crate) fn restore_to(
    config: &Config,
    k: &Keys,
    archive: &Path,
    url: &str,
) -> restore::Restored {
    let ids = keys::identities(&k.identity).unwrap();
    let mut conn = open(url);
    restore::restore_into(&mut conn, archive, &ids, &trusted(config), None, false).unwrap()
}

#[test]
fn round_trip_restores_every_row_and_verifies() {
    let (s, k, config) = server_with_data(300);
    let made = backup(&s, &config);
    let archive = archive_path(&config, &made);
    let m = read_manifest(&config, &k, &archive);
    assert!(
        m.tables
            .iter()
            .any(|t| t.table.name == "clients" && t.rows == 300)
    );
    assert!(m.audit_head.seq > 0);
    assert_eq!(m.previous_manifest_sha256, None);

    // Restore into a fresh database of the same backend: every table equal.
    let target = TestDb::new();
    let restored = restore_to(&config, &k, &archive, &target.url);
    assert_eq!(restored.rows, m.tables.iter().map(|t| t.rows).sum::<u64>());
    let mut conn = open(&target.url);
    assert_eq!(sorted(table_digests(&mut conn)), manifest_digests(&m));

    // The restored database works: the chain continues and verifies.
    let store = Store::open(&SecretString::from(target.url.clone()), 2).unwrap();
    let mut c = store.conn().unwrap();
    holdfast::audit::record(
        &mut c,
        &s.env,
        &Default::default(),
        &holdfast::audit::Event::new("backup.restore", holdfast::audit::Outcome::Ok),
    )
    .unwrap();
    let report = holdfast::audit::verify::verify(&mut c, &[], &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problem);

    // Full verification (trial restore into scratch SQLite, with the server's
    // audit checkpoint key) passes; a second backup chains to the first.
    let audit_key = holdfast::audit::checkpoint::PublicKey::read(
        &holdfast::audit::checkpoint::public_key_path(
            &config.audit.signing_key_path(&config.data_dir),
        ),
    )
    .unwrap();
    let trial = restore::trial(
        &archive,
        &keys::identities(&k.identity).unwrap(),
        &trusted(&config),
        Some(&made.manifest_sha256),
        &[audit_key],
        k.dir.path(),
    )
    .unwrap();
    assert_eq!(trial.audit.head_seq, m.audit_head.seq);
    let second = backup(&s, &config);
    let m2 = read_manifest(&config, &k, &archive_path(&config, &second));
    assert_eq!(
        m2.previous_manifest_sha256.as_deref(),
        Some(made.manifest_sha256.as_str())
    );
    // Both are listed, newest first, and the run is in the audit log.
    let listed = retention::list(&config.backup.destinations, &trusted(&config)).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].backup_id, second.backup_id);
    assert!(listed.iter().all(|l| l.signature.starts_with("ok")));
    assert!(
        s.audit("backup.run")
            .iter()
            .any(|e| e.outcome == "ok" && e.detail.contains(&made.backup_id))
    );
}

/// SQLite → PostgreSQL → SQLite, every table equal at each step. Needs a
/// PostgreSQL server (HOLDFAST_TEST_DATABASE_URL), as the PostgreSQL suite has.
#[test]
fn round_trip_across_backends() {
    let Ok(pg_admin) = std::env::var("HOLDFAST_TEST_DATABASE_URL") else {
        eprintln!(
            "round_trip_across_backends: HOLDFAST_TEST_DATABASE_URL not set; runs in the PostgreSQL suite"
        );
        return;
    };
    assert!(!pg_admin.is_empty());
    let (s, k, config) = server_with_data(200);
    let made = backup(&s, &config);
    let archive = archive_path(&config, &made);
    let m = read_manifest(&config, &k, &archive);
    let expected = manifest_digests(&m);

    // To the other backend from the source's.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(dir.path(), "copy.db");
    let pg = TestDb::new();
    assert!(pg.is_postgres());
    let (first, second) = if s.db.is_postgres() {
        (sqlite.clone(), pg.url.clone())
    } else {
        (pg.url.clone(), sqlite.clone())
    };
    restore_to(&config, &k, &archive, &first);
    assert_eq!(sorted(table_digests(&mut open(&first))), expected);

    // Back up the copy on the other backend and restore that into the first
    // backend again.
    let store = Store::open(&SecretString::from(first.clone()), 2).unwrap();
    let mut cfg2 = config.clone();
    cfg2.data_dir = dir.path().join("data2");
    cfg2.backup.signing_key = Some(config.backup.signing_key_path(&config.data_dir));
    cfg2.backup.destinations = vec![dir.path().join("dest2")];
    let made2 = make::run(&cfg2, &store, &s.env, &plan(&cfg2)).unwrap();
    let archive2 = archive_path(&cfg2, &made2);
    let m2 = read_manifest(&cfg2, &k, &archive2);
    // Same data, same members, whichever backend wrote them (the copy's own
    // backup history differs: it holds the first run's row).
    for (name, n, sha) in &expected {
        if name == "backup_runs" {
            continue;
        }
        let t = m2.tables.iter().find(|t| &t.table.name == name).unwrap();
        assert_eq!((&t.rows, &t.sha256), (n, sha), "table {name}");
    }
    restore_to(&cfg2, &k, &archive2, &second);
    assert_eq!(
        sorted(table_digests(&mut open(&second))),
        manifest_digests(&m2)
    );
}

#[test]
fn damaged_byte_is_detected_and_located() {
    let (s, k, config) = server_with_data(300);
    let made = backup(&s, &config);
    let archive = archive_path(&config, &made);
    let size = std::fs::metadata(&archive).unwrap().len();
    assert!(size > 400_000, "{size}");
    // Flip one byte in the fifth 64 KiB chunk of age's stream (after a header
    // of about 180 bytes).
    let at = 300_000;
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&archive, &bytes).unwrap();

    // Without the identity: located to the block.
    let err = read::check_sidecar(&archive, &trusted(&config)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BackupError::Corrupt(_)), "{msg}");
    assert!(
        msg.contains(&format!("bytes 0..{size} (block 1 of 1)")),
        "{msg}"
    );

    // With the identity: decryption fails at that chunk, and a restore leaves the
    // target empty.
    let ids = keys::identities(&k.identity).unwrap();
    let err =
        read::read_archive(&archive, &ids, &trusted(&config), None, &mut CheckOnly).unwrap_err();
    assert!(matches!(err, BackupError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("chunk 4)"), "{err}");
    let target = TestDb::new();
    let mut conn = open(&target.url);
    let err = restore::restore_into(&mut conn, &archive, &ids, &trusted(&config), None, false)
        .unwrap_err();
    assert!(matches!(err, BackupError::Corrupt(_)), "{err}");
    assert!(restore::non_empty_tables(&mut conn).unwrap().is_empty());
}

#[test]
fn wrong_identity_and_non_empty_target_are_refused() {
    let (s, k, config) = server_with_data(20);
    let made = backup(&s, &config);
    let archive = archive_path(&config, &made);
    let other = age_keys();
    let ids = keys::identities(&other.identity).unwrap();
    let err =
        read::read_archive(&archive, &ids, &trusted(&config), None, &mut CheckOnly).unwrap_err();
    assert!(err.to_string().contains("wrong identity"), "{err}");

    // The live database is not empty: refused without --force, nothing lost.
    let ids = keys::identities(&k.identity).unwrap();
    let mut conn = open(&s.db.url);
    let before = sorted(table_digests(&mut conn));
    let err = restore::restore_into(&mut conn, &archive, &ids, &trusted(&config), None, false)
        .unwrap_err();
    assert!(matches!(err, BackupError::Refused(_)), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(sorted(table_digests(&mut conn)), before);

    // --force replaces a database that holds data (shown on SQLite; on
    // PostgreSQL it reverts the migrations the same way).
    let dir = tempfile::tempdir().unwrap();
    let copy = sqlite_url(dir.path(), "copy.db");
    restore_to(&config, &k, &archive, &copy);
    let mut conn = open(&copy);
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE clients SET name = 'changed after the backup'"),
        &mut conn,
    )
    .unwrap();
    let restored =
        restore::restore_into(&mut conn, &archive, &ids, &trusted(&config), None, true).unwrap();
    let m = read_manifest(&config, &k, &archive);
    assert_eq!(restored.backup_id, m.backup_id);
    assert_eq!(sorted(table_digests(&mut conn)), manifest_digests(&m));

    // An identity given as a recipient, a bad recipient, a missing plugin.
    let secret = std::fs::read_to_string(&k.identity).unwrap();
    let err = keys::recipients(&[secret.trim().to_string()])
        .err()
        .unwrap();
    assert!(err.to_string().contains("secret age identity"), "{err}");
    let err = keys::recipients(&["ssh-ed25519 AAAA".into()])
        .err()
        .unwrap();
    assert!(err.to_string().contains("not an age recipient"), "{err}");
    let err = keys::recipients(&[yubikey_recipient()]).err().unwrap();
    assert!(err.to_string().contains("age-plugin-yubikey"), "{err}");
}

/// A syntactically valid `age1yubikey1…` recipient (bech32 of a P-256 point).
fn yubikey_recipient() -> String {
    "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t".into()
}

/// Decrypts, edits and re-encrypts an archive the way someone with the public
/// recipient (but not the signing key) could.
fn rewrite(
    config: &Config,
    k: &Keys,
    archive: &Path,
    out: &Path,
    edit: impl Fn(&mut Vec<u8>, &mut Vec<u8>, &mut Vec<(String, Vec<u8>)>),
) {
    let ids = keys::identities(&k.identity).unwrap();
    let file = std::fs::File::open(archive).unwrap();
    let dec = age::Decryptor::new(file).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let mut tar = tar::Archive::new(&plain[..]);
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        members.push((name, data));
    }
    let (mut mj, mut sig) = (members[0].1.clone(), members[1].1.clone());
    let mut tables = members.split_off(2);
    edit(&mut mj, &mut sig, &mut tables);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json".to_string(), mj),
        ("manifest.sig".to_string(), sig),
    ]
    .into_iter()
    .chain(tables)
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        builder.append_data(&mut h, name, &data[..]).unwrap();
    }
    let plain = builder.into_inner().unwrap();
    let recipient: age::x25519::Recipient = config.backup.recipients[0].parse().unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
    let mut w = enc
        .wrap_output(std::fs::File::create(out).unwrap())
        .unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap();
}

#[test]
fn forged_manifest_is_refused() {
    let (s, k, config) = server_with_data(20);
    let made = backup(&s, &config);
    let archive = archive_path(&config, &made);
    let ids = keys::identities(&k.identity).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A client renamed in the data, its hash updated in the manifest, the old
    // signature kept.
    let edited = dir.path().join("edited.tar.age");
    rewrite(&config, &k, &archive, &edited, |mj, _sig, tables| {
        let (_, data) = tables
            .iter_mut()
            .find(|(n, _)| n == "tables/clients.jsonl")
            .unwrap();
        let text = String::from_utf8(data.clone()).unwrap();
        let first = text.lines().next().unwrap().to_string();
        let mut row: Vec<serde_json::Value> = serde_json::from_str(&first).unwrap();
        row[3] = serde_json::Value::String("Mallory's friend".into());
        *data = text
            .replacen(&first, &serde_json::to_string(&row).unwrap(), 1)
            .into_bytes();
        let mut m: Manifest = serde_json::from_slice(mj).unwrap();
        let t = m
            .tables
            .iter_mut()
            .find(|t| t.table.name == "clients")
            .unwrap();
        t.sha256 = manifest::sha256_hex(data);
        t.bytes = data.len() as u64;
        *mj = serde_json::to_vec_pretty(&m).unwrap();
    });
    let target = TestDb::new();
    let mut conn = open(&target.url);
    let err = restore::restore_into(&mut conn, &edited, &ids, &trusted(&config), None, false)
        .unwrap_err();
    assert!(matches!(err, BackupError::Forged(_)), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert!(restore::non_empty_tables(&mut conn).unwrap().is_empty());

    // The same, re-signed with the forger's own key: not a trusted key.
    let forger_dir = tempfile::tempdir().unwrap();
    let forger =
        holdfast::audit::checkpoint::Signer::load_or_create(&forger_dir.path().join("k")).unwrap();
    let resigned = dir.path().join("resigned.tar.age");
    rewrite(&config, &k, &edited, &resigned, |mj, sig, _| {
        let mut m: Manifest = serde_json::from_slice(mj).unwrap();
        m.signing_key_id = forger.public().id.clone();
        *mj = serde_json::to_vec_pretty(&m).unwrap();
        *sig = serde_json::to_vec(&manifest::sign_manifest(&forger, mj)).unwrap();
    });
    let err = restore::restore_into(&mut conn, &resigned, &ids, &trusted(&config), None, false)
        .unwrap_err();
    assert!(matches!(err, BackupError::Forged(_)), "{err}");
    assert!(
        err.to_string().contains("not a trusted backup key"),
        "{err}"
    );

    // A genuine archive under another name: the sidecar does not vouch for it.
    let renamed = dir.path().join("renamed.tar.age");
    std::fs::copy(&archive, &renamed).unwrap();
    std::fs::copy(
        manifest::sidecar_path(&archive),
        manifest::sidecar_path(&renamed),
    )
    .unwrap();
    let err = read::check_sidecar(&renamed, &trusted(&config)).unwrap_err();
    assert!(matches!(err, BackupError::Forged(_)), "{err}");
}

#[test]
fn independent_age_implementation_decrypts_the_archive() {
    let age_bin = Path::new("/usr/bin/age");
    assert!(
        age_bin.exists(),
        "the Go age tool is needed (Debian package `age`; .ci/run installs it)"
    );
    let (s, k, mut config) = server_with_data(30);
    let pass = k.dir.path().join("pass.txt");
    std::fs::write(&pass, "a long offline-safe passphrase ნინო\n").unwrap();
    config.backup.passphrase_file = Some(pass.clone());
    let made = backup(&s, &config);
    assert_eq!(made.files.len(), 2);
    let archive = archive_path(&config, &made);
    let out = Command::new(age_bin)
        .arg("-d")
        .arg("-i")
        .arg(&k.identity)
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], "manifest.json");
    assert_eq!(names[1], "manifest.sig");
    assert!(names.contains(&"tables/clients.jsonl".to_string()));
    // The manifest inside is the one the sidecar vouches for.
    let mut tar = tar::Archive::new(&out.stdout[..]);
    let mut first = tar.entries().unwrap().next().unwrap().unwrap();
    let mut mj = Vec::new();
    first.read_to_end(&mut mj).unwrap();
    assert_eq!(manifest::sha256_hex(&mj), made.manifest_sha256);

    // The passphrase copy opens with the passphrase alone (and the sidecar
    // says what it is).
    let pass_archive = config.backup.destinations[0].join(&made.files[1].name);
    let check = read::check_sidecar(&pass_archive, &trusted(&config)).unwrap();
    assert_eq!(check.encryption, "passphrase");
    let ids = read::passphrase_identity(keys::passphrase(&pass).unwrap());
    let m =
        read::read_archive(&pass_archive, &ids, &trusted(&config), None, &mut CheckOnly).unwrap();
    assert_eq!(
        manifest::sha256_hex(&serde_json::to_vec_pretty(&m).unwrap()),
        made.manifest_sha256
    );
}

/// A 256 KiB tmpfs: a destination whose disk fills up during the backup.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "mounting a small tmpfs needs root (CAP_SYS_ADMIN), as in the CI container"
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_destination_is_a_clear_error_and_the_crm_keeps_serving() {
    let (s, k, mut config) = server_with_data(300);
    let full = k.dir.path().join("full");
    let _disk = SmallDisk::mount(&full);
    let good = k.dir.path().join("good");

    // One full destination among two: the backup lands on the other, and the
    // full one is reported.
    config.backup.destinations = vec![full.clone(), good.clone()];
    let made = backup(&s, &config);
    let failed = made.failed_destinations();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].error.as_deref().unwrap().contains("disk is full"),
        "{:?}",
        failed[0]
    );
    assert_eq!(
        retention::list(std::slice::from_ref(&full), &trusted(&config))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        retention::list(std::slice::from_ref(&good), &trusted(&config))
            .unwrap()
            .len(),
        1
    );
    // No temporary file is left on the full disk.
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 0);

    // Only the full destination: the run fails with the reason, is audited as
    // failed, and the server still answers.
    config.backup.destinations = vec![full.clone()];
    let err = make::run(&config, &s.store, &s.env, &plan(&config)).unwrap_err();
    assert!(matches!(err, BackupError::Destinations(_)), "{err}");
    assert!(err.to_string().contains("disk is full"), "{err}");
    assert!(
        s.audit("backup.run")
            .iter()
            .any(|e| e.outcome == "failed" && e.detail.contains("disk is full"))
    );
    // The admins are alerted: once for the missing destination, once for the
    // failed run.
    let mut conn = s.store.conn().unwrap();
    let alerts =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 50).unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert!(kinds.contains(&"backup.destination_failed"), "{kinds:?}");
    let failed = alerts.iter().find(|a| a.kind == "backup.failed").unwrap();
    assert!(
        failed.summary.contains("disk is full"),
        "{}",
        failed.summary
    );
    let (status, _) = s.client().get("/healthz").await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

#[test]
fn killed_backup_leaves_nothing_that_is_listed() {
    // The binary, on its own SQLite database with a passphrase copy configured:
    // it is killed while its archive is being written.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let k = age_keys();
    let dest = dir.path().join("dest");
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "a long offline-safe passphrase\n").unwrap();
    // The database: a SQLite file, or a fresh PostgreSQL database when the
    // suite runs against PostgreSQL.
    let db = TestDb::new();
    let mut config = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    config.database.url = Some(SecretString::from(db.url.clone()));
    std::fs::create_dir_all(&data).unwrap();
    let store = Store::open(&config.database_url(), 2).unwrap();
    holdfast::demo::load(
        &store,
        &holdfast::clock::Env::system(),
        500,
        3,
        &SecretString::from(PASSWORD.to_string()),
    )
    .unwrap();
    let toml = format!(
        "data_dir = \"{}\"\n[database]\nurl = \"{}\"\n[backup]\nrecipients = [\"{}\"]\ndestinations = [\"{}\"]\npassphrase_file = \"{}\"\n",
        data.display(),
        db.url,
        k.recipient,
        dest.display(),
        pass.display()
    );
    let cfg_path = dir.path().join("holdfast.toml");
    std::fs::write(&cfg_path, toml).unwrap();
    let cli = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        c.env_remove("HOLDFAST_TEST_DATABASE_URL")
            .env_remove("HOLDFAST_DATABASE__URL")
            .env("HOLDFAST_CONFIG", &cfg_path)
            .env("HOLDFAST_LOG__FORMAT", "json")
            .args(args);
        c
    };
    let mut child = cli(&["backup", "run"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let tmp = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no temporary file appeared"
        );
        let found = std::fs::read_dir(&dest).ok().and_then(|r| {
            r.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".holdfast-tmp-")
            })
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(tmp.exists());
    // The killed run's row still says "running" until a process looks at it.
    let mut conn = store.conn().unwrap();
    let rows = holdfast::backup::runs::recent(&mut conn, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state(), "running", "{rows:?}");
    let out = cli(&["backup", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No archive is listed; the run is, as interrupted, with its end time.
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.starts_with("no backups\n"), "{listed}");
    assert!(listed.contains("interrupted"), "{listed}");
    assert!(!listed.contains("running"), "{listed}");
    let rows = holdfast::backup::runs::recent(&mut conn, 10).unwrap();
    let killed = &rows[0];
    assert_eq!(killed.state(), "interrupted", "{rows:?}");
    assert_eq!(killed.ok, Some(false));
    let ended = killed.finished_at.expect("an end time");
    assert!(ended >= killed.started_at, "{killed:?}");
    assert!(
        killed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("ended before"),
        "{killed:?}"
    );
    // Audited once as a failed run, and the admins are alerted as for any failure.
    let marked: Vec<_> = holdfast::audit::search(
        &mut conn,
        &holdfast::audit::Query {
            action: Some("backup.run".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .filter(|e| e.detail.contains("\"interrupted\":true"))
    .collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0].outcome, "failed");
    let alerts =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 10).unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "backup.failed" && a.summary.contains("interrupted")),
        "{alerts:?}"
    );
    drop(conn);

    // The next run finishes; list shows exactly it, and the CLI verifies it
    // fully and restores it into a new database.
    let out = cli(&["backup", "run"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let out = cli(&["backup", "list", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["archives"].as_array().unwrap().len(), 2, "{listed}");
    let states: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["interrupted"].as_bool().unwrap_or_default())
        .map(|i| if i { "interrupted" } else { "other" })
        .collect();
    assert_eq!(states, ["other", "interrupted"], "{listed}");
    let id = k.identity.display().to_string();
    let out = cli(&["backup", "verify", &archive, "--identity", &id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("trial restore"));
    // The restore drill (the script an admin schedules) takes the newest backup
    // through the full check and a trial restore.
    let drill = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/backup/drill.sh"))
        .arg(&k.identity)
        .arg(&cfg_path)
        .env("DRILL_HOLDFAST_BIN", env!("CARGO_BIN_EXE_holdfast"))
        .env_remove("HOLDFAST_TEST_DATABASE_URL")
        .env_remove("HOLDFAST_DATABASE__URL")
        .env_remove("HOLDFAST_CONFIG")
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert!(
        drill.status.success(),
        "{}",
        String::from_utf8_lossy(&drill.stderr)
    );
    assert!(String::from_utf8_lossy(&drill.stdout).contains("restore drill OK"));
    let copy = sqlite_url(dir.path(), "restored.db");
    let out = cli(&[
        "backup",
        "restore",
        &archive,
        "--identity",
        &id,
        "--to",
        &copy,
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second restore into the same (now full) database is refused.
    let out = cli(&[
        "backup",
        "restore",
        &archive,
        "--identity",
        &id,
        "--to",
        &copy,
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    // The restore is in the restored database's audit log.
    let restored = Store::open(&SecretString::from(copy.clone()), 1).unwrap();
    let mut conn = restored.conn().unwrap();
    let events = holdfast::audit::search(
        &mut conn,
        &holdfast::audit::Query {
            action: Some("backup.restore".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    // …and announced to its owners.
    let alerts =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, true, 10).unwrap();
    assert!(
        alerts.iter().any(|a| a.kind == "backup.restored"),
        "{alerts:?}"
    );
}

/// An unfinished run as `make::run` records it, owned by `node`.
fn running_row(
    id: &str,
    node: &holdfast::backup::liveness::Owner,
    at: chrono::NaiveDateTime,
) -> holdfast::backup::runs::Run {
    holdfast::backup::runs::Run {
        id: id.into(),
        started_at: at,
        finished_at: None,
        trigger_kind: "console".into(),
        actor: Some("console".into()),
        ok: None,
        archive: None,
        manifest_sha256: None,
        ciphertext_sha256: None,
        size_bytes: None,
        row_count: None,
        destinations: "[]".into(),
        error: None,
        node: Some(node.encode()),
        heartbeat_at: Some(at),
        interrupted: false,
    }
}

/// A process of this machine that has ended.
fn dead_process() -> holdfast::backup::liveness::Owner {
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    holdfast::backup::liveness::Owner {
        pid: gone.id(),
        ..holdfast::backup::liveness::Owner::current()
    }
}

#[test]
fn interrupted_runs_are_marked_on_evidence_only_across_nodes() {
    use holdfast::backup::liveness::{self, Owner};
    use holdfast::backup::runs;
    let s = TestServer::start();
    let clock = crate::support::ManualClock::new();
    let env = holdfast::clock::Env {
        clock: clock.clone(),
        entropy: s.env.entropy.clone(),
    };
    let t0 = env.now().naive_utc();
    let me = Owner::current();
    // Another app node on the same PostgreSQL: its process table is not ours.
    let node_b = Owner {
        host: "node-b".into(),
        boot: "another-kernel".into(),
        ..me.clone()
    };
    // The schedule's claim of the dead run's firing, just before it started
    // (made before the run rows, which the server's own start-up sweep may
    // see), and an older claim that is not that run's.
    use holdfast::store::lease;
    let claimed = |at: chrono::NaiveDateTime| {
        let at = at.and_utc();
        lease::claim_run(&mut s.store.conn().unwrap(), "backup", at, "node-a", at).unwrap()
    };
    assert!(claimed(t0 - chrono::Duration::seconds(1)));
    assert!(claimed(t0 - chrono::Duration::hours(1)));
    let mut conn = s.store.conn().unwrap();
    for (id, node) in [
        ("dead-here", dead_process()),
        ("node-b", node_b),
        ("this-process", me),
    ] {
        let mut row = running_row(id, &node, t0);
        if id == "dead-here" {
            row.trigger_kind = "schedule".into();
        }
        runs::start(&mut conn, &row).unwrap();
    }
    // A process of this machine that is gone: marked at once (here, or by the
    // test server's own start-up sweep if that ran late), by one sweeper only.
    liveness::sweep(&s.store, &env).unwrap();
    assert!(liveness::sweep(&s.store, &env).unwrap().is_empty());
    let state_now = |conn: &mut holdfast::store::DbConn, id: &str| {
        runs::recent(conn, 10)
            .unwrap()
            .into_iter()
            .find(|r| r.id == id)
            .unwrap()
            .state()
    };
    assert_eq!(state_now(&mut conn, "dead-here"), "interrupted");
    assert_eq!(state_now(&mut conn, "node-b"), "running");
    // The dead scheduled run's claim ended as failed; the older one is untouched.
    {
        use diesel::prelude::*;
        use holdfast::store::schema::job_runs;
        let claims: Vec<(chrono::NaiveDateTime, Option<bool>, Option<String>)> = job_runs::table
            .filter(job_runs::job.eq("backup"))
            .order(job_runs::slot.asc())
            .select((job_runs::slot, job_runs::ok, job_runs::note))
            .load(&mut conn)
            .unwrap();
        assert_eq!(claims.len(), 2, "{claims:?}");
        assert_eq!(claims[0].1, None, "{claims:?}");
        assert_eq!(claims[1].1, Some(false), "{claims:?}");
        assert!(
            claims[1].2.as_deref().unwrap_or("").contains("interrupted"),
            "{claims:?}"
        );
    }

    // Node b keeps beating: nine minutes apart is still alive…
    clock.advance(chrono::Duration::minutes(9));
    runs::beat(&mut conn, "node-b", env.now().naive_utc()).unwrap();
    let last_beat = env.now().naive_utc();
    clock.advance(chrono::Duration::minutes(9));
    assert!(liveness::sweep(&s.store, &env).unwrap().is_empty());
    // …then it stops: after ten minutes without a beat it is taken as dead, and
    // its end is its last sign of life.
    clock.advance(chrono::Duration::minutes(2));
    let found = liveness::sweep(&s.store, &env).unwrap();
    let ids: Vec<_> = found.iter().map(|f| f.backup_id.as_str()).collect();
    assert_eq!(ids, ["node-b"]);
    // A run of a live process of this machine is never taken, however long it runs.
    clock.advance(chrono::Duration::hours(5));
    assert!(liveness::sweep(&s.store, &env).unwrap().is_empty());

    let rows = runs::recent(&mut conn, 10).unwrap();
    let state = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(state("dead-here").state(), "interrupted");
    assert_eq!(state("dead-here").finished_at, Some(t0));
    assert_eq!(state("node-b").state(), "interrupted");
    assert_eq!(state("node-b").finished_at, Some(last_beat));
    assert!(
        state("node-b")
            .error
            .unwrap()
            .contains("no sign of life from node-b")
    );
    assert_eq!(state("this-process").state(), "running");
    let marked: Vec<_> = s
        .audit("backup.run")
        .into_iter()
        .filter(|e| e.outcome == "failed" && e.detail.contains("\"interrupted\":true"))
        .collect();
    assert_eq!(marked.len(), 2, "{marked:?}");
    assert!(
        marked
            .iter()
            .all(|e| e.actor_id.as_deref() == Some("system:backup"))
    );
    let alerts =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 10).unwrap();
    assert!(
        alerts.iter().any(|a| a.kind == "backup.failed"),
        "{alerts:?}"
    );
}

#[test]
fn retention_keeps_like_restic() {
    use chrono::{Duration, TimeZone, Utc};
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
    // Two backups a day for 120 days, newest first.
    let mut backups: Vec<(String, chrono::DateTime<Utc>)> = (0..240)
        .map(|i| (format!("b{i:03}"), start + Duration::hours(12 * i)))
        .collect();
    backups.reverse();
    let rules = holdfast::config::BackupConfig {
        keep_last: 3,
        keep_daily: 7,
        keep_weekly: 4,
        keep_monthly: 3,
        ..Default::default()
    };
    let kept = retention::keep(&backups, &rules);
    // The 3 newest; one per day for the 7 newest days (the newest of each day);
    // weeks and months add their newest.
    assert!(kept.contains("b239") && kept.contains("b238") && kept.contains("b237"));
    for day in 0..7 {
        assert!(
            kept.contains(&format!("b{:03}", 239 - 2 * day)),
            "day {day}"
        );
    }
    assert!(
        !kept.contains("b226"),
        "the older backup of a kept day goes"
    );
    assert!(kept.len() <= 3 + 7 + 4 + 3);
    assert!(!kept.contains("b000"));
}

#[test]
fn schedule_runs_once_across_nodes_prunes_and_alerts_when_late() {
    use holdfast::backup::schedule::{self, Tick};
    let (s, _k, mut config) = server_with_data(20);
    config.backup.schedule = "0 0 2 * * *".into();
    config.backup.keep_last = 2;
    config.backup.keep_daily = 0;
    config.backup.keep_weekly = 0;
    config.backup.keep_monthly = 0;
    config.backup.max_age_hours = 26;
    let clock = crate::support::ManualClock::new();
    let env = holdfast::clock::Env {
        clock: clock.clone(),
        entropy: s.env.entropy.clone(),
    };
    let listed = |c: &Config| retention::list(&c.backup.destinations, &trusted(c)).unwrap();

    // Two nodes fire at the same moment: one backs up, the other skips.
    let a = schedule::tick(&config, &s.store, &env, "node-a").unwrap();
    let b = schedule::tick(&config, &s.store, &env, "node-b").unwrap();
    assert!(matches!(a, Tick::Done { .. }), "{a:?}");
    assert!(matches!(b, Tick::Skipped), "{b:?}");
    assert_eq!(listed(&config).len(), 1);
    assert!(!schedule::check_late(&config, &s.store, &env).unwrap());

    // Next day, then the day after: the third good backup prunes the oldest.
    for _ in 0..2 {
        clock.advance(chrono::Duration::days(1));
        let t = schedule::tick(&config, &s.store, &env, "node-b").unwrap();
        assert!(matches!(t, Tick::Done { .. }), "{t:?}");
    }
    assert_eq!(listed(&config).len(), 2);
    let prunes = s.audit("backup.prune");
    assert!(
        prunes.iter().any(
            |e| e.detail.contains(".tar.age") && e.actor_id.as_deref() == Some("system:backup")
        ),
        "{prunes:?}"
    );
    assert!(
        s.audit("backup.run")
            .iter()
            .any(|e| e.detail.contains("\"schedule\""))
    );

    // Nothing for 27 hours: the admins are alerted, once.
    clock.advance(chrono::Duration::hours(27));
    assert!(schedule::check_late(&config, &s.store, &env).unwrap());
    assert!(schedule::check_late(&config, &s.store, &env).unwrap());
    let mut conn = s.store.conn().unwrap();
    let late: Vec<_> =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 50)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == "backup.late")
            .collect();
    assert_eq!(late.len(), 1, "{late:?}");

    // A failing scheduled backup (no recipients) is recorded as failed and alerted.
    clock.advance(chrono::Duration::days(1));
    config.backup.recipients.clear();
    let t = schedule::tick(&config, &s.store, &env, "node-a").unwrap();
    assert!(matches!(t, Tick::Failed { .. }), "{t:?}");
    let failed =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 50).unwrap();
    assert!(
        failed.iter().any(|a| a.kind == "backup.failed"),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_the_configured_schedule() {
    let k = age_keys();
    let backup = holdfast::config::BackupConfig {
        recipients: vec![k.recipient.clone()],
        destinations: vec![k.dir.path().join("dest")],
        schedule: "* * * * * *".into(),
        ..Default::default()
    };
    let s = TestServer::start_with(crate::support::Options {
        backup: Some(backup),
        ..Default::default()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut conn = s.store.conn().unwrap();
        let runs = holdfast::backup::runs::recent(&mut conn, 10).unwrap();
        if runs
            .iter()
            .any(|r| r.trigger_kind == "schedule" && r.ok == Some(true))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled backup: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = retention::list(&[k.dir.path().join("dest")], &trusted(&s.config)).unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_runs_lists_and_restores_with_a_fresh_key_proof() {
    use holdfast::identity::Role;
    use reqwest::StatusCode;
    use serde_json::json;
    let k = age_keys();
    let clock = crate::support::ManualClock::new();
    let target = tempfile::tempdir().unwrap();
    let allowed = format!("sqlite://{}/", target.path().display());
    let s = TestServer::start_with(crate::support::Options {
        clock: Some(clock.clone()),
        backup: Some(holdfast::config::BackupConfig {
            recipients: vec![k.recipient.clone()],
            destinations: vec![k.dir.path().join("dest")],
            restore_targets: vec![allowed.into()],
            ..Default::default()
        }),
        ..Default::default()
    });
    s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("ops", Role::Admin, None);
    let sales = s.login("nino").await;
    let (st, _) = sales.post("/api/v1/backups", json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(s.audit("backup.run").iter().any(|e| e.outcome == "denied"));

    let admin = s.login_elevated("ops").await;
    let (st, made) = admin.post("/api/v1/backups", json!({})).await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let (st, history) = admin.get("/api/v1/backups").await;
    assert_eq!(st, StatusCode::OK, "{history}");
    assert_eq!(history["runs"][0]["trigger_kind"], "admin");
    let name = history["archives"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(name, made["files"][0]["name"]);

    // A restore needs a proof from the last few minutes.
    let identity = std::fs::read_to_string(&k.identity).unwrap();
    let body = json!({
        "archive": name,
        "identity": identity,
        "target_url": sqlite_url(target.path(), "copy.db"),
    });
    clock.advance(chrono::Duration::minutes(6));
    let (st, err) = admin.post("/api/v1/backups/restore", body.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["code"], "key_step_up_required");
    assert!(
        s.audit("backup.restore")
            .iter()
            .any(|e| e.outcome == "denied")
    );
    assert!(!target.path().join("copy.db").exists());

    let (st, proof) = admin.prove().await;
    assert_eq!(st, StatusCode::OK, "{proof}");
    // Not into the database the server runs on.
    let mut live = body.clone();
    live["target_url"] = json!(s.db.url);
    let (st, err) = admin.post("/api/v1/backups/restore", live).await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
    // Nor into an existing file elsewhere on the server.
    let existing = target.path().join("other.db");
    std::fs::write(&existing, b"").unwrap();
    let mut other = body.clone();
    other["target_url"] = json!(format!("sqlite://{}", existing.display()));
    let (st, err) = admin.post("/api/v1/backups/restore", other).await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
    assert_eq!(std::fs::metadata(&existing).unwrap().len(), 0);
    // Nor anywhere the configuration does not list: another directory, or a
    // database the requester controls.
    let elsewhere = tempfile::tempdir().unwrap();
    for url in [
        sqlite_url(elsewhere.path(), "mine.db"),
        format!(
            "sqlite://{}/../{}/mine.db",
            target.path().display(),
            elsewhere.path().file_name().unwrap().to_string_lossy()
        ),
        "postgres://thief@203.0.113.9/loot".to_string(),
    ] {
        let mut away = body.clone();
        away["target_url"] = json!(url);
        let (st, err) = admin.post("/api/v1/backups/restore", away).await;
        assert_eq!(st, StatusCode::CONFLICT, "{url}: {err}");
        assert!(err.to_string().contains("restore_targets"), "{err}");
    }
    assert!(!elsewhere.path().join("mine.db").exists());
    let refused = s.audit("backup.restore");
    assert!(
        refused
            .iter()
            .filter(|e| e.outcome == "failed" && e.detail.contains("restore_targets"))
            .count()
            >= 3,
        "{refused:?}"
    );
    let (st, restored) = admin.post("/api/v1/backups/restore", body).await;
    assert_eq!(st, StatusCode::OK, "{restored}");
    assert!(restored["rows"].as_u64().unwrap() > 0);
    assert!(s.audit("backup.restore").iter().any(|e| e.outcome == "ok"));
    let mut conn = s.store.conn().unwrap();
    let owners =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, true, 10).unwrap();
    assert!(
        owners.iter().any(|a| a.kind == "backup.restored"),
        "{owners:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_shows_history_and_makes_a_backup() {
    use holdfast::identity::Role;
    use reqwest::StatusCode;
    let k = age_keys();
    let s = TestServer::start_with(crate::support::Options {
        backup: Some(holdfast::config::BackupConfig {
            recipients: vec![k.recipient.clone()],
            destinations: vec![k.dir.path().join("dest")],
            ..Default::default()
        }),
        ..Default::default()
    });
    s.add_user("ops", Role::Admin, None);
    s.add_user("nino", Role::Sales, Some("north"));
    let sales = s.login("nino").await;
    let resp = sales
        .raw(reqwest::Method::GET, "/admin/backups")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A run whose process was killed reads "interrupted", not "running".
    {
        let mut conn = s.store.conn().unwrap();
        let at = s.env.now().naive_utc();
        holdfast::backup::runs::start(&mut conn, &running_row("killed", &dead_process(), at))
            .unwrap();
    }
    let admin = s.login_elevated("ops").await;
    let page = |c: &crate::support::Client| c.raw(reqwest::Method::GET, "/admin/backups").send();
    let html = page(&admin).await.unwrap().text().await.unwrap();
    assert!(html.contains("No backups yet."), "{html}");
    assert!(html.contains("data-outcome=\"interrupted\""), "{html}");
    assert!(!html.contains("data-outcome=\"running\""), "{html}");
    let resp = admin
        .raw(reqwest::Method::POST, "/admin/backups/run")
        .form(&[("csrf", admin.csrf.clone().unwrap())])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );
    let html = page(&admin).await.unwrap().text().await.unwrap();
    assert!(html.contains("data-outcome=\"ok\""), "{html}");
    assert!(html.contains(".tar.age"), "{html}");
    assert!(
        s.audit("backup.run")
            .iter()
            .any(|e| e.outcome == "ok" && e.actor_role.as_deref() == Some("admin"))
    );
}
