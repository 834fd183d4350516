//! The client side of the protocol (`holdfast key enroll` / `holdfast key login`):
//! what to ask a PIV device and what to send. PIV operations go through
//! `PivDevice`, so the flows run against a software key in tests; the YubiKey
//! implementation (`yubikey_device.rs`) is behind the `piv-client` feature.

use secrecy::SecretString;

use super::attestation::{self, Slot};
use super::piv_ext::{PinPolicy, TouchPolicy};
use super::protocol::{self, b64, unb64};
use super::service::{EnrollRequest, ProofRequest, TOKEN_PREFIX};
use crate::identity::token_hash;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("PIV device: {0}")]
    Device(String),
    #[error("the challenge is not one `holdfast` issued ({0})")]
    BadChallenge(&'static str),
    #[error("the challenge is for {found}, not for {expected}: refusing to sign it")]
    WrongOrigin { expected: String, found: String },
    #[error("the key in slot {0} is not an ECDSA P-256 key")]
    NotP256(String),
}

/// What the client needs from a PIV device.
pub trait PivDevice {
    /// Generates a P-256 key in `slot` on the device with these policies; returns
    /// its SubjectPublicKeyInfo DER. Needs the management key (and replaces any key
    /// in the slot).
    fn generate(
        &mut self,
        slot: Slot,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<Vec<u8>, ClientError>;
    /// The slot's attestation certificate (PIV `ATTEST`), DER.
    fn attest(&mut self, slot: Slot) -> Result<Vec<u8>, ClientError>;
    /// The device's f9 attestation certificate (object 0x5fff01), DER.
    fn f9_certificate(&mut self) -> Result<Vec<u8>, ClientError>;
    /// Signs the SHA-256 digest of `message` with the key in `slot` (PIN, and touch
    /// when the key's policy asks); ECDSA, ASN.1 DER.
    fn sign(
        &mut self,
        slot: Slot,
        pin: &SecretString,
        message: &[u8],
    ) -> Result<Vec<u8>, ClientError>;
}

/// A challenge token as the browser shows it:
/// `hfk1.<base64url(origin)>.<id>.<nonce>.<session binding>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeToken {
    pub origin: String,
    pub id: String,
    pub nonce: String,
    pub session_binding: String,
}

impl ChallengeToken {
    pub fn parse(token: &str) -> Result<ChallengeToken, ClientError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [prefix, origin, id, nonce, binding] = parts.as_slice() else {
            return Err(ClientError::BadChallenge(
                "expected five dot-separated parts",
            ));
        };
        if *prefix != TOKEN_PREFIX {
            return Err(ClientError::BadChallenge("unknown version"));
        }
        let origin = unb64(origin)
            .and_then(|o| String::from_utf8(o).ok())
            .ok_or(ClientError::BadChallenge("origin is not base64url text"))?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !(ok(id) && ok(nonce) && ok(binding)) {
            return Err(ClientError::BadChallenge("unexpected characters"));
        }
        Ok(ChallengeToken {
            origin,
            id: id.to_string(),
            nonce: nonce.to_string(),
            session_binding: binding.to_string(),
        })
    }
}

/// The public key (SPKI DER) of the key in `slot`, read from its attestation.
pub fn slot_public_key(dev: &mut dyn PivDevice, slot: Slot) -> Result<Vec<u8>, ClientError> {
    use x509_parser::prelude::*;
    let der = dev.attest(slot)?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| ClientError::Device(format!("attestation certificate: {e}")))?;
    if attestation::p256_point(cert.public_key()).is_none() {
        return Err(ClientError::NotP256(slot.to_string()));
    }
    Ok(cert.public_key().raw.to_vec())
}

/// Everything `holdfast key enroll` does on the device, and the request it sends.
#[allow(clippy::too_many_arguments)]
pub fn enroll(
    dev: &mut dyn PivDevice,
    origin: &str,
    code: &str,
    slot: Slot,
    pin_policy: PinPolicy,
    touch_policy: TouchPolicy,
    pin: &SecretString,
    label: Option<String>,
) -> Result<EnrollRequest, ClientError> {
    let spki = dev.generate(slot, pin_policy, touch_policy)?;
    let slot_cert = dev.attest(slot)?;
    let f9 = dev.f9_certificate()?;
    let message = protocol::enroll_message(
        origin.trim_end_matches('/'),
        &token_hash(code.trim()),
        &slot.to_string(),
        &protocol::key_fingerprint(&spki),
    )
    .ok_or(ClientError::BadChallenge(
        "origin or code contains a line break",
    ))?;
    let signature = dev.sign(slot, pin, &message)?;
    Ok(EnrollRequest {
        code: code.trim().to_string(),
        kind: "piv".into(),
        slot: slot.to_string(),
        public_key: b64(&spki),
        attestation: b64(&slot_cert),
        intermediate: b64(&f9),
        signature: b64(&signature),
        label,
    })
}

/// Everything `holdfast key login` does: checks the token is for `server`, signs
/// the proof message with the key in `slot`, and returns the request to post.
pub fn prove(
    dev: &mut dyn PivDevice,
    server: &str,
    token: &str,
    slot: Slot,
    pin: &SecretString,
) -> Result<ProofRequest, ClientError> {
    let challenge = ChallengeToken::parse(token)?;
    let expected = server.trim_end_matches('/');
    if challenge.origin != expected {
        return Err(ClientError::WrongOrigin {
            expected: expected.to_string(),
            found: challenge.origin,
        });
    }
    let spki = slot_public_key(dev, slot)?;
    let message = protocol::proof_message(
        &challenge.origin,
        &challenge.id,
        &challenge.nonce,
        &challenge.session_binding,
        &protocol::key_fingerprint(&spki),
    )
    .ok_or(ClientError::BadChallenge("a field contains a line break"))?;
    let signature = dev.sign(slot, pin, &message)?;
    Ok(ProofRequest {
        challenge: challenge.id,
        public_key: b64(&spki),
        signature: b64(&signature),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_tokens_parse_strictly() {
        let t = format!(
            "hfk1.{}.0b3c-id.nonce_x.abcdef",
            b64(b"https://crm.example")
        );
        let c = ChallengeToken::parse(&t).unwrap();
        assert_eq!(c.origin, "https://crm.example");
        assert_eq!(c.id, "0b3c-id");
        for bad in [
            "hfk2.aHR0cHM.a.b.c",
            "hfk1.aHR0cHM.a.b",
            "hfk1.!!!.a.b.c",
            "hfk1.aHR0cHM.a b.b.c",
        ] {
            assert!(ChallengeToken::parse(bad).is_err(), "{bad}");
        }
    }
}
