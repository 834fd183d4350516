use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::throttle;
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = throttle)]
pub struct ThrottleRow {
    pub key: String,
    pub window_start: NaiveDateTime,
    pub hits: i32,
}

/// Hits counted for `key` in the window that began after `since`.
pub fn hits(conn: &mut DbConn, key: &str, since: NaiveDateTime) -> Result<i32, StoreError> {
    let row: Option<ThrottleRow> = throttle::table
        .find(key)
        .select(ThrottleRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(r) if r.window_start > since => r.hits,
        _ => 0,
    })
}

#[derive(QueryableByName)]
struct Hits {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    hits: i32,
}

/// Counts one hit and returns the count in the current window; a window that
/// began before `since` starts over. One atomic upsert, so concurrent requests
/// (and several app nodes) never lose a hit. The statement is the same on both
/// backends except for the placeholder syntax.
pub fn hit(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    since: NaiveDateTime,
) -> Result<i32, StoreError> {
    use diesel::sql_types::{Text, Timestamp};
    const UPSERT: &str = "INSERT INTO throttle (key, window_start, hits) VALUES ({1}, {2}, 1) \
        ON CONFLICT (key) DO UPDATE SET \
        hits = CASE WHEN throttle.window_start > {3} THEN throttle.hits + 1 ELSE 1 END, \
        window_start = CASE WHEN throttle.window_start > {3} THEN throttle.window_start ELSE {2} END \
        RETURNING hits";
    let rows: Vec<Hits> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            UPSERT
                .replace("{1}", "?1")
                .replace("{2}", "?2")
                .replace("{3}", "?3"),
        )
        .bind::<Text, _>(key)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(since)
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            UPSERT
                .replace("{1}", "$1")
                .replace("{2}", "$2")
                .replace("{3}", "$3"),
        )
        .bind::<Text, _>(key)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(since)
        .load(c)?,
    };
    Ok(rows.first().map(|r| r.hits).unwrap_or(1))
}

pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(throttle::table.find(key)).execute(conn)?;
    Ok(())
}
