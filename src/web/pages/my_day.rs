//! "My day": the caller's overdue and today's tasks, the newest leads nobody
//! has contacted, and notifications; plus the task forms (done, the card's
//! "call back tomorrow at 10" and new task). Times are kept in UTC and read and
//! written in the reader's zone: the browser's, which `static/work.js` puts in
//! each form's `tz` field, else the business's (`crm.time_zone`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::{Action, GateError, Object};
use crate::crm::tasks::{NewTask, Task, TaskPatch, TaskQuery, TaskState};
use crate::i18n::Localizer;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/my-day", web::get().to(page))
        .route("/my-day/read", web::post().to(read_all))
        .route("/my-day/email", web::post().to(set_email))
        .route("/tasks/{id}/done", web::post().to(done))
        .route("/clients/{id}/callback", web::post().to(callback))
        .route("/clients/{id}/tasks", web::post().to(new_task));
}

/// The zone a form was filled in: the browser's when it sent a valid one.
pub(super) fn zone(state: &AppState, tz: &str) -> Tz {
    tz.trim()
        .parse::<Tz>()
        .unwrap_or_else(|_| state.config.time_zone())
}

/// A local wall-clock time in `zone` as UTC (in a DST gap, the first valid
/// time after it).
fn to_utc(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// 10:00 tomorrow in `zone`, as seen at `now`.
pub fn tomorrow_at_ten(zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let today: NaiveDate = now.with_timezone(&zone).date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    to_utc(
        zone,
        tomorrow.and_time(NaiveTime::MIN) + Duration::hours(10),
    )
}

/// A task as a list line.
pub(super) struct TaskLine {
    pub id: String,
    pub title: String,
    pub due: super::audit::Stamp,
    pub priority: String,
    pub priority_class: &'static str,
    pub overdue: bool,
    pub client: Option<(String, String)>,
}

pub(super) fn task_lines(t: &Localizer, tasks: &[Task]) -> Vec<TaskLine> {
    tasks
        .iter()
        .map(|task| TaskLine {
            id: task.id.clone(),
            title: task.title.clone(),
            due: super::audit::stamp(t, &task.due_at),
            priority: t.t(&format!("task-priority-{}", task.priority.as_str())),
            priority_class: task.priority.as_str(),
            overdue: task.overdue,
            client: task.client.as_ref().and_then(|c| {
                c.name
                    .clone()
                    .map(|n| (n, format!("/clients/{}", urlencoding::encode(&c.id))))
            }),
        })
        .collect()
}

struct NoteLine {
    title: String,
    escalation: bool,
    read: bool,
    at: super::audit::Stamp,
}

struct LeadLine {
    name: String,
    href: String,
    at: super::audit::Stamp,
}

#[derive(Template)]
#[template(path = "my_day.html")]
struct DayPage {
    c: Chrome,
    overdue: Vec<TaskLine>,
    today: Vec<TaskLine>,
    leads: Vec<LeadLine>,
    notes: Vec<NoteLine>,
    unread: i64,
    email: String,
    notice: Option<String>,
    error: Option<String>,
    /// Where a task's "done" goes back to (see `back_to`).
    task_back: String,
}

#[derive(Deserialize, Default)]
struct DayParams {
    #[serde(default)]
    done: String,
}

/// An empty section instead of an error when the role lacks that power.
fn or_empty<T: Default>(r: Result<T, GateError>) -> Result<T, ApiError> {
    match r {
        Ok(v) => Ok(v),
        Err(GateError::Forbidden) => Ok(T::default()),
        Err(e) => Err(e.into()),
    }
}

async fn day_page(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let now = state.env.now();
    let zone = state.config.time_zone();
    let end_of_today = to_utc(
        zone,
        now.with_timezone(&zone)
            .date_naive()
            .and_time(NaiveTime::MIN)
            + Duration::days(1),
    );
    let query = TaskQuery {
        state: Some(TaskState::Open),
        assignee_id: Some(authed.actor.user_id.clone()),
        due_before: Some(end_of_today.to_rfc3339()),
        limit: Some(100),
        ..TaskQuery::default()
    };
    let tasks = or_empty(
        state
            .gate
            .list_tasks(&authed.actor, &meta.0, query)
            .await
            .map(|p| p.items),
    )?;
    let (overdue, today): (Vec<Task>, Vec<Task>) = tasks.into_iter().partition(|x| x.overdue);
    let leads = or_empty(state.gate.new_leads(&authed.actor, &meta.0, 10).await)?;
    let inbox = match state.gate.inbox(&authed.actor, &meta.0, false).await {
        Ok(i) => Some(i),
        Err(GateError::Forbidden) => None,
        Err(e) => return Err(e.into()),
    };
    let email = match state
        .gate
        .notification_settings(&authed.actor, &meta.0)
        .await
    {
        Ok(s) => s.email.unwrap_or_default(),
        Err(GateError::Forbidden) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let (unread, notes) = match inbox {
        Some(i) => (
            i.unread,
            i.items
                .iter()
                .map(|n| NoteLine {
                    title: n.title.clone(),
                    escalation: n.kind == "escalation",
                    read: n.read,
                    at: super::audit::stamp(&t, &n.created_at),
                })
                .collect(),
        ),
        None => (0, vec![]),
    };
    let page = DayPage {
        overdue: task_lines(&t, &overdue),
        today: task_lines(&t, &today),
        leads: leads
            .iter()
            .map(|c| LeadLine {
                name: c.name.clone(),
                href: format!("/clients/{}", urlencoding::encode(&c.id)),
                at: super::audit::stamp(&t, &c.created_at),
            })
            .collect(),
        notes,
        unread,
        email,
        notice,
        error,
        task_back: String::new(),
        c: chrome(state, t, authed),
    };
    render(StatusCode::OK, &page)
}

async fn page(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    params: web::Query<DayParams>,
) -> Result<HttpResponse, ApiError> {
    let notice = match params.done.as_str() {
        "task" => Some(lang.0.t("notice-task-done")),
        "read" => Some(lang.0.t("notice-notifications-read")),
        "email" => Some(lang.0.t("notice-email-saved")),
        _ => None,
    };
    day_page(&state, &authed, &meta, lang.0, notice, None).await
}

#[derive(Deserialize)]
struct DoneForm {
    /// `card:<client id>` to go back to that card; else "my day".
    #[serde(default)]
    back: String,
}

/// Where "done" returns to: `card:ID` (a client card), `project:ID`, else my day.
/// Only well-formed ids are followed, so the field cannot redirect elsewhere.
fn back_to(back: &str) -> String {
    let (kind, id) = back.split_once(':').unwrap_or(("", ""));
    if uuid::Uuid::parse_str(id).is_err() {
        return "/my-day?done=task".into();
    }
    match kind {
        "card" => format!("/clients/{id}?done=task#tasks"),
        "project" => format!("/projects/{id}?done=task#tasks"),
        _ => "/my-day?done=task".into(),
    }
}

async fn done(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    form: web::Form<DoneForm>,
) -> Result<HttpResponse, ApiError> {
    let patch = TaskPatch {
        done: Some(true),
        ..TaskPatch::default()
    };
    state
        .gate
        .update_task(&authed.actor, &meta.0, &id, patch)
        .await?;
    Ok(see_other(&back_to(&form.back)))
}

async fn read_all(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    state.gate.mark_read(&authed.actor, &meta.0, None).await?;
    Ok(see_other("/my-day?done=read"))
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn set_email(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, ApiError> {
    let email = Some(form.email.clone()).filter(|e| !e.trim().is_empty());
    match state
        .gate
        .set_notification_email(&authed.actor, &meta.0, email)
        .await
    {
        Ok(_) => Ok(see_other("/my-day?done=email")),
        Err(GateError::Invalid { msg, .. }) => {
            let message = lang.0.msg(&msg);
            day_page(&state, &authed, &meta, lang.0, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CallbackForm {
    #[serde(default)]
    tz: String,
}

/// "Call back tomorrow at 10" from the card: one press.
async fn callback(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, ApiError> {
    let due = tomorrow_at_ten(zone(&state, &form.tz), state.env.now());
    let input = NewTask {
        title: lang.0.t("task-callback-title"),
        notes: None,
        due_at: due.to_rfc3339(),
        priority: None,
        assignee_id: None,
        client_id: Some(id.to_string()),
        deal_id: None,
        project_id: None,
    };
    state
        .gate
        .create_task(&authed.actor, &meta.0, input)
        .await?;
    Ok(see_other(&format!(
        "/clients/{}?done=callback#tasks",
        urlencoding::encode(&id)
    )))
}

#[derive(Deserialize)]
pub(super) struct TaskForm {
    #[serde(default)]
    title: String,
    /// `YYYY-MM-DDTHH:MM` from a datetime-local field, in `tz`.
    #[serde(default)]
    due: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    tz: String,
}

#[derive(Template)]
#[template(path = "task_form.html")]
struct TaskFormPage {
    c: Chrome,
    action: String,
    back: String,
    title: String,
    due: String,
    priority: String,
    tz: String,
    field: String,
    message: String,
}

/// A task from the card's small form. A refused form comes back with what was
/// typed and the message.
async fn new_task(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<TaskForm>,
) -> Result<HttpResponse, ApiError> {
    let href = format!("/clients/{}", urlencoding::encode(&id));
    let target = TaskTarget {
        client_id: Some(id.into_inner()),
        project_id: None,
        href,
    };
    add_task(&state, &authed, &meta, lang.0, target, form.into_inner()).await
}

/// What a task form is attached to, and the page it came from.
pub(super) struct TaskTarget {
    pub client_id: Option<String>,
    pub project_id: Option<String>,
    /// The page to go back to (and where its form posts to, under `/tasks`).
    pub href: String,
}

pub(super) async fn add_task(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    target: TaskTarget,
    form: TaskForm,
) -> Result<HttpResponse, ApiError> {
    let href = target.href;
    let refused = |field: String, message: String, form: TaskForm, t: Localizer| TaskFormPage {
        action: format!("{href}/tasks"),
        back: href.clone(),
        title: form.title,
        due: form.due,
        priority: form.priority,
        tz: form.tz,
        field,
        message,
        c: chrome(state, t, authed),
    };
    let Ok(local) = NaiveDateTime::parse_from_str(form.due.trim(), "%Y-%m-%dT%H:%M") else {
        let message = t.msg(&crate::i18n::Msg::new("invalid-datetime"));
        return render(StatusCode::OK, &refused("due".into(), message, form, t));
    };
    let due = to_utc(zone(state, &form.tz), local);
    let input = NewTask {
        title: form.title.clone(),
        notes: None,
        due_at: due.to_rfc3339(),
        priority: Some(form.priority.clone()),
        assignee_id: None,
        client_id: target.client_id,
        deal_id: None,
        project_id: target.project_id,
    };
    match state.gate.create_task(&authed.actor, &meta.0, input).await {
        Ok(_) => Ok(see_other(&format!("{href}?done=task-added#tasks"))),
        Err(GateError::Invalid { field, msg }) => {
            let message = t.msg(&msg);
            render(StatusCode::OK, &refused(field, message, form, t))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the card offers task forms and shows its tasks.
pub(super) fn can_task(state: &AppState, authed: &Authed) -> bool {
    state.gate.can(&authed.actor, Object::Task, Action::Create)
}

/// The client's open tasks the caller may see (none when tasks are not theirs
/// to see).
pub(super) async fn client_tasks(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: &Localizer,
    client_id: &str,
) -> Result<Vec<TaskLine>, ApiError> {
    if !state.gate.can(&authed.actor, Object::Task, Action::List) {
        return Ok(vec![]);
    }
    let query = TaskQuery {
        state: Some(TaskState::Open),
        client_id: Some(client_id.to_string()),
        limit: Some(50),
        ..TaskQuery::default()
    };
    let page = state.gate.list_tasks(&authed.actor, &meta.0, query).await?;
    Ok(task_lines(t, &page.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_work_pages_is_translated() {
        let defined = crate::i18n::english_keys();
        let sources = [
            include_str!("my_day.rs"),
            include_str!("pipeline.rs"),
            include_str!("../../../templates/my_day.html"),
            include_str!("../../../templates/task_line.html"),
            include_str!("../../../templates/pipeline.html"),
            include_str!("../../../templates/deal.html"),
            include_str!("../../../templates/deal_form.html"),
            include_str!("../../../templates/task_form.html"),
            include_str!("../../../src/crm/work.rs"),
            include_str!("../../../src/crm/deals.rs"),
            include_str!("../../../src/crm/tasks.rs"),
            include_str!("../../../src/crm/invoices.rs"),
            include_str!("../../../src/crm/projects.rs"),
            include_str!("invoices.rs"),
            include_str!("projects.rs"),
            include_str!("../../../templates/project.html"),
            include_str!("../../../templates/task_new_form.html"),
            include_str!("../../../templates/invoice_print.html"),
            include_str!("../../../templates/client_billing.html"),
            include_str!("../../../templates/billing_refused.html"),
        ];
        let mut missing = vec![];
        for src in sources {
            for opener in [".t(\"", ".t1(\"", "Msg::new(\""] {
                for (i, _) in src.match_indices(opener) {
                    let rest = &src[i + opener.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    let is_key = key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if is_key && !key.ends_with('-') && !defined.contains(key) {
                        missing.push(key.to_string());
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the .ftl files: {missing:?}"
        );
    }

    #[test]
    fn tomorrow_at_ten_is_in_the_readers_zone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 21, 30, 0).unwrap();
        let tbilisi: Tz = "Asia/Tbilisi".parse().unwrap();
        // 01:30 on the 23rd in Tbilisi (UTC+4): "tomorrow" is the 24th.
        assert_eq!(
            tomorrow_at_ten(tbilisi, now),
            Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap()
        );
        assert_eq!(
            tomorrow_at_ten(chrono_tz::UTC, now),
            Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
        );
    }
}
