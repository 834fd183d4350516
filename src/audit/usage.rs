//! Per-user counters for theft detection, kept by the audit append itself (same
//! transaction as the events they count), so the detector reads a handful of
//! rows instead of scanning the log at request time.
//!
//! Metrics: `views` (distinct clients opened per UTC day), `list_rows`,
//! `exports`, `reveals`, `reassigns` (per day); `list_pages_min` (list pages in
//! the current minute) and `cards_10min` (cards not yet opened that day, in the current ten minutes), one
//! row each, replaced when the window moves; `denied_run` (refusals since the
//! last success).

use std::collections::{BTreeMap, HashSet};

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

/// Counts `rows` (already numbered) for their actors. The whole batch's changes
/// are worked out here, event by event in chain order, and then written in at
/// most three statements whatever the batch holds: every statement is paid
/// inside the commit that each audited answer waits for.
pub fn count(conn: &mut DbConn, rows: &[NewAuditRow]) -> Result<(), StoreError> {
    let counted: Vec<(&NewAuditRow, &str)> = rows
        .iter()
        .filter_map(|row| match (&row.actor_id, &row.actor_role) {
            (Some(user), Some(role)) if COUNTED_ROLES.contains(&role.as_str()) => {
                Some((row, user.as_str()))
            }
            _ => None,
        })
        .collect();
    if counted.is_empty() {
        return Ok(());
    }
    let mut fresh = insert_seen(conn, &viewed(&counted))?;
    let mut plan = Plan::default();
    for (row, user) in counted {
        plan.event(row, user, &mut fresh);
    }
    plan.write(conn)
}

/// The (user, day, client) of every card a counted event opened, first time first.
fn viewed(counted: &[(&NewAuditRow, &str)]) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut have = HashSet::new();
    for (row, user) in counted {
        if row.outcome != "ok" || !opens_cards(&row.action) {
            continue;
        }
        let day = day_key(row.at);
        for id in card_ids(row) {
            let key = (user.to_string(), day.clone(), id);
            if have.insert(key.clone()) {
                out.push(key);
            }
        }
    }
    out
}

type Seen = (String, String, String);

fn opens_cards(action: &str) -> bool {
    matches!(action, "client.read" | "timeline.read")
}

fn card_ids(row: &NewAuditRow) -> Vec<String> {
    serde_json::from_str(&row.object_ids).unwrap_or_default()
}

/// What the batch does to the counters, as the events one by one would have
/// done it: per (user, metric), what was deleted from the stored rows and what
/// was added since.
#[derive(Default)]
struct Plan {
    groups: BTreeMap<(String, &'static str), Group>,
}

#[derive(Default)]
struct Group {
    cleared: Cleared,
    /// (day, n, first_seq, last_seq), added after the last clearing.
    adds: Vec<(String, i64, i64, i64)>,
}

#[derive(Default, Clone, PartialEq)]
enum Cleared {
    #[default]
    Nothing,
    All,
    AllBut(String),
}

impl Plan {
    fn event(&mut self, row: &NewAuditRow, user: &str, fresh: &mut HashSet<Seen>) {
        let day = day_key(row.at);
        if row.outcome == "denied" {
            self.add(user, "denied_run", STREAK, 1, row.seq);
            return;
        }
        if row.outcome != "ok" {
            return;
        }
        self.clear(user, "denied_run", None);
        match row.action.as_str() {
            action if opens_cards(action) => {
                // A walk is many different cards: opening the same one again
                // (or its timeline) moves nothing.
                let new = card_ids(row)
                    .into_iter()
                    .filter(|id| fresh.remove(&(user.to_string(), day.clone(), id.clone())))
                    .count() as i64;
                if new > 0 {
                    self.add(user, "views", &day, new, row.seq);
                    self.window(user, "cards_10min", &ten_minute_key(row.at), row.seq);
                }
            }
            // A list inside one record (the Gate says so when it records it)
            // is part of reading that record, which is counted as a view.
            "client.list" | "deal.list" | "task.list" | "report.at_risk.list"
                if !row.one_record =>
            {
                let rows = i64::from(row.object_count);
                self.add(user, "list_rows", &day, rows, row.seq);
                self.window(user, "list_pages_min", &minute_key(row.at), row.seq);
            }
            "export.request" => self.add(user, "exports", &day, 1, row.seq),
            "client.reveal" => self.add(user, "reveals", &day, 1, row.seq),
            "client.reassign" => {
                let n = i64::from(row.object_count.max(1));
                self.add(user, "reassigns", &day, n, row.seq);
            }
            _ => {}
        }
    }

    fn group(&mut self, user: &str, metric: &'static str) -> &mut Group {
        self.groups.entry((user.to_string(), metric)).or_default()
    }

    fn add(&mut self, user: &str, metric: &'static str, day: &str, by: i64, seq: i64) {
        let group = self.group(user, metric);
        match group.adds.iter_mut().find(|a| a.0 == day) {
            Some(a) => {
                a.1 += by;
                a.3 = seq;
            }
            None => group.adds.push((day.to_string(), by, seq, seq)),
        }
    }

