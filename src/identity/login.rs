//! Password sign-in, throttled per account and per address. A failure answers the
//! same, after the same work, whether or not the user exists.

use chrono::Duration;
use secrecy::SecretString;

use super::sessions::{self, NewSession};
use super::{IdentityError, password, users};
use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::config::{LoginConfig, SessionConfig};
use crate::store::DbConn;
use crate::store::models::throttle;

pub struct LoginOk {
    pub session: NewSession,
    pub user: users::User,
}

#[allow(clippy::too_many_arguments)]
pub fn login(
    conn: &mut DbConn,
    env: &Env,
    login_cfg: &LoginConfig,
    session_cfg: &SessionConfig,
    dummy_hash: &str,
    meta: &RequestMeta,
    username: &str,
    pw: &SecretString,
) -> Result<LoginOk, IdentityError> {
    let now = env.now();
    let since = (now - Duration::minutes(login_cfg.window_minutes)).naive_utc();
    let account_key = format!(
        "login:user:{}",
        users::normalize_username(username).unwrap_or_else(|_| username.to_lowercase())
    );
    let ip_key = format!("login:ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    let attempted =
        serde_json::json!({ "username": username.chars().take(64).collect::<String>() });

    let throttled = throttle::hits(conn, &account_key, since)?
        >= login_cfg.max_failures_per_account
        || throttle::hits(conn, &ip_key, since)? >= login_cfg.max_failures_per_ip;

    let user = users::find_by_username(conn, username)?;
    // Always pay for one argon2 verification, even when throttled or unknown.
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let password_ok = password::verify(stored, dummy_hash, pw);

    if throttled {
        audit::record(
            conn,
            env,
            meta,
            &Event::new("login", Outcome::Denied)
                .detail(serde_json::json!({ "reason": "throttled", "attempt": attempted })),
        )?;
        return Err(IdentityError::Throttled);
    }

    let user = match user {
        Some(u) if password_ok && !u.disabled => u,
        other => {
            throttle::hit(conn, &account_key, now.naive_utc(), since)?;
            throttle::hit(conn, &ip_key, now.naive_utc(), since)?;
            let reason = match &other {
                None => "unknown user",
                Some(u) if u.disabled => "disabled user",
                Some(u) if u.password_hash.is_none() => "no password set",
                Some(_) => "wrong password",
            };
            let mut event = Event::new("login", Outcome::Failed)
                .detail(serde_json::json!({ "reason": reason, "attempt": attempted }));
            if let Some(u) = &other {
                event = event.by(Who {
                    id: u.id.clone(),
                    role: u.role.clone(),
                    session_ref: None,
                });
            }
            audit::record(conn, env, meta, &event)?;
            return Err(IdentityError::BadCredentials);
        }
    };

    throttle::clear(conn, &account_key)?;
    let session = sessions::create(
        conn,
        env,
        session_cfg,
        &user.id,
        meta.ip.clone(),
        meta.user_agent.clone(),
    )?;
    audit::record(
        conn,
        env,
        meta,
        &Event::new("login", Outcome::Ok).by(Who {
            id: user.id.clone(),
            role: user.role.clone(),
            session_ref: Some(sessions::session_ref(&super::token_hash(&session.token))),
        }),
    )?;
    let user = users::get(conn, &user.id)?;
    Ok(LoginOk { session, user })
}

/// A precomputed hash of a random password, checked when the user does not exist.
pub fn dummy_hash(env: &Env) -> Result<String, IdentityError> {
    password::hash(env, &SecretString::from(env.token()?))
}
