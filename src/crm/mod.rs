//! The CRM domain: clients, contacts, timeline, statuses. No HTTP here.
//! Every function that reads or writes client data takes an `access::Scope`.

pub mod clients;
pub mod contact;
pub mod cursor;
pub mod intake;
pub mod search;
pub mod statuses;
pub mod text;
pub mod timeline;
pub mod types;
// Deals, tasks and reminders (the work surface).
pub mod deals;
pub mod leads;
pub mod notifications;
pub mod tasks;
pub mod work;

use crate::i18n::Msg;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: Msg },
    /// Missing, or outside the caller's scope (the two answer alike).
    #[error("not found")]
    NotFound,
    /// The record exists but the caller's scope does not cover it (audited as a
    /// denial, answered like `NotFound`).
    #[error("not found")]
    OutOfScope,
    #[error("not allowed: {0}")]
    Forbidden(Msg),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl CrmError {
    pub fn invalid(field: &str, msg: Msg) -> Self {
        CrmError::Invalid {
            field: field.to_string(),
            msg,
        }
    }
}

impl From<diesel::result::Error> for CrmError {
    fn from(e: diesel::result::Error) -> Self {
        CrmError::Store(StoreError::Query(e))
    }
}

impl From<crate::clock::EntropyError> for CrmError {
    fn from(e: crate::clock::EntropyError) -> Self {
        CrmError::Internal(e.to_string())
    }
}
pub mod export;
pub mod reassign;
// Service delivery and billing.
pub mod invoice_math;
pub mod invoices;
pub mod projects;
// CSV import of clients: the file reader (pure) and the staged, checked commit.
pub mod import_csv;
pub mod imports;
// Reports (funnel, revenue, activity, clients at risk).
pub mod reports;
