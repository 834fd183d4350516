//! Client cards: create, read, list, update, soft delete and restore, always
//! within an access scope.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::types::*;
use super::{CrmError, contact, cursor, search, statuses, text, timeline};
use crate::access::{Action, Filter, Object, Scope};
use crate::clock::Env;
use crate::i18n::Msg;
use crate::store::models::clients::{ClientRow, ContactRow, DealRow, NewClientRow, TagRow};
use crate::store::schema::{client_contacts, client_tags, clients, deals, teams, users};
use crate::store::{Backend, DbConn};

/// What the domain needs besides the connection and the scope.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub phone_region: Option<&'a str>,
}

const NAME_MAX: usize = 200;
const MAX_CONTACTS: usize = 10;
const MAX_TAGS: usize = 20;

fn require(scope: &Scope, object: Object, actions: &[Action]) -> Result<(), CrmError> {
    if scope.object() == object && actions.contains(&scope.action()) {
        Ok(())
    } else {
        Err(CrmError::Internal(format!(
            "scope for {:?}/{:?} used for {:?}/{:?}",
            scope.object(),
            scope.action(),
            object,
            actions
        )))
    }
}

/// Loads a live (or, for restore, deleted) client the scope covers.
pub(super) fn load_in_scope(
    conn: &mut DbConn,
    scope: &Scope,
    id: &str,
    want_deleted: bool,
) -> Result<ClientRow, CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: Option<ClientRow> = clients::table
        .filter(clients::id.eq(id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(CrmError::NotFound);
    };
    if row.deleted_at.is_some() != want_deleted {
        return Err(CrmError::NotFound);
    }
    if !scope.permits(row.owner_id.as_deref(), row.team_id.as_deref()) {
        return Err(CrmError::OutOfScope);
    }
    Ok(row)
}

