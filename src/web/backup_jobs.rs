//! The backup schedule (`[backup] schedule`) and the hourly lateness check. The
//! work itself is in `backup::schedule`, driven by the `Env` clock.

use actix_web::web;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{AppState, ServeError};
use crate::backup::schedule;
use crate::store::lease;

fn setup(what: &str) -> impl FnOnce(tokio_cron_scheduler::JobSchedulerError) -> ServeError + '_ {
    move |e| ServeError::Setup(format!("{what}: {e}"))
}

pub async fn add(scheduler: &JobScheduler, state: &web::Data<AppState>) -> Result<(), ServeError> {
    let cron = state.config.backup.schedule.trim();
    if cron.is_empty() {
        return Ok(());
    }
    let st = state.clone();
    let job = Job::new_async(cron, move |_id, _lock| {
        let st = st.clone();
        Box::pin(async move { backup_now(&st).await })
    })
    .map_err(setup("backup.schedule"))?;
    scheduler.add(job).await.map_err(setup("backup.schedule"))?;
    // Lateness is checked on its own, so a schedule that never fires is noticed.
    let st = state.clone();
    let late = Job::new_async("0 7 * * * *", move |_id, _lock| {
        let st = st.clone();
        Box::pin(async move { check_late(&st).await })
    })
    .map_err(setup("backup lateness check"))?;
    scheduler
        .add(late)
        .await
        .map_err(setup("backup lateness check"))?;
    Ok(())
}

/// At server start: runs left "running" by a process that died (this node's last
/// life, or another node's) are marked interrupted. Runs on every start, also
/// without a schedule: a console run may have been killed.
pub async fn sweep_interrupted(state: &web::Data<AppState>) {
    let (store, env) = (state.store.clone(), state.env.clone());
    match tokio::task::spawn_blocking(move || crate::backup::liveness::sweep(&store, &env)).await {
        Ok(Ok(found)) if !found.is_empty() => {
            tracing::warn!(
                runs = found.len(),
                "interrupted backup runs marked at start"
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "could not look for interrupted backup runs"),
        Err(e) => tracing::error!(error = %e, "interrupted-run check failed"),
    }
}

async fn backup_now(state: &web::Data<AppState>) {
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    let node = lease::node_name();
    let done = tokio::task::spawn_blocking(move || {
        let tick = schedule::tick(&config, &store, &env, &node);
        let late = schedule::check_late(&config, &store, &env);
        (tick, late)
    })
    .await;
    match done {
        Ok((Ok(tick), _)) => tracing::info!(?tick, "scheduled backup"),
        Ok((Err(e), _)) => tracing::error!(error = %e, "scheduled backup could not run"),
        Err(e) => tracing::error!(error = %e, "scheduled backup task failed"),
    }
}

async fn check_late(state: &web::Data<AppState>) {
    let (config, store, env) = (state.config.clone(), state.store.clone(), state.env.clone());
    let late =
        tokio::task::spawn_blocking(move || schedule::check_late(&config, &store, &env)).await;
    if let Ok(Err(e)) = late {
        tracing::error!(error = %e, "backup lateness check could not run");
    }
}
