//! Client pages: list with search and filters, card with timeline, forms.
//!
//! Everything goes through `state.gate`, like the JSON API: the pages add no
//! access rules of their own, they only hide buttons the role cannot use. A form
//! that fails validation is shown again with the user's input and the message
//! next to the field; a form that succeeds answers `303 See Other`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::{Chrome, render, see_other};
use crate::access::{Action, GateError, Object};
use crate::crm::types::{
    Client, ClientKind, ClientPatch, Contact, ContactInput, Deal, Direction, ListQuery, NewClient,
    Page, Status, TimelineEntry, TimelineInput,
};
use crate::i18n::Localizer;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `/clients/new` before `/clients/{id}`: resources match in this order.
    cfg.service(
        web::resource("/clients")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/clients/new", web::get().to(new_form))
    .service(
        web::resource("/clients/{id}")
            .route(web::get().to(card))
            .route(web::post().to(update)),
    )
    .route("/clients/{id}/edit", web::get().to(edit_form))
    .route("/clients/{id}/delete", web::post().to(delete))
    .route("/clients/{id}/restore", web::post().to(restore))
    .route("/clients/{id}/notes", web::post().to(add_note))
    .route("/clients/{id}/calls", web::post().to(log_call));
}

/// The status of a form shown again with validation messages. It would be 422,
/// but the envelope middleware replaces the body of every 4xx response that
/// carries no `ApiError` with a generic error page, which would lose the form.
const FORM_ERROR: StatusCode = StatusCode::OK;

/// Timeline entries per card page.
const TIMELINE_PAGE: u32 = 20;

pub(super) fn chrome(state: &AppState, t: Localizer, authed: &Authed) -> Chrome {
    Chrome {
        t,
        user: Some(authed.actor.display_name.clone()),
        csrf: authed.csrf_token.clone(),
        audit_nav: state.gate.can(&authed.actor, Object::Audit, Action::Read),
        reports_nav: state.gate.can(&authed.actor, Object::Report, Action::Read),
    }
}

fn client_href(id: &str) -> String {
    format!("/clients/{}", urlencoding::encode(id))
}

/// A message that belongs next to one form field (or above the form when the
/// field is not one the form shows).
struct FieldError {
    field: &'static str,
    message: String,
}

fn find_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// A domain validation error as (domain field name, message for the reader);
/// any other error is passed on. The one place that reads `GateError::Invalid`.
fn invalid(t: &Localizer, e: GateError) -> Result<(String, String), ApiError> {
    match e {
        GateError::Invalid { field, msg } => Ok((field, t.msg(&msg))),
        other => Err(other.into()),
    }
}

/// Browsers send textarea line breaks as CRLF; store what the user saw (LF).
fn from_textarea(s: &str) -> String {
    s.replace("\r\n", "\n")
}

