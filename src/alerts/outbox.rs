//! The outbox of alert notices. Raising an alert queues it here in the same
//! transaction (`queue`); a job later fans each queued alert out to one
//! delivery per recipient and webhook (`fan_out`) and sends what is due
//! (`claim_due`, then `delivered` or `failed`). Several app nodes may drain at
//! once: a queued alert is fanned out by the node whose delete removed it, and a
//! delivery is attempted by the node whose update claimed it, so nothing is sent
//! twice except after a crash between a receiver's acceptance and the mark.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{Alert, Audience};
use crate::clock::Env;
use crate::store::schema::{
    alert_deliveries, alert_outbox, notification_settings, user_emails, users,
};
use crate::store::{DbConn, StoreError, write_tx};

/// Queues a just-raised alert for its notices.
pub fn queue(conn: &mut DbConn, alert_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::insert_into(alert_outbox::table)
        .values((
            alert_outbox::alert_id.eq(alert_id),
            alert_outbox::queued_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where one alert goes: the channels its severity is sent on.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub email: bool,
    pub webhooks: Vec<String>,
}

/// The addresses of an audience: owners (or admins) who are not disabled and
/// have an address, the one an owner or admin set first, else their own
/// notification address.
pub fn recipients(conn: &mut DbConn, audience: Audience) -> Result<Vec<String>, StoreError> {
    let role = match audience {
        Audience::Owners => "owner",
        Audience::Admins => "admin",
    };
    let people: Vec<(String, Option<String>)> = users::table
        .left_join(user_emails::table.on(user_emails::user_id.eq(users::id)))
        .filter(users::role.eq(role))
        .filter(users::disabled.eq(false))
        .select((users::id, user_emails::email.nullable()))
        .order(users::username)
        .load(conn)?;
    let mut out: Vec<String> = Vec::new();
    for (id, set) in people {
        let addr = match set {
            Some(a) => Some(a),
            None => notification_settings::table
                .find(&id)
                .select(notification_settings::email)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten(),
        };
        if let Some(a) = addr
            && !out.contains(&a)
        {
            out.push(a);
        }
    }
    Ok(out)
}

/// Fans queued alerts out to their deliveries; the number of deliveries made.
pub fn fan_out(
    conn: &mut DbConn,
    env: &Env,
    plan_of: &dyn Fn(&Alert) -> Plan,
    limit: i64,
) -> Result<usize, StoreError> {
    let queued: Vec<String> = alert_outbox::table
        .order(alert_outbox::queued_at)
        .select(alert_outbox::alert_id)
        .limit(limit)
        .load(conn)?;
    let mut made = 0;
    for alert_id in queued {
        made += write_tx(conn, |conn| -> Result<usize, StoreError> {
            let taken = diesel::delete(alert_outbox::table.find(&alert_id)).execute(conn)?;
            if taken == 0 {
                // Another node took it.
                return Ok(0);
            }
            let Some(alert) = super::get(conn, &alert_id)? else {
                return Ok(0);
            };
            let plan = plan_of(&alert);
            let mut targets: Vec<(&str, String)> = Vec::new();
            if plan.email {
                for to in recipients(conn, alert.audience)? {
                    targets.push(("email", to));
                }
            }
            for url in plan.webhooks {
                targets.push(("webhook", url));
            }
            let now = env.now().naive_utc();
            for (channel, target) in &targets {
                let id = env
                    .new_id()
                    .map_err(|e| StoreError::Audit(e.to_string()))?
                    .to_string();
                diesel::insert_into(alert_deliveries::table)
                    .values((
                        alert_deliveries::id.eq(id),
                        alert_deliveries::alert_id.eq(&alert_id),
                        alert_deliveries::channel.eq(*channel),
                        alert_deliveries::target.eq(target),
                        alert_deliveries::created_at.eq(now),
                        alert_deliveries::attempts.eq(0),
                        alert_deliveries::next_attempt_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            Ok(targets.len())
        })?;
    }
    Ok(made)
}

/// A delivery this node claimed, with its alert.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub channel: String,
    pub target: String,
    pub attempts: i32,
    pub alert: Alert,
}

/// Claims up to `limit` due deliveries for `lease` (no other node tries them
/// meanwhile; a node that dies mid-send leaves them due again after it).
pub fn claim_due(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let now_n = now.naive_utc();
    let rows: Vec<(String, String, String, String, i32)> = alert_deliveries::table
        .filter(alert_deliveries::delivered_at.is_null())
        .filter(alert_deliveries::gave_up_at.is_null())
        .filter(alert_deliveries::next_attempt_at.le(now_n))
        .order(alert_deliveries::next_attempt_at)
        .select((
            alert_deliveries::id,
            alert_deliveries::alert_id,
            alert_deliveries::channel,
            alert_deliveries::target,
            alert_deliveries::attempts,
        ))
        .limit(limit)
        .load(conn)?;
    let mut out = Vec::new();
    for (id, alert_id, channel, target, attempts) in rows {
        let claimed = diesel::update(
            alert_deliveries::table
                .find(&id)
                .filter(alert_deliveries::delivered_at.is_null())
                .filter(alert_deliveries::gave_up_at.is_null())
                .filter(alert_deliveries::next_attempt_at.le(now_n)),
        )
        .set(alert_deliveries::next_attempt_at.eq(now_n + lease))
        .execute(conn)?;
        if claimed == 0 {
            continue;
        }
        if let Some(alert) = super::get(conn, &alert_id)? {
            out.push(Due {
                id,
                channel,
                target,
                attempts,
                alert,
            });
        }
    }
    Ok(out)
}

pub fn delivered(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(alert_deliveries::table.find(id))
        .set((
            alert_deliveries::delivered_at.eq(Some(now.naive_utc())),
            alert_deliveries::attempts.eq(alert_deliveries::attempts + 1),
            alert_deliveries::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The wait before attempt `n + 1` after `n` failed ones: 30 s, doubling, at
/// most an hour.
pub fn backoff(failed: i32) -> Duration {
    let exp = u32::try_from(failed.saturating_sub(1)).unwrap_or(0).min(7);
    Duration::seconds((30_i64 << exp).min(3600))
}

/// Records a failed attempt; `true` when it was the last one allowed.
pub fn failed(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
    attempts_before: i32,
    max_attempts: i32,
    error: &str,
) -> Result<bool, StoreError> {
    let attempts = attempts_before + 1;
    let gave_up = attempts >= max_attempts;
    let error: String = error.chars().take(500).collect();
    diesel::update(alert_deliveries::table.find(id))
        .set((
            alert_deliveries::attempts.eq(attempts),
            alert_deliveries::last_error.eq(Some(error)),
            alert_deliveries::next_attempt_at.eq(now.naive_utc() + backoff(attempts)),
            alert_deliveries::gave_up_at.eq(gave_up.then(|| now.naive_utc())),
        ))
        .execute(conn)?;
    Ok(gave_up)
}

/// A delivery as the owner's page and tests see it.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct DeliveryState {
    pub id: String,
    pub alert_id: String,
    pub channel: String,
    pub target: String,
    pub attempts: i32,
    pub delivered_at: Option<NaiveDateTime>,
    pub gave_up_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

pub fn deliveries_of(conn: &mut DbConn, alert_id: &str) -> Result<Vec<DeliveryState>, StoreError> {
    Ok(alert_deliveries::table
        .filter(alert_deliveries::alert_id.eq(alert_id))
        .order((alert_deliveries::channel, alert_deliveries::target))
        .select((
            alert_deliveries::id,
            alert_deliveries::alert_id,
            alert_deliveries::channel,
            alert_deliveries::target,
            alert_deliveries::attempts,
            alert_deliveries::delivered_at,
            alert_deliveries::gave_up_at,
            alert_deliveries::last_error,
        ))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(4), Duration::seconds(240));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }
}
