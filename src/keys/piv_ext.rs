//! Yubico's PIV attestation extensions (OID arc `1.3.6.1.4.1.41482.3`), as the
//! slot attestation certificate carries them:
//!
//! | OID suffix | content of the extension value |
//! |---|---|
//! | `.3.3` | firmware version, 3 raw bytes (major, minor, patch) |
//! | `.3.7` | serial number, a DER INTEGER |
//! | `.3.8` | policy, 2 raw bytes: PIN (1 never, 2 once, 3 always), touch (1 never, 2 always, 3 cached) |
//! | `.3.9` | form factor, 1 raw byte (low bits: the model; 0x80 FIPS, 0x40 CSPN) |

use std::fmt;

use serde::{Deserialize, Serialize};

pub const OID_FIRMWARE: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 3];
pub const OID_SERIAL: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 7];
pub const OID_POLICY: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 8];
pub const OID_FORM_FACTOR: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 9];

/// When the key asks for the PIN. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinPolicy {
    Never,
    Once,
    Always,
}

impl PinPolicy {
    pub fn from_byte(b: u8) -> Option<PinPolicy> {
        match b {
            1 => Some(PinPolicy::Never),
            2 => Some(PinPolicy::Once),
            3 => Some(PinPolicy::Always),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PinPolicy::Never => "never",
            PinPolicy::Once => "once",
            PinPolicy::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<PinPolicy> {
        match s {
            "never" => Some(PinPolicy::Never),
            "once" => Some(PinPolicy::Once),
            "always" => Some(PinPolicy::Always),
            _ => None,
        }
    }
}

impl fmt::Display for PinPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the key asks for a touch. Ordered from weakest to strongest: a cached
/// touch (valid 15 s) is weaker than a touch for every operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TouchPolicy {
    Never,
    Cached,
    Always,
}

impl TouchPolicy {
    pub fn from_byte(b: u8) -> Option<TouchPolicy> {
        match b {
            1 => Some(TouchPolicy::Never),
            2 => Some(TouchPolicy::Always),
            3 => Some(TouchPolicy::Cached),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TouchPolicy::Never => "never",
            TouchPolicy::Cached => "cached",
            TouchPolicy::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<TouchPolicy> {
        match s {
            "never" => Some(TouchPolicy::Never),
            "cached" => Some(TouchPolicy::Cached),
            "always" => Some(TouchPolicy::Always),
            _ => None,
        }
    }
}

impl fmt::Display for TouchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The YubiKey's shape, from the `.3.9` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FormFactor(pub u8);

impl FormFactor {
    pub fn model(self) -> &'static str {
        match self.0 & 0x0f {
            0x01 => "USB-A keychain",
            0x02 => "USB-A nano",
            0x03 => "USB-C keychain",
            0x04 => "USB-C nano",
            0x05 => "USB-C Lightning",
            0x06 => "USB-A Bio",
            0x07 => "USB-C Bio",
            _ => "unspecified",
        }
    }

    pub fn fips(self) -> bool {
        self.0 & 0x80 != 0
    }

    pub fn cspn(self) -> bool {
        self.0 & 0x40 != 0
    }
}

impl fmt::Display for FormFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.model())?;
        if self.fips() {
            f.write_str(" (FIPS)")?;
        }
        if self.cspn() {
            f.write_str(" (CSPN)")?;
        }
        Ok(())
    }
}

/// Firmware version, e.g. 5.4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Firmware(pub u8, pub u8, pub u8);

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

pub fn parse_firmware(value: &[u8]) -> Option<Firmware> {
    match value {
        [a, b, c] => Some(Firmware(*a, *b, *c)),
        _ => None,
    }
}

/// `(pin, touch)` from the two policy bytes.
pub fn parse_policy(value: &[u8]) -> Option<(PinPolicy, TouchPolicy)> {
    match value {
        [pin, touch] => Some((PinPolicy::from_byte(*pin)?, TouchPolicy::from_byte(*touch)?)),
        _ => None,
    }
}

