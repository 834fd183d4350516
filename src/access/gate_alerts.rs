//! Alerts and decoys through the Gate. The tripwire sits where the Gate records
//! an event: any view, edit, export or reassignment of a decoy client raises a
//! high-severity alert for the owners in the same transaction as the event, with
//! the event as its evidence, so no path that reaches client data misses it.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gate_exports::{Fail, record_seq};
use super::{Gate, GateError, touched, who_of};
use crate::access::policy::{Action, Object};
use crate::alerts::{self, Alert, Audience, NewAlert, Severity};
use crate::audit::{Event, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::crm::clients;
use crate::crm::types::{ClientKind, ContactInput, NewClient};
use crate::exports::{Over, seeds};
use crate::identity::{Actor, Role};
use crate::store::models::exports::DecoyRow;
use crate::store::schema::decoys;
use crate::store::{DbConn, StoreError, write_tx};

/// Events that touch one client's data: each is checked against the decoys.
/// (A list page is not a touch: decoys sit in lists like any client.) A call or
/// web form that matches a decoy means its contacts are known outside.
const WATCHED: &[&str] = &[
    "intake.call",
    "intake.form",
    "client.read",
    "client.reveal",
    "client.update",
    "client.delete",
    "client.restore",
    "timeline.read",
    "timeline.add",
    "export.ready",
    "client.reassign",
    // Deals and tasks touch the client they belong to (`touched_clients`).
    "deal.create",
    "deal.read",
    "deal.update",
    "deal.move",
    "deal.history",
    "task.create",
    "task.read",
    "task.update",
];

pub(super) fn watches(event: &str) -> bool {
    WATCHED.contains(&event)
}

/// The clients an event touched: its ids, or for a deal or task the client it
/// belongs to (a task through its deal when it names no client).
pub(super) fn touched_clients(
    conn: &mut DbConn,
    kind: Option<&str>,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    use crate::store::schema::{deals, tasks};
    match kind {
        Some("deal") => Ok(deals::table
            .filter(deals::id.eq_any(ids))
            .select(deals::client_id)
            .load::<String>(conn)?),
        Some("task") => {
            let rows: Vec<(Option<String>, Option<String>)> = tasks::table
                .filter(tasks::id.eq_any(ids))
                .select((tasks::client_id, tasks::deal_id))
                .load(conn)?;
            let mut out = Vec::new();
            for (client, deal) in rows {
                match (client, deal) {
                    (Some(c), _) => out.push(c),
                    (None, Some(d)) => out.extend(
                        deals::table
                            .filter(deals::id.eq(d))
                            .select(deals::client_id)
                            .load::<String>(conn)?,
                    ),
                    (None, None) => {}
                }
            }
            Ok(out)
        }
        _ => Ok(ids.to_vec()),
    }
}

/// The decoys among `ids`.
pub fn decoys_among(conn: &mut DbConn, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            decoys::table
                .filter(decoys::client_id.eq_any(chunk))
                .select(decoys::client_id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// Raises the decoy alert when `ids` hold a decoy; `seq` is the event that touched it.
pub(super) fn tripwire(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    who: &Who,
    action: &str,
    ids: &[String],
    seq: i64,
) -> Result<(), Fail> {
    let hit = decoys_among(conn, ids)?;
    if hit.is_empty() {
        return Ok(());
    }
    let alert = NewAlert {
        kind: "decoy.touched".into(),
        severity: Severity::High,
        audience: Audience::Owners,
        // Automatic intake acts for nobody in the user table.
        subject_user: (!["system", "console"].contains(&who.role.as_str())).then(|| who.id.clone()),
        summary: format!(
            "{} ({}) did {} on {} decoy client(s)",
            who.id,
            who.role,
            action,
            hit.len()
        ),
        detail: json!({ "action": action, "decoys": hit, "role": who.role, "ip": meta.ip }),
        evidence: vec![seq],
        dedupe_key: Some(format!("decoy:{}:{}:{}", who.id, action, hit.join(","))),
    };
    raise(conn, env, meta, &alert)
}

/// Raises an alert and records that it was raised.
pub(super) fn raise(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    alert: &NewAlert,
) -> Result<(), Fail> {
    if let Some(a) = alerts::raise(conn, env, alert)? {
        let ev = Event::new("alert.raise", Outcome::Ok)
            .on("alert", [a.id.clone()])
            .detail(json!({
                "kind": a.kind, "severity": alert.severity.as_str(),
                "subject_user": a.subject_user, "evidence": a.evidence,
            }));
        record_seq(conn, env, meta, &ev)?;
    }
    Ok(())
}

/// A watched write's event, recorded in its transaction, with the tripwire.
pub(super) fn record_watched(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    ev: &Event,
) -> Result<(), StoreError> {
    let mut run = || -> Result<(), Fail> {
        let seq = record_seq(conn, env, meta, ev)?;
        if watches(ev.action)
            && let Some(who) = &ev.who
        {
            let clients = touched_clients(conn, ev.object_kind, &ev.object_ids)?;
            tripwire(conn, env, meta, who, ev.action, &clients, seq)?;
        }
        Ok(())
    };
    run().map_err(fail_to_store)
}

/// A watched read that touched a decoy is recorded here, at once and with its
/// alert, instead of through the group-commit writer; `false` when no decoy
/// was touched (the caller records the event as usual).
pub(super) fn read_tripped(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    ev: &Event,
) -> Result<bool, StoreError> {
    if !watches(ev.action) {
        return Ok(false);
    }
    let clients = touched_clients(conn, ev.object_kind, &ev.object_ids)?;
    if decoys_among(conn, &clients)?.is_empty() {
        return Ok(false);
    }
    write_tx(conn, |c| record_watched(c, env, meta, ev))?;
    Ok(true)
}

fn fail_to_store(f: Fail) -> StoreError {
    match f {
        Fail::Audit(e) => e,
        Fail::Gate(GateError::Store(e)) | Fail::Gate(GateError::AuditUnavailable(e)) => e,
        Fail::Gate(other) => StoreError::Audit(other.to_string()),
    }
}

/// An export beyond the allowance is waiting: the owners hear of it at once.
pub(super) fn over_allowance(
    conn: &mut DbConn,
    env: &Env,
    actor: &Actor,
    export_id: &str,
    over: &[Over],
    seq: i64,
) -> Result<(), Fail> {
    let limits: Vec<&str> = over.iter().map(|o| o.limit).collect();
    let alert = NewAlert {
        kind: "export.over_allowance".into(),
        severity: Severity::Warning,
        audience: Audience::Owners,
        subject_user: Some(actor.user_id.clone()),
        summary: format!(
            "{} asked for an export beyond their allowance ({}); it waits for approval",
            actor.display_name,
            limits.join(", ")
        ),
        detail: json!({ "export": export_id, "over": over, "role": actor.role }),
        evidence: vec![seq],
        dedupe_key: Some(format!("export-over:{export_id}")),
    };
    raise(conn, env, &RequestMeta::default(), &alert)
}

/// A decoy as owners see it.
#[derive(Debug, Clone, Serialize)]
pub struct Decoy {
    pub client_id: String,
    pub name: String,
    pub owner_id: Option<String>,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub note: Option<String>,
}

/// `POST /api/v1/decoys`: a decoy client for `owner_id` (in their team's scope).
/// Without a name one is generated like an export seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDecoy {
    pub owner_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Gate {
    /// Which alerts this actor reads: owners the owners', admins the admins'.
    fn audience_of(actor: &Actor) -> Option<Audience> {
        match actor.role {
            Role::Owner => Some(Audience::Owners),
            Role::Admin => Some(Audience::Admins),
            _ => None,
        }
    }

    pub async fn list_alerts(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<Alert>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Alerts,
            Action::Read,
            "alert.list",
            "alert",
            vec![],
        )
        .await?;
        let audience = Self::audience_of(actor).ok_or(GateError::Forbidden)?;
        let list = self
            .store
            .run(move |conn| alerts::list(conn, audience, open_only, limit.clamp(1, 500)))
            .await?;
        let ev = Event::new("alert.list", Outcome::Ok)
            .by(who_of(actor))
            .on("alert", list.iter().map(|a| a.id.clone()))
            .detail(json!({ "open_only": open_only }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(list)
    }

    /// Acknowledges an alert with a comment; the acknowledgement is audited.
    pub async fn acknowledge_alert(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        comment: &str,
    ) -> Result<Alert, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Alerts,
            Action::Update,
            "alert.acknowledge",
            "alert",
            vec![id.into()],
        )
        .await?;
        if comment.trim().is_empty() {
            return Err(GateError::Invalid {
                field: "comment".into(),
                msg: crate::i18n::Msg::new("invalid-empty"),
            });
        }
        let comment = crate::crm::text::body("comment", comment, 1000)?;
        let audience = Self::audience_of(actor).ok_or(GateError::Forbidden)?;
        let (env, meta2, who, key, by) = (
            self.env.clone(),
            meta.clone(),
            who_of(actor),
            id.to_string(),
            actor.user_id.clone(),
        );
        let done = self
            .store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Option<Alert>, Fail> {
                    let Some(alert) = alerts::get(conn, &key)? else {
                        return Ok(None);
                    };
                    if alert.audience != audience {
                        return Ok(None);
                    }
                    if alert.acknowledged_at.is_some() {
                        return Err(Fail::Gate(GateError::Conflict(
                            "the alert is already acknowledged".into(),
                        )));
                    }
                    let Some(acked) = alerts::acknowledge(conn, &env, &key, &by, &comment)? else {
                        return Ok(None);
                    };
                    // The restrictions this alert's responses set end with it,
                    // and a detection rule re-arms from the count it reached.
                    let lifted = super::gate_detect::lift(conn, &key)?;
                    super::gate_detect::note_ack(conn, &acked)?;
                    let ev = Event::new("alert.acknowledge", Outcome::Ok)
                        .by(who)
                        .on("alert", [key.clone()])
                        .detail(
                            json!({ "kind": acked.kind, "comment": comment, "lifted": lifted }),
                        );
                    record_seq(conn, &env, &meta2, &ev)?;
                    Ok(Some(acked))
                })
                .map_err(GateError::from)
            })
            .await?;
        match done {
            Some(a) => Ok(a),
            None => Err(self
                .refused(
                    actor,
                    meta,
                    "alert.acknowledge",
                    "alert",
                    vec![id.into()],
                    json!({ "reason": "not found" }),
                    GateError::NotFound,
                )
                .await),
        }
    }

    /// Creates a decoy client in `owner_id`'s book (owners, audited as `decoy.create`).
    pub async fn create_decoy(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewDecoy,
    ) -> Result<Decoy, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Decoys,
            Action::Manage,
            "decoy.create",
            "client",
            vec![],
        )
        .await?;
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Create,
                "decoy.create",
                vec![],
            )
            .await?;
        let rules = self.guard.clone();
        let env = self.env.clone();
        let (name, phones, emails) = match &input.name {
            Some(n) => (n.clone(), input.phones.clone(), input.emails.clone()),
            None => {
                // A plausible person with the company's own contacts, like a seed.
                let s = seeds::generate(
                    &env,
                    &seeds::SeedConfig {
                        per_export: 1,
                        ..rules.seeds.clone()
                    },
                    &[],
                    |_, _| false,
                )
                .map_err(|e| GateError::Internal(e.to_string()))?;
                let s = s
                    .into_iter()
                    .next()
                    .ok_or_else(|| GateError::Internal("no decoy".into()))?;
                (
                    s.row.name,
                    s.phone.into_iter().collect(),
                    s.email.into_iter().collect(),
                )
            }
        };
        let by = actor.user_id.clone();
        let note = crate::crm::text::opt_body("note", input.note.as_deref(), 500)?;
        let new = NewClient {
            kind: Some(ClientKind::Person),
            name,
            company: input.company.clone(),
            status: input.status.clone(),
            phones: phones.into_iter().map(ContactInput::Plain).collect(),
            emails: emails.into_iter().map(ContactInput::Plain).collect(),
            owner_id: Some(input.owner_id.clone()),
            ..NewClient::default()
        };
        self.pass(
            scope,
            meta,
            super::Mode::Write,
            "decoy.create",
            None,
            move |conn, ctx, scope| {
                let created = clients::create(conn, ctx, scope, &new, None)?;
                let now = ctx.env.now();
                diesel::insert_into(decoys::table)
                    .values(DecoyRow {
                        client_id: created.client.id.clone(),
                        created_by: by.clone(),
                        created_at: now.naive_utc(),
                        note: note.clone(),
                    })
                    .execute(conn)?;
                let decoy = Decoy {
                    client_id: created.client.id.clone(),
                    name: created.client.name.clone(),
                    owner_id: created.client.owner.as_ref().map(|o| o.id.clone()),
                    created_by: by,
                    created_at: now,
                    note,
                };
                let ids = vec![decoy.client_id.clone()];
                Ok(touched(decoy, ids, json!({ "decoy": true })))
            },
        )
        .await
    }

    pub async fn list_decoys(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<Decoy>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Decoys,
            Action::Manage,
            "decoy.list",
            "client",
            vec![],
        )
        .await?;
        let list = self
            .store
            .run(move |conn| -> Result<Vec<Decoy>, StoreError> {
                use crate::store::schema::clients as c;
                let rows: Vec<DecoyRow> = decoys::table
                    .select(DecoyRow::as_select())
                    .order(decoys::created_at.desc())
                    .load(conn)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let (name, owner): (String, Option<String>) = c::table
                        .filter(c::id.eq(&r.client_id))
                        .select((c::name, c::owner_id))
                        .first(conn)?;
                    out.push(Decoy {
                        client_id: r.client_id,
                        name,
                        owner_id: owner,
                        created_by: r.created_by,
                        created_at: r.created_at.and_utc(),
                        note: r.note,
                    });
                }
                Ok(out)
            })
            .await?;
        let ev = Event::new("decoy.list", Outcome::Ok)
            .by(who_of(actor))
            .on("client", list.iter().map(|d| d.client_id.clone()));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(list)
    }
}

