//! The CSV importer's reader on arbitrary bytes: it reads or refuses, never
//! panics, and what it reads keeps its promises (every row as wide as the
//! header, within the limits). Run with `cargo +nightly fuzz run import_csv`.
#![no_main]

use holdfast::crm::import_csv::{Limits, parse, suggest_mapping};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_rows: 1000,
        max_columns: 50,
        max_cell_chars: 5000,
    };
    if let Ok(p) = parse(data, None, &limits) {
        assert!(!p.rows.is_empty() && p.rows.len() <= limits.max_rows);
        assert!(p.headers.len() <= limits.max_columns);
        for (_, row) in &p.rows {
            assert_eq!(row.len(), p.headers.len());
        }
        assert_eq!(suggest_mapping(&p.headers).len(), p.headers.len());
    }
});
