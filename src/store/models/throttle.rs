use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::throttle;
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

/// Counts one hit; a window older than `since` starts over. Counters live in the
/// database so that several app nodes share them.
pub fn hit(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    since: NaiveDateTime,
) -> Result<i32, StoreError> {
    conn.transaction(|conn| {
        let row: Option<ThrottleRow> = throttle::table
            .find(key)
            .select(ThrottleRow::as_select())
            .first(conn)
            .optional()?;
        let hits = match row {
            Some(r) if r.window_start > since => {
                diesel::update(throttle::table.find(key))
                    .set(throttle::hits.eq(throttle::hits + 1))
                    .execute(conn)?;
                r.hits + 1
            }
            Some(_) => {
                diesel::update(throttle::table.find(key))
                    .set((throttle::hits.eq(1), throttle::window_start.eq(now)))
                    .execute(conn)?;
                1
            }
            None => {
                diesel::insert_into(throttle::table)
                    .values(ThrottleRow {
                        key: key.to_string(),
                        window_start: now,
                        hits: 1,
                    })
                    .execute(conn)?;
                1
            }
        };
        Ok(hits)
    })
}

pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(throttle::table.find(key)).execute(conn)?;
    Ok(())
}