fn blank_to_none(s: &str) -> Option<String> {
    if s.trim().is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

fn flag(s: &str) -> bool {
    !matches!(s.trim(), "" | "0" | "false" | "off")
}

fn timestamp(t: &Localizer, at: &DateTime<Utc>) -> Stamp {
    Stamp {
        text: t.t1("time-utc", "time", at.format("%Y-%m-%d %H:%M")),
        iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// A time as shown (UTC, localised by `app.js` when scripts run) and as ISO 8601.
struct Stamp {
    text: String,
    iso: String,
}

async fn load_statuses(state: &AppState) -> Result<Vec<Status>, ApiError> {
    state
        .store
        .run(|conn| {
            crate::crm::statuses::list(conn)
                .map_err(|e| ApiError::Internal(format!("statuses: {e}")))
        })
        .await
}

fn status_labels(statuses: &[Status]) -> HashMap<String, String> {
    statuses
        .iter()
        .map(|s| (s.code.clone(), s.label.clone()))
        .collect()
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// The statuses a form offers: the active ones, plus the current one if it was
/// taken out of the list since.
fn status_choices(statuses: &[Status], current: &str, only_active: bool) -> Vec<Choice> {
    statuses
        .iter()
        .filter(|s| !only_active || s.active || s.code == current)
        .map(|s| Choice {
            value: s.code.clone(),
            label: s.label.clone(),
            selected: s.code == current,
        })
        .collect()
}

fn kind_choices(t: &Localizer, current: &str) -> Vec<Choice> {
    [ClientKind::Person, ClientKind::Company]
        .into_iter()
        .map(|k| Choice {
            value: k.as_str().to_string(),
            label: kind_label(t, k),
            selected: k.as_str() == current,
        })
        .collect()
}

fn kind_label(t: &Localizer, kind: ClientKind) -> String {
    match kind {
        ClientKind::Person => t.t("client-kind-person"),
        ClientKind::Company => t.t("client-kind-company"),
    }
}

// ---------------------------------------------------------------------------
// List

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    duplicates: String,
    #[serde(default)]
    deleted: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
}

struct Row {
    id: String,
    href: String,
    name: String,
    company: String,
    status: String,
    updated: Stamp,
    duplicate: bool,
    /// Masked first phone and email.
    phone: String,
    email: String,
}

#[derive(Template)]
#[template(path = "clients_list.html")]
struct ListPage {
    c: Chrome,
    q: String,
    tag: String,
    statuses: Vec<Choice>,
    duplicates: bool,
    deleted: bool,
    can_create: bool,
    can_restore: bool,
    can_reveal: bool,
    filtered: bool,
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    /// Team leads and owners import clients from CSV.
    can_import: bool,
}

/// `/clients` with the filters (not the cursor) of the current view.
fn list_href(p: &ListParams, duplicates: bool, deleted: bool, cursor: Option<&str>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("q", &p.q), ("status", &p.status), ("tag", &p.tag)] {
        if !value.is_empty() {
            s.append_pair(key, value);
        }
    }
    if duplicates {
        s.append_pair("duplicates", "1");
    }
    if deleted {
        s.append_pair("deleted", "1");
    }
    if let Some(c) = cursor {
        s.append_pair("cursor", c);
    }
    let query = s.finish();
    if query.is_empty() {
        "/clients".to_string()
    } else {
        format!("/clients?{query}")
    }
}

async fn list(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let t = lang.0;
    let duplicates = flag(&p.duplicates);
    let deleted = flag(&p.deleted);
    let statuses = load_statuses(&state).await?;
    let labels = status_labels(&statuses);
    let query = ListQuery {
        q: blank_to_none(&p.q),
        status: blank_to_none(&p.status),
        tag: blank_to_none(p.tag.trim()),
        owner_id: None,
        duplicates: Some(duplicates),
        deleted: Some(deleted),
        limit: None,
        cursor: blank_to_none(&p.cursor),
    };
    let (page, error, status) = match state.gate.list_clients(&authed.actor, &meta.0, query).await {
        Ok(page) => (page, None, StatusCode::OK),
        Err(e) => {
            let (field, message) = invalid(&t, e)?;
            let label = match field.as_str() {
                "q" => t.t("clients-search"),
                "cursor" => t.t("clients-page"),
                other => other.to_string(),
            };
            (
                Page {
                    items: vec![],
                    next_cursor: None,
                },
                Some(format!("{label}: {message}")),
                FORM_ERROR,
            )
        }
    };
    let rows = page
        .items
        .iter()
        .map(|c| Row {
            id: c.id.clone(),
            href: client_href(&c.id),
            name: c.name.clone(),
            company: c.company.clone().unwrap_or_default(),
            status: labels.get(&c.status).cloned().unwrap_or(c.status.clone()),
            updated: timestamp(&t, &c.updated_at),
            duplicate: c.possible_duplicate,
            phone: c.phone.clone().unwrap_or_default(),
            email: c.email.clone().unwrap_or_default(),
        })
        .collect();
    let notice = match p.done.as_str() {
        "deleted" => Some(t.t("notice-deleted")),
        _ => None,
    };
    let next_href = page
        .next_cursor
        .as_deref()
        .map(|c| list_href(&p, duplicates, deleted, Some(c)));
    let first_href = (!p.cursor.is_empty()).then(|| list_href(&p, duplicates, deleted, None));
    let filtered = !p.q.trim().is_empty()
        || !p.status.is_empty()
        || !p.tag.trim().is_empty()
        || duplicates
        || deleted;
    let mut status_options = status_choices(&statuses, &p.status, false);
    status_options.insert(
        0,
        Choice {
            value: String::new(),
            label: t.t("clients-any-status"),
            selected: p.status.is_empty(),
        },
    );
    let can_create = state
        .gate
        .can(&authed.actor, Object::Client, Action::Create);
    let can_restore = state
        .gate
        .can(&authed.actor, Object::Client, Action::Restore);
    let can_reveal = state
        .gate
        .can(&authed.actor, Object::Client, Action::Reveal);
    render(
        status,
        &ListPage {
            can_import: state
                .gate
                .can(&authed.actor, Object::Client, Action::Import),
            c: chrome(&state, t, &authed),
            q: p.q.clone(),
            tag: p.tag.clone(),
            statuses: status_options,
            duplicates,
            deleted,
            can_create,
            can_restore,
            can_reveal,
            filtered,
            rows,
            next_href,
            first_href,
            error,
            notice,
        },
    )
}

// ---------------------------------------------------------------------------
// New and edit forms

/// The client form as typed; the `orig_*` fields (edit only) hold the values the
/// form was rendered with, so only fields the user changed are sent.
#[derive(Deserialize, Default, Clone)]
struct ClientForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    phones: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    orig_kind: String,
    #[serde(default)]
    orig_name: String,
    #[serde(default)]
    orig_company: String,
    #[serde(default)]
    orig_status: String,
    #[serde(default)]
    orig_source: String,
    #[serde(default)]
    orig_address: String,
    #[serde(default)]
    orig_tags: String,
    #[serde(default)]
    orig_phones: String,
    #[serde(default)]
    orig_emails: String,
}

impl ClientForm {
    /// Line breaks as the user saw them.
    fn normalised(mut self) -> ClientForm {
        for field in [
            &mut self.address,
            &mut self.phones,
            &mut self.emails,
            &mut self.orig_address,
            &mut self.orig_phones,
            &mut self.orig_emails,
        ] {
            *field = from_textarea(field);
        }
        self
    }

    fn from_client(c: &Client) -> ClientForm {
        let mut f = ClientForm {
            kind: c.kind.as_str().to_string(),
            name: c.name.clone(),
            company: c.company.clone().unwrap_or_default(),
            status: c.status.clone(),
            source: c.source.clone().unwrap_or_default(),
            address: c.address.clone().unwrap_or_default(),
            tags: c.tags.join(", "),
            phones: contacts_text(&c.phones),
            emails: contacts_text(&c.emails),
            ..ClientForm::default()
        };
        f.orig_kind = f.kind.clone();
        f.orig_name = f.name.clone();
        f.orig_company = f.company.clone();
        f.orig_status = f.status.clone();
        f.orig_source = f.source.clone();
        f.orig_address = f.address.clone();
        f.orig_tags = f.tags.clone();
        f.orig_phones = f.phones.clone();
        f.orig_emails = f.emails.clone();
        f
    }
}

/// One contact per line; a label may follow a comma (`+995 555 12 34 56, mobile`).
fn contacts_text(contacts: &[Contact]) -> String {
    contacts
        .iter()
        .map(|c| match &c.label {
            Some(label) => format!("{}, {label}", c.value),
            None => c.value.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn contact_lines(text: &str) -> Vec<ContactInput> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once(',') {
            Some((value, label)) if !label.trim().is_empty() => ContactInput::Labelled {
                value: value.trim().to_string(),
                label: Some(label.trim().to_string()),
            },
            Some((value, _)) => ContactInput::Plain(value.trim().to_string()),
            None => ContactInput::Plain(line.to_string()),
        })
        .collect()
}

fn tag_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_kind(t: &Localizer, s: &str) -> Result<ClientKind, FieldError> {
    ClientKind::parse(s).ok_or_else(|| FieldError {
        field: "kind",
        message: t.t("form-kind-invalid"),
    })
}

/// Which form field a domain validation error belongs to.
fn client_field(domain_field: &str) -> &'static str {
    match domain_field {
        "kind" => "kind",
        "name" => "name",
        "company" => "company",
        "status" => "status",
        "source" => "source",
        "address" => "address",
        "tag" | "tags" => "tags",
        "phone" | "phones" | "phone label" => "phones",
        "email" | "emails" | "email label" => "emails",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "client_form.html")]
struct FormPage {
    c: Chrome,
    editing: bool,
    heading: String,
    action: String,
    cancel_href: String,
    form: ClientForm,
    kinds: Vec<Choice>,
    statuses: Vec<Choice>,
    errors: Vec<FieldError>,
    general_error: Option<String>,
}

impl FormPage {
    fn err(&self, field: &str) -> Option<&str> {
        find_error(&self.errors, field)
    }
}

async fn form_page(
    state: &AppState,
    authed: &Authed,
    t: Localizer,
    status: StatusCode,
    editing: Option<(&str, &str)>,
    form: ClientForm,
    errors: Vec<FieldError>,
) -> Result<HttpResponse, ApiError> {
    let statuses = load_statuses(state).await?;
    let status_value = if form.status.is_empty() {
        "new".to_string()
    } else {
        form.status.clone()
    };
    let kind_value = if form.kind.is_empty() {
        "person"
    } else {
        form.kind.as_str()
    };
    let general_error = errors
        .iter()
        .find(|e| e.field.is_empty())
        .map(|e| e.message.clone())
        .or_else(|| (!errors.is_empty()).then(|| t.t("form-fix-errors")));
    let (heading, action, cancel_href) = match editing {
        Some((id, name)) => (
            t.t1("client-edit-title", "name", name),
            client_href(id),
            client_href(id),
        ),
        None => (
            t.t("client-new-title"),
            "/clients".to_string(),
            "/clients".to_string(),
        ),
    };
    render(
        status,
        &FormPage {
            kinds: kind_choices(&t, kind_value),
            statuses: status_choices(&statuses, &status_value, true),
            c: chrome(state, t, authed),
            editing: editing.is_some(),
            heading,
            action,
            cancel_href,
            form,
            errors,
            general_error,
        },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    authed: Authed,
    lang: Lang,
) -> Result<HttpResponse, ApiError> {
    if !state
        .gate
        .can(&authed.actor, Object::Client, Action::Create)
    {
        return Err(ApiError::Forbidden);
    }
    let form = ClientForm {
        kind: "person".into(),
        status: "new".into(),
        ..ClientForm::default()
    };
    form_page(&state, &authed, lang.0, StatusCode::OK, None, form, vec![]).await
}

async fn create(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    form: web::Form<ClientForm>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let form = form.into_inner().normalised();
    let kind = match parse_kind(&t, &form.kind) {
        Ok(k) => k,
        Err(e) => {
            return form_page(&state, &authed, t, FORM_ERROR, None, form, vec![e]).await;
        }
    };
    let input = NewClient {
        kind: Some(kind),
        name: form.name.clone(),
        company: blank_to_none(&form.company),
        status: blank_to_none(&form.status),
        source: blank_to_none(&form.source),
        address: blank_to_none(&form.address),
        tags: tag_list(&form.tags),
        phones: contact_lines(&form.phones),
        emails: contact_lines(&form.emails),
        owner_id: None,
    };
    match state
        .gate
        .create_client(&authed.actor, &meta.0, input)
        .await
    {
        Ok(created) => Ok(see_other(&format!(
            "{}?done=created",
            client_href(&created.client.id)
        ))),
        Err(e) => {
            let (field, message) = invalid(&t, e)?;
            let e = FieldError {
                field: client_field(&field),
                message,
            };
            form_page(&state, &authed, t, FORM_ERROR, None, form, vec![e]).await
        }
    }
}

async fn edit_form(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !state
        .gate
        .can(&authed.actor, Object::Client, Action::Update)
    {
        return Err(ApiError::Forbidden);
    }
    let card = state.gate.client_card(&authed.actor, &meta.0, &id).await?;
    let form = ClientForm::from_client(&card.client);
    form_page(
        &state,
        &authed,
        lang.0,
        StatusCode::OK,
        Some((&card.client.id, &card.client.name)),
        form,
        vec![],
    )
    .await
}

/// The fields the user changed; untouched fields are left out, so a concurrent
/// edit of another field is not overwritten and the history lists real changes.
fn patch_from(form: &ClientForm, kind: ClientKind) -> ClientPatch {
    let changed = |new: &str, orig: &str| new != orig;
    ClientPatch {
        kind: changed(&form.kind, &form.orig_kind).then_some(kind),
        name: changed(&form.name, &form.orig_name).then(|| form.name.clone()),
        company: changed(&form.company, &form.orig_company).then(|| blank_to_none(&form.company)),
        status: (changed(&form.status, &form.orig_status) && !form.status.is_empty())
            .then(|| form.status.clone()),
        source: changed(&form.source, &form.orig_source).then(|| blank_to_none(&form.source)),
        address: changed(&form.address, &form.orig_address).then(|| blank_to_none(&form.address)),
        tags: changed(&form.tags, &form.orig_tags).then(|| tag_list(&form.tags)),
        phones: changed(&form.phones, &form.orig_phones).then(|| contact_lines(&form.phones)),
        emails: changed(&form.emails, &form.orig_emails).then(|| contact_lines(&form.emails)),
        owner_id: None,
    }
}

async fn update(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<ClientForm>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let form = form.into_inner().normalised();
    let id = id.into_inner();
    // The heading shows the name the card had; the input may be what failed.
    let shown_name = if form.orig_name.is_empty() {
        form.name.clone()
    } else {
        form.orig_name.clone()
    };
    let kind = match parse_kind(&t, &form.kind) {
        Ok(k) => k,
        Err(e) => {
            return form_page(
                &state,
                &authed,
                t,
                FORM_ERROR,
                Some((&id, &shown_name)),
                form,
                vec![e],
            )
            .await;
        }
    };
    let patch = patch_from(&form, kind);
    match state
        .gate
        .update_client(&authed.actor, &meta.0, &id, patch)
        .await
    {
        Ok(client) => Ok(see_other(&format!(
            "{}?done=saved",
            client_href(&client.id)
        ))),
        Err(e) => {
            let (field, message) = invalid(&t, e)?;
            let e = FieldError {
                field: client_field(&field),
                message,
            };
            form_page(
                &state,
                &authed,
                t,
                FORM_ERROR,
                Some((&id, &shown_name)),
                form,
                vec![e],
            )
            .await
        }
    }
}

async fn delete(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .gate
        .delete_client(&authed.actor, &meta.0, &id)
        .await?;
    Ok(see_other("/clients?done=deleted"))
}

async fn restore(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = state
        .gate
        .restore_client(&authed.actor, &meta.0, &id)
        .await?;
    Ok(see_other(&format!(
        "{}?done=restored",
        client_href(&client.id)
    )))
}

// ---------------------------------------------------------------------------
// Card

#[derive(Deserialize, Default)]
struct CardParams {
    /// Timeline cursor: show entries older than this.
    #[serde(default)]
    before: String,
    #[serde(default)]
    done: String,
}

struct ContactView {
    value: String,
    href: String,
    label: Option<String>,
}

struct DealView {
    href: String,
    title: String,
    amount: String,
    stage: String,
    expected_close: Option<String>,
}

struct EntryView {
    /// A known kind (used as a CSS class), or `other`.
    kind: &'static str,
    title: String,
    author: Option<String>,
    at: Stamp,
    subject: Option<String>,
    body: Option<String>,
    /// Old → new, for status and owner changes.
    change: Option<(String, String)>,
    facts: Vec<String>,
    recording_url: Option<String>,
}

/// The note and call forms as typed, with their errors (for a re-render).
#[derive(Deserialize, Default)]
struct NoteForm {
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
struct CallForm {
    #[serde(default = "outbound")]
    direction: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    body: String,
}

fn outbound() -> String {
    "outbound".into()
}

impl Default for CallForm {
    fn default() -> Self {
        CallForm {
            direction: outbound(),
            minutes: String::new(),
            outcome: String::new(),
            body: String::new(),
        }
    }
}

#[derive(Default)]
struct CardForms {
    note: NoteForm,
    call: CallForm,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "client_card.html")]
struct CardPage {
    c: Chrome,
    href: String,
    name: String,
    company: Option<String>,
    kind: String,
    status_code: String,
    status: String,
    source: Option<String>,
    address: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    tags: Vec<(String, String)>,
    phones: Vec<ContactView>,
    emails: Vec<ContactView>,
    /// Flagged as a possible duplicate; the link only when the other card is visible.
    duplicate: bool,
    duplicate_href: Option<String>,
    created: Stamp,
    updated: Stamp,
    deals: Vec<DealView>,
    timeline: Vec<EntryView>,
    more_href: Option<String>,
    newest_href: Option<String>,
    can_edit: bool,
    can_delete: bool,
    can_write: bool,
    notice: Option<String>,
    outcomes: Vec<String>,
    forms: CardForms,
    /// Who touched this client (owners only): rows and the link to all of them.
    history: Option<Vec<super::audit::EventRow>>,
    /// Older parts of the log were not searched for this card.
    history_more: bool,
    history_href: String,
    /// The client's open tasks the reader may see, and the task forms.
    tasks: Vec<super::my_day::TaskLine>,
    can_task: bool,
    can_deal: bool,
    /// Projects, invoices, payments and balance (`templates/client_billing.html`).
    billing: Option<super::invoices::CardBilling>,
    task_back: String,
}

impl CardPage {
    fn err(&self, field: &str) -> Option<&str> {
        find_error(&self.forms.errors, field)
    }
}

/// Digits grouped, at least two decimals, then the currency code.
fn money(t: &Localizer, amount: rust_decimal::Decimal, currency: &str) -> String {
    let mut a = amount;
    if a.scale() < 2 {
        a.rescale(2);
    }
    let text = a.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let group = t.t("number-group");
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push_str(&group);
        }
        grouped.push(ch);
    }
    let sign = if a.is_sign_negative() && !a.is_zero() {
        "-"
    } else {
        ""
    };
    let decimal = if frac.is_empty() {
        String::new()
    } else {
        format!("{}{frac}", t.t("number-decimal"))
    };
    format!("{sign}{grouped}{decimal} {currency}")
}

