//! WebAuthn security keys: registration with attestation from an allowed set of
//! authenticators, and user-verified proofs that elevate the browser session
//! exactly as a PIV proof does (`service::elevate_session`). The webauthn-rs
//! ceremony state lives in `webauthn_ceremonies` between begin and finish, so any
//! app node can finish what another began; a ceremony is single-use, bound to the
//! browser session that began it, and expires with the PIV challenge's lifetime.
//! Every registration, proof and failure is audited here (`key.enroll`,
//! `key.challenge`, `key.proof`, with `kind: webauthn`). See `PROTOCOL.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestationMetadata, AttestedPasskey,
    AttestedPasskeyAuthentication, AttestedPasskeyRegistration, AuthenticatorAttachment,
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::protocol::{b64, unb64};
use super::service::{
    KeyInfo, KeyService, ProofOk, check_throttle, count_failure, elevate_session, who_user,
};
use super::trust::{TrustAnchor, TrustError, TrustStore};
use super::{KeysError, Rejection};
use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::config::KeysConfig;
use crate::identity::token_hash;
use crate::store::models::hardware_keys::{
    CeremonyRow, EnrollmentCodeRow, HardwareKeyRow, WebauthnCredentialRow,
};
use crate::store::models::sessions::SessionRow;
use crate::store::models::users::UserRow;
use crate::store::schema::{
    hardware_keys, key_enrollment_codes, sessions, users, webauthn_ceremonies, webauthn_credentials,
};
use crate::store::{DbConn, write_tx};

/// Yubico's FIDO attestation roots, built in (see `trust/README.md`): the one
/// for keys made until 2024, and the two for keys made since.
const BUILTIN: [(&str, &str); 3] = [
    (
        "built-in trust/yubico-u2f-root-ca.pem",
        include_str!("../../trust/yubico-u2f-root-ca.pem"),
    ),
    (
        "built-in trust/yubico-fido-root-ca-450203556.pem",
        include_str!("../../trust/yubico-fido-root-ca-450203556.pem"),
    ),
    (
        "built-in trust/yubico-attestation-root-1.pem",
        include_str!("../../trust/yubico-attestation-root-1.pem"),
    ),
];

/// The relying party and the authenticators allowed to register.
#[derive(Debug)]
pub struct WebauthnKeys {
    /// None when `public_url` has no domain name (WebAuthn needs one).
    rp: Option<Webauthn>,
    cas: AttestationCaList,
    anchors: Vec<TrustAnchor>,
    aaguids: Vec<Uuid>,
}

impl WebauthnKeys {
    /// Builds the relying party for `origin` (the server's `public_url`) and the
    /// allowed set from `[keys]`: the attestation CAs, each limited to the
    /// configured AAGUIDs when there are any.
    pub fn from_config(cfg: &KeysConfig, origin: &str) -> Result<WebauthnKeys, TrustError> {
        let mut trust = TrustStore::load(cfg.webauthn_trust_dir.as_deref(), false)?;
        if cfg.webauthn_builtin_roots {
            for (name, pem) in BUILTIN {
                trust.add(name, pem.as_bytes())?;
            }
        }
        let aaguids: Vec<Uuid> = cfg
            .webauthn_aaguids
            .iter()
            .filter_map(|a| Uuid::parse_str(a.trim()).ok())
            .collect();
        let mut cas = AttestationCaList::default();
        for anchor in trust.anchors() {
            if aaguids.is_empty() {
                let pem = to_pem(&anchor.der);
                let one = AttestationCaList::try_from(pem.as_bytes()).map_err(|e| {
                    TrustError::BadCertificate(anchor.source.clone(), e.to_string())
                })?;
                cas.union(&one);
            } else {
                let mut b = AttestationCaListBuilder::new();
                for a in &aaguids {
                    b.insert_device_der(&anchor.der, *a, a.to_string(), BTreeMap::new())
                        .map_err(|e| {
                            TrustError::BadCertificate(anchor.source.clone(), e.to_string())
                        })?;
                }
                cas.union(&b.build());
            }
        }
        let rp = Url::parse(origin).ok().and_then(|url| {
            let host = url.domain()?.to_string();
            WebauthnBuilder::new(&host, &url)
                .ok()?
                .rp_name("Holdfast")
                .timeout(std::time::Duration::from_secs(
                    cfg.challenge_seconds.clamp(10, 120) as u64,
                ))
                .build()
                .ok()
        });
        if rp.is_none() {
            tracing::warn!(
                origin,
                "WebAuthn is unavailable: public_url needs a domain name (an IP address cannot be a relying party id)"
            );
        }
        Ok(WebauthnKeys {
            rp,
            cas,
            anchors: trust.anchors().to_vec(),
            aaguids,
        })
    }

