//! Holdfast: a self-hosted CRM whose client base stays the company's.
//!
//! Modules follow the dependency direction; lower layers never import higher ones:
//! `web` → (`audit`, `guard`, `backup`) → (`access`, `identity`) → `crm` → `store`.
//! `config`, `clock` and `i18n` are leaf utilities every layer may use.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crm;
pub mod demo;
pub mod exports;
pub mod files;
pub mod i18n;
pub mod identity;
pub mod keys;
pub mod mailer;
pub mod store;
pub mod web;
