//! The only door to client data. `policy` answers casbin questions; `scope` holds
//! the capability that domain reads require; `gate` checks, calls the domain and
//! writes the audit event in one pipeline.
//!
//! `scope::Scope` can only be built inside this module, so code that holds one has
//! passed the role check. The domain (`crm`) takes `&Scope` for every read and write
//! of client data.

pub mod admin;
pub mod clearance;
pub mod gate;
pub mod mask;
pub mod policy;
pub mod scope;

pub use admin::AdminGate;
pub use clearance::{Cleared, KeyRules, Refusal};
pub use gate::{
    Decoy, DetectRules, Gate, GateError, NewDecoy, ReassignOutcome, ReassignRequest, Revealed,
    console_trace,
};
pub use policy::{Action, Object, Policy, Reach};
pub use scope::{Filter, Scope};

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("policy: {0}")]
    Policy(String),
}
