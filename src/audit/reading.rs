//! Stored events read straight into the chain's canonical encoding, for `verify`.
//! Each column is borrowed from the driver's row and written into one buffer per
//! batch, instead of every row becoming a struct of owned strings first: that
//! materialisation, not SHA-256, was what limited `verify`.

use std::ops::Range;

use chrono::NaiveDateTime;
use diesel::connection::{DefaultLoadingMode, LoadConnection};
use diesel::deserialize::FromSql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::row::{Field, Row};
use diesel::sql_types::{BigInt, Integer, Timestamp};
use diesel::sqlite::{Sqlite, SqliteValue};

use super::chain::{self, Fields};
use crate::store::schema::audit_events;
use crate::store::{DbConn, StoreError};

/// Columns selected by `read`, which the row readers below index by.
const COLUMNS: usize = 17;

/// A batch of events in chain order, each as its encoding and stored hashes.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    events: Vec<Entry>,
}

struct Entry {
    seq: i64,
    /// `None` for an event stored without hashes (written before the chain).
    chained: Option<Spans>,
}

struct Spans {
    encoding: Range<usize>,
    prev_hash: Range<usize>,
    hash: Range<usize>,
}

/// One event of a batch.
pub struct Event<'a> {
    pub seq: i64,
    pub chained: Option<Chained<'a>>,
}

/// A chained event: what its hash must be computed over, and what is stored.
pub struct Chained<'a> {
    pub encoding: &'a [u8],
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
}

impl Batch {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn last_seq(&self) -> Option<i64> {
        self.events.last().map(|e| e.seq)
    }

    pub fn events(&self) -> impl Iterator<Item = Event<'_>> {
        self.events.iter().map(|e| Event {
            seq: e.seq,
            chained: e.chained.as_ref().map(|s| Chained {
                encoding: &self.bytes[s.encoding.clone()],
                prev_hash: &self.bytes[s.prev_hash.clone()],
                hash: &self.bytes[s.hash.clone()],
            }),
        })
    }

    fn push(&mut self, fields: &Fields<'_>, prev_hash: Option<&[u8]>, hash: Option<&[u8]>) {
        let (Some(prev_hash), Some(hash)) = (prev_hash, hash) else {
            self.events.push(Entry {
                seq: fields.seq,
                chained: None,
            });
            return;
        };
        let start = self.bytes.len();
        chain::encode_onto(prev_hash, fields, &mut self.bytes);
        let end = self.bytes.len();
        self.bytes.extend_from_slice(hash);
        let prev_at = start + chain::PREV_HASH_AT;
        self.events.push(Entry {
            seq: fields.seq,
            chained: Some(Spans {
                encoding: start..end,
                prev_hash: prev_at..prev_at + prev_hash.len(),
                hash: end..self.bytes.len(),
            }),
        });
    }
}

/// Reads the events with `after < seq <= up_to` in order, at most `limit`, into
/// `batch` (emptied first; its buffers are reused).
pub fn read(
    conn: &mut DbConn,
    after: i64,
    up_to: i64,
    limit: i64,
    batch: &mut Batch,
) -> Result<(), StoreError> {
    batch.bytes.clear();
    batch.events.clear();
    let query = audit_events::table
        .filter(audit_events::seq.gt(after))
        .filter(audit_events::seq.le(up_to))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select((
            audit_events::seq,
            audit_events::id,
            audit_events::at,
            audit_events::request_id,
            audit_events::actor_id,
            audit_events::actor_role,
            audit_events::session_ref,
            audit_events::action,
            audit_events::object_kind,
            audit_events::object_ids,
            audit_events::object_count,
            audit_events::outcome,
            audit_events::detail,
            audit_events::ip,
            audit_events::user_agent,
            audit_events::prev_hash,
            audit_events::hash,
        ));
    match conn {
        DbConn::Sqlite(c) => {
            for row in LoadConnection::<DefaultLoadingMode>::load(c, query)? {
                sqlite_row(&row?, batch)?;
            }
        }
        DbConn::Pg(c) => {
            for row in LoadConnection::<DefaultLoadingMode>::load(c, query)? {
                pg_row(&row?, batch)?;
            }
        }
    }
    Ok(())
}

fn bad(what: &str) -> StoreError {
    StoreError::Audit(format!("an audit event's {what} cannot be read"))
}

fn decoded<T>(r: diesel::deserialize::Result<T>, what: &str) -> Result<T, StoreError> {
    r.map_err(|_| bad(what))
}