    pub fn available(&self) -> bool {
        self.rp.is_some()
    }

    /// The subject and SHA-256 (colon hex) of the allowed attestation CAs.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    fn rp(&self) -> Result<&Webauthn, Rejection> {
        self.rp.as_ref().ok_or(Rejection::WebauthnUnavailable)
    }
}

fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Which check a webauthn-rs refusal stands for (stable codes, audited).
fn rejection_of(e: &WebauthnError) -> Rejection {
    use WebauthnError as W;
    match e {
        W::InvalidRPOrigin | W::CredentialCrossOrigin => Rejection::WrongOrigin,
        W::InvalidRPIDHash => Rejection::WrongRpId,
        W::MismatchedChallenge | W::InvalidClientDataType => Rejection::ChallengeMismatch,
        W::UserNotVerified | W::UserNotPresent => Rejection::UserNotVerified,
        W::AttestationNotVerifiable => Rejection::AttestationMissing,
        W::AttestationChainNotTrusted(_)
        | W::AttestationTrustFailure
        | W::AttestationCertificateTrustStoreEmpty
        | W::MissingAttestationCaList => Rejection::AttestationUntrusted,
        W::AttestationUntrustedAaguid | W::AttestationFormatMissingAaguid => {
            Rejection::AaguidNotAllowed
        }
        W::CredentialPossibleCompromise => Rejection::CounterRegressed,
        W::CredentialMayNotBeHardwareBound => Rejection::NotHardwareBound,
        W::CredentialNotFound => Rejection::UnknownKey,
        W::AttestationStatementSigInvalid
        | W::AttestationCertificateRequirementsNotMet
        | W::AttestationCertificateAAGUIDMismatch
        | W::AttestationNotSupported
        | W::AttestationStatementX5CInvalid
        | W::AttestationStatementSigMissing
        | W::AttestationStatementAlgMismatch => Rejection::AttestationInvalid,
        W::SignatureInvalid | W::AuthenticationFailure => Rejection::BadSignature,
        _ => Rejection::BadEncoding,
    }
}

/// Fills the WebAuthn facts of `key` (AAGUID, attestation CA, user verification).
pub fn add_facts(conn: &mut DbConn, key: &mut KeyInfo) -> Result<(), KeysError> {
    if key.kind != "webauthn" {
        return Ok(());
    }
    let row: Option<WebauthnCredentialRow> = webauthn_credentials::table
        .find(&key.id)
        .select(WebauthnCredentialRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(r) = row {
        key.aaguid = Some(r.aaguid);
        key.attestation_ca = Some(r.attestation_ca);
        key.user_verification = Some(r.user_verified);
    }
    Ok(())
}

/// A user's WebAuthn user handle: the user id when it is a UUID (as Holdfast makes
/// them), else a stable hash of it.
fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let d = ring::digest::digest(&ring::digest::SHA256, user_id.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&d.as_ref()[..16]);
        Uuid::from_bytes(b)
    })
}

