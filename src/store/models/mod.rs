//! Row types, one file per table.

pub mod audit_events;
pub mod billing;
pub mod clients;
pub mod exports;
pub mod hardware_keys;
pub mod imports;
pub mod reports;
pub mod sessions;
pub mod teams;
pub mod throttle;
pub mod users;
pub mod work;
