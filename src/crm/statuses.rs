//! The editable list of client statuses.

use diesel::prelude::*;

use super::types::Status;
use super::{CrmError, text};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::clients::StatusRow;
use crate::store::schema::client_statuses;

/// Statuses are not client data; anyone signed in reads them.
pub fn list(conn: &mut DbConn) -> Result<Vec<Status>, CrmError> {
    let rows: Vec<StatusRow> = client_statuses::table
        .select(StatusRow::as_select())
        .order(client_statuses::position)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Status {
            code: r.code,
            label: r.label,
            position: r.position,
            active: r.active,
        })
        .collect())
}

pub fn is_active(conn: &mut DbConn, code: &str) -> Result<bool, CrmError> {
    Ok(client_statuses::table
        .find(code)
        .filter(client_statuses::active.eq(true))
        .count()
        .get_result::<i64>(conn)?
        == 1)
}

/// Adds or edits a status. Statuses are never deleted (clients refer to them);
/// `active = false` takes one out of the pick list.
pub fn upsert(
    conn: &mut DbConn,
    scope: &Scope,
    code: &str,
    label: &str,
    position: i32,
    active: bool,
) -> Result<(), CrmError> {
    if !scope.is(Object::Statuses, Action::Update) {
        return Err(CrmError::Forbidden(Msg::new("not-allowed-statuses")));
    }
    let valid_code = !code.is_empty()
        && code.len() <= 32
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_code {
        return Err(CrmError::invalid("code", Msg::new("invalid-status-code")));
    }
    let label = text::line("label", label, 60)?;
    let row = StatusRow {
        code: code.to_string(),
        label,
        position,
        active,
    };
    let exists = client_statuses::table
        .find(code)
        .count()
        .get_result::<i64>(conn)?
        == 1;
    if exists {
        diesel::update(client_statuses::table.find(code))
            .set((
                client_statuses::label.eq(&row.label),
                client_statuses::position.eq(row.position),
                client_statuses::active.eq(row.active),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(client_statuses::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}