    /// Deletes the metric's rows, all of them or all but `keep`'s.
    fn clear(&mut self, user: &str, metric: &'static str, keep: Option<&str>) {
        let group = self.group(user, metric);
        group.adds.retain(|a| Some(a.0.as_str()) == keep);
        group.cleared = match (&group.cleared, keep) {
            (Cleared::Nothing, Some(k)) => Cleared::AllBut(k.to_string()),
            (Cleared::AllBut(kept), Some(k)) if kept == k => Cleared::AllBut(k.to_string()),
            _ => Cleared::All,
        };
    }

    /// A one-row window: the row of an older window is dropped first.
    fn window(&mut self, user: &str, metric: &'static str, key: &str, seq: i64) {
        self.clear(user, metric, Some(key));
        self.add(user, metric, key, 1, seq);
    }

    /// The deletions first, then every addition as one upsert (keys are unique
    /// here, as PostgreSQL's `ON CONFLICT DO UPDATE` needs).
    fn write(self, conn: &mut DbConn) -> Result<(), StoreError> {
        let mut cleared = Vec::new();
        let mut kept = Vec::new();
        let mut adds = Vec::new();
        for ((user, metric), g) in &self.groups {
            match &g.cleared {
                Cleared::Nothing => {}
                Cleared::All => cleared.push((user, metric)),
                Cleared::AllBut(k) => {
                    cleared.push((user, metric));
                    kept.push((user, metric, k));
                }
            }
            for (day, n, first, last) in &g.adds {
                adds.push((user, day, metric, n, first, last));
            }
        }
        if !cleared.is_empty() {
            run(conn, CLEAR, &[json(&cleared)?, json(&kept)?])?;
        }
        if !adds.is_empty() {
            run(conn, ADD, &[json(&adds)?])?;
        }
        Ok(())
    }
}

// Batches go to the database as JSON parameters that it unpacks into rows
// (`{rows}` is `json_each` or `json_array_elements`), so one statement of a
// fixed text carries any number of them.

const SEEN: &str = "INSERT INTO usage_seen (user_id, day, client_id) \
    SELECT r.value->>0, r.value->>1, r.value->>2 FROM {rows1} WHERE true \
    ON CONFLICT DO NOTHING RETURNING user_id, day, client_id";

const CLEAR: &str = "DELETE FROM usage_counts \
    WHERE (user_id, metric) IN (SELECT r.value->>0, r.value->>1 FROM {rows1}) \
    AND (user_id, metric, day) NOT IN \
    (SELECT r.value->>0, r.value->>1, r.value->>2 FROM {rows2})";

const ADD: &str = "INSERT INTO usage_counts (user_id, day, metric, n, first_seq, last_seq) \
    SELECT r.value->>0, r.value->>1, r.value->>2, CAST(r.value->>3 AS BIGINT), \
    CAST(r.value->>4 AS BIGINT), CAST(r.value->>5 AS BIGINT) FROM {rows1} WHERE true \
    ON CONFLICT (user_id, metric, day) DO UPDATE SET n = usage_counts.n + excluded.n, \
    last_seq = excluded.last_seq";

fn json<T: serde::Serialize>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Audit(e.to_string()))
}

/// `sql` with its `{rowsN}` made the backend's row source over parameter N.
fn unpacked(sql: &str, backend: crate::store::Backend) -> String {
    let mut out = sql.to_string();
    for n in 1..=2 {
        let rows = match backend {
            crate::store::Backend::Sqlite => format!("json_each(?{n}) AS r"),
            crate::store::Backend::Postgres => {
                format!("json_array_elements(${n}::json) AS r(value)")
            }
        };
        out = out.replace(&format!("{{rows{n}}}"), &rows);
    }
    out
}

fn run(conn: &mut DbConn, sql: &str, params: &[String]) -> Result<usize, StoreError> {
    let sql = unpacked(sql, conn.backend());
    macro_rules! run {
        ($c:expr, $db:ty) => {{
            let mut q = diesel::sql_query(&sql).into_boxed::<$db>();
            for p in params {
                q = q.bind::<Text, _>(p);
            }
            q.execute($c)?
        }};
    }
    Ok(match conn {
        DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
        DbConn::Pg(c) => run!(c, diesel::pg::Pg),
    })
}

#[derive(QueryableByName)]
struct SeenRow {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = Text)]
    client_id: String,
}

