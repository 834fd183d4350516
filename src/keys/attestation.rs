//! PIV attestation: is this public key a P-256 key generated on a genuine YubiKey,
//! in the expected slot, with a PIN and touch policy at least as strict as ours?
//!
//! The chain is `slot certificate → f9 (the device's attestation certificate) →
//! trusted root`. The f9 certificate of some YubiKey 4s carries no Basic
//! Constraints; that is accepted for the f9 position only (an f9 that says it is
//! *not* a CA is refused). Every refusal names the check that failed.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::*;

use super::piv_ext::{self, Firmware, FormFactor, PinPolicy, TouchPolicy};
use super::trust::{TrustAnchor, TrustStore, fingerprint};

/// A PIV slot: `9a`, `9c`, `9d`, `9e` or a retired-key slot `82`–`95`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Slot(u8);

impl Slot {
    pub const AUTHENTICATION: Slot = Slot(0x9a);

    pub fn parse(s: &str) -> Option<Slot> {
        let s = s.trim();
        if s.len() != 2 {
            return None;
        }
        let id = u8::from_str_radix(s, 16).ok()?;
        matches!(id, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95).then_some(Slot(id))
    }

    pub fn id(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

/// Which certificate a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    SlotCertificate,
    Intermediate,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::SlotCertificate => "slot attestation certificate",
            Which::Intermediate => "f9 attestation certificate",
        })
    }
}

/// Why an attestation was refused. `code()` is stable (audit log, API, CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("{which} is malformed: {reason}")]
    Malformed { which: Which, reason: String },
    #[error("{which} is self-signed: a key attested by itself proves nothing")]
    SelfSigned { which: Which },
    #[error("the slot certificate is not signed by the f9 certificate given with it")]
    NotSignedByIntermediate,
    #[error("the f9 certificate says it is not a certificate authority")]
    IntermediateNotCa,
    #[error(
        "the f9 certificate names the trusted root `{issuer}` but is not signed by it (wrong root)"
    )]
    WrongRoot { issuer: String },
    #[error("the f9 certificate comes from `{issuer}`, which is not a trusted root")]
    IntermediateFromOtherRoot { issuer: String },
    #[error("{which} is outside its validity period")]
    Expired { which: Which },
    #[error("the attested key is not an ECDSA P-256 key")]
    UnsupportedKey,
    #[error("the attested public key is not the key being enrolled")]
    KeyMismatch,
    #[error("the attestation is for slot {found}, expected slot {expected}")]
    WrongSlot { expected: String, found: String },
    #[error("PIN policy `{found}` is weaker than the required `{minimum}`")]
    PinPolicyTooWeak {
        found: PinPolicy,
        minimum: PinPolicy,
    },
    #[error("touch policy `{found}` is weaker than the required `{minimum}`")]
    TouchPolicyTooWeak {
        found: TouchPolicy,
        minimum: TouchPolicy,
    },
}

impl AttestationError {
    pub fn code(&self) -> &'static str {
        match self {
            AttestationError::Malformed { .. } => "malformed",
            AttestationError::SelfSigned { .. } => "self_signed",
            AttestationError::NotSignedByIntermediate => "not_signed_by_f9",
            AttestationError::IntermediateNotCa => "f9_not_ca",
            AttestationError::WrongRoot { .. } => "wrong_root",
            AttestationError::IntermediateFromOtherRoot { .. } => "f9_from_other_root",
            AttestationError::Expired { .. } => "expired",
            AttestationError::UnsupportedKey => "unsupported_key",
            AttestationError::KeyMismatch => "key_mismatch",
            AttestationError::WrongSlot { .. } => "wrong_slot",
            AttestationError::PinPolicyTooWeak { .. } => "pin_policy_too_weak",
            AttestationError::TouchPolicyTooWeak { .. } => "touch_policy_too_weak",
        }
    }
}

/// The minimum policy a key must have (from `[keys]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirements {
    pub min_pin: PinPolicy,
    pub min_touch: TouchPolicy,
}

impl Default for Requirements {
    fn default() -> Self {
        Requirements {
            min_pin: PinPolicy::Once,
            min_touch: TouchPolicy::Cached,
        }
    }
}

