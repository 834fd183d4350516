//! Exports through the Gate: the caller's export scope, the allowances, the
//! owner's approval with a fresh hardware-key proof (never the requester's own),
//! the file with its fingerprint seeds, downloads and tracing. Every step and
//! every refusal is an audit event, and a step's data leaves only after its
//! event is committed.

use chrono::Duration;
use serde_json::json;

use super::super::clearance::Cleared;
use super::super::policy::{Action, Object};
use super::super::scope::Scope;
use super::{Gate, GateError, admit, who_of};
use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::crm::CrmError;
use crate::crm::clients::Ctx;
use crate::crm::export::{
    self as crm_export, DealExportRow, ExportObject, ExportRow as FileRow, FileRows,
    InvoiceExportRow,
};
use crate::exports::trace::{self, Clue, Hit};
use crate::exports::{
    self, Export, ExportRequest, Format, GuardRules, Produced, SeedView, State, limits, seeds,
};
use crate::i18n::Msg;
use crate::identity::{Actor, users};
use crate::store::models::exports::ExportRow;
use crate::store::{DbConn, StoreError, write_tx};

/// Failures inside a database closure, kept apart so that an audit failure is
/// answered as one.
pub(super) enum Fail {
    Gate(GateError),
    Audit(StoreError),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Fail::Gate(GateError::Store(StoreError::Query(e)))
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Gate(GateError::Store(e))
    }
}

impl From<CrmError> for Fail {
    fn from(e: CrmError) -> Self {
        Fail::Gate(GateError::from(e))
    }
}

impl From<GateError> for Fail {
    fn from(e: GateError) -> Self {
        Fail::Gate(e)
    }
}

impl From<crate::clock::EntropyError> for Fail {
    fn from(e: crate::clock::EntropyError) -> Self {
        Fail::Gate(GateError::Internal(e.to_string()))
    }
}

impl From<Fail> for GateError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Gate(g) => g,
            Fail::Audit(e) => GateError::AuditUnavailable(e),
        }
    }
}

/// Appends one event inside the caller's write transaction and returns its
/// position in the chain (alerts cite it as evidence).
pub(super) fn record_seq(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    ev: &Event,
) -> Result<i64, Fail> {
    let row = audit::prepare(env, meta, ev).map_err(Fail::Audit)?;
    audit::chain::append(conn, vec![row]).map_err(Fail::Audit)
}

/// Serialises one user's export (or reassignment) decisions, so two requests at
/// once cannot both fit into the same allowance. SQLite's write transaction
/// already holds the database's one write lock.
pub(super) fn lock_user(conn: &mut DbConn, user_id: &str) -> Result<(), Fail> {
    if let DbConn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(format!("holdfast-guard:{user_id}"))
            .execute(c)?;
    }
    Ok(())
}

fn invalid(field: &str, key: &'static str) -> GateError {
    GateError::Invalid {
        field: field.into(),
        msg: Msg::new(key),
    }
}

