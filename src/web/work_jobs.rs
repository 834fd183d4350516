//! The reminder run on a schedule (`tasks.reminder_schedule`), once across
//! app nodes: each firing claims its slot in `job_runs` and only the node that
//! claims it works. The work itself is safe to repeat (see
//! `crm::notifications::run`), so a node whose clock is off by more than a slot
//! costs nothing but a wasted query. At start-up the run catches up at once on
//! whatever fell due while no server was running.

use actix_web::web;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{AppState, ServeError};
use crate::access::Gate;
use crate::clock::Env;
use crate::config::Config;
use crate::crm::notifications::{RunReport, RunSettings};
use crate::mailer::Mailer;
use crate::store::{Store, lease};

pub const JOB: &str = "task-reminders";

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Setup(String),
    #[error("reminders: {0}")]
    Run(String),
}

/// What one firing did; `None` in `ran` when another node had the slot.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ran: Option<RunReport>,
    pub emails_sent: usize,
    pub emails_failed: usize,
}

#[derive(Clone)]
pub struct ReminderJob {
    store: Store,
    gate: Gate,
    env: Env,
    settings: RunSettings,
    mailer: Option<Mailer>,
    node: String,
}

impl ReminderJob {
    pub fn new(
        config: &Config,
        store: Store,
        gate: Gate,
        env: Env,
        node: &str,
    ) -> Result<ReminderJob, JobError> {
        let mailer = match &config.smtp {
            Some(smtp) => Some(
                Mailer::new(smtp, &config.base_url(), config.time_zone())
                    .map_err(|e| JobError::Setup(e.to_string()))?,
            ),
            None => None,
        };
        Ok(ReminderJob {
            store,
            gate,
            env,
            settings: RunSettings {
                remind_before: chrono::Duration::minutes(config.tasks.remind_before_minutes),
                escalate_after: chrono::Duration::minutes(config.tasks.escalate_after_minutes),
                email: mailer.is_some(),
            },
            mailer,
            node: node.to_string(),
        })
    }

    /// One firing: claim the slot of this second, remind and escalate, then
    /// send queued mail.
    pub async fn run_once(&self) -> Result<Outcome, JobError> {
        let now = self.env.now();
        let slot = lease::slot_of(now, chrono::Duration::seconds(1));
        let node = self.node.clone();
        let claimed = self
            .store
            .run(move |conn| lease::claim_run(conn, JOB, slot, &node, now))
            .await
            .map_err(|e| JobError::Run(e.to_string()))?;
        if !claimed {
            return Ok(Outcome::default());
        }
        let ran = self.gate.run_reminders(self.settings.clone()).await;
        let (ok, note) = match &ran {
            Ok(r) => (
                true,
                format!(
                    "reminded {}, escalated {}, e-mails queued {}",
                    r.reminded, r.escalated, r.emails_queued
                ),
            ),
            Err(e) => (false, e.to_string()),
        };
        let finished_at = self.env.now();
        let note_for_db = note.clone();
        self.store
            .run(move |conn| lease::finish_run(conn, JOB, slot, ok, &note_for_db, finished_at))
            .await
            .map_err(|e| JobError::Run(e.to_string()))?;
        let report = ran.map_err(|e| JobError::Run(e.to_string()))?;
        let mut outcome = Outcome {
            ran: Some(report),
            ..Outcome::default()
        };
        if let Some(mailer) = &self.mailer {
            let (sent, failed) = mailer
                .deliver(&self.gate)
                .await
                .map_err(|e| JobError::Run(e.to_string()))?;
            outcome.emails_sent = sent;
            outcome.emails_failed = failed;
        }
        Ok(outcome)
    }
}

async fn fire(job: &ReminderJob) {
    match job.run_once().await {
        Ok(Outcome {
            ran: Some(r),
            emails_sent,
            emails_failed,
        }) => {
            if r.reminded + r.escalated + emails_sent + emails_failed > 0 {
                tracing::info!(
                    reminded = r.reminded,
                    escalated = r.escalated,
                    emails_sent,
                    emails_failed,
                    "task reminders"
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "task reminders could not run"),
    }
}

/// Adds the reminder run to the scheduler and catches up once at start-up.
pub async fn add(scheduler: &JobScheduler, state: &web::Data<AppState>) -> Result<(), ServeError> {
    let cron = state.config.tasks.reminder_schedule.trim();
    if cron.is_empty() {
        return Ok(());
    }
    let job = ReminderJob::new(
        &state.config,
        state.store.clone(),
        state.gate.clone(),
        state.env.clone(),
        &lease::node_name(),
    )
    .map_err(|e| ServeError::Setup(e.to_string()))?;
    let scheduled = job.clone();
    let cron_job = Job::new_async(cron, move |_id, _lock| {
        let job = scheduled.clone();
        Box::pin(async move { fire(&job).await })
    })
    .map_err(|e| ServeError::Setup(format!("tasks.reminder_schedule: {e}")))?;
    scheduler
        .add(cron_job)
        .await
        .map_err(|e| ServeError::Setup(format!("tasks.reminder_schedule: {e}")))?;
    tokio::spawn(async move { fire(&job).await });
    Ok(())
}