pub fn get(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<Client, CrmError> {
    require(scope, Object::Client, &[Action::Read, Action::Reveal])?;
    let row = load_in_scope(conn, scope, id, false)?;
    hydrate_for(conn, scope, row)
}

pub fn card(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<ClientCard, CrmError> {
    let client = get(conn, scope, id)?;
    let timeline = timeline::page_unchecked(conn, &client.id, None, 20)?;
    let deal_rows: Vec<DealRow> = deals::table
        .filter(deals::client_id.eq(&client.id))
        .select(DealRow::as_select())
        .order(deals::created_at.desc())
        .limit(50)
        .load(conn)?;
    let deals = deal_rows
        .into_iter()
        .map(|d| Deal {
            id: d.id,
            title: d.title,
            amount: rust_decimal::Decimal::new(d.amount_e4, 4).normalize(),
            currency: d.currency,
            stage: d.stage,
            expected_close: d.expected_close,
        })
        .collect();
    Ok(ClientCard {
        client,
        timeline,
        deals,
    })
}

fn hydrate(conn: &mut DbConn, row: ClientRow) -> Result<Client, CrmError> {
    let contacts: Vec<ContactRow> = client_contacts::table
        .filter(client_contacts::client_id.eq(&row.id))
        .select(ContactRow::as_select())
        .order(client_contacts::position)
        .load(conn)?;
    let tags: Vec<String> = client_tags::table
        .filter(client_tags::client_id.eq(&row.id))
        .select(client_tags::tag)
        .order(client_tags::tag)
        .load(conn)?;
    let owner = match &row.owner_id {
        Some(uid) => users::table
            .find(uid)
            .select((users::id, users::display_name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(id, name)| UserRef { id, name }),
        None => None,
    };
    let team = match &row.team_id {
        Some(tid) => teams::table
            .find(tid)
            .select((teams::id, teams::name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(id, name)| UserRef { id, name }),
        None => None,
    };
    let (mut phones, mut emails) = (Vec::new(), Vec::new());
    for c in contacts {
        let entry = Contact {
            value: c.value,
            normalized: c.normalized,
            label: c.label,
        };
        if c.kind == "phone" {
            phones.push(entry);
        } else {
            emails.push(entry);
        }
    }
    Ok(Client {
        kind: ClientKind::parse(&row.kind).unwrap_or(ClientKind::Person),
        id: row.id,
        name: row.name,
        company: row.company,
        status: row.status,
        source: row.source,
        address: row.address,
        owner,
        team,
        tags,
        phones,
        emails,
        possible_duplicate: row.duplicate_of.is_some(),
        duplicate_of: row.duplicate_of,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        deleted_at: row.deleted_at.map(utc),
    })
}

/// `hydrate`, then hide the matched duplicate's id unless the scope covers it.
fn hydrate_for(conn: &mut DbConn, scope: &Scope, row: ClientRow) -> Result<Client, CrmError> {
    let mut client = hydrate(conn, row)?;
    if let Some(other) = &client.duplicate_of {
        let holder: Option<(Option<String>, Option<String>)> = clients::table
            .filter(clients::id.eq(other))
            .select((clients::owner_id, clients::team_id))
            .first(conn)
            .optional()?;
        let visible =
            holder.is_some_and(|(owner, team)| scope.permits(owner.as_deref(), team.as_deref()));
        if !visible {
            client.duplicate_of = None;
        }
    }
    Ok(client)
}

fn summary(row: ClientRow) -> ClientSummary {
    ClientSummary {
        kind: ClientKind::parse(&row.kind).unwrap_or(ClientKind::Person),
        id: row.id,
        name: row.name,
        company: row.company,
        status: row.status,
        owner_id: row.owner_id,
        team_id: row.team_id,
        possible_duplicate: row.duplicate_of.is_some(),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        deleted_at: row.deleted_at.map(utc),
        phone: None,
        email: None,
    }
}

/// One slice of a scope, as SQL.
enum Part<'a> {
    All,
    Owner(&'a str),
    Team(&'a str),
}

/// How SQLite finds a search's page. PostgreSQL plans this itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SearchPlan {
    /// Few matches in the whole base: fetch them all and sort.
    FromMatches,
    /// Walk the scope's index newest first; each row is looked up in the match
    /// set, read once from FTS5 into memory.
    WalkMatchSet,
    /// Walk the scope's index newest first; FTS5 is asked about each row. Only
    /// for terms its prefix index answers directly (one or two characters), where
    /// a question costs microseconds; longer prefixes would be expanded anew for
    /// every row.
    WalkProbing,
    /// PostgreSQL, or no search.
    Planner,
}

/// Matches up to which a search drives the query on SQLite.
const SELECTIVE_MATCHES: i64 = 2000;
/// Matches beyond which a short search asks FTS5 row by row instead of reading
/// the match set: then the walk meets a match every few rows, while the set would
/// be read whole (a million entries for a single digit at a million clients).
const DENSE_MATCHES: i64 = 50_000;
/// Terms of up to this many characters are answered by the FTS5 prefix index
/// (`prefix = '1 2'` in the migrations).
const PREFIX_INDEXED_CHARS: usize = 2;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Picks the plan from how many clients in the whole base match (counted up to a
/// bound). Walking the scope's index newest first reads about
/// `page / share of matches` index entries: few when matches are common, the
/// whole scope when they are rare (seconds at a million clients), so rare matches
/// are fetched and sorted instead. SQLite, left to itself, drives every search
/// from the match set, which on a cold cache reads one table page per match: 8.8
/// s for a two-letter prefix over a million clients.
fn search_plan(conn: &mut DbConn, terms: &[String]) -> Result<SearchPlan, CrmError> {
    let DbConn::Sqlite(c) = conn else {
        return Ok(SearchPlan::Planner);
    };
    if terms.is_empty() {
        return Ok(SearchPlan::Planner);
    }
    let short = terms
        .iter()
        .all(|t| t.chars().count() <= PREFIX_INDEXED_CHARS);
    let bound = if short {
        DENSE_MATCHES
    } else {
        SELECTIVE_MATCHES
    };
    let rows: Vec<Count> = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT rowid FROM clients_fts WHERE clients_fts MATCH ? LIMIT ?)",
    )
    .bind::<Text, _>(search::fts5_query(terms))
    .bind::<diesel::sql_types::BigInt, _>(bound + 1)
    .load(c)?;
    Ok(plan_for(rows.first().map_or(0, |r| r.n), short))
}

/// The plan for `matches` (counted up to the bound), `short` when every term is
/// answered by the prefix index.
fn plan_for(matches: i64, short: bool) -> SearchPlan {
    if matches <= SELECTIVE_MATCHES {
        SearchPlan::FromMatches
    } else if short && matches > DENSE_MATCHES {
        SearchPlan::WalkProbing
    } else {
        SearchPlan::WalkMatchSet
    }
}

/// Up to `fetch` rows of one slice of the caller's scope, filtered and in keyset order.
fn page_query(
    conn: &mut DbConn,
    query: &ListQuery,
    search: &(Vec<String>, SearchPlan),
    deleted: bool,
    cursor: Option<(NaiveDateTime, String)>,
    part: Part<'_>,
    fetch: i64,
) -> Result<Vec<ClientRow>, CrmError> {
    let backend = conn.backend();
    let (terms, plan) = (&search.0, search.1);
    let drive_from_search = plan == SearchPlan::FromMatches;
    let mut q = clients::table.select(ClientRow::as_select()).into_boxed();
    q = if deleted {
        q.filter(clients::deleted_at.is_not_null())
    } else {
        q.filter(clients::deleted_at.is_null())
    };
    q = match part {
        Part::All => q,
        // `+column` keeps SQLite from walking the scope's index when a selective
        // search should drive the query instead (see `search_plan`).
        Part::Owner(owner) if drive_from_search => {
            q.filter(sql::<Bool>("+clients.owner_id = ").bind::<Text, _>(owner.to_string()))
        }
        Part::Team(team) if drive_from_search => {
            q.filter(sql::<Bool>("+clients.team_id = ").bind::<Text, _>(team.to_string()))
        }
        Part::Owner(owner) => q.filter(clients::owner_id.eq(owner.to_string())),
        Part::Team(team) => q.filter(clients::team_id.eq(team.to_string())),
    };
    if let Some(status) = query.status.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(clients::status.eq(status.to_string()));
    }
    if let Some(owner) = query.owner_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(clients::owner_id.eq(owner.to_string()));
    }
    if query.duplicates.unwrap_or(false) {
        q = q.filter(clients::duplicate_of.is_not_null());
    }
    if let Some(tag) = query.tag.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(
            clients::id.eq_any(
                client_tags::table
                    .filter(client_tags::tag.eq(tag.to_string()))
                    .select(client_tags::client_id),
            ),
        );
    }
    if !terms.is_empty() {
        let fts = search::fts5_query(terms);
        q = match (backend, plan) {
            (Backend::Postgres, _) => q.filter(
                sql::<Bool>(search::PG_MATCH_OPEN)
                    .bind::<Text, _>(search::tsquery(terms))
                    .sql(search::PG_MATCH_CLOSE),
            ),
            (_, SearchPlan::WalkProbing) => q.filter(
                sql::<Bool>("EXISTS (SELECT 1 FROM clients_fts WHERE clients_fts MATCH ")
                    .bind::<Text, _>(fts)
                    .sql(" AND clients_fts.rowid = clients.pk)"),
            ),
            // `+clients.pk` keeps SQLite from driving the query from the match
            // set (one table read per match) when the walk should drive it.
            (_, SearchPlan::WalkMatchSet) => q.filter(
                sql::<Bool>(
                    "+clients.pk IN (SELECT rowid FROM clients_fts WHERE clients_fts MATCH ",
                )
                .bind::<Text, _>(fts)
                .sql(")"),
            ),
            _ => q.filter(
                sql::<Bool>(
                    "clients.pk IN (SELECT rowid FROM clients_fts WHERE clients_fts MATCH ",
                )
                .bind::<Text, _>(fts)
                .sql(")"),
            ),
        };
    }
    if let Some((at, id)) = cursor {
        q = q.filter(
            clients::created_at
                .lt(at)
                .or(clients::created_at.eq(at).and(clients::id.lt(id))),
        );
    }
    Ok(q.order((clients::created_at.desc(), clients::id.desc()))
        .limit(fetch)
        .load(conn)?)
}