/// The file of an export: the rows with this export's seeds planted among them.
/// Seeds are made as clients; in a deal or invoice export each becomes a copy
/// of a real row of the file, carrying the seed client's name and contacts.
fn produce(
    conn: &mut DbConn,
    env: &Env,
    rules: &GuardRules,
    rows: FileRows,
    format: Format,
    masked: bool,
) -> Result<Produced, Fail> {
    let row_count = i32::try_from(rows.len()).unwrap_or(i32::MAX);
    // What the seeds' names and attributes are drawn from.
    let models: Vec<FileRow> = match &rows {
        FileRows::Clients(r) => r.clone(),
        FileRows::Deals(r) => r
            .iter()
            .map(|d| client_like(&d.client, &d.owner, &d.created_at))
            .collect(),
        FileRows::Invoices(r) => r
            .iter()
            .map(|i| client_like(&i.client, &None, i.issued_on.as_deref().unwrap_or_default()))
            .collect(),
    };
    let mut failed = None;
    let mut planted_seeds = seeds::generate(env, &rules.seeds, &models, |e, p| {
        exports::seed_taken(conn, e, p).unwrap_or_else(|err| {
            failed = Some(err);
            true
        })
    })?;
    if let Some(err) = failed {
        return Err(err.into());
    }
    // A deal or invoice seed copies a real row; with no rows there is nothing
    // to copy, and nothing leaves but an empty file.
    if !matches!(rows, FileRows::Clients(_)) && rows.is_empty() {
        planted_seeds.clear();
    }
    let mut all = match rows {
        FileRows::Clients(r) => FileRows::Clients(seeds::plant(
            env,
            r,
            planted_seeds.iter().map(|s| s.row.clone()).collect(),
        )?),
        FileRows::Deals(r) => {
            let mut dressed = Vec::new();
            for s in &planted_seeds {
                if let Some(like) = seeds::like(env, &r)? {
                    dressed.push(DealExportRow {
                        id: s.row.id.clone(),
                        client: s.row.name.clone(),
                        client_phones: s.row.phones.clone(),
                        client_emails: s.row.emails.clone(),
                        client_id: String::new(),
                        ..like.clone()
                    });
                }
            }
            FileRows::Deals(seeds::plant(env, r, dressed)?)
        }
        FileRows::Invoices(r) => {
            let mut dressed = Vec::new();
            for s in &planted_seeds {
                if let Some(like) = seeds::like(env, &r)? {
                    dressed.push(InvoiceExportRow {
                        id: s.row.id.clone(),
                        client: s.row.name.clone(),
                        client_phones: s.row.phones.clone(),
                        client_emails: s.row.emails.clone(),
                        client_id: String::new(),
                        ..like.clone()
                    });
                }
            }
            FileRows::Invoices(seeds::plant(env, r, dressed)?)
        }
    };
    // A role that sees contacts masked exports them masked, seeds alike (an
    // unmasked row would stand out as a seed).
    if masked {
        let mask = |phones: &mut Vec<String>, emails: &mut Vec<String>| {
            for p in phones.iter_mut() {
                *p = crate::access::mask::phone(p);
            }
            for e in emails.iter_mut() {
                *e = crate::access::mask::email(e);
            }
        };
        match &mut all {
            FileRows::Clients(r) => r
                .iter_mut()
                .for_each(|x| mask(&mut x.phones, &mut x.emails)),
            FileRows::Deals(r) => r
                .iter_mut()
                .for_each(|x| mask(&mut x.client_phones, &mut x.client_emails)),
            FileRows::Invoices(r) => r
                .iter_mut()
                .for_each(|x| mask(&mut x.client_phones, &mut x.client_emails)),
        }
    }
    let content = exports::format::render_rows(format, &all)
        .map_err(|e| Fail::Gate(GateError::Internal(e.to_string())))?;
    Ok(Produced {
        sha256: exports::sha256_hex(&content),
        content,
        row_count,
        seeds: planted_seeds,
    })
}

/// A client row standing for the client of a deal or invoice, for seeds to
/// take their script and attributes from.
fn client_like(name: &str, owner: &Option<String>, created_at: &str) -> FileRow {
    FileRow {
        id: String::new(),
        kind: "person".into(),
        name: name.into(),
        company: None,
        status: "new".into(),
        phones: vec![],
        emails: vec![],
        address: None,
        tags: vec![],
        owner: owner.clone(),
        team: None,
        source: None,
        created_at: created_at.into(),
    }
}

/// The `export.ready` event: the records and clients that left, in which file.
fn ready_event(
    who: Who,
    id: &str,
    p: &Produced,
    rows: &FileRows,
    object: ExportObject,
    extra: serde_json::Value,
) -> Event {
    let mut detail = json!({
        "export": id, "object": object.as_str(), "rows": p.row_count,
        "seeds": p.seeds.len(), "sha256": p.sha256, "bytes": p.content.len(),
    });
    if let (Some(d), Some(x)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(x.clone());
    }
    let kind = match object {
        ExportObject::Clients => "client",
        ExportObject::Deals => "deal",
        ExportObject::Invoices => "invoice",
    };
    let mut ids = rows.record_ids();
    ids.extend(rows.client_ids());
    Event::new("export.ready", Outcome::Ok)
        .by(who)
        .on(kind, ids)
        .detail(detail)
}

