//! Tasks: something to do by a time, for one person, maybe about a client or a
//! deal. A task is reached through its assignee (and the assignee's team); the
//! client or deal it links to is named only to readers whose scope reaches that
//! client too.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clients::{Ctx, user_names};
use super::types::{DEFAULT_PAGE, MAX_PAGE, Page, UserRef, utc};
use super::work::{ClientRef, assignable_user, client_holder, parse_time, require};
use super::{CrmError, cursor, text};
use crate::access::{Action, Filter, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::work::TaskRow;
use crate::store::schema::{clients, deals, projects, tasks};

/// Id → name (or title).
type Names = HashMap<String, String>;

const TITLE_MAX: usize = 200;
const NOTES_MAX: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// RFC 3339 with an offset, e.g. `2026-11-23T10:00:00+04:00`.
    pub due_at: String,
    #[serde(default)]
    pub priority: Option<String>,
    /// Defaults to the caller.
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub deal_id: Option<String>,
    /// A project of the same client (the client follows from it when absent).
    #[serde(default)]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "some_of")]
    pub notes: Option<Option<String>>,
    #[serde(default)]
    pub due_at: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
}

fn some_of<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    #[default]
    Open,
    Done,
    All,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskQuery {
    #[serde(default)]
    pub state: Option<TaskState>,
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub deal_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    /// Only tasks due before this time (RFC 3339).
    #[serde(default)]
    pub due_before: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DealRef {
    pub id: String,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub notes: Option<String>,
    pub due_at: DateTime<Utc>,
    pub priority: Priority,
    pub assignee: UserRef,
    pub client: Option<ClientRef>,
    pub deal: Option<DealRef>,
    /// The project's name only for readers who reach its client.
    pub project: Option<ProjectRef>,
    pub done: bool,
    pub done_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub reminded_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskChanges {
    pub fields: Vec<&'static str>,
    pub assignee: Option<(String, String)>,
}

fn parse_priority(raw: Option<&str>) -> Result<Priority, CrmError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Priority::Normal),
        Some(p) => Priority::parse(p).ok_or_else(|| {
            CrmError::invalid(
                "priority",
                Msg::new("invalid-priority").arg("value", p.chars().take(20).collect::<String>()),
            )
        }),
    }
}