fn who_of(user: &UserRow, session_hash: &str) -> Who {
    who_user(
        user,
        Some(crate::identity::sessions::session_ref(session_hash)),
    )
}

/// `POST /api/v1/keys/webauthn/register/begin`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBeginRequest {
    /// The one-time enrollment code issued to the signed-in user.
    pub code: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// What the browser passes to `navigator.credentials.create` (`public_key`) and
/// sends back with the ceremony id.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterBegin {
    pub ceremony: String,
    pub public_key: CreationChallengeResponse,
    pub origin: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/keys/webauthn/register/finish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishRequest {
    pub ceremony: String,
    pub credential: RegisterPublicKeyCredential,
}

/// `POST /api/v1/keys/webauthn/login/finish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFinishRequest {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoginBegin {
    pub ceremony: String,
    pub public_key: RequestChallengeResponse,
    pub origin: String,
    pub expires_at: DateTime<Utc>,
}

fn clean_label(label: Option<&str>) -> Option<String> {
    label
        .map(|l| l.trim().chars().take(100).collect::<String>())
        .filter(|l| !l.is_empty() && !l.contains('\0'))
}

fn load_user(conn: &mut DbConn, user_id: &str) -> Result<UserRow, KeysError> {
    users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(KeysError::NotFound)
}

fn failure(action: &'static str, who: Option<Who>, key: Vec<String>) -> Event {
    let ev = Event::new(action, Outcome::Failed).on("key", key);
    match who {
        Some(w) => ev.by(w),
        None => ev,
    }
}

/// Audits a refusal (`ev` from `failure`) and counts it against the address.
fn audit_failure(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    ev: Event,
    err: &KeysError,
    extra: serde_json::Value,
) -> Result<(), KeysError> {
    let mut detail = json!({ "kind": "webauthn", "reason": err.reason() });
    if let (Some(d), serde_json::Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::record(conn, env, meta, &ev.detail(detail))?;
    count_failure(conn, env, meta)
}

fn check_code(
    now: DateTime<Utc>,
    code: Option<&EnrollmentCodeRow>,
    user: &UserRow,
) -> Result<(), Rejection> {
    match code {
        Some(c)
            if c.user_id == user.id && c.used_at.is_none() && c.expires_at > now.naive_utc() =>
        {
            Ok(())
        }
        _ => Err(Rejection::CodeInvalid),
    }
}

/// A ceremony about to be stored.
struct NewCeremony {
    purpose: &'static str,
    user_id: String,
    state: String,
    code_hash: Option<String>,
    label: Option<String>,
}

fn store_ceremony(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    session_hash: &str,
    new: NewCeremony,
) -> Result<(String, DateTime<Utc>), KeysError> {
    let now = env.now();
    let id = env.new_id()?.to_string();
    let expires_at = now + Duration::seconds(svc.cfg.challenge_seconds.min(120));
    // This session's spent and stale ceremonies are of no further use.
    diesel::delete(
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::session_hash.eq(session_hash))
            .filter(
                webauthn_ceremonies::used_at
                    .is_not_null()
                    .or(webauthn_ceremonies::expires_at.le(now.naive_utc())),
            ),
    )
    .execute(conn)?;
    diesel::insert_into(webauthn_ceremonies::table)
        .values(CeremonyRow {
            id: id.clone(),
            purpose: new.purpose.to_string(),
            session_hash: session_hash.to_string(),
            user_id: new.user_id,
            state: new.state,
            code_hash: new.code_hash,
            label: new.label,
            origin: svc.origin.clone(),
            created_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            used_at: None,
        })
        .execute(conn)?;
    Ok((id, expires_at))
}

