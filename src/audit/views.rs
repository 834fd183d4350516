//! The owner's questions, as queries over `audit_events`: who touched this client,
//! what did this person touch in a period, which events match a filter, and what
//! did the last `holdfast audit verify` find. Read-only; the access layer checks
//! the role and records each read of the log as an event of its own.
//!
//! Paging is a keyset on `seq` (newest first): a cursor is the `seq` of the last
//! event shown, so pages stay stable while new events are appended.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde::Serialize;

use crate::store::schema::{audit_events, users};
use crate::store::{Backend, DbConn, MultiBackend, StoreError};

/// Events per page at most.
pub const MAX_PAGE: i64 = 200;
/// The longest period the per-user view covers, in days.
pub const MAX_PERIOD_DAYS: i64 = 92;
/// Rows in one export at most.
pub const MAX_EXPORT: usize = 100_000;
/// Events listed per table of the per-user view (the counts cover all of them).
pub const LIST_LIMIT: usize = 100;
/// Log positions one page of an id or text search looks at, at most.
pub const SCAN_WINDOW: i64 = 100_000;
/// Events the per-user view reads from the database per round trip.
const SCAN_BATCH: i64 = 5_000;
/// Events the per-user view reads at most; beyond that it says it stopped early.
const SCAN_MAX: usize = 2_000_000;
/// Free-text and id filters longer than this are refused.
pub const MAX_FILTER_LEN: usize = 200;

/// Actions that return client data.
const READ_ACTIONS: &[&str] = &[
    "client.read",
    "client.list",
    "timeline.read",
    "deal.read",
    "deal.list",
    "deal.history",
    "deal.pipeline",
    "task.read",
    "task.list",
];
/// Actions that change client data.
const CHANGE_ACTIONS: &[&str] = &[
    "client.create",
    "client.update",
    "client.delete",
    "client.restore",
    "timeline.add",
    "intake.call",
    "intake.form",
    "client.import",
    "deal.create",
    "deal.update",
    "deal.move",
    "deal_stages.update",
    "task.create",
    "task.update",
];

/// What an event did to the objects it names, as the owner's views group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Touch {
    Viewed,
    Changed,
    Reassigned,
    Exported,
    Denied,
    Failed,
    SignIn,
    Other,
}

impl Touch {
    pub fn as_str(self) -> &'static str {
        match self {
            Touch::Viewed => "viewed",
            Touch::Changed => "changed",
            Touch::Reassigned => "reassigned",
            Touch::Exported => "exported",
            Touch::Denied => "denied",
            Touch::Failed => "failed",
            Touch::SignIn => "sign_in",
            Touch::Other => "other",
        }
    }
}

/// Classifies one event. A client update that moved the client to another owner
/// is a reassignment; any `*.export` action is an export.
pub fn touch(action: &str, outcome: &str, detail: &serde_json::Value) -> Touch {
    if outcome == "denied" {
        return Touch::Denied;
    }
    if action == "login" {
        return Touch::SignIn;
    }
    if outcome != "ok" {
        return Touch::Failed;
    }
    if action == "client.reassign" || (action == "client.update" && !detail["owner"].is_null()) {
        return Touch::Reassigned;
    }
    if action.ends_with(".export") || action == "export.ready" {
        return Touch::Exported;
    }
    if READ_ACTIONS.contains(&action) {
        return Touch::Viewed;
    }
    if CHANGE_ACTIONS.contains(&action) {
        return Touch::Changed;
    }
    Touch::Other
}

/// What the views select: every column but the hashes.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct ViewRow {
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
}