fn duration(t: &Localizer, secs: i32) -> String {
    let secs = i64::from(secs.max(0));
    let (m, s) = (secs / 60, secs % 60);
    match (m, s) {
        (0, s) => t.tn("duration-seconds", "n", s),
        (m, 0) => t.tn("duration-minutes", "n", m),
        (m, s) => format!(
            "{} {}",
            t.tn("duration-minutes", "n", m),
            t.tn("duration-seconds", "n", s)
        ),
    }
}

fn entry_view(t: &Localizer, labels: &HashMap<String, String>, e: TimelineEntry) -> EntryView {
    let status_label = |code: &Option<String>| {
        code.as_ref()
            .map(|c| labels.get(c).cloned().unwrap_or(c.clone()))
            .unwrap_or_else(|| t.t("tl-none"))
    };
    let (kind, title, change) = match e.kind.as_str() {
        "note" => ("note", t.t("tl-note"), None),
        "call" => (
            "call",
            match e.call_direction.as_deref() {
                Some("inbound") => t.t("tl-call-inbound"),
                Some("outbound") => t.t("tl-call-outbound"),
                _ => t.t("tl-call"),
            },
            None,
        ),
        "email" => (
            "email",
            match e.call_direction.as_deref() {
                Some("inbound") => t.t("tl-email-inbound"),
                Some("outbound") => t.t("tl-email-outbound"),
                _ => t.t("tl-email"),
            },
            None,
        ),
        "meeting" => ("meeting", t.t("tl-meeting"), None),
        "created" => ("created", t.t("tl-created"), None),
        "deleted" => ("deleted", t.t("tl-deleted"), None),
        "restored" => ("restored", t.t("tl-restored"), None),
        "status_change" => (
            "status_change",
            t.t("tl-status-change"),
            Some((status_label(&e.old_value), status_label(&e.new_value))),
        ),
        "owner_change" => (
            "owner_change",
            t.t("tl-owner-change"),
            Some((
                e.old_value.clone().unwrap_or_else(|| t.t("tl-none")),
                e.new_value.clone().unwrap_or_else(|| t.t("tl-none")),
            )),
        ),
        _ => ("other", e.kind.clone(), None),
    };
    let mut facts = vec![];
    if let Some(secs) = e.call_duration_secs {
        facts.push(duration(t, secs));
    }
    if let Some(outcome) = &e.call_outcome {
        facts.push(outcome.clone());
    }
    EntryView {
        kind,
        title,
        author: e.author.map(|a| a.name).filter(|n| !n.is_empty()),
        at: timestamp(t, &e.occurred_at),
        subject: e.subject,
        body: e.body,
        change,
        facts,
        recording_url: e.recording_url,
    }
}

