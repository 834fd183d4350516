//! The timeline of a card: calls, emails, meetings, notes and automatic entries
//! for status/owner changes, newest first.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;

use super::clients::{Ctx, load_in_scope, user_names};
use super::types::*;
use super::{CrmError, cursor, text};
use crate::access::{Action, Object, Scope};
use crate::clock::Env;
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::clients::TimelineRow;
use crate::store::schema::timeline_entries;

const BODY_MAX: usize = 20_000;

/// A page of a client's timeline; the scope must cover the client.
pub fn page(
    conn: &mut DbConn,
    scope: &Scope,
    client_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<TimelineEntry>, CrmError> {
    if !scope.is(Object::Timeline, Action::Read) {
        return Err(CrmError::Internal(
            "timeline read needs a timeline scope".into(),
        ));
    }
    let row = load_in_scope(conn, scope, client_id, false)?;
    page_unchecked(conn, &row.id, cursor, limit)
}

/// Callers have already checked the client against a scope.
pub(super) fn page_unchecked(
    conn: &mut DbConn,
    client_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<TimelineEntry>, CrmError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut q = timeline_entries::table
        .filter(timeline_entries::client_id.eq(client_id))
        .select(TimelineRow::as_select())
        .into_boxed();
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        let (at, id) = cursor::decode(c)?;
        q = q.filter(
            timeline_entries::occurred_at
                .lt(at)
                .or(timeline_entries::occurred_at
                    .eq(at)
                    .and(timeline_entries::id.lt(id))),
        );
    }
    let mut rows: Vec<TimelineRow> = q
        .order((
            timeline_entries::occurred_at.desc(),
            timeline_entries::id.desc(),
        ))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| cursor::encode(r.occurred_at, &r.id))
    } else {
        None
    };
    let names = user_names(conn)?;
    Ok(Page {
        items: rows.into_iter().map(|r| to_entry(r, &names)).collect(),
        next_cursor,
    })
}

fn to_entry(r: TimelineRow, names: &std::collections::HashMap<String, String>) -> TimelineEntry {
    TimelineEntry {
        author: r.author_id.as_ref().map(|id| UserRef {
            id: id.clone(),
            name: names.get(id).cloned().unwrap_or_default(),
        }),
        id: r.id,
        kind: r.kind,
        occurred_at: utc(r.occurred_at),
        subject: r.subject,
        body: r.body,
        call_direction: r.call_direction,
        call_duration_secs: r.call_duration_secs,
        call_outcome: r.call_outcome,
        recording_url: r.recording_url,
        old_value: r.old_value,
        new_value: r.new_value,
    }
}

fn blank_row(
    env: &Env,
    client_id: &str,
    kind: &str,
    author: Option<&str>,
) -> Result<TimelineRow, CrmError> {
    let now = env.now().naive_utc();
    Ok(TimelineRow {
        id: env.new_id()?.to_string(),
        client_id: client_id.to_string(),
        kind: kind.to_string(),
        occurred_at: now,
        author_id: author.map(str::to_string),
        subject: None,
        body: None,
        call_direction: None,
        call_duration_secs: None,
        call_outcome: None,
        recording_url: None,
        old_value: None,
        new_value: None,
        created_at: now,
    })
}

