//! Users and teams.

use chrono::Duration;
use diesel::prelude::*;
use secrecy::SecretString;
use serde::Serialize;

use super::{IdentityError, Role, password, token_hash};
use crate::clock::Env;
use crate::i18n::Msg;
use crate::store::models::teams::TeamRow;
use crate::store::models::users::{SetupTokenRow, UserRow};
use crate::store::schema::{sessions, setup_tokens, teams, users};
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
    pub team_id: Option<String>,
    pub disabled: bool,
    pub has_password: bool,
}

pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub team: Option<String>,
    pub password: Option<SecretString>,
}

/// Usernames are compared case-insensitively and without surrounding space.
pub fn normalize_username(raw: &str) -> Result<String, IdentityError> {
    let name = raw.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(name)
    } else {
        Err(IdentityError::Invalid(Msg::new("invalid-username")))
    }
}

fn to_user(row: UserRow, team: Option<String>) -> Result<User, IdentityError> {
    Ok(User {
        role: row.role.parse()?,
        has_password: row.password_hash.is_some(),
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        team,
        team_id: row.team_id,
        disabled: row.disabled,
    })
}

/// The team's id, creating the team when it is new.
pub fn ensure_team(conn: &mut DbConn, env: &Env, name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.contains('\0') {
        return Err(IdentityError::Invalid(Msg::new("invalid-team-name")));
    }
    if let Some(id) = teams::table
        .filter(teams::name.eq(name))
        .select(teams::id)
        .first::<String>(conn)
        .optional()?
    {
        return Ok(id);
    }
    let id = env.new_id()?.to_string();
    diesel::insert_into(teams::table)
        .values(TeamRow {
            id: id.clone(),
            name: name.to_string(),
            created_at: env.now().naive_utc(),
        })
        .execute(conn)?;
    Ok(id)
}

pub fn team_names(conn: &mut DbConn) -> Result<Vec<(String, String)>, IdentityError> {
    Ok(teams::table
        .select((teams::id, teams::name))
        .order(teams::name)
        .load(conn)?)
}

pub fn add(conn: &mut DbConn, env: &Env, new: NewUser) -> Result<User, IdentityError> {
    let username = normalize_username(&new.username)?;
    let hash = match &new.password {
        Some(pw) => {
            password::check_policy(pw)?;
            Some(password::hash(env, pw)?)
        }
        None => None,
    };
    let display_name = new
        .display_name
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| username.clone());
    if display_name.chars().count() > 200 || display_name.contains('\0') {
        return Err(IdentityError::Invalid(Msg::new("invalid-display-name")));
    }
    // Reads the team, then writes: on SQLite the write lock is taken first, or a
    // concurrent writer makes the upgrade fail at once ("database is locked").
    crate::store::write_tx(conn, |conn| {
        let team_id = match &new.team {
            Some(t) => Some(ensure_team(conn, env, t)?),
            None => None,
        };
        let now = env.now().naive_utc();
        let row = UserRow {
            id: env.new_id()?.to_string(),
            username: username.clone(),
            display_name,
            password_hash: hash,
            role: new.role.as_str().to_string(),
            team_id,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        match diesel::insert_into(users::table).values(&row).execute(conn) {
            Ok(_) => {}
            Err(e) => {
                let e = StoreError::Query(e);
                return Err(if e.is_unique_violation() {
                    IdentityError::Conflict(format!("user `{username}`"))
                } else {
                    e.into()
                });
            }
        }
        to_user(row, new.team.clone())
    })
}

pub fn list(conn: &mut DbConn) -> Result<Vec<User>, IdentityError> {
    let rows: Vec<(UserRow, Option<String>)> = users::table
        .left_join(teams::table)
        .select((UserRow::as_select(), teams::name.nullable()))
        .order(users::username)
        .load(conn)?;
    rows.into_iter().map(|(u, t)| to_user(u, t)).collect()
}

pub fn find_by_username(
    conn: &mut DbConn,
    username: &str,
) -> Result<Option<UserRow>, IdentityError> {
    let Ok(username) = normalize_username(username) else {
        return Ok(None);
    };
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<User, IdentityError> {
    let row: Option<(UserRow, Option<String>)> = users::table
        .left_join(teams::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), teams::name.nullable()))
        .first(conn)
        .optional()?;
    match row {
        Some((u, t)) => to_user(u, t),
        None => Err(IdentityError::NotFound("user".into())),
    }
}

