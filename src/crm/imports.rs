//! CSV import of clients: an upload is read once (`import_csv`) and staged,
//! visible only to its uploader until it expires; the uploader maps columns to
//! fields and chooses what happens to duplicates; every row is checked; the
//! commit creates and merges all rows in one transaction, or none.
//!
//! Duplicates are found against the clients the importer's scope covers
//! (normalised phone or email, or the same name) and within the file. A merge
//! fills empty fields and adds new phones, emails and tags; it never overwrites
//! a value the card already has (such values are listed as kept).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde::{Deserialize, Serialize};

use super::clients::{self as cards, Ctx};
use super::import_csv::{self, FIELDS, Limits, Parsed};
use super::types::{ClientKind, ClientPatch, ContactInput, NewClient};
use super::{CrmError, contact, search, statuses, text};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::models::imports::ImportBatchRow;
use crate::store::schema::{client_contacts, client_tags, clients, import_batches};
use crate::store::{Backend, DbConn};

/// Staged uploads one user may hold at once.
pub const MAX_STAGED_PER_USER: i64 = 10;
/// Rows shown in the preview table.
pub const PREVIEW_ROWS: usize = 20;
/// Row problems listed in full (the count is always exact).
pub const MAX_LISTED_ISSUES: usize = 500;
const MAX_CONTACTS: usize = 10;
const MAX_TAGS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DupPolicy {
    Skip,
    Merge,
    Create,
}

impl DupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DupPolicy::Skip => "skip",
            DupPolicy::Merge => "merge",
            DupPolicy::Create => "create",
        }
    }

    pub fn parse(s: &str) -> Option<DupPolicy> {
        match s {
            "skip" => Some(DupPolicy::Skip),
            "merge" => Some(DupPolicy::Merge),
            "create" => Some(DupPolicy::Create),
            _ => None,
        }
    }
}

/// The uploader's choices: a field for each column (`None`: ignored), the
/// policy for duplicates, and per-row exceptions to it (by row number).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub mapping: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub policy: Option<DupPolicy>,
    #[serde(default)]
    pub decisions: Option<BTreeMap<String, DupPolicy>>,
}

/// A file as uploaded.
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub delimiter: Option<u8>,
}

/// One problem with one row: its number (the header is row 1), the column
/// (1-based) and its header where one cell is at fault, and what is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct RowIssue {
    pub row: usize,
    pub column: Option<usize>,
    pub header: Option<String>,
    pub field: String,
    #[serde(skip)]
    pub msg: Msg,
}

/// A row that matches an existing client (in the importer's scope) or an
/// earlier row of the file.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    pub row: usize,
    /// The client matched, when it exists already.
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    /// The earlier row of the file matched.
    pub same_as_row: Option<usize>,
    /// What matched: `phone`, `email` or `name`.
    pub by: &'static str,
    /// What the commit will do with the row.
    pub action: DupPolicy,
}

/// A value of the file a merge does not write because the card has another.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub row: usize,
    pub field: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub rows: usize,
    pub create: usize,
    pub merge: usize,
    pub skip: usize,
    pub errors: usize,
}

/// What a commit did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub rows: usize,
    pub created: Vec<String>,
    pub merged: Vec<String>,
    pub skipped: usize,
}

