//! Reassignments: the log of every client moved (with its reason) that the
//! rate limits count, and bulk requests waiting for an owner.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::limits::ReassignUsage;
use crate::clock::Env;
use crate::crm::reassign::Move;
use crate::store::models::exports::{ReassignRequestRow, ReassignmentRow};
use crate::store::schema::{reassign_requests, reassignments};
use crate::store::{DbConn, StoreError};

pub fn usage(
    conn: &mut DbConn,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<ReassignUsage, StoreError> {
    let count = |conn: &mut DbConn, since: DateTime<Utc>| -> Result<i64, StoreError> {
        Ok(reassignments::table
            .filter(reassignments::by_user.eq(user_id))
            .filter(reassignments::at.ge(since.naive_utc()))
            .count()
            .get_result(conn)?)
    };
    Ok(ReassignUsage {
        last_hour: count(conn, now - Duration::hours(1))?,
        last_day: count(conn, now - Duration::hours(24))?,
    })
}

pub fn log(
    conn: &mut DbConn,
    env: &Env,
    by_user: &str,
    reason: &str,
    request_id: Option<&str>,
    moves: &[Move],
) -> Result<(), StoreError> {
    for m in moves {
        diesel::insert_into(reassignments::table)
            .values(ReassignmentRow {
                id: env
                    .new_id()
                    .map_err(|e| StoreError::Audit(e.to_string()))?
                    .to_string(),
                client_id: m.client_id.clone(),
                from_owner: m.from.clone(),
                to_owner: m.to.clone(),
                by_user: by_user.to_string(),
                at: env.now().naive_utc(),
                reason: reason.to_string(),
                request_id: request_id.map(str::to_string),
            })
            .execute(conn)?;
    }
    Ok(())
}

/// A bulk reassignment waiting for (or decided by) an owner.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub client_ids: Vec<String>,
    pub to_owner: String,
    pub reason: String,
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_comment: Option<String>,
}

fn view(r: ReassignRequestRow) -> Request {
    Request {
        client_ids: serde_json::from_str(&r.client_ids).unwrap_or_default(),
        id: r.id,
        requested_by: r.requested_by,
        requested_at: r.requested_at.and_utc(),
        to_owner: r.to_owner,
        reason: r.reason,
        state: r.state,
        decided_by: r.decided_by,
        decided_at: r.decided_at.map(|t| t.and_utc()),
        decision_comment: r.decision_comment,
    }
}

pub fn insert_request(conn: &mut DbConn, row: &ReassignRequestRow) -> Result<(), StoreError> {
    diesel::insert_into(reassign_requests::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn get_request(conn: &mut DbConn, id: &str) -> Result<Option<Request>, StoreError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    Ok(reassign_requests::table
        .find(id)
        .select(ReassignRequestRow::as_select())
        .first(conn)
        .optional()?
        .map(view))
}

/// Decides a pending request; false when it was no longer pending.
pub fn decide_request(
    conn: &mut DbConn,
    id: &str,
    state: &str,
    by: &str,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        reassign_requests::table
            .find(id)
            .filter(reassign_requests::state.eq("pending")),
    )
    .set((
        reassign_requests::state.eq(state),
        reassign_requests::decided_by.eq(by),
        reassign_requests::decided_at.eq(now.naive_utc()),
        reassign_requests::decision_comment.eq(comment),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn pending(conn: &mut DbConn, limit: i64) -> Result<Vec<Request>, StoreError> {
    Ok(reassign_requests::table
        .filter(reassign_requests::state.eq("pending"))
        .select(ReassignRequestRow::as_select())
        .order(reassign_requests::requested_at.desc())
        .limit(limit.clamp(1, 500))
        .load(conn)?
        .into_iter()
        .map(view)
        .collect())
}
