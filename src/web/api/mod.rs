//! The JSON API under `/api/v1`, one file per resource.

pub mod alerts;
pub mod audit;
pub mod backups;
pub mod clients;
pub mod exports;
pub mod health;
pub mod intake;
pub mod keys;
pub mod openapi;
pub mod reassign;
pub mod session;
pub mod statuses;
pub mod users;
// Deals, tasks and notifications.
pub mod deals;
pub mod tasks;
// Projects, invoices, payments.
pub mod billing;
// Departure mode.
pub mod departures;
// CSV import of clients.
pub mod imports;
// Reports.
pub mod reports;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure)
        .configure(intake::configure)
        .service(
            web::scope("/api/v1")
                .configure(session::configure)
                .configure(clients::configure)
                .configure(audit::configure)
                .configure(statuses::configure)
                .configure(keys::configure)
                .configure(users::configure)
                .configure(openapi::configure)
                .configure(exports::configure)
                .configure(alerts::configure)
                .configure(reassign::configure)
                .configure(deals::configure)
                .configure(tasks::configure)
                .configure(backups::configure)
                .configure(billing::configure)
                .configure(departures::configure)
                .configure(imports::configure)
                .configure(reports::configure),
        );
}
