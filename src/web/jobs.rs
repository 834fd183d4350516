//! Jobs the server runs on a schedule (tokio-cron-scheduler).

use actix_web::web;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{AppState, ServeError};
use crate::audit::verify;
use crate::store::lease;

/// Every node schedules every job; the one that claims the slot runs it.
pub(crate) async fn claim(state: &web::Data<AppState>, job: &'static str) -> bool {
    let now = state.env.now();
    let slot = lease::slot_of(now, chrono::Duration::minutes(1));
    let node = lease::node_name();
    match state
        .store
        .run(move |conn| lease::claim_run(conn, job, slot, &node, now))
        .await
    {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::error!(job, error = %e, "scheduled job could not be claimed; skipped");
            false
        }
    }
}

fn setup(what: &str) -> impl FnOnce(tokio_cron_scheduler::JobSchedulerError) -> ServeError + '_ {
    move |e| ServeError::Setup(format!("{what}: {e}"))
}

pub async fn start(state: &web::Data<AppState>) -> Result<JobScheduler, ServeError> {
    let scheduler = JobScheduler::new().await.map_err(setup("scheduler"))?;
    let cron = state.config.audit.verify_schedule.trim();
    if !cron.is_empty() {
        let st = state.clone();
        let job = Job::new_async(cron, move |_id, _lock| {
            let st = st.clone();
            Box::pin(async move { verify_now(&st).await })
        })
        .map_err(setup("audit.verify_schedule"))?;
        scheduler
            .add(job)
            .await
            .map_err(setup("audit.verify_schedule"))?;
    }
    // Challenges that were asked for and never answered.
    let st = state.clone();
    let sweep = Job::new_async("0 17 * * * *", move |_id, _lock| {
        let st = st.clone();
        Box::pin(async move { sweep_challenges(&st).await })
    })
    .map_err(setup("keys.sweep"))?;
    scheduler.add(sweep).await.map_err(setup("keys.sweep"))?;
    // Old detection counters, once a day across nodes (the lease in job_runs).
    let cron = state.config.detection.prune_schedule.trim();
    if !cron.is_empty() {
        let st = state.clone();
        let job = Job::new_async(cron, move |_id, _lock| {
            let st = st.clone();
            Box::pin(async move { prune_usage(&st).await })
        })
        .map_err(setup("detection.prune_schedule"))?;
        scheduler
            .add(job)
            .await
            .map_err(setup("detection.prune_schedule"))?;
    }
    super::work_jobs::add(&scheduler, state).await?;
    super::backup_jobs::add(&scheduler, state).await?;
    super::notify_jobs::add(&scheduler, state).await?;
    scheduler.start().await.map_err(setup("scheduler"))?;
    Ok(scheduler)
}

async fn verify_now(state: &web::Data<AppState>) {
    if !claim(state, "audit.verify").await {
        return;
    }
    let env = state.env.clone();
    let key = state.checkpoints.signer.public().clone();
    let exported = state.config.audit.checkpoint_file.clone();
    let report = state
        .store
        .run(move |conn| verify::scheduled(conn, &env, &key, exported.as_deref()))
        .await;
    match report {
        Ok(r) if r.ok() => tracing::info!(
            events = r.events,
            seconds = r.seconds,
            "audit chain verified"
        ),
        Ok(r) => tracing::error!(problem = ?r.problem, "AUDIT CHAIN BROKEN"),
        Err(e) => tracing::error!(error = %e, "audit verification could not run"),
    }
}

async fn sweep_challenges(state: &web::Data<AppState>) {
    if !claim(state, "keys.sweep").await {
        return;
    }
    let now = state.env.now();
    let swept = state
        .store
        .run(move |conn| {
            let piv = crate::keys::service::sweep_challenges(conn, now);
            let webauthn = crate::keys::webauthn::sweep_ceremonies(conn, now);
            piv.and_then(|a| webauthn.map(|b| a + b))
                .map_err(|e| crate::store::StoreError::Audit(e.to_string()))
        })
        .await;
    match swept {
        Ok(n) => tracing::debug!(removed = n, "expired key challenges removed"),
        Err(e) => tracing::warn!(error = %e, "expired key challenges could not be removed"),
    }
}

async fn prune_usage(state: &web::Data<AppState>) {
    let now = state.env.now();
    let node = lease::node_name();
    let days = state.config.detection.baseline_days;
    let done = state
        .store
        .run(move |conn| crate::audit::usage::prune_once(conn, now, &node, days))
        .await;
    match done {
        Ok(Some(p)) => tracing::info!(
            counters = p.counts,
            viewed = p.seen,
            "old detection counters pruned"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "detection counters could not be pruned"),
    }
}
