//! The door: role check (casbin) → scope → domain call → audit event, in one
//! pipeline. Reads are returned only after their audit event is stored; writes
//! commit together with theirs.

use std::sync::Arc;

use serde_json::json;

use super::clearance::{Cleared, KeyRules, Refusal};
use super::policy::{Action, Object, Policy};
use super::scope::Scope;
use crate::audit::{self, AuditLog, Event, Outcome, RequestMeta};
use crate::clock::Env;
use crate::crm::clients::{self, Ctx};
use crate::crm::intake::{self, CallEvent, FormSubmission, IntakeResult};
use crate::crm::types::*;
use crate::crm::{CrmError, statuses, timeline};
use crate::i18n::Msg;
use crate::identity::Actor;
use crate::store::{DbConn, Store, StoreError, write_tx};

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("your role does not allow this")]
    Forbidden,
    /// A privileged session without a hardware-key proof, or a step-up action
    /// without a recent one.
    #[error("{}", .0.reason())]
    KeyProof(Refusal),
    #[error("not found")]
    NotFound,
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: Msg },
    #[error("not allowed: {0}")]
    NotAllowed(Msg),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The audit event could not be stored, so nothing is returned.
    #[error("the audit log is unavailable")]
    AuditUnavailable(#[source] StoreError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

enum Failure {
    Crm(CrmError),
    Audit(StoreError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Crm(CrmError::from(e))
    }
}

impl From<CrmError> for Failure {
    fn from(e: CrmError) -> Self {
        Failure::Crm(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Crm(CrmError::Store(e))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

/// What a domain call reports for the audit event.
struct Touched<T> {
    value: T,
    ids: Vec<String>,
    detail: serde_json::Value,
    span: audit::Span,
}

fn touched<T>(value: T, ids: Vec<String>, detail: serde_json::Value) -> Touched<T> {
    Touched {
        value,
        ids,
        detail,
        span: audit::Span::Collection,
    }
}

impl<T> Touched<T> {
    /// The list was of one record's parts (a client's deals or tasks): stated
    /// on the audit event, so detection does not count it as paging the base.
    fn within_one_record(mut self, yes: bool) -> Touched<T> {
        if yes {
            self.span = audit::Span::OneRecord;
        }
        self
    }
}

/// How the audit log names a user.
pub fn who_of(actor: &Actor) -> audit::Who {
    audit::Who {
        id: actor.user_id.clone(),
        role: actor.role.as_str().to_string(),
        session_ref: Some(actor.session_ref.clone()),
    }
}

/// The one admission rule every door uses: the role may do `act` on `obj` at all,
/// and a privileged role holds the hardware-key proof `event` needs. A refusal
/// comes with what its audit event should say.
pub(super) fn admit(
    policy: &Policy,
    keys: &KeyRules,
    actor: &Actor,
    obj: Object,
    act: Action,
    event: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(super::Reach, Cleared), (GateError, serde_json::Value)> {
    let role = actor.role.as_str();
    match policy.reach(actor.role, obj, act) {
        Some(reach) => match keys.check(actor, event, now) {
            Ok(cleared) => Ok((reach, cleared)),
            Err(r) => Err((
                GateError::KeyProof(r),
                json!({ "reason": r.reason(), "role": role }),
            )),
        },
        None => Err((
            GateError::Forbidden,
            json!({ "reason": "role", "role": role }),
        )),
    }
}

#[derive(Clone)]
pub struct Gate {
    store: Store,
    policy: Arc<Policy>,
    env: Env,
    phone_region: Option<String>,
    intake_owner: Option<String>,
    audit: AuditLog,
    keys: Arc<KeyRules>,
    /// Data-loss rules: allowances, fingerprint seeds (`gate_exports`).
    guard: Arc<crate::exports::GuardRules>,
    /// Theft detection (`gate_detect`).
    detect: Arc<gate_detect::DetectRules>,
}

impl Gate {
    pub fn new(
        store: Store,
        policy: Arc<Policy>,
        env: Env,
        phone_region: Option<String>,
        intake_owner: Option<String>,
        audit: AuditLog,
    ) -> Gate {
        Gate {
            store,
            policy,
            env,
            phone_region,
            intake_owner,
            audit,
            keys: Arc::new(KeyRules::default()),
            guard: Arc::new(crate::exports::GuardRules::default()),
            detect: Arc::new(gate_detect::DetectRules::default()),
        }
    }

    /// The hardware-key rule (privileged roles, step-up actions) from configuration;
    /// without it the strict defaults apply.
    pub fn with_key_rules(mut self, rules: KeyRules) -> Gate {
        self.keys = Arc::new(rules);
        self
    }

    pub fn key_rules(&self) -> &Arc<KeyRules> {
        &self.keys
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// May this actor's role do `act` on `obj` at all? (For showing buttons.)
    pub fn can(&self, actor: &Actor, obj: Object, act: Action) -> bool {
        self.policy.reach(actor.role, obj, act).is_some()
    }

    /// The role check, then the hardware-key rule. A refusal is audited here,
    /// where it is decided.
    async fn scope(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        obj: Object,
        act: Action,
        event: &'static str,
        ids: Vec<String>,
    ) -> Result<Scope, GateError> {
        self.scope_as(actor, meta, (obj, act), event, "client", ids)
            .await
    }

    /// `scope` for records of `kind` (deals, tasks): the role check, then the
    /// hardware-key rule; a refusal is audited here.
    async fn scope_as(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        (obj, act): (Object, Action),
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
    ) -> Result<Scope, GateError> {
        let leaving = match self.restrictions(actor, meta, event, kind, &ids).await {
            Ok(leaving) => leaving,
            Err(e) => {
                self.watch(actor, meta).await;
                return Err(e);
            }
        };
        let (refusal, detail) = match admit(
            &self.policy,
            &self.keys,
            actor,
            obj,
            act,
            event,
            self.env.now(),
        ) {
            Ok((reach, cleared)) => {
                let scope = Scope::for_user(cleared, obj, act, reach, self.policy.clone());
                // Departure mode: read-only on their own clients.
                return Ok(if leaving {
                    scope.frozen_to_own()
                } else {
                    scope
                });
            }
            Err(refused) => refused,
        };
        let ev = Event::new(event, Outcome::Denied)
            .by(who_of(actor))
            .on(kind, ids)
            .detail(detail);
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        self.watch(actor, meta).await;
        Err(refusal)
    }

    /// Runs `f` with the scope and records its event; failures are recorded too.
    /// A write commits together with its event; a read's event goes through the
    /// group-commit writer after the read, and the data is returned only once that
    /// event is committed.
    async fn pass<T, F>(
        &self,
        scope: Scope,
        meta: &RequestMeta,
        mode: Mode,
        event: &'static str,
        target: Option<String>,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, Ctx<'_>, &Scope) -> Result<Touched<T>, CrmError> + Send + 'static,
    {
        self.pass_as(scope, meta, mode, event, "client", target, f)
            .await
    }

    /// Role check and scope for `(obj, act)`, then the domain call with its
    /// audit event: the whole door in one call for any record kind.
    #[allow(clippy::too_many_arguments)]
    async fn through<T, F>(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        rule: (Object, Action),
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
        mode: Mode,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, Ctx<'_>, &Scope) -> Result<Touched<T>, CrmError> + Send + 'static,
    {
        let target = ids.first().cloned();
        let scope = self.scope_as(actor, meta, rule, event, kind, ids).await?;
        self.pass_as(scope, meta, mode, event, kind, target, f)
            .await
    }

    /// `through` for one record named by `id` (its first audited id).
    #[allow(clippy::too_many_arguments)]
    async fn on_record<T, F>(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        rule: (Object, Action),
        event: &'static str,
        kind: &'static str,
        id: &str,
        mode: Mode,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, Ctx<'_>, &Scope, &str) -> Result<Touched<T>, CrmError>
            + Send
            + 'static,
    {
        let id = id.to_string();
        let ids = vec![id.clone()];
        self.through(
            actor,
            meta,
            rule,
            event,
            kind,
            ids,
            mode,
            move |conn, ctx, scope| f(conn, ctx, scope, &id),
        )
        .await
    }

    /// `pass` for records of `kind` (deals, tasks).
    #[allow(clippy::too_many_arguments)]
    async fn pass_as<T, F>(
        &self,
        scope: Scope,
        meta: &RequestMeta,
        mode: Mode,
        event: &'static str,
        kind: &'static str,
        target: Option<String>,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, Ctx<'_>, &Scope) -> Result<Touched<T>, CrmError> + Send + 'static,
    {
        let env = self.env.clone();
        let tx_meta = meta.clone();
        let audit_meta = meta.clone();
        let audit = self.audit.clone();
        let region = self.phone_region.clone();
        let watched_actor = scope.actor().cloned();
        let result = self
            .store
            .run_then(
                move |conn| {
                    let ctx = Ctx {
                        env: &env,
                        phone_region: region.as_deref(),
                    };
                    let outcome = match mode {
                        Mode::Read => f(conn, ctx, &scope).map_err(Failure::Crm),
                        Mode::Write => write_tx(conn, |conn| -> Result<Touched<T>, Failure> {
                            let t = f(conn, ctx, &scope)?;
                            let ev = success_event(event, kind, &scope, &t);
                            // Recorded with the decoy tripwire (gate_alerts).
                            gate_alerts::record_watched(conn, &env, &tx_meta, &ev)
                                .map_err(Failure::Audit)?;
                            Ok(t)
                        }),
                    };
                    Ok::<_, GateError>(match outcome {
                        Ok(t) => {
                            let mut pending = (mode == Mode::Read)
                                .then(|| success_event(event, kind, &scope, &t));
                            // A read that touched a decoy is recorded at once, with its alert.
                            if let Some(ev) = &pending {
                                match gate_alerts::read_tripped(conn, &env, &tx_meta, ev) {
                                    Ok(true) => pending = None,
                                    Ok(false) => {}
                                    Err(e) => {
                                        return Ok((Err(GateError::AuditUnavailable(e)), None));
                                    }
                                }
                            }
                            (Ok(t.value), pending)
                        }
                        Err(Failure::Audit(e)) => (Err(GateError::AuditUnavailable(e)), None),
                        Err(Failure::Crm(e)) => {
                            let ev = failure_event(event, kind, &scope, target, &e);
                            (Err(GateError::from(e)), Some(ev))
                        }
                    })
                },
                // The read's connection is back in the pool. Its event is appended
                // from this same thread, and the data leaves only once it is
                // committed.
                move |(result, pending)| {
                    if let Some(ev) = pending {
                        audit
                            .record_blocking(&audit_meta, &ev)
                            .map_err(GateError::AuditUnavailable)?;
                    }
                    Ok(result)
                },
            )
            .await?;
        if let Some(actor) = &watched_actor {
            self.watch(actor, meta).await;
        }
        result
    }

    pub async fn list_clients(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: ListQuery,
    ) -> Result<Page<ClientSummary>, GateError> {
        let act = if query.deleted.unwrap_or(false) {
            Action::Restore
        } else {
            Action::List
        };
        let scope = self
            .scope(actor, meta, Object::Client, act, "client.list", vec![])
            .await?;
        self.pass(
            scope,
            meta,
            Mode::Read,
            "client.list",
            None,
            move |conn, _ctx, scope| {
                let mut page = clients::list(conn, scope, &query)?;
                let ids: Vec<String> = page.items.iter().map(|c| c.id.clone()).collect();
                gate_mask::fill_masked(conn, &mut page.items, &ids)?;
                let detail = json!({
                    "q": query.q, "status": query.status, "tag": query.tag,
                    "deleted": query.deleted, "count": page.items.len(),
                });
                Ok(touched(page, ids, detail))
            },
        )
        .await
    }

    pub async fn client_card(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<ClientCard, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Read,
                "client.read",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Read,
            "client.read",
            Some(id.clone()),
            move |conn, _ctx, scope| {
                let card = clients::card(conn, scope, &id)?;
                Ok(touched(card, vec![id], json!({})))
            },
        )
        .await
    }

    pub async fn create_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewClient,
    ) -> Result<Created, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Create,
                "client.create",
                vec![],
            )
            .await?;
        self.pass(
            scope,
            meta,
            Mode::Write,
            "client.create",
            None,
            move |conn, ctx, scope| {
                let created = clients::create(conn, ctx, scope, &input, None)?;
                let detail = json!({ "duplicate_of": created.matched });
                let ids = vec![created.client.id.clone()];
                Ok(touched(created, ids, detail))
            },
        )
        .await
    }

    pub async fn update_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Client, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Update,
                "client.update",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        let values = self.audit.values().clone();
        self.pass(
            scope,
            meta,
            Mode::Write,
            "client.update",
            Some(id.clone()),
            move |conn, ctx, scope| {
                // Owners change only through reassignments (a reason, limits,
                // approval and alerts: gate_reassign), never as a field edit.
                if patch.owner_id.is_some() {
                    return Err(CrmError::invalid(
                        "owner_id",
                        Msg::new("invalid-owner-use-reassign"),
                    ));
                }
                let (client, changes) = clients::update(conn, ctx, scope, &id, &patch)?;
                let mut detail = serde_json::to_value(&changes).unwrap_or_default();
                detail["values"] = values.changes(&changes.personal);
                Ok(touched(client, vec![id], detail))
            },
        )
        .await
    }

    pub async fn delete_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(), GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Delete,
                "client.delete",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Write,
            "client.delete",
            Some(id.clone()),
            move |conn, ctx, scope| {
                clients::delete(conn, ctx, scope, &id)?;
                Ok(touched((), vec![id], json!({})))
            },
        )
        .await
    }

    pub async fn restore_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Client, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Restore,
                "client.restore",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Write,
            "client.restore",
            Some(id.clone()),
            move |conn, ctx, scope| {
                let client = clients::restore(conn, ctx, scope, &id)?;
                Ok(touched(client, vec![id], json!({})))
            },
        )
        .await
    }

    pub async fn timeline(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Timeline,
                Action::Read,
                "timeline.read",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Read,
            "timeline.read",
            Some(id.clone()),
            move |conn, _ctx, scope| {
                let page = timeline::page(conn, scope, &id, cursor.as_deref(), limit)?;
                let detail = json!({ "entries": page.items.len() });
                Ok(touched(page, vec![id], detail))
            },
        )
        .await
    }

    pub async fn add_timeline(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        input: TimelineInput,
    ) -> Result<TimelineEntry, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Timeline,
                Action::Write,
                "timeline.add",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Write,
            "timeline.add",
            Some(id.clone()),
            move |conn, ctx, scope| {
                let entry = timeline::add(conn, ctx, scope, &id, &input)?;
                let detail = json!({ "entry": entry.id, "kind": entry.kind });
                Ok(touched(entry, vec![id], detail))
            },
        )
        .await
    }

    pub async fn upsert_status(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        status: Status,
    ) -> Result<Vec<Status>, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Statuses,
                Action::Update,
                "statuses.update",
                vec![],
            )
            .await?;
        self.pass(
            scope,
            meta,
            Mode::Write,
            "statuses.update",
            None,
            move |conn, _ctx, scope| {
                statuses::upsert(
                    conn,
                    scope,
                    &status.code,
                    &status.label,
                    status.position,
                    status.active,
                )?;
                let detail =
                    json!({ "code": status.code, "label": status.label, "active": status.active });
                Ok(touched(statuses::list(conn)?, vec![], detail))
            },
        )
        .await
    }

    async fn intake_owner(&self) -> Result<Option<String>, GateError> {
        let configured = self.intake_owner.clone();
        self.store
            .run(move |conn| {
                use crate::store::schema::users;
                use diesel::prelude::*;
                let q = users::table
                    .filter(users::disabled.eq(false))
                    .select(users::id)
                    .into_boxed();
                let q = match &configured {
                    Some(name) => q.filter(users::username.eq(name.to_lowercase())),
                    None => q
                        .filter(users::role.eq("owner"))
                        .order(users::created_at.asc()),
                };
                q.first::<String>(conn).optional().map_err(StoreError::from)
            })
            .await
            .map_err(GateError::Store)
    }

    pub async fn intake_call(
        &self,
        meta: &RequestMeta,
        call: CallEvent,
    ) -> Result<IntakeResult, GateError> {
        let owner = self.intake_owner().await?;
        let scope = Scope::for_system(
            "intake-call",
            Object::Client,
            Action::Create,
            self.policy.clone(),
        );
        self.pass(
            scope,
            meta,
            Mode::Write,
            "intake.call",
            None,
            move |conn, ctx, scope| {
                let r = intake::record_call(conn, ctx, scope, &call, owner.as_deref())?;
                let detail = json!({ "created": r.created, "direction": call.direction });
                Ok(touched(r.clone(), vec![r.client_id], detail))
            },
        )
        .await
    }

    pub async fn intake_form(
        &self,
        meta: &RequestMeta,
        form: FormSubmission,
    ) -> Result<IntakeResult, GateError> {
        let owner = self.intake_owner().await?;
        let scope = Scope::for_system(
            "intake-form",
            Object::Client,
            Action::Create,
            self.policy.clone(),
        );
        self.pass(
            scope,
            meta,
            Mode::Write,
            "intake.form",
            None,
            move |conn, ctx, scope| {
                let r = intake::record_form(conn, ctx, scope, &form, owner.as_deref())?;
                let detail = json!({ "created": r.created });
                Ok(touched(r.clone(), vec![r.client_id], detail))
            },
        )
        .await
    }

    // The owner's audit views. Reading the log is a power of its own (`audit`
    // `read`/`export` in the policy), checked once per request; every read of the
    // log is an event in it, recorded before the answer leaves, and a refusal is
    // recorded where it is decided.

    /// The role and key check for the audit log. A refusal is recorded as `event`, denied.
    async fn audit_allowed(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        act: Action,
        event: &'static str,
        detail: &serde_json::Value,
    ) -> Result<(), GateError> {
        // The log is privileged reading: the role, and for privileged roles a
        // current hardware-key proof, exactly as for client data.
        let (refusal, why) = match admit(
            &self.policy,
            &self.keys,
            actor,
            Object::Audit,
            act,
            event,
            self.env.now(),
        ) {
            Ok(_) => return Ok(()),
            Err(refused) => refused,
        };
        let mut d = detail.clone();
        if let (Some(d), Some(why)) = (d.as_object_mut(), why.as_object()) {
            d.extend(why.clone());
        }
        let ev = Event::new(event, Outcome::Denied)
            .by(who_of(actor))
            .detail(d);
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Err(refusal)
    }

    /// Runs an audit query, then records that it was read; the result is returned
    /// only once that event is committed.
    async fn audit_pass<T, F>(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        detail: serde_json::Value,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<(T, serde_json::Value), StoreError> + Send + 'static,
    {
        let ran = self.store.run(f).await;
        let (outcome, extra) = match &ran {
            Ok((_, extra)) => (Outcome::Ok, extra.clone()),
            Err(_) => (Outcome::Failed, json!({ "reason": "server error" })),
        };
        let mut d = detail;
        if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
            d.extend(extra.clone());
        }
        let ev = Event::new(event, outcome).by(who_of(actor)).detail(d);
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(ran?.0)
    }

    /// Search and filter across all events (newest first), with the last
    /// verification of the chain.
    pub async fn audit_search(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        filter: views::Filter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(views::EventPage, Option<views::Verification>), GateError> {
        let detail = json!({ "view": "events", "filter": filter.summary() });
        self.audit_allowed(actor, meta, Action::Read, "audit.read", &detail)
            .await?;
        filter.check().map_err(bad_input)?;
        let before = views::parse_cursor(cursor.as_deref()).map_err(bad_input)?;
        self.audit_pass(actor, meta, "audit.read", detail, move |conn| {
            let page = views::search(conn, &filter, before, i64::from(limit))?;
            let last = views::last_verification(conn)?;
            let extra = json!({ "count": page.items.len(), "cursor": before });
            Ok(((page, last), extra))
        })
        .await
    }

    /// Who viewed, changed, exported or reassigned one client, newest first.
    pub async fn audit_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        client_id: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<views::EventPage, GateError> {
        let detail = json!({ "view": "client", "client_id": client_id });
        self.audit_allowed(actor, meta, Action::Read, "audit.read", &detail)
            .await?;
        if client_id.chars().count() > views::MAX_FILTER_LEN {
            return Err(GateError::NotFound);
        }
        let before = views::parse_cursor(cursor.as_deref()).map_err(bad_input)?;
        let id = client_id.to_string();
        self.audit_pass(actor, meta, "audit.read", detail, move |conn| {
            let page = views::client_history(conn, &id, before, i64::from(limit))?;
            let extra = json!({ "count": page.items.len(), "cursor": before });
            Ok((page, extra))
        })
        .await
    }

    /// What one user touched in a period (UTC days, `to` inclusive; by default
    /// the 30 days up to today).
    pub async fn audit_user(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> Result<views::UserActivity, GateError> {
        let today = self.env.now().date_naive();
        let to = to.unwrap_or_else(|| {
            from.map_or(today, |f| {
                (f + chrono::Duration::days(29)).min(today).max(f)
            })
        });
        let from = from.unwrap_or(to - chrono::Duration::days(29));
        let detail = json!({
            "view": "user", "user_id": user_id,
            "from": from.to_string(), "to": to.to_string(),
        });
        self.audit_allowed(actor, meta, Action::Read, "audit.read", &detail)
            .await?;
        if user_id.chars().count() > views::MAX_FILTER_LEN {
            return Err(GateError::NotFound);
        }
        views::check_period(from, to).map_err(bad_input)?;
        let id = user_id.to_string();
        self.audit_pass(actor, meta, "audit.read", detail, move |conn| {
            let activity = views::user_activity(conn, &id, from, to)?;
            let extra = json!({
                "distinct_clients": activity.distinct_clients,
                "truncated": activity.truncated,
            });
            Ok((activity, extra))
        })
        .await
    }

    /// Every event matching `filter` (up to `views::MAX_EXPORT`, newest first)
    /// for a download; the export is recorded with its filter and row count
    /// before any row leaves. The flag says whether more events matched.
    pub async fn audit_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        filter: views::Filter,
    ) -> Result<(Vec<views::EventView>, bool), GateError> {
        let detail = json!({ "view": "export", "filter": filter.summary(), "format": "csv" });
        self.audit_allowed(actor, meta, Action::Export, "audit.export", &detail)
            .await?;
        filter.check().map_err(bad_input)?;
        self.audit_pass(actor, meta, "audit.export", detail, move |conn| {
            let (rows, truncated) = views::export(conn, &filter)?;
            let extra = json!({ "rows": rows.len(), "truncated": truncated });
            Ok(((rows, truncated), extra))
        })
        .await
    }
}

