//! Export files: CSV (UTF-8 with BOM, formula injection neutralised), XLSX (every
//! cell a string, so nothing is ever evaluated) and JSON.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::crm::export::{DealExportRow, ExportRow, FileRows, InvoiceExportRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Json => "application/json",
        }
    }
}

/// A record an export file holds: its columns, its cells, its sheet's name.
pub trait FileRecord: Serialize {
    const SHEET: &'static str;
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

fn opt(o: &Option<String>) -> String {
    o.clone().unwrap_or_default()
}

impl FileRecord for ExportRow {
    const SHEET: &'static str = "clients";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "kind",
        "name",
        "company",
        "status",
        "phones",
        "emails",
        "address",
        "tags",
        "owner",
        "team",
        "source",
        "created_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.kind.clone(),
            self.name.clone(),
            opt(&self.company),
            self.status.clone(),
            self.phones.join("; "),
            self.emails.join("; "),
            opt(&self.address),
            self.tags.join("; "),
            opt(&self.owner),
            opt(&self.team),
            opt(&self.source),
            self.created_at.clone(),
        ]
    }
}

impl FileRecord for DealExportRow {
    const SHEET: &'static str = "deals";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "title",
        "stage",
        "amount",
        "currency",
        "expected_close",
        "owner",
        "client",
        "client_phones",
        "client_emails",
        "created_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.title.clone(),
            self.stage.clone(),
            self.amount.clone(),
            self.currency.clone(),
            opt(&self.expected_close),
            opt(&self.owner),
            self.client.clone(),
            self.client_phones.join("; "),
            self.client_emails.join("; "),
            self.created_at.clone(),
        ]
    }
}

impl FileRecord for InvoiceExportRow {
    const SHEET: &'static str = "invoices";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "kind",
        "number",
        "status",
        "currency",
        "total",
        "paid",
        "outstanding",
        "issued_on",
        "due_on",
        "client",
        "client_phones",
        "client_emails",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.kind.clone(),
            opt(&self.number),
            self.status.clone(),
            self.currency.clone(),
            self.total.clone(),
            self.paid.clone(),
            self.outstanding.clone(),
            opt(&self.issued_on),
            opt(&self.due_on),
            self.client.clone(),
            self.client_phones.join("; "),
            self.client_emails.join("; "),
        ]
    }
}

/// Characters that make a spreadsheet read a cell as a formula (with their
/// full-width forms, which some spreadsheet locales accept too).
const FORMULA_START: &[char] = &['=', '+', '-', '@', '＝', '＋', '－', '＠'];

/// A CSV cell that no spreadsheet will evaluate: a cell that starts with a
/// formula character, a tab or a carriage return (also after leading
/// whitespace) gets a leading apostrophe, as OWASP recommends.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let dangerous =
        cell.starts_with(['\t', '\r', '\n']) || cell.trim_start().starts_with(FORMULA_START);
    if dangerous {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("export file: {0}")]
pub struct FormatError(String);

/// The file of an export's rows, whichever kind they are.
pub fn render_rows(format: Format, rows: &FileRows) -> Result<Vec<u8>, FormatError> {
    match rows {
        FileRows::Clients(r) => render(format, r),
        FileRows::Deals(r) => render(format, r),
        FileRows::Invoices(r) => render(format, r),
    }
}

pub fn render<R: FileRecord>(format: Format, rows: &[R]) -> Result<Vec<u8>, FormatError> {
    match format {
        Format::Csv => csv(rows),
        Format::Xlsx => xlsx(rows),
        Format::Json => serde_json::to_vec_pretty(rows).map_err(|e| FormatError(e.to_string())),
    }
}

fn csv<R: FileRecord>(rows: &[R]) -> Result<Vec<u8>, FormatError> {
    // The byte-order mark makes spreadsheet programs read the file as UTF-8, so
    // Georgian, Arabic or Cyrillic names arrive intact.
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = ::csv::WriterBuilder::new()
            .quote_style(::csv::QuoteStyle::Necessary)
            .from_writer(&mut out);
        w.write_record(R::COLUMNS)
            .map_err(|e| FormatError(e.to_string()))?;
        for r in rows {
            let cells = r.cells();
            w.write_record(cells.iter().map(|c| neutralise(c).into_owned()))
                .map_err(|e| FormatError(e.to_string()))?;
        }
        w.flush().map_err(|e| FormatError(e.to_string()))?;
    }
    Ok(out)
}

