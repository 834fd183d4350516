//! The rows of a client export: every live client the export scope covers that
//! matches the filter, with contacts and tags, read page by page through the same
//! scoped, per-row-checked listing as the client list.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clients::Ctx;
use super::deals::{self, DealQuery};
use super::invoices::{self, InvoiceQuery};
use super::types::{ListQuery, MAX_PAGE};
use super::{CrmError, clients};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::schema::{client_contacts, client_tags, clients as clients_t, teams, users};

/// Which clients an export takes (the list's filters).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExportFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

/// What an export takes: clients, or the deals or invoices of the clients in
/// scope (with those clients' names and contacts, which is what makes such a
/// list worth guarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportObject {
    Clients,
    Deals,
    Invoices,
}

impl ExportObject {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportObject::Clients => "clients",
            ExportObject::Deals => "deals",
            ExportObject::Invoices => "invoices",
        }
    }

    pub fn parse(s: &str) -> Option<ExportObject> {
        match s {
            "clients" => Some(ExportObject::Clients),
            "deals" => Some(ExportObject::Deals),
            "invoices" => Some(ExportObject::Invoices),
            _ => None,
        }
    }

    /// What the records are, for the read the export makes besides the
    /// client export itself.
    pub fn record(self) -> Option<(Object, Action)> {
        match self {
            ExportObject::Clients => None,
            ExportObject::Deals => Some((Object::Deal, Action::List)),
            ExportObject::Invoices => Some((Object::Invoice, Action::List)),
        }
    }
}

impl ExportFilter {
    /// The filters an export of `object` understands: deals and invoices take
    /// `status` (the stage, the invoice's status) and, for deals, `owner_id`.
    pub fn check_for(&self, object: ExportObject) -> Result<(), CrmError> {
        self.check()?;
        let unsupported = match object {
            ExportObject::Clients => None,
            ExportObject::Deals => [("q", &self.q), ("tag", &self.tag)]
                .into_iter()
                .find(|(_, v)| v.is_some()),
            ExportObject::Invoices => [
                ("q", &self.q),
                ("tag", &self.tag),
                ("owner_id", &self.owner_id),
            ]
            .into_iter()
            .find(|(_, v)| v.is_some()),
        };
        match unsupported {
            Some((field, _)) => Err(CrmError::invalid(
                field,
                Msg::new("invalid-export-filter-object"),
            )),
            None => Ok(()),
        }
    }

    pub fn check(&self) -> Result<(), CrmError> {
        for (field, v) in [
            ("q", &self.q),
            ("status", &self.status),
            ("tag", &self.tag),
            ("owner_id", &self.owner_id),
        ] {
            if let Some(v) = v
                && (v.chars().count() > 200 || v.contains('\0'))
            {
                return Err(CrmError::invalid(field, Msg::new("invalid-query")));
            }
        }
        Ok(())
    }
}

/// One client as an export file shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExportRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub address: Option<String>,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub source: Option<String>,
    pub created_at: String,
}

/// One deal as an export file shows it, with its client's name and contacts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DealExportRow {
    pub id: String,
    pub title: String,
    pub stage: String,
    pub amount: String,
    pub currency: String,
    pub expected_close: Option<String>,
    pub owner: Option<String>,
    pub client: String,
    pub client_phones: Vec<String>,
    pub client_emails: Vec<String>,
    pub created_at: String,
    /// The client, for the audit event and the decoy tripwire (not in the file).
    #[serde(skip)]
    pub client_id: String,
}

/// One invoice or credit note as an export file shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InvoiceExportRow {
    pub id: String,
    pub kind: String,
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    pub total: String,
    pub paid: String,
    pub outstanding: String,
    pub issued_on: Option<String>,
    pub due_on: Option<String>,
    pub client: String,
    pub client_phones: Vec<String>,
    pub client_emails: Vec<String>,
    #[serde(skip)]
    pub client_id: String,
}

/// The rows of one export, of whichever kind.
#[derive(Debug, Clone)]
pub enum FileRows {
    Clients(Vec<ExportRow>),
    Deals(Vec<DealExportRow>),
    Invoices(Vec<InvoiceExportRow>),
}

