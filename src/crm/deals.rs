//! Deals on the pipeline. A deal belongs to a client and is reached exactly
//! when its client is: the scope is checked against the client's owner and
//! team, never the deal's own owner (a colleague's deal on my client is mine to
//! see; my deal on a client moved to another team is no longer mine).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::clients::{Ctx, user_names};
use super::types::{DEFAULT_PAGE, MAX_PAGE, Page, UserRef, utc};
use super::work::{
    self, ClientRef, amount_of, assignable_user, client_in_scope, parse_amount, parse_currency,
    parse_date, require, within_client_scope,
};
use super::{CrmError, cursor, text};
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::models::work::{FullDealRow, StageChangeRow, StageRow};
use crate::store::schema::{clients, deal_stage_changes, deal_stages, deals};

const TITLE_MAX: usize = 200;
const REASON_MAX: usize = 500;
/// Cards per column on the pipeline page (totals count every deal).
pub const COLUMN_CARDS: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }

    fn parse(s: &str) -> StageKind {
        match s {
            "won" => StageKind::Won,
            "lost" => StageKind::Lost,
            _ => StageKind::Open,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub code: String,
    pub label: String,
    pub position: i32,
    pub kind: StageKind,
    pub active: bool,
}

impl From<StageRow> for Stage {
    fn from(r: StageRow) -> Stage {
        Stage {
            kind: StageKind::parse(&r.kind),
            code: r.code,
            label: r.label,
            position: r.position,
            active: r.active,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    pub label: String,
    #[serde(default)]
    pub position: Option<i32>,
    #[serde(default)]
    pub kind: Option<StageKind>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// Amounts arrive as strings (exact) or as JSON numbers (their text is used as
/// written, never through a float).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AmountInput {
    Text(String),
    Number(serde_json::Number),
}

impl AmountInput {
    pub fn text(&self) -> String {
        match self {
            AmountInput::Text(s) => s.clone(),
            AmountInput::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    pub client_id: String,
    pub title: String,
    pub amount: AmountInput,
    pub currency: String,
    #[serde(default)]
    pub expected_close: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub lost_reason: Option<String>,
    /// Defaults to the caller.
    #[serde(default)]
    pub owner_id: Option<String>,
}

/// Absent fields stay as they are; `expected_close: null` clears the date.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealPatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub amount: Option<AmountInput>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "some_of")]
    pub expected_close: Option<Option<String>>,
    #[serde(default)]
    pub owner_id: Option<String>,
    /// A stage move, as `POST …/stage` does it.
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub lost_reason: Option<String>,
}

fn some_of<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    pub stage: String,
    #[serde(default)]
    pub lost_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DealQuery {
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deal {
    pub id: String,
    pub client: ClientRef,
    pub title: String,
    /// Exact decimal, as a string.
    pub amount: Decimal,
    pub currency: String,
    pub stage: String,
    pub expected_close: Option<NaiveDate>,
    pub owner: Option<UserRef>,
    pub lost_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageChange {
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub lost_reason: Option<String>,
    pub at: DateTime<Utc>,
    pub by: Option<UserRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DealDetail {
    pub deal: Deal,
    pub history: Vec<StageChange>,
}

/// What a write changed, for the audit log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DealChanges {
    pub fields: Vec<&'static str>,
    pub stage: Option<(String, String)>,
    pub owner: Option<(Option<String>, Option<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub currency: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub stage: Stage,
    pub count: i64,
    /// One total per currency: amounts in different currencies are never added.
    pub totals: Vec<Total>,
    pub deals: Vec<Deal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub columns: Vec<Column>,
}

// ---------------------------------------------------------------------------
// Stages (not client data: anyone signed in reads them)

pub fn stages(conn: &mut DbConn) -> Result<Vec<Stage>, CrmError> {
    let rows: Vec<StageRow> = deal_stages::table
        .select(StageRow::as_select())
        .order((deal_stages::position, deal_stages::code))
        .load(conn)?;
    Ok(rows.into_iter().map(Stage::from).collect())
}

/// A stage code: letters and digits of any script, `_` and `-`; 1 to 40 characters.
fn check_stage_code(code: &str) -> Result<(), CrmError> {
    let ok = !code.is_empty()
        && code.chars().count() <= 40
        && code
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CrmError::invalid("code", Msg::new("invalid-stage-code")))
    }
}

/// Adds or edits a stage; returns the old and new versions for the audit log.
pub fn upsert_stage(
    conn: &mut DbConn,
    scope: &Scope,
    code: &str,
    input: &StageInput,
) -> Result<(Option<Stage>, Stage), CrmError> {
    require(scope, Object::DealStages, &[Action::Update])?;
    check_stage_code(code)?;
    let label = text::line("label", &input.label, 60)?;
    let old: Option<Stage> = deal_stages::table
        .find(code)
        .select(StageRow::as_select())
        .first(conn)
        .optional()?
        .map(Stage::from);
    let position = match (input.position, &old) {
        (Some(p), _) => p,
        (None, Some(o)) => o.position,
        (None, None) => {
            deal_stages::table
                .select(diesel::dsl::max(deal_stages::position))
                .first::<Option<i32>>(conn)?
                .unwrap_or(0)
                + 1
        }
    };
    let kind = input
        .kind
        .or(old.as_ref().map(|o| o.kind))
        .unwrap_or(StageKind::Open);
    let active = input
        .active
        .or(old.as_ref().map(|o| o.active))
        .unwrap_or(true);
    let row = StageRow {
        code: code.to_string(),
        label,
        position,
        kind: kind.as_str().to_string(),
        active,
    };
    // A new stage is in nobody's history yet; a moved one or one of another
    // kind changes which stage is furthest for deals that went through it.
    let reorders = old
        .as_ref()
        .is_some_and(|o| o.position != row.position || o.kind.as_str() != row.kind);
    if old.is_some() {
        diesel::update(deal_stages::table.find(code))
            .set((
                deal_stages::label.eq(&row.label),
                deal_stages::position.eq(row.position),
                deal_stages::kind.eq(&row.kind),
                deal_stages::active.eq(row.active),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(deal_stages::table)
            .values(&row)
            .execute(conn)?;
    }
    let remaining_open = deal_stages::table
        .filter(deal_stages::active.eq(true))
        .filter(deal_stages::kind.eq("open"))
        .count()
        .get_result::<i64>(conn)?;
    if remaining_open == 0 {
        // New deals start in the first open stage; a board without one would
        // refuse every new deal.
        return Err(CrmError::invalid(
            "active",
            Msg::new("invalid-stage-last-open"),
        ));
    }
    if reorders {
        // One pass over every deal: slow on a big base, but an owner reorders
        // the board rarely, and the funnel reads this on every view.
        diesel::sql_query(format!(
            "UPDATE deals SET reached_stage = {REACHED_OF_DEAL}"
        ))
        .execute(conn)?;
    }
    Ok((old, Stage::from(row)))
}

fn active_stage(conn: &mut DbConn, code: &str) -> Result<Stage, CrmError> {
    let found: Option<StageRow> = deal_stages::table
        .find(code)
        .filter(deal_stages::active.eq(true))
        .select(StageRow::as_select())
        .first(conn)
        .optional()?;
    found.map(Stage::from).ok_or_else(|| {
        CrmError::invalid(
            "stage",
            Msg::new("invalid-stage").arg("value", code.chars().take(40).collect::<String>()),
        )
    })
}

fn first_open_stage(conn: &mut DbConn) -> Result<Stage, CrmError> {
    let found: Option<StageRow> = deal_stages::table
        .filter(deal_stages::active.eq(true))
        .filter(deal_stages::kind.eq("open"))
        .order((deal_stages::position, deal_stages::code))
        .select(StageRow::as_select())
        .first(conn)
        .optional()?;
    found
        .map(Stage::from)
        .ok_or_else(|| CrmError::Internal("the pipeline has no open stage".into()))
}

/// The reason a deal is lost: required for a lost stage, dropped otherwise.
fn reason_for(stage: &Stage, reason: Option<&str>) -> Result<Option<String>, CrmError> {
    if stage.kind != StageKind::Lost {
        return Ok(None);
    }
    match text::opt_line("lost_reason", reason, REASON_MAX)? {
        Some(r) => Ok(Some(r)),
        None => Err(CrmError::invalid(
            "lost_reason",
            Msg::new("invalid-lost-reason-required"),
        )),
    }
}

// ---------------------------------------------------------------------------
// Reading

/// A deal the scope reaches through its live client, with that client's name.
fn load_in_scope(
    conn: &mut DbConn,
    scope: &Scope,
    id: &str,
) -> Result<(FullDealRow, String), CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(CrmError::NotFound);
    }
    let row: Option<FullDealRow> = deals::table
        .filter(deals::id.eq(id))
        .select(FullDealRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(CrmError::NotFound);
    };
    let name = client_in_scope(conn, scope, &row.client_id)?;
    Ok((row, name))
}

fn view(row: FullDealRow, client_name: Option<String>, names: &HashMap<String, String>) -> Deal {
    Deal {
        client: ClientRef {
            id: row.client_id,
            name: client_name,
        },
        owner: row.owner_id.as_ref().map(|id| UserRef {
            id: id.clone(),
            name: names.get(id).cloned().unwrap_or_default(),
        }),
        id: row.id,
        title: row.title,
        amount: amount_of(row.amount_e4),
        currency: row.currency,
        stage: row.stage,
        expected_close: row.expected_close,
        lost_reason: row.lost_reason,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

pub fn get(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<DealDetail, CrmError> {
    require(scope, Object::Deal, &[Action::Read])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    let names = user_names(conn)?;
    let history = history_of(conn, &row.id, &names)?;
    Ok(DealDetail {
        deal: view(row, Some(client_name), &names),
        history,
    })
}

pub fn history(conn: &mut DbConn, scope: &Scope, id: &str) -> Result<Vec<StageChange>, CrmError> {
    require(scope, Object::Deal, &[Action::Read])?;
    let (row, _) = load_in_scope(conn, scope, id)?;
    let names = user_names(conn)?;
    history_of(conn, &row.id, &names)
}

fn history_of(
    conn: &mut DbConn,
    deal_id: &str,
    names: &HashMap<String, String>,
) -> Result<Vec<StageChange>, CrmError> {
    let rows: Vec<StageChangeRow> = deal_stage_changes::table
        .filter(deal_stage_changes::deal_id.eq(deal_id))
        .select(StageChangeRow::as_select())
        .order((deal_stage_changes::changed_at, deal_stage_changes::id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| StageChange {
            from_stage: r.from_stage,
            to_stage: r.to_stage,
            lost_reason: r.lost_reason,
            at: utc(r.changed_at),
            by: r.changed_by.as_ref().map(|id| UserRef {
                id: id.clone(),
                name: names.get(id).cloned().unwrap_or_default(),
            }),
        })
        .collect())
}

type DealWithClient = work::WithClient<FullDealRow>;

/// Deals whose live client the scope reaches, as one boxed query: the scope
/// becomes SQL on the client's owner and team.
macro_rules! scoped_deals {
    ($scope:expr) => {{
        let q = deals::table
            .inner_join(clients::table.on(clients::id.eq(deals::client_id)))
            .select((
                FullDealRow::as_select(),
                (clients::name, clients::owner_id, clients::team_id),
            ))
            .into_boxed();
        within_client_scope!(q, $scope)
    }};
}

/// Rows the SQL filter let through are checked again, one by one (a guard
/// against a wrong filter, as for clients).
fn recheck(scope: &Scope, rows: &mut Vec<DealWithClient>) {
    work::recheck(
        scope,
        rows,
        |(_, (_, owner, team))| (owner.as_deref(), team.as_deref()),
        "deal",
    );
}

/// One page of deals, newest first.
pub fn list(conn: &mut DbConn, scope: &Scope, query: &DealQuery) -> Result<Page<Deal>, CrmError> {
    require(scope, Object::Deal, &[Action::List])?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut q = scoped_deals!(scope);
    if let Some(stage) = query.stage.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(deals::stage.eq(stage.to_string()));
    }
    if let Some(client) = query.client_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(deals::client_id.eq(client.to_string()));
    }
    if let Some(owner) = query.owner_id.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(deals::owner_id.eq(owner.to_string()));
    }
    if let Some(currency) = query.currency.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(deals::currency.eq(parse_currency(currency)?));
    }
    if let Some(c) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = cursor::decode(c)?;
        q = q.filter(
            deals::created_at
                .lt(at)
                .or(deals::created_at.eq(at).and(deals::id.lt(id))),
        );
    }
    let mut rows: Vec<DealWithClient> = q
        .order((deals::created_at.desc(), deals::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = work::cut_page(scope, &mut rows, limit, |r| (r.created_at, &r.id), "deal");
    let names = user_names(conn)?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(r, (name, _, _))| view(r, Some(name), &names))
            .collect(),
        next_cursor,
    })
}

/// The deals of one client the scope reaches (for its card), newest first.
pub fn of_client(conn: &mut DbConn, scope: &Scope, client_id: &str) -> Result<Vec<Deal>, CrmError> {
    let page = list(
        conn,
        scope,
        &DealQuery {
            client_id: Some(client_id.to_string()),
            limit: Some(MAX_PAGE),
            ..DealQuery::default()
        },
    )?;
    Ok(page.items)
}

// The board's totals group deals by their client's owner and team.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    deals::currency,
    clients::owner_id,
    clients::team_id,
);

/// A stage's deals of one currency whose clients share an (owner, team):
/// (currency, owner, team, count, sum of amounts in ten-thousandths).
type StageSum = (String, Option<String>, Option<String>, i64, i64);

/// The board: every active stage with its deals (newest first, up to
/// `COLUMN_CARDS`), their count and their totals per currency. Deals in a stage
/// taken off the board are not shown.
pub fn pipeline(
    conn: &mut DbConn,
    scope: &Scope,
    owner_id: Option<&str>,
) -> Result<Pipeline, CrmError> {
    require(scope, Object::Deal, &[Action::List])?;
    let names = user_names(conn)?;
    let mut columns = Vec::new();
    for stage in stages(conn)?.into_iter().filter(|s| s.active) {
        // Count and totals are summed by the database, grouped by the client's
        // (owner, team) as well so that every group is checked against the
        // scope like a row would be: a million deals never leave the database.
        let mut sums = deals::table
            .inner_join(clients::table.on(clients::id.eq(deals::client_id)))
            .filter(deals::stage.eq(stage.code.clone()))
            .group_by((deals::currency, clients::owner_id, clients::team_id))
            .select((
                deals::currency,
                clients::owner_id,
                clients::team_id,
                diesel::dsl::count_star(),
                diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "CAST(COALESCE(SUM(deals.amount_e4), 0) AS BIGINT)",
                ),
            ))
            .into_boxed();
        sums = within_client_scope!(sums, scope);
        if let Some(owner) = owner_id {
            sums = sums.filter(deals::owner_id.eq(owner.to_string()));
        }
        let mut groups: Vec<StageSum> = sums.load(conn)?;
        work::recheck(
            scope,
            &mut groups,
            |(_, owner, team, _, _)| (owner.as_deref(), team.as_deref()),
            "deal totals",
        );
        let mut totals: BTreeMap<String, i128> = BTreeMap::new();
        let mut count = 0i64;
        for (currency, _, _, n, e4) in groups {
            *totals.entry(currency).or_default() += i128::from(e4);
            count = count.saturating_add(n);
        }
        let totals = totals
            .into_iter()
            .map(|(currency, e4)| Total {
                currency,
                amount: Decimal::from_i128_with_scale(e4, 4).normalize(),
            })
            .collect();
        let mut q = scoped_deals!(scope).filter(deals::stage.eq(stage.code.clone()));
        if let Some(owner) = owner_id {
            q = q.filter(deals::owner_id.eq(owner.to_string()));
        }
        let mut shown: Vec<DealWithClient> = q
            .order((deals::created_at.desc(), deals::id.desc()))
            .limit(COLUMN_CARDS)
            .load(conn)?;
        recheck(scope, &mut shown);
        columns.push(Column {
            stage,
            count,
            totals,
            deals: shown
                .into_iter()
                .map(|(r, (name, _, _))| view(r, Some(name), &names))
                .collect(),
        });
    }
    Ok(Pipeline { columns })
}

