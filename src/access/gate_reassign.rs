//! Reassignments through the Gate: a reason always, the before/after owner of
//! every client in the audit log, rate limits per user and role
//! (`policies/limits.toml`), an alert when someone moves clients to themselves,
//! and bulk moves beyond the allowance waiting for an owner's fresh approval.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gate_alerts::{raise, tripwire};
use super::gate_exports::{Fail, lock_user, record_seq};
use super::{Gate, GateError, who_of};
use crate::access::policy::{Action, Object};
use crate::alerts::{Audience, NewAlert, Severity};
use crate::audit::{Event, Outcome, RequestMeta};
use crate::crm::reassign::{self, Move};
use crate::exports::limits::{self, Over};
use crate::exports::moves::{self, Request};
use crate::i18n::Msg;
use crate::identity::Actor;
use crate::store::models::exports::ReassignRequestRow;
use crate::store::write_tx;

/// Clients one request may name at most.
const MAX_CLIENTS: usize = 1000;

/// `POST /api/v1/clients/reassign`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    pub client_ids: Vec<String>,
    pub to_owner: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReassignOutcome {
    /// `done`, or `pending` (waiting for an owner; nothing moved yet).
    pub state: &'static str,
    pub request: Option<String>,
    pub moved: Vec<Move>,
    pub over_allowance: Vec<Over>,
}

impl Gate {
    /// reassign, then detection looks at the actor's day.
    pub async fn reassign(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        req: ReassignRequest,
    ) -> Result<ReassignOutcome, GateError> {
        let out = self.reassign_unwatched(actor, meta, req).await;
        self.watch(actor, meta).await;
        out
    }

    async fn reassign_unwatched(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        req: ReassignRequest,
    ) -> Result<ReassignOutcome, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Reassign,
                "client.reassign",
                req.client_ids.clone(),
            )
            .await?;
        let checked = (|| {
            let reason = crate::crm::text::line("reason", &req.reason, 500)?;
            if req.client_ids.is_empty() || req.client_ids.len() > MAX_CLIENTS {
                return Err(GateError::Invalid {
                    field: "client_ids".into(),
                    msg: Msg::new("invalid-reassign-count").arg("max", MAX_CLIENTS),
                });
            }
            Ok(reason)
        })();
        let reason = match checked {
            Ok(r) => r,
            Err(e) => {
                let ev = Event::new("client.reassign", Outcome::Failed)
                    .by(who_of(actor))
                    .on("client", req.client_ids.clone())
                    .detail(json!({ "reason": "invalid input: a reason and 1 to 1000 clients" }));
                self.audit
                    .record(meta, &ev)
                    .await
                    .map_err(GateError::AuditUnavailable)?;
                return Err(e);
            }
        };
        let allowance = self
            .guard
            .limits
            .for_user(actor.role.as_str(), &actor.username);
        let (env, meta2, actor2) = (self.env.clone(), meta.clone(), actor.clone());
        let mut ids = req.client_ids.clone();
        ids.dedup();
        let outcome = self
            .store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<ReassignOutcome, Fail> {
                    lock_user(conn, &actor2.user_id)?;
                    let now = env.now();
                    let plan = reassign::plan(conn, &scope, &ids, &req.to_owner)?;
                    let usage = moves::usage(conn, &actor2.user_id, now)?;
                    let over = limits::reassign_over(&allowance, plan.len() as i64, usage);
                    if !over.is_empty() {
                        let id = env.new_id()?.to_string();
                        moves::insert_request(
                            conn,
                            &ReassignRequestRow {
                                id: id.clone(),
                                requested_by: actor2.user_id.clone(),
                                requested_at: now.naive_utc(),
                                client_ids: serde_json::to_string(&ids).unwrap_or_default(),
                                to_owner: req.to_owner.clone(),
                                reason: reason.clone(),
                                state: "pending".into(),
                                decided_by: None,
                                decided_at: None,
                                decision_comment: None,
                            },
                        )?;
                        let ev = Event::new("reassign.request", Outcome::Ok)
                            .by(who_of(&actor2))
                            .on("client", plan.iter().map(|m| m.client_id.clone()))
                            .detail(json!({
                                "request": id, "to_owner": req.to_owner, "reason": reason,
                                "moves": plan, "over_allowance": over,
                            }));
                        let seq = record_seq(conn, &env, &meta2, &ev)?;
                        raise(
                            conn,
                            &env,
                            &meta2,
                            &NewAlert {
                                kind: "reassign.over_allowance".into(),
                                severity: Severity::Warning,
                                audience: Audience::Owners,
                                subject_user: Some(actor2.user_id.clone()),
                                summary: format!(
                                    "{} asked to move {} clients beyond their allowance; it waits for approval",
                                    actor2.display_name,
                                    plan.len()
                                ),
                                detail: json!({ "request": id, "over": over, "to_owner": req.to_owner }),
                                evidence: vec![seq],
                                dedupe_key: Some(format!("reassign-over:{id}")),
                            },
                        )?;
                        return Ok(ReassignOutcome {
                            state: "pending",
                            request: Some(id),
                            moved: Vec::new(),
                            over_allowance: over,
                        });
                    }
                    carry_out(conn, &env, &meta2, &scope, &plan, &reason, None, &actor2.user_id)?;
                    Ok(ReassignOutcome {
                        state: "done",
                        request: None,
                        moved: plan,
                        over_allowance: Vec::new(),
                    })
                })
                .map_err(GateError::from)
            })
            .await;
        match outcome {
            // A client outside the scope: audited as a denial, answered as not found.
            Err(GateError::NotFound) => Err(self
                .refused(
                    actor,
                    meta,
                    "client.reassign",
                    "client",
                    req.client_ids,
                    json!({ "reason": "outside scope or not found" }),
                    GateError::NotFound,
                )
                .await),
            Err(GateError::NotAllowed(m)) => Err(self
                .refused(
                    actor,
                    meta,
                    "client.reassign",
                    "client",
                    req.client_ids,
                    json!({ "reason": m.key }),
                    GateError::NotAllowed(m),
                )
                .await),
            other => other,
        }
    }

    pub async fn decide_reassign(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        comment: Option<String>,
        approve: bool,
    ) -> Result<Request, GateError> {
        let event = if approve {
            "reassign.approve"
        } else {
            "reassign.reject"
        };
        self.fresh_approver(actor, meta, event, "reassign", id)
            .await?;
        let comment = crate::crm::text::opt_body("comment", comment.as_deref(), 500)?;
        let key = id.to_string();
        let found = self
            .store
            .run(move |conn| moves::get_request(conn, &key))
            .await?;
        let Some(request) = found else {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "reassign",
                    vec![id.into()],
                    json!({ "reason": "not found" }),
                    GateError::NotFound,
                )
                .await);
        };
        if request.requested_by == actor.user_id {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "reassign",
                    vec![id.into()],
                    json!({ "reason": "own request" }),
                    GateError::NotAllowed(Msg::new("not-allowed-approve-own")),
                )
                .await);
        }
        if request.state != "pending" {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "reassign",
                    vec![id.into()],
                    json!({ "reason": "not pending", "state": request.state }),
                    GateError::Conflict("the request is not waiting for a decision".into()),
                )
                .await);
        }
        let scope = if approve {
            Some(
                self.requester_scope(&request.requested_by, Action::Reassign)
                    .await?,
            )
        } else {
            None
        };
        let (env, meta2, who, key, approver) = (
            self.env.clone(),
            meta.clone(),
            who_of(actor),
            id.to_string(),
            actor.user_id.clone(),
        );
        self.store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Request, Fail> {
                    let now = env.now();
                    let state = if approve { "done" } else { "rejected" };
                    if !moves::decide_request(
                        conn,
                        &key,
                        state,
                        &approver,
                        comment.as_deref(),
                        now,
                    )? {
                        return Err(Fail::Gate(GateError::Conflict(
                            "the request is not waiting for a decision".into(),
                        )));
                    }
                    let ev = Event::new(event, Outcome::Ok)
                        .by(who)
                        .on("reassign", [key.clone()])
                        .detail(
                            json!({ "requested_by": request.requested_by, "comment": comment }),
                        );
                    record_seq(conn, &env, &meta2, &ev)?;
                    if let Some(scope) = scope {
                        let plan =
                            reassign::plan(conn, &scope, &request.client_ids, &request.to_owner)?;
                        carry_out(
                            conn,
                            &env,
                            &meta2,
                            &scope,
                            &plan,
                            &request.reason,
                            Some(&key),
                            &request.requested_by,
                        )?;
                    }
                    moves::get_request(conn, &key)?
                        .ok_or_else(|| Fail::Gate(GateError::Internal("request vanished".into())))
                })
                .map_err(GateError::from)
            })
            .await
    }

    pub async fn pending_reassignments(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<Request>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Approvals,
            Action::Approve,
            "reassign.list",
            "reassign",
            vec![],
        )
        .await?;
        let list = self
            .store
            .run(move |conn| moves::pending(conn, 100))
            .await?;
        let ev = Event::new("reassign.list", Outcome::Ok)
            .by(who_of(actor))
            .on("reassign", list.iter().map(|r| r.id.clone()));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(list)
    }
}

