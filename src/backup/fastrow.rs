//! The common case of bringing a row from the database's JSON to the archive's
//! canonical line without building a `serde_json::Value` per value: most values
//! (plain strings, integers, nulls, canonical dates and hex) are already in the
//! canonical spelling and are copied as bytes. Anything else — an escaped string,
//! a real number, a value of the wrong type — makes `line` give up, and the caller
//! takes the general path (`rows::write_row`), which decides and reports. A
//! property test holds both paths to the same bytes.

use chrono::NaiveDate;

use super::catalog::{ColType, Table};
use super::rows::{Cell, Fraction, parse_timestamp, push_timestamp, timestamp_text};
use crate::store::Backend;

/// The JSON array `raw` (as SQLite's `json_array` or PostgreSQL's
/// `json_build_array` write it) as a canonical line with its `\n`, appended to
/// `out`; None (and `out` in an unknown state) when the general path must decide.
pub fn line(t: &Table, raw: &str, out: &mut Vec<u8>) -> Option<()> {
    out.push(b'[');
    elements(t, raw, |n, ty, tok| {
        if n > 0 {
            out.push(b',');
        }
        value(ty, tok, out)
    })?;
    out.extend_from_slice(b"]\n");
    Some(())
}

/// An archive line (canonical JSON) as the values to bind for `backend`,
/// appended to `out`; None (and `out` in an unknown state) when the general path
/// must decide.
pub fn cells(t: &Table, backend: Backend, raw: &str, out: &mut Vec<Cell>) -> Option<()> {
    elements(t, raw, |_, ty, tok| {
        out.push(cell(backend, ty, tok)?);
        Some(())
    })
}

/// Calls `each` with every element of the JSON array `raw`, which must have
/// exactly one element per column.
fn elements(
    t: &Table,
    raw: &str,
    mut each: impl FnMut(usize, ColType, &str) -> Option<()>,
) -> Option<()> {
    let b = raw.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    for (n, c) in t.columns.iter().enumerate() {
        i = skip_ws(b, i);
        if n > 0 {
            if b.get(i) != Some(&b',') {
                return None;
            }
            i = skip_ws(b, i + 1);
        }
        let end = element_end(b, i)?;
        each(n, c.ty, raw.get(i..end)?)?;
        i = end;
    }
    i = skip_ws(b, i);
    if b.get(i) != Some(&b']') || skip_ws(b, i + 1) != b.len() {
        return None;
    }
    Some(())
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Where the element that starts at `i` ends (a string with its quotes, or a
/// bare token up to the next separator).
fn element_end(b: &[u8], i: usize) -> Option<usize> {
    if *b.get(i)? == b'"' {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
        return None;
    }
    let mut j = i;
    while j < b.len() && !matches!(b[j], b',' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
        j += 1;
    }
    (j > i).then_some(j)
}

/// The inside of a string token that has no escapes (the database escapes
/// exactly what `serde_json` escapes, so such a string is already canonical).
fn plain_string(tok: &str) -> Option<&str> {
    let inner = tok.strip_prefix('"')?.strip_suffix('"')?;
    // A raw control character is not JSON: the general path refuses it.
    (!inner.bytes().any(|c| c == b'\\' || c < 0x20)).then_some(inner)
}

/// An integer token as `serde_json` reads and writes it back unchanged.
fn int(tok: &str) -> Option<i64> {
    let digits = tok.strip_prefix('-').unwrap_or(tok);
    if tok.starts_with('+') || tok == "-0" || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    tok.parse().ok()
}

/// A date token in its canonical spelling (`YYYY-MM-DD`, a real day).
fn date(tok: &str) -> Option<&str> {
    let s = plain_string(tok)?;
    let d = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        d.get(r)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    Some(s)
}

fn cell(backend: Backend, ty: ColType, tok: &str) -> Option<Cell> {
    if tok == "null" {
        return Some(Cell::Null);
    }
    Some(match ty {
        ColType::Text | ColType::Decimal => Cell::Text(plain_string(tok)?.to_string()),
        ColType::Int => Cell::Int(int(tok)?),
        ColType::Bool => Cell::Bool(match tok {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return None,
        }),
        ColType::Timestamp => {
            // Only the canonical spelling (`YYYY-MM-DDTHH:MM:SS.ffffff`).
            let s = plain_string(tok)?;
            if s.len() != 26 || s.as_bytes()[10] != b'T' {
                return None;
            }
            let ts = parse_timestamp(s)?;
            Cell::Text(match backend {
                // diesel's own spelling in SQLite (see `Inserter::cell`).
                Backend::Sqlite => timestamp_text(ts, ' ', Fraction::Shortest),
                Backend::Postgres => s.to_string(),
            })
        }
        ColType::Date => Cell::Text(date(tok)?.to_string()),
        ColType::Blob => Cell::Blob(hex::decode(plain_string(tok)?).ok()?),
        ColType::Real => return None,
    })
}

fn value(ty: ColType, tok: &str, out: &mut Vec<u8>) -> Option<()> {
    if tok == "null" {
        out.extend_from_slice(b"null");
        return Some(());
    }
    match ty {
        ColType::Text | ColType::Decimal => {
            plain_string(tok)?;
            out.extend_from_slice(tok.as_bytes());
        }
        ColType::Int => {
            int(tok)?;
            out.extend_from_slice(tok.as_bytes());
        }
        ColType::Bool => out.extend_from_slice(match tok {
            "true" | "1" => b"true",
            "false" | "0" => b"false",
            _ => return None,
        }),
        ColType::Timestamp => {
            let ts = parse_timestamp(plain_string(tok)?)?;
            out.push(b'"');
            push_timestamp(out, ts, 'T', Fraction::Micros)?;
            out.push(b'"');
        }
        ColType::Date => {
            date(tok)?;
            out.extend_from_slice(tok.as_bytes());
        }
        ColType::Blob => {
            let s = plain_string(tok)?;
            if s.len() % 2 != 0 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            out.extend_from_slice(tok.as_bytes());
        }
        // serde_json's float spelling decides; rare in Holdfast's schema.
        ColType::Real => return None,
    }
    Some(())
}