/// The baseline for the benchmark: the same domain calls with neither the policy
/// check nor the audit write. Compiled only with the `bench` feature, never into
/// a release build.
#[cfg(feature = "bench")]
impl Gate {
    /// The guarded card read (policy check and scope) without its audit event:
    /// the baseline that shows what the audit write alone costs.
    pub async fn unaudited_card(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<ClientCard, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Read,
                "client.read",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.store
            .run(move |conn| clients::card(conn, &scope, &id).map_err(GateError::from))
            .await
    }

    pub async fn unguarded_card(&self, id: &str) -> Result<ClientCard, GateError> {
        let scope = Scope::for_system("bench", Object::Client, Action::Read, self.policy.clone());
        let id = id.to_string();
        self.store
            .run(move |conn| {
                clients::card(conn, &scope, &id).map_err(|e| match e {
                    CrmError::NotFound | CrmError::OutOfScope => GateError::NotFound,
                    other => GateError::Internal(other.to_string()),
                })
            })
            .await
    }

    pub async fn unguarded_list(
        &self,
        actor: &Actor,
        query: ListQuery,
    ) -> Result<Page<ClientSummary>, GateError> {
        // The same SQL scope as the guarded list (so the same rows), without casbin or audit.
        let scope = Scope::for_user(
            super::clearance::Cleared::unchecked(actor.clone()),
            Object::Client,
            Action::List,
            super::Reach::Own,
            self.policy.clone(),
        );
        self.store
            .run(move |conn| {
                clients::list(conn, &scope, &query).map_err(|e| GateError::Internal(e.to_string()))
            })
            .await
    }
}