/// What the enrolling client claims: the slot it generated the key in, and the
/// key (SubjectPublicKeyInfo DER). `public_key: None` only inspects (the CLI check).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub slot: Option<Slot>,
    pub public_key: Option<&'a [u8]>,
}

/// What the slot certificate says, read without judging it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub subject: String,
    pub slot: Option<Slot>,
    pub serial: Option<u32>,
    pub firmware: Option<Firmware>,
    pub form_factor: Option<FormFactor>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
}

/// An accepted attestation.
#[derive(Debug, Clone, Serialize)]
pub struct Attested {
    pub slot: Slot,
    pub serial: Option<u32>,
    pub firmware: Option<Firmware>,
    pub form_factor: Option<FormFactor>,
    pub pin_policy: PinPolicy,
    pub touch_policy: TouchPolicy,
    /// The attested key: SubjectPublicKeyInfo DER and its uncompressed P-256 point.
    #[serde(skip)]
    pub public_key_spki: Vec<u8>,
    #[serde(skip)]
    pub public_key_point: Vec<u8>,
    pub intermediate_subject: String,
    /// False for the YubiKey 4 f9 certificates that lack the extension.
    pub intermediate_has_basic_constraints: bool,
    pub root_subject: String,
    pub root_fingerprint: String,
    pub root_source: String,
    /// Intermediates between the f9 certificate and the root, from the trust
    /// directory (empty when the root signed the f9 itself).
    pub via: Vec<String>,
}

fn malformed(which: Which, reason: impl Into<String>) -> AttestationError {
    AttestationError::Malformed {
        which,
        reason: reason.into(),
    }
}

fn parse(which: Which, der: &[u8]) -> Result<X509Certificate<'_>, AttestationError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(malformed(which, "trailing bytes after the certificate")),
        Err(e) => Err(malformed(which, format!("not an X.509 certificate ({e})"))),
    }
}

fn oid(arcs: &[u64]) -> Result<Oid<'static>, AttestationError> {
    Oid::from(arcs).map_err(|_| malformed(Which::SlotCertificate, "bad OID constant"))
}

/// The raw value of one Yubico extension (`None` when absent; a duplicate is an error).
fn extension<'a>(
    cert: &'a X509Certificate<'_>,
    arcs: &[u64],
) -> Result<Option<&'a [u8]>, AttestationError> {
    let oid = oid(arcs)?;
    let found: Vec<_> = cert.extensions().iter().filter(|e| e.oid == oid).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.value)),
        _ => Err(malformed(
            Which::SlotCertificate,
            format!("extension {oid} appears more than once"),
        )),
    }
}

/// The slot named in `CN=YubiKey PIV Attestation 9a`.
fn slot_from_subject(cert: &X509Certificate<'_>) -> Option<Slot> {
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    Slot::parse(cn.strip_prefix("YubiKey PIV Attestation ")?)
}

/// Reads the slot certificate's claims (no signature or policy checks).
pub fn inspect(slot_der: &[u8]) -> Result<Facts, AttestationError> {
    let cert = parse(Which::SlotCertificate, slot_der)?;
    let w = Which::SlotCertificate;
    let serial = match extension(&cert, piv_ext::OID_SERIAL)? {
        Some(v) => Some(
            piv_ext::parse_serial(v)
                .ok_or_else(|| malformed(w, "serial extension is not a DER INTEGER"))?,
        ),
        None => None,
    };
    let firmware = match extension(&cert, piv_ext::OID_FIRMWARE)? {
        Some(v) => Some(
            piv_ext::parse_firmware(v)
                .ok_or_else(|| malformed(w, "firmware extension is not 3 bytes"))?,
        ),
        None => None,
    };
    let form_factor = match extension(&cert, piv_ext::OID_FORM_FACTOR)? {
        Some(v) => Some(
            piv_ext::parse_form_factor(v)
                .ok_or_else(|| malformed(w, "form factor extension is not 1 byte"))?,
        ),
        None => None,
    };
    let (pin_policy, touch_policy) = match extension(&cert, piv_ext::OID_POLICY)? {
        Some(v) => {
            let (pin, touch) = piv_ext::parse_policy(v)
                .ok_or_else(|| malformed(w, "policy extension is not 2 known policy bytes"))?;
            (Some(pin), Some(touch))
        }
        None => (None, None),
    };
    Ok(Facts {
        subject: cert.subject().to_string(),
        slot: slot_from_subject(&cert),
        serial,
        firmware,
        form_factor,
        pin_policy,
        touch_policy,
    })
}

