//! Reminder e-mail over SMTP (lettre). Mail is an outbox: the reminder run
//! queues it in the same transaction as the in-app notification, and this
//! sends what is queued, marking each message once its server accepted it.
//! A message whose send fails is tried again on later runs, up to
//! `notifications::MAX_EMAIL_ATTEMPTS` times; a crash between the server's
//! acceptance and the mark can send one message twice (never lose it).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::access::Gate;
use crate::config::{SmtpConfig, SmtpSecurity};
use crate::crm::notifications::Outgoing;

/// Messages sent per run at most.
const BATCH: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("message: {0}")]
    Message(String),
    #[error("storage: {0}")]
    Store(String),
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where links in messages point.
    base_url: String,
    zone: chrono_tz::Tz,
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig, base_url: &str, zone: chrono_tz::Tz) -> Result<Mailer, MailError> {
        let mut builder = match cfg.security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)?,
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)?
            }
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            }
        };
        if let Some(port) = cfg.port {
            builder = builder.port(port);
        }
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                pass.expose_secret().to_string(),
            ));
        }
        let from = cfg
            .from
            .parse::<Mailbox>()
            .map_err(|e| MailError::Message(format!("smtp.from: {e}")))?;
        Ok(Mailer {
            transport: builder.timeout(Some(Duration::from_secs(20))).build(),
            from,
            base_url: base_url.trim_end_matches('/').to_string(),
            zone,
        })
    }

    fn message(&self, m: &Outgoing) -> Result<Message, MailError> {
        let to =
            m.to.parse::<Mailbox>()
                .map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let due = m
            .due_at
            .map(|t| {
                t.with_timezone(&self.zone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default();
        let (subject, lead) = match m.kind.as_str() {
            "escalation" => (
                format!("Overdue in your team: {}", m.title),
                "A task in your team is overdue",
            ),
            _ => (format!("Reminder: {}", m.title), "A task of yours is due"),
        };
        let body = format!(
            "{lead}:\n\n  {}\n  due {due}\n\nOpen your day in Holdfast: {}/my-day\n",
            m.title, self.base_url
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Message(e.to_string()))
    }

    /// One plain-text message to `to` (addresses checked when the configuration
    /// was loaded); used for audit checkpoints.
    pub async fn send_text(
        &self,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<(), MailError> {
        let mut builder = Message::builder().from(self.from.clone());
        for addr in to {
            let mbox = addr
                .parse::<Mailbox>()
                .map_err(|e| MailError::Message(format!("recipient {addr}: {e}")))?;
            builder = builder.to(mbox);
        }
        let msg = builder
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(msg).await?;
        Ok(())
    }

    /// Sends what the outbox holds; returns (sent, failed).
    pub async fn deliver(&self, gate: &Gate) -> Result<(usize, usize), MailError> {
        let queued = gate
            .mail_outbox(BATCH)
            .await
            .map_err(|e| MailError::Store(e.to_string()))?;
        let (mut sent, mut failed) = (0, 0);
        for m in queued {
            let outcome = match self.message(&m) {
                Ok(msg) => self
                    .transport
                    .send(msg)
                    .await
                    .map(|_| ())
                    .map_err(MailError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = &outcome {
                failed += 1;
                tracing::warn!(notification = %m.id, error = %e, "reminder e-mail not sent");
            } else {
                sent += 1;
            }
            let mark = gate.mail_result(&m.id, outcome.is_ok()).await;
            mark.map_err(|e| MailError::Store(e.to_string()))?;
        }
        Ok((sent, failed))
    }
}
