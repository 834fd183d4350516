//! A session's hardware-key elevation, as `sessions::resolve` finds it. The type
//! has private fields and is built only here, from the database row a verified
//! proof wrote (`keys::proof`): holding an `Elevation` means a proof was made.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::IdentityError;
use crate::store::DbConn;
use crate::store::models::hardware_keys::ElevationRow;
use crate::store::schema::{hardware_keys, session_elevations};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elevation {
    until: DateTime<Utc>,
    last_proof: DateTime<Utc>,
    key_id: String,
}

impl Elevation {
    /// Elevated at `now`?
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }

    /// Was the last proof made within `window` of `now`?
    pub fn fresh_at(&self, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        self.active_at(now) && now - self.last_proof <= window && self.last_proof <= now
    }

    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }

    pub fn last_proof(&self) -> DateTime<Utc> {
        self.last_proof
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl serde::Serialize for Elevation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Elevation", 3)?;
        st.serialize_field("until", &self.until)?;
        st.serialize_field("last_proof", &self.last_proof)?;
        st.serialize_field("key_id", &self.key_id)?;
        st.end()
    }
}

/// The elevation of the session with this token hash, when its key is still enrolled.
pub fn for_session(
    conn: &mut DbConn,
    session_hash: &str,
) -> Result<Option<Elevation>, IdentityError> {
    let row: Option<ElevationRow> = session_elevations::table
        .inner_join(hardware_keys::table)
        .filter(session_elevations::session_hash.eq(session_hash))
        .filter(hardware_keys::revoked_at.is_null())
        .select(ElevationRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| Elevation {
        until: r.elevated_until.and_utc(),
        last_proof: r.last_proof_at.and_utc(),
        key_id: r.key_id,
    }))
}
