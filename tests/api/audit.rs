//! The tamper-evident audit log, from the attacker's side: someone with write
//! access to the database (but not the checkpoint key) edits, deletes, reorders,
//! inserts or truncates events; `verify` must notice and point at the place.

use diesel::prelude::*;
use holdfast::audit::checkpoint::{self, Checkpoint, Signer};
use holdfast::audit::verify::{self, BreakKind, Report};
use holdfast::audit::{self, Event, Outcome, RequestMeta, Who, chain};
use holdfast::clock::Env;
use holdfast::store::models::audit_events::AuditRow;
use holdfast::store::schema::{audit_events, audit_head};
use holdfast::store::{PooledConn, Store};
use serde_json::json;

use crate::support::TestDb;

struct Log {
    db: TestDb,
    store: Store,
    env: Env,
    signer: Signer,
    _keys: tempfile::TempDir,
}

const EVENTS: i64 = 30;

/// A log of `EVENTS` events, checkpointed after event `checkpoint_at` when given.
fn log(checkpoint_at: Option<i64>) -> Log {
    let db = TestDb::new();
    let store = Store::open(&secrecy::SecretString::from(db.url.clone()), 2).unwrap();
    let env = Env::system();
    let keys = tempfile::tempdir().unwrap();
    let signer = Signer::load_or_create(&keys.path().join("checkpoint.key")).unwrap();
    let mut conn = store.conn().unwrap();
    for i in 1..=EVENTS {
        let who = Who {
            id: format!("user-{}", i % 3),
            role: "sales".into(),
            session_ref: Some("s1".into()),
        };
        let ev = Event::new("client.read", Outcome::Ok)
            .by(who)
            .on("client", [format!("c-{i}")])
            .detail(json!({ "n": i, "name": "ნინო ბერიძე" }));
        let meta = RequestMeta {
            request_id: format!("req-{i}"),
            ip: Some("192.0.2.7".into()),
            user_agent: Some("test".into()),
        };
        audit::record(&mut conn, &env, &meta, &ev).unwrap();
        if Some(i) == checkpoint_at {
            checkpoint::make(&mut conn, &signer, &env).unwrap().unwrap();
        }
    }
    drop(conn);
    Log {
        db,
        store,
        env,
        signer,
        _keys: keys,
    }
}

impl Log {
    fn conn(&self) -> PooledConn {
        self.store.conn().unwrap()
    }

    /// What the attacker does first: switch off the append-only triggers.
    fn tamper(&self, statements: &[&str]) {
        let mut conn = self.conn();
        let unlock: &[&str] = if self.db.is_postgres() {
            &[
                "ALTER TABLE audit_events DISABLE TRIGGER USER",
                "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
            ]
        } else {
            &[
                "DROP TRIGGER IF EXISTS audit_no_update",
                "DROP TRIGGER IF EXISTS audit_no_delete",
                "DROP TRIGGER IF EXISTS audit_checkpoints_no_update",
                "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete",
            ]
        };
        for q in unlock.iter().chain(statements) {
            diesel::sql_query(*q).execute(&mut *conn).unwrap();
        }
    }

    fn verify_with(&self, external: &[Checkpoint]) -> Report {
        let mut conn = self.conn();
        verify::verify(&mut conn, &[self.signer.public().clone()], external).unwrap()
    }

    fn verify(&self) -> Report {
        self.verify_with(&[])
    }

    fn rows(&self, from: i64) -> Vec<AuditRow> {
        audit_events::table
            .filter(audit_events::seq.ge(from))
            .order(audit_events::seq.asc())
            .select(AuditRow::as_select())
            .load(&mut *self.conn())
            .unwrap()
    }

