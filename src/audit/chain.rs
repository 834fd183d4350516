//! The hash chain. Each event's hash covers a canonical encoding of all its fields
//! and the previous event's hash, so editing, deleting, inserting or reordering an
//! event changes every hash after it. The encoding is written out here rather than
//! derived from serde so that it can never change by accident with a dependency.
//!
//! Encoding (all integers big-endian):
//! `"holdfast-audit-event-v1\0" ‖ prev_hash ‖ u64 seq ‖ str id ‖ str at ‖
//! opt request_id ‖ opt actor_id ‖ opt actor_role ‖ opt session_ref ‖ str action ‖
//! opt object_kind ‖ str object_ids ‖ i64 object_count ‖ str outcome ‖ str detail ‖
//! opt ip ‖ opt user_agent`, where `str` is a u64 byte length then UTF-8 bytes,
//! `opt` is the byte 0 for none or 1 followed by `str`, `at` is
//! `YYYY-MM-DDTHH:MM:SS.ffffff` in UTC and `prev_hash` is 32 bytes (all zero before
//! the first chained event). The hash is SHA-256 of that byte string.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use ring::digest;

use crate::backup::rows::{Fraction, timestamp_text};
use crate::store::models::audit_events::{AuditRow, NewAuditRow};
use crate::store::schema::{audit_events, audit_head};
use crate::store::{DbConn, StoreError};

pub const GENESIS: [u8; 32] = [0; 32];
const DOMAIN: &[u8] = b"holdfast-audit-event-v1\0";
const INSERT_CHUNK: usize = 2000;

/// The hashed fields of one event, borrowed from a new or a stored row.
pub struct Fields<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub at: NaiveDateTime,
    pub request_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub actor_role: Option<&'a str>,
    pub session_ref: Option<&'a str>,
    pub action: &'a str,
    pub object_kind: Option<&'a str>,
    pub object_ids: &'a str,
    pub object_count: i32,
    pub outcome: &'a str,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

macro_rules! fields_from {
    ($row:expr) => {
        Fields {
            seq: $row.seq,
            id: &$row.id,
            at: $row.at,
            request_id: $row.request_id.as_deref(),
            actor_id: $row.actor_id.as_deref(),
            actor_role: $row.actor_role.as_deref(),
            session_ref: $row.session_ref.as_deref(),
            action: &$row.action,
            object_kind: $row.object_kind.as_deref(),
            object_ids: &$row.object_ids,
            object_count: $row.object_count,
            outcome: &$row.outcome,
            detail: &$row.detail,
            ip: $row.ip.as_deref(),
            user_agent: $row.user_agent.as_deref(),
        }
    };
}

pub(crate) use fields_from;

impl<'a> From<&'a AuditRow> for Fields<'a> {
    fn from(row: &'a AuditRow) -> Self {
        fields_from!(row)
    }
}

impl<'a> From<&'a NewAuditRow> for Fields<'a> {
    fn from(row: &'a NewAuditRow) -> Self {
        fields_from!(row)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put_str(buf, s);
        }
    }
}

/// Where `prev_hash` starts in an encoding.
pub const PREV_HASH_AT: usize = DOMAIN.len();

/// Writes the canonical encoding into `buf` (cleared first; reused by `verify`).
pub fn encode(prev_hash: &[u8], f: &Fields<'_>, buf: &mut Vec<u8>) {
    buf.clear();
    encode_onto(prev_hash, f, buf);
}

/// Appends the canonical encoding to `buf`.
pub fn encode_onto(prev_hash: &[u8], f: &Fields<'_>, buf: &mut Vec<u8>) {
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(prev_hash);
    buf.extend_from_slice(&(f.seq as u64).to_be_bytes());
    put_str(buf, f.id);
    // `%Y-%m-%dT%H:%M:%S%.6f`, written without chrono's format interpreter
    // (a third of the hashing time; the same text, tested against chrono).
    put_str(buf, &timestamp_text(f.at, 'T', Fraction::Micros));
    put_opt(buf, f.request_id);
    put_opt(buf, f.actor_id);
    put_opt(buf, f.actor_role);
    put_opt(buf, f.session_ref);
    put_str(buf, f.action);
    put_opt(buf, f.object_kind);
    put_str(buf, f.object_ids);
    buf.extend_from_slice(&i64::from(f.object_count).to_be_bytes());
    put_str(buf, f.outcome);
    put_str(buf, f.detail);
    put_opt(buf, f.ip);
    put_opt(buf, f.user_agent);
}

