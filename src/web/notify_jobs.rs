//! Alert notices by e-mail and webhook (`[notify]`), sent from the outbox
//! (`alerts::outbox`) on a schedule, outside every request. Each firing fans
//! newly raised alerts out to their deliveries and sends what is due; a failed
//! delivery is retried with backoff up to `notify.max_attempts` times and then
//! given up, each failure logged.
//!
//! A webhook receives `POST` with a JSON body and three headers:
//! `X-Holdfast-Delivery` (the delivery's id: the same on a retry, so a receiver
//! can drop a repeat), `X-Holdfast-Timestamp` (Unix seconds when this attempt
//! was signed) and `X-Holdfast-Signature: v1=<hex>`, the HMAC-SHA256 under
//! `notify.webhook_secret` of `<timestamp>.<body>`. A receiver recomputes it,
//! compares in constant time, and refuses a timestamp more than a few minutes
//! old, so a captured request cannot be replayed later.

use std::time::Duration;

use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{AppState, ServeError};
use crate::alerts::outbox::{self, Due, Plan};
use crate::clock::Env;
use crate::config::{Config, NotifyConfig};
use crate::mailer::Mailer;
use crate::store::Store;

/// Deliveries attempted per firing at most.
const BATCH: i64 = 50;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Setup(String),
    #[error("notices: {0}")]
    Run(String),
}

/// What one firing did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Deliveries made from newly raised alerts.
    pub queued: usize,
    pub sent: usize,
    pub failed: usize,
    /// Failures that were the last attempt allowed.
    pub gave_up: usize,
}

#[derive(Clone)]
pub struct NotifyJob {
    store: Store,
    env: Env,
    cfg: NotifyConfig,
    mailer: Option<Mailer>,
    http: reqwest::Client,
    secret: Option<SecretString>,
    base_url: String,
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1={}", hex::encode(ctx.sign().as_ref()))
}

impl NotifyJob {
    pub fn new(config: &Config, store: Store, env: Env) -> Result<NotifyJob, NotifyError> {
        let cfg = config.notify.clone();
        let mailer = match &config.smtp {
            Some(smtp) => Some(
                Mailer::new(smtp, &config.base_url(), config.time_zone())
                    .map_err(|e| NotifyError::Setup(e.to_string()))?,
            ),
            None => None,
        };
        // The ring provider and the public roots given here, as for the audit
        // checkpoint webhook; no redirects (the signed body goes where it was
        // configured to go, or nowhere).
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(cfg.timeout_seconds.min(10)))
            .timeout(Duration::from_secs(cfg.timeout_seconds))
            .build()
            .map_err(|e| NotifyError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(NotifyJob {
            secret: cfg.webhook_secret.clone(),
            store,
            env,
            mailer,
            http,
            base_url: config.base_url().trim_end_matches('/').to_string(),
            cfg,
        })
    }

