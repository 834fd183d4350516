//! The manifest inside every archive, its Ed25519 signature, and the signed
//! sidecar beside every encrypted file (checkable without decrypting).
//!
//! Signed messages: `"holdfast-backup-manifest-v1\0" ‖ manifest.json bytes` and
//! `"holdfast-backup-sidecar-v1\0" ‖ the sidecar's JSON without its signature`
//! (fields in the order written here; serde keeps it).

use std::path::Path;

use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::BackupError;
use super::catalog::Table;
use crate::audit::checkpoint::{PublicKey, Signer};

pub const FORMAT: &str = "holdfast-backup";
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST_DOMAIN: &[u8] = b"holdfast-backup-manifest-v1\0";
const SIDECAR_DOMAIN: &[u8] = b"holdfast-backup-sidecar-v1\0";
/// Sidecars hash the ciphertext in blocks of this size, so a changed byte is
/// located without the identity.
pub const BLOCK: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableEntry {
    #[serde(flatten)]
    pub table: Table,
    /// Path of the member in the tar container.
    pub member: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub backup_id: String,
    /// UTC, RFC 3339.
    pub created_at: String,
    pub host: String,
    pub holdfast_version: String,
    pub source_backend: String,
    /// The newest migration applied to the source database.
    pub schema_version: String,
    pub tables: Vec<TableEntry>,
    pub audit_head: AuditHead,
    /// SHA-256 of the previous backup's manifest.json (none for the first).
    pub previous_manifest_sha256: Option<String>,
    pub signing_key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub algorithm: String,
    pub key_id: String,
    pub public_key: String,
    pub signature: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn signed(domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + body.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(body);
    m
}

fn signature(signer: &Signer, domain: &[u8], body: &[u8]) -> Signature {
    Signature {
        algorithm: "ed25519".into(),
        key_id: signer.public().id.clone(),
        public_key: hex::encode(&signer.public().bytes),
        signature: hex::encode(signer.sign_bytes(&signed(domain, body))),
    }
}

pub fn sign_manifest(signer: &Signer, manifest_json: &[u8]) -> Signature {
    signature(signer, MANIFEST_DOMAIN, manifest_json)
}

/// Checks a signature against the trusted keys only: the public key written in
/// the signature itself is informative, never trusted (a forger would put theirs).
fn check(
    trusted: &[PublicKey],
    sig: &Signature,
    domain: &[u8],
    body: &[u8],
    what: &str,
) -> Result<String, BackupError> {
    let key = trusted.iter().find(|k| k.id == sig.key_id).ok_or_else(|| {
        BackupError::Forged(format!(
            "{what} is signed by key {} which is not a trusted backup key (trusted: {})",
            sig.key_id,
            trusted
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let raw = hex::decode(&sig.signature)
        .map_err(|_| BackupError::Forged(format!("{what}: the signature is not hex")))?;
    UnparsedPublicKey::new(&ED25519, &key.bytes)
        .verify(&signed(domain, body), &raw)
        .map_err(|_| {
            BackupError::Forged(format!(
                "{what}: the signature does not verify with key {}: it was altered or forged",
                key.id
            ))
        })?;
    Ok(key.id.clone())
}

pub fn verify_manifest(
    trusted: &[PublicKey],
    manifest_json: &[u8],
    sig: &Signature,
) -> Result<Manifest, BackupError> {
    check(
        trusted,
        sig,
        MANIFEST_DOMAIN,
        manifest_json,
        "manifest.json",
    )?;
    let m: Manifest = serde_json::from_slice(manifest_json)
        .map_err(|e| BackupError::Archive(format!("manifest.json: {e}")))?;
    if m.format != FORMAT || m.format_version != FORMAT_VERSION {
        return Err(BackupError::Archive(format!(
            "archive format {} v{} is not {FORMAT} v{FORMAT_VERSION}",
            m.format, m.format_version
        )));
    }
    if m.signing_key_id != sig.key_id {
        return Err(BackupError::Forged(
            "the manifest names another signing key than the one that signed it".into(),
        ));
    }
    Ok(m)
}

/// What the sidecar vouches for: one encrypted file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SidecarBody {
    pub format: String,
    pub format_version: u32,
    /// File name of the encrypted archive, in the same directory.
    pub archive: String,
    /// `recipients` (age X25519/plugin) or `passphrase` (age scrypt).
    pub encryption: String,
    pub backup_id: String,
    pub created_at: String,
    pub host: String,
    pub size: u64,
    pub sha256: String,
    pub block_size: usize,
    pub block_sha256: Vec<String>,
    pub manifest_sha256: String,
    pub previous_manifest_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub body: SidecarBody,
    pub signature: Signature,
}

pub const SIDECAR_SUFFIX: &str = ".sig.json";

pub fn sidecar_path(archive: &Path) -> std::path::PathBuf {
    let mut p = archive.as_os_str().to_owned();
    p.push(SIDECAR_SUFFIX);
    std::path::PathBuf::from(p)
}

impl Sidecar {
    pub fn sign(signer: &Signer, body: SidecarBody) -> Result<Sidecar, BackupError> {
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| BackupError::Io(format!("sidecar encoding: {e}")))?;
        Ok(Sidecar {
            signature: signature(signer, SIDECAR_DOMAIN, &bytes),
            body,
        })
    }

    pub fn read(path: &Path) -> Result<Sidecar, BackupError> {
        let text =
            std::fs::read(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&text).map_err(|e| {
            BackupError::Archive(format!("{}: not a backup sidecar: {e}", path.display()))
        })
    }

    pub fn verify(&self, trusted: &[PublicKey]) -> Result<String, BackupError> {
        let bytes = serde_json::to_vec(&self.body)
            .map_err(|e| BackupError::Io(format!("sidecar encoding: {e}")))?;
        check(
            trusted,
            &self.signature,
            SIDECAR_DOMAIN,
            &bytes,
            "the sidecar",
        )
    }
}
