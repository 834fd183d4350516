//! Projects: service delivery for a client, with a status, dates, a responsible
//! user and their own tasks (tasks link to a project). A project is reached
//! exactly when its client is (like deals).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clients::{Ctx, user_names};
use super::types::{DEFAULT_PAGE, MAX_PAGE, Page, UserRef, utc};
use super::work::{
    self, ClientRef, assignable_user, client_in_scope, parse_date, require, within_client_scope,
};
use super::{CrmError, cursor, text};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::billing::ProjectRow;
use crate::store::schema::{clients, projects};

const NAME_MAX: usize = 200;
pub const STATUSES: &[&str] = &["planned", "active", "on_hold", "done", "cancelled"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub starts_on: Option<String>,
    #[serde(default)]
    pub ends_on: Option<String>,
    /// Defaults to the caller.
    #[serde(default)]
    pub responsible_id: Option<String>,
}

/// Absent fields stay; an empty date clears it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub starts_on: Option<String>,
    #[serde(default)]
    pub ends_on: Option<String>,
    #[serde(default)]
    pub responsible_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectQuery {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub id: String,
    pub client: ClientRef,
    pub name: String,
    pub status: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub responsible: Option<UserRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(
    row: ProjectRow,
    client_name: Option<String>,
    names: &std::collections::HashMap<String, String>,
) -> Project {
    Project {
        client: ClientRef {
            id: row.client_id,
            name: client_name,
        },
        responsible: row.responsible_id.as_ref().map(|id| UserRef {
            id: id.clone(),
            name: names.get(id).cloned().unwrap_or_default(),
        }),
        id: row.id,
        name: row.name,
        status: row.status,
        starts_on: row.starts_on,
        ends_on: row.ends_on,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

fn check_status(raw: &str) -> Result<String, CrmError> {
    if STATUSES.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(CrmError::invalid(
            "status",
            Msg::new("invalid-project-status")
                .arg("value", raw.chars().take(20).collect::<String>()),
        ))
    }
}

fn check_dates(starts: Option<NaiveDate>, ends: Option<NaiveDate>) -> Result<(), CrmError> {
    match (starts, ends) {
        (Some(s), Some(e)) if e < s => Err(CrmError::invalid(
            "ends_on",
            Msg::new("invalid-project-dates"),
        )),
        _ => Ok(()),
    }
}

/// A project the scope reaches, with its client's name.
pub(super) fn load_in_scope(
    conn: &mut DbConn,
    scope: &Scope,
    id: &str,
) -> Result<(ProjectRow, String), CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: Option<ProjectRow> = projects::table
        .filter(projects::id.eq(id))
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(CrmError::NotFound);
    };
    let name = client_in_scope(conn, scope, &row.client_id)?;
    Ok((row, name))
}

pub fn get(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<Project, CrmError> {
    require(scope, Object::Project, &[Action::Read])?;
    let (row, name) = load_in_scope(conn, scope, id)?;
    let names = user_names(conn)?;
    Ok(view(row, Some(name), &names))
}

type ProjectWithClient = work::WithClient<ProjectRow>;

pub fn list(
    conn: &mut DbConn,
    scope: &Scope,
    query: &ProjectQuery,
) -> Result<Page<Project>, CrmError> {
    require(scope, Object::Project, &[Action::List])?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let q = projects::table
        .inner_join(clients::table.on(clients::id.eq(projects::client_id)))
        .select((
            ProjectRow::as_select(),
            (clients::name, clients::owner_id, clients::team_id),
        ))
        .into_boxed();
    let mut q = within_client_scope!(q, scope);
    if let Some(client) = query.client_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(projects::client_id.eq(client.to_string()));
    }
    if let Some(status) = query.status.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(projects::status.eq(check_status(status)?));
    }
    if let Some(c) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = cursor::decode(c)?;
        q = q.filter(
            projects::created_at
                .lt(at)
                .or(projects::created_at.eq(at).and(projects::id.lt(id))),
        );
    }
    let mut rows: Vec<ProjectWithClient> = q
        .order((projects::created_at.desc(), projects::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = work::cut_page(
        scope,
        &mut rows,
        limit,
        |r| (r.created_at, &r.id),
        "project",
    );
    let names = user_names(conn)?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(r, (name, _, _))| view(r, Some(name), &names))
            .collect(),
        next_cursor,
    })
}

pub fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &NewProject,
) -> Result<Project, CrmError> {
    require(scope, Object::Project, &[Action::Create])?;
    let client_name = client_in_scope(conn, scope, &input.client_id)?;
    let name = text::line("name", &input.name, NAME_MAX)?;
    let status = check_status(input.status.as_deref().unwrap_or("planned"))?;
    let starts_on = parse_date("starts_on", input.starts_on.as_deref())?;
    let ends_on = parse_date("ends_on", input.ends_on.as_deref())?;
    check_dates(starts_on, ends_on)?;
    let responsible_id = match input.responsible_id.as_deref().or(scope.user_id()) {
        Some(u) => {
            assignable_user(conn, scope, "responsible_id", u)?;
            Some(u.to_string())
        }
        None => None,
    };
    let now = ctx.env.now().naive_utc();
    let row = ProjectRow {
        id: ctx.env.new_id()?.to_string(),
        client_id: input.client_id.clone(),
        name,
        status,
        starts_on,
        ends_on,
        responsible_id,
        created_by: scope.user_id().map(str::to_string),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(projects::table)
        .values(&row)
        .execute(conn)?;
    let names = user_names(conn)?;
    Ok(view(row, Some(client_name), &names))
}

pub fn update(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    patch: &ProjectPatch,
) -> Result<(Project, Vec<&'static str>), CrmError> {
    require(scope, Object::Project, &[Action::Update])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    let name = match &patch.name {
        Some(n) => text::line("name", n, NAME_MAX)?,
        None => row.name.clone(),
    };
    let status = match &patch.status {
        Some(s) => check_status(s)?,
        None => row.status.clone(),
    };
    let starts_on = match &patch.starts_on {
        Some(d) => parse_date("starts_on", Some(d))?,
        None => row.starts_on,
    };
    let ends_on = match &patch.ends_on {
        Some(d) => parse_date("ends_on", Some(d))?,
        None => row.ends_on,
    };
    check_dates(starts_on, ends_on)?;
    let responsible_id = match &patch.responsible_id {
        Some(u) if Some(u) != row.responsible_id.as_ref() => {
            assignable_user(conn, scope, "responsible_id", u)?;
            Some(u.clone())
        }
        _ => row.responsible_id.clone(),
    };
    let mut fields = Vec::new();
    for (field, changed) in [
        ("name", name != row.name),
        ("status", status != row.status),
        ("starts_on", starts_on != row.starts_on),
        ("ends_on", ends_on != row.ends_on),
        ("responsible", responsible_id != row.responsible_id),
    ] {
        if changed {
            fields.push(field);
        }
    }
    let now = ctx.env.now().naive_utc();
    if !fields.is_empty() {
        diesel::update(projects::table.filter(projects::id.eq(&row.id)))
            .set((
                projects::name.eq(&name),
                projects::status.eq(&status),
                projects::starts_on.eq(starts_on),
                projects::ends_on.eq(ends_on),
                projects::responsible_id.eq(&responsible_id),
                projects::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let (row, _) = load_in_scope(conn, scope, &row.id)?;
    let names = user_names(conn)?;
    Ok((view(row, Some(client_name), &names), fields))
}