/// One event as the owner's views and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub seq: i64,
    pub id: String,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub actor_id: Option<String>,
    /// The actor's display name when the actor is a user of this installation.
    pub actor_name: Option<String>,
    pub actor_role: Option<String>,
    pub session_ref: Option<String>,
    pub action: String,
    pub touch: Touch,
    pub object_kind: Option<String>,
    pub object_ids: Vec<String>,
    pub object_count: i32,
    pub outcome: String,
    pub detail: serde_json::Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ViewRow {
    fn into_view(self, names: &HashMap<String, String>) -> EventView {
        let detail = serde_json::from_str(&self.detail)
            .unwrap_or(serde_json::Value::String(self.detail.clone()));
        let object_ids = serde_json::from_str(&self.object_ids).unwrap_or_default();
        EventView {
            seq: self.seq,
            touch: touch(&self.action, &self.outcome, &detail),
            actor_name: self.actor_id.as_ref().and_then(|a| names.get(a).cloned()),
            id: self.id,
            at: self.at.and_utc(),
            request_id: self.request_id,
            actor_id: self.actor_id,
            actor_role: self.actor_role,
            session_ref: self.session_ref,
            action: self.action,
            object_kind: self.object_kind,
            object_ids,
            object_count: self.object_count,
            outcome: self.outcome,
            detail,
            ip: self.ip,
            user_agent: self.user_agent,
        }
    }
}

/// A filter over all events; every part is optional and they combine with AND.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub outcome: Option<String>,
    pub object_id: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<NaiveDateTime>,
    /// Before this time (exclusive).
    pub to: Option<NaiveDateTime>,
    pub request_id: Option<String>,
    /// A substring of the event's detail (case-insensitive for ASCII on SQLite,
    /// for every script on PostgreSQL).
    pub text: Option<String>,
}

/// Why a filter, cursor or period was refused; the access layer words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    pub field: &'static str,
    pub key: &'static str,
    pub max: Option<i64>,
}

impl Filter {
    pub fn check(&self) -> Result<(), BadInput> {
        let fields = [
            ("action", &self.action),
            ("actor", &self.actor_id),
            ("outcome", &self.outcome),
            ("object", &self.object_id),
            ("request_id", &self.request_id),
            ("q", &self.text),
        ];
        for (field, value) in fields {
            if value
                .as_deref()
                .is_some_and(|v| v.chars().count() > MAX_FILTER_LEN)
            {
                return Err(BadInput {
                    field,
                    key: "invalid-too-long-filter",
                    max: Some(MAX_FILTER_LEN as i64),
                });
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(BadInput {
                field: "to",
                key: "invalid-period-order",
                max: None,
            });
        }
        Ok(())
    }

    /// The filter without empty parts, for the audit event of a read or export.
    pub fn summary(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.retain(|_, x| !x.is_null());
        }
        v
    }
}

/// A cursor as issued in `next_cursor`: the `seq` of the last event shown.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, BadInput> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or(BadInput {
                field: "cursor",
                key: "invalid-cursor",
                max: None,
            }),
    }
}

/// Escapes `%`, `_` and the escape character itself for `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The `LIKE` pattern that finds `id` inside the JSON array `object_ids`.
fn object_pattern(id: &str) -> String {
    let quoted = serde_json::to_string(id).unwrap_or_else(|_| format!("\"{id}\""));
    format!("%{}%", like_escape(&quoted))
}

type Boxed<'a> = audit_events::BoxedQuery<'a, MultiBackend>;