/// Disables the user and ends all of their sessions at once.
pub fn disable(conn: &mut DbConn, env: &Env, username: &str) -> Result<User, IdentityError> {
    let Some(row) = find_by_username(conn, username)? else {
        return Err(IdentityError::NotFound(format!("user `{username}`")));
    };
    let now = env.now().naive_utc();
    crate::store::write_tx(conn, |conn| {
        // Without an active owner nobody could approve, enroll or recover; checked
        // inside the write transaction so two disables cannot both pass.
        if row.role == Role::Owner.as_str() && !row.disabled {
            let others: i64 = users::table
                .filter(users::role.eq(Role::Owner.as_str()))
                .filter(users::disabled.eq(false))
                .filter(users::id.ne(&row.id))
                .count()
                .get_result(conn)?;
            if others == 0 {
                return Err(IdentityError::Invalid(Msg::new("last-owner")));
            }
        }
        diesel::update(users::table.find(&row.id))
            .set((users::disabled.eq(true), users::updated_at.eq(now)))
            .execute(conn)?;
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(&row.id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
        Ok::<_, IdentityError>(())
    })?;
    get(conn, &row.id)
}

pub fn set_password(
    conn: &mut DbConn,
    env: &Env,
    user_id: &str,
    pw: &SecretString,
) -> Result<(), IdentityError> {
    password::check_policy(pw)?;
    let hash = password::hash(env, pw)?;
    let now = env.now().naive_utc();
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id))
            .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
            .execute(conn)?;
        // A new password ends every existing session.
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
        Ok(())
    })
}

pub fn count_owners(conn: &mut DbConn) -> Result<i64, IdentityError> {
    Ok(users::table
        .filter(users::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)?)
}

/// Issues a one-time code with which `user_id` sets a password. Valid for `hours`.
pub fn issue_setup_token(
    conn: &mut DbConn,
    env: &Env,
    user_id: &str,
    hours: i64,
) -> Result<String, IdentityError> {
    let token = env.token()?;
    // Only the newest link works: issuing one retires the earlier ones.
    diesel::update(
        setup_tokens::table
            .filter(setup_tokens::user_id.eq(user_id))
            .filter(setup_tokens::used_at.is_null()),
    )
    .set(setup_tokens::used_at.eq(env.now().naive_utc()))
    .execute(conn)?;
    diesel::insert_into(setup_tokens::table)
        .values(SetupTokenRow {
            token_hash: token_hash(&token),
            user_id: user_id.to_string(),
            expires_at: (env.now() + Duration::hours(hours)).naive_utc(),
            used_at: None,
        })
        .execute(conn)?;
    Ok(token)
}

/// Spends a setup code: sets the password, returns the user. A code works once.
pub fn redeem_setup_token(
    conn: &mut DbConn,
    env: &Env,
    token: &str,
    pw: &SecretString,
) -> Result<User, IdentityError> {
    password::check_policy(pw)?;
    let now = env.now().naive_utc();
    let hash = token_hash(token);
    conn.transaction(|conn| {
        let row: Option<SetupTokenRow> = setup_tokens::table
            .find(&hash)
            .select(SetupTokenRow::as_select())
            .first(conn)
            .optional()?;
        let row = match row {
            Some(r) if r.used_at.is_none() && r.expires_at > now => r,
            _ => {
                return Err(IdentityError::Invalid(Msg::new("setup-link-invalid")));
            }
        };
        let updated = diesel::update(
            setup_tokens::table
                .find(&hash)
                .filter(setup_tokens::used_at.is_null()),
        )
        .set(setup_tokens::used_at.eq(now))
        .execute(conn)?;
        if updated != 1 {
            return Err(IdentityError::Invalid(Msg::new("setup-link-invalid")));
        }
        set_password(conn, env, &row.user_id, pw)?;
        get(conn, &row.user_id)
    })
}

pub fn setup_token_valid(conn: &mut DbConn, env: &Env, token: &str) -> Result<bool, IdentityError> {
    let now = env.now().naive_utc();
    Ok(setup_tokens::table
        .find(token_hash(token))
        .filter(setup_tokens::used_at.is_null())
        .filter(setup_tokens::expires_at.gt(now))
        .count()
        .get_result::<i64>(conn)?
        == 1)
}

/// A user's address for security notices (alerts e-mailed to owners and
/// admins), checked and lower-cased; an empty one is refused.
pub fn valid_email(raw: &str) -> Result<String, IdentityError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 254 {
        return Err(IdentityError::Invalid(Msg::new("invalid-email-length")));
    }
    let lowered = trimmed.to_lowercase();
    if !email_address::EmailAddress::is_valid(&lowered) {
        return Err(IdentityError::Invalid(
            Msg::new("invalid-email").arg("value", trimmed.chars().take(80).collect::<String>()),
        ));
    }
    Ok(lowered)
}

/// Sets (or with `None` removes) a user's notice address; the address kept.
pub fn set_email(
    conn: &mut DbConn,
    env: &Env,
    user_id: &str,
    email: Option<&str>,
) -> Result<Option<String>, IdentityError> {
    use crate::store::schema::user_emails;
    let email = email.map(valid_email).transpose()?;
    let now = env.now().naive_utc();
    crate::store::write_tx(conn, |conn| {
        diesel::delete(user_emails::table.find(user_id)).execute(conn)?;
        if let Some(e) = &email {
            diesel::insert_into(user_emails::table)
                .values((
                    user_emails::user_id.eq(user_id),
                    user_emails::email.eq(e),
                    user_emails::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok::<_, IdentityError>(())
    })?;
    Ok(email)
}

pub fn email_of(conn: &mut DbConn, user_id: &str) -> Result<Option<String>, IdentityError> {
    use crate::store::schema::user_emails;
    Ok(user_emails::table
        .find(user_id)
        .select(user_emails::email)
        .first(conn)
        .optional()?)
}
