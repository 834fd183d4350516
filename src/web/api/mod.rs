//! The JSON API under `/api/v1`, one file per resource.

pub mod audit;
pub mod backups;
pub mod clients;
pub mod health;
pub mod intake;
pub mod keys;
pub mod openapi;
pub mod session;
pub mod statuses;
pub mod users;

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
                .configure(backups::configure),
        );
}