fn filtered<'a>(backend: Backend, f: &Filter) -> Boxed<'a> {
    let mut q = audit_events::table.into_boxed();
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a.clone()));
    }
    if let Some(a) = &f.actor_id {
        q = q.filter(audit_events::actor_id.eq(a.clone()));
    }
    if let Some(o) = &f.outcome {
        q = q.filter(audit_events::outcome.eq(o.clone()));
    }
    if let Some(r) = &f.request_id {
        q = q.filter(audit_events::request_id.eq(r.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(audit_events::at.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(audit_events::at.lt(to));
    }
    if let Some(id) = &f.object_id {
        q = q.filter(
            audit_events::object_ids
                .like(object_pattern(id))
                .escape('\\'),
        );
    }
    if let Some(text) = &f.text {
        let pattern = format!("%{}%", like_escape(text));
        let op = match backend {
            Backend::Postgres => "audit_events.detail ILIKE ",
            Backend::Sqlite => "audit_events.detail LIKE ",
        };
        q = q.filter(sql::<Bool>(op).bind::<Text, _>(pattern).sql(" ESCAPE '\\'"));
    }
    q
}

/// One page of events, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Display names of the users among `ids` (others, such as `system:…` or
/// `cli:…` actors, are not users and keep no name).
fn names(conn: &mut DbConn, ids: &[&str]) -> Result<HashMap<String, String>, StoreError> {
    let wanted: HashSet<&str> = ids.iter().copied().collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, String)> = users::table
        .filter(users::id.eq_any(wanted.into_iter().map(str::to_string).collect::<Vec<_>>()))
        .select((users::id, users::username, users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, username, display)| {
            let name = if display.trim().is_empty() {
                username
            } else {
                display
            };
            (id, name)
        })
        .collect())
}

fn views(conn: &mut DbConn, rows: Vec<ViewRow>) -> Result<Vec<EventView>, StoreError> {
    let ids: Vec<&str> = rows.iter().filter_map(|r| r.actor_id.as_deref()).collect();
    let names = names(conn, &ids)?;
    Ok(rows.into_iter().map(|r| r.into_view(&names)).collect())
}

/// Events matching `filter`, newest first, older than the cursor `before`.
///
/// Filters on an object id or on the detail text match with `LIKE '%…%'`, which
/// no index serves; such a page looks at most `SCAN_WINDOW` positions of the log
/// below the cursor, so every request does bounded work however rare the match.
/// A page can then hold fewer events than `limit`, even none, while
/// `next_cursor` still points further back: follow it until it is `None`.
pub fn search(
    conn: &mut DbConn,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<EventPage, StoreError> {
    let window = (filter.object_id.is_some() || filter.text.is_some()).then_some(SCAN_WINDOW);
    search_within(conn, filter, before, limit, window)
}

/// `search` with an explicit scan window (`None`: no bound).
pub fn search_within(
    conn: &mut DbConn,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
    window: Option<i64>,
) -> Result<EventPage, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    // The lowest position this page looks at, when the scan is bounded.
    let floor = match window {
        Some(w) => {
            let top = match before {
                Some(b) => b - 1,
                None => super::chain::head(conn)?.0,
            };
            Some(top - w.max(1) + 1)
        }
        None => None,
    };
    let mut q = filtered(conn.backend(), filter)
        .select(ViewRow::as_select())
        .order(audit_events::seq.desc())
        .limit(limit + 1);
    if let Some(b) = before {
        q = q.filter(audit_events::seq.lt(b));
    }
    if let Some(f) = floor {
        q = q.filter(audit_events::seq.ge(f));
    }
    let mut rows: Vec<ViewRow> = q.load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| r.seq.to_string())
    } else {
        floor.filter(|f| *f > 1).map(|f| f.to_string())
    };
    Ok(EventPage {
        items: views(conn, rows)?,
        next_cursor,
    })
}

/// Everything the log holds about one client: who viewed, changed, exported or
/// reassigned it (and who was refused), newest first.
pub fn client_history(
    conn: &mut DbConn,
    client_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<EventPage, StoreError> {
    let filter = Filter {
        object_id: Some(client_id.to_string()),
        ..Filter::default()
    };
    search(conn, &filter, before, limit)
}

/// Every event matching `filter`, newest first, up to `MAX_EXPORT`; the flag
/// says whether more matched.
pub fn export(conn: &mut DbConn, filter: &Filter) -> Result<(Vec<EventView>, bool), StoreError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = search(conn, filter, before, MAX_PAGE)?;
        let next = page.next_cursor.as_deref().and_then(|c| c.parse().ok());
        out.extend(page.items);
        if out.len() >= MAX_EXPORT {
            let more = out.len() > MAX_EXPORT || next.is_some();
            out.truncate(MAX_EXPORT);
            return Ok((out, more));
        }
        match next {
            Some(n) => before = Some(n),
            None => return Ok((out, false)),
        }
    }
}