const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];

/// The uncompressed point of a P-256 SubjectPublicKeyInfo.
pub fn p256_point(spki: &SubjectPublicKeyInfo<'_>) -> Option<Vec<u8>> {
    let alg_ok = spki.algorithm.algorithm == Oid::from(OID_EC_PUBLIC_KEY).ok()?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| Oid::try_from(p).ok());
    let curve_ok = curve == Some(Oid::from(OID_P256).ok()?);
    let point = spki.subject_public_key.data.to_vec();
    (alg_ok && curve_ok && point.len() == 65 && point[0] == 0x04).then_some(point)
}

/// The uncompressed point of a P-256 SubjectPublicKeyInfo given as DER.
pub fn p256_point_from_der(spki_der: &[u8]) -> Option<Vec<u8>> {
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok(([], spki)) => p256_point(&spki),
        _ => None,
    }
}

fn valid_at(cert: &X509Certificate<'_>, now: DateTime<Utc>) -> bool {
    match ASN1Time::from_timestamp(now.timestamp()) {
        Ok(t) => cert.validity().is_valid_at(t),
        Err(_) => false,
    }
}

/// The whole check. Order: parse, chain (self-signed, slot ← f9, f9 ← root),
/// validity, key, slot, policy; the first failing check is the answer.
pub fn verify(
    trust: &TrustStore,
    slot_der: &[u8],
    f9_der: &[u8],
    expected: Expected<'_>,
    req: Requirements,
    now: DateTime<Utc>,
) -> Result<Attested, AttestationError> {
    let slot_cert = parse(Which::SlotCertificate, slot_der)?;
    let f9 = parse(Which::Intermediate, f9_der)?;
    let facts = inspect(slot_der)?;

    // 1. Chain.
    if slot_cert.verify_signature(None).is_ok() {
        return Err(AttestationError::SelfSigned {
            which: Which::SlotCertificate,
        });
    }
    if slot_cert.issuer().as_raw() != f9.subject().as_raw()
        || slot_cert.verify_signature(Some(f9.public_key())).is_err()
    {
        return Err(AttestationError::NotSignedByIntermediate);
    }
    // An f9 is a device certificate, never a root.
    if f9.verify_signature(None).is_ok() {
        return Err(AttestationError::SelfSigned {
            which: Which::Intermediate,
        });
    }
    let basic_constraints = f9
        .basic_constraints()
        .map_err(|e| malformed(Which::Intermediate, format!("basic constraints: {e}")))?;
    if let Some(bc) = &basic_constraints
        && !bc.value.ca
    {
        return Err(AttestationError::IntermediateNotCa);
    }
    let (root, path) = chain_to_root(trust, f9_der, now)?;
    // 2. Validity.
    if !valid_at(&slot_cert, now) {
        return Err(AttestationError::Expired {
            which: Which::SlotCertificate,
        });
    }
    if !valid_at(&f9, now) {
        return Err(AttestationError::Expired {
            which: Which::Intermediate,
        });
    }

    // 3. The key.
    let point = p256_point(slot_cert.public_key()).ok_or(AttestationError::UnsupportedKey)?;
    if let Some(claimed) = expected.public_key {
        let claimed = p256_point_from_der(claimed).ok_or(AttestationError::KeyMismatch)?;
        if claimed != point {
            return Err(AttestationError::KeyMismatch);
        }
    }

    // 4. The slot.
    let found = facts.slot.ok_or_else(|| {
        malformed(
            Which::SlotCertificate,
            format!(
                "subject `{}` is not `CN=YubiKey PIV Attestation <slot>`",
                facts.subject
            ),
        )
    })?;
    if let Some(want) = expected.slot
        && want != found
    {
        return Err(AttestationError::WrongSlot {
            expected: want.to_string(),
            found: found.to_string(),
        });
    }

    // 5. Policy.
    let (Some(pin), Some(touch)) = (facts.pin_policy, facts.touch_policy) else {
        return Err(malformed(
            Which::SlotCertificate,
            "no PIN/touch policy extension (1.3.6.1.4.1.41482.3.8)",
        ));
    };
    if pin < req.min_pin {
        return Err(AttestationError::PinPolicyTooWeak {
            found: pin,
            minimum: req.min_pin,
        });
    }
    if touch < req.min_touch {
        return Err(AttestationError::TouchPolicyTooWeak {
            found: touch,
            minimum: req.min_touch,
        });
    }

    Ok(Attested {
        slot: found,
        serial: facts.serial,
        firmware: facts.firmware,
        form_factor: facts.form_factor,
        pin_policy: pin,
        touch_policy: touch,
        public_key_spki: slot_cert.public_key().raw.to_vec(),
        public_key_point: point,
        intermediate_subject: f9.subject().to_string(),
        intermediate_has_basic_constraints: basic_constraints.is_some(),
        root_subject: root.subject.clone(),
        root_fingerprint: fingerprint(&root.der),
        root_source: root.source.clone(),
        via: path,
    })
}