    /// Rewrites hashes from `from` to the end as the attacker can: the algorithm
    /// is public, only the checkpoint key is not.
    fn rechain(&self, from: i64) {
        let mut conn = self.conn();
        let mut prev = self.rows(from - 1)[0].hash.clone().unwrap();
        let mut buf = Vec::new();
        for mut row in self.rows(from) {
            row.prev_hash = Some(prev.clone());
            let h = chain::hash_with(&prev, &chain::Fields::from(&row), &mut buf).to_vec();
            diesel::update(audit_events::table.filter(audit_events::seq.eq(row.seq)))
                .set((audit_events::prev_hash.eq(&prev), audit_events::hash.eq(&h)))
                .execute(&mut *conn)
                .unwrap();
            prev = h;
        }
        diesel::update(audit_head::table)
            .set(audit_head::hash.eq(&prev))
            .execute(&mut *conn)
            .unwrap();
    }
}

fn broken(report: &Report) -> (i64, BreakKind) {
    let b = report
        .problem
        .as_ref()
        .expect("the tampering was not detected");
    (b.seq, b.kind)
}

#[test]
fn an_untouched_log_verifies_and_its_events_cannot_be_edited_in_place() {
    let log = log(Some(EVENTS));
    let report = log.verify();
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!(report.events, EVENTS as u64);
    assert_eq!(report.checkpoints, 1);
    assert_eq!(report.head_seq, EVENTS);
    // Without switching the triggers off, the database itself refuses.
    let mut conn = log.conn();
    assert!(
        diesel::sql_query("UPDATE audit_events SET detail = '{}' WHERE seq = 3")
            .execute(&mut *conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("DELETE FROM audit_events WHERE seq = 3")
            .execute(&mut *conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("DELETE FROM audit_checkpoints")
            .execute(&mut *conn)
            .is_err()
    );
}

#[test]
fn an_edited_field_is_found_at_its_event() {
    let log = log(None);
    log.tamper(&["UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 7"]);
    assert_eq!(broken(&log.verify()), (7, BreakKind::Edited));
}

#[test]
fn a_deleted_event_is_found() {
    let log = log(None);
    log.tamper(&["DELETE FROM audit_events WHERE seq = 12"]);
    let report = log.verify();
    assert_eq!(broken(&report), (12, BreakKind::Missing));
    assert!(report.problem.unwrap().message.contains("12 to 12"));
}

#[test]
fn two_swapped_events_are_found() {
    let log = log(None);
    log.tamper(&[
        "UPDATE audit_events SET seq = -5 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -5",
    ]);
    assert_eq!(broken(&log.verify()), (5, BreakKind::Misplaced));
}

#[test]
fn an_inserted_event_is_found_even_when_it_is_correctly_hashed() {
    let log = log(None);
    // Make room at 10 and forge an event chained to 9, hashed the public way.
    log.tamper(&[
        "UPDATE audit_events SET seq = -seq WHERE seq >= 10",
        "UPDATE audit_events SET seq = 1 - seq WHERE seq < 0",
        "UPDATE audit_head SET seq = seq + 1",
    ]);
    let nine = log.rows(9)[0].clone();
    let mut forged = nine.clone();
    forged.seq = 10;
    forged.id = "forged".into();
    forged.prev_hash = nine.hash.clone();
    let mut buf = Vec::new();
    let h = chain::hash_with(
        nine.hash.as_ref().unwrap(),
        &chain::Fields::from(&forged),
        &mut buf,
    );
    let mut conn = log.conn();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::seq.eq(10i64),
            audit_events::id.eq("forged"),
            audit_events::at.eq(forged.at),
            audit_events::request_id.eq(&forged.request_id),
            audit_events::actor_id.eq(&forged.actor_id),
            audit_events::actor_role.eq(&forged.actor_role),
            audit_events::session_ref.eq(&forged.session_ref),
            audit_events::action.eq(&forged.action),
            audit_events::object_kind.eq(&forged.object_kind),
            audit_events::object_ids.eq(&forged.object_ids),
            audit_events::object_count.eq(forged.object_count),
            audit_events::outcome.eq(&forged.outcome),
            audit_events::detail.eq(&forged.detail),
            audit_events::ip.eq(&forged.ip),
            audit_events::user_agent.eq(&forged.user_agent),
            audit_events::prev_hash.eq(&forged.prev_hash),
            audit_events::hash.eq(h.to_vec()),
        ))
        .execute(&mut *conn)
        .unwrap();
    drop(conn);
    // The forged event links correctly; the one it displaced does not.
    assert_eq!(broken(&log.verify()), (11, BreakKind::Misplaced));
}

