//! Scheduled jobs that run once although every app node schedules them: the node
//! that first records the (job, slot) pair runs it, the others skip. The row stays,
//! so a restarted node does not run a slot again, and the last good run is known.

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::job_runs;
use super::{DbConn, StoreError};

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)]
    node: String,
}

/// Claims the run of `job` for `slot`; true for exactly one caller per pair,
/// whichever node asks first. One atomic statement on both backends.
pub fn claim_run(
    conn: &mut DbConn,
    job: &str,
    slot: DateTime<Utc>,
    node: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use diesel::sql_types::{Text, Timestamp};
    const INSERT: &str = "INSERT INTO job_runs (job, slot, node, claimed_at) \
        VALUES ({1}, {2}, {3}, {4}) ON CONFLICT (job, slot) DO NOTHING RETURNING node";
    let (slot, now) = (slot.naive_utc(), now.naive_utc());
    let rows: Vec<Claimed> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(numbered(INSERT, "?"))
            .bind::<Text, _>(job)
            .bind::<Timestamp, _>(slot)
            .bind::<Text, _>(node)
            .bind::<Timestamp, _>(now)
            .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(numbered(INSERT, "$"))
            .bind::<Text, _>(job)
            .bind::<Timestamp, _>(slot)
            .bind::<Text, _>(node)
            .bind::<Timestamp, _>(now)
            .load(c)?,
    };
    Ok(!rows.is_empty())
}

/// `{n}` placeholders in the backend's syntax (`?n` or `$n`).
pub(crate) fn numbered(sql: &str, sigil: &str) -> String {
    let mut out = sql.to_string();
    for n in 1..=20 {
        out = out.replace(&format!("{{{n}}}"), &format!("{sigil}{n}"));
    }
    out
}

/// Records how a claimed run ended.
pub fn finish_run(
    conn: &mut DbConn,
    job: &str,
    slot: DateTime<Utc>,
    ok: bool,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(job_runs::table.find((job, slot.naive_utc())))
        .set((
            job_runs::finished_at.eq(Some(now.naive_utc())),
            job_runs::ok.eq(Some(ok)),
            job_runs::note.eq(Some(note)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends, as failed with `note`, the unfinished runs of `job` claimed between
/// `from` and `to`: a run whose process was found dead (its row would otherwise
/// say "running" for ever). Returns how many rows it ended.
pub fn fail_unfinished(
    conn: &mut DbConn,
    job: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    note: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        job_runs::table
            .filter(job_runs::job.eq(job))
            .filter(job_runs::finished_at.is_null())
            .filter(job_runs::claimed_at.between(from, to)),
    )
    .set((
        job_runs::finished_at.eq(Some(now.naive_utc())),
        job_runs::ok.eq(Some(false)),
        job_runs::note.eq(Some(note)),
    ))
    .execute(conn)?)
}

/// The slot of the newest run of `job` that finished well.
pub fn last_success(conn: &mut DbConn, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let slot: Option<NaiveDateTime> = job_runs::table
        .filter(job_runs::job.eq(job))
        .filter(job_runs::ok.eq(Some(true)))
        .select(job_runs::slot)
        .order(job_runs::slot.desc())
        .first(conn)
        .optional()?;
    Ok(slot.map(|s| s.and_utc()))
}

/// The run slot a node's firing belongs to: `now` rounded to the nearest multiple
/// of `every`, so nodes whose clocks or timers differ by less than half a period
/// agree on it.
pub fn slot_of(now: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    now.duration_round(every).unwrap_or(now)
}

/// Which node claimed a run: the host name and process id, for the record.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".to_string());
    format!("{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nearby_firings_share_a_slot() {
        let minute = Duration::minutes(1);
        let at = |h, m, s| {
            Utc.with_ymd_and_hms(2026, 11, 22, h, m, s)
                .single()
                .unwrap_or_default()
        };
        let slot = at(3, 30, 0);
        assert_eq!(slot_of(at(3, 29, 58), minute), slot);
        assert_eq!(slot_of(at(3, 30, 0), minute), slot);
        assert_eq!(slot_of(at(3, 30, 29), minute), slot);
        assert_ne!(slot_of(at(3, 30, 31), minute), slot);
    }
}
