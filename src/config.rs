//! Configuration: `holdfast.toml`, then `HOLDFAST_*` environment variables, then
//! `HOLDFAST_*_FILE` secrets. Unknown keys are an error that names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::SecretString;
use serde::Deserialize;

use crate::keys::piv_ext::{PinPolicy, TouchPolicy};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot read secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The keys whose values are secrets, as environment names after `HOLDFAST_`.
const SECRET_KEYS: &[&str] = &[
    "DATABASE__URL",
    "INTAKE__CALL_SECRET",
    "SMTP__PASSWORD",
    "NOTIFY__WEBHOOK_SECRET",
];

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database, generated TLS certificate and keys live.
    pub data_dir: PathBuf,
    /// The address users reach the server at; used for links and origin checks.
    pub public_url: Option<String>,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub intake: IntakeConfig,
    pub crm: CrmConfig,
    pub access: AccessConfig,
    pub audit: AuditConfig,
    pub keys: KeysConfig,
    pub exports: ExportsConfig,
    pub tasks: TasksConfig,
    /// Outgoing mail for reminders; unset: reminders are in-app only.
    pub smtp: Option<SmtpConfig>,
    pub backup: BackupConfig,
    pub detection: DetectionConfig,
    /// Alert notices by e-mail and webhook, per severity (`[notify]`).
    pub notify: NotifyConfig,
    /// CSV import of clients (`[import]`).
    pub import: ImportConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./holdfast-data"),
            public_url: None,
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            session: SessionConfig::default(),
            login: LoginConfig::default(),
            intake: IntakeConfig::default(),
            crm: CrmConfig::default(),
            access: AccessConfig::default(),
            audit: AuditConfig::default(),
            keys: KeysConfig::default(),
            exports: ExportsConfig::default(),
            tasks: TasksConfig::default(),
            smtp: None,
            notify: NotifyConfig::default(),
            backup: BackupConfig::default(),
            detection: DetectionConfig::default(),
            import: ImportConfig::default(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of TLS. Only behind a TLS-terminating reverse proxy.
    pub plain_http: bool,
    /// PEM certificate chain; when unset a self-signed one is generated in `data_dir`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Take the client address from `X-Forwarded-For`/`Forwarded`. Only behind a
    /// reverse proxy that sets them; otherwise clients could forge their address.
    pub trust_forwarded_headers: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            plain_http: false,
            cert_file: None,
            key_file: None,
            body_limit: 256 * 1024,
            workers: 0,
            shutdown_timeout_secs: 20,
            trust_forwarded_headers: false,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL, `sqlite://PATH` or a plain path for SQLite.
    /// Unset: SQLite at `data_dir/holdfast.db`.
    pub url: Option<SecretString>,
    /// Connections in the pool; 0 picks a default per backend.
    pub pool_size: u32,
}

