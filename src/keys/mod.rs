//! Hardware keys for privileged access (issue 4): YubiKey PIV keys proven by
//! attestation, a challenge/proof protocol that elevates a browser session, and
//! the enrollment codes that bind a key to a user. See `PROTOCOL.md` here for the
//! messages, what is signed and the encodings.

pub mod attestation;
pub mod cli;
pub mod client;
pub mod piv_ext;
pub mod trust;
#[cfg(feature = "piv-client")]
pub mod yubikey_device;

pub use attestation::{AttestationError, Attested, Expected, Facts, Requirements, Slot};
pub use trust::{TrustError, TrustStore};

pub mod protocol;
pub mod service;
pub mod webauthn;

pub use service::{KeyInfo, KeyService};

use crate::identity::IdentityError;
use crate::store::StoreError;

/// Why an enrollment or a proof was refused; `code()` is stable and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    CodeInvalid,
    KindNotAccepted,
    UserDisabled,
    BadEncoding,
    BadSignature,
    UnknownChallenge,
    ChallengeUsed,
    ChallengeExpired,
    WrongOrigin,
    SessionEnded,
    UnknownKey,
    KeyRevoked,
    /// A WebAuthn ceremony finished by another session than the one that began it.
    WrongSession,
    /// The WebAuthn client data names another relying party (RP ID hash).
    WrongRpId,
    /// The WebAuthn response answers another challenge than the ceremony's.
    ChallengeMismatch,
    /// The authenticator did not verify the user (PIN or biometrics).
    UserNotVerified,
    /// No attestation, or self attestation: the authenticator is not proven.
    AttestationMissing,
    /// The attestation does not chain to an allowed attestation CA.
    AttestationUntrusted,
    /// The authenticator model (AAGUID) is not in the allowed set.
    AaguidNotAllowed,
    /// The attestation statement is malformed or its signature is wrong.
    AttestationInvalid,
    /// The signature counter did not grow: the key may have been cloned.
    CounterRegressed,
    /// The key may be synchronised (a passkey), not bound to hardware.
    NotHardwareBound,
    /// WebAuthn is not available with this server's `public_url`.
    WebauthnUnavailable,
    /// This credential is enrolled already.
    AlreadyEnrolled,
}

impl Rejection {
    pub fn code(self) -> &'static str {
        match self {
            Rejection::CodeInvalid => "enrollment_code_invalid",
            Rejection::KindNotAccepted => "kind_not_accepted",
            Rejection::UserDisabled => "user_disabled",
            Rejection::BadEncoding => "bad_encoding",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownChallenge => "unknown_challenge",
            Rejection::ChallengeUsed => "challenge_used",
            Rejection::ChallengeExpired => "challenge_expired",
            Rejection::WrongOrigin => "wrong_origin",
            Rejection::SessionEnded => "session_ended",
            Rejection::UnknownKey => "unknown_key",
            Rejection::KeyRevoked => "key_revoked",
            Rejection::WrongSession => "wrong_session",
            Rejection::WrongRpId => "wrong_rp_id",
            Rejection::ChallengeMismatch => "challenge_mismatch",
            Rejection::UserNotVerified => "user_not_verified",
            Rejection::AttestationMissing => "attestation_missing",
            Rejection::AttestationUntrusted => "attestation_untrusted",
            Rejection::AaguidNotAllowed => "aaguid_not_allowed",
            Rejection::AttestationInvalid => "attestation_invalid",
            Rejection::CounterRegressed => "counter_regressed",
            Rejection::NotHardwareBound => "not_hardware_bound",
            Rejection::WebauthnUnavailable => "webauthn_unavailable",
            Rejection::AlreadyEnrolled => "key_enrolled_already",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("attestation refused: {0}")]
    Attestation(#[from] AttestationError),
    #[error("refused: {0}")]
    Rejected(Rejection),
    #[error("too many failed attempts; try again later")]
    Throttled,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl KeysError {
    /// The reason recorded in the audit log.
    pub fn reason(&self) -> String {
        match self {
            KeysError::Attestation(e) => format!("attestation: {}", e.code()),
            KeysError::Rejected(r) => r.code().to_string(),
            KeysError::Throttled => "throttled".into(),
            KeysError::NotFound => "not found".into(),
            KeysError::Conflict(m) => m.clone(),
            KeysError::Store(_) | KeysError::Internal(_) => "server error".into(),
        }
    }
}

impl From<diesel::result::Error> for KeysError {
    fn from(e: diesel::result::Error) -> Self {
        KeysError::Store(StoreError::Query(e))
    }
}

impl From<crate::clock::EntropyError> for KeysError {
    fn from(e: crate::clock::EntropyError) -> Self {
        KeysError::Internal(e.to_string())
    }
}

impl From<IdentityError> for KeysError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => KeysError::Store(s),
            IdentityError::NotFound(_) => KeysError::NotFound,
            other => KeysError::Internal(other.to_string()),
        }
    }
}
