//! The owner a benchmark signs in as, added once to a (possibly kept) database.

use anyhow::anyhow;
use diesel::prelude::*;
use holdfast::clock::Env;
use holdfast::identity::Role;
use holdfast::identity::users::{self, NewUser};
use holdfast::store::DbConn;
use holdfast::store::schema::users as user_rows;
use secrecy::SecretString;

/// Adds the owner `username` unless a kept database has them already.
pub fn ensure_owner(
    conn: &mut DbConn,
    env: &Env,
    username: &str,
    password: &SecretString,
) -> anyhow::Result<()> {
    let have: i64 = user_rows::table
        .filter(user_rows::username.eq(username))
        .count()
        .get_result(conn)?;
    if have == 0 {
        users::add(
            conn,
            env,
            NewUser {
                username: username.into(),
                display_name: None,
                role: Role::Owner,
                team: None,
                password: Some(password.clone()),
            },
        )
        .map_err(|e| anyhow!("adding {username}: {e}"))?;
    }
    Ok(())
}