/// A staged import as its uploader sees it: the file, the preview, the current
/// mapping and policy, every row problem and every duplicate.
#[derive(Debug, Clone, Serialize)]
pub struct ImportView {
    pub id: String,
    pub file_name: String,
    pub file_bytes: i64,
    pub encoding: String,
    pub delimiter: String,
    pub uploaded_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: String,
    pub headers: Vec<String>,
    /// The fields a column can be mapped to.
    pub fields: Vec<&'static str>,
    pub mapping: Vec<Option<String>>,
    pub policy: DupPolicy,
    pub decisions: BTreeMap<String, DupPolicy>,
    pub preview: Vec<PreviewRow>,
    pub summary: Summary,
    /// The mapping itself is wrong (e.g. no name column): nothing can be checked.
    pub mapping_issues: Vec<RowIssue>,
    pub issues: Vec<RowIssue>,
    pub issues_total: usize,
    pub duplicates: Vec<Duplicate>,
    pub kept: Vec<Kept>,
    pub result: Option<Outcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewRow {
    pub row: usize,
    pub cells: Vec<String>,
}

/// A short listing of one's staged imports.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub id: String,
    pub file_name: String,
    pub row_count: i32,
    pub state: String,
    pub uploaded_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn require(scope: &Scope) -> Result<&str, CrmError> {
    if !scope.is(Object::Client, Action::Import) {
        return Err(CrmError::Internal(format!(
            "scope for {:?}/{:?} used for an import",
            scope.object(),
            scope.action()
        )));
    }
    scope
        .user_id()
        .ok_or_else(|| CrmError::Internal("an import needs a user".into()))
}

fn utc(t: chrono::NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn json<T: Serialize>(v: &T) -> Result<String, CrmError> {
    serde_json::to_string(v).map_err(|e| CrmError::Internal(format!("import json: {e}")))
}

fn unjson<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, CrmError> {
    serde_json::from_str(s).map_err(|e| CrmError::Internal(format!("import json: {e}")))
}

fn file_error(e: &import_csv::ParseError) -> CrmError {
    CrmError::invalid("file", e.msg())
}

/// Reads and stages an upload. Nothing but the staged batch is written.
pub fn stage(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    upload: &Upload,
    limits: &Limits,
    staged_for: Duration,
) -> Result<(ImportView, Parsed), CrmError> {
    let user = require(scope)?.to_string();
    let file_name = upload
        .file_name
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>();
    let file_name = if file_name.trim().is_empty() {
        "upload.csv".to_string()
    } else {
        file_name
    };
    let parsed =
        import_csv::parse(&upload.bytes, upload.delimiter, limits).map_err(|e| file_error(&e))?;
    let now = ctx.env.now().naive_utc();
    // Expired uploads (anyone's) go first; they were never committed.
    diesel::delete(import_batches::table.filter(import_batches::expires_at.le(now)))
        .execute(conn)?;
    let held: i64 = import_batches::table
        .filter(import_batches::uploaded_by.eq(&user))
        .filter(import_batches::state.eq("staged"))
        .count()
        .get_result(conn)?;
    if held >= MAX_STAGED_PER_USER {
        return Err(CrmError::invalid(
            "file",
            Msg::new("import-too-many-staged").arg("max", MAX_STAGED_PER_USER),
        ));
    }
    let mapping: Vec<Option<String>> = import_csv::suggest_mapping(&parsed.headers)
        .into_iter()
        .map(|f| f.map(str::to_string))
        .collect();
    let row = ImportBatchRow {
        id: ctx.env.new_id()?.to_string(),
        uploaded_by: user,
        uploaded_at: now,
        expires_at: now + staged_for,
        file_name,
        file_sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &upload.bytes)),
        file_bytes: i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX),
        encoding: parsed.encoding.as_str().to_string(),
        delimiter: (parsed.delimiter as char).to_string(),
        headers: json(&parsed.headers)?,
        staged_rows: json(&parsed.rows)?,
        row_count: i32::try_from(parsed.rows.len()).unwrap_or(i32::MAX),
        mapping: json(&mapping)?,
        policy: DupPolicy::Skip.as_str().to_string(),
        decisions: "{}".into(),
        state: "staged".into(),
        committed_at: None,
        result: None,
    };
    diesel::insert_into(import_batches::table)
        .values(&row)
        .execute(conn)?;
    let view = view_of(conn, ctx, scope, row)?;
    Ok((view, parsed))
}

/// The caller's staged import; anyone else's, or an expired one, is not found.
fn load(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<ImportBatchRow, CrmError> {
    let user = require(scope)?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: ImportBatchRow = import_batches::table
        .find(id)
        .select(ImportBatchRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(CrmError::NotFound)?;
    if row.uploaded_by != user {
        return Err(CrmError::OutOfScope);
    }
    if row.expires_at <= ctx.env.now().naive_utc() {
        return Err(CrmError::NotFound);
    }
    Ok(row)
}

/// The caller's staged and committed imports that have not expired.
pub fn list(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
) -> Result<Vec<ImportSummary>, CrmError> {
    let user = require(scope)?;
    let now = ctx.env.now().naive_utc();
    let rows: Vec<(
        String,
        String,
        i32,
        String,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
    )> = import_batches::table
        .filter(import_batches::uploaded_by.eq(user))
        .filter(import_batches::expires_at.gt(now))
        .select((
            import_batches::id,
            import_batches::file_name,
            import_batches::row_count,
            import_batches::state,
            import_batches::uploaded_at,
            import_batches::expires_at,
        ))
        .order(import_batches::uploaded_at.desc())
        .limit(50)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, file_name, row_count, state, at, exp)| ImportSummary {
            id,
            file_name,
            row_count,
            state,
            uploaded_at: utc(at),
            expires_at: utc(exp),
        })
        .collect())
}

