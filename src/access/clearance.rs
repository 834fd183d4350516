//! The hardware-key rule, checked by the access layer before any scope or
//! privileged pass is handed out: a privileged role (configuration) needs a
//! current elevation, and a step-up action (configuration) a proof made in the
//! last few minutes. `Cleared` is the evidence, and `Scope::for_user` requires it.

use chrono::{DateTime, Duration, Utc};

use crate::config::KeysConfig;
use crate::identity::{Actor, Role};

#[derive(Debug, Clone)]
pub struct KeyRules {
    privileged: Vec<Role>,
    step_up: Duration,
    step_up_actions: Vec<String>,
}

/// Why the key rule refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A privileged role without a current elevation.
    ProofRequired,
    /// A step-up action without a proof in the last `step_up_minutes`.
    FreshProofRequired,
}

impl Refusal {
    /// The reason written to the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::ProofRequired => "hardware key proof required",
            Refusal::FreshProofRequired => "fresh hardware key proof required",
        }
    }
}

/// An actor that passed the key rule for one action.
#[derive(Debug, Clone)]
pub struct Cleared(Actor);

impl Cleared {
    pub fn actor(&self) -> &Actor {
        &self.0
    }

    pub(super) fn into_actor(self) -> Actor {
        self.0
    }

    /// The requester of an export or bulk move that an owner approved with a
    /// fresh proof: the approval stands in for the requester's absent session,
    /// and the work runs within the requester's own scope.
    pub(super) fn on_approval(requester: Actor) -> Cleared {
        Cleared(requester)
    }

    /// Only for the benchmark's baseline routes, which skip every check by design.
    #[cfg(feature = "bench")]
    pub(super) fn unchecked(actor: Actor) -> Cleared {
        Cleared(actor)
    }
}

impl Default for KeyRules {
    /// The strict defaults: owners and admins need a proof.
    fn default() -> Self {
        KeyRules::from_config(&KeysConfig::default())
    }
}

impl KeyRules {
    pub fn from_config(cfg: &KeysConfig) -> KeyRules {
        KeyRules {
            privileged: Role::ALL
                .into_iter()
                .filter(|r| cfg.privileged_roles.iter().any(|p| p == r.as_str()))
                .collect(),
            step_up: Duration::minutes(cfg.step_up_minutes),
            step_up_actions: cfg.step_up_actions.clone(),
        }
    }

    pub fn is_privileged(&self, role: Role) -> bool {
        self.privileged.contains(&role)
    }

    pub fn is_step_up(&self, action: &str) -> bool {
        self.step_up_actions.iter().any(|a| a == action)
    }

    pub fn step_up_window(&self) -> Duration {
        self.step_up
    }

    /// May `actor` do `action` now, as far as hardware keys are concerned?
    /// Step-up actions need a fresh proof from every role, privileged or not.
    pub fn check(
        &self,
        actor: &Actor,
        action: &str,
        now: DateTime<Utc>,
    ) -> Result<Cleared, Refusal> {
        let elevated = actor.elevation.as_ref().is_some_and(|e| e.active_at(now));
        if self.is_privileged(actor.role) && !elevated {
            return Err(Refusal::ProofRequired);
        }
        if self.is_step_up(action)
            && !actor
                .elevation
                .as_ref()
                .is_some_and(|e| e.fresh_at(now, self.step_up))
        {
            return Err(if elevated {
                Refusal::FreshProofRequired
            } else {
                Refusal::ProofRequired
            });
        }
        Ok(Cleared(actor.clone()))
    }
}
