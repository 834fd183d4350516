//! Per-user counters for theft detection, kept by the audit append itself (same
//! transaction as the events they count), so the detector reads a handful of
//! rows instead of scanning the log at request time.
//!
//! Metrics: `views` (distinct clients opened per UTC day), `list_rows`,
//! `exports`, `reveals`, `reassigns` (per day); `list_pages_min` (list pages in
//! the current minute) and `cards_10min` (cards not yet opened that day, in the current ten minutes), one
//! row each, replaced when the window moves; `denied_run` (refusals since the
//! last success).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::store::lease::numbered;
use crate::store::models::audit_events::NewAuditRow;
use crate::store::schema::usage_counts;
use crate::store::{DbConn, StoreError};

/// Roles whose use is counted: the people the controls watch. Owners and
/// admins act behind hardware keys and are audited, not profiled.
const COUNTED_ROLES: &[&str] = &["sales", "manager"];

pub const STREAK: &str = "*";

pub fn day_key(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d").to_string()
}

pub fn minute_key(at: chrono::NaiveDateTime) -> String {
    format!("m{}", at.and_utc().timestamp() / 60)
}

pub fn ten_minute_key(at: chrono::NaiveDateTime) -> String {
    format!("w{}", at.and_utc().timestamp() / 600)
}

