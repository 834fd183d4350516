//! `holdfast audit verify`: recomputes the chain from the database alone and checks
//! it against signed checkpoints (stored ones and any exported file), reporting the
//! first broken place and what kind of break it is.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Instant;

use diesel::prelude::*;
use serde::Serialize;

use super::chain::{self, GENESIS};
use super::reading::{self, Batch};
use std::path::PathBuf;

use super::archive::{self, Segment};
use super::checkpoint::{Checkpoint, PublicKey};
use crate::store::schema::audit_events;
use crate::store::{DbConn, StoreError};

const BATCH: i64 = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An event's fields no longer match its hash.
    Edited,
    /// Positions are missing: events were deleted.
    Missing,
    /// An event does not belong where it is: events were reordered or inserted.
    Misplaced,
    /// An event is intact but the one before it is not the one it was chained to.
    LinkBroken,
    /// An event without a hash after the chain began: inserted by hand.
    Unchained,
    /// A checkpoint covers positions the log no longer has: the tail was removed.
    Truncated,
    /// The recorded head does not match the last event.
    HeadMismatch,
    /// The chain is internally consistent but differs from a signed checkpoint:
    /// history was recomputed after an edit.
    Rewritten,
    /// A checkpoint's signature does not verify: it was altered or forged.
    BadCheckpoint,
    /// A checkpoint signed by a key that was not given to `verify`.
    UnknownKey,
    /// An archive record or file does not match its signature, its chain or the
    /// archives around it.
    BadArchive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Break {
    pub seq: i64,
    pub kind: BreakKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Chained events checked.
    pub events: u64,
    /// Events written before the chain existed (older installations).
    pub unchained: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub checkpoints: usize,
    pub last_checkpoint: Option<i64>,
    /// Signed archive records; events of pruned ones are checked only in files.
    pub archives: usize,
    /// Events that are only in archive files (pruned from the database).
    pub archived_events: u64,
    /// Archive files whose every event was re-checked.
    pub archive_files: usize,
    pub problem: Option<Break>,
    pub seconds: f64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }

    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Checks the whole log. `keys` verify the checkpoints; `external` are checkpoints
/// that left the server (they count even when the database lost its copy).
pub fn verify(
    conn: &mut DbConn,
    keys: &[PublicKey],
    external: &[Checkpoint],
) -> Result<Report, StoreError> {
    verify_with(conn, keys, external, &[])
}

