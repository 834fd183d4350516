//! `holdfast key …`: what the server concludes about an attestation, and the
//! server-side (console) key commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::attestation::{self, Expected, Requirements, Slot};
use super::service;
use super::trust::{self, TrustStore};
use crate::clock::Env;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Print what the server would conclude about a PIV attestation (PEM or DER
    /// files) under the current configuration; exits non-zero when refused.
    CheckAttestation {
        /// The slot's attestation certificate (`yubico-piv-tool -a attest -s 9a`).
        slot_cert: PathBuf,
        /// The device's f9 attestation certificate (`yubico-piv-tool -a read-certificate -s f9`).
        f9_cert: PathBuf,
        /// Require this slot (default: report whichever slot the certificate names).
        #[arg(long)]
        slot: Option<String>,
        /// Require this public key (SubjectPublicKeyInfo, PEM or DER).
        #[arg(long, value_name = "PATH")]
        public_key: Option<PathBuf>,
    },
    /// On the server itself: issue a new enrollment code for a user who lost every
    /// key. Raises a high-severity alert and is audited.
    BreakGlass {
        #[arg(long)]
        username: String,
    },
}

/// Errors print and exit 1; a refused attestation exits 2 (set by `Refused`).
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub String);

pub fn run(config: &Config, env: &Env, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::CheckAttestation {
            slot_cert,
            f9_cert,
            slot,
            public_key,
        } => check_attestation(config, env, &slot_cert, &f9_cert, slot, public_key),
        KeyCommand::BreakGlass { username } => break_glass(config, env, &username),
    }
}

fn console_who() -> crate::audit::Who {
    crate::audit::Who {
        id: format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        role: "console".into(),
        session_ref: None,
    }
}

fn break_glass(config: &Config, env: &Env, username: &str) -> anyhow::Result<()> {
    use crate::audit::{self, Event, Outcome, RequestMeta};
    let store = crate::cli::open_store(config)?;
    let mut conn = store.conn()?;
    let Some(user) = crate::identity::users::find_by_username(&mut conn, username)? else {
        anyhow::bail!("no user `{username}`");
    };
    if user.disabled {
        anyhow::bail!("user `{}` is disabled", user.username);
    }
    let who = console_who();
    let issued = crate::store::write_tx(&mut conn, |conn| -> anyhow::Result<_> {
        let issued = service::issue_code(conn, env, &config.keys, &user.id, &who.id)?;
        let active = service::active_key_count(conn, &user.id)?;
        audit::record(
            conn,
            env,
            &RequestMeta::default(),
            &Event::new("key.break_glass", Outcome::Ok)
                .by(who.clone())
                .on("user", [user.id.clone()])
                .detail(serde_json::json!({
                    "severity": "high",
                    "alert": "break-glass enrollment code issued on the server console",
                    "username": user.username,
                    "role": user.role,
                    "active_keys": active,
                    "expires_at": issued.expires_at,
                })),
        )?;
        Ok(issued)
    })?;
    tracing::error!(
        target: "holdfast::alert",
        severity = "high",
        user = %user.username,
        by = %who.id,
        "break-glass: a hardware-key enrollment code was issued on the server console"
    );
    eprintln!(
        "WARNING: break-glass recovery for `{}`. This is recorded in the audit log with high severity.",
        user.username
    );
    println!(
        "enrollment code for {} (valid until {}, works once):\n  {}\nenroll with: holdfast key enroll --server {} --code <code>",
        user.username,
        issued.expires_at.format("%Y-%m-%d %H:%M UTC"),
        issued.code,
        config.base_url()
    );
    Ok(())
}

/// `holdfast init`: a one-time enrollment code for the first owner when no owner
/// has a key yet.
pub fn init_enrollment(
    config: &Config,
    store: &crate::store::Store,
    env: &Env,
) -> anyhow::Result<()> {
    use crate::audit::{self, Event, Outcome, RequestMeta};
    use crate::identity::Role;
    let mut conn = store.conn()?;
    let owners: Vec<_> = crate::identity::users::list(&mut conn)?
        .into_iter()
        .filter(|u| u.role == Role::Owner && !u.disabled)
        .collect();
    for o in &owners {
        if service::active_key_count(&mut conn, &o.id)? > 0 {
            return Ok(());
        }
    }
    let Some(owner) = owners.first() else {
        return Ok(());
    };
    let who = console_who();
    let issued = service::issue_code(&mut conn, env, &config.keys, &owner.id, &who.id)?;
    audit::record(
        &mut conn,
        env,
        &RequestMeta::default(),
        &Event::new("key.enrollment_code", Outcome::Ok)
            .by(who)
            .on("user", [owner.id.clone()])
            .detail(serde_json::json!({ "via": "init", "expires_at": issued.expires_at })),
    )?;
    println!(
        "Hardware key for owner `{}`: enroll a YubiKey with this one-time code (valid until {}):\n  holdfast key enroll --server {} --code {}",
        owner.username,
        issued.expires_at.format("%Y-%m-%d %H:%M UTC"),
        config.base_url(),
        issued.code
    );
    Ok(())
}

