//! Rows in and out of a database as JSON lines, one table at a time, streamed.
//!
//! Each database turns a row into a JSON array itself (`json_array` in SQLite,
//! `json_build_array` in PostgreSQL), so one text column carries any table; here
//! every value is then brought to the archive's canonical form (FORMAT.md), which
//! is the same whichever backend wrote it. On restore a batch of rows goes back as
//! one multi-row INSERT with every value bound as a parameter of its type.

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::Value;

use super::BackupError;
use super::catalog::{ColType, Table, check_ident};
use crate::store::{Backend, DbConn};

const FETCH: usize = 2000;
const INSERT_BATCH: usize = 500;

#[derive(QueryableByName)]
struct RowText {
    #[diesel(sql_type = Text)]
    r: String,
}

fn select_sql(backend: Backend, t: &Table) -> Result<String, BackupError> {
    check_ident(&t.name)?;
    let mut exprs = Vec::with_capacity(t.columns.len());
    for c in &t.columns {
        check_ident(&c.name)?;
        let q = format!("\"{}\"", c.name);
        exprs.push(match (backend, c.ty) {
            (Backend::Sqlite, ColType::Blob) => {
                format!("CASE WHEN {q} IS NULL THEN NULL ELSE lower(hex({q})) END")
            }
            (Backend::Sqlite, ColType::Decimal) => format!("CAST({q} AS TEXT)"),
            (Backend::Postgres, ColType::Blob) => format!("encode({q}, 'hex')"),
            (Backend::Postgres, ColType::Decimal) => format!("{q}::text"),
            _ => q,
        });
    }
    if t.columns.len() > 100 {
        return Err(BackupError::Schema(format!(
            "table {} has more than 100 columns",
            t.name
        )));
    }
    let order: Vec<String> = if t.primary_key.is_empty() {
        t.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        t.primary_key.clone()
    };
    let order: Vec<String> = order
        .iter()
        .map(|n| {
            let text = t
                .columns
                .iter()
                .any(|c| c.name == *n && c.ty == ColType::Text);
            // Byte order for text on both backends (SQLite's BINARY is bytes).
            if backend == Backend::Postgres && text {
                format!("\"{n}\" COLLATE \"C\"")
            } else {
                format!("\"{n}\"")
            }
        })
        .collect();
    Ok(match backend {
        Backend::Sqlite => format!(
            "SELECT json_array({}) AS r FROM \"{}\" ORDER BY {}",
            exprs.join(", "),
            t.name,
            order.join(", ")
        ),
        Backend::Postgres => format!(
            "SELECT json_build_array({})::text AS r FROM \"{}\" ORDER BY {}",
            exprs.join(", "),
            t.name,
            order.join(", ")
        ),
    })
}

fn bad(t: &Table, col: &str, v: &Value) -> BackupError {
    BackupError::Schema(format!(
        "table {}: column {col} holds {v}, which is not its declared type",
        t.name
    ))
}

pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    fixed_timestamp(s).or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    })
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f…]` (up to nine digits), the only spellings the
/// backends write, read without chrono's format interpreter: that interpreter
/// was a tenth of a backup's time. Anything else goes the general way.
fn fixed_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match b.len() {
        19 => 0,
        n if n > 20 && n <= 29 && b[19] == b'.' => (n..29).fold(num(20..n)?, |acc, _| acc * 10),
        _ => return None,
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)?.and_hms_nano_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        nanos,
    )
}

/// How many fraction digits a written timestamp has.
#[derive(Clone, Copy)]
pub(crate) enum Fraction {
    /// Always six (the archive's canonical form, `%.6f`).
    Micros,
    /// None, three, six or nine, the fewest that hold it (chrono's `%.f`, which
    /// is how diesel writes timestamps into SQLite).
    Shortest,
}

/// The timestamp as `YYYY-MM-DD{sep}HH:MM:SS.ffffff`, written by hand for the
/// same reason as `fixed_timestamp`; years outside 0..=9999 and leap seconds go
/// through chrono.
pub(crate) fn timestamp_text(ts: NaiveDateTime, sep: char, fraction: Fraction) -> String {
    let mut out = Vec::with_capacity(29);
    match push_timestamp(&mut out, ts, sep, fraction).map(|_| String::from_utf8(out)) {
        Some(Ok(s)) => s,
        _ => {
            let f = match fraction {
                Fraction::Micros => "%.6f",
                Fraction::Shortest => "%.f",
            };
            ts.format(&format!("%Y-%m-%d{sep}%H:%M:%S{f}")).to_string()
        }
    }
}

/// `timestamp_text` appended to `out`; None (nothing written) for what only
/// chrono spells right: years outside 0..=9999, leap seconds.
pub(crate) fn push_timestamp(
    out: &mut Vec<u8>,
    ts: NaiveDateTime,
    sep: char,
    fraction: Fraction,
) -> Option<()> {
    use chrono::{Datelike, Timelike};
    let year = ts.year();
    if !(0..=9999).contains(&year) || ts.nanosecond() >= 1_000_000_000 || !sep.is_ascii() {
        return None;
    }
    fn digits(out: &mut Vec<u8>, n: u32, width: usize) {
        let mut buf = [b'0'; 9];
        let mut n = n;
        for slot in buf[..width].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&buf[..width]);
    }
    digits(out, year.unsigned_abs(), 4);
    out.push(b'-');
    digits(out, ts.month(), 2);
    out.push(b'-');
    digits(out, ts.day(), 2);
    out.push(sep as u8);
    digits(out, ts.hour(), 2);
    out.push(b':');
    digits(out, ts.minute(), 2);
    out.push(b':');
    digits(out, ts.second(), 2);
    let nanos = ts.nanosecond();
    match fraction {
        Fraction::Micros => {
            out.push(b'.');
            digits(out, nanos / 1_000, 6);
        }
        Fraction::Shortest if nanos == 0 => {}
        Fraction::Shortest if nanos.is_multiple_of(1_000_000) => {
            out.push(b'.');
            digits(out, nanos / 1_000_000, 3);
        }
        Fraction::Shortest if nanos.is_multiple_of(1_000) => {
            out.push(b'.');
            digits(out, nanos / 1_000, 6);
        }
        Fraction::Shortest => {
            out.push(b'.');
            digits(out, nanos, 9);
        }
    }
    Some(())
}

/// One value in the archive's canonical form.
fn canonical(t: &Table, col: &str, ty: ColType, v: Value) -> Result<Value, BackupError> {
    if v.is_null() {
        return Ok(v);
    }
    let out = match ty {
        ColType::Text | ColType::Decimal => match v {
            Value::String(_) => v,
            other => return Err(bad(t, col, &other)),
        },
        ColType::Int => match v.as_i64() {
            Some(n) => Value::from(n),
            None => return Err(bad(t, col, &v)),
        },
        ColType::Bool => match &v {
            Value::Bool(_) => v,
            Value::Number(n) if n.as_i64() == Some(0) => Value::Bool(false),
            Value::Number(n) if n.as_i64() == Some(1) => Value::Bool(true),
            _ => return Err(bad(t, col, &v)),
        },
        ColType::Timestamp => match v.as_str().and_then(parse_timestamp) {
            Some(ts) => Value::String(timestamp_text(ts, 'T', Fraction::Micros)),
            None => return Err(bad(t, col, &v)),
        },
        ColType::Date => match v
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        {
            Some(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            None => return Err(bad(t, col, &v)),
        },
        ColType::Blob => match v.as_str() {
            Some(s) if hex::decode(s).is_ok() => Value::String(s.to_ascii_lowercase()),
            _ => return Err(bad(t, col, &v)),
        },
        ColType::Real => match v.as_f64() {
            Some(_) => v,
            None => return Err(bad(t, col, &v)),
        },
    };
    Ok(out)
}

/// One row as a canonical line: the byte-copying path when it can decide,
/// otherwise `write_row_general`.
fn write_row(
    t: &Table,
    raw: &str,
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
) -> Result<(), BackupError> {
    buf.clear();
    if super::fastrow::line(t, raw, buf).is_some() {
        return out
            .write_all(buf)
            .map_err(|e| BackupError::Io(format!("writing table {}: {e}", t.name)));
    }
    write_row_general(t, raw, out)
}

fn write_row_general(t: &Table, raw: &str, out: &mut dyn Write) -> Result<(), BackupError> {
    let values: Vec<Value> = serde_json::from_str(raw)
        .map_err(|e| BackupError::Schema(format!("table {}: row is not JSON: {e}", t.name)))?;
    if values.len() != t.columns.len() {
        return Err(BackupError::Schema(format!(
            "table {}: a row has {} values for {} columns",
            t.name,
            values.len(),
            t.columns.len()
        )));
    }
    let canon = values
        .into_iter()
        .zip(&t.columns)
        .map(|(v, c)| canonical(t, &c.name, c.ty, v))
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_writer(&mut *out, &canon)
        .map_err(|e| BackupError::Io(format!("writing table {}: {e}", t.name)))?;
    out.write_all(b"\n")
        .map_err(|e| BackupError::Io(format!("writing table {}: {e}", t.name)))?;
    Ok(())
}

/// Writes every row of `t` as JSON lines; returns the row count. On PostgreSQL
/// the caller holds the snapshot transaction (a cursor needs one).
pub fn dump(conn: &mut DbConn, t: &Table, out: &mut dyn Write) -> Result<u64, BackupError> {
    let sql = select_sql(conn.backend(), t)?;
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(1024);
    match conn {
        DbConn::Sqlite(c) => {
            // SQLite steps through the result row by row: bounded memory.
            let iter = diesel::sql_query(sql).load_iter::<RowText, DefaultLoadingMode>(c)?;
            for row in iter {
                write_row(t, &row?.r, &mut buf, out)?;
                n += 1;
            }
        }
        DbConn::Pg(_) => {
            diesel::sql_query(format!("DECLARE hf_backup NO SCROLL CURSOR FOR {sql}"))
                .execute(conn)?;
            loop {
                let batch: Vec<RowText> =
                    diesel::sql_query(format!("FETCH FORWARD {FETCH} FROM hf_backup"))
                        .load(conn)?;
                let len = batch.len();
                for row in batch {
                    write_row(t, &row.r, &mut buf, out)?;
                    n += 1;
                }
                if len < FETCH {
                    break;
                }
            }
            diesel::sql_query("CLOSE hf_backup").execute(conn)?;
        }
    }
    Ok(n)
}

/// PostgreSQL's name for a column type: every parameter is cast to it, so a NULL
/// (bound as text) and a value bound in its Rust type land the same way.
fn pg_type(ty: ColType) -> &'static str {
    match ty {
        ColType::Text => "text",
        ColType::Int => "bigint",
        ColType::Bool => "boolean",
        ColType::Timestamp => "timestamp",
        ColType::Date => "date",
        ColType::Blob => "bytea",
        ColType::Real => "double precision",
        ColType::Decimal => "numeric",
    }
}

/// One value on its way into a database, bound as a parameter of its own type.
#[derive(Debug, PartialEq)]
pub(super) enum Cell {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Real(f64),
    Blob(Vec<u8>),
}

/// At most this many parameters in one statement (SQLite allows 32766,
/// PostgreSQL 65535).
const MAX_PARAMS: usize = 30_000;

/// Inserts rows (canonical JSON arrays, in archive order) in batches: one
/// multi-row `INSERT … VALUES` per batch with every value bound directly (the
/// database no longer unpacks a JSON document per batch).
pub struct Inserter<'a> {
    table: &'a Table,
    backend: Backend,
    head: String,
    conflict: String,
    batch: Vec<Cell>,
    batch_rows: usize,
    max_rows: usize,
    /// The statement for a full batch, made once.
    full_sql: Option<String>,
    pub rows: u64,
}

impl<'a> Inserter<'a> {
    pub fn new(backend: Backend, table: &'a Table, upsert: bool) -> Result<Self, BackupError> {
        check_ident(&table.name)?;
        let cols: Vec<String> = table
            .columns
            .iter()
            .map(|c| check_ident(&c.name).map(|_| format!("\"{}\"", c.name)))
            .collect::<Result<_, _>>()?;
        let conflict = if upsert && !table.primary_key.is_empty() {
            let keys: Vec<String> = table
                .primary_key
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect();
            let sets: Vec<String> = table
                .columns
                .iter()
                .filter(|c| !table.primary_key.contains(&c.name))
                .map(|c| format!("\"{0}\" = excluded.\"{0}\"", c.name))
                .collect();
            if sets.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    keys.join(", "),
                    sets.join(", ")
                )
            }
        } else {
            String::new()
        };
        let width = table.columns.len().max(1);
        Ok(Inserter {
            table,
            backend,
            head: format!(
                "INSERT INTO \"{}\" ({}) VALUES ",
                table.name,
                cols.join(", ")
            ),
            conflict,
            batch: Vec::with_capacity(MAX_PARAMS.min(INSERT_BATCH * width)),
            batch_rows: 0,
            max_rows: (MAX_PARAMS / width).clamp(1, INSERT_BATCH),
            full_sql: None,
            rows: 0,
        })
    }

    fn sql(&self, rows: usize) -> String {
        let width = self.table.columns.len();
        let mut sql = String::with_capacity(self.head.len() + rows * width * 16);
        sql.push_str(&self.head);
        let mut n = 0usize;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (i, c) in self.table.columns.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                match self.backend {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => {
                        sql.push_str(&format!("${n}::{}", pg_type(c.ty)));
                    }
                }
            }
            sql.push(')');
        }
        sql.push_str(&self.conflict);
        sql
    }

    /// Takes one JSON line from the archive; checks it against the column types.
    pub fn push(&mut self, conn: &mut DbConn, line: &[u8]) -> Result<(), BackupError> {
        let start = self.batch.len();
        let fast = std::str::from_utf8(line)
            .ok()
            .and_then(|raw| super::fastrow::cells(self.table, self.backend, raw, &mut self.batch));
        if fast.is_none() {
            self.batch.truncate(start);
            self.push_general(line)?;
        }
        self.batch_rows += 1;
        self.rows += 1;
        if self.batch_rows >= self.max_rows {
            self.flush(conn)?;
        }
        Ok(())
    }

    /// The general path: every value through `canonical`, which decides and
    /// reports what the fast path left.
    fn push_general(&mut self, line: &[u8]) -> Result<(), BackupError> {
        let values: Vec<Value> = serde_json::from_slice(line).map_err(|e| {
            BackupError::Archive(format!(
                "table {} row {}: not a JSON array: {e}",
                self.table.name,
                self.rows + 1
            ))
        })?;
        if values.len() != self.table.columns.len() {
            return Err(BackupError::Archive(format!(
                "table {} row {}: {} values for {} columns",
                self.table.name,
                self.rows + 1,
                values.len(),
                self.table.columns.len()
            )));
        }
        for (v, c) in values.into_iter().zip(&self.table.columns) {
            let v = canonical(self.table, &c.name, c.ty, v)?;
            let cell = self.cell(c.ty, v);
            self.batch.push(cell);
        }
        Ok(())
    }

    /// A canonical value as the target stores it.
    fn cell(&self, ty: ColType, v: Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => match (ty, n.as_i64()) {
                (ColType::Int, Some(i)) => Cell::Int(i),
                _ => Cell::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => match ty {
                // Checked as hex by `canonical`.
                ColType::Blob => Cell::Blob(hex::decode(&s).unwrap_or_default()),
                // SQLite keeps timestamps as text in diesel's own spelling;
                // writing the same spelling keeps text comparisons in queries right.
                ColType::Timestamp if self.backend == Backend::Sqlite => Cell::Text(
                    parse_timestamp(&s)
                        .map(|ts| timestamp_text(ts, ' ', Fraction::Shortest))
                        .unwrap_or(s),
                ),
                _ => Cell::Text(s),
            },
            other => Cell::Text(other.to_string()),
        }
    }

    pub fn flush(&mut self, conn: &mut DbConn) -> Result<(), BackupError> {
        use diesel::sql_types::{BigInt, Binary, Bool, Double, Nullable};
        if self.batch_rows == 0 {
            return Ok(());
        }
        let sql = if self.batch_rows == self.max_rows {
            if self.full_sql.is_none() {
                self.full_sql = Some(self.sql(self.max_rows));
            }
            self.full_sql.clone().unwrap_or_default()
        } else {
            self.sql(self.batch_rows)
        };
        let cells = std::mem::take(&mut self.batch);
        self.batch_rows = 0;
        macro_rules! run {
            ($c:expr, $db:ty) => {{
                let mut q = diesel::sql_query(sql).into_boxed::<$db>();
                for cell in cells {
                    q = match cell {
                        Cell::Null => q.bind::<Nullable<Text>, _>(None::<String>),
                        Cell::Text(s) => q.bind::<Text, _>(s),
                        Cell::Int(i) => q.bind::<BigInt, _>(i),
                        Cell::Bool(b) => q.bind::<Bool, _>(b),
                        Cell::Real(f) => q.bind::<Double, _>(f),
                        Cell::Blob(b) => q.bind::<Binary, _>(b),
                    };
                }
                q.execute($c)?
            }};
        }
        match conn {
            DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
            DbConn::Pg(c) => run!(c, diesel::pg::Pg),
        };
        self.batch = Vec::with_capacity(self.max_rows * self.table.columns.len());
        Ok(())
    }
}

/// Row count and SHA-256 of a table as the archive would hold it: the same
/// data gives the same digest on either backend. (PostgreSQL: call inside a
/// transaction.)
pub fn digest(conn: &mut DbConn, t: &Table) -> Result<(u64, String), BackupError> {
    let mut w = super::sink::Hashing::new(std::io::sink());
    let n = dump(conn, t, &mut w)?;
    let (_, sha) = w.finish();
    Ok((n, sha))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(ts: NaiveDateTime, sep: char, fraction: Fraction) -> String {
        let f = match fraction {
            Fraction::Micros => "%.6f",
            Fraction::Shortest => "%.f",
        };
        ts.format(&format!("%Y-%m-%d{sep}%H:%M:%S{f}")).to_string()
    }

    proptest! {
        #[test]
        fn hand_written_timestamps_match_chrono(
            secs in -62_000_000_000i64..253_000_000_000i64,
            nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
                                 (0u32..1_000_000).prop_map(|u| u * 1_000), 0u32..1_000_000_000],
        ) {
            let ts = chrono::DateTime::from_timestamp(secs, nanos).map(|d| d.naive_utc());
            prop_assume!(ts.is_some());
            let ts = ts.unwrap_or_default();
            for (sep, fraction) in [('T', Fraction::Micros), (' ', Fraction::Shortest)] {
                let text = timestamp_text(ts, sep, fraction);
                prop_assert_eq!(&text, &reference(ts, sep, fraction));
                let back = parse_timestamp(&text);
                let chrono_back = NaiveDateTime::parse_from_str(&text, &format!("%Y-%m-%d{sep}%H:%M:%S%.f")).ok();
                prop_assert_eq!(back, chrono_back);
            }
        }
    }

    fn token() -> impl Strategy<Value = (ColType, String)> {
        let q = |s: String| serde_json::to_string(&s).unwrap_or_default();
        prop_oneof![
            Just((ColType::Int, "null".to_string())),
            any::<i64>().prop_map(|n| (ColType::Int, n.to_string())),
            Just((ColType::Int, "-0".to_string())),
            Just((ColType::Int, "1.0".to_string())),
            any::<String>().prop_map(move |s| (ColType::Text, q(s))),
            "[a-zA-Z ]{0,12}".prop_map(move |s| (ColType::Decimal, q(s))),
            "[0-9a-f]{0,8}".prop_map(move |s| (ColType::Blob, q(s))),
            "[0-9A-F]{1,4}".prop_map(move |s| (ColType::Blob, q(s))),
            (0i64..253_000_000_000i64, 0u32..1_000_000_000, any::<bool>()).prop_map(
                move |(secs, nanos, sqlite)| {
                    let ts = chrono::DateTime::from_timestamp(secs, nanos)
                        .map(|d| d.naive_utc())
                        .unwrap_or_default();
                    let text = if sqlite {
                        timestamp_text(ts, ' ', Fraction::Shortest)
                    } else {
                        ts.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
                    };
                    (ColType::Timestamp, q(text))
                }
            ),
            "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}".prop_map(move |s| (ColType::Date, q(s))),
            prop_oneof![Just("0"), Just("1"), Just("true"), Just("false"), Just("2")]
                .prop_map(|s| (ColType::Bool, s.to_string())),
            Just((ColType::Real, "1.5".to_string())),
            Just((ColType::Text, "5".to_string())),
            Just((ColType::Int, "\"5\"".to_string())),
        ]
    }

    proptest! {
        #[test]
        fn the_byte_copying_path_writes_what_the_general_one_does(
            cells in prop::collection::vec(token(), 1..8),
            pg_style in any::<bool>(),
        ) {
            let t = Table {
                name: "t".into(),
                columns: cells
                    .iter()
                    .enumerate()
                    .map(|(i, (ty, _))| super::super::catalog::Column { name: format!("c{i}"), ty: *ty })
                    .collect(),
                primary_key: vec![],
            };
            let sep = if pg_style { ", " } else { "," };
            let raw = format!(
                "[{}]",
                cells.iter().map(|(_, tok)| tok.as_str()).collect::<Vec<_>>().join(sep)
            );
            let mut general = Vec::new();
            let g = write_row_general(&t, &raw, &mut general);
            let mut fast = Vec::new();
            if super::super::fastrow::line(&t, &raw, &mut fast).is_some() {
                prop_assert!(g.is_ok(), "{raw}: fast path accepted what the general one refuses");
                prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&general), "{}", raw);
            }
        }
    }

    proptest! {
        #[test]
        fn restored_values_are_the_same_by_either_path(
            cells in prop::collection::vec(token(), 1..8),
            sqlite in any::<bool>(),
        ) {
            let t = Table {
                name: "t".into(),
                columns: cells
                    .iter()
                    .enumerate()
                    .map(|(i, (ty, _))| super::super::catalog::Column { name: format!("c{i}"), ty: *ty })
                    .collect(),
                primary_key: vec![],
            };
            // Lines as the archive holds them, and some that are not canonical.
            let raw = format!(
                "[{}]",
                cells.iter().map(|(_, tok)| tok.as_str()).collect::<Vec<_>>().join(",")
            );
            let mut canonical_line = Vec::new();
            let lines = match write_row_general(&t, &raw, &mut canonical_line) {
                Ok(()) => vec![raw.clone(), String::from_utf8_lossy(canonical_line.trim_ascii_end()).into_owned()],
                Err(_) => vec![raw.clone()],
            };
            let backend = if sqlite { Backend::Sqlite } else { Backend::Postgres };
            for line in lines {
                let mut general = Inserter::new(backend, &t, false).unwrap();
                let g = general.push_general(line.as_bytes());
                let mut fast = Vec::new();
                if super::super::fastrow::cells(&t, backend, &line, &mut fast).is_some() {
                    prop_assert!(g.is_ok(), "{line}: fast path accepted what the general one refuses");
                    prop_assert_eq!(&fast, &general.batch, "{}", line);
                }
            }
        }
    }

    #[test]
    fn common_rows_take_the_byte_copying_paths() {
        use super::super::catalog::Column;
        let col = |name: &str, ty| Column {
            name: name.into(),
            ty,
        };
        let t = Table {
            name: "clients".into(),
            columns: vec![
                col("id", ColType::Text),
                col("n", ColType::Int),
                col("vip", ColType::Bool),
                col("at", ColType::Timestamp),
                col("day", ColType::Date),
                col("key", ColType::Blob),
                col("note", ColType::Text),
            ],
            primary_key: vec!["id".into()],
        };
        let sqlite = r#"["c-1",42,1,"2026-11-22 10:00:00.5","2026-12-01","00ff","ნინო"]"#;
        let pg = r#"["c-1", 42, true, "2026-11-22T10:00:00.5", "2026-12-01", "00ff", null]"#;
        let mut out = Vec::new();
        assert!(super::super::fastrow::line(&t, sqlite, &mut out).is_some());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "[\"c-1\",42,true,\"2026-11-22T10:00:00.500000\",\"2026-12-01\",\"00ff\",\"ნინო\"]\n"
        );
        out.clear();
        assert!(super::super::fastrow::line(&t, pg, &mut out).is_some());
        let mut cells = Vec::new();
        let line = String::from_utf8_lossy(out.trim_ascii_end()).into_owned();
        assert!(super::super::fastrow::cells(&t, Backend::Sqlite, &line, &mut cells).is_some());
        assert_eq!(cells[3], Cell::Text("2026-11-22 10:00:00.500".into()));
    }

    #[test]
    fn odd_spellings_are_refused_or_read_like_chrono() {
        for s in [
            "2026-11-22 10:00:00",
            "2026-11-22T10:00:00.5",
            "2026-11-22T10:00:00.123456789",
            "2026-02-30 10:00:00",
            "2026-11-22 24:00:00",
            "2026-11-22 10:00:00.",
            "2026-11-22 10:00:00.1234567890",
            "2026-11-22x10:00:00",
            "+2026-11-22 10:00:00",
            "2026-11-22 10:00:0a",
            "2026-11-22 10:00:60",
            "2026-11-22 23:59:60.5",
            "",
        ] {
            let chrono_read = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok());
            assert_eq!(parse_timestamp(s), chrono_read, "{s:?}");
        }
    }
}