/// As `verify`, and re-checks every event in the given archive files.
pub fn verify_with(
    conn: &mut DbConn,
    keys: &[PublicKey],
    external: &[Checkpoint],
    archive_files: &[PathBuf],
) -> Result<Report, StoreError> {
    let started = Instant::now();
    // Checkpoints and archives before the head, so everything read is at or below it.
    let mut checkpoints = super::checkpoint::all(conn)?;
    checkpoints.extend(external.iter().cloned());
    let archives = archive::all(conn)?;
    let (head_seq, head_hash) = chain::head(conn)?;
    let first_in_db: Option<i64> = audit_events::table
        .select(diesel::dsl::min(audit_events::seq))
        .first(conn)?;
    let mut report = Report {
        events: 0,
        unchained: 0,
        head_seq,
        head_hash: hex::encode(&head_hash),
        checkpoints: 0,
        last_checkpoint: None,
        archives: archives.len(),
        archived_events: 0,
        archive_files: 0,
        problem: None,
        seconds: 0.0,
    };
    let (signed, problem) = check_signatures(&checkpoints, keys);
    report.checkpoints = signed.len();
    report.last_checkpoint = signed.keys().next_back().copied();
    let start = match problem {
        Some(p) => Err(p),
        None => resume_point(&archives, first_in_db, keys, &mut report).and_then(|start| {
            check_archive_files(archive_files, &archives, keys, &signed, &mut report)?;
            Ok(start)
        }),
    };
    let scanned = match start {
        Err(p) => Ok(Err(p)),
        Ok(start) => {
            let anchors: BTreeMap<i64, Vec<u8>> = archives
                .iter()
                .map(|a| (a.last_seq, a.last_hash.clone()))
                .collect();
            scan(
                conn,
                head_seq,
                &head_hash,
                &signed,
                &anchors,
                start,
                &mut report,
            )
        }
    };
    if let Err(p) = scanned? {
        report.problem = Some(p);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Checkpoints by position, each signature checked; conflicting copies of one
/// position are a forgery too.
fn check_signatures(
    checkpoints: &[Checkpoint],
    keys: &[PublicKey],
) -> (BTreeMap<i64, Checkpoint>, Option<Break>) {
    let mut by_seq: BTreeMap<i64, Checkpoint> = BTreeMap::new();
    for cp in checkpoints {
        let Some(key) = keys.iter().find(|k| k.id == cp.key_id) else {
            let message = format!(
                "the checkpoint at {} is signed by key {}, which was not given to verify",
                cp.seq, cp.key_id
            );
            return (by_seq, Some(brk(cp.seq, BreakKind::UnknownKey, message)));
        };
        if !key.verifies(cp) {
            let message = format!(
                "the checkpoint at {} (dated {}) has an invalid signature: it was altered",
                cp.seq, cp.at
            );
            return (by_seq, Some(brk(cp.seq, BreakKind::BadCheckpoint, message)));
        }
        if let Some(other) = by_seq.get(&cp.seq)
            && other.head_hash != cp.head_hash
        {
            let message = format!(
                "two validly signed checkpoints disagree about position {}",
                cp.seq
            );
            return (by_seq, Some(brk(cp.seq, BreakKind::Rewritten, message)));
        }
        by_seq.insert(cp.seq, cp.clone());
    }
    (by_seq, None)
}

fn brk(seq: i64, kind: BreakKind, message: String) -> Break {
    Break { seq, kind, message }
}

/// Checks the archive records (signatures, one unbroken run from the genesis) and
/// returns where the walk over the database starts: after the newest archive whose
/// events were pruned, or at the beginning.
fn resume_point(
    archives: &[Segment],
    first_in_db: Option<i64>,
    keys: &[PublicKey],
    report: &mut Report,
) -> Result<Option<(i64, Vec<u8>)>, Break> {
    let mut before: Option<&Segment> = None;
    for a in archives {
        a.signed_by(keys)
            .map_err(|m| brk(a.first_seq, BreakKind::BadArchive, m))?;
        let (expected_first, expected_prev) = match before {
            Some(b) => (b.last_seq + 1, b.last_hash.as_slice()),
            None => (a.first_seq, &GENESIS[..]),
        };
        if a.first_seq != expected_first || a.first_prev_hash != expected_prev {
            let message = format!(
                "the archive of events {}..{} does not continue the archive or chain before it",
                a.first_seq, a.last_seq
            );
            return Err(brk(a.first_seq, BreakKind::BadArchive, message));
        }
        before = Some(a);
    }
    let pruned: Vec<&Segment> = archives
        .iter()
        .filter(|a| first_in_db.is_none_or(|first| a.last_seq < first))
        .collect();
    let Some(last) = pruned.last() else {
        return Ok(None);
    };
    report.archived_events = pruned.iter().map(|a| a.events as u64).sum();
    if let Some(first) = first_in_db
        && first != last.last_seq + 1
    {
        let message = format!(
            "events {} to {} are in neither the database nor an archive: they were deleted",
            last.last_seq + 1,
            first - 1
        );
        return Err(brk(last.last_seq + 1, BreakKind::Missing, message));
    }
    Ok(Some((last.last_seq, last.last_hash.clone())))
}

fn check_archive_files(
    files: &[PathBuf],
    archives: &[Segment],
    keys: &[PublicKey],
    checkpoints: &BTreeMap<i64, Checkpoint>,
    report: &mut Report,
) -> Result<(), Break> {
    for path in files {
        let checked = archive::check_file(path, keys, checkpoints)
            .map_err(|e| brk(0, BreakKind::BadArchive, e.to_string()))?;
        let seg = &checked.segment;
        let recorded = archives.iter().find(|a| a.last_seq == seg.last_seq);
        if recorded.is_some_and(|r| {
            r.first_seq != seg.first_seq
                || r.last_hash != seg.last_hash
                || r.body_sha256 != seg.body_sha256
        }) {
            let message = format!(
                "{} differs from the archive recorded for events {}..{}",
                path.display(),
                seg.first_seq,
                seg.last_seq
            );
            return Err(brk(seg.first_seq, BreakKind::BadArchive, message));
        }
        report.archive_files += 1;
    }
    Ok(())
}

type Scan = Result<(), Break>;

/// Reads batches on one thread (straight into encodings) and hashes on this one,
/// so the check runs at the speed of the slower of the two rather than their sum.
/// Spent batches go back to the reader to be filled again.
fn scan(
    conn: &mut DbConn,
    head_seq: i64,
    head_hash: &[u8],
    checkpoints: &BTreeMap<i64, Checkpoint>,
    anchors: &BTreeMap<i64, Vec<u8>>,
    start: Option<(i64, Vec<u8>)>,
    report: &mut Report,
) -> Result<Scan, StoreError> {
    let (tx, rx) = mpsc::sync_channel::<Batch>(2);
    let (spent_tx, spent_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let reader = s.spawn(move || -> Result<(), StoreError> {
            let mut after = i64::MIN;
            loop {
                let mut batch = spent_rx.try_recv().unwrap_or_default();
                reading::read(conn, after, head_seq, BATCH, &mut batch)?;
                let Some(last) = batch.last_seq() else {
                    return Ok(());
                };
                after = last;
                let full = batch.len() as i64 == BATCH;
                if tx.send(batch).is_err() || !full {
                    return Ok(());
                }
            }
        });
        let mut walk = Walk::new(checkpoints, anchors, start);
        let mut outcome = Ok(());
        for batch in rx.iter() {
            if let Err(b) = walk.batch(&batch, report) {
                outcome = Err(b);
                break;
            }
            let _ = spent_tx.send(batch);
        }
        // Stop the reader if the walk ended early.
        drop(rx);
        let read = reader
            .join()
            .map_err(|_| StoreError::Audit("the verification reader panicked".into()))?;
        read?;
        if outcome.is_ok() {
            outcome = walk.finish(head_seq, head_hash, report);
        }
        Ok(outcome)
    })
}

struct Walk<'a> {
    checkpoints: &'a BTreeMap<i64, Checkpoint>,
    /// Last hashes of archived segments, signed like checkpoints.
    anchors: &'a BTreeMap<i64, Vec<u8>>,
    last_seq: Option<i64>,
    last_hash: Vec<u8>,
    chained: bool,
    last_good_checkpoint: Option<i64>,
}