/// Read events and distinct clients of one day (UTC).
#[derive(Debug, Clone, Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub distinct_clients: usize,
    pub reads: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub reads: usize,
    pub changes: usize,
    pub exports: usize,
    pub reassignments: usize,
    pub denials: usize,
    pub sign_ins: usize,
    pub failed_sign_ins: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserRef {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: String,
    pub disabled: bool,
}

/// What one user touched in a period (days are UTC, `to` inclusive).
#[derive(Debug, Clone, Serialize)]
pub struct UserActivity {
    pub actor_id: String,
    /// `None` when the actor is not a user of this installation.
    pub user: Option<UserRef>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<DayCount>,
    /// Distinct clients viewed over the whole period.
    pub distinct_clients: usize,
    pub counts: Counts,
    /// The newest `LIST_LIMIT` of each, newest first.
    pub exports: Vec<EventView>,
    pub reassignments: Vec<EventView>,
    pub denials: Vec<EventView>,
    pub sign_ins: Vec<EventView>,
    /// The period held more events than one view reads; counts are partial.
    pub truncated: bool,
}

/// Checks a period for the per-user view: `from` ≤ `to`, at most `MAX_PERIOD_DAYS`.
pub fn check_period(from: NaiveDate, to: NaiveDate) -> Result<(), BadInput> {
    if from > to {
        return Err(BadInput {
            field: "to",
            key: "invalid-period-order",
            max: None,
        });
    }
    if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
        return Err(BadInput {
            field: "from",
            key: "invalid-period-too-long",
            max: Some(MAX_PERIOD_DAYS),
        });
    }
    Ok(())
}

fn keep_newest(list: &mut VecDeque<ViewRow>, row: &ViewRow) {
    list.push_back(row.clone());
    if list.len() > LIST_LIMIT {
        list.pop_front();
    }
}