impl Gate {
    pub fn guard_rules(&self) -> &GuardRules {
        &self.guard
    }

    /// The data-loss rules (allowances, seeds); without them the built-in ones apply.
    pub fn with_guard_rules(mut self, rules: GuardRules) -> Gate {
        self.guard = std::sync::Arc::new(rules);
        self
    }

    /// Records a refusal decided here and hands back the error.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refused(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
        detail: serde_json::Value,
        err: GateError,
    ) -> GateError {
        let ev = Event::new(event, Outcome::Denied)
            .by(who_of(actor))
            .on(kind, ids)
            .detail(detail);
        match self.audit.record(meta, &ev).await {
            Ok(()) => {
                self.watch(actor, meta).await;
                err
            }
            Err(e) => GateError::AuditUnavailable(e),
        }
    }

    /// The role check and key rule for `obj`/`act`, refusals audited as `event`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn admitted(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        obj: Object,
        act: Action,
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
    ) -> Result<(super::super::Reach, Cleared), GateError> {
        // Departure mode refuses every non-read here; reads of one's own data
        // (exports list, notifications) go on.
        self.restrictions(actor, meta, event, kind, &ids).await?;
        match admit(
            &self.policy,
            &self.keys,
            actor,
            obj,
            act,
            event,
            self.env.now(),
        ) {
            Ok(ok) => Ok(ok),
            Err((err, detail)) => Err(self
                .refused(actor, meta, event, kind, ids, detail, err)
                .await),
        }
    }

    /// An approval needs a hardware-key proof from the last few minutes, whatever
    /// the configured step-up list says.
    pub(super) async fn fresh_approver(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        id: &str,
    ) -> Result<(), GateError> {
        self.admitted(
            actor,
            meta,
            Object::Approvals,
            Action::Approve,
            event,
            kind,
            vec![id.into()],
        )
        .await?;
        let now = self.env.now();
        let fresh = actor
            .elevation
            .as_ref()
            .is_some_and(|e| e.fresh_at(now, self.keys.step_up_window()));
        if !fresh {
            let r = super::super::Refusal::FreshProofRequired;
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    kind,
                    vec![id.into()],
                    json!({ "reason": r.reason() }),
                    GateError::KeyProof(r),
                )
                .await);
        }
        Ok(())
    }

    /// Asks for an export. Within the caller's allowance the file is made at once
    /// (`ready`); beyond it the request waits for an owner (`pending`) and no
    /// file exists.
    pub async fn request_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        req: ExportRequest,
    ) -> Result<Export, GateError> {
        let out = self.request_export_unwatched(actor, meta, req).await;
        // Detection looks at the actor's day after each request.
        self.watch(actor, meta).await;
        out
    }

    async fn request_export_unwatched(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        req: ExportRequest,
    ) -> Result<Export, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Export,
                "export.request",
                vec![],
            )
            .await?;
        let checked = (|| {
            let object = ExportObject::parse(&req.object)
                .ok_or_else(|| invalid("object", "invalid-export-object"))?;
            req.filter.check_for(object).map_err(GateError::from)?;
            let reason = crate::crm::text::opt_body("reason", req.reason.as_deref(), 500)
                .map_err(GateError::from)?;
            Ok((object, reason))
        })();
        let (object, reason) = match checked {
            Ok(r) => r,
            Err(e) => {
                let ev = Event::new("export.request", Outcome::Failed)
                    .by(who_of(actor))
                    .detail(json!({ "reason": "invalid input", "format": req.format.as_str() }));
                self.audit
                    .record(meta, &ev)
                    .await
                    .map_err(GateError::AuditUnavailable)?;
                return Err(e);
            }
        };
        let records = match object.record() {
            None => None,
            Some((o, a)) => match scope.sibling(o, a) {
                Some(s) => Some(s),
                None => {
                    return Err(self
                        .refused(
                            actor,
                            meta,
                            "export.request",
                            "export",
                            vec![],
                            json!({ "reason": "role reads no such records", "object": object.as_str() }),
                            GateError::Forbidden,
                        )
                        .await);
                }
            },
        };
        let region = self.phone_region.clone();
        let (env, rules, meta2) = (self.env.clone(), self.guard.clone(), meta.clone());
        let allowance = rules.limits.for_user(actor.role.as_str(), &actor.username);
        let actor2 = actor.clone();
        self.store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Export, Fail> {
                    let now = env.now();
                    lock_user(conn, &actor2.user_id)?;
                    let ctx = Ctx {
                        env: &env,
                        phone_region: region.as_deref(),
                    };
                    let (rows, truncated) = crm_export::rows_of(
                        conn,
                        ctx,
                        &scope,
                        records.as_ref(),
                        object,
                        &req.filter,
                        rules.max_rows,
                    )?;
                    let usage = exports::usage(conn, &actor2.user_id, now)?;
                    let over = limits::export_over(&allowance, rows.len() as i64, usage);
                    let id = env.new_id()?.to_string();
                    let state = if over.is_empty() {
                        State::Ready
                    } else {
                        State::Pending
                    };
                    exports::insert(
                        conn,
                        &ExportRow {
                            id: id.clone(),
                            requested_by: actor2.user_id.clone(),
                            requested_role: actor2.role.as_str().into(),
                            requested_at: now.naive_utc(),
                            object: object.as_str().into(),
                            format: req.format.as_str().into(),
                            filter: serde_json::to_string(&req.filter).unwrap_or_default(),
                            reason: reason.clone(),
                            // Until an owner approves, the count is what was asked for.
                            state: State::Pending.as_str().into(),
                            row_count: i32::try_from(rows.len()).unwrap_or(i32::MAX),
                            seed_count: 0,
                            over_allowance: (!over.is_empty())
                                .then(|| serde_json::to_string(&over).unwrap_or_default()),
                            decided_by: None,
                            decided_at: None,
                            decision_comment: None,
                            file_sha256: None,
                            file_bytes: None,
                            ready_at: None,
                            expires_at: None,
                            downloads: 0,
                        },
                    )?;
                    let request = Event::new("export.request", Outcome::Ok)
                        .by(who_of(&actor2))
                        .on("export", [id.clone()])
                        .detail(json!({
                            "object": object.as_str(),
                            "format": req.format.as_str(), "filter": req.filter,
                            "rows": rows.len(), "truncated": truncated,
                            "state": state.as_str(), "over_allowance": over,
                            "reason": reason,
                        }));
                    let request_seq = record_seq(conn, &env, &meta2, &request)?;
                    if state == State::Ready {
                        let ids = rows.client_ids();
                        let produced = produce(
                            conn,
                            &env,
                            &rules,
                            rows.clone(),
                            req.format,
                            !scope.role_may(Object::Client, Action::Reveal),
                        )?;
                        exports::store_file(
                            conn,
                            &id,
                            &produced,
                            now,
                            Duration::hours(rules.file_hours),
                        )?;
                        let ev = ready_event(
                            who_of(&actor2),
                            &id,
                            &produced,
                            &rows,
                            object,
                            json!({ "truncated": truncated }),
                        );
                        let seq = record_seq(conn, &env, &meta2, &ev)?;
                        super::gate_alerts::tripwire(
                            conn,
                            &env,
                            &meta2,
                            &who_of(&actor2),
                            "export.ready",
                            &ids,
                            seq,
                        )?;
                    } else {
                        super::gate_alerts::over_allowance(
                            conn,
                            &env,
                            &actor2,
                            &id,
                            &over,
                            request_seq,
                        )?;
                    }
                    let row = exports::get(conn, &id)?
                        .ok_or_else(|| Fail::Gate(GateError::Internal("export vanished".into())))?;
                    Ok(exports::view(conn, row)?)
                })
                .map_err(GateError::from)
            })
            .await
    }

    /// May `actor` see this export's record? The requester, and owners.
    fn may_see(&self, actor: &Actor, row: &ExportRow) -> bool {
        row.requested_by == actor.user_id
            || self
                .policy
                .reach(actor.role, Object::Approvals, Action::Approve)
                .is_some()
    }

    pub async fn export_status(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Export, GateError> {
        if let Err(r) = self.keys.check(actor, "export.read", self.env.now()) {
            return Err(self
                .refused(
                    actor,
                    meta,
                    "export.read",
                    "export",
                    vec![id.into()],
                    json!({ "reason": r.reason() }),
                    GateError::KeyProof(r),
                )
                .await);
        }
        let key = id.to_string();
        let found = self.store.run(move |conn| exports::get(conn, &key)).await?;
        let row = match found {
            Some(row) if self.may_see(actor, &row) => row,
            _ => {
                return Err(self
                    .refused(
                        actor,
                        meta,
                        "export.read",
                        "export",
                        vec![id.into()],
                        json!({ "reason": "not found or not yours" }),
                        GateError::NotFound,
                    )
                    .await);
            }
        };
        let view = self.store.run(move |conn| exports::view(conn, row)).await?;
        let ev = Event::new("export.read", Outcome::Ok)
            .by(who_of(actor))
            .on("export", [id.to_string()])
            .detail(json!({ "state": view.state }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(view)
    }

    /// The file, to the requester only: a copy in anyone else's hands would carry
    /// the requester's seeds and point a trace at the wrong person.
    pub async fn export_file(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(Export, Vec<u8>), GateError> {
        self.admitted(
            actor,
            meta,
            Object::Client,
            Action::Export,
            "export.download",
            "export",
            vec![id.into()],
        )
        .await?;
        let key = id.to_string();
        let found = self.store.run(move |conn| exports::get(conn, &key)).await?;
        let row = match found {
            Some(row) if row.requested_by == actor.user_id => row,
            _ => {
                return Err(self
                    .refused(
                        actor,
                        meta,
                        "export.download",
                        "export",
                        vec![id.into()],
                        json!({ "reason": "not found or not yours" }),
                        GateError::NotFound,
                    )
                    .await);
            }
        };
        let state = State::parse(&row.state);
        if state != Some(State::Ready) {
            let why = match state {
                Some(State::Pending) => "the export is waiting for an owner's approval",
                Some(State::Rejected) => "the export was rejected; it has no file",
                _ => "the export's file has expired",
            };
            return Err(self
                .refused(
                    actor,
                    meta,
                    "export.download",
                    "export",
                    vec![id.into()],
                    json!({ "reason": why, "state": row.state }),
                    GateError::Conflict(why.into()),
                )
                .await);
        }
        let (env, meta2, who, key) = (
            self.env.clone(),
            meta.clone(),
            who_of(actor),
            id.to_string(),
        );
        let result = self
            .store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Option<(Export, Vec<u8>)>, Fail> {
                    let Some(content) = exports::take_file(conn, &key, env.now())? else {
                        return Ok(None);
                    };
                    let row = exports::get(conn, &key)?
                        .ok_or_else(|| Fail::Gate(GateError::NotFound))?;
                    let ev = Event::new("export.download", Outcome::Ok)
                        .by(who)
                        .on("export", [key.clone()])
                        .detail(json!({ "sha256": row.file_sha256, "bytes": content.len(), "rows": row.row_count }));
                    record_seq(conn, &env, &meta2, &ev)?;
                    Ok(Some((exports::view(conn, row)?, content)))
                })
                .map_err(GateError::from)
            })
            .await?;
        match result {
            Some(found) => Ok(found),
            None => {
                let why = "the export's file has expired";
                Err(self
                    .refused(
                        actor,
                        meta,
                        "export.download",
                        "export",
                        vec![id.into()],
                        json!({ "reason": why }),
                        GateError::Conflict(why.into()),
                    )
                    .await)
            }
        }
    }

    /// An owner approves a pending export with a fresh proof; the file is made
    /// then, within the requester's scope as it is now.
    pub async fn approve_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        comment: Option<String>,
    ) -> Result<Export, GateError> {
        self.decide_export(actor, meta, id, comment, true).await
    }

    pub async fn reject_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        comment: Option<String>,
    ) -> Result<Export, GateError> {
        self.decide_export(actor, meta, id, comment, false).await
    }

    async fn decide_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        comment: Option<String>,
        approve: bool,
    ) -> Result<Export, GateError> {
        let event = if approve {
            "export.approve"
        } else {
            "export.reject"
        };
        self.fresh_approver(actor, meta, event, "export", id)
            .await?;
        let comment = crate::crm::text::opt_body("comment", comment.as_deref(), 500)?;
        let key = id.to_string();
        let found = self.store.run(move |conn| exports::get(conn, &key)).await?;
        let Some(row) = found else {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "export",
                    vec![id.into()],
                    json!({ "reason": "not found" }),
                    GateError::NotFound,
                )
                .await);
        };
        if row.requested_by == actor.user_id {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "export",
                    vec![id.into()],
                    json!({ "reason": "own request" }),
                    GateError::NotAllowed(Msg::new("not-allowed-approve-own")),
                )
                .await);
        }
        if row.state != State::Pending.as_str() {
            return Err(self
                .refused(
                    actor,
                    meta,
                    event,
                    "export",
                    vec![id.into()],
                    json!({ "reason": "not pending", "state": row.state }),
                    GateError::Conflict("the export is not waiting for a decision".into()),
                )
                .await);
        }
        let object = ExportObject::parse(&row.object).unwrap_or(ExportObject::Clients);
        let requester_scope = if approve {
            let scope = self
                .requester_scope(&row.requested_by, Action::Export)
                .await?;
            let records = match object.record() {
                None => None,
                Some((o, a)) => Some(scope.sibling(o, a).ok_or_else(|| {
                    GateError::Conflict("the requester's role no longer reads these records".into())
                })?),
            };
            Some((scope, records))
        } else {
            None
        };
        let region = self.phone_region.clone();
        let (env, rules, meta2, who, key) = (
            self.env.clone(),
            self.guard.clone(),
            meta.clone(),
            who_of(actor),
            id.to_string(),
        );
        let approver = actor.user_id.clone();
        self.store
            .run(move |conn| {
                write_tx(conn, |conn| -> Result<Export, Fail> {
                    let now = env.now();
                    let state = if approve { State::Ready } else { State::Rejected };
                    if !exports::decide(conn, &key, state, &approver, comment.as_deref(), now)? {
                        return Err(Fail::Gate(GateError::Conflict(
                            "the export is not waiting for a decision".into(),
                        )));
                    }
                    let decided = Event::new(if approve { "export.approve" } else { "export.reject" }, Outcome::Ok)
                        .by(who.clone())
                        .on("export", [key.clone()])
                        .detail(json!({ "requested_by": row.requested_by, "rows": row.row_count, "comment": comment }));
                    record_seq(conn, &env, &meta2, &decided)?;
                    if let Some((scope, records)) = requester_scope {
                        let filter: crm_export::ExportFilter =
                            serde_json::from_str(&row.filter).unwrap_or_default();
                        let format = Format::parse(&row.format).unwrap_or(Format::Csv);
                        let ctx = Ctx { env: &env, phone_region: region.as_deref() };
                        let (rows, truncated) = crm_export::rows_of(conn, ctx, &scope, records.as_ref(), object, &filter, rules.max_rows)?;
                        let ids = rows.client_ids();
                        let produced = produce(conn, &env, &rules, rows.clone(), format, !scope.role_may(Object::Client, Action::Reveal))?;
                        exports::store_file(conn, &key, &produced, now, Duration::hours(rules.file_hours))?;
                        let ev = ready_event(scope.who(), &key, &produced, &rows, object, json!({ "approved_by": approver, "truncated": truncated }));
                        let seq = record_seq(conn, &env, &meta2, &ev)?;
                        super::gate_alerts::tripwire(conn, &env, &meta2, &scope.who(), "export.ready", &ids, seq)?;
                    }
                    let row = exports::get(conn, &key)?
                        .ok_or_else(|| Fail::Gate(GateError::Internal("export vanished".into())))?;
                    Ok(exports::view(conn, row)?)
                })
                .map_err(GateError::from)
            })
            .await
    }

    /// The scope the requester of an approved request works in, as their account
    /// stands now (disabled accounts and roles without the power get none).
    pub(super) async fn requester_scope(
        &self,
        user_id: &str,
        act: Action,
    ) -> Result<Scope, GateError> {
        let uid = user_id.to_string();
        let user = self
            .store
            .run(move |conn| users::get(conn, &uid).map_err(|e| GateError::Internal(e.to_string())))
            .await?;
        if user.disabled {
            return Err(GateError::Conflict(
                "the requester's account is disabled".into(),
            ));
        }
        let Some(reach) = self.policy.reach(user.role, Object::Client, act) else {
            return Err(GateError::Conflict(
                "the requester's role no longer has this power".into(),
            ));
        };
        let requester = Actor {
            user_id: user.id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            team_id: user.team_id.clone(),
            session_ref: "approved".into(),
            elevation: None,
        };
        Ok(Scope::for_user(
            Cleared::on_approval(requester),
            Object::Client,
            act,
            reach,
            self.policy.clone(),
        ))
    }

    /// Exports newest first: the caller's own, or (owners) everyone's.
    pub async fn list_exports(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        everyone: bool,
        state: Option<State>,
        limit: i64,
    ) -> Result<Vec<Export>, GateError> {
        if everyone {
            self.admitted(
                actor,
                meta,
                Object::Approvals,
                Action::Approve,
                "export.list",
                "export",
                vec![],
            )
            .await?;
        } else if let Err(r) = self.keys.check(actor, "export.list", self.env.now()) {
            return Err(self
                .refused(
                    actor,
                    meta,
                    "export.list",
                    "export",
                    vec![],
                    json!({ "reason": r.reason() }),
                    GateError::KeyProof(r),
                )
                .await);
        }
        let uid = (!everyone).then(|| actor.user_id.clone());
        let list = self
            .store
            .run(move |conn| exports::list(conn, uid.as_deref(), state, limit))
            .await?;
        let ev = Event::new("export.list", Outcome::Ok)
            .by(who_of(actor))
            .on("export", list.iter().map(|e| e.id.clone()))
            .detail(json!({ "everyone": everyone, "state": state }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(list)
    }

    /// The seeds planted in these exports (owners).
    pub async fn export_seeds(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        export_ids: Vec<String>,
    ) -> Result<Vec<SeedView>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Approvals,
            Action::Approve,
            "export.seeds",
            "export",
            export_ids.clone(),
        )
        .await?;
        let ids = export_ids.clone();
        let seeds = self
            .store
            .run(move |conn| exports::seeds_of(conn, &ids))
            .await?;
        let ev = Event::new("export.seeds", Outcome::Ok)
            .by(who_of(actor))
            .on("export", export_ids);
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(seeds)
    }

    /// Which export a leaked file, seed email or seed phone came from (owners).
    pub async fn trace_export(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        clue: Clue,
    ) -> Result<Vec<Hit>, GateError> {
        self.admitted(
            actor,
            meta,
            Object::Approvals,
            Action::Approve,
            "export.trace",
            "export",
            vec![],
        )
        .await?;
        let described = clue.describe();
        let hits = self
            .store
            .run(move |conn| trace::trace(conn, &clue))
            .await?;
        let ev = Event::new("export.trace", Outcome::Ok)
            .by(who_of(actor))
            .on("export", hits.iter().map(|h| h.export.id.clone()))
            .detail(json!({ "clue": described, "hits": hits.len() }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Ok(hits)
    }
}

/// How a console command names itself in the trace event.
pub fn console_trace(conn: &mut DbConn, env: &Env, clue: &Clue) -> Result<Vec<Hit>, GateError> {
    let hits = trace::trace(conn, clue)?;
    let ev = Event::new("export.trace", Outcome::Ok)
        .by(Who::console())
        .on("export", hits.iter().map(|h| h.export.id.clone()))
        .detail(json!({ "clue": clue.describe(), "hits": hits.len() }));
    write_tx(conn, |c| record_seq(c, env, &RequestMeta::default(), &ev))
        .map_err(GateError::from)?;
    Ok(hits)
}