impl<'a> Walk<'a> {
    fn new(
        checkpoints: &'a BTreeMap<i64, Checkpoint>,
        anchors: &'a BTreeMap<i64, Vec<u8>>,
        start: Option<(i64, Vec<u8>)>,
    ) -> Self {
        let chained = start.is_some();
        let (last_seq, last_hash) = match start {
            Some((seq, hash)) => (Some(seq), hash),
            None => (None, GENESIS.to_vec()),
        };
        Walk {
            checkpoints,
            anchors,
            last_seq,
            last_hash,
            chained,
            last_good_checkpoint: None,
        }
    }

    fn batch(&mut self, batch: &Batch, report: &mut Report) -> Scan {
        for event in batch.events() {
            self.event(event, report)?;
        }
        Ok(())
    }

    fn event(&mut self, event: reading::Event<'_>, report: &mut Report) -> Scan {
        let seq = event.seq;
        let Some(stored) = event.chained else {
            if self.chained {
                return Err(brk(
                    seq,
                    BreakKind::Unchained,
                    format!(
                        "event {seq} has no hash but comes after the chain began: it was inserted"
                    ),
                ));
            }
            report.unchained += 1;
            self.last_seq = Some(seq);
            return Ok(());
        };
        let (prev, hash) = (stored.prev_hash, stored.hash);
        if self.chained
            && let Some(last) = self.last_seq
            && seq != last + 1
        {
            return Err(brk(
                last + 1,
                BreakKind::Missing,
                format!(
                    "events {} to {} are missing: they were deleted",
                    last + 1,
                    seq - 1
                ),
            ));
        }
        let computed = chain::sha256(stored.encoding);
        let content_ok = computed.as_slice() == hash;
        let link_ok = *prev == self.last_hash;
        match (content_ok, link_ok) {
            (true, true) => {}
            (false, true) => {
                return Err(brk(
                    seq,
                    BreakKind::Edited,
                    format!(
                        "event {seq} was changed after it was written (its fields no longer match its hash)"
                    ),
                ));
            }
            (false, false) => {
                return Err(brk(
                    seq,
                    BreakKind::Misplaced,
                    format!(
                        "event {seq} does not belong at this position: events were reordered or inserted here"
                    ),
                ));
            }
            (true, false) => {
                return Err(brk(
                    seq,
                    BreakKind::LinkBroken,
                    format!(
                        "event {seq} is intact but was chained to a different event before it: the event before it was replaced"
                    ),
                ));
            }
        }
        if let Some(cp) = self.checkpoints.get(&seq) {
            if cp.head_hash != *hash {
                let since = self
                    .last_good_checkpoint
                    .map(|s| format!("after position {s}"))
                    .unwrap_or_else(|| "from the start".into());
                return Err(brk(
                    seq,
                    BreakKind::Rewritten,
                    format!(
                        "the chain at {seq} differs from the checkpoint signed at {}: history was rewritten somewhere {since} up to {seq}",
                        cp.at
                    ),
                ));
            }
            self.last_good_checkpoint = Some(seq);
        }
        if self.anchors.get(&seq).is_some_and(|a| a != hash) {
            return Err(brk(
                seq,
                BreakKind::Rewritten,
                format!(
                    "the chain at {seq} differs from the signed archive that ends there: history was rewritten"
                ),
            ));
        }
        self.chained = true;
        self.last_seq = Some(seq);
        self.last_hash.clear();
        self.last_hash.extend_from_slice(hash);
        report.events += 1;
        Ok(())
    }