// ---------------------------------------------------------------------------
// Writing

#[allow(clippy::too_many_arguments)]
fn record_change(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    deal_id: &str,
    from: Option<&str>,
    to: &str,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), CrmError> {
    // The furthest open stage (by the stages' current order) in the deal's
    // history is what the funnel counts as reached; kept on the deal so the
    // funnel need not join the history.
    diesel::insert_into(deal_stage_changes::table)
        .values(StageChangeRow {
            id: ctx.env.new_id()?.to_string(),
            deal_id: deal_id.to_string(),
            from_stage: from.map(str::to_string),
            to_stage: to.to_string(),
            lost_reason: reason.map(str::to_string),
            changed_at: at,
            changed_by: scope.user_id().map(str::to_string),
        })
        .execute(conn)?;
    let reached: Option<String> = deal_stage_changes::table
        .inner_join(deal_stages::table.on(deal_stages::code.eq(deal_stage_changes::to_stage)))
        .filter(deal_stage_changes::deal_id.eq(deal_id))
        .filter(deal_stages::kind.eq(StageKind::Open.as_str()))
        .order((deal_stages::position.desc(), deal_stages::code.asc()))
        .select(deal_stages::code)
        .first(conn)
        .optional()?;
    diesel::update(deals::table.filter(deals::id.eq(deal_id)))
        .set(deals::reached_stage.eq(reached))
        .execute(conn)?;
    Ok(())
}