/// An audit event an alert cites, as the owner's page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceEvent {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub action: String,
    pub actor_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub object_ids: Vec<String>,
}

impl Gate {
    /// The audit events behind alerts (owners: reading them is reading the log).
    pub async fn alert_evidence(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        seqs: Vec<i64>,
    ) -> Result<Vec<EvidenceEvent>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Audit,
            Action::Read,
            "audit.read",
            "audit",
            vec![],
        )
        .await?;
        let wanted: Vec<i64> = seqs.into_iter().take(500).collect();
        let detail = json!({ "view": "alert evidence", "count": wanted.len() });
        let rows = self
            .store
            .run(move |conn| -> Result<Vec<EvidenceEvent>, StoreError> {
                use crate::store::models::audit_events::AuditRow;
                use crate::store::schema::audit_events as ae;
                let rows: Vec<AuditRow> = ae::table
                    .filter(ae::seq.eq_any(&wanted))
                    .select(AuditRow::as_select())
                    .order(ae::seq.desc())
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|r| EvidenceEvent {
                        seq: r.seq,
                        at: r.at.and_utc(),
                        action: r.action,
                        actor_id: r.actor_id,
                        outcome: r.outcome,
                        request_id: r.request_id,
                        object_ids: serde_json::from_str(&r.object_ids).unwrap_or_default(),
                    })
                    .collect())
            })
            .await?;
        let ev = Event::new("audit.read", Outcome::Ok)
            .by(who_of(actor))
            .detail(detail);
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(rows)
    }
}
