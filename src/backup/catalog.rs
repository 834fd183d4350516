//! Which tables and columns a database has, read from its own catalog, so that a
//! backup holds every table (also ones added after this code was written) and a
//! restore can refuse an archive whose columns do not match.
//!
//! Types are mapped to the archive's neutral types; a column of a type the format
//! does not know stops the backup rather than losing its values.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};

use super::BackupError;
use crate::store::{Backend, DbConn};

/// A column's type in the archive (see backup/FORMAT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    Text,
    Int,
    Bool,
    Timestamp,
    Date,
    Blob,
    Real,
    Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key columns: rows are written in this order (byte order for text),
    /// so the same data gives the same member on either backend.
    pub primary_key: Vec<String>,
}

/// Tables the migrations fill with rows of their own: a freshly migrated database
/// has rows there and is still empty. A restore replaces those rows.
pub const SEEDED: &[&str] = &[
    "client_statuses",
    "deal_stages",
    "audit_head",
    "invoice_sequences",
];

/// Bookkeeping of diesel and of SQLite itself, never part of a backup.
fn internal(name: &str) -> bool {
    name.starts_with("sqlite_") || name.starts_with("__diesel")
}

/// Names go into SQL text (catalog queries, COPY-like statements), so only plain
/// identifiers are accepted; every table Holdfast creates is one.
pub fn check_ident(name: &str) -> Result<(), BackupError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(BackupError::Schema(format!(
            "`{name}` is not a plain identifier; the backup format only carries plain table and column names"
        )))
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteTable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = BigInt)]
    pk: i64,
    #[diesel(sql_type = BigInt)]
    hidden: i64,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Text)]
    generated: String,
}

fn sqlite_type(table: &str, col: &str, declared: &str) -> Result<ColType, BackupError> {
    let t = declared.to_ascii_uppercase();
    let ty = if t.contains("INT") {
        ColType::Int
    } else if t.contains("BOOL") {
        ColType::Bool
    } else if t.contains("TIMESTAMP") || t.contains("DATETIME") {
        ColType::Timestamp
    } else if t == "DATE" {
        ColType::Date
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        ColType::Text
    } else if t.contains("BLOB") || t.is_empty() {
        ColType::Blob
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        ColType::Real
    } else if t.contains("NUMERIC") || t.contains("DECIMAL") {
        ColType::Decimal
    } else {
        return Err(unknown_type(table, col, declared));
    };
    Ok(ty)
}

fn pg_type(table: &str, col: &str, data_type: &str) -> Result<ColType, BackupError> {
    Ok(match data_type {
        "text" | "character varying" | "character" => ColType::Text,
        "integer" | "bigint" | "smallint" => ColType::Int,
        "boolean" => ColType::Bool,
        "timestamp without time zone" => ColType::Timestamp,
        "date" => ColType::Date,
        "bytea" => ColType::Blob,
        "double precision" | "real" => ColType::Real,
        "numeric" => ColType::Decimal,
        other => return Err(unknown_type(table, col, other)),
    })
}

fn unknown_type(table: &str, col: &str, ty: &str) -> BackupError {
    BackupError::Schema(format!(
        "column {table}.{col} has type `{ty}`, which the backup format does not carry; refusing to make a backup that would lose it"
    ))
}

