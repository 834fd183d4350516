//! The rows of a client export: every live client the export scope covers that
//! matches the filter, with contacts and tags, read page by page through the same
//! scoped, per-row-checked listing as the client list.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

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

impl ExportFilter {
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