/// Removes spent and expired ceremonies of every session. Returns how many went.
pub fn sweep_ceremonies(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, KeysError> {
    Ok(diesel::delete(
        webauthn_ceremonies::table.filter(
            webauthn_ceremonies::used_at
                .is_not_null()
                .or(webauthn_ceremonies::expires_at.le(now.naive_utc())),
        ),
    )
    .execute(conn)?)
}

/// Begins registering a security key for the signed-in user, authorised by an
/// enrollment code issued to that same user. The code is spent at the finish.
pub fn register_begin(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    session_hash: &str,
    user_id: &str,
    req: RegisterBeginRequest,
) -> Result<RegisterBegin, KeysError> {
    check_throttle(conn, env, meta, "key.enroll")?;
    let now = env.now();
    let user = load_user(conn, user_id)?;
    let code_hash = token_hash(req.code.trim());
    let code: Option<EnrollmentCodeRow> = key_enrollment_codes::table
        .find(&code_hash)
        .select(EnrollmentCodeRow::as_select())
        .first(conn)
        .optional()?;
    let checked = (|| -> Result<&Webauthn, Rejection> {
        if !svc.cfg.accepted_kinds.iter().any(|k| k == "webauthn") {
            return Err(Rejection::KindNotAccepted);
        }
        let rp = svc.webauthn.rp()?;
        if user.disabled {
            return Err(Rejection::UserDisabled);
        }
        check_code(now, code.as_ref(), &user)?;
        Ok(rp)
    })();
    let rp = match checked {
        Ok(rp) => rp,
        Err(r) => {
            let e = KeysError::Rejected(r);
            let ev = failure("key.enroll", Some(who_of(&user, session_hash)), vec![]);
            audit_failure(conn, env, meta, ev, &e, json!({ "stage": "begin" }))?;
            return Err(e);
        }
    };
    let existing: Vec<String> = webauthn_credentials::table
        .inner_join(hardware_keys::table)
        .filter(hardware_keys::user_id.eq(&user.id))
        .select(webauthn_credentials::credential_id)
        .load(conn)?;
    let exclude: Vec<_> = existing.iter().filter_map(|c| unb64(c)).collect();
    let (ccr, state) = rp
        .start_attested_passkey_registration(
            user_handle(&user.id),
            &user.username,
            if user.display_name.is_empty() {
                &user.username
            } else {
                &user.display_name
            },
            Some(exclude),
            svc.webauthn.cas.clone(),
            Some(AuthenticatorAttachment::CrossPlatform),
        )
        .map_err(|e| KeysError::Internal(format!("webauthn registration start: {e}")))?;
    let state = serde_json::to_string(&state).map_err(|e| KeysError::Internal(e.to_string()))?;
    let (id, expires_at) = store_ceremony(
        conn,
        env,
        svc,
        session_hash,
        NewCeremony {
            purpose: "register",
            user_id: user.id.clone(),
            state,
            code_hash: Some(code_hash),
            label: clean_label(req.label.as_deref()),
        },
    )?;
    audit::record(
        conn,
        env,
        meta,
        &Event::new("key.challenge", Outcome::Ok)
            .by(who_of(&user, session_hash))
            .detail(json!({ "kind": "webauthn", "purpose": "register", "challenge": id })),
    )?;
    Ok(RegisterBegin {
        ceremony: id,
        public_key: ccr,
        origin: svc.origin.clone(),
        expires_at,
    })
}

/// What a spent ceremony told us, for the checks after it.
struct Spent {
    row: CeremonyRow,
    session: SessionRow,
    user: UserRow,
}

/// Finds the ceremony and spends it (whatever happens next, it is not used again),
/// then checks it belongs to this session, is of this purpose, is still fresh and
/// for this server, and that its user and session are still in good standing.
fn spend_ceremony(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    svc: &KeyService,
    id: &str,
    purpose: &str,
    session_hash: &str,
    who: &mut Option<Who>,
) -> Result<Result<Spent, Rejection>, KeysError> {
    let row: Option<CeremonyRow> = webauthn_ceremonies::table
        .find(id.trim())
        .select(CeremonyRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(Err(Rejection::UnknownChallenge));
    };
    let session: Option<(SessionRow, UserRow)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(&row.session_hash))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((session, user)) = session else {
        return Ok(Err(Rejection::SessionEnded));
    };
    *who = Some(who_of(&user, &session.token_hash));
    let spent = diesel::update(
        webauthn_ceremonies::table
            .find(&row.id)
            .filter(webauthn_ceremonies::used_at.is_null()),
    )
    .set(webauthn_ceremonies::used_at.eq(now.naive_utc()))
    .execute(conn)?;
    if spent != 1 {
        return Ok(Err(Rejection::ChallengeUsed));
    }
    if row.session_hash != session_hash {
        return Ok(Err(Rejection::WrongSession));
    }
    if row.purpose != purpose {
        return Ok(Err(Rejection::UnknownChallenge));
    }
    if row.expires_at <= now.naive_utc() {
        return Ok(Err(Rejection::ChallengeExpired));
    }
    if row.origin != svc.origin {
        return Ok(Err(Rejection::WrongOrigin));
    }
    if user.disabled {
        return Ok(Err(Rejection::UserDisabled));
    }
    if session.revoked_at.is_some() || session.expires_at <= now.naive_utc() {
        return Ok(Err(Rejection::SessionEnded));
    }
    Ok(Ok(Spent { row, session, user }))
}