impl DatabaseConfig {
    pub fn url_or_default(&self, data_dir: &Path) -> SecretString {
        match &self.url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}",
                data_dir.join("holdfast.db").display()
            )),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    #[default]
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `holdfast=debug,actix_web=info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub idle_timeout_minutes: i64,
    pub absolute_timeout_hours: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed logins allowed per account within the window.
    pub max_failures_per_account: i32,
    /// Failed logins allowed per client address within the window.
    pub max_failures_per_ip: i32,
    pub window_minutes: i64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            window_minutes: 15,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// HMAC-SHA256 key shared with the telephony provider. Unset: the call webhook is off.
    pub call_secret: Option<SecretString>,
    /// Username that owns cards created by the intake endpoints; unset: the first owner.
    pub default_owner: Option<String>,
    /// Web-form submissions accepted per client address per hour.
    pub form_per_ip_per_hour: i32,
    /// Largest accepted web-form body, in bytes.
    pub form_max_bytes: usize,
    /// Seconds a signed webhook timestamp stays valid (replay protection).
    pub call_max_skew_secs: i64,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            call_secret: None,
            default_owner: None,
            form_per_ip_per_hour: 10,
            form_max_bytes: 16 * 1024,
            call_max_skew_secs: 300,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// ISO 3166 region used for phone numbers written without a country code (e.g. "GE").
    pub default_phone_region: Option<String>,
    /// The business's time zone (IANA name, e.g. "Asia/Tbilisi"): "tomorrow at
    /// 10" and "today" on the pages mean this zone when the browser does not
    /// say its own. Unset: UTC.
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Directory with `model.conf` and `policy.csv`; unset: the policies built into the binary.
    pub policy_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Ed25519 key that signs checkpoints; created on first use. Unset:
    /// `<data_dir>/audit/checkpoint.key`. Keep a copy of the `.pub` file beside it
    /// somewhere else: `holdfast audit verify` needs only that.
    pub signing_key: Option<PathBuf>,
    /// A signed checkpoint after this many new events…
    pub checkpoint_every_events: i64,
    /// …or after this many seconds when there are new events at all.
    pub checkpoint_every_secs: u64,
    /// Append every checkpoint as a JSON line to this file (put it on another disk).
    pub checkpoint_file: Option<PathBuf>,
    /// POST every checkpoint as JSON to this URL (https://…).
    pub checkpoint_webhook: Option<String>,
    /// Mail the newest checkpoint to these addresses (needs `[smtp]`), at most
    /// once per `checkpoint_email_every_minutes`; the first one after a start at once.
    pub checkpoint_email: Vec<String>,
    pub checkpoint_email_every_minutes: u64,
    /// Old and new values of personal fields (name, company, address, phones,
    /// emails) in write events: "hash" (keyed HMAC, the default) or "keep".
    pub changed_values: ChangedValues,
    /// Key for the "hash" setting; created on first use. Unset:
    /// `<data_dir>/audit/values.key`.
    pub values_key: Option<PathBuf>,
    /// When the server verifies the whole chain itself (cron, six fields with
    /// seconds first, UTC). Empty string: never (run `holdfast audit verify`).
    pub verify_schedule: String,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChangedValues {
    #[default]
    Hash,
    Keep,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key: None,
            checkpoint_every_events: 1000,
            checkpoint_every_secs: 300,
            checkpoint_file: None,
            checkpoint_webhook: None,
            checkpoint_email: Vec::new(),
            checkpoint_email_every_minutes: 1440,
            changed_values: ChangedValues::Hash,
            values_key: None,
            verify_schedule: "0 30 3 * * *".into(),
        }
    }
}

/// Tasks and their reminders (`[tasks]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// When the reminder run looks for due tasks (cron, six fields with seconds
    /// first, UTC). Empty string: never (no reminders at all).
    pub reminder_schedule: String,
    /// Remind this many minutes before a task is due (0: at the due time).
    pub remind_before_minutes: i64,
    /// A task still open this many minutes after its due time is escalated to
    /// the assignee's team lead (owners when the team has none).
    pub escalate_after_minutes: i64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            reminder_schedule: "0 * * * * *".into(),
            remind_before_minutes: 0,
            escalate_after_minutes: 120,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// Outgoing mail (`[smtp]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    /// Keep it out of the file: HOLDFAST_SMTP__PASSWORD_FILE.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The sender, e.g. "Holdfast <crm@example.com>".
    pub from: String,
}

/// Hardware keys for privileged access (`[keys]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Extra PIV attestation roots (`.pem`, `.crt`, `.cer`, `.der` files), added to
    /// the Yubico root built into the binary.
    pub trust_dir: Option<PathBuf>,
    /// Trust the Yubico PIV root built into the binary (`trust/` in the source).
    pub builtin_roots: bool,
    /// Weakest accepted PIV PIN policy: `never`, `once` or `always`.
    pub min_pin_policy: PinPolicy,
    /// Weakest accepted PIV touch policy: `never`, `cached` or `always`.
    pub min_touch_policy: TouchPolicy,
    /// Roles whose sessions need a hardware-key proof before doing anything privileged
    /// or reading client data.
    pub privileged_roles: Vec<String>,
    /// How long a proof elevates a session (never beyond the session's own lifetime).
    pub elevation_minutes: i64,
    /// Step-up actions need a proof made within this many minutes.
    pub step_up_minutes: i64,
    /// The actions (audit event names) that need a fresh proof.
    pub step_up_actions: Vec<String>,
    /// Key kinds that may be enrolled and used: `piv` (YubiKey PIV through the
    /// command line) and `webauthn` (security keys in the browser).
    pub accepted_kinds: Vec<String>,
    /// Seconds a login challenge stays valid (at most 120).
    pub challenge_seconds: i64,
    /// Hours an enrollment code stays valid.
    pub enrollment_code_hours: i64,
    /// Trust the Yubico FIDO attestation root built into the binary (`trust/` in
    /// the source) for WebAuthn registrations.
    pub webauthn_builtin_roots: bool,
    /// Extra WebAuthn attestation CAs (`.pem`, `.crt`, `.cer`, `.der` files).
    pub webauthn_trust_dir: Option<PathBuf>,
    /// Authenticator models (AAGUIDs) allowed to register; empty: every model the
    /// attestation CAs above attest.
    pub webauthn_aaguids: Vec<String>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            trust_dir: None,
            builtin_roots: true,
            min_pin_policy: PinPolicy::Once,
            min_touch_policy: TouchPolicy::Cached,
            privileged_roles: vec!["owner".into(), "admin".into()],
            elevation_minutes: 480,
            step_up_minutes: 5,
            step_up_actions: [
                "key.enrollment_code",
                "key.revoke",
                "user.disable",
                "export.approve",
                "export.reject",
                "reassign.approve",
                "reassign.reject",
                "backup.restore",
                "user.leaving",
                "user.depart",
                "user.email",
            ]
            .map(String::from)
            .to_vec(),
            accepted_kinds: vec!["piv".into(), "webauthn".into()],
            challenge_seconds: 120,
            enrollment_code_hours: 24,
            webauthn_builtin_roots: true,
            webauthn_trust_dir: None,
            webauthn_aaguids: Vec::new(),
        }
    }
}