fn xlsx<R: FileRecord>(rows: &[R]) -> Result<Vec<u8>, FormatError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| FormatError(e.to_string());
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(R::SHEET).map_err(err)?;
    let bold = CellFormat::new().set_bold();
    for (col, name) in R::COLUMNS.iter().enumerate() {
        let col = u16::try_from(col).map_err(|e| FormatError(e.to_string()))?;
        sheet
            .write_string_with_format(0, col, *name, &bold)
            .map_err(err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|e| FormatError(e.to_string()))?;
        for (col, cell) in r.cells().iter().enumerate() {
            let col = u16::try_from(col).map_err(|e| FormatError(e.to_string()))?;
            // Strings only: a spreadsheet never evaluates a string cell.
            sheet.write_string(row, col, cell).map_err(err)?;
        }
    }
    book.save_to_buffer().map_err(err)
}

/// The text of an export file, for tracing: CSV and JSON as they are, an XLSX's
/// shared strings and sheets unzipped.
pub fn text_of(bytes: &[u8]) -> String {
    if bytes.starts_with(b"PK")
        && let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes))
    {
        let mut text = String::new();
        for i in 0..zip.len() {
            use std::io::Read;
            let Ok(mut entry) = zip.by_index(i) else {
                continue;
            };
            if !entry.name().is_ok_and(|n| n.ends_with(".xml")) {
                continue;
            }
            let mut part = String::new();
            // A bounded read: a crafted archive must not exhaust memory.
            if (&mut entry)
                .take(64 * 1024 * 1024)
                .read_to_string(&mut part)
                .is_ok()
            {
                text.push_str(&part);
                text.push('\n');
            }
        }
        return text;
    }
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> ExportRow {
        ExportRow {
            id: "id-1".into(),
            kind: "person".into(),
            name: name.into(),
            company: Some("=HYPERLINK(\"http://evil\")".into()),
            status: "new".into(),
            phones: vec!["+995 599 12 34 56".into()],
            emails: vec!["a@example.com".into()],
            address: Some("  @SUM(1+1)".into()),
            tags: vec!["-2+3".into()],
            owner: Some("Nino".into()),
            team: None,
            source: Some("\tcmd".into()),
            created_at: "2026-11-22".into(),
        }
    }

    #[test]
    fn formula_cells_are_neutralised_also_after_whitespace() {
        for bad in [
            "=1+1",
            "+1",
            "-1",
            "@A1",
            "\t=1",
            "\r=1",
            "  =cmd|' /C calc'!A0",
            " \u{a0}@x",
            "＝1",
        ] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        for fine in ["Nino", "ნინო ბერიძე", "محمد", "Ólafur", "a=b", "1-2"]
        {
            assert_eq!(neutralise(fine), fine);
        }
    }

    #[test]
    fn csv_is_utf8_with_bom_and_no_cell_starts_a_formula() {
        let bytes = render(Format::Csv, &[row("ნინო ბერიძე"), row("Алексей Ильич")]).unwrap();
        assert!(bytes.starts_with("\u{feff}".as_bytes()));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(text.contains("ნინო ბერიძე") && text.contains("Алексей Ильич"));
        let mut r = ::csv::Reader::from_reader(text.as_bytes());
        for rec in r.records() {
            for cell in rec.unwrap().iter() {
                assert!(
                    !cell.trim_start().starts_with(FORMULA_START) && !cell.starts_with('\t'),
                    "{cell:?}"
                );
            }
        }
    }

    #[test]
    fn xlsx_and_json_carry_the_names() {
        let x = render(Format::Xlsx, &[row("محمد الأحمد")]).unwrap();
        assert!(x.starts_with(b"PK"));
        assert!(text_of(&x).contains("محمد الأحمد"));
        let j = render(Format::Json, &[row("Ólafur Þórsson")]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v[0]["name"], "Ólafur Þórsson");
    }
}