pub fn parse_form_factor(value: &[u8]) -> Option<FormFactor> {
    match value {
        [b] => Some(FormFactor(*b)),
        _ => None,
    }
}

/// The serial: a DER INTEGER (tag 0x02, short length, big-endian, non-negative,
/// at most 32 bits of value).
pub fn parse_serial(value: &[u8]) -> Option<u32> {
    let [0x02, len, rest @ ..] = value else {
        return None;
    };
    let len = usize::from(*len);
    if len == 0 || len > 5 || rest.len() != len || rest[0] & 0x80 != 0 {
        return None;
    }
    // Minimal encoding: a leading zero only when the next byte's top bit is set.
    if len > 1 && rest[0] == 0 && rest[1] & 0x80 == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for b in rest {
        n = (n << 8) | u64::from(*b);
    }
    u32::try_from(n).ok()
}

/// The DER INTEGER encoding of a serial, as a YubiKey writes it (for tests and tools).
pub fn encode_serial(serial: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> = serial.to_be_bytes().to_vec();
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] & 0x80 == 0 {
        bytes.remove(0);
    }
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    let mut out = vec![0x02, bytes.len() as u8];
    out.extend(bytes);
    out
}

/// The policy bytes a YubiKey writes for `(pin, touch)`.
pub fn encode_policy(pin: PinPolicy, touch: TouchPolicy) -> [u8; 2] {
    let pin = match pin {
        PinPolicy::Never => 1,
        PinPolicy::Once => 2,
        PinPolicy::Always => 3,
    };
    let touch = match touch {
        TouchPolicy::Never => 1,
        TouchPolicy::Always => 2,
        TouchPolicy::Cached => 3,
    };
    [pin, touch]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_round_trips_and_rejects_bad_der() {
        for s in [
            0u32,
            1,
            127,
            128,
            255,
            256,
            12_345_678,
            0x7fff_ffff,
            u32::MAX,
        ] {
            assert_eq!(parse_serial(&encode_serial(s)), Some(s), "{s}");
        }
        assert_eq!(encode_serial(128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(parse_serial(&[0x02, 0x01, 0x80]), None, "negative");
        assert_eq!(parse_serial(&[0x02, 0x02, 0x00, 0x01]), None, "not minimal");
        assert_eq!(parse_serial(&[0x04, 0x01, 0x01]), None, "not an INTEGER");
        assert_eq!(parse_serial(&[0x02, 0x02, 0x01]), None, "short");
        assert_eq!(parse_serial(&[]), None);
    }

    #[test]
    fn policy_bytes_follow_yubico() {
        assert_eq!(
            parse_policy(&[2, 3]),
            Some((PinPolicy::Once, TouchPolicy::Cached))
        );
        assert_eq!(
            parse_policy(&[3, 2]),
            Some((PinPolicy::Always, TouchPolicy::Always))
        );
        assert_eq!(
            parse_policy(&[1, 1]),
            Some((PinPolicy::Never, TouchPolicy::Never))
        );
        assert_eq!(parse_policy(&[0, 1]), None);
        assert_eq!(parse_policy(&[2]), None);
        for pin in [PinPolicy::Never, PinPolicy::Once, PinPolicy::Always] {
            for touch in [TouchPolicy::Never, TouchPolicy::Cached, TouchPolicy::Always] {
                assert_eq!(parse_policy(&encode_policy(pin, touch)), Some((pin, touch)));
            }
        }
        assert!(TouchPolicy::Always > TouchPolicy::Cached);
        assert!(TouchPolicy::Cached > TouchPolicy::Never);
        assert!(PinPolicy::Always > PinPolicy::Once);
    }

    #[test]
    fn firmware_and_form_factor() {
        assert_eq!(parse_firmware(&[5, 4, 3]).unwrap().to_string(), "5.4.3");
        assert_eq!(parse_firmware(&[5, 4]), None);
        assert_eq!(
            parse_form_factor(&[0x83]).unwrap().to_string(),
            "USB-C keychain (FIPS)"
        );
        assert_eq!(parse_form_factor(&[]), None);
    }
}