fn contact_views(contacts: &[Contact], scheme: &str) -> Vec<ContactView> {
    contacts
        .iter()
        .map(|c| ContactView {
            value: c.value.clone(),
            href: format!("{scheme}{}", c.normalized),
            label: c.label.clone(),
        })
        .collect()
}

/// The pipeline's usual stages by name; any other stage as stored.
fn stage_label(t: &Localizer, stage: &str) -> String {
    match stage {
        "new" => t.t("deal-stage-new"),
        "qualified" => t.t("deal-stage-qualified"),
        "proposal" => t.t("deal-stage-proposal"),
        "negotiation" => t.t("deal-stage-negotiation"),
        "won" => t.t("deal-stage-won"),
        "lost" => t.t("deal-stage-lost"),
        other => other.to_string(),
    }
}

fn deal_views(t: &Localizer, deals: &[Deal]) -> Vec<DealView> {
    deals
        .iter()
        .map(|d| DealView {
            href: super::pipeline::deal_href(&d.id),
            title: d.title.clone(),
            amount: money(t, d.amount, &d.currency),
            stage: stage_label(t, &d.stage),
            expected_close: d.expected_close.map(|d| d.format("%Y-%m-%d").to_string()),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn card_page(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    status: StatusCode,
    id: &str,
    params: &CardParams,
    forms: CardForms,
) -> Result<HttpResponse, ApiError> {
    let card = state.gate.client_card(&authed.actor, &meta.0, id).await?;
    let before = params.before.trim();
    let timeline = if before.is_empty() {
        card.timeline
    } else {
        match state
            .gate
            .timeline(
                &authed.actor,
                &meta.0,
                id,
                Some(before.to_string()),
                TIMELINE_PAGE,
            )
            .await
        {
            Ok(page) => page,
            // A stale or mangled cursor: show the newest entries instead.
            Err(GateError::Invalid { .. }) => card.timeline,
            Err(e) => return Err(e.into()),
        }
    };
    let statuses = load_statuses(state).await?;
    let labels = status_labels(&statuses);
    let client = card.client;
    let href = client_href(&client.id);
    let notice = match params.done.as_str() {
        "created" => Some(t.t("notice-created")),
        "saved" => Some(t.t("notice-saved")),
        "note" => Some(t.t("notice-note-added")),
        "call" => Some(t.t("notice-call-logged")),
        "restored" => Some(t.t("notice-restored")),
        "deal" => Some(t.t("notice-deal-added")),
        "callback" => Some(t.t("notice-callback-added")),
        "task-added" => Some(t.t("notice-task-added")),
        "task" => Some(t.t("notice-task-done")),
        _ => None,
    };
    let tasks = super::my_day::client_tasks(state, authed, meta, &t, &client.id).await?;
    let billing = super::invoices::card_billing(state, authed, meta, &t, &client.id).await?;
    let more_href = timeline
        .next_cursor
        .as_deref()
        .map(|c| format!("{href}?before={}#timeline", urlencoding::encode(c)));
    let newest_href = (!before.is_empty()).then(|| format!("{href}#timeline"));
    let entries = timeline
        .items
        .into_iter()
        .map(|e| entry_view(&t, &labels, e))
        .collect();
    let outcomes = [
        "call-outcome-reached",
        "call-outcome-no-answer",
        "call-outcome-busy",
        "call-outcome-voicemail",
        "call-outcome-call-back",
    ]
    .iter()
    .map(|k| t.t(k))
    .collect();
    let can = |obj, act| state.gate.can(&authed.actor, obj, act);
    let mut history_more = false;
    let history = if can(Object::Audit, Action::Read) {
        let page = state
            .gate
            .audit_client(
                &authed.actor,
                &meta.0,
                &client.id,
                None,
                super::audit::CARD_EVENTS,
            )
            .await?;
        history_more = page.next_cursor.is_some();
        Some(
            page.items
                .iter()
                .map(|e| super::audit::event_row(&t, e))
                .collect(),
        )
    } else {
        None
    };
    let page = CardPage {
        billing,
        tasks,
        can_task: super::my_day::can_task(state, authed),
        can_deal: can(Object::Deal, Action::Create),
        task_back: format!("card:{}", client.id),
        history,
        history_more,
        history_href: format!("/audit?object={}#events", urlencoding::encode(&client.id)),
        href,
        name: client.name.clone(),
        company: client.company.clone(),
        kind: kind_label(&t, client.kind),
        status_code: client
            .status
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
        status: labels
            .get(&client.status)
            .cloned()
            .unwrap_or(client.status.clone()),
        source: client.source.clone(),
        address: client.address.clone(),
        owner: client.owner.as_ref().map(|o| o.name.clone()),
        team: client.team.as_ref().map(|o| o.name.clone()),
        tags: client
            .tags
            .iter()
            .map(|tag| {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                s.append_pair("tag", tag);
                (tag.clone(), format!("/clients?{}", s.finish()))
            })
            .collect(),
        phones: contact_views(&client.phones, "tel:"),
        emails: contact_views(&client.emails, "mailto:"),
        duplicate: client.possible_duplicate,
        duplicate_href: client.duplicate_of.as_deref().map(client_href),
        created: timestamp(&t, &client.created_at),
        updated: timestamp(&t, &client.updated_at),
        deals: deal_views(&t, &card.deals),
        timeline: entries,
        more_href,
        newest_href,
        can_edit: can(Object::Client, Action::Update),
        can_delete: can(Object::Client, Action::Delete),
        can_write: can(Object::Timeline, Action::Write),
        notice,
        outcomes,
        forms,
        c: chrome(state, t, authed),
    };
    render(status, &page)
}

async fn card(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    params: web::Query<CardParams>,
) -> Result<HttpResponse, ApiError> {
    card_page(
        &state,
        &authed,
        &meta,
        lang.0,
        StatusCode::OK,
        &id,
        &params,
        CardForms::default(),
    )
    .await
}

async fn add_note(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, ApiError> {
    let mut note = form.into_inner();
    note.body = from_textarea(&note.body);
    let input = TimelineInput::Note {
        body: note.body.clone(),
    };
    match state
        .gate
        .add_timeline(&authed.actor, &meta.0, &id, input)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=note#timeline",
            client_href(&id)
        ))),
        Err(e) => {
            let (_, message) = invalid(&lang.0, e)?;
            let forms = CardForms {
                note,
                errors: vec![FieldError {
                    field: "note",
                    message,
                }],
                ..CardForms::default()
            };
            card_page(
                &state,
                &authed,
                &meta,
                lang.0,
                FORM_ERROR,
                &id,
                &CardParams::default(),
                forms,
            )
            .await
        }
    }
}

