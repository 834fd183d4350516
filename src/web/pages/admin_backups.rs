//! `/admin/backups`: owners and admins see the backup history and the archives,
//! make a backup now, and restore an archive into another database (a fresh
//! hardware-key proof is required: `backup.restore` is a step-up action). All of
//! it goes through `AdminGate::clear_privileged`; a refusal renders the error
//! page, which links to `/keys/elevate`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Chrome, render, see_other};
use crate::backup::{self, BackupError};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/backups", web::get().to(page))
        .route("/admin/backups/run", web::post().to(run))
        .route("/admin/backups/restore", web::post().to(restore));
}

struct RunRow {
    started: String,
    finished: String,
    state: &'static str,
    trigger: String,
    actor: String,
    outcome: String,
    archive: String,
    size: String,
    error: String,
}

struct ArchiveRow {
    name: String,
    created: String,
    encryption: String,
    size: String,
    signature: String,
}

#[derive(Template)]
#[template(path = "admin_backups.html")]
struct AdminBackupsPage {
    c: Chrome,
    runs: Vec<RunRow>,
    archives: Vec<ArchiveRow>,
    notice: Option<String>,
}

fn api_error(e: BackupError) -> ApiError {
    match e {
        BackupError::Refused(m)
        | BackupError::Forged(m)
        | BackupError::Corrupt(m)
        | BackupError::Keys(m)
        | BackupError::Archive(m)
        | BackupError::Destinations(m) => ApiError::Conflict(m),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(api_error),
        Err(e) => Err(ApiError::Internal(format!("backup task failed: {e}"))),
    }
}

#[derive(serde::Deserialize)]
struct Done {
    #[serde(default)]
    done: String,
}

async fn page(
    state: web::Data<AppState>,
    lang: Lang,
    meta: Meta,
    authed: Authed,
    done: web::Query<Done>,
) -> Result<HttpResponse, ApiError> {
    let cleared = state
        .admin
        .clear_privileged(&authed.actor, &meta.0, "backup.list", "backup", vec![])
        .await?;
    let (config, store, env, m) = (
        state.config.clone(),
        state.store.clone(),
        state.env.clone(),
        meta.0.clone(),
    );
    let h = blocking(move || backup::admin::history(&cleared, &config, &store, &env, &m)).await?;
    let notice = match done.done.as_str() {
        "run" => Some(lang.0.t("admin-backups-made")),
        "restored" => Some(lang.0.t("admin-backups-restored")),
        _ => None,
    };
    let runs = h
        .runs
        .into_iter()
        .map(|r| RunRow {
            started: r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            finished: r
                .finished_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            state: r.state(),
            outcome: lang.0.t(&format!("admin-backups-outcome-{}", r.state())),
            trigger: r.trigger_kind,
            actor: r.actor.unwrap_or_default(),
            archive: r.archive.unwrap_or_default(),
            size: r.size_bytes.map(|n| n.to_string()).unwrap_or_default(),
            error: r.error.unwrap_or_default(),
        })
        .collect();
    let archives = h
        .archives
        .into_iter()
        .map(|a| ArchiveRow {
            name: a.name,
            created: a.created_at,
            encryption: a.encryption,
            size: a.size.to_string(),
            signature: a.signature,
        })
        .collect();
    render(
        StatusCode::OK,
        &AdminBackupsPage {
            c: super::clients::chrome(&state, lang.0, &authed),
            runs,
            archives,
            notice,
        },
    )
}

async fn run(
    state: web::Data<AppState>,
    meta: Meta,
    authed: Authed,
) -> Result<HttpResponse, ApiError> {
    let cleared = state
        .admin
        .clear_privileged(&authed.actor, &meta.0, "backup.run", "backup", vec![])
        .await?;
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    blocking(move || backup::admin::run(&cleared, &config, &store, &env)).await?;
    Ok(see_other("/admin/backups?done=run"))
}

#[derive(serde::Deserialize)]
struct RestoreForm {
    archive: String,
    identity: String,
    target_url: String,
    #[serde(default)]
    force: Option<String>,
}

async fn restore(
    state: web::Data<AppState>,
    meta: Meta,
    authed: Authed,
    form: web::Form<RestoreForm>,
) -> Result<HttpResponse, ApiError> {
    let f = form.into_inner();
    let req = backup::admin::RestoreRequest {
        archive: f.archive,
        identity: f.identity,
        target_url: f.target_url,
        force: f.force.is_some(),
    };
    let cleared = state
        .admin
        .clear_privileged(
            &authed.actor,
            &meta.0,
            "backup.restore",
            "backup",
            vec![req.archive.clone()],
        )
        .await?;
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    blocking(move || backup::admin::restore(&cleared, &config, &store, &env, &meta.0, &req))
        .await?;
    Ok(see_other("/admin/backups?done=restored"))
}
