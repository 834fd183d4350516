//! Reading an uploaded CSV file: the encoding (UTF-8 with or without a BOM,
//! UTF-16 LE/BE with a BOM; anything else is refused, never guessed), the
//! delimiter (comma, semicolon, tab or pipe), and the records, within limits.
//! Pure: no database, no clock. Cells are kept exactly as written (a cell that
//! looks like a spreadsheet formula is text, never evaluated).

use crate::i18n::Msg;

/// The delimiters we recognise, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many records the delimiter detection looks at.
const SAMPLE_RECORDS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_rows: usize,
    pub max_columns: usize,
    pub max_cell_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            // One commit is one transaction: about 1 ms a row on SQLite and 4 ms
            // on PostgreSQL here, so 5,000 rows hold the write lock for seconds.
            max_rows: 5_000,
            max_columns: 50,
            max_cell_chars: 5_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8 (BOM)",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }
}

/// A file that was read: its header and its non-blank data rows, each with the
/// row number a spreadsheet shows (the header is row 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub encoding: Encoding,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Why a file was refused. Every variant says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    TooLarge {
        max: usize,
    },
    HeaderOnly,
    Binary,
    InvalidUtf8 {
        line: usize,
    },
    Utf16Truncated,
    InvalidUtf16 {
        line: usize,
    },
    Ragged {
        row: usize,
        expected: usize,
        found: usize,
    },
    TooManyRows {
        max: usize,
    },
    TooManyColumns {
        found: usize,
        max: usize,
    },
    CellTooLong {
        row: usize,
        column: usize,
        max: usize,
    },
    Malformed {
        row: usize,
    },
    UnknownDelimiter,
}

impl ParseError {
    /// The message for the user (`locales/en/import.ftl`).
    pub fn msg(&self) -> Msg {
        match *self {
            ParseError::Empty => Msg::new("import-file-empty"),
            ParseError::TooLarge { max } => {
                Msg::new("import-file-too-large").arg("max", size_label(max))
            }
            ParseError::HeaderOnly => Msg::new("import-file-header-only"),
            ParseError::Binary => Msg::new("import-file-binary"),
            ParseError::InvalidUtf8 { line } => Msg::new("import-file-not-utf8").arg("line", line),
            ParseError::Utf16Truncated => Msg::new("import-file-utf16-truncated"),
            ParseError::InvalidUtf16 { line } => {
                Msg::new("import-file-not-utf16").arg("line", line)
            }
            ParseError::Ragged {
                row,
                expected,
                found,
            } => Msg::new("import-file-ragged")
                .arg("row", row)
                .arg("expected", expected)
                .arg("found", found),
            ParseError::TooManyRows { max } => {
                Msg::new("import-file-too-many-rows").arg("max", max)
            }
            ParseError::TooManyColumns { found, max } => Msg::new("import-file-too-many-columns")
                .arg("found", found)
                .arg("max", max),
            ParseError::CellTooLong { row, column, max } => Msg::new("import-file-cell-too-long")
                .arg("row", row)
                .arg("column", column)
                .arg("max", max),
            ParseError::Malformed { row } => Msg::new("import-file-malformed").arg("row", row),
            ParseError::UnknownDelimiter => Msg::new("import-file-delimiter"),
        }
    }
}

/// A size limit for people: "10 MB", "16 KB".
pub fn size_label(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= MB {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// 1-based line of a byte offset in `bytes` (counting `\n`).
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The text of the file and its encoding. A BOM decides; without one the file
/// must be valid UTF-8. NUL characters mean a binary file (or UTF-16 without a
/// BOM) and are refused.
pub fn decode(bytes: &[u8]) -> Result<(Encoding, String), ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let (encoding, text) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let text = std::str::from_utf8(rest).map_err(|e| ParseError::InvalidUtf8 {
            line: line_of(rest, e.valid_up_to()),
        })?;
        (Encoding::Utf8Bom, text.to_string())
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        (Encoding::Utf16Le, utf16(rest, u16::from_le_bytes)?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        (Encoding::Utf16Be, utf16(rest, u16::from_be_bytes)?)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 {
            line: line_of(bytes, e.valid_up_to()),
        })?;
        (Encoding::Utf8, text.to_string())
    };
    if text.contains('\0') {
        return Err(ParseError::Binary);
    }
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    Ok((encoding, text))
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, ParseError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ParseError::Utf16Truncated);
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut line = 1;
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => {
                if c == '\n' {
                    line += 1;
                }
                out.push(c);
            }
            Err(_) => return Err(ParseError::InvalidUtf16 { line }),
        }
    }
    Ok(out)
}

fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// The delimiter that splits most of the first records into as many fields as
/// the header (at least two), quotes respected; on a tie, the wider split. A file
/// of one column reads the same with any delimiter, and gets the comma.
pub fn detect_delimiter(text: &str) -> u8 {
    // (records with the header's width, the header's width, delimiter)
    let mut best: Option<(usize, usize, u8)> = None;
    for d in DELIMITERS {
        let mut counts = Vec::new();
        for rec in reader(text, d).records().take(SAMPLE_RECORDS) {
            match rec {
                Ok(r) => counts.push(r.len()),
                Err(_) => break,
            }
        }
        let Some(&width) = counts.first() else {
            continue;
        };
        if width < 2 {
            continue;
        }
        let same = counts.iter().filter(|&&n| n == width).count();
        if best.is_none_or(|(s, w, _)| (same, width) > (s, w)) {
            best = Some((same, width, d));
        }
    }
    best.map_or(b',', |(_, _, d)| d)
}

/// Reads the whole file: decoding, delimiter (detected unless given), the
/// header, and every data row. Rows whose cells are all blank are skipped;
/// every other row must have as many cells as the header.
pub fn parse(bytes: &[u8], delimiter: Option<u8>, limits: &Limits) -> Result<Parsed, ParseError> {
    if bytes.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            max: limits.max_bytes,
        });
    }
    let (encoding, text) = decode(bytes)?;
    let delimiter = match delimiter {
        Some(d) if DELIMITERS.contains(&d) => d,
        Some(_) => return Err(ParseError::UnknownDelimiter),
        None => detect_delimiter(&text),
    };
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut number = 0usize;
    for rec in reader(&text, delimiter).into_records() {
        number += 1;
        let rec = rec.map_err(|_| ParseError::Malformed { row: number })?;
        let cells: Vec<String> = rec.iter().map(str::to_string).collect();
        if cells.len() > limits.max_columns {
            return Err(ParseError::TooManyColumns {
                found: cells.len(),
                max: limits.max_columns,
            });
        }
        if let Some(column) = cells
            .iter()
            .position(|c| c.chars().count() > limits.max_cell_chars)
        {
            return Err(ParseError::CellTooLong {
                row: number,
                column: column + 1,
                max: limits.max_cell_chars,
            });
        }
        let Some(head) = &headers else {
            if cells.iter().all(|c| c.trim().is_empty()) {
                // Blank lines before the header.
                number -= 1;
                continue;
            }
            headers = Some(cells);
            continue;
        };
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if cells.len() != head.len() {
            return Err(ParseError::Ragged {
                row: number,
                expected: head.len(),
                found: cells.len(),
            });
        }
        if rows.len() >= limits.max_rows {
            return Err(ParseError::TooManyRows {
                max: limits.max_rows,
            });
        }
        rows.push((number, cells));
    }
    let Some(headers) = headers else {
        return Err(ParseError::Empty);
    };
    if rows.is_empty() {
        return Err(ParseError::HeaderOnly);
    }
    Ok(Parsed {
        encoding,
        delimiter,
        headers,
        rows,
    })
}

/// The client fields a column can be mapped to.
pub const FIELDS: [&str; 9] = [
    "name", "company", "kind", "status", "source", "address", "phone", "email", "tags",
];

/// Header words (lower case) that suggest a field, in several languages.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "name",
        &[
            "name",
            "full name",
            "fullname",
            "client",
            "client name",
            "customer",
            "contact",
            "contact name",
            "person",
            "имя",
            "фио",
            "клиент",
            "სახელი",
            "კლიენტი",
            "الاسم",
            "اسم",
            "العميل",
            "nom",
            "name des kunden",
            "nombre",
            "nome",
            "ad",
            "ad soyad",
            "ім'я",
            "піб",
        ],
    ),
    (
        "company",
        &[
            "company",
            "organisation",
            "organization",
            "business",
            "firm",
            "компания",
            "организация",
            "კომპანია",
            "الشركة",
            "شركة",
            "société",
            "firma",
            "unternehmen",
            "empresa",
            "azienda",
            "şirkət",
            "şirket",
        ],
    ),
    (
        "kind",
        &["kind", "type", "client type", "тип", "ტიპი", "النوع"],
    ),
    (
        "status",
        &["status", "state", "статус", "სტატუსი", "الحالة"],
    ),
    (
        "source",
        &[
            "source",
            "lead source",
            "channel",
            "источник",
            "წყარო",
            "المصدر",
            "quelle",
        ],
    ),
    (
        "address",
        &[
            "address",
            "street",
            "адрес",
            "მისამართი",
            "العنوان",
            "adresse",
            "dirección",
            "indirizzo",
            "ünvan",
            "adres",
        ],
    ),
    (
        "phone",
        &[
            "phone",
            "telephone",
            "tel",
            "mobile",
            "cell",
            "phone number",
            "телефон",
            "мобильный",
            "ტელეფონი",
            "მობილური",
            "الهاتف",
            "هاتف",
            "جوال",
            "téléphone",
            "telefon",
            "teléfono",
            "telefono",
        ],
    ),
    (
        "email",
        &[
            "email",
            "e-mail",
            "mail",
            "email address",
            "почта",
            "электронная почта",
            "ელფოსტა",
            "ელ-ფოსტა",
            "البريد الإلكتروني",
            "البريد",
            "courriel",
            "correo",
            "e-posta",
            "e-poçt",
        ],
    ),
    (
        "tags",
        &["tags", "tag", "labels", "теги", "тэги", "თეგები", "الوسوم"],
    ),
];

