//! Time and randomness are passed in, so tests can control them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Source of secret random bytes (session tokens, CSRF tokens, ids).
pub trait Entropy: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct EntropyError;

#[derive(Debug)]
pub struct SystemEntropy(SystemRandom);

impl Default for SystemEntropy {
    fn default() -> Self {
        SystemEntropy(SystemRandom::new())
    }
}

impl Entropy for SystemEntropy {
    fn fill(&self, dest: &mut [u8]) -> Result<(), EntropyError> {
        self.0.fill(dest).map_err(|_| EntropyError)
    }
}

/// Time and randomness bundled, cheap to clone into every layer.
#[derive(Clone)]
pub struct Env {
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
}

impl Env {
    pub fn system() -> Self {
        Env {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(SystemEntropy::default()),
        }
    }

    /// Whole microseconds: what PostgreSQL keeps and what list cursors carry, so a
    /// row never sorts between its own cursor and the next page.
    pub fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.clock.now().trunc_subsecs(6)
    }

    pub fn random_bytes<const N: usize>(&self) -> Result<[u8; N], EntropyError> {
        let mut out = [0u8; N];
        self.entropy.fill(&mut out)?;
        Ok(out)
    }

    /// A random (v4) UUID: ids in URLs say nothing about the size of the base.
    pub fn new_id(&self) -> Result<uuid::Uuid, EntropyError> {
        Ok(uuid::Builder::from_random_bytes(self.random_bytes::<16>()?).into_uuid())
    }

    /// 256 random bits, URL-safe base64 without padding.
    pub fn token(&self) -> Result<String, EntropyError> {
        use base64::Engine;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.random_bytes::<32>()?))
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}
