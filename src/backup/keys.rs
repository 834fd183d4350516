//! Keys: the manifest signing key (a file under the data directory, never in the
//! database), the public keys trusted to have signed a backup, age recipients
//! (public only: the server cannot read its own old backups) and identities (given
//! by the person who verifies or restores).

use std::collections::BTreeMap;
use std::path::Path;

use age::secrecy::SecretString;

use super::BackupError;
use crate::audit::checkpoint::{self, PublicKey, Signer};
use crate::config::Config;

pub fn signer(config: &Config) -> Result<Signer, BackupError> {
    let path = config.backup.signing_key_path(&config.data_dir);
    Signer::load_or_create(&path).map_err(|e| BackupError::Keys(format!("backup signing key: {e}")))
}

/// Keys a backup may be signed with: `extra` (hex or `.pub` files given on the
/// command line), `backup.trusted_keys`, and the configured key's `.pub` file.
pub fn trusted(config: &Config, extra: &[String]) -> Result<Vec<PublicKey>, BackupError> {
    let mut out = Vec::new();
    for k in extra.iter().chain(&config.backup.trusted_keys) {
        let text = if Path::new(k).is_file() {
            std::fs::read_to_string(k).map_err(|e| BackupError::Keys(format!("{k}: {e}")))?
        } else {
            k.clone()
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                BackupError::Keys(format!(
                    "`{k}` is not an Ed25519 public key (64 hex digits)"
                ))
            })?;
        out.push(PublicKey::from_bytes(bytes));
    }
    let own = checkpoint::public_key_path(&config.backup.signing_key_path(&config.data_dir));
    if own.exists() {
        out.push(
            PublicKey::read(&own)
                .map_err(|e| BackupError::Keys(format!("backup public key: {e}")))?,
        );
    }
    if out.is_empty() {
        return Err(BackupError::Keys(
            "no trusted backup signing key: pass --trusted-key HEX|FILE (the signing key's .pub), or set backup.trusted_keys".into(),
        ));
    }
    Ok(out)
}

pub type Recipients = Vec<Box<dyn age::Recipient + Send>>;

/// Parses recipients: X25519 (`age1…`) and plugin recipients (`age1NAME1…`),
/// the latter only when the plugin binary `age-plugin-NAME` is on PATH.
pub fn recipients(list: &[String]) -> Result<Recipients, BackupError> {
    let mut out: Recipients = Vec::new();
    let mut plugins: BTreeMap<String, Vec<age::plugin::Recipient>> = BTreeMap::new();
    for raw in list {
        let r = raw.trim();
        if r.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-")
            || r.to_ascii_uppercase().starts_with("AGE-PLUGIN-")
        {
            return Err(BackupError::Keys(
                "a secret age identity was given as a recipient: the server must hold only the public recipient (age-keygen -y FILE prints it)".into(),
            ));
        }
        if let Ok(x) = r.parse::<age::x25519::Recipient>() {
            out.push(Box::new(x));
        } else if let Ok(p) = r.parse::<age::plugin::Recipient>() {
            plugins.entry(p.plugin().to_string()).or_default().push(p);
        } else {
            return Err(BackupError::Keys(format!(
                "`{r}` is not an age recipient (age1… or a plugin recipient such as age1yubikey1…)"
            )));
        }
    }
    for (name, list) in plugins {
        let plugin = age::plugin::RecipientPluginV1::new(&name, &list, &[], age::NoCallbacks)
            .map_err(|e| {
                BackupError::Keys(format!(
                    "recipient {} needs the age plugin `age-plugin-{name}` on PATH: {e}",
                    list.first().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
        out.push(Box::new(plugin));
    }
    if out.is_empty() {
        return Err(BackupError::Keys(
            "no age recipients: set backup.recipients or pass --recipient (the public key from age-keygen)".into(),
        ));
    }
    Ok(out)
}

pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Reads an age identity file (age-keygen output, or plugin identities). It is
/// read on the console by the person who verifies or restores: a plugin
/// identity (a YubiKey) asks them on the terminal for its PIN or a touch. With
/// no terminal (a scheduled drill) the plugin is told so and fails clearly.
pub fn identities(path: &Path) -> Result<Identities, BackupError> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| BackupError::Keys(format!("identity file {}: {e}", path.display())))?
        .with_callbacks(age::cli_common::UiCallbacks);
    let ids = file
        .into_identities()
        .map_err(|e| BackupError::Keys(format!("identity file {}: {e}", path.display())))?;
    if ids.is_empty() {
        return Err(BackupError::Keys(format!(
            "{} holds no age identity",
            path.display()
        )));
    }
    Ok(ids)
}

/// The passphrase for the offline copy, from its file (first line).
pub fn passphrase(path: &Path) -> Result<SecretString, BackupError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackupError::Keys(format!("backup.passphrase_file {}: {e}", path.display()))
    })?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.chars().count() < 12 {
        return Err(BackupError::Keys(format!(
            "the passphrase in {} is shorter than 12 characters",
            path.display()
        )));
    }
    Ok(SecretString::from(line))
}