/// Moves the clients, logs each move with its reason, records `client.reassign`
/// (before and after owner of each), and raises the alerts: decoys, and moves to
/// the mover's own book.
#[allow(clippy::too_many_arguments)]
fn carry_out(
    conn: &mut crate::store::DbConn,
    env: &crate::clock::Env,
    meta: &RequestMeta,
    scope: &crate::access::Scope,
    plan: &[Move],
    reason: &str,
    request: Option<&str>,
    mover: &str,
) -> Result<(), Fail> {
    reassign::apply(conn, env, scope, plan)?;
    moves::log(conn, env, mover, reason, request, plan)?;
    let to_self: Vec<&Move> = plan
        .iter()
        .filter(|m| m.to == mover && m.from.as_deref() != Some(mover))
        .collect();
    let ids: Vec<String> = plan.iter().map(|m| m.client_id.clone()).collect();
    let ev = Event::new("client.reassign", Outcome::Ok)
        .by(scope.who())
        .on("client", ids.clone())
        .detail(json!({
            "reason": reason, "moves": plan, "request": request,
            "to_self": !to_self.is_empty(),
        }));
    let seq = record_seq(conn, env, meta, &ev)?;
    tripwire(conn, env, meta, &scope.who(), "client.reassign", &ids, seq)?;
    if !to_self.is_empty() {
        raise(
            conn,
            env,
            meta,
            &NewAlert {
                kind: "reassign.to_self".into(),
                severity: Severity::High,
                audience: Audience::Owners,
                subject_user: Some(mover.to_string()),
                summary: format!(
                    "{} moved {} client(s) from colleagues to themselves",
                    scope.who().id,
                    to_self.len()
                ),
                detail: json!({ "moves": to_self, "reason": reason }),
                evidence: vec![seq],
                dedupe_key: None,
            },
        )?;
    }
    Ok(())
}
