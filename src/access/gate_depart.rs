//! Departure mode. An owner marks a user as leaving (a step-up action): from
//! then on the user reads only their own clients and does nothing else (the
//! `leaving` restriction, enforced at the door), any use raises an alert, and
//! the client book is snapshotted. The owner reads a report of what the user
//! touched in the last 90 days, with the days detection flagged; one action
//! hands the book on through the ordinary reassignment and disables the account.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::gate_exports::{Fail, record_seq};
use super::{Gate, GateError, ReassignRequest, who_of};
use crate::access::policy::{Action, Object};
use crate::alerts::{self, Alert, Audience};
use crate::audit::{Event, Outcome, RequestMeta};
use crate::identity::{Actor, Role, users as identity_users};
use crate::store::schema::{
    audit_events, clients, departure_book, sessions, usage_counts, user_restrictions, users,
};
use crate::store::{DbConn, StoreError, write_tx};

const REPORT_DAYS: i64 = 90;
/// Clients the report names at most (the counts stay exact).
const MAX_NAMED: usize = 5000;

/// A user marked as leaving.
#[derive(Debug, Clone, Serialize)]
pub struct Departure {
    pub user_id: String,
    pub marked_at: chrono::DateTime<chrono::Utc>,
    /// Clients in the book when the user was marked.
    pub book: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BookEntry {
    pub client_id: String,
    pub name: Option<String>,
    /// Whether the user still owns it.
    pub still_owned: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionCount {
    pub action: String,
    pub outcome: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayUsage {
    pub day: String,
    pub counts: BTreeMap<String, i64>,
    /// Detection raised an alert about the user that day.
    pub anomalous: bool,
}

/// Everything the user accessed in the last 90 days, for the owner.
#[derive(Debug, Clone, Serialize)]
pub struct DepartureReport {
    pub user_id: String,
    pub username: String,
    pub leaving_since: Option<chrono::DateTime<chrono::Utc>>,
    pub from: chrono::DateTime<chrono::Utc>,
    pub book: Vec<BookEntry>,
    pub actions: Vec<ActionCount>,
    pub clients_touched: usize,
    /// Touched clients outside the book (first `MAX_NAMED`).
    pub outside_book: Vec<String>,
    pub days: Vec<DayUsage>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DepartOutcome {
    pub user_id: String,
    pub moved: usize,
    pub to_owner: String,
    pub disabled: bool,
}

fn leaving_since(
    conn: &mut DbConn,
    user: &str,
) -> Result<Option<chrono::NaiveDateTime>, StoreError> {
    Ok(user_restrictions::table
        .filter(user_restrictions::user_id.eq(user))
        .filter(user_restrictions::kind.eq("leaving"))
        .select(user_restrictions::since)
        .first(conn)
        .optional()?)
}

impl Gate {
    async fn departing_user(&self, id: &str) -> Result<identity_users::User, GateError> {
        let uid = id.to_string();
        let user = self
            .store
            .run(move |conn| identity_users::get(conn, &uid).map_err(|_| GateError::NotFound))
            .await?;
        // Departure mode is for the people the controls watch.
        if !matches!(user.role, Role::Sales | Role::Manager) {
            return Err(GateError::Invalid {
                field: "user".into(),
                msg: crate::i18n::Msg::new("invalid-departure-role"),
            });
        }
        Ok(user)
    }

    /// Marks `user_id` as leaving and snapshots their client book.
    pub async fn mark_leaving(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
    ) -> Result<Departure, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Users,
            Action::Depart,
            "user.leaving",
            "user",
            vec![user_id.into()],
        )
        .await?;
        let user = self.departing_user(user_id).await?;
        let (env, meta2, who) = (self.env.clone(), meta.clone(), who_of(actor));
        self.store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Departure, Fail> {
                    let now = env.now();
                    if leaving_since(conn, &user.id)?.is_some() {
                        return Err(Fail::Gate(GateError::Conflict(
                            "the user is already marked as leaving".into(),
                        )));
                    }
                    diesel::insert_into(user_restrictions::table)
                        .values((
                            user_restrictions::user_id.eq(&user.id),
                            user_restrictions::kind.eq("leaving"),
                            user_restrictions::since.eq(now.naive_utc()),
                        ))
                        .execute(conn)?;
                    let book: Vec<String> = clients::table
                        .filter(clients::owner_id.eq(&user.id))
                        .filter(clients::deleted_at.is_null())
                        .select(clients::id)
                        .load(conn)?;
                    diesel::delete(
                        departure_book::table.filter(departure_book::user_id.eq(&user.id)),
                    )
                    .execute(conn)?;
                    for id in &book {
                        diesel::insert_into(departure_book::table)
                            .values((
                                departure_book::user_id.eq(&user.id),
                                departure_book::client_id.eq(id),
                                departure_book::snapshot_at.eq(now.naive_utc()),
                            ))
                            .execute(conn)?;
                    }
                    let ev = Event::new("user.leaving", Outcome::Ok)
                        .by(who)
                        .on("user", [user.id.clone()])
                        .detail(json!({ "book": book.len(), "username": user.username }));
                    record_seq(conn, &env, &meta2, &ev)?;
                    Ok(Departure {
                        user_id: user.id.clone(),
                        marked_at: now,
                        book: book.len(),
                    })
                })
                .map_err(GateError::from)
            })
            .await
    }

    /// What the user touched in the last 90 days (owners; reading it is reading
    /// the log and is recorded as such).
    pub async fn departure_report(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
    ) -> Result<DepartureReport, GateError> {
        let detail = json!({ "view": "departure", "user_id": user_id });
        self.audit_allowed(actor, meta, Action::Read, "audit.read", &detail)
            .await?;
        let user = self.departing_user(user_id).await?;
        let from = self.env.now() - chrono::Duration::days(REPORT_DAYS);
        self.audit_pass(actor, meta, "audit.read", detail, move |conn| {
            let report = report(conn, &user, from)?;
            let extra = json!({ "clients_touched": report.clients_touched });
            Ok((report, extra))
        })
        .await
    }

    /// Hands a leaving user's clients to `to_owner` (the ordinary reassignment:
    /// reason, before/after owners, alerts) and disables the account.
    pub async fn depart(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
        to_owner: &str,
        reason: &str,
    ) -> Result<DepartOutcome, GateError> {
        self.depart_split(actor, meta, user_id, to_owner, &BTreeMap::new(), reason)
            .await
    }

    /// `depart`, with some clients going to other colleagues than `to_owner`
    /// (`assign`: client id → new owner; each must be in the user's book).
    /// One reassignment per new owner, each audited with the reason.
    pub async fn depart_split(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
        to_owner: &str,
        assign: &BTreeMap<String, String>,
        reason: &str,
    ) -> Result<DepartOutcome, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Users,
            Action::Depart,
            "user.depart",
            "user",
            vec![user_id.into()],
        )
        .await?;
        let user = self.departing_user(user_id).await?;
        let uid = user.id.clone();
        let owned: Vec<String> = self
            .store
            .run(move |conn| -> Result<Vec<String>, GateError> {
                if leaving_since(conn, &uid)?.is_none() {
                    return Err(GateError::Conflict("mark the user as leaving first".into()));
                }
                Ok(clients::table
                    .filter(clients::owner_id.eq(&uid))
                    .filter(clients::deleted_at.is_null())
                    .select(clients::id)
                    .load(conn)
                    .map_err(StoreError::from)?)
            })
            .await?;
        if let Some(stray) = assign.keys().find(|id| !owned.contains(id)) {
            let err = GateError::Invalid {
                field: "assign".into(),
                msg: crate::i18n::Msg::new("invalid-departure-assign").arg("client", stray),
            };
            return Err(self
                .refused(
                    actor,
                    meta,
                    "user.depart",
                    "user",
                    vec![user_id.into()],
                    json!({ "reason": "a client outside the book", "client": stray }),
                    err,
                )
                .await);
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in owned {
            let to = assign
                .get(&id)
                .filter(|t| !t.trim().is_empty())
                .cloned()
                .unwrap_or_else(|| to_owner.to_string());
            groups.entry(to).or_default().push(id);
        }
        let mut moved = 0;
        for (to, ids) in &groups {
            for chunk in ids.chunks(1000) {
                let out = self
                    .reassign(
                        actor,
                        meta,
                        ReassignRequest {
                            client_ids: chunk.to_vec(),
                            to_owner: to.clone(),
                            reason: reason.to_string(),
                        },
                    )
                    .await?;
                if out.state != "done" {
                    return Err(GateError::Conflict(
                        "the reassignment waits for an approval; the account stays".into(),
                    ));
                }
                moved += out.moved.len();
            }
        }
        let recipients: Vec<String> = groups.keys().cloned().collect();
        let (env, meta2, who, uid, to) = (
            self.env.clone(),
            meta.clone(),
            who_of(actor),
            user.id.clone(),
            to_owner.to_string(),
        );
        self.store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<(), Fail> {
                    let now = env.now().naive_utc();
                    diesel::update(users::table.find(&uid))
                        .set((users::disabled.eq(true), users::updated_at.eq(now)))
                        .execute(conn)?;
                    diesel::update(
                        sessions::table
                            .filter(sessions::user_id.eq(&uid))
                            .filter(sessions::revoked_at.is_null()),
                    )
                    .set(sessions::revoked_at.eq(now))
                    .execute(conn)?;
                    let ev = Event::new("user.depart", Outcome::Ok)
                        .by(who)
                        .on("user", [uid.clone()])
                        .detail(json!({
                            "moved": moved, "to_owner": to, "recipients": recipients,
                            "disabled": true,
                        }));
                    record_seq(conn, &env, &meta2, &ev)?;
                    Ok(())
                })
                .map_err(GateError::from)
            })
            .await?;
        Ok(DepartOutcome {
            user_id: user.id,
            moved,
            to_owner: to_owner.to_string(),
            disabled: true,
        })
    }
}