/// A suggested field for each column (`None`: ignore), from the header words.
/// A field other than phone and email is suggested for one column only.
pub fn suggest_mapping(headers: &[String]) -> Vec<Option<&'static str>> {
    let mut used: Vec<&'static str> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let key: String = h
                .trim()
                .trim_start_matches('\u{feff}')
                .to_lowercase()
                .chars()
                .map(|c| if c == '_' { ' ' } else { c })
                .collect();
            let key = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
            let field = SYNONYMS
                .iter()
                .find(|(_, words)| words.contains(&key))
                .map(|(f, _)| *f)?;
            if matches!(field, "phone" | "email") || !used.contains(&field) {
                used.push(field);
                Some(field)
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write(records: &[Vec<String>], delimiter: u8) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(Vec::new());
        for r in records {
            w.write_record(r).unwrap();
        }
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    fn encode(text: &str, enc: Encoding) -> Vec<u8> {
        match enc {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
            Encoding::Utf16Le => {
                let mut out = vec![0xFF, 0xFE];
                out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                out
            }
            Encoding::Utf16Be => {
                let mut out = vec![0xFE, 0xFF];
                out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
                out
            }
        }
    }

    fn encodings() -> impl Strategy<Value = Encoding> {
        prop_oneof![
            Just(Encoding::Utf8),
            Just(Encoding::Utf8Bom),
            Just(Encoding::Utf16Le),
            Just(Encoding::Utf16Be),
        ]
    }

    /// Cells with quotes, every delimiter, newlines and several scripts.
    fn any_cell() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            "[a-zA-Z0-9 \"',;|\t\r\n=+@()ნინობერიძემحمدعليИванПетровŞəhlaMəmmədovaÉéÜüØ‘]{0,14}",
        )
        .unwrap()
    }

    /// Cells without any candidate delimiter, for the detection property.
    fn plain_cell() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            "[a-zA-Z0-9 \"'\r\n=+@()ნინობერიძემحمدعليИванПетровŞəhlaMəmmədovaÉéÜüØ‘]{0,14}",
        )
        .unwrap()
    }

    fn table(cell: BoxedStrategy<String>) -> impl Strategy<Value = Vec<Vec<String>>> {
        (1usize..6).prop_flat_map(move |width| {
            let row = proptest::collection::vec(cell.clone(), width);
            // The header has at least one non-blank cell, and so does each data row
            // (rows whose cells are all blank are skipped by design).
            let non_blank = |r: &Vec<String>| r.iter().any(|c| !c.trim().is_empty());
            let header = row.clone().prop_filter("header", non_blank);
            let rows = proptest::collection::vec(row.prop_filter("row", non_blank), 1..8);
            (header, rows).prop_map(|(h, rs)| {
                let mut all = vec![h];
                all.extend(rs);
                all
            })
        })
    }

    fn check(records: &[Vec<String>], parsed: &Parsed) -> Result<(), TestCaseError> {
        prop_assert_eq!(&parsed.headers, &records[0]);
        let rows: Vec<Vec<String>> = parsed.rows.iter().map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(&rows[..], &records[1..]);
        let numbers: Vec<usize> = parsed.rows.iter().map(|(n, _)| *n).collect();
        let expected: Vec<usize> = (2..records.len() + 1).collect();
        prop_assert_eq!(numbers, expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the csv writer writes, with the delimiter named, in any supported
        /// encoding, reads back to the same records.
        #[test]
        fn written_files_read_back(
            records in table(any_cell().boxed()),
            d in proptest::sample::select(DELIMITERS.to_vec()),
            enc in encodings(),
        ) {
            let bytes = encode(&write(&records, d), enc);
            let parsed = parse(&bytes, Some(d), &Limits::default()).unwrap();
            prop_assert_eq!(parsed.encoding, enc);
            prop_assert_eq!(parsed.delimiter, d);
            check(&records, &parsed)?;
        }

        /// Without the delimiter named, it is detected when cells do not contain
        /// the other candidates.
        #[test]
        fn delimiters_are_detected(
            records in table(plain_cell().boxed()),
            d in proptest::sample::select(DELIMITERS.to_vec()),
            enc in encodings(),
        ) {
            let bytes = encode(&write(&records, d), enc);
            let parsed = parse(&bytes, None, &Limits::default()).unwrap();
            if records[0].len() > 1 {
                prop_assert_eq!(parsed.delimiter, d);
            }
            check(&records, &parsed)?;
        }

        /// Arbitrary bytes never panic; they are read or refused.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes, None, &Limits::default());
            let mut with_bom = vec![0xFF, 0xFE];
            with_bom.extend(&bytes);
            let _ = parse(&with_bom, None, &Limits::default());
        }

        /// Arbitrary text (any Unicode, controls included) never panics either.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}|[\\x00-\\x7f,;|\t\"\r\n]{0,200}") {
            let _ = parse(text.as_bytes(), None, &Limits::default());
        }
    }

    #[test]
    fn refusals_are_named() {
        let l = Limits::default();
        assert_eq!(parse(b"", None, &l), Err(ParseError::Empty));
        assert_eq!(parse(b"  \r\n\n", None, &l), Err(ParseError::Empty));
        assert_eq!(
            parse(b"name,phone\n", None, &l),
            Err(ParseError::HeaderOnly)
        );
        assert_eq!(
            parse(b"name\n\xC0\xAFbad\n", None, &l),
            Err(ParseError::InvalidUtf8 { line: 2 })
        );
        // Latin-1 (not UTF-8) is refused, not guessed.
        assert!(matches!(
            parse(b"name\nJos\xE9\n", None, &l),
            Err(ParseError::InvalidUtf8 { .. })
        ));
        assert_eq!(parse(b"a\0b\nc\n", None, &l), Err(ParseError::Binary));
        assert_eq!(
            parse(b"\xFF\xFEa\0b", None, &l),
            Err(ParseError::Utf16Truncated)
        );
        assert_eq!(
            parse(b"name,phone\nA,1\nB\n", None, &l),
            Err(ParseError::Ragged {
                row: 3,
                expected: 2,
                found: 1
            })
        );
        let small = Limits { max_bytes: 10, ..l };
        assert_eq!(
            parse(b"name\nabcdefghijk\n", None, &small),
            Err(ParseError::TooLarge { max: 10 })
        );
        let rows = Limits { max_rows: 1, ..l };
        assert_eq!(
            parse(b"name\na\nb\n", None, &rows),
            Err(ParseError::TooManyRows { max: 1 })
        );
        let cols = Limits {
            max_columns: 2,
            ..l
        };
        assert!(matches!(
            parse(b"a,b,c\n1,2,3\n", None, &cols),
            Err(ParseError::TooManyColumns { found: 3, max: 2 })
        ));
        let cells = Limits {
            max_cell_chars: 3,
            ..l
        };
        assert_eq!(
            parse(b"n\nabcd\n", None, &cells),
            Err(ParseError::CellTooLong {
                row: 2,
                column: 1,
                max: 3
            })
        );
        assert_eq!(
            parse(b"a\nb\n", Some(b'x'), &l),
            Err(ParseError::UnknownDelimiter)
        );
    }

    #[test]
    fn formulas_and_scripts_stay_text() {
        let file = "Name;Phone;Note\n\
                    ნინო ბერიძე;+995 555 12 34 56;=HYPERLINK(\"http://x\",\"y\")\n\
                    محمد علي;;@SUM(A1)\n\
                    Şəhla Məmmədova;;-1+1\n";
        let p = parse(file.as_bytes(), None, &Limits::default()).unwrap();
        assert_eq!(p.delimiter, b';');
        assert_eq!(p.rows[0].1[0], "ნინო ბერიძე");
        assert_eq!(p.rows[0].1[2], "=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(p.rows[1].1[0], "محمد علي");
        assert_eq!(p.rows[2].1[2], "-1+1");
    }

    #[test]
    fn mapping_is_suggested_in_several_languages() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            suggest_mapping(&h(&["Full Name", "E-mail", "Phone 2", "Phone", "Notes"])),
            vec![
                Some("name"),
                Some("email"),
                Some("phone"),
                Some("phone"),
                None
            ]
        );
        assert_eq!(
            suggest_mapping(&h(&["სახელი", "ტელეფონი", "Компания", "البريد الإلكتروني"])),
            vec![Some("name"), Some("phone"), Some("company"), Some("email")]
        );
        assert_eq!(
            suggest_mapping(&h(&["name", "client"])),
            vec![Some("name"), None]
        );
    }
}
