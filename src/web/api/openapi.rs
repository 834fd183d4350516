//! `GET /api/v1/openapi.json`: the API description, kept beside the handlers and
//! checked against the routes by a test.

use actix_web::{HttpResponse, web};

pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(document));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(DOCUMENT)
}
