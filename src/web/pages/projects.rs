//! A project's own page: its status, dates and responsible person, the edit
//! form, and the project's tasks with a form to add one. Everything is read and
//! written through the gate (project and task rules, each audited).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::clients::chrome;
use super::my_day::{TaskForm, TaskLine, TaskTarget, add_task, task_lines};
use super::{Chrome, render, see_other};
use crate::access::{Action, GateError, Object};
use crate::crm::projects::{Project, ProjectPatch, STATUSES};
use crate::crm::tasks::{TaskQuery, TaskState};
use crate::i18n::Localizer;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{id}", web::get().to(page))
        .route("/projects/{id}", web::post().to(edit))
        .route("/projects/{id}/tasks", web::post().to(new_task));
}

/// How many of the project's tasks the page lists (open and done each).
const TASKS_SHOWN: u32 = 100;

pub(super) fn project_href(id: &str) -> String {
    format!("/projects/{}", urlencoding::encode(id))
}

struct StatusOption {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    c: Chrome,
    href: String,
    name: String,
    status: String,
    starts: String,
    ends: String,
    responsible: String,
    client: String,
    client_href: String,
    /// The edit form's values (what was typed, after a refusal).
    form: EditForm,
    statuses: Vec<StatusOption>,
    can_edit: bool,
    can_task: bool,
    open: Vec<TaskLine>,
    done: Vec<TaskLine>,
    task_back: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
}

impl EditForm {
    fn of(p: &Project) -> EditForm {
        EditForm {
            name: p.name.clone(),
            status: p.status.clone(),
            starts_on: p.starts_on.map(|d| d.to_string()).unwrap_or_default(),
            ends_on: p.ends_on.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: String,
}

async fn page(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    params: web::Query<Done>,
) -> Result<HttpResponse, ApiError> {
    let notice = match params.done.as_str() {
        "saved" => Some(lang.0.t("notice-project-saved")),
        "task" | "task-added" => Some(lang.0.t("notice-project-task")),
        _ => None,
    };
    show(&state, &authed, &meta, lang.0, &id, notice, None).await
}

async fn show(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    id: &str,
    notice: Option<String>,
    refused: Option<(String, EditForm)>,
) -> Result<HttpResponse, ApiError> {
    let p = state.gate.project(&authed.actor, &meta.0, id).await?;
    let can_task = state.gate.can(&authed.actor, Object::Task, Action::Create);
    let (open, done) = if state.gate.can(&authed.actor, Object::Task, Action::List) {
        let list = |s| TaskQuery {
            state: Some(s),
            project_id: Some(p.id.clone()),
            limit: Some(TASKS_SHOWN),
            ..TaskQuery::default()
        };
        let open = state
            .gate
            .list_tasks(&authed.actor, &meta.0, list(TaskState::Open))
            .await?;
        let done = state
            .gate
            .list_tasks(&authed.actor, &meta.0, list(TaskState::Done))
            .await?;
        (task_lines(&t, &open.items), task_lines(&t, &done.items))
    } else {
        (vec![], vec![])
    };
    let (error, form) = match refused {
        Some((e, f)) => (Some(e), f),
        None => (None, EditForm::of(&p)),
    };
    let statuses = STATUSES
        .iter()
        .map(|&s| StatusOption {
            value: s,
            label: t.t(&format!("project-status-{s}")),
            selected: s == form.status,
        })
        .collect();
    let page = ProjectPage {
        href: project_href(&p.id),
        status: t.t(&format!("project-status-{}", p.status)),
        starts: p.starts_on.map(|d| d.to_string()).unwrap_or_default(),
        ends: p.ends_on.map(|d| d.to_string()).unwrap_or_default(),
        responsible: p
            .responsible
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        client: p.client.name.clone().unwrap_or_default(),
        client_href: format!("/clients/{}", urlencoding::encode(&p.client.id)),
        can_edit: state
            .gate
            .can(&authed.actor, Object::Project, Action::Update),
        can_task,
        open,
        done,
        task_back: format!("project:{}", p.id),
        notice,
        statuses,
        form,
        name: p.name,
        error,
        c: chrome(state, t, authed),
    };
    // A refused form is shown with its message; the envelope middleware would
    // replace a 4xx body with its error page.
    render(StatusCode::OK, &page)
}

async fn edit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let patch = ProjectPatch {
        name: Some(form.name.clone()),
        status: Some(form.status.clone()),
        starts_on: Some(form.starts_on.clone()),
        ends_on: Some(form.ends_on.clone()),
        responsible_id: None,
    };
    match state
        .gate
        .update_project(&authed.actor, &meta.0, &id, patch)
        .await
    {
        Ok(p) => Ok(see_other(&format!("{}?done=saved", project_href(&p.id)))),
        Err(GateError::Invalid { field, msg }) => {
            let message = format!("{field}: {}", lang.0.msg(&msg));
            show(
                &state,
                &authed,
                &meta,
                lang.0,
                &id,
                None,
                Some((message, form)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn new_task(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<TaskForm>,
) -> Result<HttpResponse, ApiError> {
    let target = TaskTarget {
        client_id: None,
        href: project_href(&id),
        project_id: Some(id.into_inner()),
    };
    add_task(&state, &authed, &meta, lang.0, target, form.into_inner()).await
}
