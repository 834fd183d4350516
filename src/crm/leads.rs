//! The newest leads nobody has contacted yet (for "my day").

use diesel::prelude::*;

use super::CrmError;
use super::types::{ClientKind, ClientSummary, utc};
use super::work::require;
use crate::access::{Action, Filter, Object, Scope};
use crate::store::DbConn;
use crate::store::models::clients::ClientRow;
use crate::store::schema::clients;

/// Live clients in the scope with no call, e-mail or meeting on their
/// timeline yet, newest first.
pub fn without_contact(
    conn: &mut DbConn,
    scope: &Scope,
    limit: u32,
) -> Result<Vec<ClientSummary>, CrmError> {
    require(scope, Object::Client, &[Action::List])?;
    let mut q = clients::table
        .filter(clients::deleted_at.is_null())
        // Kept by crm::timeline for every call, e-mail or meeting.
        .filter(clients::last_contact_at.is_null())
        .select(ClientRow::as_select())
        .into_boxed();
    q = match scope.filter() {
        Filter::OwnedBy(owner) => q.filter(clients::owner_id.eq(owner.to_string())),
        Filter::TeamOrOwnedBy { team, owner } => q.filter(
            clients::team_id
                .eq(team.to_string())
                .or(clients::owner_id.eq(owner.to_string())),
        ),
        Filter::Everything => q,
    };
    let mut rows: Vec<ClientRow> = q
        .order((clients::created_at.desc(), clients::id.desc()))
        .limit(i64::from(limit.clamp(1, 50)))
        .load(conn)?;
    rows.retain(|r| scope.permits(r.owner_id.as_deref(), r.team_id.as_deref()));
    Ok(rows
        .into_iter()
        .map(|row| ClientSummary {
            kind: ClientKind::parse(&row.kind).unwrap_or(ClientKind::Person),
            id: row.id,
            name: row.name,
            company: row.company,
            status: row.status,
            owner_id: row.owner_id,
            team_id: row.team_id,
            possible_duplicate: row.duplicate_of.is_some(),
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            deleted_at: row.deleted_at.map(utc),
            phone: None,
            email: None,
        })
        .collect())
}