/// Most CAs sign f9 certificates with the root itself; newer YubiKeys (firmware
/// 5.7.4 on) have theirs signed by an intermediate that is not on the device. Such
/// intermediates go in the trust directory beside the roots: they are followed
/// (each must be a CA, valid now, and signed by the next) but never trusted on
/// their own, only a self-signed root ends the chain.
fn chain_to_root<'t>(
    trust: &'t TrustStore,
    f9_der: &[u8],
    now: DateTime<Utc>,
) -> Result<(&'t TrustAnchor, Vec<String>), AttestationError> {
    const MAX_INTERMEDIATES: usize = 3;
    let f9 = parse(Which::Intermediate, f9_der)?;
    let mut path: Vec<String> = Vec::new();
    let mut issuer_name = f9.issuer().as_raw().to_vec();
    let mut issuer_shown = f9.issuer().to_string();
    // The certificate whose issuer is being looked for, as DER.
    let mut current: Vec<u8> = f9_der.to_vec();
    for _ in 0..=MAX_INTERMEDIATES {
        let Ok((_, cert)) = X509Certificate::from_der(&current) else {
            return Err(malformed(Which::Intermediate, "unreadable certificate"));
        };
        let mut named = None;
        let mut found = None;
        for anchor in trust.anchors() {
            let Ok((_, candidate)) = X509Certificate::from_der(&anchor.der) else {
                continue;
            };
            if candidate.subject().as_raw() != issuer_name.as_slice() {
                continue;
            }
            named = Some(anchor.subject.clone());
            if cert.verify_signature(Some(candidate.public_key())).is_ok() {
                found = Some((anchor, candidate.verify_signature(None).is_ok()));
                break;
            }
        }
        let Some((anchor, self_signed)) = found else {
            return Err(match named {
                Some(issuer) => AttestationError::WrongRoot { issuer },
                None => AttestationError::IntermediateFromOtherRoot {
                    issuer: issuer_shown,
                },
            });
        };
        if self_signed {
            return Ok((anchor, path));
        }
        // An intermediate from the trust directory: a CA, valid now.
        let Ok((_, inter)) = X509Certificate::from_der(&anchor.der) else {
            return Err(malformed(Which::Intermediate, "unreadable intermediate"));
        };
        let is_ca = inter
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(AttestationError::IntermediateFromOtherRoot {
                issuer: format!("{} (in the trust directory but not a CA)", anchor.subject),
            });
        }
        if !valid_at(&inter, now) {
            return Err(AttestationError::Expired {
                which: Which::Intermediate,
            });
        }
        path.push(anchor.subject.clone());
        issuer_name = inter.issuer().as_raw().to_vec();
        issuer_shown = inter.issuer().to_string();
        current = anchor.der.clone();
    }
    Err(AttestationError::IntermediateFromOtherRoot {
        issuer: format!("{issuer_shown} (more than {MAX_INTERMEDIATES} intermediates)"),
    })
}