fn success_event<T>(
    event: &'static str,
    kind: &'static str,
    scope: &Scope,
    t: &Touched<T>,
) -> Event {
    Event::new(event, Outcome::Ok)
        .by(scope.who())
        .on(kind, t.ids.clone())
        .detail(t.detail.clone())
        .span(t.span)
}

fn failure_event(
    event: &'static str,
    kind: &'static str,
    scope: &Scope,
    target: Option<String>,
    e: &CrmError,
) -> Event {
    let (outcome, reason) = match e {
        CrmError::OutOfScope => (Outcome::Denied, "outside scope".to_string()),
        CrmError::Forbidden(m) => (Outcome::Denied, m.key.to_string()),
        CrmError::NotFound => (Outcome::Failed, "not found".into()),
        CrmError::Invalid { field, .. } => (Outcome::Failed, format!("invalid {field}")),
        CrmError::Conflict(m) => (Outcome::Failed, m.clone()),
        CrmError::Store(_) | CrmError::Internal(_) => (Outcome::Failed, "server error".into()),
    };
    Event::new(event, outcome)
        .by(scope.who())
        .on(kind, target)
        .detail(json!({ "reason": reason }))
}

impl From<CrmError> for GateError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::OutOfScope | CrmError::NotFound => GateError::NotFound,
            CrmError::Forbidden(m) => GateError::NotAllowed(m),
            CrmError::Invalid { field, msg } => GateError::Invalid { field, msg },
            CrmError::Conflict(m) => GateError::Conflict(m),
            CrmError::Store(s) => GateError::Store(s),
            CrmError::Internal(m) => GateError::Internal(m),
        }
    }
}