/// Counts `rows` (already numbered) for their actors.
pub fn count(conn: &mut DbConn, rows: &[NewAuditRow]) -> Result<(), StoreError> {
    for row in rows {
        let (Some(user), Some(role)) = (&row.actor_id, &row.actor_role) else {
            continue;
        };
        if !COUNTED_ROLES.contains(&role.as_str()) {
            continue;
        }
        let day = day_key(row.at);
        if row.outcome == "denied" {
            bump(conn, user, "denied_run", STREAK, 1, row.seq)?;
            continue;
        }
        if row.outcome != "ok" {
            continue;
        }
        reset_streak(conn, user)?;
        match row.action.as_str() {
            "client.read" | "timeline.read" => {
                let ids: Vec<String> = serde_json::from_str(&row.object_ids).unwrap_or_default();
                let mut fresh = 0;
                for id in &ids {
                    fresh += insert_new(conn, SEEN, [user.as_str(), &day, id])? as i64;
                }
                // A walk is many different cards: opening the same one again
                // (or its timeline) moves nothing.
                if fresh > 0 {
                    bump(conn, user, "views", &day, fresh, row.seq)?;
                    window(conn, user, "cards_10min", &ten_minute_key(row.at), row.seq)?;
                }
            }
            // A list inside one record (the Gate says so when it records it)
            // is part of reading that record, which is counted as a view.
            "client.list" | "deal.list" | "task.list" | "report.at_risk.list"
                if !row.one_record =>
            {
                bump(
                    conn,
                    user,
                    "list_rows",
                    &day,
                    i64::from(row.object_count),
                    row.seq,
                )?;
                window(conn, user, "list_pages_min", &minute_key(row.at), row.seq)?;
            }
            "export.request" => bump(conn, user, "exports", &day, 1, row.seq)?,
            "client.reveal" => bump(conn, user, "reveals", &day, 1, row.seq)?,
            "client.reassign" => bump(
                conn,
                user,
                "reassigns",
                &day,
                i64::from(row.object_count.max(1)),
                row.seq,
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// Adds `by` to one counter, remembering the last event counted.
pub fn bump(
    conn: &mut DbConn,
    user: &str,
    metric: &str,
    day: &str,
    by: i64,
    seq: i64,
) -> Result<(), StoreError> {
    const UPSERT: &str = "INSERT INTO usage_counts (user_id, day, metric, n, first_seq, last_seq) \
        VALUES ({1}, {2}, {3}, {4}, {5}, {5}) \
        ON CONFLICT (user_id, metric, day) DO UPDATE SET n = usage_counts.n + excluded.n, \
        last_seq = excluded.last_seq";
    macro_rules! run {
        ($c:expr, $sigil:expr) => {
            diesel::sql_query(numbered(UPSERT, $sigil))
                .bind::<Text, _>(user)
                .bind::<Text, _>(day)
                .bind::<Text, _>(metric)
                .bind::<BigInt, _>(by)
                .bind::<BigInt, _>(seq)
                .execute($c)?
        };
    }
    match conn {
        DbConn::Sqlite(c) => run!(c, "?"),
        DbConn::Pg(c) => run!(c, "$"),
    };
    Ok(())
}

/// A one-row window: the row of an older window is dropped first.
fn window(
    conn: &mut DbConn,
    user: &str,
    metric: &str,
    key: &str,
    seq: i64,
) -> Result<(), StoreError> {
    diesel::delete(
        usage_counts::table
            .filter(usage_counts::user_id.eq(user))
            .filter(usage_counts::metric.eq(metric))
            .filter(usage_counts::day.ne(key)),
    )
    .execute(conn)?;
    bump(conn, user, metric, key, 1, seq)
}

fn reset_streak(conn: &mut DbConn, user: &str) -> Result<(), StoreError> {
    diesel::delete(
        usage_counts::table
            .filter(usage_counts::user_id.eq(user))
            .filter(usage_counts::metric.eq("denied_run")),
    )
    .execute(conn)?;
    Ok(())
}

const SEEN: &str = "INSERT INTO usage_seen (user_id, day, client_id) VALUES ({1}, {2}, {3}) \
    ON CONFLICT DO NOTHING";

/// Runs an `INSERT … ON CONFLICT DO NOTHING` of three texts; the rows inserted
/// (0 when it was there). The MultiConnection enum has no upsert of its own.
pub fn insert_new(conn: &mut DbConn, sql: &str, values: [&str; 3]) -> Result<usize, StoreError> {
    macro_rules! run {
        ($c:expr, $sigil:expr) => {
            diesel::sql_query(numbered(sql, $sigil))
                .bind::<Text, _>(values[0])
                .bind::<Text, _>(values[1])
                .bind::<Text, _>(values[2])
                .execute($c)?
        };
    }
    Ok(match conn {
        DbConn::Sqlite(c) => run!(c, "?"),
        DbConn::Pg(c) => run!(c, "$"),
    })
}

/// Days of daily counters kept: the baseline's days, or the departure report's
/// 90 if longer, and a week's margin.
pub fn keep_days(baseline_days: i64) -> i64 {
    baseline_days.max(90) + 7
}

/// What one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub counts: usize,
    pub seen: usize,
}

/// Removes daily counters and viewed-client rows older than `keep_days` and
/// minute and ten-minute windows that have passed (a user who stopped leaves
/// their last window behind). Streaks (`*`) stay.
pub fn prune(
    conn: &mut DbConn,
    now: chrono::DateTime<chrono::Utc>,
    keep_days: i64,
) -> Result<Pruned, StoreError> {
    use crate::store::schema::usage_seen;
    let before = day_key((now - chrono::Duration::days(keep_days)).naive_utc());
    let minute = minute_key(now.naive_utc());
    let window = ten_minute_key(now.naive_utc());
    crate::store::write_tx(conn, |conn| {
        let mut counts = diesel::delete(
            usage_counts::table
                .filter(usage_counts::day.like("2%"))
                .filter(usage_counts::day.lt(&before)),
        )
        .execute(conn)?;
        // Window keys are `m`/`w` and a number of the same width for ages,
        // so they compare as text.
        counts += diesel::delete(
            usage_counts::table
                .filter(usage_counts::day.like("m%"))
                .filter(usage_counts::day.lt(&minute)),
        )
        .execute(conn)?;
        counts += diesel::delete(
            usage_counts::table
                .filter(usage_counts::day.like("w%"))
                .filter(usage_counts::day.lt(&window)),
        )
        .execute(conn)?;
        let seen =
            diesel::delete(usage_seen::table.filter(usage_seen::day.lt(&before))).execute(conn)?;
        Ok(Pruned { counts, seen })
    })
}

/// The scheduled pruning, once across app nodes: the node that claims this
/// day's slot in `job_runs` prunes; `None` for the others.
pub fn prune_once(
    conn: &mut DbConn,
    now: chrono::DateTime<chrono::Utc>,
    node: &str,
    baseline_days: i64,
) -> Result<Option<Pruned>, StoreError> {
    use crate::store::lease;
    let slot = lease::slot_of(now, chrono::Duration::days(1));
    if !lease::claim_run(conn, PRUNE_JOB, slot, node, now)? {
        return Ok(None);
    }
    let done = prune(conn, now, keep_days(baseline_days));
    let note = match &done {
        Ok(p) => format!("counters {}, viewed {}", p.counts, p.seen),
        Err(e) => e.to_string(),
    };
    lease::finish_run(conn, PRUNE_JOB, slot, done.is_ok(), &note, now)?;
    done.map(Some)
}

pub const PRUNE_JOB: &str = "usage-prune";