/// The preview with every row checked under the saved settings.
pub fn show(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<ImportView, CrmError> {
    let row = load(conn, ctx, scope, id)?;
    view_of(conn, ctx, scope, row)
}

/// Saves new settings (checked), then shows the preview under them.
pub fn configure(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    settings: &Settings,
) -> Result<ImportView, CrmError> {
    let mut row = load(conn, ctx, scope, id)?;
    if row.state != "staged" {
        return Err(CrmError::Conflict(
            "this import was already committed".into(),
        ));
    }
    apply_settings(conn, &mut row, settings)?;
    view_of(conn, ctx, scope, row)
}

/// Discards a staged import.
pub fn discard(conn: &mut DbConn, ctx: Ctx<'_>, scope: &Scope, id: &str) -> Result<(), CrmError> {
    let row = load(conn, ctx, scope, id)?;
    if row.state != "staged" {
        return Err(CrmError::Conflict(
            "this import was already committed".into(),
        ));
    }
    diesel::delete(import_batches::table.find(&row.id)).execute(conn)?;
    Ok(())
}

fn apply_settings(
    conn: &mut DbConn,
    row: &mut ImportBatchRow,
    settings: &Settings,
) -> Result<(), CrmError> {
    let headers: Vec<String> = unjson(&row.headers)?;
    if let Some(mapping) = &settings.mapping {
        if mapping.len() != headers.len() {
            return Err(CrmError::invalid(
                "mapping",
                Msg::new("import-mapping-length").arg("columns", headers.len()),
            ));
        }
        let mut clean: Vec<Option<String>> = Vec::with_capacity(mapping.len());
        for m in mapping {
            match m.as_deref().map(str::trim) {
                None | Some("") | Some("ignore") => clean.push(None),
                Some(f) if FIELDS.contains(&f) => clean.push(Some(f.to_string())),
                Some(f) => {
                    return Err(CrmError::invalid(
                        "mapping",
                        Msg::new("import-mapping-unknown-field")
                            .arg("field", f.chars().take(40).collect::<String>()),
                    ));
                }
            }
        }
        row.mapping = json(&clean)?;
    }
    if let Some(policy) = settings.policy {
        row.policy = policy.as_str().to_string();
    }
    if let Some(decisions) = &settings.decisions {
        if decisions.len() > 100_000 || decisions.keys().any(|k| k.parse::<usize>().is_err()) {
            return Err(CrmError::invalid(
                "decisions",
                Msg::new("import-decisions-invalid"),
            ));
        }
        row.decisions = json(decisions)?;
    }
    diesel::update(import_batches::table.find(&row.id))
        .set((
            import_batches::mapping.eq(&row.mapping),
            import_batches::policy.eq(&row.policy),
            import_batches::decisions.eq(&row.decisions),
        ))
        .execute(conn)?;
    Ok(())
}

/// One row, checked and ready to write.
#[derive(Debug, Clone, Default)]
struct Record {
    name: String,
    company: Option<String>,
    kind: Option<ClientKind>,
    status: Option<String>,
    source: Option<String>,
    address: Option<String>,
    /// (value as written, normalised)
    phones: Vec<(String, String)>,
    emails: Vec<(String, String)>,
    tags: Vec<String>,
}

impl Record {
    /// Fills this record's empty fields and adds the other's contacts and tags.
    fn absorb(&mut self, other: &Record) {
        fill(&mut self.company, &other.company);
        fill(&mut self.status, &other.status);
        fill(&mut self.source, &other.source);
        fill(&mut self.address, &other.address);
        if self.kind.is_none() {
            self.kind = other.kind;
        }
        for p in &other.phones {
            if !self.phones.iter().any(|q| q.1 == p.1) {
                self.phones.push(p.clone());
            }
        }
        for e in &other.emails {
            if !self.emails.iter().any(|q| q.1 == e.1) {
                self.emails.push(e.clone());
            }
        }
        for t in &other.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
    }
}

fn fill(slot: &mut Option<String>, from: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(from);
    }
}

