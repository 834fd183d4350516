//! Integration tests over the real server (TLS on a loopback port), on SQLite,
//! or on PostgreSQL when HOLDFAST_TEST_DATABASE_URL is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod architecture;
mod audit;
mod audit_views;
mod authz;
mod backup;
mod bad_input;
mod billing;
mod cli;
mod clients;
mod deals;
mod departures;
mod detection;
mod exports;
mod import;
mod intake;
mod keys;
mod notify;
mod reports;
mod scope_property;
mod security;
mod store;
mod tasks;
mod webauthn;
