//! Old segments of the chain, moved to signed files. `holdfast audit archive` writes
//! events `first..=last` to a file (after checking their chain), signs a statement
//! of what the file holds with the checkpoint key, and records that statement in
//! `audit_archives`; `--prune` then deletes the archived events, which the database
//! allows only for positions an archive row covers. `verify` continues the chain
//! from the newest pruned archive and, given the files, re-checks every event in
//! them.
//!
//! File (JSON lines, UTF-8): a header object, one object per event (every hashed
//! field, hashes in hex), and a trailer `{"body_sha256", "signature"}` where
//! `body_sha256` is SHA-256 over all bytes before the trailer line. Signed message:
//! `"holdfast-audit-archive-v1\0" ‖ u64 first_seq ‖ u64 last_seq ‖ u64 events ‖
//! first_prev_hash (32) ‖ last_hash (32) ‖ body_sha256 (32) ‖ created_at` (as in
//! checkpoints: `YYYY-MM-DDTHH:MM:SS.ffffffZ`), integers big-endian.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::digest;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::chain::{self, Fields, GENESIS};
use super::checkpoint::{Checkpoint, PublicKey, Signer};
use crate::clock::Env;
use crate::store::models::audit_events::AuditRow;
use crate::store::schema::{audit_archives, audit_events};
use crate::store::{DbConn, StoreError, write_tx};

const FORMAT: &str = "holdfast-audit-archive-v1";
const DOMAIN: &[u8] = b"holdfast-audit-archive-v1\0";
const BATCH: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    /// The file is not what its signature says, or its chain is broken.
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ArchiveError {
    fn from(e: diesel::result::Error) -> Self {
        ArchiveError::Store(e.into())
    }
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// The signed statement about one archive file, as stored in `audit_archives`.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = audit_archives)]
pub struct Segment {
    pub last_seq: i64,
    pub first_seq: i64,
    pub events: i64,
    #[serde(with = "hex::serde")]
    pub first_prev_hash: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub last_hash: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub body_sha256: Vec<u8>,
    pub file_name: String,
    pub created_at: NaiveDateTime,
    pub key_id: String,
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

impl Segment {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + 24 + 96 + 32);
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(&(self.first_seq as u64).to_be_bytes());
        m.extend_from_slice(&(self.last_seq as u64).to_be_bytes());
        m.extend_from_slice(&(self.events as u64).to_be_bytes());
        m.extend_from_slice(&self.first_prev_hash);
        m.extend_from_slice(&self.last_hash);
        m.extend_from_slice(&self.body_sha256);
        m.extend_from_slice(
            self.created_at
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string()
                .as_bytes(),
        );
        m
    }

    pub fn signed_by(&self, keys: &[PublicKey]) -> Result<(), String> {
        let Some(key) = keys.iter().find(|k| k.id == self.key_id) else {
            return Err(format!(
                "the archive of events {}..{} is signed by key {}, which was not given to verify",
                self.first_seq, self.last_seq, self.key_id
            ));
        };
        UnparsedPublicKey::new(&ED25519, &key.bytes)
            .verify(&self.message(), &self.signature)
            .map_err(|_| {
                format!(
                    "the archive record of events {}..{} has an invalid signature: it was altered",
                    self.first_seq, self.last_seq
                )
            })
    }
}

/// The header line of an archive file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    first_seq: i64,
    last_seq: i64,
    events: i64,
    #[serde(with = "hex::serde")]
    first_prev_hash: Vec<u8>,
    #[serde(with = "hex::serde")]
    last_hash: Vec<u8>,
    created_at: DateTime<Utc>,
    key_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    #[serde(with = "hex::serde")]
    body_sha256: Vec<u8>,
    #[serde(with = "hex::serde")]
    signature: Vec<u8>,
}

/// One event as stored in the file: every field the hash covers.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    seq: i64,
    id: String,
    at: NaiveDateTime,
    request_id: Option<String>,
    actor_id: Option<String>,
    actor_role: Option<String>,
    session_ref: Option<String>,
    action: String,
    object_kind: Option<String>,
    object_ids: String,
    object_count: i32,
    outcome: String,
    detail: String,
    ip: Option<String>,
    user_agent: Option<String>,
    #[serde(with = "hex::serde")]
    prev_hash: Vec<u8>,
    #[serde(with = "hex::serde")]
    hash: Vec<u8>,
}

impl<'a> From<&'a Line> for Fields<'a> {
    fn from(line: &'a Line) -> Self {
        chain::fields_from!(line)
    }
}