fn sqlite_row<'a, R: Row<'a, Sqlite>>(row: &R, batch: &mut Batch) -> Result<(), StoreError> {
    let fields: [Option<R::Field<'_>>; COLUMNS] = std::array::from_fn(|i| row.get(i));
    let values: [Option<SqliteValue<'_, '_, '_>>; COLUMNS] =
        std::array::from_fn(|i| fields[i].as_ref().and_then(|f| f.value()));
    let [
        seq,
        mut id,
        mut at,
        mut request_id,
        mut actor_id,
        mut actor_role,
        mut session_ref,
        mut action,
        mut object_kind,
        mut object_ids,
        object_count,
        mut outcome,
        mut detail,
        mut ip,
        mut user_agent,
        mut prev_hash,
        mut hash,
    ] = values;
    fn text<'v>(v: &'v mut Option<SqliteValue<'_, '_, '_>>) -> Option<&'v str> {
        v.as_mut().map(|v| v.read_text())
    }
    fn required<'v>(
        v: &'v mut Option<SqliteValue<'_, '_, '_>>,
        what: &str,
    ) -> Result<&'v str, StoreError> {
        text(v).ok_or_else(|| bad(what))
    }
    let at = {
        let raw = at.take().ok_or_else(|| bad("time"))?;
        timestamp_sqlite(raw)?
    };
    let seq = decoded(
        <i64 as FromSql<BigInt, Sqlite>>::from_nullable_sql(seq),
        "position",
    )?;
    let object_count = decoded(
        <i32 as FromSql<Integer, Sqlite>>::from_nullable_sql(object_count),
        "count",
    )?;
    let fields = Fields {
        seq,
        id: required(&mut id, "id")?,
        at,
        request_id: text(&mut request_id),
        actor_id: text(&mut actor_id),
        actor_role: text(&mut actor_role),
        session_ref: text(&mut session_ref),
        action: required(&mut action, "action")?,
        object_kind: text(&mut object_kind),
        object_ids: required(&mut object_ids, "object ids")?,
        object_count,
        outcome: required(&mut outcome, "outcome")?,
        detail: required(&mut detail, "detail")?,
        ip: text(&mut ip),
        user_agent: text(&mut user_agent),
    };
    let prev_hash = prev_hash.as_mut().map(|v| v.read_blob());
    let hash = hash.as_mut().map(|v| v.read_blob());
    batch.push(&fields, prev_hash, hash);
    Ok(())
}

/// SQLite keeps timestamps as text in the one spelling diesel writes; that is
/// read by hand, anything else as diesel reads it.
fn timestamp_sqlite(mut raw: SqliteValue<'_, '_, '_>) -> Result<NaiveDateTime, StoreError> {
    if let Some(at) = crate::backup::rows::parse_timestamp(raw.read_text()) {
        return Ok(at);
    }
    decoded(
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(raw),
        "time",
    )
}

fn pg_row<'a, R: Row<'a, Pg>>(row: &R, batch: &mut Batch) -> Result<(), StoreError> {
    let fields: [Option<R::Field<'_>>; COLUMNS] = std::array::from_fn(|i| row.get(i));
    let value = |i: usize| fields[i].as_ref().and_then(|f| f.value());
    let bytes = |i: usize| value(i).map(|v| v.as_bytes());
    let text = |i: usize| -> Result<Option<&str>, StoreError> {
        bytes(i)
            .map(|b| std::str::from_utf8(b).map_err(|_| bad("text")))
            .transpose()
    };
    let required = |i: usize, what: &str| text(i)?.ok_or_else(|| bad(what));
    let fields = Fields {
        seq: decoded(
            <i64 as FromSql<BigInt, Pg>>::from_nullable_sql(value(0)),
            "position",
        )?,
        id: required(1, "id")?,
        at: decoded(
            <NaiveDateTime as FromSql<Timestamp, Pg>>::from_nullable_sql(value(2)),
            "time",
        )?,
        request_id: text(3)?,
        actor_id: text(4)?,
        actor_role: text(5)?,
        session_ref: text(6)?,
        action: required(7, "action")?,
        object_kind: text(8)?,
        object_ids: required(9, "object ids")?,
        object_count: decoded(
            <i32 as FromSql<Integer, Pg>>::from_nullable_sql(value(10)),
            "count",
        )?,
        outcome: required(11, "outcome")?,
        detail: required(12, "detail")?,
        ip: text(13)?,
        user_agent: text(14)?,
    };
    batch.push(&fields, bytes(15), bytes(16));
    Ok(())
}