fn load_in_scope(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<TaskRow, CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: Option<TaskRow> = tasks::table
        .filter(tasks::id.eq(id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(CrmError::NotFound);
    };
    if !scope.permits(Some(&row.assignee_id), row.team_id.as_deref()) {
        return Err(CrmError::OutOfScope);
    }
    Ok(row)
}

/// Names of the linked client, deal and project, where the scope reaches the client.
fn links(
    conn: &mut DbConn,
    scope: &Scope,
    rows: &[TaskRow],
) -> Result<(Names, Names, Names), CrmError> {
    let client_ids: Vec<String> = rows.iter().filter_map(|r| r.client_id.clone()).collect();
    let mut client_names = HashMap::new();
    if !client_ids.is_empty() {
        let found: Vec<(String, String, Option<String>, Option<String>)> = clients::table
            .filter(clients::id.eq_any(&client_ids))
            .filter(clients::deleted_at.is_null())
            .select((
                clients::id,
                clients::name,
                clients::owner_id,
                clients::team_id,
            ))
            .load(conn)?;
        for (id, name, owner, team) in found {
            if scope.permits(owner.as_deref(), team.as_deref()) {
                client_names.insert(id, name);
            }
        }
    }
    let deal_ids: Vec<String> = rows.iter().filter_map(|r| r.deal_id.clone()).collect();
    let mut deal_titles = HashMap::new();
    if !deal_ids.is_empty() {
        let found: Vec<(String, String, String)> = deals::table
            .filter(deals::id.eq_any(&deal_ids))
            .select((deals::id, deals::title, deals::client_id))
            .load(conn)?;
        for (id, title, client) in found {
            if client_names.contains_key(&client) {
                deal_titles.insert(id, title);
            }
        }
    }
    let project_ids: Vec<String> = rows.iter().filter_map(|r| r.project_id.clone()).collect();
    let mut project_names = HashMap::new();
    if !project_ids.is_empty() {
        let found: Vec<(String, String, String)> = projects::table
            .filter(projects::id.eq_any(&project_ids))
            .select((projects::id, projects::name, projects::client_id))
            .load(conn)?;
        for (id, name, client) in found {
            if client_names.contains_key(&client) {
                project_names.insert(id, name);
            }
        }
    }
    Ok((client_names, deal_titles, project_names))
}

fn view(
    r: TaskRow,
    now: NaiveDateTime,
    names: &HashMap<String, String>,
    clients: &HashMap<String, String>,
    deals: &HashMap<String, String>,
    projects: &HashMap<String, String>,
) -> Task {
    Task {
        assignee: UserRef {
            name: names.get(&r.assignee_id).cloned().unwrap_or_default(),
            id: r.assignee_id,
        },
        client: r.client_id.map(|id| ClientRef {
            name: clients.get(&id).cloned(),
            id,
        }),
        deal: r.deal_id.map(|id| DealRef {
            title: deals.get(&id).cloned(),
            id,
        }),
        project: r.project_id.map(|id| ProjectRef {
            name: projects.get(&id).cloned(),
            id,
        }),
        overdue: r.done_at.is_none() && r.due_at < now,
        id: r.id,
        title: r.title,
        notes: r.notes,
        due_at: utc(r.due_at),
        priority: Priority::parse(&r.priority).unwrap_or(Priority::Normal),
        done: r.done_at.is_some(),
        done_at: r.done_at.map(utc),
        reminded_at: r.reminded_at.map(utc),
        escalated_at: r.escalated_at.map(utc),
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    }
}

fn views(
    conn: &mut DbConn,
    scope: &Scope,
    now: NaiveDateTime,
    rows: Vec<TaskRow>,
) -> Result<Vec<Task>, CrmError> {
    let names = user_names(conn)?;
    let (clients, deals, projects) = links(conn, scope, &rows)?;
    Ok(rows
        .into_iter()
        .map(|r| view(r, now, &names, &clients, &deals, &projects))
        .collect())
}

pub fn get(conn: &mut DbConn, ctx: Ctx<'_>, scope: &Scope, id: &str) -> Result<Task, CrmError> {
    require(scope, Object::Task, &[Action::Read])?;
    let row = load_in_scope(conn, scope, id)?;
    let now = ctx.env.now().naive_utc();
    let mut out = views(conn, scope, now, vec![row])?;
    out.pop().ok_or(CrmError::NotFound)
}

/// One page of tasks, soonest due first.
pub fn list(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    query: &TaskQuery,
) -> Result<Page<Task>, CrmError> {
    require(scope, Object::Task, &[Action::List])?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut q = tasks::table.select(TaskRow::as_select()).into_boxed();
    q = match scope.filter() {
        Filter::OwnedBy(me) => q.filter(tasks::assignee_id.eq(me.to_string())),
        Filter::TeamOrOwnedBy { team, owner } => q.filter(
            tasks::team_id
                .eq(team.to_string())
                .or(tasks::assignee_id.eq(owner.to_string())),
        ),
        Filter::Everything => q,
    };
    q = match query.state.unwrap_or_default() {
        TaskState::Open => q.filter(tasks::done_at.is_null()),
        TaskState::Done => q.filter(tasks::done_at.is_not_null()),
        TaskState::All => q,
    };
    if let Some(a) = query.assignee_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(tasks::assignee_id.eq(a.to_string()));
    }
    if let Some(c) = query.client_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(tasks::client_id.eq(c.to_string()));
    }
    if let Some(d) = query.deal_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(tasks::deal_id.eq(d.to_string()));
    }
    if let Some(p) = query.project_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(tasks::project_id.eq(p.to_string()));
    }
    if let Some(b) = query.due_before.as_deref().filter(|s| !s.is_empty()) {
        let before = parse_time("due_before", b)?.naive_utc();
        q = q.filter(tasks::due_at.lt(before));
    }
    if let Some(c) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = cursor::decode(c)?;
        q = q.filter(
            tasks::due_at
                .gt(at)
                .or(tasks::due_at.eq(at).and(tasks::id.gt(id))),
        );
    }
    let mut rows: Vec<TaskRow> = q
        .order((tasks::due_at.asc(), tasks::id.asc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| cursor::encode(r.due_at, &r.id))
    } else {
        None
    };
    let before = rows.len();
    rows.retain(|r| scope.permits(Some(&r.assignee_id), r.team_id.as_deref()));
    if rows.len() != before {
        tracing::error!(
            dropped = before - rows.len(),
            "task rows outside the scope were dropped: the SQL scope filter is wrong"
        );
    }
    let now = ctx.env.now().naive_utc();
    Ok(Page {
        items: views(conn, scope, now, rows)?,
        next_cursor,
    })
}

