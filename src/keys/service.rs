//! Enrollment codes, enrollment, challenges, proofs, listing and revocation: the
//! database side of hardware keys. Every enrollment, proof, failure and revocation
//! is audited here, where it is decided. Management operations (list another
//! user's keys, issue a code, revoke) are reached through `access::AdminGate`,
//! which checks role, elevation and step-up first.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::attestation::{self, Expected, Requirements, Slot};
use super::protocol::{self, b64, unb64};
use super::trust::TrustStore;
use super::{KeysError, Rejection};
use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::clock::Env;
use crate::config::KeysConfig;
use crate::identity::token_hash;
use crate::store::models::hardware_keys::{
    ChallengeRow, ElevationRow, EnrollmentCodeRow, HardwareKeyRow,
};
use crate::store::models::sessions::SessionRow;
use crate::store::models::throttle;
use crate::store::models::users::UserRow;
use crate::store::schema::{
    hardware_keys, key_challenges, key_enrollment_codes, session_elevations, sessions, users,
};
use crate::store::{DbConn, write_tx};

/// What the server needs to judge keys: configuration, trust roots, its origin.
#[derive(Debug, Clone)]
pub struct KeyService {
    pub cfg: KeysConfig,
    pub trust: TrustStore,
    /// The server's origin (`public_url`), part of every signed message.
    pub origin: String,
    /// WebAuthn relying party and the allowed authenticators.
    pub webauthn: std::sync::Arc<super::webauthn::WebauthnKeys>,
}

/// A key as owners and admins see it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub label: Option<String>,
    pub slot: Option<String>,
    pub serial: Option<i64>,
    pub firmware: Option<String>,
    pub form_factor: Option<String>,
    pub pin_policy: Option<String>,
    pub touch_policy: Option<String>,
    /// SHA-256 of the SubjectPublicKeyInfo DER, hex.
    pub fingerprint: String,
    pub enrolled_at: DateTime<Utc>,
    pub enrolled_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// WebAuthn keys: the authenticator model's AAGUID.
    pub aaguid: Option<String>,
    /// WebAuthn keys: the subject of the attestation CA the key chained to.
    pub attestation_ca: Option<String>,
    /// WebAuthn keys: whether the authenticator verified the user (PIN or
    /// biometrics) at registration; proofs always require it.
    pub user_verification: Option<bool>,
}