/// Guarded exports (`[exports]`); the allowances are in `policies/limits.toml`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsConfig {
    /// An email domain the company controls (its mail server keeps what arrives):
    /// fingerprint seeds get addresses there. Unset: seeds carry no email.
    pub seed_domain: Option<String>,
    /// Phone numbers the company controls for seeds: `"+995322000100"` or ranges
    /// `"+995322000100..+995322000199"`. Empty: seeds carry no phone.
    pub seed_phones: Vec<String>,
    /// Seed records planted in every export file.
    pub seeds_per_export: usize,
    /// Hours a ready export's file can be downloaded; then it is deleted (the
    /// record stays).
    pub file_hours: i64,
    /// Rows one export can hold at most, approved or not.
    pub max_rows: usize,
}

impl Default for ExportsConfig {
    fn default() -> Self {
        ExportsConfig {
            seed_domain: None,
            seed_phones: Vec::new(),
            seeds_per_export: 2,
            file_hours: 24,
            max_rows: 50_000,
        }
    }
}

impl ExportsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(d) = &self.seed_domain {
            let ok = d.contains('.')
                && !d.starts_with(['.', '-'])
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "exports.seed_domain: `{d}` is not a domain name"
                )));
            }
        }
        crate::exports::seeds::PhonePool::parse(&self.seed_phones)
            .map_err(|e| ConfigError::Invalid(format!("exports.seed_phones: {e}")))?;
        if !(0..=20).contains(&self.seeds_per_export) {
            return Err(ConfigError::Invalid(
                "exports.seeds_per_export must be between 0 and 20".into(),
            ));
        }
        if self.file_hours < 1 || self.max_rows < 1 {
            return Err(ConfigError::Invalid(
                "exports.file_hours and exports.max_rows must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl AuditConfig {
    pub fn values_key_path(&self, data_dir: &Path) -> PathBuf {
        self.values_key
            .clone()
            .unwrap_or_else(|| data_dir.join("audit").join("values.key"))
    }

    pub fn signing_key_path(&self, data_dir: &Path) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("audit").join("checkpoint.key"))
    }
}

