//! Trust anchors for PIV attestation: Yubico's root built into the binary, plus the
//! certificates of an optional directory (`keys.trust_dir`).

use std::path::Path;

use x509_parser::pem::Pem;
use x509_parser::prelude::*;

const BUILTIN: &[(&str, &str)] = &[(
    "built-in trust/yubico-piv-root-ca.pem",
    include_str!("../../trust/yubico-piv-root-ca.pem"),
)];

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("trust directory {0}: {1}")]
    Dir(String, String),
    #[error("{0}: not a readable X.509 certificate ({1})")]
    BadCertificate(String, String),
}

/// One trusted root, kept as DER (parsed again when used).
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// Where it came from: the built-in file or a path in the trust directory.
    pub source: String,
    pub subject: String,
    /// SHA-256 of the DER, colon-separated upper-case hex (as `openssl -fingerprint`).
    pub fingerprint: String,
    pub der: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor>,
}

pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Certificates from a PEM (one or more blocks) or DER buffer.
pub fn certificates_from(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text_start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if bytes[text_start..].starts_with(b"-----BEGIN") {
        let mut out = Vec::new();
        for pem in Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| format!("PEM: {e}"))?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        if out.is_empty() {
            return Err("no CERTIFICATE block in the PEM text".into());
        }
        Ok(out)
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

impl TrustStore {
    pub fn empty() -> TrustStore {
        TrustStore::default()
    }

    /// The built-in roots, then every certificate in `dir` (files ending in `.pem`,
    /// `.crt`, `.cer` or `.der`).
    pub fn load(dir: Option<&Path>, builtin: bool) -> Result<TrustStore, TrustError> {
        let mut store = TrustStore::empty();
        if builtin {
            for (source, pem) in BUILTIN {
                store.add(source, pem.as_bytes())?;
            }
        }
        if let Some(dir) = dir {
            let shown = dir.display().to_string();
            let entries = std::fs::read_dir(dir)
                .map_err(|e| TrustError::Dir(shown.clone(), e.to_string()))?;
            let mut paths = Vec::new();
            for entry in entries {
                let path = entry
                    .map_err(|e| TrustError::Dir(shown.clone(), e.to_string()))?
                    .path();
                let wanted = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["pem", "crt", "cer", "der"].contains(&e));
                if wanted && path.is_file() {
                    paths.push(path);
                }
            }
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path)
                    .map_err(|e| TrustError::Dir(path.display().to_string(), e.to_string()))?;
                store.add(&path.display().to_string(), &bytes)?;
            }
        }
        Ok(store)
    }

    /// Adds every certificate of a PEM or DER buffer.
    pub fn add(&mut self, source: &str, bytes: &[u8]) -> Result<(), TrustError> {
        let ders = certificates_from(bytes)
            .map_err(|e| TrustError::BadCertificate(source.to_string(), e))?;
        for der in ders {
            let (_, cert) = X509Certificate::from_der(&der)
                .map_err(|e| TrustError::BadCertificate(source.to_string(), e.to_string()))?;
            let subject = cert.subject().to_string();
            self.anchors.push(TrustAnchor {
                source: source.to_string(),
                subject,
                fingerprint: fingerprint(&der),
                der: der.clone(),
            });
        }
        Ok(())
    }

    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_root_is_yubicos() {
        let store = TrustStore::load(None, true).unwrap();
        assert_eq!(store.anchors().len(), 1);
        let root = &store.anchors()[0];
        assert!(root.subject.contains("Yubico PIV Root CA Serial 263751"));
        assert_eq!(
            root.fingerprint,
            "63:EC:E9:14:E5:4D:D8:79:15:F3:40:33:C8:5A:F4:C0:69:6B:A1:51:2F:8A:DD:66:CE:D7:38:33:12:07:B5:46"
        );
    }

    #[test]
    fn directory_adds_roots_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("yubico.pem"), BUILTIN[0].1).unwrap();
        let store = TrustStore::load(Some(dir.path()), false).unwrap();
        assert_eq!(store.anchors().len(), 1);
        std::fs::write(
            dir.path().join("bad.pem"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = TrustStore::load(Some(dir.path()), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.pem"), "{err}");
        assert!(TrustStore::load(Some(&dir.path().join("missing")), true).is_err());
    }
}