/// `record_change`'s furthest open stage as SQL, for every deal at once (the
/// row being updated is `deals`).
const REACHED_OF_DEAL: &str = "(SELECT h.to_stage FROM deal_stage_changes h \
     INNER JOIN deal_stages s ON s.code = h.to_stage \
     WHERE h.deal_id = deals.id AND s.kind = 'open' \
     ORDER BY s.position DESC, s.code LIMIT 1)";

pub fn create(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &NewDeal,
) -> Result<Deal, CrmError> {
    require(scope, Object::Deal, &[Action::Create])?;
    // The client first: a client outside the scope answers like a missing one.
    let client_name = client_in_scope(conn, scope, &input.client_id)?;
    let title = text::line("title", &input.title, TITLE_MAX)?;
    let currency = parse_currency(&input.currency)?;
    let amount_e4 = parse_amount(&input.amount.text(), &currency)?;
    let expected_close = parse_date("expected_close", input.expected_close.as_deref())?;
    let stage = match input.stage.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(code) => active_stage(conn, code)?,
        None => first_open_stage(conn)?,
    };
    let lost_reason = reason_for(&stage, input.lost_reason.as_deref())?;
    let owner_id = match input.owner_id.as_deref().or(scope.user_id()) {
        Some(o) => {
            assignable_user(conn, scope, "owner_id", o)?;
            Some(o.to_string())
        }
        None => None,
    };
    let now = ctx.env.now().naive_utc();
    let row = FullDealRow {
        id: ctx.env.new_id()?.to_string(),
        client_id: input.client_id.clone(),
        title,
        amount_e4,
        currency,
        stage: stage.code.clone(),
        expected_close,
        owner_id,
        created_at: now,
        updated_at: now,
        lost_reason: lost_reason.clone(),
        created_by: scope.user_id().map(str::to_string),
    };
    diesel::insert_into(deals::table)
        .values(&row)
        .execute(conn)?;
    record_change(
        conn,
        ctx,
        scope,
        &row.id,
        None,
        &stage.code,
        lost_reason.as_deref(),
        now,
    )?;
    let names = user_names(conn)?;
    Ok(view(row, Some(client_name), &names))
}

