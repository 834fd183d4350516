//! Full-text search over name, company, phones and emails: SQLite FTS5 or
//! PostgreSQL `tsvector` ('simple' configuration, no stemming, any script).

use super::contact;

const MAX_TERMS: usize = 8;
const MAX_TERM_CHARS: usize = 64;

/// The text indexed for a client. Emails are added whole and split into parts,
/// phones as E.164 digits and national digits, so that every backend finds
/// "nino@", "example", "+995 555" and "555 12" alike.
pub fn document(name: &str, company: Option<&str>, phones: &[String], emails: &[String]) -> String {
    let mut parts: Vec<String> = vec![name.to_string()];
    if let Some(c) = company {
        parts.push(c.to_string());
    }
    for p in phones {
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        parts.push(digits);
        if let Some(national) = contact::national_digits(p) {
            parts.push(national);
        }
    }
    for e in emails {
        parts.push(e.clone());
        parts.push(e.replace(['@', '.', '+', '-', '_'], " "));
    }
    parts.join(" ")
}

/// The words of a query: letters and digits of any script, lower-cased. A query
/// that looks like a phone number becomes one run of digits.
pub fn terms(query: &str) -> Vec<String> {
    let q = query.trim();
    let phone_like = q.chars().filter(char::is_ascii_digit).count() >= 3
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches("00").to_string();
        return vec![digits];
    }
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| t.to_lowercase().chars().take(MAX_TERM_CHARS).collect())
        .collect()
}

/// FTS5 MATCH expression: every term as a quoted prefix. Quoting makes FTS5
/// operators in user input plain text.
pub fn fts5_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// PostgreSQL's match of `clients` against a [`tsquery`] string bound between
/// the two halves. The query is folded like the indexed text (`holdfast_fold`,
/// migration `search_fold`: Latin diacritics ignored, as FTS5 does).
pub const PG_MATCH_OPEN: &str = "clients.search_tsv @@ to_tsquery('simple', holdfast_fold(";
pub const PG_MATCH_CLOSE: &str = "))";

/// `to_tsquery('simple', …)` expression: every term as a quoted prefix.
pub fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("'{}':*", t.replace('\\', "\\\\").replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_any_script() {
        assert_eq!(terms("ნინო ბერიძე"), vec!["ნინო", "ბერიძე"]);
        assert_eq!(terms("Şəhla, MƏMMƏDOVA"), vec!["şəhla", "məmmədova"]);
        assert_eq!(terms("+995 555 12-34"), vec!["9955551234"]);
        assert_eq!(
            terms("\"; DROP TABLE clients; --"),
            vec!["drop", "table", "clients"]
        );
        assert!(terms("  ").is_empty());
    }

    #[test]
    fn queries_are_quoted() {
        let t = vec!["o'brien".to_string(), "a\"b".to_string()];
        assert_eq!(fts5_query(&t), "\"o'brien\"* \"a\"\"b\"*");
        assert_eq!(tsquery(&t), "'o''brien':* & 'a\"b':*");
    }
}
