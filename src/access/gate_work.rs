//! The door for deals, tasks and notifications: the same pipeline as for
//! client cards (role check, scope, domain call, audit event), with events that
//! name the record kind (`deal`, `task`) and carry the client's id too, so a
//! client's history shows who touched its deals and tasks.

use serde_json::json;

use super::{Gate, GateError, Mode, touched};
use crate::access::policy::{Action, Object};
use crate::access::scope::Scope;
use crate::audit::{self, Event, Outcome, RequestMeta};
use crate::crm::CrmError;
use crate::crm::deals::{
    self, Deal, DealDetail, DealPatch, DealQuery, NewDeal, Pipeline, Stage, StageChange,
    StageInput, StageMove,
};
use crate::crm::leads;
use crate::crm::notifications::{self, Inbox, Outgoing, RunReport, RunSettings, Settings};
use crate::crm::tasks::{self, NewTask, Task, TaskPatch, TaskQuery};
use crate::crm::types::{ClientSummary, Page};
use crate::identity::Actor;
use crate::store::DbConn;

/// Ids an event names: each record once, in order.
fn ids_of(list: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in list {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn deal_ids(d: &Deal) -> Vec<String> {
    vec![d.id.clone(), d.client.id.clone()]
}

fn task_ids(t: &Task) -> Vec<String> {
    std::iter::once(t.id.clone())
        .chain(t.client.as_ref().map(|c| c.id.clone()))
        .collect()
}

impl Gate {
    // -----------------------------------------------------------------------
    // Deals

    pub async fn list_deals(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: DealQuery,
    ) -> Result<Page<Deal>, GateError> {
        self.through(
            actor,
            meta,
            (Object::Deal, Action::List),
            "deal.list",
            "deal",
            vec![],
            Mode::Read,
            move |conn, _, scope| {
                let page = deals::list(conn, scope, &query)?;
                let ids = ids_of(page.items.iter().flat_map(deal_ids));
                let detail = json!({
                    "stage": query.stage, "client_id": query.client_id,
                    "owner_id": query.owner_id, "count": page.items.len(),
                });
                let one_client = query.client_id.is_some();
                Ok(touched(page, ids, detail).within_one_record(one_client))
            },
        )
        .await
    }

    /// The deals of one client (its card), read with the deal scope.
    pub async fn client_deals(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        client_id: &str,
    ) -> Result<Vec<Deal>, GateError> {
        let query = DealQuery {
            client_id: Some(client_id.to_string()),
            limit: Some(crate::crm::types::MAX_PAGE),
            ..DealQuery::default()
        };
        Ok(self.list_deals(actor, meta, query).await?.items)
    }

    pub async fn pipeline(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        owner_id: Option<String>,
    ) -> Result<Pipeline, GateError> {
        self.through(
            actor,
            meta,
            (Object::Deal, Action::List),
            "deal.pipeline",
            "deal",
            vec![],
            Mode::Read,
            move |conn, _, scope| {
                let board = deals::pipeline(conn, scope, owner_id.as_deref())?;
                let ids = ids_of(
                    board
                        .columns
                        .iter()
                        .flat_map(|c| c.deals.iter().flat_map(deal_ids)),
                );
                let detail = json!({ "owner_id": owner_id, "shown": ids.len() });
                Ok(touched(board, ids, detail))
            },
        )
        .await
    }

    pub async fn deal(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<DealDetail, GateError> {
        let id = id.to_string();
        self.through(
            actor,
            meta,
            (Object::Deal, Action::Read),
            "deal.read",
            "deal",
            vec![id.clone()],
            Mode::Read,
            move |conn, _, scope| {
                let detail = deals::get(conn, scope, &id)?;
                let ids = deal_ids(&detail.deal);
                Ok(touched(detail, ids, json!({})))
            },
        )
        .await
    }

    pub async fn deal_history(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Vec<StageChange>, GateError> {
        let id = id.to_string();
        self.through(
            actor,
            meta,
            (Object::Deal, Action::Read),
            "deal.history",
            "deal",
            vec![id.clone()],
            Mode::Read,
            move |conn, _, scope| {
                let history = deals::history(conn, scope, &id)?;
                let detail = json!({ "changes": history.len() });
                Ok(touched(history, vec![id], detail))
            },
        )
        .await
    }

    pub async fn create_deal(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewDeal,
    ) -> Result<Deal, GateError> {
        let client = input.client_id.clone();
        self.through(
            actor,
            meta,
            (Object::Deal, Action::Create),
            "deal.create",
            "deal",
            vec![client],
            Mode::Write,
            move |conn, ctx, scope| {
            let deal = deals::create(conn, ctx, scope, &input)?;
            let detail = json!({
                "stage": deal.stage, "currency": deal.currency, "owner": deal.owner.as_ref().map(|o| o.id.clone()),
            });
            let ids = deal_ids(&deal);
            Ok(touched(deal, ids, detail))
        },
        )
        .await
    }

    pub async fn update_deal(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        patch: DealPatch,
    ) -> Result<Deal, GateError> {
        let event = if patch.stage.is_some() {
            "deal.move"
        } else {
            "deal.update"
        };
        let id = id.to_string();
        self.through(
            actor,
            meta,
            (Object::Deal, Action::Update),
            event,
            "deal",
            vec![id.clone()],
            Mode::Write,
            move |conn, ctx, scope| {
                let (deal, changes) = deals::update(conn, ctx, scope, &id, &patch)?;
                let detail = serde_json::to_value(&changes).unwrap_or_default();
                let ids = deal_ids(&deal);
                Ok(touched(deal, ids, detail))
            },
        )
        .await
    }

    pub async fn move_deal(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        mv: StageMove,
    ) -> Result<Deal, GateError> {
        let patch = DealPatch {
            stage: Some(mv.stage),
            lost_reason: mv.lost_reason,
            ..DealPatch::default()
        };
        self.update_deal(actor, meta, id, patch).await
    }

    /// The pipeline's stages (not client data: anyone signed in may read them).
    pub async fn deal_stages(&self) -> Result<Vec<Stage>, GateError> {
        self.store
            .run(|conn| deals::stages(conn).map_err(GateError::from))
            .await
    }

    pub async fn upsert_deal_stage(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        code: &str,
        input: StageInput,
    ) -> Result<Vec<Stage>, GateError> {
        let code = code.to_string();
        self.through(
            actor,
            meta,
            (Object::DealStages, Action::Update),
            "deal_stages.update",
            "deal_stage",
            vec![code.clone()],
            Mode::Write,
            move |conn, _, scope| {
                let (old, new) = deals::upsert_stage(conn, scope, &code, &input)?;
                let detail = json!({ "code": code, "old": old, "new": new });
                Ok(touched(deals::stages(conn)?, vec![code], detail))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // Tasks

    pub async fn list_tasks(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: TaskQuery,
    ) -> Result<Page<Task>, GateError> {
        self.through(
            actor,
            meta,
            (Object::Task, Action::List),
            "task.list",
            "task",
            vec![],
            Mode::Read,
            move |conn, ctx, scope| {
                let page = tasks::list(conn, ctx, scope, &query)?;
                let ids = ids_of(page.items.iter().flat_map(task_ids));
                let detail = json!({
                    "assignee_id": query.assignee_id, "client_id": query.client_id,
                    "deal_id": query.deal_id, "project_id": query.project_id,
                    "count": page.items.len(),
                });
                let one_record = query.client_id.is_some()
                    || query.deal_id.is_some()
                    || query.project_id.is_some();
                Ok(touched(page, ids, detail).within_one_record(one_record))
            },
        )
        .await
    }

    pub async fn task(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Task, GateError> {
        let id = id.to_string();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Read),
            "task.read",
            "task",
            vec![id.clone()],
            Mode::Read,
            move |conn, ctx, scope| {
                let task = tasks::get(conn, ctx, scope, &id)?;
                let ids = task_ids(&task);
                Ok(touched(task, ids, json!({})))
            },
        )
        .await
    }

    pub async fn create_task(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewTask,
    ) -> Result<Task, GateError> {
        let linked: Vec<String> = input
            .client_id
            .iter()
            .chain(input.deal_id.iter())
            .chain(input.project_id.iter())
            .cloned()
            .collect();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Create),
            "task.create",
            "task",
            linked,
            Mode::Write,
            move |conn, ctx, scope| {
                let task = tasks::create(conn, ctx, scope, &input)?;
                let detail = json!({
                    "assignee": task.assignee.id, "due_at": task.due_at, "priority": task.priority,
                    "deal_id": task.deal.as_ref().map(|d| d.id.clone()),
                    "project_id": task.project.as_ref().map(|p| p.id.clone()),
                });
                let ids = task_ids(&task);
                Ok(touched(task, ids, detail))
            },
        )
        .await
    }

    pub async fn update_task(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        patch: TaskPatch,
    ) -> Result<Task, GateError> {
        let id = id.to_string();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Update),
            "task.update",
            "task",
            vec![id.clone()],
            Mode::Write,
            move |conn, ctx, scope| {
                let (task, changes) = tasks::update(conn, ctx, scope, &id, &patch)?;
                let detail = serde_json::to_value(&changes).unwrap_or_default();
                let ids = task_ids(&task);
                Ok(touched(task, ids, detail))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // The reminder run and its e-mail outbox: an automatic process, with a
    // system scope only this layer can make; each reminder and escalation is
    // recorded in the transaction that makes it.

    pub async fn run_reminders(&self, settings: RunSettings) -> Result<RunReport, GateError> {
        let scope = Scope::for_system(
            "reminders",
            Object::Task,
            Action::Update,
            self.policy.clone(),
        );
        let env = self.env.clone();
        self.store
            .run(move |conn| {
                let who = scope.who();
                let mut record = |conn: &mut DbConn,
                                  action: &'static str,
                                  ids: Vec<String>,
                                  detail: serde_json::Value|
                 -> Result<(), CrmError> {
                    let ev = Event::new(action, Outcome::Ok)
                        .by(who.clone())
                        .on("task", ids)
                        .detail(detail);
                    audit::record(conn, &env, &RequestMeta::default(), &ev)?;
                    Ok(())
                };
                notifications::run(conn, &env, &scope, &settings, &mut record)
                    .map_err(GateError::from)
            })
            .await
    }

    /// Queued reminder e-mail.
    pub async fn mail_outbox(&self, limit: i64) -> Result<Vec<Outgoing>, GateError> {
        let scope = Scope::for_system("mailer", Object::Task, Action::Update, self.policy.clone());
        self.store
            .run(move |conn| notifications::outbox(conn, &scope, limit).map_err(GateError::from))
            .await
    }

    /// Marks a queued e-mail sent, or counts a failed attempt.
    pub async fn mail_result(&self, id: &str, sent: bool) -> Result<(), GateError> {
        let scope = Scope::for_system("mailer", Object::Task, Action::Update, self.policy.clone());
        let (id, env) = (id.to_string(), self.env.clone());
        self.store
            .run(move |conn| {
                if sent {
                    notifications::mark_sent(conn, &env, &scope, &id)
                } else {
                    notifications::mark_failed(conn, &scope, &id)
                }
                .map_err(GateError::from)
            })
            .await
    }

    // -----------------------------------------------------------------------
    // "My day": newest leads nobody has called, written to or met yet

    pub async fn new_leads(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        limit: u32,
    ) -> Result<Vec<ClientSummary>, GateError> {
        self.through(
            actor,
            meta,
            (Object::Client, Action::List),
            "client.list",
            "client",
            vec![],
            Mode::Read,
            move |conn, _, scope| {
                let leads = leads::without_contact(conn, scope, limit)?;
                let ids = leads.iter().map(|c| c.id.clone()).collect();
                let detail = json!({ "view": "new_leads", "count": leads.len() });
                Ok(touched(leads, ids, detail))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // Notifications: one's own only. Their titles come from tasks, so reading
    // them needs what reading tasks needs (and is recorded the same way).

    pub async fn inbox(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        unread_only: bool,
    ) -> Result<Inbox, GateError> {
        let me = actor.user_id.clone();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Read),
            "notification.list",
            "notification",
            vec![],
            Mode::Read,
            move |conn, _, _| {
                let inbox = notifications::inbox(conn, &me, unread_only)?;
                let ids = inbox.items.iter().map(|n| n.id.clone()).collect();
                let detail = json!({ "unread": inbox.unread, "count": inbox.items.len() });
                Ok(touched(inbox, ids, detail))
            },
        )
        .await
    }

    /// Marks one notification (or, with `None`, all) of the caller's read.
    pub async fn mark_read(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: Option<String>,
    ) -> Result<usize, GateError> {
        let me = actor.user_id.clone();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Read),
            "notification.read",
            "notification",
            id.iter().cloned().collect(),
            Mode::Write,
            move |conn, ctx, _| {
                let ids = notifications::mark_read(conn, ctx.env, &me, id.as_deref())?;
                let n = ids.len();
                Ok(touched(n, ids, json!({ "all": id.is_none() })))
            },
        )
        .await
    }

    pub async fn notification_settings(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Settings, GateError> {
        let me = actor.user_id.clone();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Read),
            "notification.settings",
            "notification",
            vec![],
            Mode::Read,
            move |conn, _, _| {
                Ok(touched(
                    notifications::settings(conn, &me)?,
                    vec![],
                    json!({}),
                ))
            },
        )
        .await
    }

    pub async fn set_notification_email(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        email: Option<String>,
    ) -> Result<Settings, GateError> {
        let me = actor.user_id.clone();
        self.through(
            actor,
            meta,
            (Object::Task, Action::Read),
            "notification.settings_update",
            "notification",
            vec![],
            Mode::Write,
            move |conn, ctx, _| {
                let s = notifications::set_email(conn, ctx.env, &me, email.as_deref())?;
                Ok(touched(
                    s,
                    vec![],
                    json!({ "fields": ["email"], "email_set": email.is_some() }),
                ))
            },
        )
        .await
    }
}