impl Config {
    /// Loads `path` (or `./holdfast.toml` when present), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        match path {
            Some(p) if !p.exists() => return Err(ConfigError::Missing(p.to_path_buf())),
            Some(p) => figment = figment.merge(Toml::file_exact(p)),
            None if Path::new("holdfast.toml").exists() => {
                figment = figment.merge(Toml::file_exact("holdfast.toml"))
            }
            None => {}
        }
        Self::from_figment(figment, std::env::vars())
    }

    /// Layers environment variables (and `*_FILE` secrets) over `figment` and checks it.
    pub fn from_figment(
        figment: Figment,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut plain = Vec::new();
        let mut from_files = serde_json::Map::new();
        for (key, value) in vars {
            let Some(rest) = key.strip_prefix("HOLDFAST_") else {
                continue;
            };
            // Variables the command line reads itself, not configuration keys.
            if ["CONFIG", "DEMO_PASSWORD"].contains(&rest) {
                continue;
            }
            // `_FILE` reads a secret from a file only for the keys that hold
            // secrets: other keys end in `_file` themselves (`server.cert_file`).
            if let Some(secret_key) = rest
                .strip_suffix("_FILE")
                .filter(|k| SECRET_KEYS.contains(k))
            {
                let path = PathBuf::from(&value);
                let content = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::SecretFile { path, source })?;
                let path: Vec<String> = secret_key
                    .split("__")
                    .map(|s| s.to_ascii_lowercase())
                    .collect();
                insert_path(
                    &mut from_files,
                    &path,
                    serde_json::Value::String(content.trim_end().to_string()),
                );
            } else {
                plain.push((rest.to_string(), value));
            }
        }
        let mut from_env = serde_json::Map::new();
        for (key, value) in plain {
            let path: Vec<String> = key.split("__").map(|s| s.to_ascii_lowercase()).collect();
            insert_path(&mut from_env, &path, serde_json::Value::String(value));
        }
        let figment = figment
            .merge(Serialized::defaults(serde_json::Value::Object(from_env)))
            .merge(Serialized::defaults(serde_json::Value::Object(from_files)));
        // Lossy: environment values are strings; `"true"` and `"8443"` become typed values.
        let config: Config = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.cert_file.is_some() != self.server.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "server.cert_file and server.key_file must be set together".into(),
            ));
        }
        if self.server.body_limit < 1024 {
            return Err(ConfigError::Invalid(
                "server.body_limit must be at least 1024 bytes".into(),
            ));
        }
        if self.session.idle_timeout_minutes <= 0 || self.session.absolute_timeout_hours <= 0 {
            return Err(ConfigError::Invalid(
                "session timeouts must be positive".into(),
            ));
        }
        self.validate_keys()?;
        self.validate_audit()?;
        self.exports.validate()?;
        self.validate_tasks()?;
        self.backup.validate()?;
        self.notify.validate()?;
        self.import.validate()?;
        if let Some(region) = &self.crm.default_phone_region
            && region.parse::<phonenumber::country::Id>().is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "crm.default_phone_region: unknown region `{region}`"
            )));
        }
        Ok(())
    }

    fn validate_tasks(&self) -> Result<(), ConfigError> {
        let t = &self.tasks;
        if t.remind_before_minutes < 0 || t.escalate_after_minutes < 1 {
            return Err(ConfigError::Invalid(
                "tasks.remind_before_minutes must be 0 or more and tasks.escalate_after_minutes at least 1"
                    .into(),
            ));
        }
        if let Some(tz) = &self.crm.time_zone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "crm.time_zone: unknown time zone `{tz}` (an IANA name such as Asia/Tbilisi)"
            )));
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return Err(ConfigError::Invalid("smtp.host must not be empty".into()));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "smtp.from: `{}` is not an e-mail address",
                    smtp.from
                )));
            }
            if smtp.password.is_some() && smtp.username.is_none() {
                return Err(ConfigError::Invalid(
                    "smtp.password needs smtp.username".into(),
                ));
            }
        }
        Ok(())
    }

    /// The business's time zone (UTC when unset).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.crm
            .time_zone
            .as_deref()
            .and_then(|tz| tz.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    fn validate_audit(&self) -> Result<(), ConfigError> {
        let a = &self.audit;
        if a.checkpoint_every_events < 1 || a.checkpoint_every_secs < 1 {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_every_events and audit.checkpoint_every_secs must be at least 1"
                    .into(),
            ));
        }
        if !a.checkpoint_email.is_empty() {
            if self.smtp.is_none() {
                return Err(ConfigError::Invalid(
                    "audit.checkpoint_email needs an [smtp] section to send through".into(),
                ));
            }
            if a.checkpoint_email_every_minutes < 1 {
                return Err(ConfigError::Invalid(
                    "audit.checkpoint_email_every_minutes must be at least 1".into(),
                ));
            }
            if let Some(bad) = a
                .checkpoint_email
                .iter()
                .find(|m| m.parse::<lettre::message::Mailbox>().is_err())
            {
                return Err(ConfigError::Invalid(format!(
                    "audit.checkpoint_email: `{bad}` is not an e-mail address"
                )));
            }
        }
        if let Some(hook) = &a.checkpoint_webhook {
            match url::Url::parse(hook) {
                Ok(u) if ["https", "http"].contains(&u.scheme()) && u.host().is_some() => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "audit.checkpoint_webhook: `{hook}` is not an http(s) URL"
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_keys(&self) -> Result<(), ConfigError> {
        let k = &self.keys;
        if let Some(role) = k
            .privileged_roles
            .iter()
            .find(|r| !["owner", "admin", "manager", "sales"].contains(&r.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "keys.privileged_roles: unknown role `{role}`"
            )));
        }
        if let Some(kind) = k
            .accepted_kinds
            .iter()
            .find(|r| !["piv", "webauthn"].contains(&r.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "keys.accepted_kinds: unknown kind `{kind}` (piv, webauthn)"
            )));
        }
        if let Some(bad) = k
            .webauthn_aaguids
            .iter()
            .find(|a| uuid::Uuid::parse_str(a.trim()).is_err())
        {
            return Err(ConfigError::Invalid(format!(
                "keys.webauthn_aaguids: `{bad}` is not an AAGUID (8-4-4-4-12 hex digits)"
            )));
        }
        if k.elevation_minutes <= 0 || k.step_up_minutes <= 0 || k.enrollment_code_hours <= 0 {
            return Err(ConfigError::Invalid(
                "keys: elevation_minutes, step_up_minutes and enrollment_code_hours must be positive"
                    .into(),
            ));
        }
        if !(10..=120).contains(&k.challenge_seconds) {
            return Err(ConfigError::Invalid(
                "keys.challenge_seconds must be between 10 and 120".into(),
            ));
        }
        if !k.builtin_roots && k.trust_dir.is_none() {
            return Err(ConfigError::Invalid(
                "keys: with builtin_roots = false, set keys.trust_dir".into(),
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> SecretString {
        self.database.url_or_default(&self.data_dir)
    }

    /// The URL printed at start-up and used in one-time links.
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = if self.server.plain_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.server.listen)
    }
}

