//! `POST /clients/{id}/reveal`: the one-click reveal of a listed client's masked
//! phones and emails (audited as `client.reveal` by the Gate).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::clients::chrome;
use super::{Chrome, render};
use crate::crm::types::Contact;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/clients/{id}/reveal", web::post().to(reveal));
}

#[derive(Template)]
#[template(path = "client_reveal.html")]
struct RevealPage {
    c: Chrome,
    title: String,
    id_url: String,
    phones: Vec<Contact>,
    emails: Vec<Contact>,
}

async fn reveal(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .gate
        .reveal_client(&authed.actor, &meta.0, &id)
        .await?;
    let t = lang.0;
    let title = t.t1("reveal-title", "name", &r.name);
    render(
        StatusCode::OK,
        &RevealPage {
            c: chrome(&state, t, &authed),
            title,
            id_url: urlencoding::encode(&r.id).into_owned(),
            phones: r.phones,
            emails: r.emails,
        },
    )
}
