//! The capability that domain code requires to touch client data.

use std::sync::Arc;

use super::policy::{Action, Object, Policy, Reach};
use crate::audit::Who;
use crate::identity::{Actor, Role};

/// Proof that a role check passed for one (object, action). Its fields are private
/// and it has no public constructor: only `access` can make one.
#[derive(Debug, Clone)]
pub struct Scope {
    principal: Principal,
    object: Object,
    action: Action,
    reach: Reach,
    policy: Arc<Policy>,
    /// Departure mode: only the user's own records, whatever the role reaches.
    frozen: bool,
}

#[derive(Debug, Clone)]
enum Principal {
    User(Actor),
    /// An automatic process (telephony webhook, web form); reach is always `All`
    /// for the one action it was created for.
    System(&'static str),
}

/// The SQL translation of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter<'a> {
    OwnedBy(&'a str),
    TeamOrOwnedBy { team: &'a str, owner: &'a str },
    Everything,
}

impl Scope {
    /// A user's scope; `cleared` is the evidence that the hardware-key rule passed.
    pub(super) fn for_user(
        cleared: super::clearance::Cleared,
        object: Object,
        action: Action,
        reach: Reach,
        policy: Arc<Policy>,
    ) -> Scope {
        Scope {
            principal: Principal::User(cleared.into_actor()),
            object,
            action,
            reach,
            policy,
            frozen: false,
        }
    }

    pub(super) fn for_system(
        name: &'static str,
        object: Object,
        action: Action,
        policy: Arc<Policy>,
    ) -> Scope {
        Scope {
            principal: Principal::System(name),
            object,
            action,
            reach: Reach::All,
            policy,
            frozen: false,
        }
    }

    /// Whether the role behind this scope holds `act` on `obj` at all (an
    /// automatic process holds everything): e.g. masked or full contacts.
    pub fn role_may(&self, obj: Object, act: Action) -> bool {
        match &self.principal {
            Principal::System(_) => true,
            Principal::User(a) => self.policy.reach(a.role, obj, act).is_some(),
        }
    }

    pub fn object(&self) -> Object {
        self.object
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn reach(&self) -> Reach {
        self.reach
    }

    pub fn is(&self, object: Object, action: Action) -> bool {
        self.object == object && self.action == action
    }

    /// The acting user's id; `None` for an automatic process.
    pub fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(a) => Some(&a.user_id),
            Principal::System(_) => None,
        }
    }

    pub fn actor(&self) -> Option<&Actor> {
        match &self.principal {
            Principal::User(a) => Some(a),
            Principal::System(_) => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.actor().map(|a| a.role)
    }

    pub fn who(&self) -> Who {
        match &self.principal {
            Principal::User(a) => super::gate::who_of(a),
            Principal::System(name) => Who {
                id: format!("system:{name}"),
                role: "system".into(),
                session_ref: None,
            },
        }
    }

    /// The scope of a user marked as leaving: their own records only.
    /// The same principal's scope for reading `object` as part of this
    /// scope's action (an export of deals reads deals): the role must hold
    /// `action` on `object` too, and the reach is the narrower of the two.
    pub(super) fn sibling(&self, object: Object, action: Action) -> Option<Scope> {
        let reach = match &self.principal {
            Principal::System(_) => Reach::All,
            Principal::User(a) => self.policy.reach(a.role, object, action)?.min(self.reach),
        };
        Some(Scope {
            principal: self.principal.clone(),
            object,
            action,
            reach,
            policy: self.policy.clone(),
            frozen: self.frozen,
        })
    }

    pub(super) fn frozen_to_own(mut self) -> Scope {
        self.reach = Reach::Own;
        self.frozen = true;
        self
    }

    pub fn filter(&self) -> Filter<'_> {
        match (&self.principal, self.reach) {
            (Principal::System(_), _) | (_, Reach::All) => Filter::Everything,
            (Principal::User(a), Reach::Team) => match &a.team_id {
                Some(team) => Filter::TeamOrOwnedBy {
                    team,
                    owner: &a.user_id,
                },
                None => Filter::OwnedBy(&a.user_id),
            },
            (Principal::User(a), Reach::Own) => Filter::OwnedBy(&a.user_id),
        }
    }

    /// The per-record check (casbin), for single reads and writes and for every row
    /// of a returned list page.
    pub fn permits(&self, owner: Option<&str>, team: Option<&str>) -> bool {
        match &self.principal {
            Principal::System(_) => true,
            Principal::User(a) => {
                (!self.frozen || owner == Some(a.user_id.as_str()))
                    && self.policy.permits(
                        a.role,
                        self.object,
                        self.action,
                        &a.user_id,
                        a.team_id.as_deref(),
                        owner,
                        team,
                    )
            }
        }
    }
}