/// The attestation facts of a registered credential.
struct Facts {
    aaguid: Uuid,
    ca_subject: String,
    ca_sha256: String,
    user_verified: bool,
    counter: i64,
}

fn facts_of(svc: &KeyService, key: &AttestedPasskey) -> Result<Facts, Rejection> {
    let aaguid = match &key.attestation().metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => *aaguid,
        _ => return Err(Rejection::AaguidNotAllowed),
    };
    // The CA list already limits AAGUIDs when some are configured; this check
    // keeps the rule visible and independent of that list's construction.
    if !svc.webauthn.aaguids.is_empty() && !svc.webauthn.aaguids.contains(&aaguid) {
        return Err(Rejection::AaguidNotAllowed);
    }
    let ca = key
        .verify_attestation(&svc.webauthn.cas)
        .map_err(|e| rejection_of(&e))?;
    let kid = ca.get_kid().map_err(|_| Rejection::AttestationUntrusted)?;
    let ca_sha256 = kid
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let ca_subject = svc
        .webauthn
        .anchors
        .iter()
        .find(|a| a.fingerprint == ca_sha256)
        .map(|a| a.subject.clone())
        .unwrap_or_else(|| ca_sha256.clone());
    // The credential's own flags, as webauthn-rs serialises them.
    let inner = serde_json::to_value(key).unwrap_or_default();
    Ok(Facts {
        aaguid,
        ca_subject,
        ca_sha256,
        user_verified: inner["cred"]["user_verified"].as_bool().unwrap_or(true),
        counter: inner["cred"]["counter"].as_i64().unwrap_or(0),
    })
}