/// One page of clients inside the scope, newest first. The scope becomes SQL; each
/// returned row is checked again with casbin.
pub fn list(
    conn: &mut DbConn,
    scope: &Scope,
    query: &ListQuery,
) -> Result<Page<ClientSummary>, CrmError> {
    let deleted = query.deleted.unwrap_or(false);
    if deleted {
        require(scope, Object::Client, &[Action::Restore])?;
    } else {
        // An export walks the same scoped pages as the list (crm::export).
        require(scope, Object::Client, &[Action::List, Action::Export])?;
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    if let Some(text) = query.q.as_deref()
        && (text.chars().count() > 200 || text.contains('\0'))
    {
        return Err(CrmError::invalid("q", Msg::new("invalid-query")));
    }
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(cursor::decode(c)?),
        None => None,
    };
    let fetch = i64::from(limit) + 1;
    let terms = query.q.as_deref().map(search::terms).unwrap_or_default();
    let plan = search_plan(conn, &terms)?;
    let search = (terms, plan);
    let mut page = |part: Part<'_>, cursor: Option<(NaiveDateTime, String)>| {
        page_query(conn, query, &search, deleted, cursor, part, fetch)
    };
    let mut rows: Vec<ClientRow> = match scope.filter() {
        Filter::OwnedBy(owner) => page(Part::Owner(owner), cursor)?,
        Filter::Everything => page(Part::All, cursor)?,
        // "Team OR owned by me" as one query makes both engines sort the whole
        // team; two index-ordered queries merged here read only what the page needs.
        Filter::TeamOrOwnedBy { team, owner } => {
            let mut merged = page(Part::Team(team), cursor.clone())?;
            merged.extend(page(Part::Owner(owner), cursor)?);
            merged.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            // A client of the team owned by the caller comes from both queries.
            merged.dedup_by(|a, b| a.id == b.id);
            merged.truncate(usize::try_from(fetch).unwrap_or(usize::MAX));
            merged
        }
    };
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| cursor::encode(r.created_at, &r.id))
    } else {
        None
    };
    let before = rows.len();
    rows.retain(|r| scope.permits(r.owner_id.as_deref(), r.team_id.as_deref()));
    if rows.len() != before {
        tracing::error!(
            dropped = before - rows.len(),
            "list rows outside the scope were dropped: the SQL scope filter is wrong"
        );
    }
    Ok(Page {
        items: rows.into_iter().map(summary).collect(),
        next_cursor,
    })
}

