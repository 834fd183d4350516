//! The bytes a key signs. Both messages are UTF-8 text, one `name=value` per line
//! after a context line that names the purpose and version, each line ending in
//! `\n`; values never contain a newline (checked). See `PROTOCOL.md`.

use base64::Engine;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

pub const PROOF_CONTEXT: &str = "holdfast-piv-proof-v1";
pub const ENROLL_CONTEXT: &str = "holdfast-piv-enroll-v1";

/// base64url without padding, the encoding of every binary value in the protocol.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// The key's fingerprint in messages and listings: SHA-256 of its SPKI DER, hex.
pub fn key_fingerprint(spki_der: &[u8]) -> String {
    sha256_hex(spki_der)
}

/// What binds a challenge to one browser session without revealing the session:
/// SHA-256 over a context string and the session token's hash, hex.
pub fn session_binding(session_token_hash: &str) -> String {
    sha256_hex(format!("holdfast-session-binding-v1\n{session_token_hash}\n").as_bytes())
}

fn lines(context: &str, fields: &[(&str, &str)]) -> Option<Vec<u8>> {
    let mut out = String::new();
    out.push_str(context);
    out.push('\n');
    for (name, value) in fields {
        if value.contains('\n') || value.contains('\r') || value.is_empty() {
            return None;
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    Some(out.into_bytes())
}

/// The proof message: what `holdfast key login` signs for a challenge.
pub fn proof_message(
    origin: &str,
    challenge_id: &str,
    nonce: &str,
    session_binding: &str,
    key_fingerprint: &str,
) -> Option<Vec<u8>> {
    lines(
        PROOF_CONTEXT,
        &[
            ("origin", origin),
            ("challenge", challenge_id),
            ("nonce", nonce),
            ("session", session_binding),
            ("key", key_fingerprint),
        ],
    )
}

/// The enrollment message: proves the enrolling client holds the attested key now,
/// for this server and this code.
pub fn enroll_message(
    origin: &str,
    code_hash: &str,
    slot: &str,
    key_fingerprint: &str,
) -> Option<Vec<u8>> {
    lines(
        ENROLL_CONTEXT,
        &[
            ("origin", origin),
            ("code", code_hash),
            ("slot", slot),
            ("key", key_fingerprint),
        ],
    )
}

/// ECDSA P-256 / SHA-256 with an ASN.1 DER signature, as a PIV slot produces it;
/// `point` is the uncompressed public point.
pub fn verify_p256(point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_message_is_stable() {
        let m = proof_message("https://crm.example", "c1", "n1", "s1", "k1").unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "holdfast-piv-proof-v1\norigin=https://crm.example\nchallenge=c1\nnonce=n1\nsession=s1\nkey=k1\n"
        );
        assert!(proof_message("https://x\nchallenge=evil", "c", "n", "s", "k").is_none());
        assert!(proof_message("https://x", "", "n", "s", "k").is_none());
        let e = enroll_message("https://crm.example", "h", "9a", "k").unwrap();
        assert!(e.starts_with(b"holdfast-piv-enroll-v1\n"));
    }

    #[test]
    fn signatures_verify_only_over_the_same_bytes() {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let sig = key.sign(&rng, b"message").unwrap();
        assert!(verify_p256(
            key.public_key().as_ref(),
            b"message",
            sig.as_ref()
        ));
        assert!(!verify_p256(
            key.public_key().as_ref(),
            b"messagE",
            sig.as_ref()
        ));
    }
}
