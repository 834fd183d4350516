//! Who is asking: users, passwords, sessions, login throttling.

pub mod elevation;
pub mod login;
pub mod password;
pub mod sessions;
pub mod users;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::i18n::Msg;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Sales,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Manager, Role::Sales];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "sales" => Ok(Role::Sales),
            other => Err(IdentityError::Invalid(
                Msg::new("invalid-role").arg("value", other.chars().take(20).collect::<String>()),
            )),
        }
    }
}

/// The signed-in person a request acts for.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<String>,
    /// A short, non-secret reference to the session (for the audit log).
    pub session_ref: String,
    /// The session's hardware-key elevation; `None` until a proof is made. Only
    /// `sessions::resolve` can fill it (the type has no public constructor).
    pub elevation: Option<elevation::Elevation>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Invalid(Msg),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed attempts; try again later")]
    Throttled,
    #[error("not signed in or the session has ended")]
    NoSession,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for IdentityError {
    fn from(e: diesel::result::Error) -> Self {
        IdentityError::Store(StoreError::Query(e))
    }
}

impl From<crate::clock::EntropyError> for IdentityError {
    fn from(e: crate::clock::EntropyError) -> Self {
        IdentityError::Internal(e.to_string())
    }
}

/// SHA-256 of a secret token, hex: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}
