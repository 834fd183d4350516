//! Phone and email normalisation, so that one person is found under one key.

use std::str::FromStr;

use phonenumber::{Mode, country};

use super::CrmError;
use crate::i18n::Msg;

/// A phone number in E.164 (`+995555123456`). Numbers without a country code need
/// `crm.default_phone_region`.
pub fn normalize_phone(raw: &str, region: Option<&str>) -> Result<String, CrmError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 40 {
        return Err(CrmError::invalid("phone", Msg::new("invalid-phone-length")));
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().\u{a0}/".contains(c))
    {
        return Err(not_a_phone(trimmed));
    }
    let region = region.and_then(|r| country::Id::from_str(r).ok());
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let candidate = if let Some(rest) = trimmed.strip_prefix("00") {
        format!("+{rest}")
    } else {
        trimmed.to_string()
    };
    if !international && region.is_none() {
        return Err(CrmError::invalid(
            "phone",
            Msg::new("invalid-phone-country"),
        ));
    }
    let number = phonenumber::parse(region, &candidate).map_err(|_| not_a_phone(trimmed))?;
    if !number.is_valid() {
        return Err(not_a_phone(trimmed));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

fn not_a_phone(value: &str) -> CrmError {
    CrmError::invalid(
        "phone",
        Msg::new("invalid-phone").arg("value", value.chars().take(40).collect::<String>()),
    )
}

/// The national significant digits of an E.164 number (`555123456` for
/// `+995555123456`), so a search for the local form finds it.
pub fn national_digits(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    Some(number.national().value().to_string())
}

/// Lower-cased, trimmed, and syntactically valid.
pub fn normalize_email(raw: &str) -> Result<String, CrmError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 254 {
        return Err(CrmError::invalid("email", Msg::new("invalid-email-length")));
    }
    let lowered = trimmed.to_lowercase();
    if !email_address::EmailAddress::is_valid(&lowered) {
        return Err(CrmError::invalid(
            "email",
            Msg::new("invalid-email").arg("value", trimmed.chars().take(80).collect::<String>()),
        ));
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(
            normalize_phone("+995 555 12 34 56", None).unwrap(),
            "+995555123456"
        );
        assert_eq!(
            normalize_phone("00995-555-123-456", None).unwrap(),
            "+995555123456"
        );
        assert_eq!(
            normalize_phone("555 12 34 56", Some("GE")).unwrap(),
            "+995555123456"
        );
        assert!(normalize_phone("555 12 34 56", None).is_err());
        assert!(normalize_phone("call me maybe", None).is_err());
        assert!(normalize_phone("+1 000", None).is_err());
        assert_eq!(national_digits("+995555123456").unwrap(), "555123456");
    }

    #[test]
    fn emails_lowercase() {
        assert_eq!(
            normalize_email(" Nino@Example.GE ").unwrap(),
            "nino@example.ge"
        );
        assert!(normalize_email("not-an-email").is_err());
        assert!(normalize_email("a@b@c").is_err());
    }
}
