//! The door for projects, invoices (with credit notes) and payments: the same
//! pipeline as deals (role check, scope, domain call, audit event), with events
//! that name the record and its client, so a client's history shows who touched
//! its projects, invoices and payments.

use serde::Serialize;
use serde_json::json;

use super::{Gate, GateError, Mode, Touched, touched};
use crate::access::policy::{Action, Object};
use crate::audit::RequestMeta;
use crate::crm::deals::Deal;
use crate::crm::invoices::{
    self, Balance, Invoice, InvoiceDetail, InvoicePatch, InvoiceQuery, NewCreditNote, NewInvoice,
    NewPayment, Payment,
};
use crate::crm::projects::{self, NewProject, Project, ProjectPatch, ProjectQuery};
use crate::crm::types::Page;
use crate::identity::Actor;

/// Everything a client has with the business, for its card and the API.
#[derive(Debug, Clone, Serialize)]
pub struct Relationship {
    pub client_id: String,
    pub deals: Vec<Deal>,
    pub projects: Vec<Project>,
    pub invoices: Vec<Invoice>,
    pub payments: Vec<Payment>,
    /// Per currency; amounts in different currencies are never added.
    pub balance: Vec<Balance>,
}

/// A client's projects, invoices, payments and balance.
#[derive(Debug, Clone, Serialize)]
pub struct ClientBilling {
    pub projects: Vec<Project>,
    pub invoices: Vec<Invoice>,
    pub payments: Vec<Payment>,
    pub balance: Vec<Balance>,
}

fn invoice_ids(i: &Invoice) -> Vec<String> {
    vec![i.id.clone(), i.client.id.clone()]
}

fn invoice_touched(d: InvoiceDetail, detail: serde_json::Value) -> Touched<InvoiceDetail> {
    let ids = invoice_ids(&d.invoice);
    let detail = match detail {
        serde_json::Value::Object(mut m) => {
            m.insert("number".into(), json!(d.invoice.number));
            m.insert("total".into(), json!(d.invoice.total));
            m.insert("currency".into(), json!(d.invoice.currency));
            serde_json::Value::Object(m)
        }
        other => other,
    };
    touched(d, ids, detail)
}

impl Gate {
    // -----------------------------------------------------------------------
    // Projects

    pub async fn list_projects(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: ProjectQuery,
    ) -> Result<Page<Project>, GateError> {
        let rule = (Object::Project, Action::List);
        self.through(actor, meta, rule, "project.list", "project", vec![], Mode::Read, move |conn, _, scope| {
            let page = projects::list(conn, scope, &query)?;
            let ids = page.items.iter().flat_map(|p| [p.id.clone(), p.client.id.clone()]).collect();
            let detail = json!({ "client_id": query.client_id, "status": query.status, "count": page.items.len() });
            Ok(touched(page, ids, detail))
        })
        .await
    }

