//! Client pages: list with search and filters, card with timeline, forms.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
