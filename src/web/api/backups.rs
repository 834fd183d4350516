//! `/api/v1/backups`: history, a backup now, and a restore into another database
//! (the last needs a fresh hardware-key proof: `backup.restore` is a step-up
//! action). Owners and admins only, through `AdminGate`.

use actix_web::{HttpResponse, web};

use crate::backup::{self, BackupError};
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/backups", web::get().to(history))
        .route("/backups", web::post().to(run))
        .route("/backups/restore", web::post().to(restore));
}

/// What the admin may read: the refusal's reason (no paths of the server beyond
/// the archive names they chose); everything else is logged under the request id.
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

async fn history(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let cleared = state
        .admin
        .clear_privileged(&authed.actor, &meta.0, "backup.list", "backup", vec![])
        .await?;
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    let h =
        blocking(move || backup::admin::history(&cleared, &config, &store, &env, &meta.0)).await?;
    Ok(HttpResponse::Ok().json(h))
}

async fn run(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let cleared = state
        .admin
        .clear_privileged(&authed.actor, &meta.0, "backup.run", "backup", vec![])
        .await?;
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    let made = blocking(move || backup::admin::run(&cleared, &config, &store, &env)).await?;
    Ok(HttpResponse::Created().json(made))
}

async fn restore(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<backup::admin::RestoreRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
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
    let restored =
        blocking(move || backup::admin::restore(&cleared, &config, &store, &env, &meta.0, &req))
            .await?;
    Ok(HttpResponse::Ok().json(restored))
}