pub fn update(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    patch: &DealPatch,
) -> Result<(Deal, DealChanges), CrmError> {
    require(scope, Object::Deal, &[Action::Update])?;
    let (row, client_name) = load_in_scope(conn, scope, id)?;
    let mut changes = DealChanges::default();
    let title = match &patch.title {
        Some(t) => text::line("title", t, TITLE_MAX)?,
        None => row.title.clone(),
    };
    let currency = match &patch.currency {
        Some(c) => parse_currency(c)?,
        None => row.currency.clone(),
    };
    let amount_e4 = match &patch.amount {
        Some(a) => parse_amount(&a.text(), &currency)?,
        // A new currency with fewer minor units must still fit the old amount.
        None if currency != row.currency => {
            parse_amount(&amount_of(row.amount_e4).to_string(), &currency)?
        }
        None => row.amount_e4,
    };
    let expected_close = match &patch.expected_close {
        Some(d) => parse_date("expected_close", d.as_deref())?,
        None => row.expected_close,
    };
    let owner_id = match &patch.owner_id {
        Some(o) if Some(o) != row.owner_id.as_ref() => {
            assignable_user(conn, scope, "owner_id", o)?;
            changes.owner = Some((row.owner_id.clone(), Some(o.clone())));
            Some(o.clone())
        }
        _ => row.owner_id.clone(),
    };
    let (stage, lost_reason) = match &patch.stage {
        Some(code) if *code != row.stage || patch.lost_reason.is_some() => {
            let stage = active_stage(conn, code)?;
            (
                stage.code.clone(),
                reason_for(&stage, patch.lost_reason.as_deref())?,
            )
        }
        _ => (row.stage.clone(), row.lost_reason.clone()),
    };
    for (field, changed) in [
        ("title", title != row.title),
        ("amount", amount_e4 != row.amount_e4),
        ("currency", currency != row.currency),
        ("expected_close", expected_close != row.expected_close),
        ("owner", changes.owner.is_some()),
        ("stage", stage != row.stage),
        ("lost_reason", lost_reason != row.lost_reason),
    ] {
        if changed {
            changes.fields.push(field);
        }
    }
    let now = ctx.env.now().naive_utc();
    if !changes.fields.is_empty() {
        diesel::update(deals::table.filter(deals::id.eq(&row.id)))
            .set((
                deals::title.eq(&title),
                deals::amount_e4.eq(amount_e4),
                deals::currency.eq(&currency),
                deals::expected_close.eq(expected_close),
                deals::owner_id.eq(&owner_id),
                deals::stage.eq(&stage),
                deals::lost_reason.eq(&lost_reason),
                deals::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    if stage != row.stage || lost_reason != row.lost_reason {
        changes.stage = Some((row.stage.clone(), stage.clone()));
        record_change(
            conn,
            ctx,
            scope,
            &row.id,
            Some(&row.stage),
            &stage,
            lost_reason.as_deref(),
            now,
        )?;
    }
    let row: FullDealRow = deals::table
        .filter(deals::id.eq(&row.id))
        .select(FullDealRow::as_select())
        .first(conn)?;
    let names = user_names(conn)?;
    Ok((view(row, Some(client_name), &names), changes))
}

/// Moves a deal to another stage (the board's drag and its form).
pub fn move_stage(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    id: &str,
    mv: &StageMove,
) -> Result<(Deal, DealChanges), CrmError> {
    update(
        conn,
        ctx,
        scope,
        id,
        &DealPatch {
            stage: Some(mv.stage.clone()),
            lost_reason: mv.lost_reason.clone(),
            ..DealPatch::default()
        },
    )
}
