//! Keyset cursors: an opaque `(time, id)` position in a newest-first list.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime};

use super::CrmError;
use crate::i18n::Msg;

pub fn encode(at: NaiveDateTime, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{id}", at.and_utc().timestamp_micros()))
}

pub fn decode(cursor: &str) -> Result<(NaiveDateTime, String), CrmError> {
    let bad = || CrmError::invalid("cursor", Msg::new("invalid-cursor"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(bad)?
        .naive_utc();
    uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .unwrap()
            .naive_utc();
        let id = "6f1c2a52-6f57-4a2e-9a4c-0c6a8d1f0b3e";
        assert_eq!(decode(&encode(at, id)).unwrap(), (at, id.to_string()));
        assert!(decode("not a cursor").is_err());
        assert!(
            decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1|x' OR 1=1"))
                .is_err()
        );
    }
}
