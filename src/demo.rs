//! `holdfast demo`: realistic demo data.

use secrecy::SecretString;

use crate::clock::Env;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
#[error("demo: {0}")]
pub struct DemoError(String);

pub fn load(
    _store: &Store,
    _env: &Env,
    _clients: usize,
    _seed: u64,
    _password: &SecretString,
) -> Result<String, DemoError> {
    Err(DemoError("not yet written".into()))
}