/// Stores the viewed (user, day, client) rows; the ones that were not there yet.
fn insert_seen(conn: &mut DbConn, seen: &[Seen]) -> Result<HashSet<Seen>, StoreError> {
    if seen.is_empty() {
        return Ok(HashSet::new());
    }
    let param = json(&seen)?;
    let sql = unpacked(SEEN, conn.backend());
    macro_rules! load {
        ($c:expr) => {
            diesel::sql_query(sql)
                .bind::<Text, _>(&param)
                .load::<SeenRow>($c)?
        };
    }
    let rows = match conn {
        DbConn::Sqlite(c) => load!(c),
        DbConn::Pg(c) => load!(c),
    };
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.day, r.client_id))
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::schema::usage_seen;
    use secrecy::SecretString;

    /// Events of three people (one not counted) over minute, ten-minute and day
    /// boundaries, with repeated cards, refusals between successes and empty lists.
    fn events(seed: u64, n: usize) -> Vec<NewAuditRow> {
        let mut x = seed;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        // An hour before midnight UTC.
        let start = chrono::DateTime::from_timestamp(1_795_046_400 - 3_600, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default();
        let mut at = start;
        (0..n)
            .map(|i| {
                at += chrono::Duration::seconds(next(200) as i64);
                let (user, role) =
                    [("u1", "sales"), ("u2", "manager"), ("u3", "owner")][next(3) as usize];
                let action = [
                    "client.read",
                    "timeline.read",
                    "client.list",
                    "deal.list",
                    "export.request",
                    "client.reveal",
                    "client.reassign",
                    "session.login",
                ][next(8) as usize];
                let ids: Vec<String> = (0..next(4)).map(|_| format!("c{}", next(6))).collect();
                NewAuditRow {
                    seq: i as i64 + 1,
                    id: format!("e{i}"),
                    at,
                    request_id: None,
                    actor_id: Some(user.into()),
                    actor_role: Some(role.into()),
                    session_ref: None,
                    action: action.into(),
                    object_kind: Some("client".into()),
                    object_ids: serde_json::to_string(&ids).unwrap_or_default(),
                    object_count: ids.len() as i32,
                    outcome: ["ok", "ok", "ok", "denied", "failed"][next(5) as usize].into(),
                    detail: "{}".into(),
                    ip: None,
                    user_agent: None,
                    prev_hash: vec![],
                    hash: vec![],
                    one_record: next(4) == 0,
                }
            })
            .collect()
    }

    type Counts = Vec<(String, String, String, i64, i64, i64)>;
    type SeenRows = Vec<(String, String, String)>;

    fn tables(conn: &mut DbConn) -> (Counts, SeenRows) {
        let counts = usage_counts::table
            .select((
                usage_counts::user_id,
                usage_counts::metric,
                usage_counts::day,
                usage_counts::n,
                usage_counts::first_seq,
                usage_counts::last_seq,
            ))
            .order((
                usage_counts::user_id,
                usage_counts::metric,
                usage_counts::day,
            ))
            .load(conn)
            .unwrap();
        let seen = usage_seen::table
            .select((usage_seen::user_id, usage_seen::day, usage_seen::client_id))
            .order((usage_seen::user_id, usage_seen::day, usage_seen::client_id))
            .load(conn)
            .unwrap();
        (counts, seen)
    }

    /// Counting a batch at once leaves the counters as counting its events one
    /// at a time does, on both backends.
    fn batches_count_like_single_events(url: &str) {
        let store = Store::open(&SecretString::from(url.to_string()), 2).unwrap();
        let mut conn = store.conn().unwrap();
        for seed in 0..12u64 {
            let rows = events(seed, 80);
            let clean = |conn: &mut DbConn| {
                diesel::delete(usage_counts::table).execute(conn).unwrap();
                diesel::delete(usage_seen::table).execute(conn).unwrap();
            };
            clean(&mut conn);
            for row in &rows {
                crate::store::write_tx(&mut conn, |c| count(c, std::slice::from_ref(row))).unwrap();
            }
            let one_by_one = tables(&mut conn);
            clean(&mut conn);
            let mut rest = &rows[..];
            let mut size = 1 + seed as usize;
            while !rest.is_empty() {
                let (batch, tail) = rest.split_at(size.min(rest.len()));
                crate::store::write_tx(&mut conn, |c| count(c, batch)).unwrap();
                rest = tail;
                size = size * 2 % 37 + 1;
            }
            assert_eq!(tables(&mut conn), one_by_one, "seed {seed}");
            assert!(!one_by_one.0.is_empty());
        }
    }

    #[test]
    fn batches_count_like_single_events_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        batches_count_like_single_events(&format!(
            "sqlite://{}",
            dir.path().join("usage.db").display()
        ));
    }

    /// Runs when `HOLDFAST_TEST_DATABASE_URL` names a PostgreSQL server (as in CI).
    #[test]
    fn batches_count_like_single_events_on_postgres() {
        let Some(admin) = std::env::var("HOLDFAST_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return;
        };
        use diesel::connection::SimpleConnection;
        let name = format!("hf_usage_{}", uuid::Uuid::new_v4().simple());
        let mut server = diesel::PgConnection::establish(&admin).unwrap();
        server
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        let result = std::panic::catch_unwind(|| batches_count_like_single_events(url.as_str()));
        let _ = server.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }
}