/// The client of the project a new task links to; the task's client must be it.
fn project_client(
    conn: &mut DbConn,
    client_id: Option<&str>,
    project_id: Option<&str>,
) -> Result<Option<String>, CrmError> {
    let client_id = client_id.map(str::trim).filter(|s| !s.is_empty());
    let Some(p) = project_id.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(client_id.map(str::to_string));
    };
    if uuid::Uuid::parse_str(p).is_err() {
        return Err(CrmError::NotFound);
    }
    let found: Option<String> = projects::table
        .filter(projects::id.eq(p))
        .select(projects::client_id)
        .first(conn)
        .optional()?;
    let pc = found.ok_or(CrmError::NotFound)?;
    match client_id {
        Some(c) if c != pc => Err(CrmError::invalid(
            "project_id",
            Msg::new("invalid-task-project-client"),
        )),
        _ => Ok(Some(pc)),
    }
}

/// The client (and deal) a new task links to, checked against the scope.
fn resolve_links(
    conn: &mut DbConn,
    scope: &Scope,
    client_id: Option<&str>,
    deal_id: Option<&str>,
) -> Result<(Option<String>, Option<String>), CrmError> {
    let client_id = client_id.map(str::trim).filter(|s| !s.is_empty());
    let deal_id = deal_id.map(str::trim).filter(|s| !s.is_empty());
    let deal_client = match deal_id {
        Some(d) => {
            if uuid::Uuid::parse_str(d).is_err() {
                return Err(CrmError::NotFound);
            }
            let found: Option<String> = deals::table
                .filter(deals::id.eq(d))
                .select(deals::client_id)
                .first(conn)
                .optional()?;
            Some(found.ok_or(CrmError::NotFound)?)
        }
        None => None,
    };
    let client = match (client_id, &deal_client) {
        (Some(c), Some(dc)) if c != dc => {
            return Err(CrmError::invalid(
                "deal_id",
                Msg::new("invalid-task-deal-client"),
            ));
        }
        (Some(c), _) => Some(c.to_string()),
        (None, dc) => dc.clone(),
    };
    if let Some(c) = &client {
        let Some((owner, team, _)) = client_holder(conn, c)? else {
            return Err(CrmError::NotFound);
        };
        if !scope.permits(owner.as_deref(), team.as_deref()) {
            return Err(CrmError::OutOfScope);
        }
    }
    Ok((client, deal_id.map(str::to_string)))
}

