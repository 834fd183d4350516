//! The web layer reaches client data only through `access::Gate`: no handler
//! imports the diesel schema or calls the domain's data functions directly.
//! (The domain functions also require an `access::Scope`, which only the access
//! layer can construct; this test guards the schema side.)

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn web_does_not_touch_client_tables_or_domain_data_functions() {
    let mut files = vec![];
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
        &mut files,
    );
    assert!(files.len() > 5);
    let forbidden = [
        "store::schema",
        "schema::clients",
        "schema::timeline_entries",
        "schema::client_contacts",
        "crm::clients::",
        "crm::timeline::",
        "crm::intake::record",
        "diesel::",
    ];
    let mut hits = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for pat in forbidden {
                if line.contains(pat) {
                    hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "web reaches around the access gate:\n{}",
        hits.join("\n")
    );
}

/// Every user-visible string goes through the translation layer: templates hold
/// no literal words, only Fluent lookups.
#[test]
fn templates_hold_no_untranslated_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut problems = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        // Drop template code, comments, tags, then entities.
        for (open, close) in [
            ("{#", "#}"),
            ("{{", "}}"),
            ("{%", "%}"),
            ("<script", "</script>"),
            ("<", ">"),
        ] {
            while let Some(start) = text.find(open) {
                let Some(len) = text[start..].find(close) else {
                    break;
                };
                text.replace_range(start..start + len + close.len(), " ");
            }
        }
        for raw in text.split_whitespace() {
            if raw.starts_with('&') && raw.ends_with(';') {
                continue;
            }
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if word.chars().any(char::is_alphabetic) {
                problems.push(format!("{}: `{word}`", path.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "literal text in templates:\n{}",
        problems.join("\n")
    );
}

/// Key and account management is reached only through `access::AdminGate`, which
/// checks role, hardware-key elevation and step-up: handlers never call the
/// underlying functions themselves.
#[test]
fn web_manages_keys_and_users_only_through_the_admin_gate() {
    let mut files = vec![];
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
        &mut files,
    );
    let forbidden = [
        "service::revoke",
        "service::issue_code",
        "service::get_key",
        "users::disable",
        "Cleared",
    ];
    let mut hits = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for pat in forbidden {
                if line.contains(pat) {
                    hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "web reaches around the admin gate:\n{}",
        hits.join("\n")
    );
}
