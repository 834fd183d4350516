//! The door to privileged operations that are not client data: hardware keys and
//! user accounts. Each call checks the role (casbin `users`/`manage`), the
//! hardware-key rule (elevation, and a fresh proof for the step-up actions in
//! configuration), writes the denial or the event to the audit log, and only then
//! runs. Handlers call these methods; they never decide step-up themselves.

use std::sync::Arc;

use serde_json::json;

use super::clearance::{Cleared, KeyRules};
use super::gate::{GateError, admit, who_of};
use super::policy::{Action, Object, Policy};
use crate::audit::{self, Event, Outcome, RequestMeta};
use crate::clock::Env;
use crate::config::KeysConfig;
use crate::i18n::Msg;
use crate::identity::users::{self, User};
use crate::identity::{Actor, IdentityError, Role};
use crate::keys::KeysError;
use crate::keys::service::{self, IssuedCode, KeyInfo};
use crate::store::{DbConn, Store, StoreError, write_tx};

#[derive(Clone)]
pub struct AdminGate {
    store: Store,
    policy: Arc<Policy>,
    env: Env,
    rules: Arc<KeyRules>,
    keys: KeysConfig,
}

/// A failure inside a privileged operation, before it is mapped for the caller.
enum Failure {
    Audit(StoreError),
    Gate(GateError),
}

impl From<KeysError> for Failure {
    fn from(e: KeysError) -> Self {
        Failure::Gate(match e {
            KeysError::NotFound => GateError::NotFound,
            KeysError::Conflict(m) => GateError::Conflict(m),
            KeysError::Store(s) => GateError::Store(s),
            other => GateError::Internal(other.to_string()),
        })
    }
}

impl From<IdentityError> for Failure {
    fn from(e: IdentityError) -> Self {
        Failure::Gate(match e {
            IdentityError::NotFound(_) => GateError::NotFound,
            IdentityError::Store(s) => GateError::Store(s),
            other => GateError::Internal(other.to_string()),
        })
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Gate(GateError::Store(StoreError::Query(e)))
    }
}

impl AdminGate {
    pub fn new(
        store: Store,
        policy: Arc<Policy>,
        env: Env,
        rules: Arc<KeyRules>,
        keys: KeysConfig,
    ) -> AdminGate {
        AdminGate {
            store,
            policy,
            env,
            rules,
            keys,
        }
    }

    /// Role, then the key rule; a refusal is audited here.
    async fn clear(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
    ) -> Result<Cleared, GateError> {
        let (err, detail) = match admit(
            &self.policy,
            &self.rules,
            actor,
            Object::Users,
            Action::Manage,
            event,
            self.env.now(),
        ) {
            Ok((_, cleared)) => return Ok(cleared),
            Err(refused) => refused,
        };
        self.deny(actor, meta, event, kind, ids, detail).await?;
        Err(err)
    }

    async fn deny(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
        detail: serde_json::Value,
    ) -> Result<(), GateError> {
        let ev = Event::new(event, Outcome::Denied)
            .by(who_of(actor))
            .on(kind, ids)
            .detail(detail);
        let (env, meta) = (self.env.clone(), meta.clone());
        self.store
            .run(move |conn| audit::record(conn, &env, &meta, &ev))
            .await
            .map_err(GateError::AuditUnavailable)
    }

    /// Runs `f` in a write transaction together with its audit event.
    async fn run<T, F>(
        &self,
        cleared: Cleared,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        f: F,
    ) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce(
                &mut DbConn,
                &Env,
                &Actor,
            ) -> Result<(T, Vec<String>, serde_json::Value), Failure>
            + Send
            + 'static,
    {
        let (env, meta) = (self.env.clone(), meta.clone());
        self.store
            .run(move |conn| {
                let actor = cleared.actor().clone();
                let result = write_tx(conn, |conn| -> Result<T, Failure> {
                    let (value, ids, detail) = f(conn, &env, &actor)?;
                    let ev = Event::new(event, Outcome::Ok)
                        .by(who_of(&actor))
                        .on(kind, ids)
                        .detail(detail);
                    audit::record(conn, &env, &meta, &ev).map_err(Failure::Audit)?;
                    Ok(value)
                });
                match result {
                    Ok(v) => Ok(v),
                    Err(Failure::Audit(e)) => Err(GateError::AuditUnavailable(e)),
                    Err(Failure::Gate(e)) => {
                        let ev = Event::new(event, Outcome::Failed)
                            .by(who_of(&actor))
                            .detail(json!({ "reason": e.to_string() }));
                        audit::record(conn, &env, &meta, &ev)
                            .map_err(GateError::AuditUnavailable)?;
                        Err(e)
                    }
                }
            })
            .await
    }

    /// Clearance for a privileged operation that lives above this layer (backups):
    /// the same role and hardware-key rule (step-up when `event` is a step-up
    /// action), a refusal audited here. Only the holder of the returned
    /// `Cleared` can run the operation.
    pub async fn clear_privileged(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        ids: Vec<String>,
    ) -> Result<Cleared, GateError> {
        self.clear(actor, meta, event, kind, ids).await
    }

    /// Admins manage accounts and keys, but not the owners': only an owner may.
    fn may_manage(actor: &Actor, target_role: Role) -> Result<(), Failure> {
        if target_role == Role::Owner && actor.role != Role::Owner {
            return Err(Failure::Gate(GateError::NotAllowed(Msg::new(
                "not-allowed-manage-owner",
            ))));
        }
        Ok(())
    }