impl From<&AuditRow> for Line {
    fn from(row: &AuditRow) -> Self {
        Line {
            seq: row.seq,
            id: row.id.clone(),
            at: row.at,
            request_id: row.request_id.clone(),
            actor_id: row.actor_id.clone(),
            actor_role: row.actor_role.clone(),
            session_ref: row.session_ref.clone(),
            action: row.action.clone(),
            object_kind: row.object_kind.clone(),
            object_ids: row.object_ids.clone(),
            object_count: row.object_count,
            outcome: row.outcome.clone(),
            detail: row.detail.clone(),
            ip: row.ip.clone(),
            user_agent: row.user_agent.clone(),
            prev_hash: row.prev_hash.clone().unwrap_or_default(),
            hash: row.hash.clone().unwrap_or_default(),
        }
    }
}

/// Writes what passes through it and hashes it, so the body hash needs no second
/// read of the file.
struct Hashing<W: Write> {
    inner: W,
    ctx: digest::Context,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub fn all(conn: &mut DbConn) -> Result<Vec<Segment>, StoreError> {
    Ok(audit_archives::table
        .order(audit_archives::last_seq.asc())
        .select(Segment::as_select())
        .load(conn)?)
}

/// Archives the chained events after the newest archive up to `through` (inclusive)
/// into a new file in `dir`. Refuses a range whose chain does not verify: a broken
/// segment must be investigated, not signed.
pub fn write(
    conn: &mut DbConn,
    signer: &Signer,
    env: &Env,
    through: i64,
    dir: &Path,
) -> Result<(Segment, PathBuf), ArchiveError> {
    let previous = all(conn)?.pop();
    let (head_seq, _) = chain::head(conn)?;
    let through = through.min(head_seq);
    let (first, mut prev) = match &previous {
        Some(p) => (p.last_seq + 1, p.last_hash.clone()),
        None => {
            let first: Option<i64> = audit_events::table
                .select(diesel::dsl::min(audit_events::seq))
                .first(conn)?;
            (first.unwrap_or(1), GENESIS.to_vec())
        }
    };
    if through < first {
        return Err(ArchiveError::Refused(format!(
            "nothing to archive: events up to {} are archived already and the log ends at {head_seq}",
            first - 1
        )));
    }
    crate::files::private_dir(dir).map_err(file_err(dir))?;
    let name = format!("audit-{first:012}-{through:012}.jsonl");
    let path = dir.join(&name);
    if path.exists() {
        return Err(ArchiveError::Refused(format!(
            "{} exists already; move it away first",
            path.display()
        )));
    }
    let tmp = dir.join(format!(".{name}.partial"));
    let created_at = env.now().naive_utc();
    let file = std::fs::File::create(&tmp).map_err(file_err(&tmp))?;
    let mut out = Hashing {
        inner: BufWriter::new(file),
        ctx: digest::Context::new(&digest::SHA256),
    };

    // The header names the last hash, which is known only after the walk: walk
    // once to check and learn it, then write.
    let mut last_hash = prev.clone();
    let mut count = 0i64;
    let mut buf = Vec::with_capacity(1024);
    let mut walk = |rows: &[AuditRow]| -> Result<(), ArchiveError> {
        for row in rows {
            let (Some(p), Some(h)) = (&row.prev_hash, &row.hash) else {
                return Err(ArchiveError::Refused(format!(
                    "event {} was written before the chain began; such events are not archived",
                    row.seq
                )));
            };
            let expected = first + count;
            if row.seq != expected {
                return Err(ArchiveError::Refused(format!(
                    "event {expected} is missing; run `holdfast audit verify`"
                )));
            }
            if *p != last_hash || chain::hash_with(p, &Fields::from(row), &mut buf) != h[..] {
                return Err(ArchiveError::Refused(format!(
                    "the chain is broken at event {}; run `holdfast audit verify`",
                    row.seq
                )));
            }
            last_hash.clone_from(h);
            count += 1;
        }
        Ok(())
    };
    for_each_batch(conn, first, through, &mut walk)?;
    if count != through - first + 1 {
        return Err(ArchiveError::Refused(format!(
            "events {}..{through} are missing; run `holdfast audit verify`",
            first + count
        )));
    }
    let header = Header {
        format: FORMAT.into(),
        first_seq: first,
        last_seq: through,
        events: count,
        first_prev_hash: prev.clone(),
        last_hash: last_hash.clone(),
        created_at: created_at.and_utc(),
        key_id: signer.public().id.clone(),
    };
    let io = file_err(&tmp);
    let json = |e: serde_json::Error| ArchiveError::Refused(format!("encoding: {e}"));
    serde_json::to_writer(&mut out, &header).map_err(json)?;
    out.write_all(b"\n").map_err(io)?;
    for_each_batch(conn, first, through, |rows| {
        for row in rows {
            let line = Line::from(row);
            // The second read must see the same events the walk checked.
            if line.prev_hash != prev {
                return Err(ArchiveError::Refused(format!(
                    "event {} changed while it was archived",
                    line.seq
                )));
            }
            prev.clone_from(&line.hash);
            serde_json::to_writer(&mut out, &line).map_err(json)?;
            out.write_all(b"\n").map_err(file_err(&tmp))?;
        }
        Ok(())
    })?;
    if prev != last_hash {
        return Err(ArchiveError::Refused(
            "the events changed while they were archived".into(),
        ));
    }
    let body = out.ctx.clone().finish();
    let mut segment = Segment {
        last_seq: through,
        first_seq: first,
        events: count,
        first_prev_hash: header.first_prev_hash.clone(),
        last_hash,
        body_sha256: body.as_ref().to_vec(),
        file_name: name.clone(),
        created_at,
        key_id: signer.public().id.clone(),
        signature: Vec::new(),
    };
    segment.signature = signer.sign_bytes(&segment.message());
    let trailer = Trailer {
        body_sha256: segment.body_sha256.clone(),
        signature: segment.signature.clone(),
    };
    let mut inner = out.inner;
    serde_json::to_writer(&mut inner, &trailer).map_err(json)?;
    inner.write_all(b"\n").map_err(file_err(&tmp))?;
    let file = inner.into_inner().map_err(|e| ArchiveError::File {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(file_err(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(file_err(&path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    write_tx(conn, |c| {
        diesel::insert_into(audit_archives::table)
            .values(&segment)
            .execute(c)?;
        let event = super::Event::new("audit.archive", super::Outcome::Ok)
            .by(super::Who::console())
            .detail(serde_json::json!({
                "first_seq": segment.first_seq,
                "last_seq": segment.last_seq,
                "events": segment.events,
                "file": name,
                "body_sha256": hex::encode(&segment.body_sha256),
            }));
        super::record(c, env, &super::RequestMeta::default(), &event)?;
        Ok::<_, ArchiveError>(())
    })?;
    Ok((segment, path))
}

fn for_each_batch(
    conn: &mut DbConn,
    first: i64,
    last: i64,
    mut f: impl FnMut(&[AuditRow]) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut after = first - 1;
    loop {
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::seq.gt(after))
            .filter(audit_events::seq.le(last))
            .order(audit_events::seq.asc())
            .limit(BATCH)
            .select(AuditRow::as_select())
            .load(conn)?;
        let Some(tail) = rows.last() else {
            return Ok(());
        };
        after = tail.seq;
        f(&rows)?;
        if (rows.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

/// The newest event written before `date` (UTC midnight).
pub fn last_before(conn: &mut DbConn, date: chrono::NaiveDate) -> Result<Option<i64>, StoreError> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    Ok(audit_events::table
        .filter(audit_events::at.lt(midnight))
        .select(diesel::dsl::max(audit_events::seq))
        .first(conn)?)
}

/// What a checked archive file holds.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub segment: Segment,
    /// Signed checkpoints inside the file's range that its events confirmed.
    pub checkpoints_confirmed: usize,
}

/// Checks an archive file on its own: signature by one of `keys`, body hash, and
/// the chain of every event in it; and that checkpoints inside its range agree.
pub fn check_file(
    path: &Path,
    keys: &[PublicKey],
    checkpoints: &BTreeMap<i64, Checkpoint>,
) -> Result<FileReport, ArchiveError> {
    let bad = |message: String| ArchiveError::Bad {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(file_err(path))?;
    let mut reader = BufReader::new(file);
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Result<bool, ArchiveError> {
        line.clear();
        Ok(reader.read_line(line).map_err(file_err(path))? > 0)
    };
    if !read_line(&mut line)? {
        return Err(bad("the file is empty".into()));
    }
    let header: Header =
        serde_json::from_str(&line).map_err(|e| bad(format!("the header is unreadable: {e}")))?;
    if header.format != FORMAT {
        return Err(bad(format!("unknown format {:?}", header.format)));
    }
    ctx.update(line.as_bytes());
    let mut prev = header.first_prev_hash.clone();
    let mut expected = header.first_seq;
    let mut buf = Vec::with_capacity(1024);
    let mut confirmed = 0;
    let trailer: Trailer = loop {
        if !read_line(&mut line)? {
            return Err(bad(
                "the file ends without its signature: it was cut short".into()
            ));
        }
        if line.starts_with("{\"body_sha256\"") {
            break serde_json::from_str(&line)
                .map_err(|e| bad(format!("the signature line is unreadable: {e}")))?;
        }
        ctx.update(line.as_bytes());
        let event: Line = serde_json::from_str(&line).map_err(|e| {
            bad(format!(
                "the line after event {} is unreadable: {e}",
                expected - 1
            ))
        })?;
        if event.seq != expected {
            return Err(bad(format!(
                "event {expected} is missing from the file (found {})",
                event.seq
            )));
        }
        if event.prev_hash != prev {
            return Err(bad(format!(
                "event {} is not chained to the event before it",
                event.seq
            )));
        }
        if chain::hash_with(&event.prev_hash, &Fields::from(&event), &mut buf) != event.hash[..] {
            return Err(bad(format!(
                "event {} was changed after it was archived",
                event.seq
            )));
        }
        if let Some(cp) = checkpoints.get(&event.seq) {
            if cp.head_hash != event.hash {
                return Err(bad(format!(
                    "event {} differs from the checkpoint signed at {}: history was rewritten",
                    event.seq, cp.at
                )));
            }
            confirmed += 1;
        }
        prev = event.hash;
        expected += 1;
    };
    if read_line(&mut line)? {
        return Err(bad("there is data after the signature".into()));
    }
    let segment = Segment {
        last_seq: header.last_seq,
        first_seq: header.first_seq,
        events: header.events,
        first_prev_hash: header.first_prev_hash,
        last_hash: header.last_hash,
        body_sha256: trailer.body_sha256,
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        created_at: header.created_at.naive_utc(),
        key_id: header.key_id,
        signature: trailer.signature,
    };
    if ctx.finish().as_ref() != segment.body_sha256.as_slice() {
        return Err(bad(
            "the file's contents do not match its signed hash".into()
        ));
    }
    segment.signed_by(keys).map_err(bad)?;
    if expected - 1 != segment.last_seq
        || expected - segment.first_seq != segment.events
        || prev != segment.last_hash
    {
        return Err(bad(format!(
            "the file holds events {}..{} but its signed header says {}..{}",
            segment.first_seq,
            expected - 1,
            segment.first_seq,
            segment.last_seq
        )));
    }
    Ok(FileReport {
        path: path.to_path_buf(),
        segment,
        checkpoints_confirmed: confirmed,
    })
}

/// Deletes archived events from the database, after checking the file once more
/// against the stored, signed record. The database refuses to delete any event
/// that no archive row covers.
pub fn prune(
    conn: &mut DbConn,
    env: &Env,
    file: &Path,
    keys: &[PublicKey],
) -> Result<u64, ArchiveError> {
    let checked = check_file(file, keys, &BTreeMap::new())?;
    let stored: Option<Segment> = audit_archives::table
        .find(checked.segment.last_seq)
        .select(Segment::as_select())
        .first(conn)
        .optional()?;
    let matches = stored.as_ref().is_some_and(|s| {
        s.first_seq == checked.segment.first_seq
            && s.last_hash == checked.segment.last_hash
            && s.body_sha256 == checked.segment.body_sha256
            && s.signature == checked.segment.signature
    });
    if !matches {
        return Err(ArchiveError::Refused(format!(
            "{} is not the archive recorded for events {}..{}",
            file.display(),
            checked.segment.first_seq,
            checked.segment.last_seq
        )));
    }
    let seg = checked.segment;
    write_tx(conn, |c| {
        let deleted = diesel::delete(
            audit_events::table
                .filter(audit_events::seq.ge(seg.first_seq))
                .filter(audit_events::seq.le(seg.last_seq)),
        )
        .execute(c)? as u64;
        let event = super::Event::new("audit.prune", super::Outcome::Ok)
            .by(super::Who::console())
            .detail(serde_json::json!({
                "first_seq": seg.first_seq,
                "last_seq": seg.last_seq,
                "deleted": deleted,
                "file": seg.file_name,
            }));
        super::record(c, env, &super::RequestMeta::default(), &event)?;
        Ok(deleted)
    })
}
