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