/// Minutes as typed: `5`, `2.5`, `2,5` or `3:20`; empty means not given.
fn parse_minutes(s: &str) -> Result<Option<u32>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let secs = if let Some((m, sec)) = s.split_once(':') {
        let m: u32 = m.trim().parse().map_err(|_| ())?;
        let sec: u32 = sec.trim().parse().map_err(|_| ())?;
        if sec >= 60 {
            return Err(());
        }
        m.checked_mul(60)
            .and_then(|v| v.checked_add(sec))
            .ok_or(())?
    } else {
        let m: f64 = s.replace(',', ".").parse().map_err(|_| ())?;
        if !m.is_finite() || m < 0.0 || m > f64::from(u32::MAX / 60) {
            return Err(());
        }
        // In range (checked above), so the cast cannot truncate.
        (m * 60.0).round() as u32
    };
    Ok(Some(secs))
}

async fn log_call(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<CallForm>,
) -> Result<HttpResponse, ApiError> {
    let t = lang.0;
    let mut call = form.into_inner();
    call.body = from_textarea(&call.body);
    let direction = match call.direction.as_str() {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        _ => Err(FieldError {
            field: "direction",
            message: t.t("call-direction-invalid"),
        }),
    };
    let minutes = parse_minutes(&call.minutes).map_err(|()| FieldError {
        field: "minutes",
        message: t.t("call-minutes-invalid"),
    });
    let result = match (direction, minutes) {
        (Ok(direction), Ok(duration_secs)) => {
            let input = TimelineInput::Call {
                direction,
                duration_secs,
                outcome: blank_to_none(&call.outcome),
                recording_url: None,
                body: blank_to_none(&call.body),
                occurred_at: None,
            };
            match state
                .gate
                .add_timeline(&authed.actor, &meta.0, &id, input)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let (field, message) = invalid(&t, e)?;
                    Err(FieldError {
                        field: match field.as_str() {
                            "duration_secs" => "minutes",
                            "outcome" => "outcome",
                            _ => "call_body",
                        },
                        message,
                    })
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=call#timeline",
            client_href(&id)
        ))),
        Err(error) => {
            let forms = CardForms {
                call,
                errors: vec![error],
                ..CardForms::default()
            };
            card_page(
                &state,
                &authed,
                &meta,
                t,
                FORM_ERROR,
                &id,
                &CardParams::default(),
                forms,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localizer() -> Option<Localizer> {
        crate::i18n::I18n::load().ok().map(|i| i.negotiate(None))
    }

    #[test]
    fn minutes_as_typed() {
        assert_eq!(parse_minutes(""), Ok(None));
        assert_eq!(parse_minutes(" 5 "), Ok(Some(300)));
        assert_eq!(parse_minutes("2.5"), Ok(Some(150)));
        assert_eq!(parse_minutes("2,5"), Ok(Some(150)));
        assert_eq!(parse_minutes("3:20"), Ok(Some(200)));
        assert_eq!(parse_minutes("3:75"), Err(()));
        assert_eq!(parse_minutes("-1"), Err(()));
        assert_eq!(parse_minutes("NaN"), Err(()));
        assert_eq!(parse_minutes("soon"), Err(()));
    }

    #[test]
    fn contacts_one_per_line_with_optional_label() {
        let parsed = contact_lines("+995 555 12 34 56, mobile\r\n\n  a@b.ge \n+1 202 555 0100,\n");
        let shown: Vec<(String, Option<String>)> = parsed
            .iter()
            .map(|c| (c.value().to_string(), c.label().map(str::to_string)))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("+995 555 12 34 56".into(), Some("mobile".into())),
                ("a@b.ge".into(), None),
                ("+1 202 555 0100".into(), None),
            ]
        );
        let round_trip = contacts_text(&[
            Contact {
                value: "+995 555 12 34 56".into(),
                normalized: "+995555123456".into(),
                label: Some("mobile".into()),
            },
            Contact {
                value: "a@b.ge".into(),
                normalized: "a@b.ge".into(),
                label: None,
            },
        ]);
        assert_eq!(round_trip, "+995 555 12 34 56, mobile\na@b.ge");
    }

    #[test]
    fn tags_are_comma_separated() {
        assert_eq!(
            tag_list(" vip, ფიტნესი ,,b2b "),
            vec!["vip", "ფიტნესი", "b2b"]
        );
        assert!(tag_list(" , ").is_empty());
    }

    #[test]
    fn only_changed_fields_are_patched() {
        let client = Client {
            id: "00000000-0000-0000-0000-000000000001".into(),
            kind: ClientKind::Person,
            name: "ნინო".into(),
            company: None,
            status: "new".into(),
            source: None,
            address: Some("Tbilisi\nRustaveli 1".into()),
            owner: None,
            team: None,
            tags: vec!["a".into()],
            phones: vec![],
            emails: vec![],
            duplicate_of: None,
            possible_duplicate: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        let mut form = ClientForm::from_client(&client);
        form.status = "hot".into();
        form.address = "Tbilisi\r\nRustaveli 1".into();
        let form = form.normalised();
        let patch = patch_from(&form, ClientKind::Person);
        assert_eq!(patch.status.as_deref(), Some("hot"));
        assert!(patch.name.is_none() && patch.address.is_none() && patch.tags.is_none());
        assert!(patch.phones.is_none() && patch.emails.is_none() && patch.kind.is_none());
    }

    #[test]
    fn money_is_grouped_with_two_decimals() {
        let Some(t) = localizer() else {
            panic!("locales load");
        };
        let d = |s: &str| s.parse::<rust_decimal::Decimal>().ok();
        assert_eq!(
            d("12500").map(|a| money(&t, a, "GEL")).as_deref(),
            Some("12,500.00 GEL")
        );
        assert_eq!(
            d("-1234567.125").map(|a| money(&t, a, "USD")).as_deref(),
            Some("-1,234,567.125 USD")
        );
        assert_eq!(
            d("0.5").map(|a| money(&t, a, "EUR")).as_deref(),
            Some("0.50 EUR")
        );
    }

    /// Every `.t("…")`, `.t1("…"` and `.tn("…"` key used by these pages exists
    /// in the English file (a missing key would show up as the key itself).
    #[test]
    fn every_key_is_translated() {
        let defined = crate::i18n::english_keys();
        let sources = [
            include_str!("clients.rs"),
            include_str!("../../../templates/clients_list.html"),
            include_str!("../../../templates/client_form.html"),
            include_str!("../../../templates/client_card.html"),
        ];
        let mut missing = vec![];
        for src in sources {
            for opener in [".t(\"", ".t1(\"", ".tn(\"", "\"call-outcome-"] {
                for (i, _) in src.match_indices(opener) {
                    let rest = &src[i + opener.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = if opener.starts_with('"') {
                        format!("call-outcome-{}", &rest[..end])
                    } else {
                        rest[..end].to_string()
                    };
                    let is_key = key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if !is_key || key.ends_with('-') {
                        continue;
                    }
                    if !defined.contains(key.as_str()) {
                        missing.push(key);
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from main.ftl: {missing:?}"
        );
    }
}