#[test]
fn a_truncated_tail_is_found_by_the_checkpoint_or_the_head() {
    // Covered by a checkpoint: even moving the head back does not hide it.
    let log1 = log(Some(EVENTS));
    let h25 = log1.rows(25)[0].hash.clone().unwrap();
    log1.tamper(&["DELETE FROM audit_events WHERE seq > 25"]);
    let mut conn = log1.conn();
    diesel::update(audit_head::table)
        .set((audit_head::seq.eq(25i64), audit_head::hash.eq(&h25)))
        .execute(&mut *conn)
        .unwrap();
    drop(conn);
    assert_eq!(broken(&log1.verify()), (26, BreakKind::Truncated));
    // Not yet checkpointed: the head still tells.
    let log2 = log(None);
    log2.tamper(&["DELETE FROM audit_events WHERE seq > 25"]);
    assert_eq!(broken(&log2.verify()), (26, BreakKind::HeadMismatch));
}

#[test]
fn a_recomputed_chain_is_caught_by_a_signed_checkpoint_also_after_deleting_it() {
    let log = log(Some(20));
    log.tamper(&["UPDATE audit_events SET outcome = 'denied' WHERE seq = 8"]);
    log.rechain(8);
    let report = log.verify();
    assert_eq!(broken(&report), (20, BreakKind::Rewritten));
    // Deleting the stored checkpoint does not help once a copy left the server.
    let exported: Vec<Checkpoint> = {
        let mut conn = log.conn();
        checkpoint::all(&mut conn).unwrap()
    };
    log.tamper(&["DELETE FROM audit_checkpoints"]);
    assert!(
        log.verify().ok(),
        "nothing left to compare with inside the database"
    );
    assert_eq!(
        broken(&log.verify_with(&exported)),
        (20, BreakKind::Rewritten)
    );
}

#[test]
fn an_altered_or_foreign_checkpoint_is_refused() {
    let log = log(Some(20));
    log.tamper(&["UPDATE audit_checkpoints SET seq = 19"]);
    assert_eq!(broken(&log.verify()), (19, BreakKind::BadCheckpoint));
    // A checkpoint "signed" by a key verify was not given.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Signer::load_or_create(&other_dir.path().join("k")).unwrap();
    let head = log.rows(EVENTS)[0].hash.clone().unwrap();
    let foreign = other.sign(EVENTS, &head, log.env.now().naive_utc());
    let log2 = self::log(None);
    assert_eq!(
        broken(&log2.verify_with(&[foreign])),
        (EVENTS, BreakKind::UnknownKey)
    );
}

#[test]
fn concurrent_writers_on_separate_pools_form_one_chain() {
    // Two stores are two nodes' connection pools on one database.
    let log = log(None);
    let second = Store::open(&secrecy::SecretString::from(log.db.url.clone()), 4).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = audit::AuditLog::start(
            log.store.clone(),
            log.env.clone(),
            holdfast::audit::values::ValuePolicy::Keep,
        )
        .unwrap();
        let b = audit::AuditLog::start(
            second.clone(),
            log.env.clone(),
            holdfast::audit::values::ValuePolicy::Keep,
        )
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let w = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let ev = Event::new("client.list", Outcome::Ok).detail(json!({ "i": i }));
                w.record(&RequestMeta::default(), &ev).await.unwrap();
            }));
        }
        // Writes inside data transactions interleave with the group commits.
        let st = second.clone();
        let env = log.env.clone();
        let inline = tokio::task::spawn_blocking(move || {
            let mut conn = st.conn().unwrap();
            for _ in 0..50 {
                let ev = Event::new("client.update", Outcome::Ok);
                audit::record(&mut conn, &env, &RequestMeta::default(), &ev).unwrap();
            }
        });
        for t in tasks {
            t.await.unwrap();
        }
        inline.await.unwrap();
    });
    let report = log.verify();
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!(report.events, EVENTS as u64 + 250);
}