/// Every table of the database, parents before children (foreign keys), so a
/// restore can insert in archive order.
pub fn read(conn: &mut DbConn) -> Result<Vec<Table>, BackupError> {
    let mut tables = BTreeMap::new();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    match conn.backend() {
        Backend::Sqlite => {
            let rows: Vec<SqliteTable> = diesel::sql_query(
                "SELECT name, COALESCE(sql, '') AS sql FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .load(conn)?;
            // FTS5 tables and their shadow tables are indexes rebuilt by triggers on
            // restore, not data.
            let virtuals: Vec<String> = rows
                .iter()
                .filter(|t| t.sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL"))
                .map(|t| t.name.clone())
                .collect();
            for t in rows {
                if internal(&t.name)
                    || virtuals
                        .iter()
                        .any(|v| t.name == *v || t.name.starts_with(&format!("{v}_")))
                {
                    continue;
                }
                check_ident(&t.name)?;
                let cols: Vec<SqliteColumn> = diesel::sql_query(format!(
                    "SELECT name, type AS ty, pk, hidden FROM pragma_table_xinfo('{}') ORDER BY cid",
                    t.name
                ))
                .load(conn)?;
                let mut columns = Vec::new();
                let mut pk: Vec<(i64, String)> = Vec::new();
                for c in cols.into_iter().filter(|c| c.hidden == 0) {
                    check_ident(&c.name)?;
                    if c.pk > 0 {
                        pk.push((c.pk, c.name.clone()));
                    }
                    columns.push(Column {
                        ty: sqlite_type(&t.name, &c.name, &c.ty)?,
                        name: c.name,
                    });
                }
                pk.sort();
                let parents: Vec<Name> = diesel::sql_query(format!(
                    "SELECT DISTINCT \"table\" AS name FROM pragma_foreign_key_list('{}')",
                    t.name
                ))
                .load(conn)?;
                deps.insert(
                    t.name.clone(),
                    parents.into_iter().map(|p| p.name).collect(),
                );
                tables.insert(
                    t.name.clone(),
                    Table {
                        name: t.name,
                        columns,
                        primary_key: pk.into_iter().map(|(_, n)| n).collect(),
                    },
                );
            }
        }
        Backend::Postgres => {
            let names: Vec<Name> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .load(conn)?;
            for t in names {
                if internal(&t.name) {
                    continue;
                }
                check_ident(&t.name)?;
                let cols: Vec<PgColumn> = diesel::sql_query(
                    "SELECT column_name::text AS name, data_type::text AS ty, \
                     COALESCE(is_generated, 'NEVER')::text AS generated \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind::<Text, _>(&t.name)
                .load(conn)?;
                let mut columns = Vec::new();
                for c in cols.into_iter().filter(|c| c.generated != "ALWAYS") {
                    check_ident(&c.name)?;
                    columns.push(Column {
                        ty: pg_type(&t.name, &c.name, &c.ty)?,
                        name: c.name,
                    });
                }
                let pk: Vec<Name> = diesel::sql_query(
                    "SELECT a.attname::text AS name FROM pg_index i \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
                     AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
                )
                .bind::<Text, _>(&t.name)
                .load(conn)?;
                let parents: Vec<Name> = diesel::sql_query(
                    "SELECT DISTINCT ccu.table_name::text AS name \
                     FROM information_schema.table_constraints tc \
                     JOIN information_schema.constraint_column_usage ccu \
                       ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema \
                     WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() \
                       AND tc.table_name = $1",
                )
                .bind::<Text, _>(&t.name)
                .load(conn)?;
                deps.insert(
                    t.name.clone(),
                    parents.into_iter().map(|p| p.name).collect(),
                );
                tables.insert(
                    t.name.clone(),
                    Table {
                        name: t.name,
                        columns,
                        primary_key: pk.into_iter().map(|p| p.name).collect(),
                    },
                );
            }
        }
    }
    order(tables, &deps)
}

/// Parents first; ties by name, so both backends give the same order.
fn order(
    mut tables: BTreeMap<String, Table>,
    deps: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Table>, BackupError> {
    let mut out = Vec::with_capacity(tables.len());
    let mut done: BTreeSet<String> = BTreeSet::new();
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|name| {
                deps.get(*name).is_none_or(|ps| {
                    ps.iter()
                        .all(|p| p == *name || done.contains(p) || !tables.contains_key(p))
                })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(BackupError::Schema(format!(
                "foreign keys form a cycle among {:?}",
                tables.keys().collect::<Vec<_>>()
            )));
        }
        for name in ready {
            if let Some(t) = tables.remove(&name) {
                out.push(t);
                done.insert(name);
            }
        }
    }
    Ok(out)
}

/// The newest applied migration: the archive's schema version.
pub fn schema_version(conn: &mut DbConn) -> Result<String, BackupError> {
    let v: Vec<Name> = diesel::sql_query(
        "SELECT COALESCE(MAX(version), '') AS name FROM __diesel_schema_migrations",
    )
    .load(conn)?;
    Ok(v.into_iter().next().map(|n| n.name).unwrap_or_default())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub fn count_rows(conn: &mut DbConn, table: &str) -> Result<i64, BackupError> {
    check_ident(table)?;
    let c: Vec<Count> =
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM \"{table}\"")).load(conn)?;
    Ok(c.into_iter().next().map(|c| c.n).unwrap_or(0))
}
