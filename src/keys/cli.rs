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
    /// On your own computer: generate a P-256 key on the YubiKey, attest it and
    /// enroll it with a one-time code (the PIN is read from standard input).
    #[cfg(feature = "piv-client")]
    Enroll {
        /// The server's address, e.g. https://crm.example.com
        #[arg(long)]
        server: String,
        /// The one-time enrollment code.
        #[arg(long)]
        code: String,
        #[arg(long, default_value = "9a")]
        slot: String,
        /// PIN policy for the new key: once or always.
        #[arg(long, default_value = "once")]
        pin_policy: String,
        /// Touch policy for the new key: always or cached.
        #[arg(long, default_value = "always")]
        touch_policy: String,
        /// A name for the key, e.g. "spare in the safe".
        #[arg(long)]
        label: Option<String>,
        /// File with the PIV management key (48 hex digits); default: the factory key.
        #[arg(long, value_name = "PATH")]
        management_key_file: Option<PathBuf>,
        /// PEM certificate to trust for the server (e.g. its self-signed certificate).
        #[arg(long, value_name = "PATH")]
        ca_cert: Option<PathBuf>,
    },
    /// On your own computer: sign the challenge the signed-in browser shows, which
    /// elevates that browser session (the PIN is read from standard input).
    #[cfg(feature = "piv-client")]
    Login {
        #[arg(long)]
        server: String,
        /// The challenge token from the browser (`hfk1.…`).
        #[arg(long)]
        challenge: String,
        #[arg(long, default_value = "9a")]
        slot: String,
        #[arg(long, value_name = "PATH")]
        ca_cert: Option<PathBuf>,
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
        #[cfg(feature = "piv-client")]
        KeyCommand::Enroll {
            server,
            code,
            slot,
            pin_policy,
            touch_policy,
            label,
            management_key_file,
            ca_cert,
        } => piv_commands::enroll(piv_commands::EnrollArgs {
            server,
            code,
            slot,
            pin_policy,
            touch_policy,
            label,
            management_key_file,
            ca_cert,
        }),
        #[cfg(feature = "piv-client")]
        KeyCommand::Login {
            server,
            challenge,
            slot,
            ca_cert,
        } => piv_commands::login(&server, &challenge, &slot, ca_cert.as_deref()),
    }
}

#[cfg(feature = "piv-client")]
mod piv_commands {
    use std::io::BufRead;
    use std::path::{Path, PathBuf};

    use anyhow::{Context, anyhow, bail};
    use secrecy::SecretString;

    use crate::keys::attestation::Slot;
    use crate::keys::client;
    use crate::keys::piv_ext::{PinPolicy, TouchPolicy};
    use crate::keys::yubikey_device::YubiKeyDevice;

    pub struct EnrollArgs {
        pub server: String,
        pub code: String,
        pub slot: String,
        pub pin_policy: String,
        pub touch_policy: String,
        pub label: Option<String>,
        pub management_key_file: Option<PathBuf>,
        pub ca_cert: Option<PathBuf>,
    }