#[test]
fn the_servers_own_verifications_are_remembered_in_the_log() {
    let log = log(Some(10));
    let report = verify::scheduled(&mut log.conn(), &log.env, log.signer.public(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problem);
    log.tamper(&["UPDATE audit_events SET action = 'client.list' WHERE seq = 3"]);
    let report = verify::scheduled(&mut log.conn(), &log.env, log.signer.public(), None).unwrap();
    assert_eq!(broken(&report), (3, BreakKind::Edited));
    let remembered = audit::search(
        &mut log.conn(),
        &audit::Query {
            action: Some("audit.verify".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(remembered.len(), 2);
    assert_eq!(remembered[0].outcome, "failed");
    assert!(
        remembered[0].detail.contains("\"edited\""),
        "{}",
        remembered[0].detail
    );
    assert_eq!(remembered[1].outcome, "ok");
}

#[tokio::test]
async fn edits_record_changed_fields_with_personal_values_hashed_under_a_key() {
    use holdfast::audit::values::ValuePolicy;
    use holdfast::identity::Role;
    let s = crate::support::TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let id = c
        .create_client(json!({"name": "Nino Beridze", "phones": ["+995 599 12 34 56"]}))
        .await;
    let (st, body) = c
        .patch(
            &format!("/api/v1/clients/{id}"),
            json!({"name": "ნინო ბერიძე", "phones": ["+995 599 65 43 21"], "status": "warm"}),
        )
        .await;
    assert!(st.is_success(), "{body}");
    let ev = &s.audit("client.update")[0];
    let detail: serde_json::Value = serde_json::from_str(&ev.detail).unwrap();
    assert_eq!(detail["fields"], json!(["name", "status", "contacts"]));
    // Status is not personal: kept. Name and phones: keyed hashes only.
    assert_eq!(detail["status"], json!(["new", "warm"]));
    for raw in ["Nino", "ნინო", "599123456", "599654321"] {
        assert!(!ev.detail.contains(raw), "{raw} in {}", ev.detail);
    }
    let key = ValuePolicy::hashed(&s.data_dir.path().join("audit/values.key")).unwrap();
    assert_eq!(
        detail["values"]["name"]["old"],
        key.show(Some("Nino Beridze"))
    );
    assert_eq!(
        detail["values"]["name"]["new"],
        key.show(Some("ნინო ბერიძე"))
    );
    assert_eq!(
        detail["values"]["phones"]["new"],
        key.show(Some("+995599654321"))
    );
}

mod processes {
    //! The real binary: killed mid-write, restarted, two processes on one
    //! database, and `holdfast audit verify` as the operator runs it.

    use std::io::{BufRead, BufReader, Write};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use reqwest::StatusCode;
    use serde_json::json;

    use crate::support::{Client, PASSWORD, TestDb};

    fn holdfast(dir: &Path, db: &TestDb) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.current_dir(dir)
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_TEST_DATABASE_URL")
            .env("HOLDFAST_LOG__FORMAT", "json")
            .env(
                "HOLDFAST_AUDIT__CHECKPOINT_FILE",
                dir.join("checkpoints.jsonl"),
            );
        if db.is_postgres() {
            cmd.env("HOLDFAST_DATABASE__URL", &db.url);
        } else {
            cmd.env_remove("HOLDFAST_DATABASE__URL");
        }
        cmd
    }

    // The caller stops the child; a test that fails earlier ends the process anyway.
    #[allow(clippy::zombie_processes)]
    fn serve(dir: &Path, db: &TestDb) -> (Child, String) {
        let mut child = holdfast(dir, db)
            .args(["serve"])
            .env("HOLDFAST_SERVER__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "server did not start");
            let line = lines.next().expect("server exited").unwrap();
            if let Some(url) = line.strip_prefix("Holdfast is listening on ") {
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return (child, url.replace("127.0.0.1", "localhost"));
            }
        }
    }

    fn stop(child: &mut Child, signal: &str) {
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
    }

    async fn login(dir: &Path, base: &str) -> Client {
        let pem = std::fs::read(dir.join("holdfast-data/tls/holdfast-selfsigned.crt")).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .cookie_store(true)
            .build()
            .unwrap();
        let mut c = Client {
            http,
            base: base.to_string(),
            csrf: None,
            key: None,
            cert_pem: pem,
        };
        let (st, body) = c
            .post(
                "/api/v1/session",
                json!({"username": "s1", "password": PASSWORD}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        c.csrf = body["csrf_token"].as_str().map(str::to_string);
        c
    }

    /// Card reads and edits until `n` requests were made or the server went away.
    async fn load(c: Client, id: String, n: usize) -> usize {
        let mut ok = 0;
        for i in 0..n {
            let path = format!("/api/v1/clients/{id}");
            let res = if i % 5 == 0 {
                c.http
                    .patch(format!("{}{path}", c.base))
                    .header("x-csrf-token", c.csrf.clone().unwrap_or_default())
                    .json(&json!({"source": format!("edit {i}")}))
                    .send()
                    .await
            } else {
                c.http.get(format!("{}{path}", c.base)).send().await
            };
            match res {
                Ok(r) if r.status().is_success() => ok += 1,
                Ok(r) => panic!("unexpected {}", r.status()),
                Err(_) => break,
            }
        }
        ok
    }

    fn verify(dir: &Path, db: &TestDb) -> (i32, String) {
        let out = holdfast(dir, db)
            .args(["audit", "verify"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_server_a_restart_and_two_processes_keep_one_valid_chain() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::new();
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut add = holdfast(dir, &db)
            .args([
                "user",
                "add",
                "--username",
                "s1",
                "--role",
                "sales",
                "--team",
                "north",
            ])
            .arg("--password-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        add.stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(add.wait().unwrap().success());

        // Two processes on one database (and one checkpoint key).
        let (mut a, url_a) = serve(dir, &db);
        let (mut b, url_b) = serve(dir, &db);
        let ca = login(dir, &url_a).await;
        let cb = login(dir, &url_b).await;
        let id_a = ca.create_client(json!({"name": "Მარიამ Ქავთარაძე"})).await;
        let id_b = cb.create_client(json!({"name": "Юлия Соколова"})).await;
        let on_a = tokio::spawn(load(ca, id_a.clone(), 100_000));
        let on_b = tokio::spawn(load(cb, id_b.clone(), 300));
        // Kill A in the middle of its writes.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop(&mut a, "-KILL");
        let done_a = on_a.await.unwrap();
        let done_b = on_b.await.unwrap();
        assert!(done_a > 0 && done_b == 300, "a: {done_a}, b: {done_b}");

        // Restarted, A continues the same chain.
        let (mut a2, url_a2) = serve(dir, &db);
        let ca2 = login(dir, &url_a2).await;
        assert_eq!(load(ca2, id_a, 50).await, 50);
        stop(&mut a2, "-TERM");
        stop(&mut b, "-TERM");

        let (code, out) = verify(dir, &db);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("audit log: OK"), "{out}");
        // A graceful stop leaves a checkpoint, also in the file on the side.
        let exported = std::fs::read_to_string(dir.join("checkpoints.jsonl")).unwrap();
        assert!(exported.lines().count() >= 1, "{exported}");

        // The oldest events move to a signed file and out of the database; verify
        // continues from it and re-checks the file when given.
        let out = holdfast(dir, &db)
            .args([
                "audit",
                "archive",
                "--through",
                "3",
                "--prune",
                "--dir",
                "archive",
            ])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains("pruned 3 events"), "{printed}");
        let file = dir.join("archive/audit-000000000001-000000000003.jsonl");
        let out = holdfast(dir, &db)
            .args(["audit", "verify", "--archive"])
            .arg(&file)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{printed}");
        assert!(
            printed.contains("3 events only in archive files, 1 files re-checked"),
            "{printed}"
        );

        // The operator's view of tampering: exit code 2 and the place named.
        let mut conn =
            holdfast::store::Target::parse(&secrecy::SecretString::from(if db.is_postgres() {
                db.url.clone()
            } else {
                format!(
                    "sqlite://{}",
                    dir.join("holdfast-data/holdfast.db").display()
                )
            }))
            .unwrap()
            .establish()
            .unwrap();
        use diesel::RunQueryDsl;
        let unlock = if db.is_postgres() {
            "ALTER TABLE audit_events DISABLE TRIGGER USER"
        } else {
            "DROP TRIGGER audit_no_update"
        };
        diesel::sql_query(unlock).execute(&mut conn).unwrap();
        diesel::sql_query(r#"UPDATE audit_events SET detail = '{"tampered": true}' WHERE seq = 4"#)
            .execute(&mut conn)
            .unwrap();
        let (code, out) = verify(dir, &db);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("BROKEN at position 4 (edited)"), "{out}");
    }
}

/// Checkpoints leave the server: appended to a file and POSTed to a webhook, and
/// what arrives verifies with the public key alone.
#[tokio::test]
async fn checkpoints_are_exported_to_a_file_and_a_webhook() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new()
            .route(
                "/ok",
                web::post().to(move |cp: web::Json<Checkpoint>| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().unwrap().push(cp.into_inner());
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
            .route(
                "/down",
                web::post().to(|| async { HttpResponse::ServiceUnavailable().finish() }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let log = log(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offsite.jsonl");
    let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:{port}{p}")).unwrap();
    let exports = checkpoint::Exports::new(Some(file.clone()), Some(url("/ok"))).unwrap();
    let signer =
        std::sync::Arc::new(Signer::load_or_create(&dir.path().join("checkpoint.key")).unwrap());
    let made = checkpoint::make_and_send(&log.store, &signer, &log.env, &exports)
        .await
        .unwrap()
        .expect("a checkpoint of a non-empty log");
    assert_eq!(made.seq, EVENTS);
    // Nothing new since: no second checkpoint.
    assert!(
        checkpoint::make_and_send(&log.store, &signer, &log.env, &exports)
            .await
            .unwrap()
            .is_none()
    );
    let posted = received.lock().unwrap().clone();
    assert_eq!(posted, vec![made.clone()]);
    assert_eq!(
        checkpoint::read_exported(&file).unwrap(),
        vec![made.clone()]
    );
    assert!(signer.public().verifies(&posted[0]));
    // A webhook that is down is reported, and the file still gets its line.
    let failing = checkpoint::Exports::new(Some(file.clone()), Some(url("/down"))).unwrap();
    let failures = failing.send(&made).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].to_string().contains("/down"));
    assert_eq!(checkpoint::read_exported(&file).unwrap().len(), 2);
    handle.stop(true).await;
}

/// Checkpoints by e-mail: the first at once, then at most one per period; the
/// line in the message verifies with the public key alone.
#[tokio::test]
async fn checkpoints_are_mailed_at_most_once_per_period() {
    use holdfast::config::{SmtpConfig, SmtpSecurity};
    let (port, mut mail) = crate::support::smtp_sink().await;
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Holdfast <audit@example.com>".into(),
    };
    let mailer =
        holdfast::mailer::Mailer::new(&smtp, "https://crm.example.com", chrono_tz::UTC).unwrap();
    let exports = checkpoint::Exports {
        email: Some(checkpoint::MailExport::new(
            mailer,
            vec![
                "auditor@example.ge".into(),
                "Owner <owner@example.ge>".into(),
            ],
            std::time::Duration::from_secs(3600),
        )),
        ..Default::default()
    };
    let log = log(None);
    // The same key, loaded again (Signer is not Clone).
    let signer = std::sync::Arc::new(
        Signer::load_or_create(&log._keys.path().join("checkpoint.key")).unwrap(),
    );
    let made = checkpoint::make_and_send(&log.store, &signer, &log.env, &exports)
        .await
        .unwrap()
        .unwrap();
    let (to, data) = mail.recv().await.unwrap();
    assert_eq!(to, vec!["auditor@example.ge", "owner@example.ge"]);
    assert!(data.contains(&format!(
        "Subject: Holdfast audit checkpoint at position {}",
        made.seq
    )));
    // Long lines travel quoted-printable; a mail client shows them whole.
    let data = data.replace("=\n", "").replace("=3D", "=");
    let line = data
        .lines()
        .find(|l| l.starts_with("{\"seq\""))
        .expect("the checkpoint line");
    let mailed: Checkpoint = serde_json::from_str(line).unwrap();
    assert_eq!(mailed, made);
    assert!(log.signer.public().verifies(&mailed));
    // Within the period the next checkpoint stays off the mail.
    let mut conn = log.conn();
    audit::record(
        &mut conn,
        &log.env,
        &RequestMeta::default(),
        &Event::new("client.read", Outcome::Ok).by(Who::console()),
    )
    .unwrap();
    drop(conn);
    let next = checkpoint::make_and_send(&log.store, &signer, &log.env, &exports)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.seq, made.seq + 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(mail.try_recv().is_err());
}

mod archives {
    use super::*;
    use holdfast::audit::archive;
    use std::path::{Path, PathBuf};

    fn verify_files(log: &Log, files: &[PathBuf]) -> Report {
        let mut conn = log.conn();
        verify::verify_with(&mut conn, &[log.signer.public().clone()], &[], files).unwrap()
    }

    /// Events 1..=15 archived to a file and pruned from the database.
    fn pruned(log: &Log, dir: &Path) -> PathBuf {
        let mut conn = log.conn();
        let (segment, path) = archive::write(&mut conn, &log.signer, &log.env, 15, dir).unwrap();
        assert_eq!(
            (segment.first_seq, segment.last_seq, segment.events),
            (1, 15, 15)
        );
        let keys = [log.signer.public().clone()];
        assert_eq!(
            archive::prune(&mut conn, &log.env, &path, &keys).unwrap(),
            15
        );
        path
    }

    #[test]
    fn an_archived_and_pruned_segment_keeps_the_chain_verifiable() {
        let log = log(Some(20));
        let dir = tempfile::tempdir().unwrap();
        let mut conn = log.conn();
        // Before archiving, no event can be deleted, also not by the application's
        // own connection.
        for seq in [1, 20] {
            let sql = format!("DELETE FROM audit_events WHERE seq = {seq}");
            assert!(diesel::sql_query(sql).execute(&mut *conn).is_err());
        }
        drop(conn);
        let path = pruned(&log, dir.path());
        let mut conn = log.conn();
        let first: Option<i64> = audit_events::table
            .select(diesel::dsl::min(audit_events::seq))
            .first(&mut *conn)
            .unwrap();
        assert_eq!(first, Some(16));
        // Events the archive does not cover still cannot be deleted.
        assert!(
            diesel::sql_query("DELETE FROM audit_events WHERE seq = 16")
                .execute(&mut *conn)
                .is_err()
        );
        if log.db.is_postgres() {
            assert!(
                diesel::sql_query("TRUNCATE audit_events")
                    .execute(&mut *conn)
                    .is_err()
            );
        }
        drop(conn);
        let report = log.verify();
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!((report.archives, report.archived_events), (1, 15));
        let report = verify_files(&log, std::slice::from_ref(&path));
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!(report.archive_files, 1);
        // The archiving and the pruning are themselves in the log.
        let actions: Vec<String> = log.rows(16).into_iter().map(|r| r.action).collect();
        assert!(actions.contains(&"audit.archive".to_string()));
        assert!(actions.contains(&"audit.prune".to_string()));
        // The next archive continues where this one ended.
        let mut conn = log.conn();
        let (next, _) = archive::write(&mut conn, &log.signer, &log.env, 25, dir.path()).unwrap();
        assert_eq!((next.first_seq, next.last_seq), (16, 25));
        drop(conn);
        assert!(log.verify().ok());
    }

    #[test]
    fn an_altered_archive_file_is_refused_and_located() {
        let log = log(Some(10));
        let dir = tempfile::tempdir().unwrap();
        let path = pruned(&log, dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        // An event edited in the file (its hash no longer matches).
        let edited = text.replacen("\"user-1\"", "\"user-2\"", 1);
        std::fs::write(&path, &edited).unwrap();
        let report = verify_files(&log, std::slice::from_ref(&path));
        let b = report.problem.expect("the edit was not detected");
        assert_eq!(b.kind, BreakKind::BadArchive);
        assert!(
            b.message.contains("was changed after it was archived"),
            "{}",
            b.message
        );
        // A line removed from the file.
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(5);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let b = verify_files(&log, std::slice::from_ref(&path))
            .problem
            .unwrap();
        assert_eq!(b.kind, BreakKind::BadArchive);
        assert!(b.message.contains("missing"), "{}", b.message);
        // Cut short: the signature is gone.
        let cut: String = text.lines().take(8).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, cut).unwrap();
        let b = verify_files(&log, std::slice::from_ref(&path))
            .problem
            .unwrap();
        assert!(b.message.contains("cut short"), "{}", b.message);
        // Without the files, the database alone still verifies from the signed record.
        assert!(log.verify().ok());
    }

    #[test]
    fn deleting_events_or_records_around_an_archive_is_found() {
        // Events after the archive deleted by someone with the triggers off.
        let log1 = log(None);
        let dir = tempfile::tempdir().unwrap();
        pruned(&log1, dir.path());
        log1.tamper(&["DELETE FROM audit_events WHERE seq IN (16, 17)"]);
        assert_eq!(broken(&log1.verify()), (16, BreakKind::Missing));

        // The archive record deleted to hide that events are gone: the chain in the
        // database no longer starts at the beginning.
        let log2 = log(None);
        let dir2 = tempfile::tempdir().unwrap();
        pruned(&log2, dir2.path());
        let unlock = if log2.db.is_postgres() {
            "ALTER TABLE audit_archives DISABLE TRIGGER USER"
        } else {
            "DROP TRIGGER IF EXISTS audit_archives_no_delete"
        };
        log2.tamper(&[unlock, "DELETE FROM audit_archives"]);
        assert_eq!(broken(&log2.verify()), (16, BreakKind::LinkBroken));

        // A forged archive record (to make the database allow a deletion) does not
        // carry a valid signature.
        let log3 = log(None);
        let mut conn = log3.conn();
        diesel::sql_query(
            "INSERT INTO audit_archives (last_seq, first_seq, events, first_prev_hash, last_hash, \
             body_sha256, file_name, created_at, key_id, signature) \
             SELECT seq, 1, seq, prev_hash, hash, hash, 'forged', at, 'x', hash \
             FROM audit_events WHERE seq = 5",
        )
        .execute(&mut *conn)
        .unwrap();
        diesel::sql_query("DELETE FROM audit_events WHERE seq <= 5")
            .execute(&mut *conn)
            .unwrap();
        drop(conn);
        assert_eq!(broken(&log3.verify()), (1, BreakKind::BadArchive));
    }

    #[test]
    fn a_file_that_is_not_the_recorded_archive_cannot_prune() {
        let log = log(None);
        let dir = tempfile::tempdir().unwrap();
        let mut conn = log.conn();
        let (_, path) = archive::write(&mut conn, &log.signer, &log.env, 10, dir.path()).unwrap();
        let keys = [log.signer.public().clone()];
        // Signed by another key: refused before anything is deleted.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Signer::load_or_create(&other_dir.path().join("k")).unwrap();
        let err = archive::prune(&mut conn, &log.env, &path, &[other.public().clone()]);
        assert!(err.is_err());
        // Nothing left to archive twice.
        assert!(archive::write(&mut conn, &log.signer, &log.env, 10, dir.path()).is_err());
        assert_eq!(
            archive::prune(&mut conn, &log.env, &path, &keys).unwrap(),
            10
        );
        // Pruning again deletes nothing and breaks nothing.
        assert_eq!(
            archive::prune(&mut conn, &log.env, &path, &keys).unwrap(),
            0
        );
        drop(conn);
        assert!(log.verify().ok());
    }
}
