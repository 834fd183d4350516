//! Automatic cards: a call from an unknown number or a web form creates a lead;
//! a known phone or email adds to the existing card instead.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clients::{self, Ctx};
use super::types::{ContactInput, Direction, NewClient, TimelineInput};
use super::{CrmError, contact, text, timeline};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::schema::clients as clients_t;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallEvent {
    /// The caller's number for inbound calls, the dialled number for outbound.
    pub number: String,
    pub direction: Direction,
    #[serde(default)]
    pub duration_secs: Option<u32>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub recording_url: Option<String>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// The provider's call id, kept in the entry for reference.
    #[serde(default)]
    pub call_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct FormSubmission {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntakeResult {
    pub client_id: String,
    pub created: bool,
}

fn require(scope: &Scope) -> Result<(), CrmError> {
    if scope.is(Object::Client, Action::Create) && scope.user_id().is_none() {
        Ok(())
    } else {
        Err(CrmError::Internal(
            "intake needs the system intake scope".into(),
        ))
    }
}

fn live_client(conn: &mut DbConn, id: &str) -> Result<String, CrmError> {
    Ok(clients_t::table
        .filter(clients_t::id.eq(id))
        .select(clients_t::id)
        .first(conn)?)
}

pub fn record_call(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    call: &CallEvent,
    default_owner: Option<&str>,
) -> Result<IntakeResult, CrmError> {
    require(scope)?;
    let number = contact::normalize_phone(&call.number, ctx.phone_region)?;
    let body = call
        .call_id
        .as_deref()
        .map(|id| text::line("call_id", id, 200).map(|id| format!("call id {id}")))
        .transpose()?;
    let entry = TimelineInput::Call {
        direction: call.direction,
        duration_secs: call.duration_secs,
        outcome: call.outcome.clone(),
        recording_url: call.recording_url.clone(),
        body,
        occurred_at: call.started_at,
    };
    let existing = clients::find_duplicate(conn, &[("phone".into(), number.clone())], None)?;
    let (client_id, created) = match existing {
        Some(id) => (live_client(conn, &id)?, false),
        None => {
            let new = NewClient {
                name: number.clone(),
                source: Some("phone call".into()),
                phones: vec![ContactInput::Plain(number.clone())],
                ..NewClient::default()
            };
            (
                clients::create(conn, ctx, scope, &new, default_owner)?
                    .client
                    .id,
                true,
            )
        }
    };
    let row = timeline::entry_row(ctx.env, &client_id, None, &entry)?;
    timeline::insert(conn, &row)?;
    Ok(IntakeResult { client_id, created })
}

pub fn record_form(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    form: &FormSubmission,
    default_owner: Option<&str>,
) -> Result<IntakeResult, CrmError> {
    require(scope)?;
    let name = text::line("name", &form.name, 200)?;
    let email = form
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(contact::normalize_email)
        .transpose()?;
    let phone = form
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| contact::normalize_phone(p, ctx.phone_region))
        .transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(CrmError::invalid("email", Msg::new("invalid-form-contact")));
    }
    let message = text::opt_body("message", form.message.as_deref(), 5000)?;
    let mut keys = Vec::new();
    if let Some(e) = &email {
        keys.push(("email".to_string(), e.clone()));
    }
    if let Some(p) = &phone {
        keys.push(("phone".to_string(), p.clone()));
    }
    let existing = clients::find_duplicate(conn, &keys, None)?;
    let (client_id, created) = match existing {
        Some(id) => (live_client(conn, &id)?, false),
        None => {
            let new = NewClient {
                name: name.clone(),
                company: form.company.clone(),
                source: Some("web form".into()),
                phones: phone.iter().cloned().map(ContactInput::Plain).collect(),
                emails: email.iter().cloned().map(ContactInput::Plain).collect(),
                ..NewClient::default()
            };
            (
                clients::create(conn, ctx, scope, &new, default_owner)?
                    .client
                    .id,
                true,
            )
        }
    };
    let note = format!(
        "Web form from {name}{}",
        message.map(|m| format!(":\n{m}")).unwrap_or_default()
    );
    let row = timeline::entry_row(
        ctx.env,
        &client_id,
        None,
        &TimelineInput::Note { body: note },
    )?;
    timeline::insert(conn, &row)?;
    Ok(IntakeResult { client_id, created })
}