/// A person departure mode applies to, as the owner's departures page lists them.
#[derive(Debug, Clone, Serialize)]
pub struct DeparturePerson {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
    pub disabled: bool,
    pub leaving_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Gate {
    /// The sales staff and team leads, with who is marked as leaving (owners,
    /// as for marking; the read is audited as `user.list`).
    pub async fn departure_people(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<DeparturePerson>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Users,
            Action::Depart,
            "user.list",
            "user",
            vec![],
        )
        .await?;
        let people = self
            .store
            .run(move |conn| -> Result<Vec<DeparturePerson>, GateError> {
                let all = identity_users::list(conn).map_err(|e| match e {
                    crate::identity::IdentityError::Store(s) => GateError::Store(s),
                    other => GateError::Internal(other.to_string()),
                })?;
                let leaving: Vec<(String, chrono::NaiveDateTime)> = user_restrictions::table
                    .filter(user_restrictions::kind.eq("leaving"))
                    .select((user_restrictions::user_id, user_restrictions::since))
                    .load(conn)
                    .map_err(StoreError::from)?;
                Ok(all
                    .into_iter()
                    .filter(|u| matches!(u.role, Role::Sales | Role::Manager))
                    .map(|u| DeparturePerson {
                        leaving_since: leaving
                            .iter()
                            .find(|(id, _)| *id == u.id)
                            .map(|(_, t)| t.and_utc()),
                        user_id: u.id,
                        username: u.username,
                        display_name: u.display_name,
                        role: u.role,
                        team: u.team,
                        disabled: u.disabled,
                    })
                    .collect())
            })
            .await?;
        let ev = Event::new("user.list", Outcome::Ok)
            .by(who_of(actor))
            .on("user", people.iter().map(|p| p.user_id.clone()))
            .detail(json!({ "view": "departures" }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(people)
    }
}

fn report(
    conn: &mut DbConn,
    user: &identity_users::User,
    from: chrono::DateTime<chrono::Utc>,
) -> Result<DepartureReport, StoreError> {
    let since = leaving_since(conn, &user.id)?;
    let book_ids: Vec<String> = departure_book::table
        .filter(departure_book::user_id.eq(&user.id))
        .select(departure_book::client_id)
        .order(departure_book::client_id)
        .load(conn)?;
    let mut book = Vec::with_capacity(book_ids.len());
    for chunk in book_ids.chunks(500) {
        let rows: Vec<(String, String, Option<String>)> = clients::table
            .filter(clients::id.eq_any(chunk))
            .select((clients::id, clients::name, clients::owner_id))
            .load(conn)?;
        for id in chunk {
            let row = rows.iter().find(|r| &r.0 == id);
            book.push(BookEntry {
                client_id: id.clone(),
                name: row.map(|r| r.1.clone()),
                still_owned: row.is_some_and(|r| r.2.as_deref() == Some(user.id.as_str())),
            });
        }
    }
    let actions: Vec<(String, String, i64)> = audit_events::table
        .filter(audit_events::actor_id.eq(&user.id))
        .filter(audit_events::at.ge(from.naive_utc()))
        .group_by((audit_events::action, audit_events::outcome))
        .select((
            audit_events::action,
            audit_events::outcome,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    // The clients touched: object ids of client events (streamed by seq).
    let mut touched = BTreeSet::new();
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, String)> = audit_events::table
            .filter(audit_events::actor_id.eq(&user.id))
            .filter(audit_events::at.ge(from.naive_utc()))
            .filter(audit_events::object_kind.eq("client"))
            .filter(audit_events::seq.gt(after))
            .select((audit_events::seq, audit_events::object_ids))
            .order(audit_events::seq.asc())
            .limit(2000)
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (_, ids) in rows {
            let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
            touched.extend(ids);
        }
    }
    let in_book: BTreeSet<&String> = book_ids.iter().collect();
    let outside_book: Vec<String> = touched
        .iter()
        .filter(|id| !in_book.contains(id))
        .take(MAX_NAMED)
        .cloned()
        .collect();
    let alerts: Vec<Alert> = alerts::list(conn, Audience::Owners, false, 1000)?
        .into_iter()
        .filter(|a| a.subject_user.as_deref() == Some(user.id.as_str()) && a.raised_at >= from)
        .collect();
    let flagged: BTreeSet<String> = alerts
        .iter()
        .map(|a| a.raised_at.format("%Y-%m-%d").to_string())
        .collect();
    let counts: Vec<(String, String, i64)> = usage_counts::table
        .filter(usage_counts::user_id.eq(&user.id))
        .filter(usage_counts::day.ge(from.format("%Y-%m-%d").to_string()))
        .filter(usage_counts::day.like("2%"))
        .select((usage_counts::day, usage_counts::metric, usage_counts::n))
        .load(conn)?;
    let mut days: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (day, metric, n) in counts {
        days.entry(day).or_default().insert(metric, n);
    }
    for d in &flagged {
        days.entry(d.clone()).or_default();
    }
    Ok(DepartureReport {
        user_id: user.id.clone(),
        username: user.username.clone(),
        leaving_since: since.map(|t| t.and_utc()),
        from,
        book,
        actions: actions
            .into_iter()
            .map(|(action, outcome, count)| ActionCount {
                action,
                outcome,
                count,
            })
            .collect(),
        clients_touched: touched.len(),
        outside_book,
        days: days
            .into_iter()
            .rev()
            .map(|(day, counts)| DayUsage {
                anomalous: flagged.contains(&day),
                day,
                counts,
            })
            .collect(),
        alerts,
    })
}
