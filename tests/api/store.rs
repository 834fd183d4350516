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
