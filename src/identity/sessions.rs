//! Sessions: 256-bit random tokens, only their SHA-256 stored; idle and absolute
//! timeouts; all of a user's sessions end when the user is disabled.

use chrono::Duration;
use diesel::prelude::*;

use super::{Actor, IdentityError, token_hash};
use crate::clock::Env;
use crate::config::SessionConfig;
use crate::store::DbConn;
use crate::store::models::sessions::SessionRow;
use crate::store::models::users::UserRow;
use crate::store::schema::{sessions, users};

/// What the browser gets once: the token for the cookie and the CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

pub struct Resolved {
    pub actor: Actor,
    pub csrf_token: String,
}

/// The CSRF token of a session: an HMAC keyed with the session token. Only the
/// holder of the (HttpOnly) cookie and the server can compute it, and it needs no
/// storage, so any layer can check it.
pub fn csrf_token_for(session_token: &str) -> String {
    use base64::Engine;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, session_token.as_bytes());
    let tag = ring::hmac::sign(&key, CSRF_CONTEXT);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// Constant-time check of a presented CSRF token.
pub fn csrf_valid(session_token: &str, presented: &str) -> bool {
    use base64::Engine;
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, session_token.as_bytes());
    ring::hmac::verify(&key, CSRF_CONTEXT, &tag).is_ok()
}

const CSRF_CONTEXT: &[u8] = b"holdfast csrf v1";

pub fn session_ref(hash: &str) -> String {
    hash.chars().take(16).collect()
}

pub fn create(
    conn: &mut DbConn,
    env: &Env,
    cfg: &SessionConfig,
    user_id: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<NewSession, IdentityError> {
    let token = env.token()?;
    let csrf_token = csrf_token_for(&token);
    let now = env.now();
    let expires_at = now + Duration::hours(cfg.absolute_timeout_hours);
    diesel::insert_into(sessions::table)
        .values(SessionRow {
            token_hash: token_hash(&token),
            user_id: user_id.to_string(),
            created_at: now.naive_utc(),
            last_seen_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(512).collect()),
            revoked_at: None,
        })
        .execute(conn)?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at,
    })
}

/// The actor behind a session token, or `NoSession` when it is unknown, revoked,
/// idle too long, past its absolute lifetime, or its user is disabled.
pub fn resolve(
    conn: &mut DbConn,
    env: &Env,
    cfg: &SessionConfig,
    token: &str,
) -> Result<Resolved, IdentityError> {
    if token.len() != 43 {
        return Err(IdentityError::NoSession);
    }
    let hash = token_hash(token);
    let now = env.now().naive_utc();
    let found: Option<(SessionRow, UserRow)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(&hash))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((session, user)) = found else {
        return Err(IdentityError::NoSession);
    };
    let idle_limit = session.last_seen_at + Duration::minutes(cfg.idle_timeout_minutes);
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || idle_limit <= now
        || user.disabled
    {
        return Err(IdentityError::NoSession);
    }
    // Refresh the idle clock at most once a minute to keep reads cheap.
    if now - session.last_seen_at > Duration::seconds(60) {
        diesel::update(sessions::table.find(&hash))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    let team_id = user.team_id.clone();
    let elevation = super::elevation::for_session(conn, &hash)?;
    Ok(Resolved {
        actor: Actor {
            role: user.role.parse()?,
            user_id: user.id,
            username: user.username,
            display_name: user.display_name,
            team_id,
            session_ref: session_ref(&hash),
            elevation,
        },
        csrf_token: csrf_token_for(token),
    })
}

pub fn revoke(conn: &mut DbConn, env: &Env, token: &str) -> Result<(), IdentityError> {
    diesel::update(
        sessions::table
            .find(token_hash(token))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(env.now().naive_utc()))
    .execute(conn)?;
    Ok(())
}