/// The exit code for a refusal, distinct from other failures.
pub fn exit_code(e: &anyhow::Error) -> Option<ExitCode> {
    e.downcast_ref::<Refused>().map(|_| ExitCode::from(2))
}

pub fn trust_store(config: &Config) -> anyhow::Result<TrustStore> {
    Ok(TrustStore::load(
        config.keys.trust_dir.as_deref(),
        config.keys.builtin_roots,
    )?)
}

pub fn requirements(config: &Config) -> Requirements {
    Requirements {
        min_pin: config.keys.min_pin_policy,
        min_touch: config.keys.min_touch_policy,
    }
}

fn read_one_cert(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut certs =
        trust::certificates_from(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if certs.len() != 1 {
        anyhow::bail!(
            "{}: expected one certificate, found {}",
            path.display(),
            certs.len()
        );
    }
    Ok(certs.remove(0))
}

fn read_spki(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with("-----BEGIN") {
        for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
            let pem = pem.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if pem.label == "PUBLIC KEY" {
                return Ok(pem.contents);
            }
        }
        anyhow::bail!("{}: no PUBLIC KEY block", path.display());
    }
    Ok(bytes)
}

fn or_unknown<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string())
        .unwrap_or_else(|| "not in the certificate".into())
}

fn check_attestation(
    config: &Config,
    env: &Env,
    slot_path: &Path,
    f9_path: &Path,
    slot: Option<String>,
    public_key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let trust = trust_store(config)?;
    let slot_der = read_one_cert(slot_path)?;
    let f9_der = read_one_cert(f9_path)?;
    let want_slot = match slot {
        Some(s) => Some(Slot::parse(&s).ok_or_else(|| anyhow::anyhow!("unknown PIV slot `{s}`"))?),
        None => None,
    };
    let spki = match public_key {
        Some(p) => Some(read_spki(&p)?),
        None => None,
    };
    let req = requirements(config);
    let facts = attestation::inspect(&slot_der);
    println!("trust anchors: {}", trust.anchors().len());
    match &facts {
        Ok(f) => {
            println!("slot certificate: {}", f.subject);
            println!("slot: {}", or_unknown(f.slot));
            println!("serial: {}", or_unknown(f.serial));
            println!("firmware: {}", or_unknown(f.firmware));
            println!("form factor: {}", or_unknown(f.form_factor));
            println!(
                "PIN policy: {} (minimum {})",
                or_unknown(f.pin_policy),
                req.min_pin
            );
            println!(
                "touch policy: {} (minimum {})",
                or_unknown(f.touch_policy),
                req.min_touch
            );
        }
        Err(e) => println!("slot certificate: {e}"),
    }
    let verdict = attestation::verify(
        &trust,
        &slot_der,
        &f9_der,
        Expected {
            slot: want_slot,
            public_key: spki.as_deref(),
        },
        req,
        env.now(),
    );
    match verdict {
        Ok(a) => {
            println!("chain: slot certificate");
            println!(
                "  <- {} (f9{})",
                a.intermediate_subject,
                if a.intermediate_has_basic_constraints {
                    ""
                } else {
                    ", no Basic Constraints"
                }
            );
            println!("  <- {} [{}]", a.root_subject, a.root_source);
            println!("     SHA-256 {}", a.root_fingerprint);
            if spki.is_none() {
                println!("public key: not compared (give --public-key to compare)");
            } else {
                println!("public key: matches");
            }
            println!("result: accepted");
            Ok(())
        }
        Err(e) => {
            println!("result: refused ({}): {e}", e.code());
            Err(Refused(e.to_string()).into())
        }
    }
}
