//! Signed checkpoints: "the chain had this head hash at this position at this
//! time", signed with an Ed25519 key that lives in a file, never in the database.
//! Someone who can write to the database but not read that key can rewrite history
//! only after the newest checkpoint, and once a checkpoint has left the server (a
//! file on another disk, a webhook) not even by deleting checkpoints.
//!
//! Signed message: `"holdfast-audit-checkpoint-v1\0" ‖ u64 seq ‖ head_hash (32) ‖
//! at`, with `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), integers big-endian.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::chain;
use crate::clock::Env;
use crate::files;
use crate::store::models::audit_events::CheckpointRow;
use crate::store::schema::audit_checkpoints;
use crate::store::{DbConn, Store, StoreError};

const DOMAIN: &[u8] = b"holdfast-audit-checkpoint-v1\0";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not an Ed25519 key")]
    BadKey(PathBuf),
    #[error("the system random number generator failed")]
    Entropy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sending the checkpoint to {target}: {message}")]
    Export { target: String, message: String },
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// A checkpoint as exported and as `verify` reads it back (one JSON object a line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    #[serde(with = "hex::serde")]
    pub head_hash: Vec<u8>,
    pub at: DateTime<Utc>,
    pub key_id: String,
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Checkpoint {
            seq: r.seq,
            head_hash: r.head_hash,
            at: r.at.and_utc(),
            key_id: r.key_id,
            signature: r.signature,
        }
    }
}

pub fn message(seq: i64, head_hash: &[u8], at: NaiveDateTime) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 8 + head_hash.len() + 32);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(seq as u64).to_be_bytes());
    m.extend_from_slice(head_hash);
    m.extend_from_slice(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes());
    m
}

/// A short name for a public key, stored with each checkpoint.
pub fn key_id(public_key: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, public_key);
    hex::encode(&d.as_ref()[..8])
}

/// A public key that checkpoints are checked against.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub bytes: Vec<u8>,
    pub id: String,
}

impl PublicKey {
    pub fn from_bytes(bytes: Vec<u8>) -> PublicKey {
        let id = key_id(&bytes);
        PublicKey { bytes, id }
    }

    /// Reads a `.pub` file as written next to the signing key (hex, one line).
    pub fn read(path: &Path) -> Result<PublicKey, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(file_err(path))?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| CheckpointError::BadKey(path.to_path_buf()))?;
        Ok(PublicKey::from_bytes(bytes))
    }

    pub fn verifies(&self, cp: &Checkpoint) -> bool {
        cp.key_id == self.id
            && UnparsedPublicKey::new(&ED25519, &self.bytes)
                .verify(
                    &message(cp.seq, &cp.head_hash, cp.at.naive_utc()),
                    &cp.signature,
                )
                .is_ok()
    }
}

/// The checkpoint signing key, loaded from (or created at) its file.
pub struct Signer {
    key: Ed25519KeyPair,
    public: PublicKey,
}

impl Signer {
    /// Loads the PKCS#8 key at `path`, creating it (mode 0600, directory 0700) and
    /// its public half `<path>.pub` when there is none yet.
    pub fn load_or_create(path: &Path) -> Result<Signer, CheckpointError> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                files::private_dir(dir).map_err(file_err(dir))?;
            }
            // ring's RNG trait is sealed, so the key comes from the system RNG
            // directly rather than from `Env`; tests have no need to fix it.
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 =
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CheckpointError::Entropy)?;
            files::write_private(path, pkcs8.as_ref()).map_err(file_err(path))?;
        }
        files::check_private(path).map_err(file_err(path))?;
        let der = std::fs::read(path).map_err(file_err(path))?;
        let key = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| CheckpointError::BadKey(path.to_path_buf()))?;
        let public = PublicKey::from_bytes(key.public_key().as_ref().to_vec());
        let pub_path = public_key_path(path);
        if !pub_path.exists() {
            std::fs::write(&pub_path, format!("{}\n", hex::encode(&public.bytes)))
                .map_err(file_err(&pub_path))?;
        }
        Ok(Signer { key, public })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs another statement made with the same key (archive records).
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }

    pub fn sign(&self, seq: i64, head_hash: &[u8], at: NaiveDateTime) -> Checkpoint {
        let signature = self.key.sign(&message(seq, head_hash, at));
        Checkpoint {
            seq,
            head_hash: head_hash.to_vec(),
            at: at.and_utc(),
            key_id: self.public.id.clone(),
            signature: signature.as_ref().to_vec(),
        }
    }
}

