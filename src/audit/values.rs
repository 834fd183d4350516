//! Old and new values of personal fields in write events: kept as they are, or
//! replaced by a keyed hash (HMAC-SHA256) so the log proves *that* a phone number
//! changed, and to which value when someone holding the key checks a candidate
//! (`holdfast audit hash-value`), without spelling the client base out in the log.
//! A keyed hash, because a plain hash of a phone number is found by trying them all.

use std::path::Path;

use ring::hmac;
use serde_json::{Value, json};

use crate::crm::types::ValueChange;
use crate::files;

#[derive(Clone)]
pub enum ValuePolicy {
    Keep,
    Hash(hmac::Key),
}

impl std::fmt::Debug for ValuePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValuePolicy::Keep => "Keep",
            ValuePolicy::Hash(_) => "Hash(<key>)",
        })
    }
}

impl ValuePolicy {
    /// The hashing policy with the key at `path`, created (0600) when missing.
    pub fn hashed(path: &Path) -> std::io::Result<ValuePolicy> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                files::private_dir(dir)?;
            }
            let mut key = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                .map_err(|_| std::io::Error::other("the system random number generator failed"))?;
            files::write_private(path, hex::encode(key).as_bytes())?;
        }
        files::check_private(path)?;
        let text = std::fs::read_to_string(path)?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a 32-byte hex key", path.display()),
                )
            })?;
        Ok(ValuePolicy::Hash(hmac::Key::new(hmac::HMAC_SHA256, &key)))
    }

    /// How one value appears in the log.
    pub fn show(&self, value: Option<&str>) -> Value {
        match (self, value) {
            (_, None) => Value::Null,
            (ValuePolicy::Keep, Some(v)) => Value::String(v.to_string()),
            (ValuePolicy::Hash(key), Some(v)) => {
                let tag = hmac::sign(key, v.as_bytes());
                Value::String(format!("hmac:{}", hex::encode(&tag.as_ref()[..16])))
            }
        }
    }

    /// `{"name": {"old": …, "new": …}, …}` for a write event's detail.
    pub fn changes(&self, changes: &[ValueChange]) -> Value {
        let mut out = serde_json::Map::new();
        for c in changes {
            out.insert(
                c.field.to_string(),
                json!({ "old": self.show(c.old.as_deref()), "new": self.show(c.new.as_deref()) }),
            );
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_values_are_keyed_stable_and_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = ValuePolicy::hashed(&dir.path().join("values.key")).unwrap();
        let again = ValuePolicy::hashed(&dir.path().join("values.key")).unwrap();
        let other = ValuePolicy::hashed(&dir.path().join("other.key")).unwrap();
        let v = p.show(Some("+995599123456"));
        assert_eq!(v, again.show(Some("+995599123456")));
        assert_ne!(v, other.show(Some("+995599123456")));
        assert!(!v.to_string().contains("599123456"));
        assert_eq!(
            ValuePolicy::Keep.show(Some("ნინო")),
            Value::String("ნინო".into())
        );
    }
}