impl From<HardwareKeyRow> for KeyInfo {
    fn from(r: HardwareKeyRow) -> KeyInfo {
        let fingerprint = unb64(&r.public_key)
            .map(|der| protocol::key_fingerprint(&der))
            .unwrap_or_default();
        KeyInfo {
            id: r.id,
            user_id: r.user_id,
            kind: r.kind,
            label: r.label,
            slot: r.slot,
            serial: r.serial,
            firmware: r.firmware,
            form_factor: r.form_factor,
            pin_policy: r.pin_policy,
            touch_policy: r.touch_policy,
            fingerprint,
            enrolled_at: r.enrolled_at.and_utc(),
            enrolled_by: r.enrolled_by,
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
            revoked_by: r.revoked_by,
            aaguid: None,
            attestation_ca: None,
            user_verification: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedCode {
    pub user_id: String,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues a one-time enrollment code for `user_id`, retiring earlier unused ones.
/// The caller audits (it knows who asked and why).
pub fn issue_code(
    conn: &mut DbConn,
    env: &Env,
    cfg: &KeysConfig,
    user_id: &str,
    issued_by: &str,
) -> Result<IssuedCode, KeysError> {
    let code = env.token()?;
    let now = env.now();
    let expires_at = now + Duration::hours(cfg.enrollment_code_hours);
    diesel::update(
        key_enrollment_codes::table
            .filter(key_enrollment_codes::user_id.eq(user_id))
            .filter(key_enrollment_codes::used_at.is_null()),
    )
    .set(key_enrollment_codes::used_at.eq(now.naive_utc()))
    .execute(conn)?;
    diesel::insert_into(key_enrollment_codes::table)
        .values(EnrollmentCodeRow {
            code_hash: token_hash(&code),
            user_id: user_id.to_string(),
            issued_by: issued_by.to_string(),
            issued_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            used_at: None,
        })
        .execute(conn)?;
    Ok(IssuedCode {
        user_id: user_id.to_string(),
        code,
        expires_at,
    })
}

pub fn user_keys(conn: &mut DbConn, user_id: &str) -> Result<Vec<KeyInfo>, KeysError> {
    let rows: Vec<HardwareKeyRow> = hardware_keys::table
        .filter(hardware_keys::user_id.eq(user_id))
        .select(HardwareKeyRow::as_select())
        .order(hardware_keys::enrolled_at.asc())
        .load(conn)?;
    let mut keys: Vec<KeyInfo> = rows.into_iter().map(KeyInfo::from).collect();
    for k in &mut keys {
        super::webauthn::add_facts(conn, k)?;
    }
    Ok(keys)
}

pub fn active_key_count(conn: &mut DbConn, user_id: &str) -> Result<i64, KeysError> {
    Ok(hardware_keys::table
        .filter(hardware_keys::user_id.eq(user_id))
        .filter(hardware_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}

pub fn get_key(conn: &mut DbConn, key_id: &str) -> Result<KeyInfo, KeysError> {
    let mut key = hardware_keys::table
        .find(key_id)
        .select(HardwareKeyRow::as_select())
        .first(conn)
        .optional()?
        .map(KeyInfo::from)
        .ok_or(KeysError::NotFound)?;
    super::webauthn::add_facts(conn, &mut key)?;
    Ok(key)
}

/// Revokes a key and ends every session it elevated. Returns the key and how many
/// sessions ended.
pub fn revoke(
    conn: &mut DbConn,
    env: &Env,
    key_id: &str,
    by: &str,
) -> Result<(KeyInfo, usize), KeysError> {
    let now = env.now().naive_utc();
    let updated = diesel::update(
        hardware_keys::table
            .find(key_id)
            .filter(hardware_keys::revoked_at.is_null()),
    )
    .set((
        hardware_keys::revoked_at.eq(now),
        hardware_keys::revoked_by.eq(by),
    ))
    .execute(conn)?;
    if updated != 1 {
        // Unknown, or revoked already.
        get_key(conn, key_id)?;
        return Err(KeysError::Conflict("the key is revoked already".into()));
    }
    let elevated: Vec<String> = session_elevations::table
        .filter(session_elevations::key_id.eq(key_id))
        .select(session_elevations::session_hash)
        .load(conn)?;
    let mut ended = 0;
    for hash in &elevated {
        ended += diesel::update(
            sessions::table
                .find(hash)
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    }
    diesel::delete(session_elevations::table.filter(session_elevations::key_id.eq(key_id)))
        .execute(conn)?;
    Ok((get_key(conn, key_id)?, ended))
}

/// `POST /api/v1/keys/enroll`, sent by `holdfast key enroll`. Binary values are
/// base64url without padding.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub code: String,
    pub kind: String,
    pub slot: String,
    /// SubjectPublicKeyInfo DER of the slot's key.
    pub public_key: String,
    /// The slot's attestation certificate, DER.
    pub attestation: String,
    /// The device's f9 attestation certificate, DER.
    pub intermediate: String,
    /// Signature by the slot key over `protocol::enroll_message`.
    pub signature: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// Failed enrollments and proofs allowed per client address within the window;
/// beyond it the unauthenticated key endpoints answer 429 (and the audit log is
/// not flooded).
pub const MAX_FAILURES_PER_IP: i32 = 20;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

fn throttle_key(meta: &RequestMeta) -> String {
    format!("keys:ip:{}", meta.ip.as_deref().unwrap_or("unknown"))
}

/// Refuses (and audits) when this address failed too often recently.
pub(crate) fn check_throttle(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
    action: &'static str,
) -> Result<(), KeysError> {
    let since = (env.now() - Duration::minutes(FAILURE_WINDOW_MINUTES)).naive_utc();
    if throttle::hits(conn, &throttle_key(meta), since)? >= MAX_FAILURES_PER_IP {
        audit::record(
            conn,
            env,
            meta,
            &Event::new(action, Outcome::Denied).detail(json!({ "reason": "throttled" })),
        )?;
        return Err(KeysError::Throttled);
    }
    Ok(())
}

pub(crate) fn count_failure(
    conn: &mut DbConn,
    env: &Env,
    meta: &RequestMeta,
) -> Result<(), KeysError> {
    let now = env.now();
    let since = (now - Duration::minutes(FAILURE_WINDOW_MINUTES)).naive_utc();
    throttle::hit(conn, &throttle_key(meta), now.naive_utc(), since)?;
    Ok(())
}

fn reject(r: Rejection) -> KeysError {
    KeysError::Rejected(r)
}

pub(crate) fn who_user(user: &UserRow, session_ref: Option<String>) -> Who {
    Who {
        id: user.id.clone(),
        role: user.role.clone(),
        session_ref,
    }
}

/// Verifies and stores a new key for the user the code was issued to.
pub fn enroll(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    req: EnrollRequest,
) -> Result<KeyInfo, KeysError> {
    check_throttle(conn, env, meta, "key.enroll")?;
    let code_hash = token_hash(req.code.trim());
    let now = env.now();
    let found: Option<(EnrollmentCodeRow, UserRow)> = key_enrollment_codes::table
        .inner_join(users::table.on(users::id.eq(key_enrollment_codes::user_id)))
        .filter(key_enrollment_codes::code_hash.eq(&code_hash))
        .select((EnrollmentCodeRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?;
    let result = check_enrollment(now, svc, &req, &code_hash, found.as_ref());
    let (user, issued_by, attested, spki) = match result {
        Ok(v) => v,
        Err(e) => {
            let mut ev = Event::new("key.enroll", Outcome::Failed).detail(json!({
                "reason": e.reason(),
                "detail": e.to_string(),
                "kind": req.kind.chars().take(16).collect::<String>(),
            }));
            if let Some((_, user)) = &found {
                ev = ev.by(who_user(user, None));
            }
            audit::record(conn, env, meta, &ev)?;
            count_failure(conn, env, meta)?;
            return Err(e);
        }
    };
    let key_id = env.new_id()?.to_string();
    let row = HardwareKeyRow {
        id: key_id.clone(),
        user_id: user.id.clone(),
        kind: "piv".into(),
        label: req
            .label
            .as_ref()
            .map(|l| l.trim().chars().take(100).collect::<String>())
            .filter(|l| !l.is_empty() && !l.contains('\0')),
        slot: Some(attested.slot.to_string()),
        serial: attested.serial.map(i64::from),
        firmware: attested.firmware.map(|f| f.to_string()),
        form_factor: attested.form_factor.map(|f| f.to_string()),
        pin_policy: Some(attested.pin_policy.to_string()),
        touch_policy: Some(attested.touch_policy.to_string()),
        public_key: b64(&spki),
        attestation: json!({
            "root": attested.root_subject,
            "root_sha256": attested.root_fingerprint,
            "intermediate": attested.intermediate_subject,
            "intermediate_basic_constraints": attested.intermediate_has_basic_constraints,
            "slot_certificate": req.attestation,
            "intermediate_certificate": req.intermediate,
        })
        .to_string(),
        enrolled_at: now.naive_utc(),
        enrolled_by: issued_by,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    };
    let fingerprint = protocol::key_fingerprint(&spki);
    let stored = write_tx(
        conn,
        |conn| -> Result<Result<KeyInfo, KeysError>, KeysError> {
            let taken: i64 = hardware_keys::table
                .filter(hardware_keys::public_key.eq(&row.public_key))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Ok(Err(KeysError::Conflict(
                    "this key is enrolled already".into(),
                )));
            }
            let spent = diesel::update(
                key_enrollment_codes::table
                    .find(&code_hash)
                    .filter(key_enrollment_codes::used_at.is_null()),
            )
            .set(key_enrollment_codes::used_at.eq(now.naive_utc()))
            .execute(conn)?;
            if spent != 1 {
                return Ok(Err(reject(Rejection::CodeInvalid)));
            }
            diesel::insert_into(hardware_keys::table)
                .values(&row)
                .execute(conn)?;
            audit::record(
                conn,
                env,
                meta,
                &Event::new("key.enroll", Outcome::Ok)
                    .by(who_user(&user, None))
                    .on("key", [key_id.clone()])
                    .detail(json!({
                        "kind": "piv",
                        "slot": row.slot,
                        "serial": row.serial,
                        "firmware": row.firmware,
                        "form_factor": row.form_factor,
                        "pin_policy": row.pin_policy,
                        "touch_policy": row.touch_policy,
                        "fingerprint": fingerprint,
                        "root_sha256": attested.root_fingerprint,
                        "enrolled_by": row.enrolled_by,
                    })),
            )?;
            Ok(Ok(KeyInfo::from(row.clone())))
        },
    )?;
    if let Err(e) = &stored {
        audit::record(
            conn,
            env,
            meta,
            &Event::new("key.enroll", Outcome::Failed)
                .by(who_user(&user, None))
                .detail(json!({ "reason": e.reason(), "fingerprint": fingerprint })),
        )?;
        count_failure(conn, env, meta)?;
    }
    stored
}

type Checked = (UserRow, String, attestation::Attested, Vec<u8>);

fn check_enrollment(
    now: DateTime<Utc>,
    svc: &KeyService,
    req: &EnrollRequest,
    code_hash: &str,
    found: Option<&(EnrollmentCodeRow, UserRow)>,
) -> Result<Checked, KeysError> {
    if req.kind != "piv" || !svc.cfg.accepted_kinds.iter().any(|k| k == "piv") {
        return Err(reject(Rejection::KindNotAccepted));
    }
    let Some((code, user)) = found else {
        return Err(reject(Rejection::CodeInvalid));
    };
    if code.used_at.is_some() || code.expires_at <= now.naive_utc() {
        return Err(reject(Rejection::CodeInvalid));
    }
    if user.disabled {
        return Err(reject(Rejection::UserDisabled));
    }
    let slot = Slot::parse(&req.slot).ok_or(reject(Rejection::BadEncoding))?;
    let (Some(spki), Some(slot_der), Some(f9_der), Some(signature)) = (
        unb64(&req.public_key),
        unb64(&req.attestation),
        unb64(&req.intermediate),
        unb64(&req.signature),
    ) else {
        return Err(reject(Rejection::BadEncoding));
    };
    let attested = attestation::verify(
        &svc.trust,
        &slot_der,
        &f9_der,
        Expected {
            slot: Some(slot),
            public_key: Some(&spki),
        },
        Requirements {
            min_pin: svc.cfg.min_pin_policy,
            min_touch: svc.cfg.min_touch_policy,
        },
        now,
    )?;
    let message = protocol::enroll_message(
        &svc.origin,
        code_hash,
        &slot.to_string(),
        &protocol::key_fingerprint(&spki),
    )
    .ok_or(reject(Rejection::BadEncoding))?;
    if !protocol::verify_p256(&attested.public_key_point, &message, &signature) {
        return Err(reject(Rejection::BadSignature));
    }
    Ok((user.clone(), code.issued_by.clone(), attested, spki))
}

/// A challenge as the browser receives it.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub id: String,
    /// 256 random bits, base64url.
    pub nonce: String,
    pub origin: String,
    /// Binds the proof to the session that asked, without naming the session.
    pub session_binding: String,
    pub expires_at: DateTime<Utc>,
    /// What to paste into `holdfast key login`.
    pub token: String,
}

/// Prefix of the challenge token a user pastes into `holdfast key login`.
pub const TOKEN_PREFIX: &str = "hfk1";

/// A new single-use challenge for the session with this token hash.
/// Removes used and expired challenges of every session (sessions that asked for
/// one and never came back leave theirs behind). Returns how many went.
pub fn sweep_challenges(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, KeysError> {
    Ok(diesel::delete(
        key_challenges::table.filter(
            key_challenges::used_at
                .is_not_null()
                .or(key_challenges::expires_at.le(now.naive_utc())),
        ),
    )
    .execute(conn)?)
}

pub fn create_challenge(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    session_hash: &str,
    who: Who,
) -> Result<Challenge, KeysError> {
    let now = env.now();
    let id = env.new_id()?.to_string();
    let nonce = b64(&env.random_bytes::<32>()?);
    let expires_at = now + Duration::seconds(svc.cfg.challenge_seconds.min(120));
    // Old challenges of this session are of no further use.
    diesel::delete(
        key_challenges::table
            .filter(key_challenges::session_hash.eq(session_hash))
            .filter(
                key_challenges::used_at
                    .is_not_null()
                    .or(key_challenges::expires_at.le(now.naive_utc())),
            ),
    )
    .execute(conn)?;
    diesel::insert_into(key_challenges::table)
        .values(ChallengeRow {
            id: id.clone(),
            session_hash: session_hash.to_string(),
            user_id: who.id.clone(),
            nonce: nonce.clone(),
            origin: svc.origin.clone(),
            created_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            used_at: None,
        })
        .execute(conn)?;
    audit::record(
        conn,
        env,
        meta,
        &Event::new("key.challenge", Outcome::Ok)
            .by(who)
            .detail(json!({ "challenge": id })),
    )?;
    let binding = protocol::session_binding(session_hash);
    Ok(Challenge {
        token: format!(
            "{TOKEN_PREFIX}.{}.{id}.{nonce}.{binding}",
            b64(svc.origin.as_bytes())
        ),
        id,
        nonce,
        origin: svc.origin.clone(),
        session_binding: binding,
        expires_at,
    })
}

/// `POST /api/v1/keys/proof`, sent by `holdfast key login`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    pub challenge: String,
    /// SubjectPublicKeyInfo DER of the signing key.
    pub public_key: String,
    /// ECDSA P-256 / SHA-256 signature, ASN.1 DER, over `protocol::proof_message`.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProofOk {
    pub key_id: String,
    pub elevated_until: DateTime<Utc>,
}

/// Verifies a proof and elevates the session its challenge was bound to.
pub fn prove(
    conn: &mut DbConn,
    env: &Env,
    svc: &KeyService,
    meta: &RequestMeta,
    req: ProofRequest,
) -> Result<ProofOk, KeysError> {
    check_throttle(conn, env, meta, "key.proof")?;
    let now = env.now();
    let mut who: Option<Who> = None;
    let mut subject: Vec<String> = Vec::new();
    let outcome = write_tx(
        conn,
        |conn| -> Result<Result<ProofOk, Rejection>, KeysError> {
            let challenge: Option<ChallengeRow> = key_challenges::table
                .find(req.challenge.trim())
                .select(ChallengeRow::as_select())
                .first(conn)
                .optional()?;
            let Some(challenge) = challenge else {
                return Ok(Err(Rejection::UnknownChallenge));
            };
            let session: Option<(SessionRow, UserRow)> = sessions::table
                .inner_join(users::table)
                .filter(sessions::token_hash.eq(&challenge.session_hash))
                .select((SessionRow::as_select(), UserRow::as_select()))
                .first(conn)
                .optional()?;
            let Some((session, user)) = session else {
                return Ok(Err(Rejection::SessionEnded));
            };
            who = Some(who_user(
                &user,
                Some(crate::identity::sessions::session_ref(&session.token_hash)),
            ));
            // Spend the challenge first: whatever happens next, it is not used again.
            let spent = diesel::update(
                key_challenges::table
                    .find(&challenge.id)
                    .filter(key_challenges::used_at.is_null()),
            )
            .set(key_challenges::used_at.eq(now.naive_utc()))
            .execute(conn)?;
            if spent != 1 {
                return Ok(Err(Rejection::ChallengeUsed));
            }
            if challenge.expires_at <= now.naive_utc() {
                return Ok(Err(Rejection::ChallengeExpired));
            }
            if challenge.origin != svc.origin {
                return Ok(Err(Rejection::WrongOrigin));
            }
            if user.disabled {
                return Ok(Err(Rejection::UserDisabled));
            }
            if session.revoked_at.is_some() || session.expires_at <= now.naive_utc() {
                return Ok(Err(Rejection::SessionEnded));
            }
            let (Some(spki), Some(signature)) = (unb64(&req.public_key), unb64(&req.signature))
            else {
                return Ok(Err(Rejection::BadEncoding));
            };
            let key: Option<HardwareKeyRow> = hardware_keys::table
                .filter(hardware_keys::public_key.eq(b64(&spki)))
                .filter(hardware_keys::user_id.eq(&user.id))
                .select(HardwareKeyRow::as_select())
                .first(conn)
                .optional()?;
            let Some(key) = key else {
                return Ok(Err(Rejection::UnknownKey));
            };
            subject = vec![key.id.clone()];
            if key.revoked_at.is_some() {
                return Ok(Err(Rejection::KeyRevoked));
            }
            if key.kind != "piv" {
                // A WebAuthn credential id is no PIV key: it proves only through
                // its own ceremony (`keys::webauthn`).
                return Ok(Err(Rejection::UnknownKey));
            }
            if !svc.cfg.accepted_kinds.contains(&key.kind) {
                return Ok(Err(Rejection::KindNotAccepted));
            }
            let Some(point) = attestation::p256_point_from_der(&spki) else {
                return Ok(Err(Rejection::BadEncoding));
            };
            let Some(message) = protocol::proof_message(
                &svc.origin,
                &challenge.id,
                &challenge.nonce,
                &protocol::session_binding(&challenge.session_hash),
                &protocol::key_fingerprint(&spki),
            ) else {
                return Ok(Err(Rejection::BadEncoding));
            };
            if !protocol::verify_p256(&point, &message, &signature) {
                return Ok(Err(Rejection::BadSignature));
            }
            let until = elevate_session(conn, now, svc, &session, &user.id, &key.id)?;
            let mut ev = Event::new("key.proof", Outcome::Ok)
                .on("key", [key.id.clone()])
                .detail(json!({ "challenge": challenge.id, "elevated_until": until.and_utc() }));
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
        Err(rejection) => {
            let mut ev = Event::new("key.proof", Outcome::Failed)
                .on("key", subject)
                .detail(json!({ "reason": rejection.code() }));
            if let Some(w) = who {
                ev = ev.by(w);
            }
            audit::record(conn, env, meta, &ev)?;
            count_failure(conn, env, meta)?;
            Err(KeysError::Rejected(rejection))
        }
    }
}

/// Elevates the session by a proof just verified with `key_id` (PIV or WebAuthn
/// alike): one `session_elevations` row per session, the elevation's start kept
/// across proofs, `last_proof_at` (step-up freshness) now, never beyond the
/// session's own end. Marks the key used. Returns the elevation's end.
pub(crate) fn elevate_session(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    svc: &KeyService,
    session: &SessionRow,
    user_id: &str,
    key_id: &str,
) -> Result<chrono::NaiveDateTime, KeysError> {
    let until = (now + Duration::minutes(svc.cfg.elevation_minutes))
        .naive_utc()
        .min(session.expires_at);
    let elevated_at = session_elevations::table
        .find(&session.token_hash)
        .select(session_elevations::elevated_at)
        .first(conn)
        .optional()?
        .unwrap_or(now.naive_utc());
    diesel::delete(session_elevations::table.find(&session.token_hash)).execute(conn)?;
    diesel::insert_into(session_elevations::table)
        .values(ElevationRow {
            session_hash: session.token_hash.clone(),
            user_id: user_id.to_string(),
            key_id: key_id.to_string(),
            elevated_at,
            elevated_until: until,
            last_proof_at: now.naive_utc(),
        })
        .execute(conn)?;
    diesel::update(hardware_keys::table.find(key_id))
        .set(hardware_keys::last_used_at.eq(now.naive_utc()))
        .execute(conn)?;
    Ok(until)
}

/// The session's elevation as the browser sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ElevationInfo {
    pub privileged: bool,
    pub elevated_until: Option<DateTime<Utc>>,
    pub last_proof_at: Option<DateTime<Utc>>,
    pub step_up_minutes: i64,
}