/// Finishes a registration: verifies the attestation against the allowed set,
/// spends the enrollment code and stores the key.
pub fn register_finish(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    session_hash: &str,
    req: RegisterFinishRequest,
) -> Result<KeyInfo, KeysError> {
    check_throttle(conn, env, meta, "key.enroll")?;
    let now = env.now();
    let mut who: Option<Who> = None;
    let mut detail = json!({ "stage": "finish" });
    let outcome = write_tx(
        conn,
        |conn| -> Result<Result<KeyInfo, Rejection>, KeysError> {
            let spent = match spend_ceremony(
                conn,
                now,
                svc,
                &req.ceremony,
                "register",
                session_hash,
                &mut who,
            )? {
                Ok(s) => s,
                Err(r) => return Ok(Err(r)),
            };
            let Spent { row, user, .. } = spent;
            if !svc.cfg.accepted_kinds.iter().any(|k| k == "webauthn") {
                return Ok(Err(Rejection::KindNotAccepted));
            }
            let rp = match svc.webauthn.rp() {
                Ok(rp) => rp,
                Err(r) => return Ok(Err(r)),
            };
            let code_hash = row.code_hash.clone().unwrap_or_default();
            let code: Option<EnrollmentCodeRow> = key_enrollment_codes::table
                .find(&code_hash)
                .select(EnrollmentCodeRow::as_select())
                .first(conn)
                .optional()?;
            if let Err(r) = check_code(now, code.as_ref(), &user) {
                return Ok(Err(r));
            }
            let state: AttestedPasskeyRegistration = serde_json::from_str(&row.state)
                .map_err(|e| KeysError::Internal(format!("ceremony state: {e}")))?;
            let passkey = match rp.finish_attested_passkey_registration(&req.credential, &state) {
                Ok(k) => k,
                Err(e) => {
                    detail["webauthn"] =
                        json!(format!("{e:?}").chars().take(120).collect::<String>());
                    return Ok(Err(rejection_of(&e)));
                }
            };
            let facts = match facts_of(svc, &passkey) {
                Ok(f) => f,
                Err(r) => return Ok(Err(r)),
            };
            detail["aaguid"] = json!(facts.aaguid.to_string());
            let cred_id = b64(passkey.cred_id().as_ref());
            let taken: i64 = hardware_keys::table
                .filter(hardware_keys::public_key.eq(&cred_id))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Ok(Err(Rejection::AlreadyEnrolled));
            }
            let used = diesel::update(
                key_enrollment_codes::table
                    .find(&code_hash)
                    .filter(key_enrollment_codes::used_at.is_null()),
            )
            .set(key_enrollment_codes::used_at.eq(now.naive_utc()))
            .execute(conn)?;
            if used != 1 {
                return Ok(Err(Rejection::CodeInvalid));
            }
            let key_id = env.new_id()?.to_string();
            let enrolled_by = code.map(|c| c.issued_by).unwrap_or_default();
            let key_row = HardwareKeyRow {
                id: key_id.clone(),
                user_id: user.id.clone(),
                kind: "webauthn".into(),
                label: row.label.clone(),
                slot: None,
                serial: None,
                firmware: None,
                form_factor: None,
                pin_policy: None,
                touch_policy: None,
                public_key: cred_id.clone(),
                attestation: json!({
                    "aaguid": facts.aaguid.to_string(),
                    "root": facts.ca_subject,
                    "root_sha256": facts.ca_sha256,
                })
                .to_string(),
                enrolled_at: now.naive_utc(),
                enrolled_by: enrolled_by.clone(),
                last_used_at: None,
                revoked_at: None,
                revoked_by: None,
            };
            diesel::insert_into(hardware_keys::table)
                .values(&key_row)
                .execute(conn)?;
            let credential =
                serde_json::to_string(&passkey).map_err(|e| KeysError::Internal(e.to_string()))?;
            diesel::insert_into(webauthn_credentials::table)
                .values(WebauthnCredentialRow {
                    key_id: key_id.clone(),
                    credential_id: cred_id,
                    credential,
                    aaguid: facts.aaguid.to_string(),
                    attestation_ca: facts.ca_subject.clone(),
                    attestation_ca_sha256: facts.ca_sha256.clone(),
                    user_verified: facts.user_verified,
                    sign_count: facts.counter,
                })
                .execute(conn)?;
            let mut ev = Event::new("key.enroll", Outcome::Ok)
                .on("key", [key_id.clone()])
                .detail(json!({
                    "kind": "webauthn",
                    "aaguid": facts.aaguid.to_string(),
                    "attestation_ca": facts.ca_subject,
                    "root_sha256": facts.ca_sha256,
                    "user_verified": facts.user_verified,
                    "enrolled_by": enrolled_by,
                }));
            if let Some(w) = &who {
                ev = ev.by(w.clone());
            }
            audit::record(conn, env, meta, &ev)?;
            let mut info = KeyInfo::from(key_row);
            info.aaguid = Some(facts.aaguid.to_string());
            info.attestation_ca = Some(facts.ca_subject);
            info.user_verification = Some(facts.user_verified);
            Ok(Ok(info))
        },
    );
    let err = match outcome {
        Ok(Ok(info)) => return Ok(info),
        Ok(Err(r)) => KeysError::Rejected(r),
        Err(e) => return Err(e),
    };
    audit_failure(
        conn,
        env,
        meta,
        failure("key.enroll", who, vec![]),
        &err,
        detail,
    )?;
    Err(err)
}

