use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{
    hardware_keys, key_challenges, key_enrollment_codes, session_elevations,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hardware_keys)]
pub struct HardwareKeyRow {
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
    pub public_key: String,
    pub attestation: String,
    pub enrolled_at: NaiveDateTime,
    pub enrolled_by: String,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_enrollment_codes)]
pub struct EnrollmentCodeRow {
    pub code_hash: String,
    pub user_id: String,
    pub issued_by: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_challenges)]
pub struct ChallengeRow {
    pub id: String,
    pub session_hash: String,
    pub user_id: String,
    pub nonce: String,
    pub origin: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = session_elevations)]
pub struct ElevationRow {
    pub session_hash: String,
    pub user_id: String,
    pub key_id: String,
    pub elevated_at: NaiveDateTime,
    pub elevated_until: NaiveDateTime,
    pub last_proof_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::store::schema::webauthn_credentials)]
pub struct WebauthnCredentialRow {
    pub key_id: String,
    pub credential_id: String,
    pub credential: String,
    pub aaguid: String,
    pub attestation_ca: String,
    pub attestation_ca_sha256: String,
    pub user_verified: bool,
    pub sign_count: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::store::schema::webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id: String,
    pub purpose: String,
    pub session_hash: String,
    pub user_id: String,
    pub state: String,
    pub code_hash: Option<String>,
    pub label: Option<String>,
    pub origin: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}