    fn finish(&self, head_seq: i64, head_hash: &[u8], report: &Report) -> Scan {
        let last = self.last_seq.unwrap_or(0);
        if let Some((&cp_seq, cp)) = self.checkpoints.range(last + 1..).next() {
            return Err(brk(
                last + 1,
                BreakKind::Truncated,
                format!(
                    "the log ends at {last} but the checkpoint signed at {} covers up to {cp_seq}: events after {last} were removed",
                    cp.at
                ),
            ));
        }
        let head_ok = if self.chained {
            last == head_seq && self.last_hash == head_hash
        } else {
            head_hash == GENESIS && head_seq == last
        };
        if !head_ok {
            return Err(brk(
                last + 1,
                BreakKind::HeadMismatch,
                format!(
                    "the chain head records position {head_seq} but the log ends at {last} ({} events checked): events at the end were removed or the head was altered",
                    report.events
                ),
            ));
        }
        Ok(())
    }
}

/// The `audit.verify` event that remembers a verification in the log itself, so
/// the owner's pages can show the last one.
pub fn event(report: &Report, who: super::Who, external_files: usize) -> super::Event {
    let outcome = if report.ok() {
        super::Outcome::Ok
    } else {
        super::Outcome::Failed
    };
    super::Event::new("audit.verify", outcome)
        .by(who)
        .detail(serde_json::json!({
            "events": report.events,
            "unchained": report.unchained,
            "head_seq": report.head_seq,
            "checkpoints": report.checkpoints,
            "archives": report.archives,
            "archived_events": report.archived_events,
            "archive_files": report.archive_files,
            "external_files": external_files,
            "problem": report.problem,
            "seconds": report.seconds,
        }))
}

/// A verification by the server itself, on its schedule: the stored checkpoints,
/// the exported file when there is one, the server's own public key.
pub fn scheduled(
    conn: &mut DbConn,
    env: &crate::clock::Env,
    key: &PublicKey,
    exported: Option<&std::path::Path>,
) -> Result<Report, StoreError> {
    let external = match exported.filter(|p| p.exists()) {
        Some(p) => {
            super::checkpoint::read_exported(p).map_err(|e| StoreError::Audit(e.to_string()))?
        }
        None => Vec::new(),
    };
    let report = verify(conn, std::slice::from_ref(key), &external)?;
    let who = super::Who {
        id: "system:verify".into(),
        role: "system".into(),
        session_ref: None,
    };
    let ev = event(&report, who, usize::from(exported.is_some()));
    super::record(conn, env, &super::RequestMeta::default(), &ev)?;
    Ok(report)
}
