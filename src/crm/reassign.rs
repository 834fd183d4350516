//! Moving clients from one owner to another, within a reassignment scope: the
//! client must be in the scope, and so must a client owned by the new owner.

use diesel::prelude::*;
use serde::Serialize;

use super::clients::{load_in_scope, user_names};
use super::{CrmError, timeline};
use crate::access::{Action, Object, Scope};
use crate::clock::Env;
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::schema::{clients, users};

/// One client moved (or to be moved).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Move {
    pub client_id: String,
    pub from: Option<String>,
    pub to: String,
}

/// The new owner's id and team, checked against the scope.
pub fn target(
    conn: &mut DbConn,
    scope: &Scope,
    owner_id: &str,
) -> Result<(String, Option<String>), CrmError> {
    let found: Option<(String, Option<String>, bool, String)> = users::table
        .find(owner_id)
        .select((users::id, users::team_id, users::disabled, users::role))
        .first(conn)
        .optional()?;
    let Some((id, team, disabled, role)) = found else {
        return Err(CrmError::invalid(
            "to_owner",
            Msg::new("invalid-owner-unknown"),
        ));
    };
    if disabled || role == "admin" {
        return Err(CrmError::invalid(
            "to_owner",
            Msg::new("invalid-owner-cannot-own"),
        ));
    }
    if !scope.permits(Some(&id), team.as_deref()) {
        return Err(CrmError::Forbidden(Msg::new("not-allowed-assign-owner")));
    }
    Ok((id, team))
}

/// What moving `ids` to `to` would change; clients already owned by `to` are
/// left out. Fails (as a denial) when any client is outside the scope.
pub fn plan(
    conn: &mut DbConn,
    scope: &Scope,
    ids: &[String],
    to: &str,
) -> Result<Vec<Move>, CrmError> {
    if !scope.is(Object::Client, Action::Reassign) {
        return Err(CrmError::Internal(
            "reassignment needs a reassign scope".into(),
        ));
    }
    target(conn, scope, to)?;
    let mut out = Vec::new();
    for id in ids {
        let row = load_in_scope(conn, scope, id, false)?;
        if row.owner_id.as_deref() != Some(to) {
            out.push(Move {
                client_id: row.id,
                from: row.owner_id,
                to: to.to_string(),
            });
        }
    }
    Ok(out)
}

/// Carries out a plan: owner and team change, and the timeline says so.
pub fn apply(conn: &mut DbConn, env: &Env, scope: &Scope, moves: &[Move]) -> Result<(), CrmError> {
    let names = user_names(conn)?;
    let label =
        |id: Option<&String>| id.map(|i| names.get(i).cloned().unwrap_or_else(|| i.clone()));
    for m in moves {
        let (to, team) = target(conn, scope, &m.to)?;
        let now = env.now().naive_utc();
        diesel::update(clients::table.filter(clients::id.eq(&m.client_id)))
            .set((
                clients::owner_id.eq(Some(&to)),
                clients::team_id.eq(&team),
                clients::updated_at.eq(now),
            ))
            .execute(conn)?;
        timeline::append_system(
            conn,
            env,
            &m.client_id,
            "owner_change",
            scope.user_id(),
            label(m.from.as_ref()).as_deref(),
            label(Some(&to)).as_deref(),
        )?;
    }
    Ok(())
}