// The owner's audit views (below the rest so that this file's other parts merge
// cleanly).
use crate::audit::views;

/// The audit log's record of a signed-in user.
fn bad_input(e: views::BadInput) -> GateError {
    let mut msg = Msg::new(e.key);
    if let Some(max) = e.max {
        msg = msg.arg("max", max);
    }
    GateError::Invalid {
        field: e.field.to_string(),
        msg,
    }
}

// Data-loss controls: exports, alerts and decoys, reassignments.
#[path = "gate_alerts.rs"]
mod gate_alerts;
#[path = "gate_exports.rs"]
mod gate_exports;
#[path = "gate_reassign.rs"]
mod gate_reassign;
pub use gate_alerts::{Decoy, EvidenceEvent, NewDecoy};
pub use gate_exports::console_trace;
pub use gate_reassign::{ReassignOutcome, ReassignRequest};
// Deals, tasks and notifications: their own `impl Gate` block.
#[path = "gate_billing.rs"]
mod gate_billing;
#[path = "gate_work.rs"]
mod gate_work;
pub use gate_billing::{ClientBilling, Relationship};
// Masked contacts in lists and the audited reveal.
#[path = "gate_mask.rs"]
mod gate_mask;
pub use gate_mask::Revealed;
// Theft detection: baselines, patterns, responses, restrictions.
#[path = "gate_detect.rs"]
mod gate_detect;
pub use gate_detect::{DetectRules, UsageLine};
// Departure mode: leaving users, their report, handing their book on.
#[path = "gate_depart.rs"]
mod gate_depart;
pub use gate_depart::DeparturePerson;
pub use gate_depart::{DepartOutcome, Departure, DepartureReport};
// CSV import of clients: staged uploads, preview, all-or-nothing commit.
#[path = "gate_import.rs"]
mod gate_import;
// Reports: funnel, revenue, activity, clients at risk and their flags.
#[path = "gate_reports.rs"]
mod gate_reports;
pub use gate_reports::AT_RISK_EVENT;
