//! Rows in and out of a database as JSON lines, one table at a time, streamed.
//!
//! Each database turns a row into a JSON array itself (`json_array` in SQLite,
//! `json_build_array` in PostgreSQL), so one text column carries any table; here
//! every value is then brought to the archive's canonical form (FORMAT.md), which
//! is the same whichever backend wrote it. On restore a batch of rows goes back as
//! one JSON parameter that the database unpacks (`json_each`,
//! `json_array_elements`).

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
    use chrono::{Datelike, Timelike};
    let year = ts.year();
    if !(0..=9999).contains(&year) || ts.nanosecond() >= 1_000_000_000 {
        let f = match fraction {
            Fraction::Micros => "%.6f",
            Fraction::Shortest => "%.f",
        };
        return ts.format(&format!("%Y-%m-%d{sep}%H:%M:%S{f}")).to_string();
    }
    fn digits(out: &mut String, n: u32, width: usize) {
        let mut buf = [b'0'; 9];
        let mut n = n;
        for slot in buf[..width].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend(buf[..width].iter().map(|&c| char::from(c)));
    }
    let mut out = String::with_capacity(29);
    digits(&mut out, year.unsigned_abs(), 4);
    out.push('-');
    digits(&mut out, ts.month(), 2);
    out.push('-');
    digits(&mut out, ts.day(), 2);
    out.push(sep);
    digits(&mut out, ts.hour(), 2);
    out.push(':');
    digits(&mut out, ts.minute(), 2);
    out.push(':');
    digits(&mut out, ts.second(), 2);
    let nanos = ts.nanosecond();
    match fraction {
        Fraction::Micros => {
            out.push('.');
            digits(&mut out, nanos / 1_000, 6);
        }
        Fraction::Shortest if nanos == 0 => {}
        Fraction::Shortest if nanos.is_multiple_of(1_000_000) => {
            out.push('.');
            digits(&mut out, nanos / 1_000_000, 3);
        }
        Fraction::Shortest if nanos.is_multiple_of(1_000) => {
            out.push('.');
            digits(&mut out, nanos / 1_000, 6);
        }
        Fraction::Shortest => {
            out.push('.');
            digits(&mut out, nanos, 9);
        }
    }
    out
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

fn write_row(t: &Table, raw: &str, out: &mut dyn Write) -> Result<(), BackupError> {
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
    match conn {
        DbConn::Sqlite(c) => {
            // SQLite steps through the result row by row: bounded memory.
            let iter = diesel::sql_query(sql).load_iter::<RowText, DefaultLoadingMode>(c)?;
            for row in iter {
                write_row(t, &row?.r, out)?;
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
                    write_row(t, &row.r, out)?;
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

/// The expression that turns element `i` of a JSON row back into a column value.
fn insert_expr(backend: Backend, i: usize, ty: ColType) -> String {
    match backend {
        Backend::Sqlite => {
            let x = format!("json_extract(r.value, '$[{i}]')");
            match ty {
                ColType::Blob => format!("unhex({x})"),
                _ => x,
            }
        }
        Backend::Postgres => {
            let x = format!("(r.value->>{i})");
            match ty {
                ColType::Text => x,
                ColType::Int => format!("{x}::bigint"),
                ColType::Bool => format!("{x}::boolean"),
                ColType::Timestamp => format!("{x}::timestamp"),
                ColType::Date => format!("{x}::date"),
                ColType::Blob => format!("decode({x}, 'hex')"),
                ColType::Real => format!("{x}::double precision"),
                ColType::Decimal => format!("{x}::numeric"),
            }
        }
    }
}

/// Inserts rows (canonical JSON arrays, in archive order) in batches.
pub struct Inserter<'a> {
    table: &'a Table,
    backend: Backend,
    sql: String,
    batch: Vec<Value>,
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
        let exprs: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| insert_expr(backend, i, c.ty))
            .collect();
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
        let sql = match backend {
            // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
            Backend::Sqlite => format!(
                "INSERT INTO \"{}\" ({}) SELECT {} FROM json_each(?) AS r WHERE true ORDER BY r.key{}",
                table.name,
                cols.join(", "),
                exprs.join(", "),
                conflict
            ),
            Backend::Postgres => format!(
                "INSERT INTO \"{}\" ({}) SELECT {} FROM json_array_elements($1::json) WITH ORDINALITY AS r(value, n) ORDER BY r.n{}",
                table.name,
                cols.join(", "),
                exprs.join(", "),
                conflict
            ),
        };
        Ok(Inserter {
            table,
            backend,
            sql,
            batch: Vec::with_capacity(INSERT_BATCH),
            rows: 0,
        })
    }

    /// Takes one JSON line from the archive; checks it against the column types.
    pub fn push(&mut self, conn: &mut DbConn, line: &[u8]) -> Result<(), BackupError> {
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
        let mut row = Vec::with_capacity(values.len());
        for (v, c) in values.into_iter().zip(&self.table.columns) {
            let v = canonical(self.table, &c.name, c.ty, v)?;
            // SQLite keeps timestamps as text in diesel's own spelling; writing the
            // same spelling keeps text comparisons in queries right.
            let v = match (self.backend, c.ty, &v) {
                (Backend::Sqlite, ColType::Timestamp, Value::String(s)) => parse_timestamp(s)
                    .map(|ts| Value::String(timestamp_text(ts, ' ', Fraction::Shortest)))
                    .unwrap_or(v),
                _ => v,
            };
            row.push(v);
        }
        self.batch.push(Value::Array(row));
        self.rows += 1;
        if self.batch.len() >= INSERT_BATCH {
            self.flush(conn)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, conn: &mut DbConn) -> Result<(), BackupError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let json = Value::Array(std::mem::take(&mut self.batch)).to_string();
        diesel::sql_query(&self.sql)
            .bind::<Text, _>(json)
            .execute(conn)?;
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