pub fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &NewTask,
) -> Result<Task, CrmError> {
    require(scope, Object::Task, &[Action::Create])?;
    // A project names its client; the scope check below covers both.
    let project_id = input
        .project_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let via_project = project_client(conn, input.client_id.as_deref(), project_id.as_deref())?;
    let (client_id, deal_id) = resolve_links(
        conn,
        scope,
        via_project.as_deref(),
        input.deal_id.as_deref(),
    )?;
    let title = text::line("title", &input.title, TITLE_MAX)?;
    let notes = text::opt_body("notes", input.notes.as_deref(), NOTES_MAX)?;
    let due_at = parse_time("due_at", &input.due_at)?.naive_utc();
    let priority = parse_priority(input.priority.as_deref())?;
    let Some(assignee) = input
        .assignee_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(scope.user_id())
    else {
        return Err(CrmError::invalid("assignee_id", Msg::new("invalid-empty")));
    };
    let team_id = assignable_user(conn, scope, "assignee_id", assignee)?;
    let now = ctx.env.now().naive_utc();
    let row = TaskRow {
        id: ctx.env.new_id()?.to_string(),
        title,
        notes,
        due_at,
        priority: priority.as_str().to_string(),
        assignee_id: assignee.to_string(),
        team_id,
        client_id,
        deal_id,
        done_at: None,
        done_by: None,
        created_by: scope.user_id().map(str::to_string),
        created_at: now,
        updated_at: now,
        reminded_at: None,
        escalated_at: None,
        project_id,
    };
    diesel::insert_into(tasks::table)
        .values(&row)
        .execute(conn)?;
    let mut out = views(conn, scope, now, vec![row])?;
    out.pop().ok_or(CrmError::NotFound)
}

pub fn update(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    patch: &TaskPatch,
) -> Result<(Task, TaskChanges), CrmError> {
    require(scope, Object::Task, &[Action::Update])?;
    let row = load_in_scope(conn, scope, id)?;
    let now = ctx.env.now().naive_utc();
    let mut changes = TaskChanges::default();
    let title = match &patch.title {
        Some(t) => text::line("title", t, TITLE_MAX)?,
        None => row.title.clone(),
    };
    let notes = match &patch.notes {
        Some(n) => text::opt_body("notes", n.as_deref(), NOTES_MAX)?,
        None => row.notes.clone(),
    };
    let due_at = match &patch.due_at {
        Some(d) => parse_time("due_at", d)?.naive_utc(),
        None => row.due_at,
    };
    let priority = match &patch.priority {
        Some(p) => parse_priority(Some(p))?.as_str().to_string(),
        None => row.priority.clone(),
    };
    let (assignee, team_id) = match &patch.assignee_id {
        Some(a) if *a != row.assignee_id => {
            let team = assignable_user(conn, scope, "assignee_id", a)?;
            changes.assignee = Some((row.assignee_id.clone(), a.clone()));
            (a.clone(), team)
        }
        _ => (row.assignee_id.clone(), row.team_id.clone()),
    };
    let (done_at, done_by) = match patch.done {
        Some(true) if row.done_at.is_none() => (Some(now), scope.user_id().map(str::to_string)),
        Some(false) => (None, None),
        _ => (row.done_at, row.done_by.clone()),
    };
    for (field, changed) in [
        ("title", title != row.title),
        ("notes", notes != row.notes),
        ("due_at", due_at != row.due_at),
        ("priority", priority != row.priority),
        ("assignee", changes.assignee.is_some()),
        ("done", done_at.is_some() != row.done_at.is_some()),
    ] {
        if changed {
            changes.fields.push(field);
        }
    }
    // A new time or a new person: the reminder and the escalation are owed again.
    let rearm = due_at != row.due_at || changes.assignee.is_some();
    let (reminded_at, escalated_at) = if rearm {
        (None, None)
    } else {
        (row.reminded_at, row.escalated_at)
    };
    if !changes.fields.is_empty() {
        diesel::update(tasks::table.filter(tasks::id.eq(&row.id)))
            .set((
                tasks::title.eq(&title),
                tasks::notes.eq(&notes),
                tasks::due_at.eq(due_at),
                tasks::priority.eq(&priority),
                tasks::assignee_id.eq(&assignee),
                tasks::team_id.eq(&team_id),
                tasks::done_at.eq(done_at),
                tasks::done_by.eq(&done_by),
                tasks::reminded_at.eq(reminded_at),
                tasks::escalated_at.eq(escalated_at),
                tasks::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let row: TaskRow = tasks::table
        .filter(tasks::id.eq(&row.id))
        .select(TaskRow::as_select())
        .first(conn)?;
    let mut out = views(conn, scope, now, vec![row])?;
    let task = out.pop().ok_or(CrmError::NotFound)?;
    Ok((task, changes))
}