pub fn public_key_path(key_path: &Path) -> PathBuf {
    let mut p = key_path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Signs the current head unless it is already checkpointed (or the chain is
/// empty). Several nodes may race here; the first row for a position wins.
pub fn make(
    conn: &mut DbConn,
    signer: &Signer,
    env: &Env,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let (seq, hash) = chain::head(conn)?;
    if seq == 0 || hash == chain::GENESIS {
        return Ok(None);
    }
    let latest = latest(conn)?;
    if latest.as_ref().is_some_and(|c| c.seq >= seq) {
        return Ok(None);
    }
    let cp = signer.sign(seq, &hash, env.now().naive_utc());
    let row = CheckpointRow {
        seq: cp.seq,
        head_hash: cp.head_hash.clone(),
        at: cp.at.naive_utc(),
        key_id: cp.key_id.clone(),
        signature: cp.signature.clone(),
    };
    match diesel::insert_into(audit_checkpoints::table)
        .values(&row)
        .execute(conn)
        .map_err(StoreError::from)
    {
        Ok(_) => Ok(Some(cp)),
        // Another node signed this position first.
        Err(e) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn latest(conn: &mut DbConn) -> Result<Option<Checkpoint>, StoreError> {
    Ok(audit_checkpoints::table
        .order(audit_checkpoints::seq.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?
        .map(Checkpoint::from))
}

pub fn all(conn: &mut DbConn) -> Result<Vec<Checkpoint>, StoreError> {
    Ok(audit_checkpoints::table
        .order(audit_checkpoints::seq.asc())
        .select(CheckpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Checkpoint::from)
        .collect())
}

/// Where checkpoints go besides the database.
#[derive(Clone, Default)]
pub struct Exports {
    pub file: Option<PathBuf>,
    pub webhook: Option<(url::Url, reqwest::Client)>,
    pub email: Option<MailExport>,
}

/// Checkpoints by e-mail: a person's inbox is out of the server's reach, but a
/// message per checkpoint would bury it, so at most one per period.
#[derive(Clone)]
pub struct MailExport {
    mailer: crate::mailer::Mailer,
    to: Vec<String>,
    every: Duration,
    /// When this process last mailed one (`None`: not yet, so the next goes out).
    last_sent: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl MailExport {
    pub fn new(mailer: crate::mailer::Mailer, to: Vec<String>, every: Duration) -> MailExport {
        MailExport {
            mailer,
            to,
            every,
            last_sent: Default::default(),
        }
    }

    fn due(&self) -> bool {
        match self.last_sent.lock() {
            Ok(last) => last.is_none_or(|t| t.elapsed() >= self.every),
            Err(_) => true,
        }
    }

    async fn send(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let line = serde_json::to_string(cp).unwrap_or_default();
        let subject = format!("Holdfast audit checkpoint at position {}", cp.seq);
        let body = format!(
            "The audit log of this Holdfast installation had this head at position {} on {}.\n\
             Keep this message: save the line below into a file and check the log against it\n\
             with `holdfast audit verify --checkpoints FILE --public-key checkpoint.key.pub`.\n\n{line}\n",
            cp.seq,
            cp.at.format("%Y-%m-%d %H:%M:%S UTC"),
        );
        self.mailer
            .send_text(&self.to, &subject, &body)
            .await
            .map_err(|e| CheckpointError::Export {
                target: format!("e-mail to {}", self.to.join(", ")),
                message: e.to_string(),
            })?;
        if let Ok(mut last) = self.last_sent.lock() {
            *last = Some(std::time::Instant::now());
        }
        Ok(())
    }
}

impl Exports {
    /// The destinations `[audit]` names: file, webhook, e-mail.
    pub fn from_config(config: &crate::config::Config) -> Result<Exports, CheckpointError> {
        let a = &config.audit;
        let webhook = a
            .checkpoint_webhook
            .as_deref()
            .map(|u| {
                url::Url::parse(u).map_err(|e| CheckpointError::Export {
                    target: u.to_string(),
                    message: e.to_string(),
                })
            })
            .transpose()?;
        let mut exports = Exports::new(a.checkpoint_file.clone(), webhook)?;
        if let (false, Some(smtp)) = (a.checkpoint_email.is_empty(), &config.smtp) {
            let mailer = crate::mailer::Mailer::new(smtp, &config.base_url(), chrono_tz::UTC)
                .map_err(|e| CheckpointError::Export {
                    target: "e-mail".into(),
                    message: e.to_string(),
                })?;
            exports.email = Some(MailExport::new(
                mailer,
                a.checkpoint_email.clone(),
                Duration::from_secs(a.checkpoint_email_every_minutes.saturating_mul(60)),
            ));
        }
        Ok(exports)
    }

    pub fn new(
        file: Option<PathBuf>,
        webhook: Option<url::Url>,
    ) -> Result<Exports, CheckpointError> {
        let webhook = match webhook {
            Some(url) => {
                let failed = |message: String| CheckpointError::Export {
                    target: url.to_string(),
                    message,
                };
                // The ring provider and the public roots are given here, so the
                // client never depends on a process-wide default being installed.
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| failed(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
                let client = reqwest::Client::builder()
                    .use_preconfigured_tls(tls)
                    .build()
                    .map_err(|e| failed(format!("cannot build the HTTP client: {e}")))?;
                Some((url, client))
            }
            None => None,
        };
        Ok(Exports {
            file,
            webhook,
            email: None,
        })
    }

    /// Sends `cp` everywhere configured; every failure is returned, after all
    /// destinations were tried.
    pub async fn send(&self, cp: &Checkpoint) -> Vec<CheckpointError> {
        let mut failures = Vec::new();
        if let Some(path) = &self.file
            && let Err(e) = append_line(path, cp)
        {
            failures.push(e);
        }
        if let Some((url, client)) = &self.webhook {
            let sent = client
                .post(url.clone())
                .timeout(Duration::from_secs(10))
                .json(cp)
                .send()
                .await
                .and_then(|r| r.error_for_status());
            if let Err(e) = sent {
                failures.push(CheckpointError::Export {
                    target: url.to_string(),
                    message: e.to_string(),
                });
            }
        }
        if let Some(mail) = self.email.as_ref().filter(|m| m.due())
            && let Err(e) = mail.send(cp).await
        {
            failures.push(e);
        }
        failures
    }
}

fn append_line(path: &Path, cp: &Checkpoint) -> Result<(), CheckpointError> {
    let mut line = serde_json::to_vec(cp).map_err(|e| CheckpointError::Export {
        target: path.display().to_string(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(file_err(path))?;
    f.write_all(&line).map_err(file_err(path))?;
    f.sync_data().map_err(file_err(path))
}

/// Reads exported checkpoints back (for `verify --checkpoints FILE`).
pub fn read_exported(path: &Path) -> Result<Vec<Checkpoint>, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(file_err(path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| CheckpointError::Export {
                target: path.display().to_string(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// Makes a checkpoint and sends it out; logs what failed to leave.
pub async fn make_and_send(
    store: &Store,
    signer: &std::sync::Arc<Signer>,
    env: &Env,
    exports: &Exports,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let (signer2, env2) = (signer.clone(), env.clone());
    let made: Option<Checkpoint> = store.run(move |conn| make(conn, &signer2, &env2)).await?;
    if let Some(cp) = &made {
        for failure in exports.send(cp).await {
            tracing::error!(error = %failure, seq = cp.seq, "checkpoint export failed");
        }
    }
    Ok(made)
}

/// The background task: a checkpoint after `every_events` new events or
/// `every_secs` seconds with any new event, whichever comes first.
pub async fn run_periodic(
    store: Store,
    signer: std::sync::Arc<Signer>,
    env: Env,
    exports: Exports,
    every_events: i64,
    every_secs: u64,
) {
    let poll = Duration::from_secs(every_secs.clamp(1, 5));
    let mut last_at = std::time::Instant::now();
    loop {
        tokio::time::sleep(poll).await;
        let heads = store
            .run(|conn| -> Result<_, StoreError> {
                let head = chain::head(conn)?.0;
                let cp = latest(conn)?.map(|c| c.seq).unwrap_or(0);
                Ok((head, cp))
            })
            .await;
        let (head, checkpointed) = match heads {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the audit head for a checkpoint");
                continue;
            }
        };
        let due = head - checkpointed >= every_events
            || (head > checkpointed && last_at.elapsed().as_secs() >= every_secs);
        if due {
            match make_and_send(&store, &signer, &env, &exports).await {
                Ok(_) => last_at = std::time::Instant::now(),
                Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
            }
        }
    }
}
