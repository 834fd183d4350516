//! Contacts in lists are partly masked for everyone; a role holding `client`
//! `reveal` gets one client's full phones and emails with one request, recorded
//! as `client.reveal` (and counted by detection like any event).

use serde::Serialize;
use serde_json::json;

use super::{Gate, GateError, Mode, touched};
use crate::access::mask;
use crate::access::policy::{Action, Object};
use crate::audit::RequestMeta;
use crate::crm::types::{ClientSummary, Contact};
use crate::crm::{CrmError, clients};
use crate::identity::Actor;
use crate::store::DbConn;

/// A client's full contacts, as a reveal answers.
#[derive(Debug, Clone, Serialize)]
pub struct Revealed {
    pub id: String,
    pub name: String,
    pub phones: Vec<Contact>,
    pub emails: Vec<Contact>,
}

/// Puts each listed client's first phone and email, masked, into the page.
pub(super) fn fill_masked(
    conn: &mut DbConn,
    items: &mut [ClientSummary],
    ids: &[String],
) -> Result<(), CrmError> {
    let mut firsts = clients::first_contacts(conn, ids)?;
    for c in items {
        if let Some((phone, email)) = firsts.remove(&c.id) {
            c.phone = phone.as_deref().map(mask::phone);
            c.email = email.as_deref().map(mask::email);
        }
    }
    Ok(())
}

impl Gate {
    /// One client's full contacts for a role with `reveal`, within its scope; a
    /// client outside it answers like a missing one, and the attempt is audited.
    pub async fn reveal_client(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Revealed, GateError> {
        let scope = self
            .scope(
                actor,
                meta,
                Object::Client,
                Action::Reveal,
                "client.reveal",
                vec![id.into()],
            )
            .await?;
        let id = id.to_string();
        self.pass(
            scope,
            meta,
            Mode::Read,
            "client.reveal",
            Some(id.clone()),
            move |conn, _ctx, scope| {
                let client = clients::get(conn, scope, &id)?;
                let detail = json!({
                    "phones": client.phones.len(), "emails": client.emails.len(),
                });
                let out = Revealed {
                    id: client.id,
                    name: client.name,
                    phones: client.phones,
                    emails: client.emails,
                };
                Ok(touched(out, vec![id], detail))
            },
        )
        .await
    }
}