    /// One firing: fan out what was raised, then send what is due.
    pub async fn run_once(&self) -> Result<Outcome, NotifyError> {
        let cfg = self.cfg.clone();
        let email = self.mailer.is_some();
        let env = self.env.clone();
        let queued = self
            .store
            .run(move |conn| {
                let plan = |a: &crate::alerts::Alert| Plan {
                    email: email && cfg.wants("email", a.severity.as_str()),
                    webhooks: if cfg.wants("webhook", a.severity.as_str()) {
                        cfg.webhook_urls.clone()
                    } else {
                        Vec::new()
                    },
                };
                outbox::fan_out(conn, &env, &plan, 200)
            })
            .await
            .map_err(|e| NotifyError::Run(e.to_string()))?;
        let now = self.env.now();
        let lease = chrono::Duration::seconds(
            i64::try_from(self.cfg.timeout_seconds).unwrap_or(10) * 2 + 60,
        );
        let due = self
            .store
            .run(move |conn| outbox::claim_due(conn, now, lease, BATCH))
            .await
            .map_err(|e| NotifyError::Run(e.to_string()))?;
        let mut outcome = Outcome {
            queued,
            ..Outcome::default()
        };
        for d in due {
            let sent = self.send(&d).await;
            let (id, attempts, max) = (d.id.clone(), d.attempts, self.cfg.max_attempts);
            let at = self.env.now();
            match sent {
                Ok(()) => {
                    outcome.sent += 1;
                    self.store
                        .run(move |conn| outbox::delivered(conn, &id, at))
                        .await
                        .map_err(|e| NotifyError::Run(e.to_string()))?;
                }
                Err(error) => {
                    outcome.failed += 1;
                    let err = error.clone();
                    let last = self
                        .store
                        .run(move |conn| outbox::failed(conn, &id, at, attempts, max, &err))
                        .await
                        .map_err(|e| NotifyError::Run(e.to_string()))?;
                    if last {
                        outcome.gave_up += 1;
                        tracing::error!(
                            delivery = %d.id, alert = %d.alert.id, channel = %d.channel,
                            attempts = attempts + 1, error = %error,
                            "alert notice given up"
                        );
                        self.gave_up(&d, attempts + 1, &error).await?;
                    } else {
                        tracing::warn!(
                            delivery = %d.id, alert = %d.alert.id, channel = %d.channel,
                            attempt = attempts + 1, error = %error,
                            "alert notice not delivered; will retry"
                        );
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// A notice that was given up is an alert for the admins (who run the mail
    /// server and the receivers), one open alert per destination and day.
    async fn gave_up(&self, d: &Due, attempts: i32, error: &str) -> Result<(), NotifyError> {
        use crate::alerts::{self, Audience, NewAlert, Severity};
        let env = self.env.clone();
        let day = env.now().format("%Y-%m-%d").to_string();
        let alert = NewAlert {
            kind: "notify.failed".into(),
            severity: Severity::Warning,
            audience: Audience::Admins,
            subject_user: None,
            summary: format!(
                "A {} notice to {} was given up after {attempts} attempts: {error}",
                d.channel, d.target
            ),
            detail: json!({
                "delivery": d.id, "alert": d.alert.id, "channel": d.channel,
                "target": d.target, "attempts": attempts, "error": error,
            }),
            evidence: d.alert.evidence.clone(),
            dedupe_key: Some(format!("notify-failed:{}:{}:{day}", d.channel, d.target)),
        };
        self.store
            .run(move |conn| alerts::raise(conn, &env, &alert).map(|_| ()))
            .await
            .map_err(|e| NotifyError::Run(e.to_string()))
    }

    fn payload(&self, d: &Due) -> serde_json::Value {
        let a = &d.alert;
        json!({
            "type": "holdfast.alert",
            "delivery": d.id,
            "alert": {
                "id": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "audience": a.audience,
                "subject_user": a.subject_user,
                "summary": a.summary,
                "raised_at": a.raised_at,
                "evidence": a.evidence,
            },
            "link": format!("{}/control", self.base_url),
        })
    }

    async fn send(&self, d: &Due) -> Result<(), String> {
        match d.channel.as_str() {
            "webhook" => {
                let secret = self
                    .secret
                    .as_ref()
                    .ok_or_else(|| "no webhook_secret configured".to_string())?;
                let body = serde_json::to_vec(&self.payload(d)).map_err(|e| e.to_string())?;
                let ts = self.env.now().timestamp();
                let sig = signature(secret.expose_secret().as_bytes(), ts, &body);
                let res = self
                    .http
                    .post(&d.target)
                    .header("content-type", "application/json")
                    .header("x-holdfast-delivery", &d.id)
                    .header("x-holdfast-timestamp", ts.to_string())
                    .header("x-holdfast-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("{}: {e}", d.target))?;
                if res.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{}: HTTP {}", d.target, res.status().as_u16()))
                }
            }
            "email" => {
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or_else(|| "no [smtp] configured".to_string())?;
                let a = &d.alert;
                let subject = format!("Holdfast alert ({}): {}", a.severity.as_str(), a.kind);
                let body = format!(
                    "{}\n\nSeverity: {}\nRaised: {}\nAudit events: {}\n\nOpen the control page: {}/control\n",
                    a.summary,
                    a.severity.as_str(),
                    a.raised_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    a.evidence
                        .iter()
                        .map(|s| format!("#{s}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.base_url
                );
                mailer
                    .send_text(std::slice::from_ref(&d.target), &subject, &body)
                    .await
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("unknown channel {other}")),
        }
    }
}

async fn fire(job: &NotifyJob) {
    match job.run_once().await {
        Ok(o) if o.sent + o.failed > 0 => tracing::info!(
            sent = o.sent,
            failed = o.failed,
            gave_up = o.gave_up,
            "alert notices"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "alert notices could not run"),
    }
}

/// Adds the outbox drain to the scheduler.
pub async fn add(scheduler: &JobScheduler, state: &web::Data<AppState>) -> Result<(), ServeError> {
    let cron = state.config.notify.schedule.trim();
    if cron.is_empty() {
        return Ok(());
    }
    let job = NotifyJob::new(&state.config, state.store.clone(), state.env.clone())
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let cron_job = Job::new_async(cron, move |_id, _lock| {
        let job = job.clone();
        Box::pin(async move { fire(&job).await })
    })
    .map_err(|e| ServeError::Setup(format!("notify.schedule: {e}")))?;
    scheduler
        .add(cron_job)
        .await
        .map_err(|e| ServeError::Setup(format!("notify.schedule: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature(b"k", 1, b"{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, signature(b"k", 2, b"{}"));
        assert_ne!(a, signature(b"k", 1, b"{ }"));
        assert_ne!(a, signature(b"K", 1, b"{}"));
    }
}