fn insert_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    value: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("{key}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Encrypted backups (`[backup]`). The server holds only public recipients.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// age recipients: X25519 public keys (`age1…`) and plugin recipients
    /// (`age1yubikey1…`, needs the plugin binary on PATH). Never an identity.
    pub recipients: Vec<String>,
    /// Directories that receive every archive (local disks, mounted remote disks).
    /// Empty: `<data_dir>/backups` (same disk as the database: add another).
    pub destinations: Vec<PathBuf>,
    /// A file holding a passphrase: each backup also gets a copy encrypted to it
    /// (`*.pass.tar.age`), for an offline safe.
    pub passphrase_file: Option<PathBuf>,
    /// Ed25519 key that signs manifests; created on first use (mode 0600). Unset:
    /// `<data_dir>/backup/signing.key`. Keep its `.pub` elsewhere too.
    pub signing_key: Option<PathBuf>,
    /// Further manifest public keys (hex) accepted by verify and restore (old keys).
    pub trusted_keys: Vec<String>,
    /// When the server backs itself up (cron, six fields with seconds first, UTC).
    /// Empty: never (run `holdfast backup run`).
    pub schedule: String,
    /// Retention: the newest N archives are always kept…
    pub keep_last: u32,
    /// …and the newest archive of each of the last N days, weeks and months.
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    /// An alert when no good backup is younger than this many hours (0: never).
    pub max_age_hours: i64,
    /// Where the admin page may restore to: `postgres://…` URLs (compared
    /// exactly) and `sqlite://DIR/` directories (a new file in one of them).
    /// Empty: nowhere, so that an admin holding the age identity cannot copy the
    /// client base into a database of their own from the browser. The console
    /// (`holdfast backup restore`) needs file access on the server and is not
    /// limited by this.
    pub restore_targets: Vec<SecretString>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            recipients: Vec::new(),
            destinations: Vec::new(),
            passphrase_file: None,
            signing_key: None,
            trusted_keys: Vec::new(),
            schedule: String::new(),
            keep_last: 7,
            keep_daily: 14,
            keep_weekly: 8,
            keep_monthly: 12,
            max_age_hours: 26,
            restore_targets: Vec::new(),
        }
    }
}