    pub async fn list_keys(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
    ) -> Result<Vec<KeyInfo>, GateError> {
        let cleared = self
            .clear(actor, meta, "key.list", "user", vec![user_id.into()])
            .await?;
        let user_id = user_id.to_string();
        self.run(
            cleared,
            meta,
            "key.list",
            "user",
            move |conn, _env, _actor| {
                users::get(conn, &user_id)?;
                let keys = service::user_keys(conn, &user_id)?;
                let detail = json!({ "count": keys.len() });
                Ok((keys, vec![user_id], detail))
            },
        )
        .await
    }

    /// Every user with their keys, for the key management page.
    pub async fn users_and_keys(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<(User, Vec<KeyInfo>)>, GateError> {
        let cleared = self.clear(actor, meta, "key.list", "user", vec![]).await?;
        self.run(
            cleared,
            meta,
            "key.list",
            "user",
            move |conn, _env, _actor| {
                let mut out = Vec::new();
                for user in users::list(conn)? {
                    let keys = service::user_keys(conn, &user.id)?;
                    out.push((user, keys));
                }
                let ids = out.iter().map(|(u, _)| u.id.clone()).collect();
                let detail = json!({ "users": out.len() });
                Ok((out, ids, detail))
            },
        )
        .await
    }

    /// A one-time enrollment code for `user_id` (a step-up action by default).
    pub async fn issue_enrollment_code(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
    ) -> Result<IssuedCode, GateError> {
        let cleared = self
            .clear(
                actor,
                meta,
                "key.enrollment_code",
                "user",
                vec![user_id.into()],
            )
            .await?;
        let (user_id, cfg) = (user_id.to_string(), self.keys.clone());
        self.run(
            cleared,
            meta,
            "key.enrollment_code",
            "user",
            move |conn, env, actor| {
                let target = users::get(conn, &user_id)?;
                Self::may_manage(actor, target.role)?;
                if target.disabled {
                    return Err(Failure::Gate(GateError::Conflict(
                        "the user is disabled".into(),
                    )));
                }
                let issued = service::issue_code(conn, env, &cfg, &user_id, &actor.user_id)?;
                let detail = json!({ "expires_at": issued.expires_at });
                Ok((issued, vec![user_id], detail))
            },
        )
        .await
    }

    /// Revokes a key; every session it elevated ends (a step-up action by default).
    pub async fn revoke_key(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        key_id: &str,
    ) -> Result<KeyInfo, GateError> {
        let cleared = self
            .clear(actor, meta, "key.revoke", "key", vec![key_id.into()])
            .await?;
        let key_id = key_id.to_string();
        self.run(
            cleared,
            meta,
            "key.revoke",
            "key",
            move |conn, env, actor| {
                let key = service::get_key(conn, &key_id)?;
                let owner = users::get(conn, &key.user_id)?;
                Self::may_manage(actor, owner.role)?;
                let (key, ended) = service::revoke(conn, env, &key_id, &actor.user_id)?;
                let detail = json!({ "user": key.user_id, "sessions_ended": ended });
                Ok((key, vec![key_id], detail))
            },
        )
        .await
    }

    /// Disables a user and ends their sessions (a step-up action by default).
    pub async fn disable_user(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
    ) -> Result<User, GateError> {
        let cleared = self
            .clear(actor, meta, "user.disable", "user", vec![user_id.into()])
            .await?;
        let user_id = user_id.to_string();
        self.run(
            cleared,
            meta,
            "user.disable",
            "user",
            move |conn, env, actor| {
                let target = users::get(conn, &user_id)?;
                Self::may_manage(actor, target.role)?;
                if target.id == actor.user_id {
                    return Err(Failure::Gate(GateError::Conflict(
                        "you cannot disable yourself".into(),
                    )));
                }
                let user = users::disable(conn, env, &target.username)?;
                Ok((user, vec![user_id], json!({})))
            },
        )
        .await
    }

    /// Sets or clears the address a user's security notices go to (alerts for
    /// owners and admins). Owners and admins; only an owner changes an
    /// owner's (the address decides where owners' alerts go). A step-up
    /// action when configured (`user.email` is by default).
    pub async fn set_user_email(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        user_id: &str,
        email: Option<&str>,
    ) -> Result<Option<String>, GateError> {
        let cleared = self
            .clear(actor, meta, "user.email", "user", vec![user_id.into()])
            .await?;
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(users::valid_email(e).map_err(|e| match e {
                IdentityError::Invalid(msg) => GateError::Invalid {
                    field: "email".into(),
                    msg,
                },
                other => GateError::Internal(other.to_string()),
            })?),
            None => None,
        };
        let user_id = user_id.to_string();
        self.run(
            cleared,
            meta,
            "user.email",
            "user",
            move |conn, env, actor| {
                let target = users::get(conn, &user_id)?;
                Self::may_manage(actor, target.role)?;
                let before = users::email_of(conn, &user_id)?;
                let kept = users::set_email(conn, env, &user_id, email.as_deref())?;
                let domain = |e: &Option<String>| {
                    e.as_deref()
                        .and_then(|e| e.rsplit_once('@'))
                        .map(|(_, d)| d.to_string())
                };
                let detail = json!({
                    "email_set": kept.is_some(),
                    "changed": before != kept,
                    "domain_before": domain(&before),
                    "domain": domain(&kept),
                });
                Ok((kept, vec![user_id], detail))
            },
        )
        .await
    }
}
