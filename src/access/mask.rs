//! Partial masking of contacts in lists: enough to recognise a number or an
//! address you already know, not enough to copy it. The full value comes only
//! through the card or a reveal, each its own audited, counted event.

const DOT: char = '•';

/// `+995 555 12 34 56` → `+995 ••• •• •• 56`: the country code (or first three
/// digits) and the last two digits stay, separators keep the shape.
pub fn phone(value: &str) -> String {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let keep_head = if digits > 7 { 3 } else { 0 };
    let keep_tail = 2.min(digits);
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= keep_head || seen > digits - keep_tail {
                c
            } else {
                DOT
            }
        })
        .collect()
}

/// `nino.beridze@example.ge` → `n•••@example.ge`: the first character of the
/// local part and the domain (the company, not the person) stay.
pub fn email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}{DOT}{DOT}{DOT}@{domain}")
        }
        None => value.chars().take(1).chain([DOT, DOT, DOT]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_head_and_tail_only() {
        assert_eq!(phone("+995 555 12 34 56"), "+995 ••• •• •• 56");
        assert_eq!(phone("555-1234"), "•••-••34");
        assert!(!phone("+7 912 345 67 89").contains("345"));
    }

    #[test]
    fn emails_keep_first_letter_and_domain() {
        assert_eq!(email("nino.beridze@example.ge"), "n•••@example.ge");
        assert_eq!(email("ёж@пример.рф"), "ё•••@пример.рф");
        assert_eq!(email("x"), "x•••");
    }
}