pub fn hash_with(prev_hash: &[u8], f: &Fields<'_>, buf: &mut Vec<u8>) -> [u8; 32] {
    encode(prev_hash, f, buf);
    sha256(buf)
}

/// SHA-256 of an encoding.
pub fn sha256(encoding: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, encoding);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Appends `rows` (their `seq` and hashes are filled in here) after the current
/// head. Must run inside a write transaction: the head update is the lock that
/// makes concurrent writers, also on other app nodes, form one chain.
pub fn append(conn: &mut DbConn, mut rows: Vec<NewAuditRow>) -> Result<i64, StoreError> {
    let n = rows.len() as i64;
    if n == 0 {
        return head(conn).map(|(seq, _)| seq);
    }
    // Moving the head locks it and says where the batch goes, in one round trip
    // (each one is paid inside the commit that every audited answer waits for).
    let (last, mut prev): (i64, Vec<u8>) =
        diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
            .set(audit_head::seq.eq(audit_head::seq + n))
            .returning((audit_head::seq, audit_head::hash))
            .get_result(conn)
            .optional()?
            .ok_or_else(|| StoreError::Audit("the chain head is missing".into()))?;
    let mut buf = Vec::with_capacity(512);
    for (i, row) in rows.iter_mut().enumerate() {
        row.seq = last - n + 1 + i as i64;
        row.prev_hash = prev;
        let hash = hash_with(&row.prev_hash, &Fields::from(&*row), &mut buf);
        row.hash = hash.to_vec();
        prev = row.hash.clone();
    }
    // Multi-row inserts per backend (the MultiConnection enum cannot); chunks keep
    // PostgreSQL under its 65 535 bind parameters per statement.
    for chunk in rows.chunks(INSERT_CHUNK) {
        match conn {
            DbConn::Pg(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
        .set(audit_head::hash.eq(&prev))
        .execute(conn)?;
    // Detection's counters move with the events, in the same transaction.
    super::usage::count(conn, &rows)?;
    Ok(last)
}

/// The newest position and hash of the chain.
pub fn head(conn: &mut DbConn) -> Result<(i64, Vec<u8>), StoreError> {
    audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::seq, audit_head::hash))
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::Audit("the chain head is missing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> NewAuditRow {
        NewAuditRow {
            seq: 7,
            id: "e1".into(),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
                .map(|d| d.naive_utc())
                .unwrap_or_default(),
            request_id: Some("r".into()),
            actor_id: None,
            actor_role: None,
            session_ref: None,
            action: "client.read".into(),
            object_kind: Some("client".into()),
            object_ids: "[\"a\"]".into(),
            object_count: 1,
            outcome: "ok".into(),
            detail: "{}".into(),
            ip: None,
            user_agent: None,
            prev_hash: GENESIS.to_vec(),
            hash: vec![],
            one_record: false,
        }
    }

    type Change = Box<dyn Fn(&mut NewAuditRow)>;

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let mut buf = Vec::new();
        let base = row();
        let h = hash_with(&GENESIS, &Fields::from(&base), &mut buf);
        let variants: Vec<Change> = vec![
            Box::new(|r| r.seq += 1),
            Box::new(|r| r.id.push('x')),
            Box::new(|r| r.at += chrono::Duration::microseconds(1)),
            Box::new(|r| r.request_id = None),
            Box::new(|r| r.actor_id = Some(String::new())),
            Box::new(|r| r.action.push('x')),
            Box::new(|r| r.object_kind = None),
            Box::new(|r| r.object_ids = "[]".into()),
            Box::new(|r| r.object_count = 2),
            Box::new(|r| r.outcome = "denied".into()),
            Box::new(|r| r.detail = "{ }".into()),
            Box::new(|r| r.ip = Some("::1".into())),
            Box::new(|r| r.user_agent = Some(String::new())),
        ];
        for change in variants {
            let mut r = row();
            change(&mut r);
            assert_ne!(hash_with(&GENESIS, &Fields::from(&r), &mut buf), h);
        }
        assert_ne!(hash_with(&[1; 32], &Fields::from(&base), &mut buf), h);
    }

    #[test]
    fn none_and_empty_string_differ_and_fields_cannot_shift() {
        let mut buf = Vec::new();
        let mut a = row();
        a.actor_id = Some("ab".into());
        a.actor_role = Some("c".into());
        let mut b = row();
        b.actor_id = Some("a".into());
        b.actor_role = Some("bc".into());
        assert_ne!(
            hash_with(&GENESIS, &Fields::from(&a), &mut buf),
            hash_with(&GENESIS, &Fields::from(&b), &mut buf)
        );
    }
}
