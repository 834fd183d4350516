//! TLS: the operator's certificate, or a self-signed one generated on first run.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

pub struct Tls {
    pub config: ServerConfig,
    /// SHA-256 of the leaf certificate, `AB:CD:…`, for users to check in the browser.
    pub fingerprint: String,
    pub generated: bool,
}

fn file_err(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Loads the configured certificate, or the one generated earlier in `data_dir`,
/// generating it on first run.
pub fn load(config: &Config) -> Result<Tls, TlsError> {
    let (cert_path, key_path, generated) = match (&config.server.cert_file, &config.server.key_file)
    {
        (Some(c), Some(k)) => (c.clone(), k.clone(), false),
        _ => {
            let dir = config.data_dir.join("tls");
            let cert = dir.join("holdfast-selfsigned.crt");
            let key = dir.join("holdfast-selfsigned.key");
            if !cert.exists() || !key.exists() {
                generate(config, &dir, &cert, &key)?;
            }
            (cert, key, true)
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| file_err(&cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&cert_path, e))?;
    let Some(leaf) = chain.first() else {
        return Err(file_err(&cert_path, "no certificate in the file"));
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_err(&key_path, e))?;
    let config = server_config(chain, key)?;
    Ok(Tls {
        config,
        fingerprint,
        generated,
    })
}

/// TLS 1.3 and 1.2 with ring's suites only (all ECDHE with AEAD ciphers).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ::ring::digest::digest(&::ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn generate(config: &Config, dir: &Path, cert: &Path, key: &Path) -> Result<(), TlsError> {
    fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let listen_ip = config.server.listen.ip();
    if !listen_ip.is_unspecified() {
        names.push(listen_ip.to_string());
    }
    if let Some(host) = config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
    {
        names.push(host);
    }
    names.sort();
    names.dedup();
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(key, certified.signing_key.serialize_pem().as_bytes())?;
    fs::write(cert, certified.cert.pem()).map_err(|e| file_err(cert, e))?;
    Ok(())
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), TlsError> {
    crate::files::write_private(path, content).map_err(|e| file_err(path, e))
}