    pub async fn project(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Project, GateError> {
        let rule = (Object::Project, Action::Read);
        self.on_record(
            actor,
            meta,
            rule,
            "project.read",
            "project",
            id,
            Mode::Read,
            move |conn, _, scope, id| {
                let p = projects::get(conn, scope, id)?;
                let ids = vec![p.id.clone(), p.client.id.clone()];
                Ok(touched(p, ids, json!({})))
            },
        )
        .await
    }

    pub async fn create_project(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewProject,
    ) -> Result<Project, GateError> {
        let rule = (Object::Project, Action::Create);
        let ids = vec![input.client_id.clone()];
        self.through(actor, meta, rule, "project.create", "project", ids, Mode::Write, move |conn, ctx, scope| {
            let p = projects::create(conn, ctx, scope, &input)?;
            let ids = vec![p.id.clone(), p.client.id.clone()];
            let detail = json!({ "status": p.status, "responsible": p.responsible.as_ref().map(|r| r.id.clone()) });
            Ok(touched(p, ids, detail))
        })
        .await
    }

    pub async fn update_project(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project, GateError> {
        let rule = (Object::Project, Action::Update);
        self.on_record(
            actor,
            meta,
            rule,
            "project.update",
            "project",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let (p, fields) = projects::update(conn, ctx, scope, id, &patch)?;
                let ids = vec![p.id.clone(), p.client.id.clone()];
                Ok(touched(p, ids, json!({ "fields": fields })))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // Invoices and credit notes

    pub async fn list_invoices(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: InvoiceQuery,
    ) -> Result<Page<Invoice>, GateError> {
        let rule = (Object::Invoice, Action::List);
        self.through(
            actor,
            meta,
            rule,
            "invoice.list",
            "invoice",
            vec![],
            Mode::Read,
            move |conn, ctx, scope| {
                let page = invoices::list(conn, ctx, scope, &query)?;
                let ids = page.items.iter().flat_map(invoice_ids).collect();
                let detail = json!({
                    "client_id": query.client_id, "kind": query.kind, "status": query.status,
                    "count": page.items.len(),
                });
                Ok(touched(page, ids, detail))
            },
        )
        .await
    }

    pub async fn invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<InvoiceDetail, GateError> {
        let rule = (Object::Invoice, Action::Read);
        self.on_record(
            actor,
            meta,
            rule,
            "invoice.read",
            "invoice",
            id,
            Mode::Read,
            move |conn, ctx, scope, id| {
                Ok(invoice_touched(
                    invoices::get(conn, ctx, scope, id)?,
                    json!({}),
                ))
            },
        )
        .await
    }

    pub async fn create_invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: NewInvoice,
    ) -> Result<InvoiceDetail, GateError> {
        let rule = (Object::Invoice, Action::Create);
        let ids = vec![input.client_id.clone()];
        self.through(
            actor,
            meta,
            rule,
            "invoice.create",
            "invoice",
            ids,
            Mode::Write,
            move |conn, ctx, scope| {
                let d = invoices::create(conn, ctx, scope, &input)?;
                let lines = d.lines.len();
                Ok(invoice_touched(d, json!({ "lines": lines })))
            },
        )
        .await
    }

    pub async fn update_invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        patch: InvoicePatch,
    ) -> Result<InvoiceDetail, GateError> {
        let rule = (Object::Invoice, Action::Update);
        self.on_record(
            actor,
            meta,
            rule,
            "invoice.update",
            "invoice",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let (d, fields) = invoices::update(conn, ctx, scope, id, &patch)?;
                Ok(invoice_touched(d, json!({ "fields": fields })))
            },
        )
        .await
    }

    /// `invoice.issue`, `invoice.void`: state moves of one document.
    pub async fn move_invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        to_void: bool,
    ) -> Result<InvoiceDetail, GateError> {
        let rule = (Object::Invoice, Action::Update);
        let event = if to_void {
            "invoice.void"
        } else {
            "invoice.issue"
        };
        self.on_record(
            actor,
            meta,
            rule,
            event,
            "invoice",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let d = if to_void {
                    invoices::void(conn, ctx, scope, id)?
                } else {
                    invoices::issue(conn, ctx, scope, id)?
                };
                let detail = json!({ "credits_id": d.invoice.credits_id });
                Ok(invoice_touched(d, detail))
            },
        )
        .await
    }

    pub async fn credit_invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        input: NewCreditNote,
    ) -> Result<InvoiceDetail, GateError> {
        let rule = (Object::Invoice, Action::Update);
        self.on_record(
            actor,
            meta,
            rule,
            "invoice.credit",
            "invoice",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let d = invoices::credit(conn, ctx, scope, id, &input)?;
                Ok(invoice_touched(d, json!({ "credits_id": id })))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // Payments

    pub async fn invoice_payments(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<Vec<Payment>, GateError> {
        let rule = (Object::Payment, Action::List);
        self.on_record(
            actor,
            meta,
            rule,
            "payment.list",
            "payment",
            id,
            Mode::Read,
            move |conn, _, scope, id| {
                let list = invoices::payments_of(conn, scope, id)?;
                let ids = std::iter::once(id.to_string())
                    .chain(list.iter().map(|p| p.id.clone()))
                    .collect();
                let detail = json!({ "count": list.len() });
                Ok(touched(list, ids, detail))
            },
        )
        .await
    }

    pub async fn pay_invoice(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        input: NewPayment,
    ) -> Result<(Payment, Invoice), GateError> {
        let rule = (Object::Payment, Action::Create);
        self.on_record(
            actor,
            meta,
            rule,
            "payment.create",
            "payment",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let (p, inv) = invoices::pay(conn, ctx, scope, id, &input)?;
                let ids = vec![p.id.clone(), inv.id.clone(), inv.client.id.clone()];
                let detail =
                    json!({ "amount": p.amount, "currency": p.currency, "status": inv.status });
                Ok(touched((p, inv), ids, detail))
            },
        )
        .await
    }

    // -----------------------------------------------------------------------
    // A client's whole relationship

    /// The client's deals, projects, invoices, payments and balance. The client
    /// itself must be readable first (out of scope: 404); each part is then read
    /// through its own door, so each is checked and audited like any other read.
    pub async fn client_relationship(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        client_id: &str,
    ) -> Result<Relationship, GateError> {
        self.client_card(actor, meta, client_id).await?;
        let deals = self.client_deals(actor, meta, client_id).await?;
        let b = self.client_billing(actor, meta, client_id).await?;
        Ok(Relationship {
            client_id: client_id.to_string(),
            deals,
            projects: b.projects,
            invoices: b.invoices,
            payments: b.payments,
            balance: b.balance,
        })
    }

    /// The client's projects, invoices, payments and balance (the card reads the
    /// client and its deals itself).
    pub async fn client_billing(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        client_id: &str,
    ) -> Result<ClientBilling, GateError> {
        let projects = self
            .list_projects(
                actor,
                meta,
                ProjectQuery {
                    client_id: Some(client_id.to_string()),
                    limit: Some(crate::crm::types::MAX_PAGE),
                    ..ProjectQuery::default()
                },
            )
            .await?
            .items;
        let cid = client_id.to_string();
        let rule = (Object::Invoice, Action::List);
        let ids = vec![cid.clone()];
        let invoices = self
            .through(
                actor,
                meta,
                rule,
                "invoice.list",
                "invoice",
                ids,
                Mode::Read,
                move |conn, ctx, scope| {
                    let list = invoices::of_client(conn, ctx, scope, &cid)?;
                    let ids = std::iter::once(cid.clone())
                        .chain(list.iter().map(|i| i.id.clone()))
                        .collect();
                    let detail = json!({ "client_id": cid, "count": list.len() });
                    Ok(touched(list, ids, detail))
                },
            )
            .await?;
        let cid = client_id.to_string();
        let rule = (Object::Payment, Action::List);
        let ids = vec![cid.clone()];
        let payments = self
            .through(
                actor,
                meta,
                rule,
                "payment.list",
                "payment",
                ids,
                Mode::Read,
                move |conn, _, scope| {
                    let list = invoices::payments_of_client(conn, scope, &cid)?;
                    let ids = std::iter::once(cid.clone())
                        .chain(list.iter().map(|p| p.id.clone()))
                        .collect();
                    let detail = json!({ "client_id": cid, "count": list.len() });
                    Ok(touched(list, ids, detail))
                },
            )
            .await?;
        let balance = invoices::balance(&invoices);
        Ok(ClientBilling {
            projects,
            invoices,
            payments,
            balance,
        })
    }
}
