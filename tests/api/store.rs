//! Storage: migrations round-trip on both backends.

use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use holdfast::store::{self, DbConn, Store};
use secrecy::SecretString;

use crate::support::TestDb;

#[derive(diesel::QueryableByName, PartialEq, Debug)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn schema(conn: &mut DbConn) -> Vec<String> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master \
             WHERE name NOT LIKE '__diesel%' ORDER BY type, name"
        }
        DbConn::Pg(_) => {
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
             COALESCE(column_default, '') AS line FROM information_schema.columns WHERE table_schema = 'public' \
             UNION ALL SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
             UNION ALL SELECT 'trigger ' || trigger_name || ' ' || event_manipulation || ' ' || event_object_table \
             FROM information_schema.triggers ORDER BY 1"
        }
    };
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .filter(|l| !l.line.contains("__diesel_schema_migrations"))
        .map(|l| l.line)
        .collect()
}

#[test]
fn migrations_up_down_up_give_the_same_schema() {
    let db = TestDb::new();
    let store = Store::open(&SecretString::from(db.url.clone()), 2).unwrap();
    let mut conn = store.conn().unwrap();
    let first = schema(&mut conn);
    assert!(first.iter().any(|l| l.contains("audit_events")));
    store::revert_all_migrations(&mut conn).unwrap();
    let empty = schema(&mut conn);
    assert!(empty.iter().all(|l| !l.contains("clients")), "{empty:?}");
    store::run_migrations(&mut conn).unwrap();
    assert_eq!(schema(&mut conn), first);
}

#[test]
fn backend_is_chosen_by_url_scheme_never_guessed() {
    // A PostgreSQL URL that cannot connect must fail, not fall back to a SQLite file.
    let err = Store::open(&SecretString::from("postgres://nobody@127.0.0.1:1/none"), 1);
    assert!(err.is_err());
    assert!(!std::path::Path::new("postgres:").exists());
    let err = Store::open(&SecretString::from("mysql://x"), 1);
    assert!(err.is_err());
}

#[test]
fn a_scheduled_slot_is_claimed_by_exactly_one_node() {
    use holdfast::store::lease;
    let db = TestDb::new();
    let store = Store::open(&SecretString::from(db.url.clone()), 8).unwrap();
    let now = chrono::Utc::now();
    let slot = lease::slot_of(now, chrono::Duration::minutes(1));
    // Eight "nodes" race for the same slot; one wins.
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                s.spawn(move || {
                    let mut conn = store.conn().unwrap();
                    lease::claim_run(&mut conn, "backup", slot, &format!("node{n}"), now).unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum()
    });
    assert_eq!(winners, 1);
    let mut conn = store.conn().unwrap();
    // A restarted node does not run the slot again; another job or slot is free.
    assert!(!lease::claim_run(&mut conn, "backup", slot, "node9", now).unwrap());
    assert!(lease::claim_run(&mut conn, "verify", slot, "node9", now).unwrap());
    assert_eq!(lease::last_success(&mut conn, "backup").unwrap(), None);
    lease::finish_run(&mut conn, "backup", slot, true, "3 tables", now).unwrap();
    let later = slot + chrono::Duration::minutes(1);
    assert!(lease::claim_run(&mut conn, "backup", later, "node1", now).unwrap());
    lease::finish_run(&mut conn, "backup", later, false, "disk full", now).unwrap();
    assert_eq!(
        lease::last_success(&mut conn, "backup").unwrap(),
        Some(slot)
    );
}

#[test]
fn an_open_alert_is_not_raised_twice_and_acknowledging_reopens_the_key() {
    use holdfast::alerts::{self, Audience, NewAlert, Severity};
    use holdfast::clock::Env;
    let db = TestDb::new();
    let store = Store::open(&SecretString::from(db.url.clone()), 2).unwrap();
    let mut conn = store.conn().unwrap();
    let env = Env::system();
    let alert = NewAlert {
        kind: "decoy.viewed".into(),
        severity: Severity::High,
        audience: Audience::Owners,
        subject_user: None,
        summary: "Decoy client «Нино Ბერიძე» opened".into(),
        detail: serde_json::json!({"client": "x", "name": "مريم"}),
        evidence: vec![7, 9],
        dedupe_key: Some("decoy:x:u1".into()),
    };
    // Inside a transaction, as a Gate write would: the duplicate must not abort it.
    let (first, second) = store::write_tx(&mut conn, |c| {
        let a = alerts::raise(c, &env, &alert)?;
        let b = alerts::raise(c, &env, &alert)?;
        Ok::<_, store::StoreError>((a, b))
    })
    .unwrap();
    let first = first.expect("first alert raised");
    assert!(second.is_none());
    assert_eq!(first.summary, alert.summary);
    assert_eq!(first.evidence, vec![7, 9]);
    assert_eq!(first.detail["name"], "مريم");
    assert!(
        alerts::list(&mut conn, Audience::Admins, true, 50)
            .unwrap()
            .is_empty()
    );
    let open = alerts::list(&mut conn, Audience::Owners, true, 50).unwrap();
    assert_eq!(open.len(), 1);

    // acknowledged_by references users: an unknown user is refused by the database.
    assert!(alerts::acknowledge(&mut conn, &env, &first.id, "no-such-user", "seen").is_err());
    let now = chrono::Utc::now().naive_utc();
    let insert = "INSERT INTO users (id, username, display_name, role, disabled, created_at, updated_at) \
        VALUES ('u-owner', 'owner', 'Owner', 'owner', false, {now}, {now})";
    let now_sql = format!("'{}'", now.format("%Y-%m-%d %H:%M:%S"));
    diesel::sql_query(insert.replace("{now}", &now_sql))
        .execute(&mut conn)
        .unwrap();
    let acked = alerts::acknowledge(&mut conn, &env, &first.id, "u-owner", "checked")
        .unwrap()
        .unwrap();
    assert_eq!(acked.ack_comment.as_deref(), Some("checked"));
    assert_eq!(acked.acknowledged_by.as_deref(), Some("u-owner"));
    // A second acknowledgement keeps the first.
    let again = alerts::acknowledge(&mut conn, &env, &first.id, "u-owner", "later")
        .unwrap()
        .unwrap();
    assert_eq!(again.ack_comment.as_deref(), Some("checked"));
    assert!(
        alerts::list(&mut conn, Audience::Owners, true, 50)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        alerts::list(&mut conn, Audience::Owners, false, 50)
            .unwrap()
            .len(),
        1
    );
    // Once acknowledged, the same signal may alert again.
    assert!(alerts::raise(&mut conn, &env, &alert).unwrap().is_some());
    assert!(
        alerts::acknowledge(&mut conn, &env, "no-such-id", "u", "c")
            .unwrap()
            .is_none()
    );
}

/// A restore treats a freshly migrated database as empty only if it knows every
/// table a migration fills; a new seeded table must be added to the list.
#[test]
fn the_tables_migrations_fill_are_the_ones_a_restore_expects() {
    use holdfast::backup::catalog;
    let db = TestDb::new();
    let store = Store::open(&SecretString::from(db.url.clone()), 1).unwrap();
    let mut conn = store.conn().unwrap();
    let mut filled: Vec<String> = catalog::read(&mut conn)
        .unwrap()
        .into_iter()
        .filter(|t| catalog::count_rows(&mut conn, &t.name).unwrap() > 0)
        .map(|t| t.name)
        .collect();
    filled.sort();
    let mut expected: Vec<String> = catalog::SEEDED.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(filled, expected);
}