/// Begins a proof with one of the signed-in user's security keys.
pub fn login_begin(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    session_hash: &str,
    user_id: &str,
) -> Result<LoginBegin, KeysError> {
    check_throttle(conn, env, meta, "key.proof")?;
    let user = load_user(conn, user_id)?;
    let creds: Vec<String> = webauthn_credentials::table
        .inner_join(hardware_keys::table)
        .filter(hardware_keys::user_id.eq(&user.id))
        .filter(hardware_keys::revoked_at.is_null())
        .select(webauthn_credentials::credential)
        .load(conn)?;
    let checked = (|| -> Result<&Webauthn, Rejection> {
        if !svc.cfg.accepted_kinds.iter().any(|k| k == "webauthn") {
            return Err(Rejection::KindNotAccepted);
        }
        let rp = svc.webauthn.rp()?;
        if user.disabled {
            return Err(Rejection::UserDisabled);
        }
        if creds.is_empty() {
            return Err(Rejection::UnknownKey);
        }
        Ok(rp)
    })();
    let rp = match checked {
        Ok(rp) => rp,
        Err(r) => {
            let e = KeysError::Rejected(r);
            let ev = failure("key.proof", Some(who_of(&user, session_hash)), vec![]);
            audit_failure(conn, env, meta, ev, &e, json!({ "stage": "begin" }))?;
            return Err(e);
        }
    };
    let keys: Vec<AttestedPasskey> = creds
        .iter()
        .map(|c| serde_json::from_str(c))
        .collect::<Result<_, _>>()
        .map_err(|e| KeysError::Internal(format!("stored credential: {e}")))?;
    let (rcr, state) = rp
        .start_attested_passkey_authentication(&keys)
        .map_err(|e| KeysError::Internal(format!("webauthn authentication start: {e}")))?;
    let state = serde_json::to_string(&state).map_err(|e| KeysError::Internal(e.to_string()))?;
    let (id, expires_at) = store_ceremony(
        conn,
        env,
        svc,
        session_hash,
        NewCeremony {
            purpose: "authenticate",
            user_id: user.id.clone(),
            state,
            code_hash: None,
            label: None,
        },
    )?;
    audit::record(
        conn,
        env,
        meta,
        &Event::new("key.challenge", Outcome::Ok)
            .by(who_of(&user, session_hash))
            .detail(json!({ "kind": "webauthn", "purpose": "authenticate", "challenge": id })),
    )?;
    Ok(LoginBegin {
        ceremony: id,
        public_key: rcr,
        origin: svc.origin.clone(),
        expires_at,
    })
}