/// Entries the system writes itself (creation, status and owner changes, deletes).
pub(crate) fn append_system(
    conn: &mut DbConn,
    env: &Env,
    client_id: &str,
    kind: &str,
    author: Option<&str>,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), CrmError> {
    let mut row = blank_row(env, client_id, kind, author)?;
    row.old_value = old.map(str::to_string);
    row.new_value = new.map(str::to_string);
    diesel::insert_into(timeline_entries::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

fn occurred(env: &Env, at: Option<DateTime<chrono::Utc>>) -> Result<NaiveDateTime, CrmError> {
    let now = env.now();
    match at {
        None => Ok(now.naive_utc()),
        Some(t) if t > now + chrono::Duration::days(1) => Err(CrmError::invalid(
            "occurred_at",
            Msg::new("invalid-in-future"),
        )),
        Some(t) if t.timestamp() < 0 => Err(CrmError::invalid(
            "occurred_at",
            Msg::new("invalid-before-1970"),
        )),
        Some(t) => Ok(t.naive_utc()),
    }
}

/// Builds the row for a timeline input (validated), for `client_id`.
pub(crate) fn entry_row(
    env: &Env,
    client_id: &str,
    author: Option<&str>,
    input: &TimelineInput,
) -> Result<TimelineRow, CrmError> {
    let mut row;
    match input {
        TimelineInput::Call {
            direction,
            duration_secs,
            outcome,
            recording_url,
            body,
            occurred_at,
        } => {
            row = blank_row(env, client_id, "call", author)?;
            if duration_secs.is_some_and(|d| d > 86_400) {
                return Err(CrmError::invalid(
                    "duration_secs",
                    Msg::new("invalid-call-duration"),
                ));
            }
            row.call_direction = Some(direction.as_str().to_string());
            row.call_duration_secs = duration_secs.map(|d| i32::try_from(d).unwrap_or(i32::MAX));
            row.call_outcome = text::opt_line("outcome", outcome.as_deref(), 100)?;
            row.recording_url = text::opt_link("recording_url", recording_url.as_deref())?;
            row.body = text::opt_body("body", body.as_deref(), BODY_MAX)?;
            row.occurred_at = occurred(env, *occurred_at)?;
        }
        TimelineInput::Email {
            direction,
            subject,
            body,
            occurred_at,
        } => {
            row = blank_row(env, client_id, "email", author)?;
            row.call_direction = direction.map(|d| d.as_str().to_string());
            row.subject = Some(text::line("subject", subject, 300)?);
            row.body = text::opt_body("body", body.as_deref(), BODY_MAX)?;
            row.occurred_at = occurred(env, *occurred_at)?;
        }
        TimelineInput::Meeting {
            subject,
            body,
            occurred_at,
        } => {
            row = blank_row(env, client_id, "meeting", author)?;
            row.subject = Some(text::line("subject", subject, 300)?);
            row.body = text::opt_body("body", body.as_deref(), BODY_MAX)?;
            row.occurred_at = occurred(env, *occurred_at)?;
        }
        TimelineInput::Note { body } => {
            row = blank_row(env, client_id, "note", author)?;
            if body.trim().is_empty() {
                return Err(CrmError::invalid("body", Msg::new("invalid-empty")));
            }
            row.body = Some(text::body("body", body, BODY_MAX)?);
        }
    }
    Ok(row)
}

/// Adds an entry to a client the scope covers.
pub fn add(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    client_id: &str,
    input: &TimelineInput,
) -> Result<TimelineEntry, CrmError> {
    if !scope.is(Object::Timeline, Action::Write) {
        return Err(CrmError::Internal(
            "timeline write needs a timeline scope".into(),
        ));
    }
    let client = load_in_scope(conn, scope, client_id, false)?;
    let row = entry_row(ctx.env, &client.id, scope.user_id(), input)?;
    insert(conn, &row)?;
    let names = user_names(conn)?;
    Ok(to_entry(row, &names))
}

pub(crate) fn insert(conn: &mut DbConn, row: &TimelineRow) -> Result<(), CrmError> {
    diesel::insert_into(timeline_entries::table)
        .values(row)
        .execute(conn)?;
    diesel::update(
        crate::store::schema::clients::table
            .filter(crate::store::schema::clients::id.eq(&row.client_id)),
    )
    .set(crate::store::schema::clients::updated_at.eq(row.created_at))
    .execute(conn)?;
    if CONTACT_KINDS.contains(&row.kind.as_str()) {
        // A call logged afterwards may have happened before the last one.
        use crate::store::schema::clients::dsl as c;
        diesel::update(
            c::clients.filter(c::id.eq(&row.client_id)).filter(
                c::last_contact_at
                    .is_null()
                    .or(c::last_contact_at.lt(row.occurred_at)),
            ),
        )
        .set(c::last_contact_at.eq(row.occurred_at))
        .execute(conn)?;
    }
    Ok(())
}

/// Entry kinds that count as contact with the client (the clients-at-risk
/// report's "no contact for N days").
pub const CONTACT_KINDS: [&str; 3] = ["call", "email", "meeting"];