/// The key under which two names are the same person: lower case, single spaces.
fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// What the commit will do with one row.
#[derive(Debug, Clone)]
enum Step {
    Create(Record),
    /// Merge into an existing client.
    Merge(String, Record),
    /// Merge into the record of an earlier row of the file (index into steps).
    Fold(usize),
    Skip,
}

struct Plan {
    mapping_issues: Vec<RowIssue>,
    issues: Vec<RowIssue>,
    duplicates: Vec<Duplicate>,
    kept: Vec<Kept>,
    steps: Vec<(usize, Record, Step)>,
}

fn issue(row: usize, column: Option<usize>, headers: &[String], e: CrmError) -> RowIssue {
    let (field, msg) = match e {
        CrmError::Invalid { field, msg } => (field, msg),
        other => (
            "row".to_string(),
            Msg::new("import-row-failed").arg("reason", other),
        ),
    };
    RowIssue {
        row,
        column: column.map(|c| c + 1),
        header: column.and_then(|c| headers.get(c).cloned()),
        field,
        msg,
    }
}

/// Splits a cell that may hold several values ("a@x.ge; b@y.ge").
fn values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split([';', ',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads and checks one row under the mapping.
fn record_of(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    number: usize,
    cells: &[String],
    mapping: &[Option<String>],
    headers: &[String],
    issues: &mut Vec<RowIssue>,
) -> Result<Option<Record>, CrmError> {
    let mut rec = Record::default();
    let before = issues.len();
    let mut name = None;
    for (col, field) in mapping.iter().enumerate() {
        let Some(field) = field.as_deref() else {
            continue;
        };
        let cell = cells.get(col).map(String::as_str).unwrap_or("").trim();
        let mut fail = |e: CrmError| issues.push(issue(number, Some(col), headers, e));
        match field {
            "name" => match text::line("name", cell, 200) {
                Ok(v) => name = Some(v),
                Err(e) => fail(e),
            },
            "company" => match text::opt_line("company", Some(cell), 200) {
                Ok(v) => rec.company = v,
                Err(e) => fail(e),
            },
            "source" => match text::opt_line("source", Some(cell), 100) {
                Ok(v) => rec.source = v,
                Err(e) => fail(e),
            },
            "address" => match text::opt_body("address", Some(cell), 500) {
                Ok(v) => rec.address = v,
                Err(e) => fail(e),
            },
            "kind" if !cell.is_empty() => match ClientKind::parse(&cell.to_lowercase()) {
                Some(k) => rec.kind = Some(k),
                None => fail(CrmError::invalid(
                    "kind",
                    Msg::new("import-kind-invalid")
                        .arg("value", cell.chars().take(40).collect::<String>()),
                )),
            },
            "status" if !cell.is_empty() => {
                let code = cell.to_lowercase();
                if statuses::is_active(conn, &code)? {
                    rec.status = Some(code);
                } else {
                    fail(CrmError::invalid(
                        "status",
                        Msg::new("invalid-status")
                            .arg("value", cell.chars().take(40).collect::<String>()),
                    ));
                }
            }
            "phone" => {
                for v in values(cell) {
                    match text::line("phone", v, 40).and_then(|v| {
                        contact::normalize_phone(&v, ctx.phone_region).map(|n| (v, n))
                    }) {
                        Ok((v, n)) if !rec.phones.iter().any(|p| p.1 == n) => {
                            rec.phones.push((v, n))
                        }
                        Ok(_) => {}
                        Err(e) => fail(e),
                    }
                }
            }
            "email" => {
                for v in values(cell) {
                    match text::line("email", v, 254)
                        .and_then(|v| contact::normalize_email(&v).map(|n| (v, n)))
                    {
                        Ok((v, n)) if !rec.emails.iter().any(|p| p.1 == n) => {
                            rec.emails.push((v, n))
                        }
                        Ok(_) => {}
                        Err(e) => fail(e),
                    }
                }
            }
            "tags" => {
                for v in values(cell) {
                    match text::line("tag", v, 40) {
                        Ok(t) if !rec.tags.contains(&t) => rec.tags.push(t),
                        Ok(_) => {}
                        Err(e) => fail(e),
                    }
                }
            }
            _ => {}
        }
    }
    if rec.phones.len() > MAX_CONTACTS || rec.emails.len() > MAX_CONTACTS {
        issues.push(issue(
            number,
            None,
            headers,
            CrmError::invalid(
                "phones",
                Msg::new("invalid-too-many-contacts").arg("max", MAX_CONTACTS),
            ),
        ));
    }
    if rec.tags.len() > MAX_TAGS {
        issues.push(issue(
            number,
            None,
            headers,
            CrmError::invalid(
                "tags",
                Msg::new("invalid-too-many-tags").arg("max", MAX_TAGS),
            ),
        ));
    }
    if issues.len() > before {
        return Ok(None);
    }
    match name {
        Some(n) => {
            rec.name = n;
            Ok(Some(rec))
        }
        None => Ok(None),
    }
}

/// An existing client the scope covers, matched by one of these contacts.
fn match_contact(
    conn: &mut DbConn,
    scope: &Scope,
    kind: &str,
    normalized: &str,
) -> Result<Option<(String, String)>, CrmError> {
    let found: Vec<(String, String, Option<String>, Option<String>)> = client_contacts::table
        .inner_join(clients::table.on(clients::id.eq(client_contacts::client_id)))
        .filter(client_contacts::kind.eq(kind))
        .filter(client_contacts::normalized.eq(normalized))
        .filter(clients::deleted_at.is_null())
        .select((
            clients::id,
            clients::name,
            clients::owner_id,
            clients::team_id,
        ))
        .order(clients::created_at.asc())
        .limit(50)
        .load(conn)?;
    Ok(found
        .into_iter()
        .find(|(_, _, o, t)| scope.permits(o.as_deref(), t.as_deref()))
        .map(|(id, name, _, _)| (id, name)))
}

/// An existing client the scope covers with the same name (found through the
/// search index, then compared whole).
fn match_name(
    conn: &mut DbConn,
    scope: &Scope,
    name: &str,
) -> Result<Option<(String, String)>, CrmError> {
    let terms = search::terms(name);
    if terms.is_empty() {
        return Ok(None);
    }
    let q = clients::table
        .filter(clients::deleted_at.is_null())
        .select((
            clients::id,
            clients::name,
            clients::owner_id,
            clients::team_id,
        ))
        .into_boxed();
    let q = match conn.backend() {
        Backend::Sqlite => q.filter(
            sql::<Bool>("clients.pk IN (SELECT rowid FROM clients_fts WHERE clients_fts MATCH ")
                .bind::<Text, _>(search::fts5_query(&terms))
                .sql(")"),
        ),
        Backend::Postgres => q.filter(
            sql::<Bool>(search::PG_MATCH_OPEN)
                .bind::<Text, _>(search::tsquery(&terms))
                .sql(search::PG_MATCH_CLOSE),
        ),
    };
    let found: Vec<(String, String, Option<String>, Option<String>)> =
        q.order(clients::created_at.asc()).limit(200).load(conn)?;
    let key = name_key(name);
    Ok(found
        .into_iter()
        .find(|(_, n, o, t)| name_key(n) == key && scope.permits(o.as_deref(), t.as_deref()))
        .map(|(id, name, _, _)| (id, name)))
}

/// Checks every row and decides what the commit does with it.
fn plan(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    row: &ImportBatchRow,
) -> Result<Plan, CrmError> {
    let headers: Vec<String> = unjson(&row.headers)?;
    let rows: Vec<(usize, Vec<String>)> = unjson(&row.staged_rows)?;
    let mapping: Vec<Option<String>> = unjson(&row.mapping)?;
    let policy = DupPolicy::parse(&row.policy).unwrap_or(DupPolicy::Skip);
    let decisions: BTreeMap<String, DupPolicy> = unjson(&row.decisions)?;
    let mut plan = Plan {
        mapping_issues: Vec::new(),
        issues: Vec::new(),
        duplicates: Vec::new(),
        kept: Vec::new(),
        steps: Vec::new(),
    };
    let names = mapping
        .iter()
        .filter(|m| m.as_deref() == Some("name"))
        .count();
    if names != 1 {
        plan.mapping_issues.push(RowIssue {
            row: 1,
            column: None,
            header: None,
            field: "mapping".into(),
            msg: Msg::new(if names == 0 {
                "import-mapping-no-name"
            } else {
                "import-mapping-twice"
            })
            .arg("field", "name"),
        });
    }
    for f in FIELDS
        .iter()
        .filter(|f| !matches!(**f, "phone" | "email" | "name"))
    {
        if mapping.iter().filter(|m| m.as_deref() == Some(*f)).count() > 1 {
            plan.mapping_issues.push(RowIssue {
                row: 1,
                column: None,
                header: None,
                field: "mapping".into(),
                msg: Msg::new("import-mapping-twice").arg("field", *f),
            });
        }
    }
    if !plan.mapping_issues.is_empty() {
        return Ok(plan);
    }
    // Keys already seen in the file: ("phone"|"email"|"name", key) → step index.
    let mut seen: HashMap<(&'static str, String), usize> = HashMap::new();
    for (number, cells) in &rows {
        let Some(rec) = record_of(
            conn,
            ctx,
            *number,
            cells,
            &mapping,
            &headers,
            &mut plan.issues,
        )?
        else {
            continue;
        };
        let keys: Vec<(&'static str, String)> = rec
            .phones
            .iter()
            .map(|p| ("phone", p.1.clone()))
            .chain(rec.emails.iter().map(|e| ("email", e.1.clone())))
            .chain(std::iter::once(("name", name_key(&rec.name))))
            .collect();
        let action = decisions
            .get(&number.to_string())
            .copied()
            .unwrap_or(policy);
        let index = plan.steps.len();
        // An earlier row of the file first, then the existing clients.
        let earlier = keys.iter().find_map(|k| seen.get(k).map(|i| (k.0, *i)));
        let step = if let Some((by, i)) = earlier {
            let same_as_row = plan.steps[i].0;
            plan.duplicates.push(Duplicate {
                row: *number,
                client_id: None,
                client_name: None,
                same_as_row: Some(same_as_row),
                by,
                action,
            });
            match action {
                DupPolicy::Skip => Step::Skip,
                DupPolicy::Merge => Step::Fold(i),
                DupPolicy::Create => Step::Create(rec.clone()),
            }
        } else {
            let mut existing = None;
            for (kind, key) in &keys {
                let found = if *kind == "name" {
                    match_name(conn, scope, &rec.name)?
                } else {
                    match_contact(conn, scope, kind, key)?
                };
                if let Some(f) = found {
                    existing = Some((*kind, f));
                    break;
                }
            }
            match existing {
                Some((by, (id, name))) => {
                    plan.duplicates.push(Duplicate {
                        row: *number,
                        client_id: Some(id.clone()),
                        client_name: Some(name),
                        same_as_row: None,
                        by,
                        action,
                    });
                    match action {
                        DupPolicy::Skip => Step::Skip,
                        DupPolicy::Merge => Step::Merge(id, rec.clone()),
                        DupPolicy::Create => Step::Create(rec.clone()),
                    }
                }
                None => Step::Create(rec.clone()),
            }
        };
        if !matches!(step, Step::Skip | Step::Fold(_)) {
            for k in keys {
                seen.entry(k).or_insert(index);
            }
        }
        plan.steps.push((*number, rec, step));
    }
    // Fold rows into the earlier rows they repeat.
    for i in 0..plan.steps.len() {
        if let Step::Fold(target) = plan.steps[i].2 {
            let rec = plan.steps[i].1.clone();
            let target = root(&plan.steps, target);
            match &mut plan.steps[target].2 {
                Step::Create(r) | Step::Merge(_, r) => r.absorb(&rec),
                Step::Fold(_) | Step::Skip => {}
            }
        }
    }
    // Merges never overwrite: list what the card keeps.
    for (number, _, step) in &plan.steps {
        if let Step::Merge(id, rec) = step {
            let current: Option<CardFields> = clients::table
                .filter(clients::id.eq(id))
                .select((
                    clients::company,
                    clients::status,
                    clients::source,
                    clients::address,
                    clients::kind,
                ))
                .first(conn)
                .optional()?;
            let Some((company, status, source, address, kind)) = current else {
                continue;
            };
            let differs = |old: &Option<String>, new: &Option<String>| {
                old.is_some() && new.is_some() && old != new
            };
            for (field, d) in [
                ("company", differs(&company, &rec.company)),
                ("status", differs(&Some(status.clone()), &rec.status)),
                ("source", differs(&source, &rec.source)),
                ("address", differs(&address, &rec.address)),
                ("kind", rec.kind.is_some_and(|k| k.as_str() != kind)),
            ] {
                if d {
                    plan.kept.push(Kept {
                        row: *number,
                        field,
                    });
                }
            }
        }
    }
    Ok(plan)
}

/// company, status, source, address, kind of a card.
type CardFields = (
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

fn root(steps: &[(usize, Record, Step)], mut i: usize) -> usize {
    while let Step::Fold(t) = steps[i].2 {
        if t >= i {
            break;
        }
        i = t;
    }
    i
}

fn view_of(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    row: ImportBatchRow,
) -> Result<ImportView, CrmError> {
    let headers: Vec<String> = unjson(&row.headers)?;
    let mapping: Vec<Option<String>> = unjson(&row.mapping)?;
    let decisions: BTreeMap<String, DupPolicy> = unjson(&row.decisions)?;
    let result: Option<Outcome> = row.result.as_deref().map(unjson).transpose()?;
    let committed = row.state != "staged";
    let (preview, plan) = if committed {
        (
            Vec::new(),
            Plan {
                mapping_issues: Vec::new(),
                issues: Vec::new(),
                duplicates: Vec::new(),
                kept: Vec::new(),
                steps: Vec::new(),
            },
        )
    } else {
        let rows: Vec<(usize, Vec<String>)> = unjson(&row.staged_rows)?;
        let preview = rows
            .into_iter()
            .take(PREVIEW_ROWS)
            .map(|(row, cells)| PreviewRow { row, cells })
            .collect();
        (preview, plan(conn, ctx, scope, &row)?)
    };
    let mut summary = Summary {
        rows: usize::try_from(row.row_count).unwrap_or(0),
        errors: plan.issues.len() + plan.mapping_issues.len(),
        ..Summary::default()
    };
    for (_, _, step) in &plan.steps {
        match step {
            Step::Create(_) => summary.create += 1,
            Step::Merge(..) | Step::Fold(_) => summary.merge += 1,
            Step::Skip => summary.skip += 1,
        }
    }
    let issues_total = plan.issues.len();
    let mut issues = plan.issues;
    issues.truncate(MAX_LISTED_ISSUES);
    Ok(ImportView {
        id: row.id,
        file_name: row.file_name,
        file_bytes: row.file_bytes,
        encoding: row.encoding,
        delimiter: row.delimiter,
        uploaded_at: utc(row.uploaded_at),
        expires_at: utc(row.expires_at),
        state: row.state,
        headers,
        fields: FIELDS.to_vec(),
        mapping,
        policy: DupPolicy::parse(&row.policy).unwrap_or(DupPolicy::Skip),
        decisions,
        preview,
        summary,
        mapping_issues: plan.mapping_issues,
        issues,
        issues_total,
        duplicates: plan.duplicates,
        kept: plan.kept,
        result,
    })
}

/// Commits a staged import: all rows or none. Settings given here are saved
/// first. Any row problem refuses the whole commit and changes nothing.
pub fn commit(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    settings: &Settings,
) -> Result<(String, Outcome), CrmError> {
    let mut row = load(conn, ctx, scope, id)?;
    // Claim the batch first: a second, concurrent commit finds it taken.
    let now = ctx.env.now().naive_utc();
    let claimed = diesel::update(
        import_batches::table
            .filter(import_batches::id.eq(&row.id))
            .filter(import_batches::state.eq("staged")),
    )
    .set((
        import_batches::state.eq("committed"),
        import_batches::committed_at.eq(Some(now)),
    ))
    .execute(conn)?;
    if claimed != 1 {
        return Err(CrmError::Conflict(
            "this import was already committed".into(),
        ));
    }
    apply_settings(conn, &mut row, settings)?;
    let plan = plan(conn, ctx, scope, &row)?;
    if let Some(first) = plan.mapping_issues.first() {
        return Err(CrmError::invalid("mapping", first.msg.clone()));
    }
    if let Some(first) = plan.issues.first() {
        return Err(CrmError::invalid(
            "rows",
            Msg::new("import-rows-invalid")
                .arg("count", plan.issues.len())
                .arg("row", first.row)
                .arg("field", first.field.clone())
                .arg("reason", first.msg.to_string()),
        ));
    }
    let mut outcome = Outcome {
        rows: plan.steps.len(),
        ..Outcome::default()
    };
    for (number, _, step) in &plan.steps {
        let written = match step {
            Step::Create(rec) => create(conn, ctx, scope, rec).map(|id| outcome.created.push(id)),
            Step::Merge(id, rec) => merge(conn, ctx, scope, id, rec).map(|()| {
                if !outcome.merged.contains(id) {
                    outcome.merged.push(id.clone());
                }
            }),
            Step::Fold(_) | Step::Skip => {
                outcome.skipped += usize::from(matches!(step, Step::Skip));
                Ok(())
            }
        };
        // A row the checks passed but the write refused (e.g. a status retired
        // since): the whole import is refused, naming the row.
        written.map_err(|e| match e {
            CrmError::Invalid { field, msg } => CrmError::invalid(
                "rows",
                Msg::new("import-rows-invalid")
                    .arg("count", 1)
                    .arg("row", *number)
                    .arg("field", field)
                    .arg("reason", msg.to_string()),
            ),
            other => other,
        })?;
    }
    diesel::update(import_batches::table.find(&row.id))
        .set((
            import_batches::staged_rows.eq("[]"),
            import_batches::result.eq(Some(json(&outcome)?)),
        ))
        .execute(conn)?;
    Ok((row.id, outcome))
}

fn contacts(list: &[(String, String)]) -> Vec<ContactInput> {
    list.iter()
        .map(|(v, _)| ContactInput::Plain(v.clone()))
        .collect()
}

fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    rec: &Record,
) -> Result<String, CrmError> {
    let input = NewClient {
        kind: rec.kind,
        name: rec.name.clone(),
        company: rec.company.clone(),
        status: rec.status.clone(),
        source: rec.source.clone(),
        address: rec.address.clone(),
        tags: rec.tags.clone(),
        phones: contacts(&rec.phones),
        emails: contacts(&rec.emails),
        owner_id: None,
    };
    Ok(cards::create(conn, ctx, scope, &input, None)?.client.id)
}

/// Fills the card's empty fields and adds new phones, emails and tags; never
/// replaces a value the card has.
fn merge(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    rec: &Record,
) -> Result<(), CrmError> {
    let (company, source, address): (Option<String>, Option<String>, Option<String>) =
        clients::table
            .filter(clients::id.eq(id))
            .select((clients::company, clients::source, clients::address))
            .first(conn)?;
    let existing: Vec<(String, String, String, Option<String>)> = client_contacts::table
        .filter(client_contacts::client_id.eq(id))
        .select((
            client_contacts::kind,
            client_contacts::value,
            client_contacts::normalized,
            client_contacts::label,
        ))
        .order(client_contacts::position)
        .load(conn)?;
    let tags: Vec<String> = client_tags::table
        .filter(client_tags::client_id.eq(id))
        .select(client_tags::tag)
        .order(client_tags::tag)
        .load(conn)?;
    let mut patch = ClientPatch::default();
    if company.is_none() && rec.company.is_some() {
        patch.company = Some(rec.company.clone());
    }
    if source.is_none() && rec.source.is_some() {
        patch.source = Some(rec.source.clone());
    }
    if address.is_none() && rec.address.is_some() {
        patch.address = Some(rec.address.clone());
    }
    let extend = |kind: &str, new: &[(String, String)]| -> Option<Vec<ContactInput>> {
        let mut list: Vec<ContactInput> = existing
            .iter()
            .filter(|c| c.0 == kind)
            .map(|c| ContactInput::Labelled {
                value: c.1.clone(),
                label: c.3.clone(),
            })
            .collect();
        let added: Vec<ContactInput> = new
            .iter()
            .filter(|(_, n)| !existing.iter().any(|c| c.0 == kind && &c.2 == n))
            .map(|(v, _)| ContactInput::Plain(v.clone()))
            .collect();
        if added.is_empty() {
            return None;
        }
        list.extend(added);
        Some(list)
    };
    patch.phones = extend("phone", &rec.phones);
    patch.emails = extend("email", &rec.emails);
    let new_tags: Vec<String> = rec
        .tags
        .iter()
        .filter(|t| !tags.contains(t))
        .cloned()
        .collect();
    if !new_tags.is_empty() {
        patch.tags = Some(tags.into_iter().chain(new_tags).collect());
    }
    cards::update(conn, ctx, scope, id, &patch)?;
    Ok(())
}