impl FileRows {
    pub fn len(&self) -> usize {
        match self {
            FileRows::Clients(r) => r.len(),
            FileRows::Deals(r) => r.len(),
            FileRows::Invoices(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clients whose data is in the file (each once).
    pub fn client_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = match self {
            FileRows::Clients(r) => r.iter().map(|x| x.id.clone()).collect(),
            FileRows::Deals(r) => r.iter().map(|x| x.client_id.clone()).collect(),
            FileRows::Invoices(r) => r.iter().map(|x| x.client_id.clone()).collect(),
        };
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        ids
    }

    /// The deals or invoices in the file (none for a client export).
    pub fn record_ids(&self) -> Vec<String> {
        match self {
            FileRows::Clients(_) => vec![],
            FileRows::Deals(r) => r.iter().map(|x| x.id.clone()).collect(),
            FileRows::Invoices(r) => r.iter().map(|x| x.id.clone()).collect(),
        }
    }
}

/// Up to `cap` rows of `object` (newest first), and whether more matched.
/// `records` is the scope for reading deals or invoices (`ExportObject::record`).
pub fn rows_of(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    records: Option<&Scope>,
    object: ExportObject,
    filter: &ExportFilter,
    cap: usize,
) -> Result<(FileRows, bool), CrmError> {
    if !scope.is(Object::Client, Action::Export) {
        return Err(CrmError::Internal("export needs an export scope".into()));
    }
    filter.check_for(object)?;
    let records = match (object.record(), records) {
        (None, _) => return rows(conn, scope, filter, cap).map(|(r, t)| (FileRows::Clients(r), t)),
        (Some((o, a)), Some(s)) if s.is(o, a) => s,
        _ => return Err(CrmError::Internal("export needs a record scope".into())),
    };
    let mut cursor = None;
    let mut truncated = false;
    match object {
        ExportObject::Deals => {
            let mut out: Vec<DealExportRow> = Vec::new();
            loop {
                let page = deals::list(
                    conn,
                    records,
                    &DealQuery {
                        stage: filter.status.clone(),
                        owner_id: filter.owner_id.clone(),
                        limit: Some(MAX_PAGE),
                        cursor: cursor.take(),
                        ..DealQuery::default()
                    },
                )?;
                let ids: Vec<String> = page.items.iter().map(|d| d.client.id.clone()).collect();
                let contacts = details(conn, &ids)?;
                for d in page.items {
                    if out.len() == cap {
                        truncated = true;
                        break;
                    }
                    let c = contacts.get(&d.client.id);
                    out.push(DealExportRow {
                        title: d.title,
                        stage: d.stage,
                        amount: d.amount.to_string(),
                        currency: d.currency,
                        expected_close: d.expected_close.map(|x| x.to_string()),
                        owner: d.owner.map(|o| o.name),
                        client: d.client.name.unwrap_or_default(),
                        client_phones: c.map(|c| c.phones.clone()).unwrap_or_default(),
                        client_emails: c.map(|c| c.emails.clone()).unwrap_or_default(),
                        created_at: d.created_at.format("%Y-%m-%d").to_string(),
                        client_id: d.client.id,
                        id: d.id,
                    });
                }
                match page.next_cursor {
                    Some(c) if !truncated => cursor = Some(c),
                    _ => return Ok((FileRows::Deals(out), truncated)),
                }
            }
        }
        ExportObject::Invoices => {
            let mut out: Vec<InvoiceExportRow> = Vec::new();
            loop {
                let page = invoices::list(
                    conn,
                    ctx,
                    records,
                    &InvoiceQuery {
                        status: filter.status.clone(),
                        limit: Some(MAX_PAGE),
                        cursor: cursor.take(),
                        ..InvoiceQuery::default()
                    },
                )?;
                let ids: Vec<String> = page.items.iter().map(|i| i.client.id.clone()).collect();
                let contacts = details(conn, &ids)?;
                for i in page.items {
                    if out.len() == cap {
                        truncated = true;
                        break;
                    }
                    let c = contacts.get(&i.client.id);
                    out.push(InvoiceExportRow {
                        kind: i.kind.as_str().into(),
                        number: i.number.map(|n| format!("{n:06}")),
                        status: i.status.as_str().into(),
                        total: i.total.to_string(),
                        paid: i.paid.to_string(),
                        outstanding: i.outstanding.to_string(),
                        issued_on: i.issued_at.map(|a| a.format("%Y-%m-%d").to_string()),
                        due_on: i.due_on.map(|d| d.to_string()),
                        currency: i.currency,
                        client: i.client.name.unwrap_or_default(),
                        client_phones: c.map(|c| c.phones.clone()).unwrap_or_default(),
                        client_emails: c.map(|c| c.emails.clone()).unwrap_or_default(),
                        client_id: i.client.id,
                        id: i.id,
                    });
                }
                match page.next_cursor {
                    Some(c) if !truncated => cursor = Some(c),
                    _ => return Ok((FileRows::Invoices(out), truncated)),
                }
            }
        }
        ExportObject::Clients => Ok((FileRows::Clients(vec![]), false)),
    }
}

/// Up to `cap` rows in the scope (newest first), and whether more matched.
pub fn rows(
    conn: &mut DbConn,
    scope: &Scope,
    filter: &ExportFilter,
    cap: usize,
) -> Result<(Vec<ExportRow>, bool), CrmError> {
    if !scope.is(Object::Client, Action::Export) {
        return Err(CrmError::Internal("export needs an export scope".into()));
    }
    filter.check()?;
    let names: HashMap<String, String> = users::table
        .select((users::id, users::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let team_names: HashMap<String, String> = teams::table
        .select((teams::id, teams::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            q: filter.q.clone(),
            status: filter.status.clone(),
            tag: filter.tag.clone(),
            owner_id: filter.owner_id.clone(),
            limit: Some(MAX_PAGE),
            cursor: cursor.take(),
            ..ListQuery::default()
        };
        let page = clients::list(conn, scope, &query)?;
        let ids: Vec<String> = page.items.iter().map(|c| c.id.clone()).collect();
        let details = details(conn, &ids)?;
        for item in page.items {
            if out.len() == cap {
                return Ok((out, true));
            }
            let d = details.get(&item.id);
            out.push(ExportRow {
                kind: item.kind.as_str().to_string(),
                name: item.name,
                company: item.company,
                status: item.status,
                phones: d.map(|d| d.phones.clone()).unwrap_or_default(),
                emails: d.map(|d| d.emails.clone()).unwrap_or_default(),
                address: d.and_then(|d| d.address.clone()),
                tags: d.map(|d| d.tags.clone()).unwrap_or_default(),
                owner: item
                    .owner_id
                    .as_ref()
                    .map(|o| names.get(o).cloned().unwrap_or_else(|| o.clone())),
                team: item
                    .team_id
                    .as_ref()
                    .map(|t| team_names.get(t).cloned().unwrap_or_else(|| t.clone())),
                source: d.and_then(|d| d.source.clone()),
                created_at: item.created_at.format("%Y-%m-%d").to_string(),
                id: item.id,
            });
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((out, false)),
        }
    }
}

#[derive(Default)]
struct Details {
    phones: Vec<String>,
    emails: Vec<String>,
    tags: Vec<String>,
    address: Option<String>,
    source: Option<String>,
}

fn details(conn: &mut DbConn, ids: &[String]) -> Result<HashMap<String, Details>, CrmError> {
    let mut out: HashMap<String, Details> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let extra: Vec<(String, Option<String>, Option<String>)> = clients_t::table
        .filter(clients_t::id.eq_any(ids))
        .select((clients_t::id, clients_t::address, clients_t::source))
        .load(conn)?;
    for (id, address, source) in extra {
        let d = out.entry(id).or_default();
        d.address = address;
        d.source = source;
    }
    let contacts: Vec<(String, String, String)> = client_contacts::table
        .filter(client_contacts::client_id.eq_any(ids))
        .select((
            client_contacts::client_id,
            client_contacts::kind,
            client_contacts::value,
        ))
        .order((client_contacts::client_id, client_contacts::position))
        .load(conn)?;
    for (id, kind, value) in contacts {
        let d = out.entry(id).or_default();
        if kind == "phone" {
            d.phones.push(value);
        } else {
            d.emails.push(value);
        }
    }
    let tags: Vec<(String, String)> = client_tags::table
        .filter(client_tags::client_id.eq_any(ids))
        .select((client_tags::client_id, client_tags::tag))
        .order((client_tags::client_id, client_tags::tag))
        .load(conn)?;
    for (id, tag) in tags {
        out.entry(id).or_default().tags.push(tag);
    }
    Ok(out)
}
