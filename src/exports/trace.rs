//! From a leaked file, or one seed email or phone that someone outside used,
//! back to the export it came from: the export, the user and the time.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde::Serialize;

use super::{Export, format, get, sha256_hex, view};
use crate::store::models::exports::{ExportRow, SeedRow};
use crate::store::schema::{export_seeds, exports};
use crate::store::{DbConn, StoreError};

/// What is known about the leak.
#[derive(Debug, Clone)]
pub enum Clue {
    Email(String),
    Phone(String),
    File(Vec<u8>),
}

impl Clue {
    /// For the audit log: the kind of clue and, for a file, its hash.
    pub fn describe(&self) -> serde_json::Value {
        match self {
            Clue::Email(e) => serde_json::json!({ "email": e }),
            Clue::Phone(p) => serde_json::json!({ "phone": p }),
            Clue::File(b) => serde_json::json!({ "file_sha256": sha256_hex(b), "bytes": b.len() }),
        }
    }
}

/// One export the clue points at, with the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub export: Export,
    /// The file is byte for byte the one that was downloaded.
    pub exact_file: bool,
    /// Seed emails and phones of this export found in the clue.
    pub matched: Vec<String>,
    /// How many of the export's seeds the clue contains, of how many.
    pub seeds_found: usize,
    pub seeds_total: usize,
}

pub fn normalize_email(e: &str) -> String {
    e.trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_lowercase()
}

/// `+` and digits; `None` unless it could be an international number.
pub fn normalize_phone(p: &str) -> Option<String> {
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("00").unwrap_or(&digits).to_string();
    (7..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

/// Candidate emails and phone numbers in a text.
fn candidates(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut emails = BTreeSet::new();
    let mut phones = BTreeSet::new();
    let is_email_char = |c: char| c.is_ascii_alphanumeric() || "._%+-@".contains(c);
    for token in text.split(|c: char| !is_email_char(c)) {
        if token.contains('@') {
            let t = token.trim_matches(|c: char| c == '.' || c == '-' || c == '+');
            emails.insert(normalize_email(t));
        }
    }
    // Runs of digits with the separators people write numbers with.
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_digit()
            || (!run.is_empty() && " -().".contains(c))
            || (run.is_empty() && c == '+')
        {
            run.push(c);
        } else {
            if let Some(p) = normalize_phone(&run) {
                phones.insert(p);
            }
            run.clear();
        }
    }
    (emails, phones)
}

fn seeds_matching(
    conn: &mut DbConn,
    emails: &BTreeSet<String>,
    phones: &BTreeSet<String>,
) -> Result<Vec<SeedRow>, StoreError> {
    let mut out = Vec::new();
    let emails: Vec<&String> = emails.iter().collect();
    for chunk in emails.chunks(500) {
        out.extend(
            export_seeds::table
                .filter(export_seeds::email.eq_any(chunk.iter().copied()))
                .select(SeedRow::as_select())
                .load(conn)?,
        );
    }
    let phones: Vec<&String> = phones.iter().collect();
    for chunk in phones.chunks(500) {
        out.extend(
            export_seeds::table
                .filter(export_seeds::phone.eq_any(chunk.iter().copied()))
                .select(SeedRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The exports a clue points at, best evidence first.
pub fn trace(conn: &mut DbConn, clue: &Clue) -> Result<Vec<Hit>, StoreError> {
    let mut exact: BTreeSet<String> = BTreeSet::new();
    let (emails, phones) = match clue {
        Clue::Email(e) => (BTreeSet::from([normalize_email(e)]), BTreeSet::new()),
        Clue::Phone(p) => (BTreeSet::new(), normalize_phone(p).into_iter().collect()),
        Clue::File(bytes) => {
            let sha = sha256_hex(bytes);
            let same: Vec<String> = exports::table
                .filter(exports::file_sha256.eq(&sha))
                .select(exports::id)
                .load(conn)?;
            exact.extend(same);
            candidates(&format::text_of(bytes))
        }
    };
    let found = seeds_matching(conn, &emails, &phones)?;
    let mut by_export: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seeds_hit: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in found {
        let mut evidence = Vec::new();
        if let Some(e) = s.email.as_ref().filter(|e| emails.contains(*e)) {
            evidence.push(e.clone());
        }
        if let Some(p) = s.phone.as_ref().filter(|p| phones.contains(*p)) {
            evidence.push(p.clone());
        }
        by_export
            .entry(s.export_id.clone())
            .or_default()
            .extend(evidence);
        seeds_hit.entry(s.export_id).or_default().insert(s.id);
    }
    for id in &exact {
        by_export.entry(id.clone()).or_default();
    }
    let mut hits = Vec::new();
    for (id, matched) in by_export {
        let Some(row): Option<ExportRow> = get(conn, &id)? else {
            continue;
        };
        let total: i64 = export_seeds::table
            .filter(export_seeds::export_id.eq(&id))
            .count()
            .get_result(conn)?;
        hits.push(Hit {
            exact_file: exact.contains(&id),
            seeds_found: seeds_hit.get(&id).map_or(0, BTreeSet::len),
            seeds_total: usize::try_from(total).unwrap_or(0),
            matched: matched.into_iter().collect(),
            export: view(conn, row)?,
        });
    }
    hits.sort_by_key(|h| std::cmp::Reverse((h.exact_file, h.seeds_found)));
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_find_emails_and_phones_as_people_write_them() {
        let (e, p) = candidates(
            "name,phones,emails\n\"Nino\",'+995 32 200-0123,Nino.Beridze4411@Trace.Example.com\n\
             x <a.b@c.org>; tel (0049) 30 1234567",
        );
        assert!(e.contains("nino.beridze4411@trace.example.com"), "{e:?}");
        assert!(e.contains("a.b@c.org"), "{e:?}");
        assert!(p.contains("+995322000123"), "{p:?}");
        assert!(p.contains("+49301234567"), "{p:?}");
    }
}