    /// From the terminal without echo (someone may be watching the screen), or
    /// one line of standard input when it is not a terminal (scripts, tests).
    fn read_pin() -> anyhow::Result<SecretString> {
        use std::io::IsTerminal;
        let line = if std::io::stdin().is_terminal() {
            zeroize::Zeroizing::new(rpassword::prompt_password("YubiKey PIN: ")?)
        } else {
            eprint!("YubiKey PIN: ");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line)?;
            line
        };
        let pin = line.trim_end_matches(['\r', '\n']).to_string();
        if pin.is_empty() {
            bail!("no PIN on standard input");
        }
        Ok(SecretString::from(pin))
    }

    fn slot(s: &str) -> anyhow::Result<Slot> {
        Slot::parse(s).ok_or_else(|| anyhow!("unknown PIV slot `{s}`"))
    }

    fn post(
        server: &str,
        ca_cert: Option<&Path>,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if let Some(p) = ca_cert {
            let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let http = builder.build()?;
        let url = format!("{}{path}", server.trim_end_matches('/'));
        actix_web::rt::System::new().block_on(async move {
            let res = http.post(&url).json(&body).send().await?;
            let status = res.status();
            let value: serde_json::Value = res.json().await.unwrap_or_default();
            if !status.is_success() {
                bail!(
                    "the server refused ({status}): {} [{}]",
                    value["error"]["message"].as_str().unwrap_or("no message"),
                    value["error"]["field"]
                        .as_str()
                        .or(value["error"]["code"].as_str())
                        .unwrap_or("")
                );
            }
            Ok(value)
        })
    }

    pub fn enroll(a: EnrollArgs) -> anyhow::Result<()> {
        let pin_policy = PinPolicy::parse(&a.pin_policy)
            .ok_or_else(|| anyhow!("PIN policy: never, once or always"))?;
        let touch_policy = TouchPolicy::parse(&a.touch_policy)
            .ok_or_else(|| anyhow!("touch policy: never, cached or always"))?;
        let mgm = match &a.management_key_file {
            Some(p) => Some(SecretString::from(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )),
            None => None,
        };
        let pin = read_pin()?;
        let mut dev = YubiKeyDevice::open(mgm.as_ref())?;
        eprintln!(
            "Generating a P-256 key in slot {} of YubiKey {} (PIN {}, touch {}); this replaces any key in that slot.",
            a.slot,
            dev.serial(),
            pin_policy,
            touch_policy
        );
        let req = client::enroll(
            &mut dev,
            &a.server,
            &a.code,
            slot(&a.slot)?,
            pin_policy,
            touch_policy,
            &pin,
            a.label,
        )?;
        let key = post(
            &a.server,
            a.ca_cert.as_deref(),
            "/api/v1/keys/enroll",
            serde_json::to_value(&req)?,
        )?;
        println!(
            "enrolled key {} (slot {}, serial {}, fingerprint {})",
            key["id"].as_str().unwrap_or("?"),
            key["slot"].as_str().unwrap_or("?"),
            key["serial"],
            key["fingerprint"].as_str().unwrap_or("?")
        );
        Ok(())
    }

    pub fn login(
        server: &str,
        challenge: &str,
        slot_name: &str,
        ca_cert: Option<&Path>,
    ) -> anyhow::Result<()> {
        let token = client::ChallengeToken::parse(challenge)?;
        if token.origin != server.trim_end_matches('/') {
            bail!(
                "this challenge was issued by {}, not by {server}: refusing to sign it",
                token.origin
            );
        }
        eprintln!(
            "Signing a challenge for {} (it elevates the browser session that shows it).",
            token.origin
        );
        let pin = read_pin()?;
        let mut dev = YubiKeyDevice::open(None)?;
        let proof = client::prove(&mut dev, server, challenge, slot(slot_name)?, &pin)?;
        let ok = post(
            server,
            ca_cert,
            "/api/v1/keys/proof",
            serde_json::to_value(&proof)?,
        )?;
        println!(
            "the browser session is elevated until {}",
            ok["elevated_until"].as_str().unwrap_or("?")
        );
        Ok(())
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
    let who = crate::audit::Who::console();
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
        // Inside the transaction the head is the event just written.
        let (seq, _) = crate::audit::chain::head(conn)?;
        crate::alerts::raise(
            conn,
            env,
            &crate::alerts::NewAlert {
                kind: "key.break_glass".into(),
                severity: crate::alerts::Severity::High,
                audience: crate::alerts::Audience::Owners,
                subject_user: Some(user.id.clone()),
                summary: format!(
                    "Break-glass: a hardware-key enrollment code for {} was issued on the server console",
                    user.username
                ),
                detail: serde_json::json!({"username": user.username, "active_keys": active}),
                evidence: vec![seq],
                dedupe_key: None,
            },
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
    // Owners who are not a privileged role here have no use for a key code.
    if !config.keys.privileged_roles.iter().any(|r| r == "owner") {
        return Ok(());
    }
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
    let who = crate::audit::Who::console();
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
            for inter in &a.via {
                println!("  <- {inter} (intermediate from the trust directory)");
            }
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