struct CleanContacts {
    rows: Vec<(String, String, String, Option<String>)>, // kind, value, normalized, label
}

fn clean_contacts(
    ctx: Ctx<'_>,
    phones: &[ContactInput],
    emails: &[ContactInput],
) -> Result<CleanContacts, CrmError> {
    if phones.len() > MAX_CONTACTS || emails.len() > MAX_CONTACTS {
        return Err(CrmError::invalid(
            "phones",
            Msg::new("invalid-too-many-contacts").arg("max", MAX_CONTACTS),
        ));
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in phones {
        let value = text::line("phone", p.value(), 40)?;
        let normalized = contact::normalize_phone(&value, ctx.phone_region)?;
        let label = text::opt_line("phone label", p.label(), 40)?;
        if seen.insert(("phone", normalized.clone())) {
            rows.push(("phone".to_string(), value, normalized, label));
        }
    }
    for e in emails {
        let value = text::line("email", e.value(), 254)?;
        let normalized = contact::normalize_email(&value)?;
        let label = text::opt_line("email label", e.label(), 40)?;
        if seen.insert(("email", normalized.clone())) {
            rows.push(("email".to_string(), value, normalized, label));
        }
    }
    Ok(CleanContacts { rows })
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>, CrmError> {
    if tags.len() > MAX_TAGS {
        return Err(CrmError::invalid(
            "tags",
            Msg::new("invalid-too-many-tags").arg("max", MAX_TAGS),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = text::line("tag", t.trim(), 40)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_status(conn: &mut DbConn, status: &str) -> Result<String, CrmError> {
    if statuses::is_active(conn, status)? {
        Ok(status.to_string())
    } else {
        Err(CrmError::invalid(
            "status",
            Msg::new("invalid-status").arg("value", status.chars().take(40).collect::<String>()),
        ))
    }
}

/// The owner's user id and team, checked: the user exists, is enabled, can own
/// clients, and the scope covers a client owned by them.
fn resolve_owner(
    conn: &mut DbConn,
    scope: &Scope,
    owner_id: &str,
) -> Result<(String, Option<String>), CrmError> {
    let found: Option<(String, Option<String>, bool, String)> = users::table
        .find(owner_id)
        .select((users::id, users::team_id, users::disabled, users::role))
        .first(conn)
        .optional()?;
    let Some((id, team, disabled, role)) = found else {
        return Err(CrmError::invalid(
            "owner_id",
            Msg::new("invalid-owner-unknown"),
        ));
    };
    if disabled || role == "admin" {
        return Err(CrmError::invalid(
            "owner_id",
            Msg::new("invalid-owner-cannot-own"),
        ));
    }
    if !scope.permits(Some(&id), team.as_deref()) {
        return Err(CrmError::Forbidden(Msg::new("not-allowed-assign-owner")));
    }
    Ok((id, team))
}

/// The id of a live client with one of these normalized contacts, if any.
pub(crate) fn find_duplicate(
    conn: &mut DbConn,
    contacts: &[(String, String)],
    except: Option<&str>,
) -> Result<Option<String>, CrmError> {
    for (kind, normalized) in contacts {
        let mut q = client_contacts::table
            .inner_join(clients::table.on(clients::id.eq(client_contacts::client_id)))
            .filter(client_contacts::kind.eq(kind))
            .filter(client_contacts::normalized.eq(normalized))
            .filter(clients::deleted_at.is_null())
            .select(clients::id)
            .order(clients::created_at.asc())
            .into_boxed();
        if let Some(ex) = except {
            q = q.filter(clients::id.ne(ex.to_string()));
        }
        if let Some(id) = q.first::<String>(conn).optional()? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn write_contacts(
    conn: &mut DbConn,
    env: &Env,
    client_id: &str,
    contacts: &CleanContacts,
) -> Result<(), CrmError> {
    diesel::delete(client_contacts::table.filter(client_contacts::client_id.eq(client_id)))
        .execute(conn)?;
    for (position, (kind, value, normalized, label)) in contacts.rows.iter().enumerate() {
        diesel::insert_into(client_contacts::table)
            .values(ContactRow {
                id: env.new_id()?.to_string(),
                client_id: client_id.to_string(),
                kind: kind.clone(),
                value: value.clone(),
                normalized: normalized.clone(),
                label: label.clone(),
                position: i32::try_from(position).unwrap_or(i32::MAX),
            })
            .execute(conn)?;
    }
    Ok(())
}

fn write_tags(conn: &mut DbConn, client_id: &str, tags: &[String]) -> Result<(), CrmError> {
    diesel::delete(client_tags::table.filter(client_tags::client_id.eq(client_id)))
        .execute(conn)?;
    for tag in tags {
        diesel::insert_into(client_tags::table)
            .values(TagRow {
                client_id: client_id.to_string(),
                tag: tag.clone(),
            })
            .execute(conn)?;
    }
    Ok(())
}

fn search_document(name: &str, company: Option<&str>, contacts: &CleanContacts) -> String {
    let phones: Vec<String> = contacts
        .rows
        .iter()
        .filter(|c| c.0 == "phone")
        .map(|c| c.2.clone())
        .collect();
    let emails: Vec<String> = contacts
        .rows
        .iter()
        .filter(|c| c.0 == "email")
        .map(|c| c.2.clone())
        .collect();
    search::document(name, company, &phones, &emails)
}

/// Creates a client. `default_owner` is used when the input names none and the
/// scope has no user (automatic intake).
pub fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &NewClient,
    default_owner: Option<&str>,
) -> Result<Created, CrmError> {
    // An import creates its new cards with the import scope.
    require(scope, Object::Client, &[Action::Create, Action::Import])?;
    let name = text::line("name", &input.name, NAME_MAX)?;
    let company = text::opt_line("company", input.company.as_deref(), NAME_MAX)?;
    let source = text::opt_line("source", input.source.as_deref(), 100)?;
    let address = text::opt_body("address", input.address.as_deref(), 500)?;
    let tags = clean_tags(&input.tags)?;
    let contacts = clean_contacts(ctx, &input.phones, &input.emails)?;
    let status = check_status(conn, input.status.as_deref().unwrap_or("new"))?;
    let owner_id = input
        .owner_id
        .as_deref()
        .or(scope.user_id())
        .or(default_owner);
    let (owner_id, team_id) = match owner_id {
        Some(o) => {
            let (id, team) = resolve_owner(conn, scope, o)?;
            (Some(id), team)
        }
        None => (None, None),
    };
    let keys: Vec<(String, String)> = contacts
        .rows
        .iter()
        .map(|c| (c.0.clone(), c.2.clone()))
        .collect();
    let duplicate_of = find_duplicate(conn, &keys, None)?;
    let now = ctx.env.now().naive_utc();
    let id = ctx.env.new_id()?.to_string();
    diesel::insert_into(clients::table)
        .values(NewClientRow {
            id: id.clone(),
            kind: input
                .kind
                .unwrap_or(ClientKind::Person)
                .as_str()
                .to_string(),
            search_text: search_document(&name, company.as_deref(), &contacts),
            name,
            company,
            status,
            source,
            address,
            owner_id,
            team_id,
            duplicate_of: duplicate_of.clone(),
            created_by: scope.user_id().map(str::to_string),
            created_at: now,
            updated_at: now,
        })
        .execute(conn)?;
    write_contacts(conn, ctx.env, &id, &contacts)?;
    write_tags(conn, &id, &tags)?;
    timeline::append_system(conn, ctx.env, &id, "created", scope.user_id(), None, None)?;
    let row = clients::table
        .filter(clients::id.eq(&id))
        .select(ClientRow::as_select())
        .first(conn)?;
    Ok(Created {
        client: hydrate_for(conn, scope, row)?,
        duplicate: duplicate_of.is_some(),
        matched: duplicate_of,
    })
}

pub fn update(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    patch: &ClientPatch,
) -> Result<(Client, Changes), CrmError> {
    // An import merges into existing cards with the import scope.
    require(scope, Object::Client, &[Action::Update, Action::Import])?;
    let row = load_in_scope(conn, scope, id, false)?;
    let mut changes = Changes::default();
    let now = ctx.env.now().naive_utc();

    let name = match &patch.name {
        Some(n) => text::line("name", n, NAME_MAX)?,
        None => row.name.clone(),
    };
    let company = match &patch.company {
        Some(c) => text::opt_line("company", c.as_deref(), NAME_MAX)?,
        None => row.company.clone(),
    };
    let source = match &patch.source {
        Some(s) => text::opt_line("source", s.as_deref(), 100)?,
        None => row.source.clone(),
    };
    let address = match &patch.address {
        Some(a) => text::opt_body("address", a.as_deref(), 500)?,
        None => row.address.clone(),
    };
    let status = match &patch.status {
        Some(s) => check_status(conn, s)?,
        None => row.status.clone(),
    };
    let kind = patch
        .kind
        .map(|k| k.as_str().to_string())
        .unwrap_or(row.kind.clone());
    let tags = patch.tags.as_deref().map(clean_tags).transpose()?;

    let existing: Vec<ContactRow> = client_contacts::table
        .filter(client_contacts::client_id.eq(&row.id))
        .select(ContactRow::as_select())
        .order(client_contacts::position)
        .load(conn)?;
    let as_input = |kind: &str| -> Vec<ContactInput> {
        existing
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| ContactInput::Labelled {
                value: c.value.clone(),
                label: c.label.clone(),
            })
            .collect()
    };
    let contacts_changed = patch.phones.is_some() || patch.emails.is_some();
    let contacts = if contacts_changed {
        let phones = patch.phones.clone().unwrap_or_else(|| as_input("phone"));
        let emails = patch.emails.clone().unwrap_or_else(|| as_input("email"));
        Some(clean_contacts(ctx, &phones, &emails)?)
    } else {
        None
    };

    let (owner_id, team_id) = match &patch.owner_id {
        Some(o) if Some(o) != row.owner_id.as_ref() => {
            let (id, team) = resolve_owner(conn, scope, o)?;
            changes.owner = Some((row.owner_id.clone(), Some(id.clone())));
            (Some(id), team)
        }
        _ => (row.owner_id.clone(), row.team_id.clone()),
    };

    for (field, changed) in [
        ("name", name != row.name),
        ("company", company != row.company),
        ("source", source != row.source),
        ("address", address != row.address),
        ("kind", kind != row.kind),
        ("status", status != row.status),
        ("owner", changes.owner.is_some()),
        ("tags", tags.is_some()),
        ("contacts", contacts_changed),
    ] {
        if changed {
            changes.fields.push(field);
        }
    }
    if status != row.status {
        changes.status = Some((row.status.clone(), status.clone()));
    }
    let personal = [
        ("name", Some(row.name.clone()), Some(name.clone())),
        ("company", row.company.clone(), company.clone()),
        ("address", row.address.clone(), address.clone()),
    ];
    for (field, old, new) in personal {
        if old != new {
            changes.personal.push(ValueChange { field, old, new });
        }
    }
    if let Some(c) = &contacts {
        for kind in ["phone", "email"] {
            let joined = |rows: Vec<&str>| Some(rows.join(", ")).filter(|s| !s.is_empty());
            let old = joined(
                existing
                    .iter()
                    .filter(|r| r.kind == kind)
                    .map(|r| r.normalized.as_str())
                    .collect(),
            );
            let new = joined(
                c.rows
                    .iter()
                    .filter(|r| r.0 == kind)
                    .map(|r| r.2.as_str())
                    .collect(),
            );
            if old != new {
                let field = if kind == "phone" { "phones" } else { "emails" };
                changes.personal.push(ValueChange { field, old, new });
            }
        }
    }

    let contacts_for_doc = match &contacts {
        Some(c) => CleanContacts {
            rows: c.rows.clone(),
        },
        None => CleanContacts {
            rows: existing
                .iter()
                .map(|c| {
                    (
                        c.kind.clone(),
                        c.value.clone(),
                        c.normalized.clone(),
                        c.label.clone(),
                    )
                })
                .collect(),
        },
    };
    diesel::update(clients::table.filter(clients::id.eq(&row.id)))
        .set((
            clients::name.eq(&name),
            clients::company.eq(&company),
            clients::source.eq(&source),
            clients::address.eq(&address),
            clients::kind.eq(&kind),
            clients::status.eq(&status),
            clients::owner_id.eq(&owner_id),
            clients::team_id.eq(&team_id),
            clients::search_text.eq(search_document(
                &name,
                company.as_deref(),
                &contacts_for_doc,
            )),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(c) = &contacts {
        write_contacts(conn, ctx.env, &row.id, c)?;
    }
    if let Some(t) = &tags {
        write_tags(conn, &row.id, t)?;
    }
    if let Some((old, new)) = &changes.status {
        timeline::append_system(
            conn,
            ctx.env,
            &row.id,
            "status_change",
            scope.user_id(),
            Some(old),
            Some(new),
        )?;
    }
    if let Some((old, new)) = &changes.owner {
        let names = user_names(conn)?;
        let label = |id: &Option<String>| {
            id.as_ref()
                .map(|i| names.get(i).cloned().unwrap_or_else(|| i.clone()))
        };
        timeline::append_system(
            conn,
            ctx.env,
            &row.id,
            "owner_change",
            scope.user_id(),
            label(old).as_deref(),
            label(new).as_deref(),
        )?;
    }
    let row = clients::table
        .filter(clients::id.eq(&row.id))
        .select(ClientRow::as_select())
        .first(conn)?;
    Ok((hydrate_for(conn, scope, row)?, changes))
}

/// Soft delete: the card disappears from lists and reads; an owner can restore it.
pub fn delete(conn: &mut DbConn, ctx: Ctx<'_>, scope: &Scope, id: &str) -> Result<(), CrmError> {
    require(scope, Object::Client, &[Action::Delete])?;
    let row = load_in_scope(conn, scope, id, false)?;
    let now = ctx.env.now().naive_utc();
    diesel::update(clients::table.filter(clients::id.eq(&row.id)))
        .set((
            clients::deleted_at.eq(Some(now)),
            clients::deleted_by.eq(scope.user_id().map(str::to_string)),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    timeline::append_system(
        conn,
        ctx.env,
        &row.id,
        "deleted",
        scope.user_id(),
        None,
        None,
    )?;
    Ok(())
}

pub fn restore(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
) -> Result<Client, CrmError> {
    require(scope, Object::Client, &[Action::Restore])?;
    let row = load_in_scope(conn, scope, id, true)?;
    let now = ctx.env.now().naive_utc();
    diesel::update(clients::table.filter(clients::id.eq(&row.id)))
        .set((
            clients::deleted_at.eq(None::<NaiveDateTime>),
            clients::deleted_by.eq(None::<String>),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    timeline::append_system(
        conn,
        ctx.env,
        &row.id,
        "restored",
        scope.user_id(),
        None,
        None,
    )?;
    let row = clients::table
        .filter(clients::id.eq(&row.id))
        .select(ClientRow::as_select())
        .first(conn)?;
    hydrate_for(conn, scope, row)
}

/// Display names of all users, for labels (the user table is small).
pub fn user_names(conn: &mut DbConn) -> Result<HashMap<String, String>, CrmError> {
    Ok(users::table
        .select((users::id, users::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// A client's first phone and first email.
pub type FirstContacts = (Option<String>, Option<String>);

/// The first phone and the first email of each client in `ids` (by position),
/// for a list that shows them masked. Callers pass ids already in scope.
pub fn first_contacts(
    conn: &mut DbConn,
    ids: &[String],
) -> Result<HashMap<String, FirstContacts>, CrmError> {
    use crate::store::schema::client_contacts as cc;
    let mut out: HashMap<String, FirstContacts> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String)> = cc::table
            .filter(cc::client_id.eq_any(chunk))
            .select((cc::client_id, cc::kind, cc::value))
            .order((cc::client_id, cc::position))
            .load(conn)?;
        for (id, kind, value) in rows {
            let e = out.entry(id).or_default();
            let slot = if kind == "phone" { &mut e.0 } else { &mut e.1 };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use secrecy::SecretString;

    /// Every row one plan returns for `q`, `page` rows at a time.
    fn all_pages(conn: &mut DbConn, q: &str, plan: SearchPlan, owner: Option<&str>) -> Vec<String> {
        const PAGE: i64 = 7;
        let query = ListQuery {
            q: Some(q.to_string()),
            ..ListQuery::default()
        };
        let search = (search::terms(q), plan);
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let part = owner.map_or(Part::All, Part::Owner);
            let rows = page_query(conn, &query, &search, false, cursor, part, PAGE).expect("page");
            cursor = rows.last().map(|r| (r.created_at, r.id.clone()));
            let full = rows.len() as i64 == PAGE;
            ids.extend(rows.into_iter().map(|r| r.id));
            if !full {
                return ids;
            }
        }
    }

    #[test]
    fn plans_follow_the_number_of_matches() {
        assert_eq!(plan_for(0, true), SearchPlan::FromMatches);
        assert_eq!(plan_for(SELECTIVE_MATCHES, false), SearchPlan::FromMatches);
        assert_eq!(
            plan_for(SELECTIVE_MATCHES + 1, false),
            SearchPlan::WalkMatchSet
        );
        assert_eq!(plan_for(DENSE_MATCHES + 1, false), SearchPlan::WalkMatchSet);
        assert_eq!(plan_for(DENSE_MATCHES, true), SearchPlan::WalkMatchSet);
        assert_eq!(plan_for(DENSE_MATCHES + 1, true), SearchPlan::WalkProbing);
    }

    /// The plans differ in how SQLite finds a page, never in what it holds: each
    /// pages through the same clients in the same order as the index's match set
    /// filtered from the full list.
    #[test]
    fn every_search_plan_returns_the_same_pages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("search.db").display());
        let store = Store::open(&SecretString::from(url), 1).expect("store");
        let env = Env::system();
        crate::demo::load(
            &store,
            &env,
            300,
            11,
            &SecretString::from("demo-password-123".to_string()),
        )
        .expect("demo");
        let mut guard = store.conn().expect("conn");
        let conn: &mut DbConn = &mut guard;
        let owner: String = clients::table
            .filter(clients::owner_id.is_not_null())
            .select(clients::owner_id.assume_not_null())
            .first(conn)
            .expect("an owner");
        let newest_first: Vec<(String, i64, Option<String>)> = clients::table
            .filter(clients::deleted_at.is_null())
            .order((clients::created_at.desc(), clients::id.desc()))
            .select((
                clients::id,
                sql::<diesel::sql_types::BigInt>("pk"),
                clients::owner_id,
            ))
            .load(conn)
            .expect("clients");
        for q in [
            "a",
            "Ağ",
            "AĞ",
            "ag",
            "ნ",
            "ნი",
            "م",
            "ال",
            "И",
            "ив",
            "oʻ",
            "Mə",
            "9",
            "99",
            "ka m",
            "ağ karim",
            "karimov",
        ] {
            #[derive(QueryableByName)]
            struct Pk {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                rowid: i64,
            }
            let matched: std::collections::HashSet<i64> =
                diesel::sql_query("SELECT rowid FROM clients_fts WHERE clients_fts MATCH ?")
                    .bind::<Text, _>(search::fts5_query(&search::terms(q)))
                    .load::<Pk>(conn)
                    .expect("matches")
                    .into_iter()
                    .map(|r| r.rowid)
                    .collect();
            for scope_owner in [None, Some(owner.as_str())] {
                let want: Vec<String> = newest_first
                    .iter()
                    .filter(|(_, pk, o)| {
                        matched.contains(pk) && scope_owner.is_none_or(|s| o.as_deref() == Some(s))
                    })
                    .map(|(id, _, _)| id.clone())
                    .collect();
                for plan in [
                    SearchPlan::FromMatches,
                    SearchPlan::WalkMatchSet,
                    SearchPlan::WalkProbing,
                ] {
                    assert_eq!(
                        all_pages(conn, q, plan, scope_owner),
                        want,
                        "{q:?} with {plan:?}, owner {scope_owner:?}"
                    );
                }
            }
        }
    }
}
