//! A software WebAuthn security key for tests: a P-256 credential (ring), the
//! CTAP2 authenticator data and attestation object encoded by hand in CBOR, and a
//! packed attestation whose certificate an rcgen test CA signs. It answers the
//! options the server sends as a browser and a security key together would:
//! the client data JSON carries the challenge and the origin, the authenticator
//! data the RP ID hash, flags and signature counter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::piv::TestCa;

/// A YubiKey 5 NFC's AAGUID (what the tests' allowed set names by default).
pub const AAGUID: &str = "2fc0579f-8113-47ea-b116-bb5a8db9202a";
const OID_FIDO_AAGUID: &[u64] = &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

// --- CBOR, just the parts CTAP2 needs -------------------------------------------

fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn int(i: i64) -> Vec<u8> {
    if i >= 0 {
        head(0, i as u64)
    } else {
        head(1, (-1 - i) as u64)
    }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = head(4, items.len() as u64);
    for i in items {
        v.extend_from_slice(i);
    }
    v
}

fn map(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut v = head(5, pairs.len() as u64);
    for (k, val) in pairs {
        v.extend_from_slice(k);
        v.extend_from_slice(val);
    }
    v
}

// --- Attestation -----------------------------------------------------------------

/// An attestation CA for security keys (like Yubico's FIDO root, with the key
/// usage a CA certificate needs for webauthn-rs's chain check).
pub fn attestation_root(cn: &str) -> TestCa {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    TestCa {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// How the software key attests its credentials.
pub enum Attest {
    /// `packed` with an x5c certificate signed by a CA, naming an AAGUID.
    Packed {
        cert_der: Vec<u8>,
        key: Box<EcdsaKeyPair>,
    },
    /// `packed` signed by the credential key itself (no certificate).
    SelfAttested,
    /// `none`.
    None,
}

/// A packed attestation certificate as FIDO requires it (C, O, OU =
/// "Authenticator Attestation", CN; not a CA; the AAGUID extension).
pub fn packed_attestation(ca: &TestCa, aaguid: &str) -> Attest {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "SE");
    p.distinguished_name
        .push(DnType::OrganizationName, "Holdfast Test Keys");
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    p.distinguished_name
        .push(DnType::CommonName, "Holdfast Test Security Key EE");
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let aaguid = uuid::Uuid::parse_str(aaguid).unwrap();
    let mut content = vec![0x04, 16];
    content.extend_from_slice(aaguid.as_bytes());
    p.custom_extensions = vec![CustomExtension::from_oid_content(OID_FIDO_AAGUID, content)];
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
            .unwrap();
    Attest::Packed {
        cert_der: cert.der().to_vec(),
        key: Box::new(signer),
    }
}

// --- The key ---------------------------------------------------------------------

pub struct SoftKey {
    pub credential: EcdsaKeyPair,
    /// The credential's private key, PKCS#8 (to copy it into another authenticator).
    pub pkcs8: Vec<u8>,
    pub cred_id: Vec<u8>,
    pub aaguid: uuid::Uuid,
    pub counter: u32,
    pub attest: Attest,
    /// Sets the UV flag (the user entered the key's PIN).
    pub user_verified: bool,
    /// What the "browser" puts in the client data; None: the server's origin.
    pub origin_override: Option<String>,
    /// What the authenticator hashes as RP ID; None: the options' rp.id.
    pub rp_id_override: Option<String>,
}

impl SoftKey {
    pub fn new(aaguid: &str, attest: Attest) -> SoftKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let credential =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let mut cred_id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut cred_id).unwrap();
        SoftKey {
            credential,
            pkcs8: pkcs8.as_ref().to_vec(),
            cred_id,
            aaguid: uuid::Uuid::parse_str(aaguid).unwrap(),
            counter: 0,
            attest,
            user_verified: true,
            origin_override: None,
            rp_id_override: None,
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.credential.public_key().as_ref();
        map(&[
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), bytes(&point[1..33])),
            (int(-3), bytes(&point[33..65])),
        ])
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut f = 0x01;
        if self.user_verified {
            f |= 0x04;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    fn client_data(&self, kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        let origin = self.origin_override.as_deref().unwrap_or(origin);
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn sign(key: &EcdsaKeyPair, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        let mut msg = auth_data.to_vec();
        msg.extend_from_slice(&sha256(client_data));
        key.sign(&rng, &msg).unwrap().as_ref().to_vec()
    }

    fn rp_hash(&self, options_rp_id: &str) -> Vec<u8> {
        sha256(
            self.rp_id_override
                .as_deref()
                .unwrap_or(options_rp_id)
                .as_bytes(),
        )
    }

    /// Answers the `public_key` of a registration begin (`{"publicKey": {...}}`)
    /// with the JSON a browser posts back.
    pub fn register(&mut self, options: &Value, origin: &str) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id");
        let challenge = pk["challenge"].as_str().expect("challenge");
        self.counter += 1;
        let mut auth_data = self.rp_hash(rp_id);
        auth_data.push(self.flags(true));
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(self.aaguid.as_bytes());
        auth_data.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend_from_slice(&self.cose_key());
        let client_data = self.client_data("webauthn.create", challenge, origin);
        let (fmt, stmt) = match &self.attest {
            Attest::Packed { cert_der, key } => (
                "packed",
                map(&[
                    (text("alg"), int(-7)),
                    (
                        text("sig"),
                        bytes(&Self::sign(key, &auth_data, &client_data)),
                    ),
                    (text("x5c"), array(&[bytes(cert_der)])),
                ]),
            ),
            Attest::SelfAttested => (
                "packed",
                map(&[
                    (text("alg"), int(-7)),
                    (
                        text("sig"),
                        bytes(&Self::sign(&self.credential, &auth_data, &client_data)),
                    ),
                ]),
            ),
            Attest::None => ("none", map(&[])),
        };
        let att_obj = map(&[
            (text("fmt"), text(fmt)),
            (text("attStmt"), stmt),
            (text("authData"), bytes(&auth_data)),
        ]);
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&att_obj),
                "clientDataJSON": b64(&client_data),
                "transports": ["usb"],
            },
            "extensions": {},
        })
    }

    /// Answers the `public_key` of a login begin with an assertion.
    pub fn assert(&mut self, options: &Value, origin: &str) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().expect("rpId");
        let challenge = pk["challenge"].as_str().expect("challenge");
        self.counter += 1;
        let mut auth_data = self.rp_hash(rp_id);
        auth_data.push(self.flags(false));
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", challenge, origin);
        let sig = Self::sign(&self.credential, &auth_data, &client_data);
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(&sig),
                "userHandle": null,
            },
            "extensions": {},
        })
    }
}
