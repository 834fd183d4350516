//! Text checks shared by every field: what is accepted is stored byte-for-byte.

use super::CrmError;
use crate::i18n::Msg;

/// A single-line field: no control characters at all, not blank, bounded length.
pub fn line(field: &str, value: &str, max_chars: usize) -> Result<String, CrmError> {
    if value.trim().is_empty() {
        return Err(CrmError::invalid(field, Msg::new("invalid-empty")));
    }
    check(field, value, max_chars, false)?;
    Ok(value.to_string())
}

/// An optional single-line field; blank means unset.
pub fn opt_line(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, CrmError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => line(field, v, max_chars).map(Some),
    }
}

/// Free text (notes, addresses): newlines and tabs allowed, other controls not.
pub fn body(field: &str, value: &str, max_chars: usize) -> Result<String, CrmError> {
    check(field, value, max_chars, true)?;
    Ok(value.to_string())
}

pub fn opt_body(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, CrmError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => body(field, v, max_chars).map(Some),
    }
}

fn check(field: &str, value: &str, max_chars: usize, multiline: bool) -> Result<(), CrmError> {
    if value.contains('\0') {
        return Err(CrmError::invalid(field, Msg::new("invalid-nul")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(CrmError::invalid(
            field,
            Msg::new("invalid-control").arg("char", format!("U+{:04X}", c as u32)),
        ));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(CrmError::invalid(
            field,
            Msg::new("invalid-too-long")
                .arg("len", chars)
                .arg("max", max_chars),
        ));
    }
    Ok(())
}

/// An http(s) link, e.g. a call recording. Anything else (javascript:, data:) is refused.
pub fn opt_link(field: &str, value: Option<&str>) -> Result<Option<String>, CrmError> {
    let Some(v) = opt_line(field, value, 2048)? else {
        return Ok(None);
    };
    match url::Url::parse(&v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(v)),
        _ => Err(CrmError::invalid(field, Msg::new("invalid-url"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_any_script_byte_for_byte() {
        for s in [
            "ნინო ბერიძე",
            "محمد علي",
            "Иван Петров",
            "Şəhla Məmmədova",
            "O‘tkir Yo‘ldoshev",
        ] {
            assert_eq!(line("name", s, 200).unwrap(), s);
        }
    }

    #[test]
    fn refuses_nul_and_controls() {
        assert!(line("name", "a\0b", 200).is_err());
        assert!(line("name", "a\u{7}b", 200).is_err());
        assert!(line("name", "a\nb", 200).is_err());
        assert!(body("note", "a\nb\tc", 200).is_ok());
        assert!(line("name", "   ", 200).is_err());
        assert!(line("name", &"x".repeat(201), 200).is_err());
    }

    #[test]
    fn links_must_be_http() {
        assert!(opt_link("recording_url", Some("javascript:alert(1)")).is_err());
        assert!(opt_link("recording_url", Some("https://pbx.example/r/1.mp3")).is_ok());
    }
}
