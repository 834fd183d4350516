//! A software YubiKey for tests: attestation chains made with rcgen (a test root,
//! an f9-like intermediate with or without Basic Constraints, slot certificates with
//! Yubico's extension encodings) and a P-256 signer that signs like a PIV slot
//! (ECDSA over SHA-256, DER signature).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use holdfast::keys::piv_ext::{self, PinPolicy, TouchPolicy};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

pub struct TestCa {
    pub der: Vec<u8>,
    pub pem: String,
    pub issuer: Issuer<'static, KeyPair>,
}

fn named(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

/// A self-signed root, like Yubico's PIV root.
pub fn root(cn: &str) -> TestCa {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = named(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    TestCa {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// An f9-like device certificate signed by `by`; `basic_constraints: false` leaves
/// the extension out, like some YubiKey 4s.
pub fn f9(by: &TestCa, basic_constraints: bool) -> TestCa {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = named("Yubico PIV Attestation");
    p.is_ca = if basic_constraints {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::NoCa
    };
    let cert = p.signed_by(&key, &by.issuer).unwrap();
    TestCa {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A CA between a root and the f9 certificates (as for YubiKey firmware 5.7.4 on);
/// `ca: false` makes one that must not be accepted as a CA.
pub fn intermediate(by: &TestCa, cn: &str, ca: bool) -> TestCa {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = named(cn);
    p.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    let cert = p.signed_by(&key, &by.issuer).unwrap();
    TestCa {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// What a slot attestation certificate claims.
#[derive(Clone, Debug)]
pub struct SlotSpec {
    pub cn: String,
    pub pin: PinPolicy,
    pub touch: TouchPolicy,
    pub serial: u32,
    pub firmware: [u8; 3],
    pub form_factor: u8,
    pub with_policy: bool,
}

impl Default for SlotSpec {
    fn default() -> Self {
        SlotSpec {
            cn: "YubiKey PIV Attestation 9a".into(),
            pin: PinPolicy::Once,
            touch: TouchPolicy::Always,
            serial: 12_345_678,
            firmware: [5, 4, 3],
            form_factor: 0x03,
            with_policy: true,
        }
    }
}

fn slot_params(spec: &SlotSpec) -> CertificateParams {
    let mut p = named(&spec.cn);
    p.custom_extensions = vec![
        CustomExtension::from_oid_content(piv_ext::OID_FIRMWARE, spec.firmware.to_vec()),
        CustomExtension::from_oid_content(piv_ext::OID_SERIAL, piv_ext::encode_serial(spec.serial)),
        CustomExtension::from_oid_content(piv_ext::OID_FORM_FACTOR, vec![spec.form_factor]),
    ];
    if spec.with_policy {
        p.custom_extensions.push(CustomExtension::from_oid_content(
            piv_ext::OID_POLICY,
            piv_ext::encode_policy(spec.pin, spec.touch).to_vec(),
        ));
    }
    p
}

/// A software PIV slot: the private key and its attestation.
pub struct SoftPiv {
    pub signer: EcdsaKeyPair,
    /// SubjectPublicKeyInfo DER of the slot key.
    pub spki: Vec<u8>,
    pub slot_der: Vec<u8>,
    pub slot_pem: String,
    pub f9_der: Vec<u8>,
    pub f9_pem: String,
}

impl SoftPiv {
    /// A key attested by `f9` with `spec`.
    pub fn attested(f9: &TestCa, spec: &SlotSpec) -> SoftPiv {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = slot_params(spec).signed_by(&key, &f9.issuer).unwrap();
        Self::from_parts(key, cert.der().to_vec(), cert.pem(), f9)
    }

    /// A key whose "attestation" is signed by itself, with the right extensions.
    pub fn self_signed(f9: &TestCa, spec: &SlotSpec) -> SoftPiv {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = slot_params(spec);
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, &spec.cn);
        let cert = p.self_signed(&key).unwrap();
        Self::from_parts(key, cert.der().to_vec(), cert.pem(), f9)
    }

    fn from_parts(key: KeyPair, slot_der: Vec<u8>, slot_pem: String, f9: &TestCa) -> SoftPiv {
        let spki = key.subject_public_key_info();
        let rng = ring::rand::SystemRandom::new();
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
                .unwrap();
        SoftPiv {
            signer,
            spki,
            slot_der,
            slot_pem,
            f9_der: f9.der.clone(),
            f9_pem: f9.pem.clone(),
        }
    }

    /// Signs like a PIV slot: ECDSA P-256 over SHA-256 of `msg`, ASN.1 DER.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        self.signer.sign(&rng, msg).unwrap().as_ref().to_vec()
    }

    pub fn public_point(&self) -> Vec<u8> {
        self.signer.public_key().as_ref().to_vec()
    }
}

/// A test root, an f9 with Basic Constraints, and a key with the default spec.
pub struct Chain {
    pub root: TestCa,
    pub f9: TestCa,
    pub key: SoftPiv,
}

pub fn chain() -> Chain {
    let root = root("Holdfast Test PIV Root CA");
    let f9 = f9(&root, true);
    let key = SoftPiv::attested(&f9, &SlotSpec::default());
    Chain { root, f9, key }
}

/// A software PIV device behind the client's `PivDevice` trait: keys generated in
/// memory, attested by a test f9, PIN checked like a card.
pub struct SoftDevice<'a> {
    f9: &'a TestCa,
    pin: String,
    slots: std::collections::HashMap<u8, SoftPiv>,
}

impl<'a> SoftDevice<'a> {
    pub fn new(f9: &'a TestCa, pin: &str) -> SoftDevice<'a> {
        SoftDevice {
            f9,
            pin: pin.into(),
            slots: Default::default(),
        }
    }
}

impl holdfast::keys::client::PivDevice for SoftDevice<'_> {
    fn generate(
        &mut self,
        slot: holdfast::keys::Slot,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<Vec<u8>, holdfast::keys::client::ClientError> {
        let key = SoftPiv::attested(
            self.f9,
            &SlotSpec {
                cn: format!("YubiKey PIV Attestation {slot}"),
                pin,
                touch,
                ..SlotSpec::default()
            },
        );
        let spki = key.spki.clone();
        self.slots.insert(slot.id(), key);
        Ok(spki)
    }

    fn attest(
        &mut self,
        slot: holdfast::keys::Slot,
    ) -> Result<Vec<u8>, holdfast::keys::client::ClientError> {
        self.slots
            .get(&slot.id())
            .map(|k| k.slot_der.clone())
            .ok_or_else(|| holdfast::keys::client::ClientError::Device("empty slot".into()))
    }

    fn f9_certificate(&mut self) -> Result<Vec<u8>, holdfast::keys::client::ClientError> {
        Ok(self.f9.der.clone())
    }

    fn sign(
        &mut self,
        slot: holdfast::keys::Slot,
        pin: &secrecy::SecretString,
        message: &[u8],
    ) -> Result<Vec<u8>, holdfast::keys::client::ClientError> {
        use secrecy::ExposeSecret;
        if pin.expose_secret() != self.pin {
            return Err(holdfast::keys::client::ClientError::Device(
                "wrong PIN".into(),
            ));
        }
        self.slots
            .get(&slot.id())
            .map(|k| k.sign(message))
            .ok_or_else(|| holdfast::keys::client::ClientError::Device("empty slot".into()))
    }
}
