//! The door for CSV imports of clients: the same pipeline as for client cards.
//! Importing is its own action (`client` `import` in the policy: team leads
//! within their team, owners everywhere, with their hardware key); a refusal is
//! audited where it is decided. A staged upload is visible only to its
//! uploader. The commit is one write: every created and merged client and ONE
//! `client.import` event with the row count and their ids commit together, or
//! nothing does.

use chrono::Duration;
use serde_json::json;

use super::{Gate, GateError, Mode, touched};
use crate::access::policy::{Action, Object};
use crate::audit::RequestMeta;
use crate::crm::import_csv::Limits;
use crate::crm::imports::{self, ImportSummary, ImportView, Outcome, Settings, Upload};
use crate::identity::Actor;

/// Ids a preview names: the batch, then the existing clients it shows.
fn view_ids(v: &ImportView) -> Vec<String> {
    let mut ids = vec![v.id.clone()];
    for d in &v.duplicates {
        if let Some(id) = &d.client_id
            && !ids.contains(id)
        {
            ids.push(id.clone());
        }
    }
    ids
}

fn view_detail(v: &ImportView) -> serde_json::Value {
    json!({
        "batch": v.id, "rows": v.summary.rows, "create": v.summary.create,
        "merge": v.summary.merge, "skip": v.summary.skip, "errors": v.summary.errors,
        "duplicates": v.duplicates.len(),
    })
}

/// The rule every import step is checked against.
const IMPORT: (Object, Action) = (Object::Client, Action::Import);

impl Gate {
    async fn import_scope(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        ids: Vec<String>,
    ) -> Result<super::Scope, GateError> {
        self.scope_as(actor, meta, IMPORT, event, "import", ids)
            .await
    }

    /// Reads an uploaded file and stages it for its uploader. A file that cannot
    /// be read is refused (and the refusal audited); nothing else is written.
    pub async fn import_upload(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        upload: Upload,
        limits: Limits,
        staged_for: Duration,
    ) -> Result<ImportView, GateError> {
        let scope = self
            .import_scope(actor, meta, "client.import.upload", vec![])
            .await?;
        self.pass_as(
            scope,
            meta,
            Mode::Write,
            "client.import.upload",
            "import",
            None,
            move |conn, ctx, scope| {
                let (view, parsed) =
                    imports::stage(conn, ctx, scope, &upload, &limits, staged_for)?;
                let mut detail = view_detail(&view);
                detail["file_bytes"] = json!(upload.bytes.len());
                detail["encoding"] = json!(parsed.encoding.as_str());
                detail["delimiter"] = json!((parsed.delimiter as char).to_string());
                detail["columns"] = json!(parsed.headers.len());
                let ids = view_ids(&view);
                Ok(touched(view, ids, detail))
            },
        )
        .await
    }

    /// The caller's own imports that have not expired.
    pub async fn import_list(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<ImportSummary>, GateError> {
        let scope = self
            .import_scope(actor, meta, "client.import.list", vec![])
            .await?;
        self.pass_as(
            scope,
            meta,
            Mode::Read,
            "client.import.list",
            "import",
            None,
            move |conn, ctx, scope| {
                let list = imports::list(conn, ctx, scope)?;
                let ids = list.iter().map(|i| i.id.clone()).collect();
                let detail = json!({ "count": list.len() });
                Ok(touched(list, ids, detail))
            },
        )
        .await
    }

    /// The preview of one's staged import, every row checked; someone else's is
    /// not found (and the attempt audited as a denial).
    pub async fn import_show(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<ImportView, GateError> {
        self.on_record(
            actor,
            meta,
            IMPORT,
            "client.import.read",
            "import",
            id,
            Mode::Read,
            move |conn, ctx, scope, id| {
                let view = imports::show(conn, ctx, scope, id)?;
                let ids = view_ids(&view);
                Ok(touched(view.clone(), ids, view_detail(&view)))
            },
        )
        .await
    }

    /// Saves the column mapping and the duplicate policy, then shows the preview.
    pub async fn import_configure(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        settings: Settings,
    ) -> Result<ImportView, GateError> {
        self.on_record(
            actor,
            meta,
            IMPORT,
            "client.import.configure",
            "import",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let view = imports::configure(conn, ctx, scope, id, &settings)?;
                let ids = view_ids(&view);
                let mut detail = view_detail(&view);
                detail["mapping"] = json!(view.mapping);
                detail["policy"] = json!(view.policy);
                Ok(touched(view, ids, detail))
            },
        )
        .await
    }

    pub async fn import_discard(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(), GateError> {
        self.on_record(
            actor,
            meta,
            IMPORT,
            "client.import.discard",
            "import",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                imports::discard(conn, ctx, scope, id)?;
                Ok(touched((), vec![id.to_string()], json!({})))
            },
        )
        .await
    }

    /// Commits a staged import: all rows in one transaction with ONE audit
    /// event (`client.import`) naming the batch, the row count and every
    /// created and merged client. Any bad row refuses the whole import.
    pub async fn import_commit(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        id: &str,
        settings: Settings,
    ) -> Result<Outcome, GateError> {
        self.on_record(
            actor,
            meta,
            IMPORT,
            "client.import",
            "client",
            id,
            Mode::Write,
            move |conn, ctx, scope, id| {
                let (batch, outcome) = imports::commit(conn, ctx, scope, id, &settings)?;
                let detail = json!({
                    "batch": batch, "rows": outcome.rows,
                    "created": outcome.created.len(), "merged": outcome.merged.len(),
                    "skipped": outcome.skipped,
                });
                let ids = outcome
                    .created
                    .iter()
                    .chain(outcome.merged.iter())
                    .cloned()
                    .collect();
                Ok(touched(outcome, ids, detail))
            },
        )
        .await
    }
}