/// The per-user view. Reads the user's events of the period in batches along the
/// `(actor_id, at)` index and expands the object ids of their reads in memory,
/// so the work is bounded by the period (at most `MAX_PERIOD_DAYS`) and by
/// `SCAN_MAX` events.
pub fn user_activity(
    conn: &mut DbConn,
    actor_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<UserActivity, StoreError> {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = to.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::days(1);
    let mut per_day: BTreeMap<NaiveDate, (HashSet<String>, usize)> = BTreeMap::new();
    let mut all_clients: HashSet<String> = HashSet::new();
    let mut counts = Counts::default();
    let (mut exports, mut reassignments, mut denials, mut sign_ins) = (
        VecDeque::new(),
        VecDeque::new(),
        VecDeque::new(),
        VecDeque::new(),
    );
    let mut after: Option<(NaiveDateTime, i64)> = None;
    let mut scanned = 0usize;
    let mut truncated = false;
    loop {
        let mut q = audit_events::table
            .select(ViewRow::as_select())
            .filter(audit_events::actor_id.eq(actor_id.to_string()))
            .filter(audit_events::at.ge(start))
            .filter(audit_events::at.lt(end))
            .order((audit_events::at.asc(), audit_events::seq.asc()))
            .limit(SCAN_BATCH)
            .into_boxed();
        if let Some((at, seq)) = after {
            q = q.filter(
                audit_events::at
                    .gt(at)
                    .or(audit_events::at.eq(at).and(audit_events::seq.gt(seq))),
            );
        }
        let rows: Vec<ViewRow> = q.load(conn)?;
        let n = rows.len();
        for row in &rows {
            let detail: serde_json::Value =
                serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
            match touch(&row.action, &row.outcome, &detail) {
                Touch::Viewed => {
                    counts.reads += 1;
                    let ids: Vec<String> =
                        serde_json::from_str(&row.object_ids).unwrap_or_default();
                    let day = per_day.entry(row.at.date()).or_default();
                    day.1 += 1;
                    if row.object_kind.as_deref() == Some("client") {
                        for id in ids {
                            all_clients.insert(id.clone());
                            day.0.insert(id);
                        }
                    }
                }
                Touch::Changed => counts.changes += 1,
                Touch::Exported => {
                    counts.exports += 1;
                    keep_newest(&mut exports, row);
                }
                Touch::Reassigned => {
                    counts.reassignments += 1;
                    keep_newest(&mut reassignments, row);
                }
                Touch::Denied => {
                    counts.denials += 1;
                    keep_newest(&mut denials, row);
                }
                Touch::SignIn => {
                    if row.outcome == "ok" {
                        counts.sign_ins += 1;
                    } else {
                        counts.failed_sign_ins += 1;
                    }
                    keep_newest(&mut sign_ins, row);
                }
                Touch::Failed | Touch::Other => {}
            }
        }
        scanned += n;
        after = rows.last().map(|r| (r.at, r.seq));
        if (n as i64) < SCAN_BATCH {
            break;
        }
        if scanned >= SCAN_MAX {
            truncated = true;
            break;
        }
    }
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        let (clients, reads) = per_day
            .get(&day)
            .map(|(c, r)| (c.len(), *r))
            .unwrap_or((0, 0));
        days.push(DayCount {
            day,
            distinct_clients: clients,
            reads,
        });
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    let user = users::table
        .filter(users::id.eq(actor_id.to_string()))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::role,
            users::disabled,
        ))
        .first::<(String, String, String, String, bool)>(conn)
        .optional()?
        .map(|(id, username, display, role, disabled)| UserRef {
            id,
            name: if display.trim().is_empty() {
                username.clone()
            } else {
                display
            },
            username,
            role,
            disabled,
        });
    let mut newest_first = |list: VecDeque<ViewRow>| -> Result<Vec<EventView>, StoreError> {
        views(conn, list.into_iter().rev().collect())
    };
    Ok(UserActivity {
        actor_id: actor_id.to_string(),
        exports: newest_first(exports)?,
        reassignments: newest_first(reassignments)?,
        denials: newest_first(denials)?,
        sign_ins: newest_first(sign_ins)?,
        user,
        from,
        to,
        days,
        distinct_clients: all_clients.len(),
        counts,
        truncated,
    })
}

/// The first problem a verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub seq: Option<i64>,
    pub kind: String,
    pub message: String,
}

/// The newest `holdfast audit verify` run, as it recorded itself.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub by: Option<String>,
    pub events: Option<i64>,
    pub head_seq: Option<i64>,
    pub checkpoints: Option<i64>,
    pub problem: Option<Problem>,
}

pub fn last_verification(conn: &mut DbConn) -> Result<Option<Verification>, StoreError> {
    let row: Option<ViewRow> = audit_events::table
        .select(ViewRow::as_select())
        .filter(audit_events::action.eq("audit.verify"))
        .order(audit_events::seq.desc())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| {
        let d: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
        let problem = d["problem"].as_object().map(|p| Problem {
            seq: p.get("seq").and_then(|s| s.as_i64()),
            kind: p
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("unknown")
                .to_string(),
            message: p
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_string(),
        });
        Verification {
            seq: r.seq,
            at: r.at.and_utc(),
            ok: r.outcome == "ok" && problem.is_none(),
            by: r.actor_id,
            events: d["events"].as_i64(),
            head_seq: d["head_seq"].as_i64(),
            checkpoints: d["checkpoints"].as_i64(),
            problem,
        }
    }))
}

