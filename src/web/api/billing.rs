//! `/api/v1/projects`, `/api/v1/invoices` (with credit notes and payments) and
//! `/api/v1/clients/{id}/relationship` (deals, projects, invoices, payments and
//! balance of one client).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::crm::invoices::{InvoicePatch, InvoiceQuery, NewCreditNote, NewInvoice, NewPayment};
use crate::crm::projects::{NewProject, ProjectPatch, ProjectQuery};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects")
            .route(web::get().to(list_projects))
            .route(web::post().to(create_project)),
    )
    .service(
        web::resource("/projects/{id}")
            .route(web::get().to(read_project))
            .route(web::patch().to(update_project)),
    )
    .service(
        web::resource("/invoices")
            .route(web::get().to(list_invoices))
            .route(web::post().to(create_invoice)),
    )
    .service(
        web::resource("/invoices/{id}")
            .route(web::get().to(read_invoice))
            .route(web::patch().to(update_invoice)),
    )
    .route("/invoices/{id}/issue", web::post().to(issue))
    .route("/invoices/{id}/void", web::post().to(void))
    .route("/invoices/{id}/credit-notes", web::post().to(credit))
    .service(
        web::resource("/invoices/{id}/payments")
            .route(web::get().to(payments))
            .route(web::post().to(pay)),
    )
    .route("/clients/{id}/relationship", web::get().to(relationship));
}

fn ok<T: Serialize>(value: T) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(value))
}

fn created<T: Serialize>(location: String, value: T) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(value))
}

async fn list_projects(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    ok(gate.list_projects(who, &meta.0, query.into_inner()).await?)
}

async fn create_project(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewProject>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    let p = gate.create_project(who, &meta.0, body.into_inner()).await?;
    created(format!("/api/v1/projects/{}", p.id), p)
}

async fn read_project(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state.gate.project(&authed.actor, &meta.0, &id).await?)
}

async fn update_project(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<ProjectPatch>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    ok(gate
        .update_project(who, &meta.0, &id, body.into_inner())
        .await?)
}

async fn list_invoices(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    query: web::Query<InvoiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    ok(gate.list_invoices(who, &meta.0, query.into_inner()).await?)
}

async fn create_invoice(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<NewInvoice>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    let d = gate.create_invoice(who, &meta.0, body.into_inner()).await?;
    created(format!("/api/v1/invoices/{}", d.invoice.id), d)
}

async fn read_invoice(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state.gate.invoice(&authed.actor, &meta.0, &id).await?)
}

async fn update_invoice(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<InvoicePatch>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    ok(gate
        .update_invoice(who, &meta.0, &id, body.into_inner())
        .await?)
}

async fn issue(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state
        .gate
        .move_invoice(&authed.actor, &meta.0, &id, false)
        .await?)
}

async fn void(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state
        .gate
        .move_invoice(&authed.actor, &meta.0, &id, true)
        .await?)
}

async fn credit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: Option<web::Json<NewCreditNote>>,
) -> Result<HttpResponse, ApiError> {
    let input = body.map(web::Json::into_inner).unwrap_or_default();
    let (gate, who) = (&state.gate, &authed.actor);
    let d = gate.credit_invoice(who, &meta.0, &id, input).await?;
    created(format!("/api/v1/invoices/{}", d.invoice.id), d)
}

async fn payments(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state
        .gate
        .invoice_payments(&authed.actor, &meta.0, &id)
        .await?)
}

#[derive(Serialize)]
struct Paid {
    payment: crate::crm::invoices::Payment,
    invoice: crate::crm::invoices::Invoice,
}

async fn pay(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
    body: web::Json<NewPayment>,
) -> Result<HttpResponse, ApiError> {
    let (gate, who) = (&state.gate, &authed.actor);
    let (payment, invoice) = gate
        .pay_invoice(who, &meta.0, &id, body.into_inner())
        .await?;
    created(
        format!("/api/v1/invoices/{}/payments", invoice.id),
        Paid { payment, invoice },
    )
}

async fn relationship(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ok(state
        .gate
        .client_relationship(&authed.actor, &meta.0, &id)
        .await?)
}