/// Finishes a proof: the assertion must answer this session's ceremony, come from
/// one of the user's enrolled keys with user verification, and its signature
/// counter must grow. Elevates the session like a PIV proof.
pub fn login_finish(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    session_hash: &str,
    req: LoginFinishRequest,
) -> Result<ProofOk, KeysError> {
    check_throttle(conn, env, meta, "key.proof")?;
    let now = env.now();
    let mut who: Option<Who> = None;
    let mut subject: Vec<String> = Vec::new();
    let mut detail = json!({ "stage": "finish" });
    let outcome = write_tx(
        conn,
        |conn| -> Result<Result<ProofOk, Rejection>, KeysError> {
            let Spent { row, session, user } = match spend_ceremony(
                conn,
                now,
                svc,
                &req.ceremony,
                "authenticate",
                session_hash,
                &mut who,
            )? {
                Ok(s) => s,
                Err(r) => return Ok(Err(r)),
            };
            detail["challenge"] = json!(row.id);
            let rp = match svc.webauthn.rp() {
                Ok(rp) => rp,
                Err(r) => return Ok(Err(r)),
            };
            let cred_id = b64(req.credential.raw_id.as_ref());
            let found: Option<(WebauthnCredentialRow, HardwareKeyRow)> =
                webauthn_credentials::table
                    .inner_join(hardware_keys::table)
                    .filter(webauthn_credentials::credential_id.eq(&cred_id))
                    .filter(hardware_keys::user_id.eq(&user.id))
                    .select((
                        WebauthnCredentialRow::as_select(),
                        HardwareKeyRow::as_select(),
                    ))
                    .first(conn)
                    .optional()?;
            let Some((cred, key)) = found else {
                return Ok(Err(Rejection::UnknownKey));
            };
            subject = vec![key.id.clone()];
            if key.revoked_at.is_some() {
                return Ok(Err(Rejection::KeyRevoked));
            }
            if !svc.cfg.accepted_kinds.contains(&key.kind) {
                return Ok(Err(Rejection::KindNotAccepted));
            }
            let state: AttestedPasskeyAuthentication = serde_json::from_str(&row.state)
                .map_err(|e| KeysError::Internal(format!("ceremony state: {e}")))?;
            let result = match rp.finish_attested_passkey_authentication(&req.credential, &state) {
                Ok(r) => r,
                Err(e) => {
                    detail["webauthn"] =
                        json!(format!("{e:?}").chars().take(120).collect::<String>());
                    return Ok(Err(rejection_of(&e)));
                }
            };
            if !result.user_verified() {
                return Ok(Err(Rejection::UserNotVerified));
            }
            // webauthn-rs compares with the counter as it was when the ceremony
            // began; compare with the stored one too, as another proof may have
            // moved it since.
            let counter = i64::from(result.counter());
            detail["counter"] = json!(counter);
            detail["stored_counter"] = json!(cred.sign_count);
            if (counter > 0 || cred.sign_count > 0) && counter <= cred.sign_count {
                return Ok(Err(Rejection::CounterRegressed));
            }
            let mut passkey: AttestedPasskey = serde_json::from_str(&cred.credential)
                .map_err(|e| KeysError::Internal(format!("stored credential: {e}")))?;
            passkey.update_credential(&result);
            let stored =
                serde_json::to_string(&passkey).map_err(|e| KeysError::Internal(e.to_string()))?;
            diesel::update(webauthn_credentials::table.find(&key.id))
                .set((
                    webauthn_credentials::credential.eq(stored),
                    webauthn_credentials::sign_count.eq(counter),
                ))
                .execute(conn)?;
            let until = elevate_session(conn, now, svc, &session, &user.id, &key.id)?;
            let mut ev = Event::new("key.proof", Outcome::Ok)
                .on("key", [key.id.clone()])
                .detail(json!({
                    "kind": "webauthn",
                    "challenge": row.id,
                    "user_verified": true,
                    "counter": counter,
                    "elevated_until": until.and_utc(),
                }));
            if let Some(w) = &who {
                ev = ev.by(w.clone());
            }
            audit::record(conn, env, meta, &ev)?;
            Ok(Ok(ProofOk {
                key_id: key.id,
                elevated_until: until.and_utc(),
            }))
        },
    )?;
    match outcome {
        Ok(ok) => Ok(ok),
        Err(r) => {
            let err = KeysError::Rejected(r);
            let ev = failure("key.proof", who, subject);
            audit_failure(conn, env, meta, ev, &err, detail)?;
            Err(err)
        }
    }
}