/// One CSV cell: formula injection neutralised (a leading `=`, `+`, `-`, `@`,
/// tab or carriage return gets an apostrophe in front, so a spreadsheet shows
/// the text instead of running it), then quoted per RFC 4180 when needed.
/// Everything else, any script included, is kept byte for byte.
pub fn csv_cell(value: &str) -> String {
    let mut v = String::with_capacity(value.len() + 3);
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.push('\'');
    }
    v.push_str(value);
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

pub const CSV_HEADER: &[&str] = &[
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "action",
    "touch",
    "outcome",
    "object_kind",
    "object_ids",
    "request_id",
    "ip",
    "user_agent",
    "detail",
];

/// The events as CSV (UTF-8, CRLF line ends, header first).
pub fn csv(events: &[EventView]) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    };
    line(
        &mut out,
        &CSV_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    for e in events {
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        line(
            &mut out,
            &[
                e.seq.to_string(),
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                opt(&e.actor_id),
                opt(&e.actor_name),
                opt(&e.actor_role),
                e.action.clone(),
                e.touch.as_str().to_string(),
                e.outcome.clone(),
                opt(&e.object_kind),
                e.object_ids.join(" "),
                opt(&e.request_id),
                opt(&e.ip),
                opt(&e.user_agent),
                match &e.detail {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            ],
        );
    }
    out
}

/// A time filter as given in a query string: `YYYY-MM-DD` (midnight UTC) or
/// RFC 3339.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).naive_utc())
}

/// The end of a time filter: a date means the end of that day (UTC), a time is
/// taken as given.
pub fn parse_until(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    parse_time(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formulas_are_neutralised_and_text_is_kept() {
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(
            csv_cell("=HYPERLINK(\"a\",\"b\")"),
            "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\""
        );
        assert_eq!(csv_cell("ნინო ბერიძე"), "ნინო ბერიძე");
        assert_eq!(csv_cell("محمد, علي"), "\"محمد, علي\"");
        assert_eq!(csv_cell("a=b"), "a=b");
    }

    #[test]
    fn events_are_classified() {
        let none = json!({});
        assert_eq!(touch("client.read", "ok", &none), Touch::Viewed);
        assert_eq!(touch("client.list", "ok", &none), Touch::Viewed);
        assert_eq!(touch("client.read", "denied", &none), Touch::Denied);
        assert_eq!(touch("client.read", "failed", &none), Touch::Failed);
        assert_eq!(
            touch("client.update", "ok", &json!({"owner": null})),
            Touch::Changed
        );
        assert_eq!(
            touch("client.update", "ok", &json!({"owner": ["a", "b"]})),
            Touch::Reassigned
        );
        assert_eq!(touch("audit.export", "ok", &none), Touch::Exported);
        assert_eq!(touch("login", "failed", &none), Touch::SignIn);
        assert_eq!(touch("audit.verify", "ok", &none), Touch::Other);
    }

    #[test]
    fn periods_and_cursors_are_checked() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(check_period(d("2026-01-01"), d("2026-04-02")).is_ok());
        assert!(check_period(d("2026-01-01"), d("2026-04-03")).is_err());
        assert!(check_period(d("2026-01-02"), d("2026-01-01")).is_err());
        assert_eq!(parse_cursor(Some("42")), Ok(Some(42)));
        assert_eq!(parse_cursor(Some("")), Ok(None));
        assert!(parse_cursor(Some("x")).is_err());
        assert!(parse_cursor(Some("-1")).is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
        assert_eq!(object_pattern("ab"), "%\"ab\"%");
    }

    #[test]
    fn times_parse_as_dates_or_rfc3339() {
        assert_eq!(
            parse_time("2026-11-22").map(|t| t.to_string()),
            Some("2026-11-22 00:00:00".into())
        );
        assert_eq!(
            parse_time("2026-11-22T10:00:00+02:00").map(|t| t.to_string()),
            Some("2026-11-22 08:00:00".into())
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(
            parse_until("2026-11-22").map(|t| t.to_string()),
            Some("2026-11-23 00:00:00".into())
        );
    }
}