impl BackupConfig {
    pub fn signing_key_path(&self, data_dir: &Path) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("backup").join("signing.key"))
    }

    pub fn destination_dirs(&self, data_dir: &Path) -> Vec<PathBuf> {
        if self.destinations.is_empty() {
            vec![data_dir.join("backups")]
        } else {
            self.destinations.clone()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !self.schedule.trim().is_empty() && self.recipients.is_empty() {
            return Err(ConfigError::Invalid(
                "backup.schedule is set but backup.recipients is empty: nobody could read the backups".into(),
            ));
        }
        if self.keep_last == 0 {
            return Err(ConfigError::Invalid(
                "backup.keep_last must be at least 1".into(),
            ));
        }
        if self.max_age_hours < 0 {
            return Err(ConfigError::Invalid(
                "backup.max_age_hours must not be negative".into(),
            ));
        }
        for t in &self.restore_targets {
            let t = secrecy::ExposeSecret::expose_secret(t);
            let dir = t.strip_prefix("sqlite://");
            if !(t.starts_with("postgres://")
                || t.starts_with("postgresql://")
                || dir.is_some_and(|d| Path::new(d).is_absolute() && d.ends_with('/')))
            {
                return Err(ConfigError::Invalid(
                    "backup.restore_targets: each entry is a postgres:// URL or sqlite:///absolute/directory/ (ending in /)".into(),
                ));
            }
        }
        for k in &self.trusted_keys {
            if hex::decode(k.trim()).map(|b| b.len()) != Ok(32) {
                return Err(ConfigError::Invalid(format!(
                    "backup.trusted_keys: `{k}` is not a hex Ed25519 public key"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn unknown_key_is_named() {
        let figment = Figment::new().merge(Toml::string("[server]\nlisten_addr = \"x\"\n"));
        let err = Config::from_figment(figment, vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn env_overrides_file() {
        let figment = Figment::new().merge(Toml::string(
            "[server]\nlisten = \"127.0.0.1:1\"\nplain_http = false\n",
        ));
        let config = Config::from_figment(
            figment,
            vars(&[
                ("HOLDFAST_SERVER__LISTEN", "127.0.0.1:9999"),
                ("HOLDFAST_SERVER__PLAIN_HTTP", "true"),
                ("HOLDFAST_CONFIG", "ignored.toml"),
                ("HOLDFAST_DEMO_PASSWORD", "read by the demo command"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert!(config.server.plain_http);
    }

    #[test]
    fn unknown_env_key_is_named() {
        let err = Config::from_figment(Figment::new(), vars(&[("HOLDFAST_SERVR__LISTEN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("servr"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("secret");
        std::fs::write(&secret_path, "hunter2-call-secret\n").unwrap();
        let config = Config::from_figment(
            Figment::new(),
            vars(&[
                (
                    "HOLDFAST_DATABASE__URL",
                    "postgres://u:topsecretpw@db/holdfast",
                ),
                (
                    "HOLDFAST_INTAKE__CALL_SECRET_FILE",
                    secret_path.to_str().unwrap(),
                ),
            ]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("topsecretpw"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(
            config.intake.call_secret.as_ref().unwrap().expose_secret(),
            "hunter2-call-secret"
        );
    }

    #[test]
    fn audit_settings_that_would_misbehave_are_refused_with_the_key_named() {
        for bad in [
            "[audit]\ncheckpoint_every_events = 0\n",
            "[audit]\ncheckpoint_every_secs = 0\n",
            "[audit]\ncheckpoint_webhook = \"ftp://sink.example.com/cp\"\n",
            "[audit]\ncheckpoint_webhook = \"not a url\"\n",
            "[audit]\nchanged_values = \"plain\"\n",
            // E-mail without a way to send it, or to something that is no address.
            "[audit]\ncheckpoint_email = [\"auditor@example.com\"]\n",
            "[smtp]\nhost = \"mail\"\nfrom = \"a@example.com\"\n[audit]\ncheckpoint_email = [\"not an address\"]\n",
            "[smtp]\nhost = \"mail\"\nfrom = \"a@example.com\"\n[audit]\ncheckpoint_email = [\"a@example.com\"]\ncheckpoint_email_every_minutes = 0\n",
        ] {
            let figment = Figment::new().merge(Toml::string(bad));
            let err = Config::from_figment(figment, vars(&[])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("checkpoint") || text.contains("changed_values"),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/holdfast.example.toml");
        let figment = Figment::new().merge(Toml::file_exact(example));
        let config = Config::from_figment(figment, vars(&[])).unwrap();
        assert_eq!(config.audit.checkpoint_every_events, 1000);
        assert_eq!(config.audit.changed_values, ChangedValues::Hash);
    }

    #[test]
    fn keys_that_end_in_file_are_plain_paths_not_secret_files() {
        let config = Config::from_figment(
            Figment::new(),
            vars(&[
                ("HOLDFAST_SERVER__CERT_FILE", "/etc/holdfast/cert.pem"),
                ("HOLDFAST_SERVER__KEY_FILE", "/etc/holdfast/key.pem"),
                ("HOLDFAST_AUDIT__CHECKPOINT_FILE", "/mnt/offsite/cp.jsonl"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.server.cert_file.as_deref(),
            Some(Path::new("/etc/holdfast/cert.pem"))
        );
        assert_eq!(
            config.audit.checkpoint_file.as_deref(),
            Some(Path::new("/mnt/offsite/cp.jsonl"))
        );
    }

    #[test]
    fn keys_section_defaults_are_strict_and_typos_are_named() {
        let config = Config::from_figment(Figment::new(), vars(&[])).unwrap();
        assert_eq!(config.keys.min_pin_policy, PinPolicy::Once);
        assert_eq!(config.keys.min_touch_policy, TouchPolicy::Cached);
        assert_eq!(config.keys.privileged_roles, ["owner", "admin"]);
        assert_eq!(config.keys.elevation_minutes, 480);
        assert_eq!(config.keys.step_up_minutes, 5);
        let figment = Figment::new().merge(Toml::string(
            "[keys]\nmin_touch_policy = \"always\"\nprivileged_roles = [\"owner\"]\n",
        ));
        let config = Config::from_figment(figment, vars(&[])).unwrap();
        assert_eq!(config.keys.min_touch_policy, TouchPolicy::Always);
        assert_eq!(config.keys.privileged_roles, ["owner"]);
        for bad in [
            "[keys]\nmin_touch = \"always\"\n",
            "[keys]\nmin_pin_policy = \"sometimes\"\n",
            "[keys]\nprivileged_roles = [\"king\"]\n",
            "[keys]\nchallenge_seconds = 600\n",
        ] {
            let figment = Figment::new().merge(Toml::string(bad));
            assert!(Config::from_figment(figment, vars(&[])).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let config = Config::default();
        assert!(
            config
                .database_url()
                .expose_secret()
                .starts_with("sqlite://./holdfast-data/")
        );
    }
}

/// Theft detection (`[detection]`): per-user baselines and patterns, and what
/// happens when one trips. See `ops/holdfast.example.toml`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    pub enabled: bool,
    /// Today's number must exceed both `k` × the user's baseline (the median of
    /// the last `baseline_days` days) and the metric's floor.
    pub k: f64,
    pub baseline_days: i64,
    /// Floors per day: distinct clients viewed, rows listed, exports asked for,
    /// reveals of masked contacts, clients reassigned.
    pub views_per_day: i64,
    pub list_rows_per_day: i64,
    pub exports_per_day: i64,
    pub reveals_per_day: i64,
    pub reassigns_per_day: i64,
    /// Faster than a person reads: list pages in one minute, cards in ten minutes.
    pub list_pages_per_minute: i64,
    pub cards_per_ten_minutes: i64,
    /// Refusals in a row (no success between them).
    pub denials_in_a_row: i64,
    /// Events outside working hours in one day before it is an alert.
    pub off_hours_events: i64,
    /// Working hours (local time in `crm.time_zone`), e.g. "07:00".."21:00", and
    /// working days (1 = Monday … 7 = Sunday).
    pub work_start: String,
    pub work_end: String,
    pub work_days: Vec<u32>,
    /// Per team (by team id, or by team name as `holdfast user list` shows it;
    /// the id wins when both are given): its own hours and time zone.
    pub teams: std::collections::BTreeMap<String, TeamHours>,
    /// What each severity does: any of "notify", "step_up", "suspend_exports",
    /// "lock". Owners are always told in-app; e-mail when [smtp] is set.
    pub warning: Vec<String>,
    pub high: Vec<String>,
    pub critical: Vec<String>,
    /// When old counters are pruned (six-field cron, UTC; once across nodes):
    /// daily counters older than max(baseline_days, 90) + 7 days go. Empty: never.
    pub prune_schedule: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TeamHours {
    pub time_zone: Option<String>,
    pub work_start: Option<String>,
    pub work_end: Option<String>,
    pub work_days: Option<Vec<u32>>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            enabled: true,
            k: 3.0,
            baseline_days: 14,
            views_per_day: 60,
            list_rows_per_day: 400,
            exports_per_day: 6,
            reveals_per_day: 40,
            reassigns_per_day: 15,
            list_pages_per_minute: 12,
            cards_per_ten_minutes: 40,
            denials_in_a_row: 10,
            off_hours_events: 30,
            work_start: "07:00".into(),
            work_end: "21:00".into(),
            work_days: vec![1, 2, 3, 4, 5, 6],
            teams: std::collections::BTreeMap::new(),
            warning: vec!["notify".into()],
            high: vec!["notify".into(), "suspend_exports".into(), "step_up".into()],
            critical: vec!["notify".into(), "suspend_exports".into(), "lock".into()],
            prune_schedule: "0 41 3 * * *".into(),
        }
    }
}

/// Alert notices beyond the in-app list (`[notify]`): which severities are
/// e-mailed to the alert's audience (owners, or admins for operations) and
/// posted to webhooks, signed with HMAC-SHA256. Sent from an outbox by a job,
/// retried with backoff. See `ops/holdfast.example.toml`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Severities e-mailed (needs `[smtp]` and users with an address).
    pub email: Vec<String>,
    /// Severities posted to every URL in `webhook_urls`.
    pub webhook: Vec<String>,
    pub webhook_urls: Vec<String>,
    /// The HMAC-SHA256 key for `X-Holdfast-Signature` (at least 32 bytes);
    /// `HOLDFAST_NOTIFY__WEBHOOK_SECRET_FILE` reads it from a file.
    pub webhook_secret: Option<SecretString>,
    /// Seconds one webhook POST may take.
    pub timeout_seconds: u64,
    /// Attempts per delivery before it is given up (and logged as an error).
    pub max_attempts: i32,
    /// When the outbox is drained (six-field cron, seconds first, UTC); empty: never.
    pub schedule: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            email: vec!["high".into(), "critical".into()],
            webhook: vec!["warning".into(), "high".into(), "critical".into()],
            webhook_urls: Vec::new(),
            webhook_secret: None,
            timeout_seconds: 10,
            max_attempts: 8,
            schedule: "*/10 * * * * *".into(),
        }
    }
}

impl NotifyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("notify: {m}")));
        for s in self.email.iter().chain(&self.webhook) {
            if !["info", "warning", "high", "critical"].contains(&s.as_str()) {
                return bad(format!("unknown severity `{s}`"));
            }
        }
        for u in &self.webhook_urls {
            let Ok(url) = url::Url::parse(u) else {
                return bad(format!("webhook_urls: `{u}` is not a URL"));
            };
            // Plain HTTP only to this machine (a local relay); anything else
            // crosses a network and goes over TLS.
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => return bad(format!("webhook_urls: `{u}` names no host")),
            };
            if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
                return bad(format!(
                    "webhook_urls: `{u}` must be https (http only to localhost)"
                ));
            }
        }
        if !self.webhook_urls.is_empty() {
            let len = self
                .webhook_secret
                .as_ref()
                .map_or(0, |s| secrecy::ExposeSecret::expose_secret(s).len());
            if len < 32 {
                return bad("webhook_urls need a webhook_secret of at least 32 bytes".into());
            }
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 120 {
            return bad("timeout_seconds must be 1..=120".into());
        }
        if !(1..=50).contains(&self.max_attempts) {
            return bad("max_attempts must be 1..=50".into());
        }
        Ok(())
    }

    /// Whether alerts of `severity` go out on `channel` ("email" or "webhook").
    pub fn wants(&self, channel: &str, severity: &str) -> bool {
        match channel {
            "email" => self.email.iter().any(|s| s == severity),
            "webhook" => {
                !self.webhook_urls.is_empty() && self.webhook.iter().any(|s| s == severity)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod notify_tests {
    use super::*;

    #[test]
    fn the_webhook_secret_is_redacted_and_checked() {
        let figment = Figment::new().merge(Toml::string(
            "[notify]\nwebhook_urls = [\"https://siem.example.com/in\"]\nwebhook_secret = \"0123456789abcdef0123456789abcdef-secret\"\n",
        ));
        let config = Config::from_figment(figment, std::iter::empty()).unwrap();
        let debug = format!("{:?}", config.notify);
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(config.notify.wants("webhook", "high"));
        assert!(!config.notify.wants("webhook", "info"));
        for bad in [
            // Too short a key, none at all, plain HTTP across a network, a typo.
            "[notify]\nwebhook_urls = [\"https://a.example.com/\"]\nwebhook_secret = \"short\"\n",
            "[notify]\nwebhook_urls = [\"https://a.example.com/\"]\n",
            "[notify]\nwebhook_urls = [\"http://siem.example.com/\"]\nwebhook_secret = \"0123456789abcdef0123456789abcdef\"\n",
            "[notify]\nemail = [\"loud\"]\n",
        ] {
            let figment = Figment::new().merge(Toml::string(bad));
            assert!(
                Config::from_figment(figment, std::iter::empty()).is_err(),
                "{bad}"
            );
        }
        let figment = Figment::new().merge(Toml::string(
            "[notify]\nwebhook_urls = [\"http://127.0.0.1:9/\"]\nwebhook_secret = \"0123456789abcdef0123456789abcdef\"\n",
        ));
        assert!(Config::from_figment(figment, std::iter::empty()).is_ok());
    }
}

/// CSV import of clients (`[import]`): limits on an uploaded file, and how long
/// a staged upload waits for its commit.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Largest file accepted, in bytes; a larger upload gets 413.
    pub max_bytes: usize,
    /// Data rows one file may hold.
    pub max_rows: usize,
    /// Columns one file may have.
    pub max_columns: usize,
    /// Characters one cell may hold.
    pub max_cell_chars: usize,
    /// Hours a staged upload waits for its commit; then it is deleted.
    pub staged_hours: i64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        let l = crate::crm::import_csv::Limits::default();
        ImportConfig {
            max_bytes: l.max_bytes,
            max_rows: l.max_rows,
            max_columns: l.max_columns,
            max_cell_chars: l.max_cell_chars,
            staged_hours: 24,
        }
    }
}

impl ImportConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes < 1024 || self.max_bytes > 512 * 1024 * 1024 {
            return Err(ConfigError::Invalid(
                "import.max_bytes must be between 1024 and 536870912".into(),
            ));
        }
        if self.max_rows == 0 || self.max_columns == 0 || self.max_cell_chars == 0 {
            return Err(ConfigError::Invalid(
                "import.max_rows, max_columns and max_cell_chars must be positive".into(),
            ));
        }
        if self.staged_hours <= 0 || self.staged_hours > 24 * 30 {
            return Err(ConfigError::Invalid(
                "import.staged_hours must be between 1 and 720".into(),
            ));
        }
        Ok(())
    }

    pub fn limits(&self) -> crate::crm::import_csv::Limits {
        crate::crm::import_csv::Limits {
            max_bytes: self.max_bytes,
            max_rows: self.max_rows,
            max_columns: self.max_columns,
            max_cell_chars: self.max_cell_chars,
        }
    }
}
