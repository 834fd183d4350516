//! Reports: the funnel, revenue by month, activity per person, clients at risk.
//!
//! Every number is aggregated by the database (GROUP BY); only the grouped rows
//! (people × stages, months × currencies) reach this process. The same SQL runs
//! on SQLite and PostgreSQL; where the two differ (a month of a timestamp) the
//! text is chosen per backend.
//!
//! Scopes. Numbers that belong to a person (a deal's owner, an entry's author, a
//! task's assignee) are scoped by that person: a salesperson sees their own, a
//! team lead their team's people, an owner everyone's. Numbers that belong to a
//! client's book (invoices, payments, clients at risk) are scoped by the client's
//! owner and team, like the invoice lists. Rows that name a person or a client
//! are checked again one by one against the scope after the SQL filter.
//!
//! Money is summed per currency; amounts in different currencies are never added.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::clients::Ctx;
use super::types::{UserRef, utc};
use super::work::require;
use super::{CrmError, text};
use crate::access::{Action, Filter, Object, Scope};
use crate::i18n::Msg;
use crate::store::models::reports::ReportSettingsRow;
use crate::store::schema::{report_settings, users};
use crate::store::{Backend, DbConn};

/// The longest period a report covers (about three years).
pub const MAX_DAYS: i64 = 1_096;
/// Clients at risk returned at most per request.
pub const MAX_AT_RISK: u32 = 500;
const DEFAULT_AT_RISK: u32 = 100;

// ---------------------------------------------------------------------------
// Periods

/// `from` and `to` as the query string gives them (dates, both included).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodInput {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// Whole UTC days, `from` and `to` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Which default a report uses when `from` is not given.
#[derive(Debug, Clone, Copy)]
pub enum DefaultSpan {
    /// The last 90 days, today included.
    Days90,
    /// The last twelve calendar months, this one included.
    Months12,
}

fn parse_day(field: &str, value: &str) -> Result<NaiveDate, CrmError> {
    let d = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| CrmError::invalid(field, Msg::new("invalid-report-date")))?;
    if !(1970..=9999).contains(&d.year()) {
        return Err(CrmError::invalid(field, Msg::new("invalid-report-date")));
    }
    Ok(d)
}

impl Period {
    pub fn parse(
        input: &PeriodInput,
        today: NaiveDate,
        span: DefaultSpan,
    ) -> Result<Period, CrmError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        let to = match given(&input.to) {
            Some(v) => parse_day("to", &v)?,
            None => today,
        };
        let from = match given(&input.from) {
            Some(v) => parse_day("from", &v)?,
            None => match span {
                DefaultSpan::Days90 => to - Duration::days(89),
                DefaultSpan::Months12 => {
                    let first = to.with_day(1).unwrap_or(to);
                    let months = first.year() * 12 + first.month0() as i32 - 11;
                    NaiveDate::from_ymd_opt(
                        months.div_euclid(12),
                        months.rem_euclid(12) as u32 + 1,
                        1,
                    )
                    .unwrap_or(first)
                }
            },
        };
        if from > to {
            return Err(CrmError::invalid("from", Msg::new("invalid-report-order")));
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(CrmError::invalid(
                "to",
                Msg::new("invalid-report-range").arg("max", MAX_DAYS),
            ));
        }
        Ok(Period { from, to })
    }

    /// The first moment of the period.
    fn start(&self) -> NaiveDateTime {
        self.from.and_hms_opt(0, 0, 0).unwrap_or_default()
    }

    /// The first moment after the period.
    fn end(&self) -> NaiveDateTime {
        (self.to + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
    }

    /// Every month the period touches, oldest first ("2026-11").
    fn months(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (mut y, mut m) = (self.from.year(), self.from.month());
        while (y, m) <= (self.to.year(), self.to.month()) {
            out.push(format!("{y:04}-{m:02}"));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Raw SQL with bound parameters, on either backend

enum Param {
    Text(String),
    Ts(NaiveDateTime),
    Day(NaiveDate),
    Int(i64),
}

/// SQL text with its parameters; placeholders follow the backend (`?` or `$n`).
struct Sql {
    backend: Backend,
    text: String,
    binds: Vec<Param>,
}

impl Sql {
    fn new(backend: Backend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            binds: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, p: Param) -> &mut Sql {
        self.binds.push(p);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                let n = self.binds.len();
                self.text.push_str(&format!("${n}"));
            }
        }
        self
    }

    /// `YYYY-MM` of a timestamp or date column.
    fn month_of(&mut self, col: &str) -> &mut Sql {
        match self.backend {
            Backend::Sqlite => self.push(&format!("substr({col}, 1, 7)")),
            Backend::Postgres => self.push(&format!("to_char({col}, 'YYYY-MM')")),
        }
    }

    /// Narrows to the people the scope reaches: `col` names a user id.
    fn people_scope(&mut self, scope: &Scope, col: &str) -> &mut Sql {
        match scope.filter() {
            Filter::OwnedBy(me) => {
                self.push(&format!(" AND {col} = "));
                self.bind(Param::Text(me.to_string()))
            }
            Filter::TeamOrOwnedBy { team, owner } => {
                self.push(&format!(" AND ({col} = "));
                self.bind(Param::Text(owner.to_string()));
                self.push(&format!(
                    " OR {col} IN (SELECT id FROM users WHERE team_id = "
                ));
                self.bind(Param::Text(team.to_string()));
                self.push("))")
            }
            Filter::Everything => self,
        }
    }

    /// Narrows to live clients the scope reaches (`c` is the clients alias), for
    /// a query that another index should drive: on SQLite
    /// the scope's columns are written `+c.owner_id`, so the planner does not
    /// walk a whole team's clients through their index and probe each one (it
    /// has no statistics to know the other side is narrower); PostgreSQL plans this
    /// itself.
    fn client_scope_driven(&mut self, scope: &Scope, c: &str) -> &mut Sql {
        let plus = if self.backend == Backend::Sqlite {
            "+"
        } else {
            ""
        };
        self.client_scope_as(scope, c, plus)
    }

    fn client_scope_as(&mut self, scope: &Scope, c: &str, plus: &str) -> &mut Sql {
        self.push(&format!(" AND {c}.deleted_at IS NULL"));
        match scope.filter() {
            Filter::OwnedBy(me) => {
                self.push(&format!(" AND {plus}{c}.owner_id = "));
                self.bind(Param::Text(me.to_string()))
            }
            Filter::TeamOrOwnedBy { team, owner } => {
                self.push(&format!(" AND ({plus}{c}.team_id = "));
                self.bind(Param::Text(team.to_string()));
                self.push(&format!(" OR {plus}{c}.owner_id = "));
                self.bind(Param::Text(owner.to_string()));
                self.push(")")
            }
            Filter::Everything => self,
        }
    }

    fn load<R>(self, conn: &mut DbConn) -> Result<Vec<R>, CrmError>
    where
        R: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        macro_rules! run {
            ($c:expr, $db:ty) => {{
                let mut q = diesel::sql_query(self.text).into_boxed::<$db>();
                for p in self.binds {
                    q = match p {
                        Param::Text(s) => q.bind::<Text, _>(s),
                        Param::Ts(t) => q.bind::<Timestamp, _>(t),
                        Param::Day(d) => q.bind::<Date, _>(d),
                        Param::Int(i) => q.bind::<BigInt, _>(i),
                    };
                }
                q.load::<R>($c)?
            }};
        }
        Ok(match conn {
            DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
            DbConn::Pg(c) => run!(c, diesel::pg::Pg),
        })
    }
}

fn money(e4: i64) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(e4), 4).normalize()
}

/// An amount in one currency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Amount {
    pub currency: String,
    pub amount: Decimal,
}

fn amounts(sums: BTreeMap<String, i64>) -> Vec<Amount> {
    sums.into_iter()
        .map(|(currency, e4)| Amount {
            currency,
            amount: money(e4),
        })
        .collect()
}

/// The people the reader's scope reaches, with their team: (id, name, team).
fn people(
    conn: &mut DbConn,
    scope: &Scope,
) -> Result<HashMap<String, (String, Option<String>)>, CrmError> {
    let rows: Vec<(String, String, Option<String>)> = users::table
        .select((users::id, users::display_name, users::team_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(id, _, team)| scope.permits(Some(id), team.as_deref()))
        .map(|(id, name, team)| (id, (name, team)))
        .collect())
}

/// Keeps the rows whose person the scope reaches (a guard against a wrong SQL
/// filter); a row without a person (an unassigned deal) only for a reader who
/// reaches everything.
fn keep_people<R>(
    scope: &Scope,
    reach: &HashMap<String, (String, Option<String>)>,
    rows: &mut Vec<R>,
    person: impl Fn(&R) -> Option<&str>,
    what: &str,
) {
    let before = rows.len();
    let everything = scope.filter() == Filter::Everything;
    rows.retain(|r| match person(r) {
        Some(p) => reach.contains_key(p),
        None => everything,
    });
    if rows.len() != before {
        tracing::error!(
            dropped = before - rows.len(),
            what,
            "report rows outside the scope were dropped: the SQL scope filter is wrong"
        );
    }
}

fn person_ref(
    reach: &HashMap<String, (String, Option<String>)>,
    id: Option<&str>,
) -> Option<UserRef> {
    id.map(|id| UserRef {
        id: id.to_string(),
        name: reach.get(id).map(|(n, _)| n.clone()).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------
// Funnel

/// One stage of the funnel.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelStage {
    pub code: String,
    pub label: String,
    /// Deals of the period that reached this stage or a later one (a won deal
    /// reached every open stage).
    pub reached: i64,
    /// Of those, the share that went on to the next stage (or to won, after the
    /// last open stage), in percent with one decimal; `None` when none reached it.
    pub conversion_pct: Option<f64>,
    /// Deals lost while this was the furthest stage they had reached.
    pub lost_here: i64,
    /// Deals still open in this stage.
    pub open_here: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LostReason {
    /// `None`: lost without a reason (older deals).
    pub reason: Option<String>,
    pub count: i64,
}

/// The funnel of one person's deals, or of all deals in the reader's scope.
#[derive(Debug, Clone, Serialize)]
pub struct Funnel {
    /// `None` in the total; a deal without an owner is counted under `owner: null`.
    pub owner: Option<UserRef>,
    pub deals: i64,
    pub won: i64,
    pub lost: i64,
    pub open: i64,
    /// Won over all deals of the period, in percent with one decimal.
    pub win_rate_pct: Option<f64>,
    pub stages: Vec<FunnelStage>,
    /// Lost deals whose furthest stage is unknown (no history of an open stage).
    pub lost_unknown_stage: i64,
    pub lost_reasons: Vec<LostReason>,
    pub won_amounts: Vec<Amount>,
    pub lost_amounts: Vec<Amount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    pub period: Period,
    pub total: Funnel,
    pub by_owner: Vec<Funnel>,
}

#[derive(QueryableByName)]
struct FunnelRow {
    #[diesel(sql_type = Nullable<Text>)]
    owner_id: Option<String>,
    #[diesel(sql_type = Text)]
    stage: String,
    #[diesel(sql_type = Nullable<Text>)]
    reached_stage: Option<String>,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    amount_e4: i64,
}

#[derive(QueryableByName)]
struct ReasonRow {
    #[diesel(sql_type = Nullable<Text>)]
    owner_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Default)]
struct FunnelAcc {
    /// (stage code, furthest open position reached) → count
    groups: BTreeMap<(String, Option<i32>), i64>,
    won_e4: BTreeMap<String, i64>,
    lost_e4: BTreeMap<String, i64>,
    reasons: BTreeMap<Option<String>, i64>,
}

fn pct(part: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| ((part as f64) * 1000.0 / (of as f64)).round() / 10.0)
}

fn build_funnel(owner: Option<UserRef>, acc: &FunnelAcc, stages: &[super::deals::Stage]) -> Funnel {
    use super::deals::StageKind;
    let kind_of: HashMap<&str, &super::deals::Stage> =
        stages.iter().map(|s| (s.code.as_str(), s)).collect();
    let open: Vec<&super::deals::Stage> = stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .collect();
    let (mut deals, mut won, mut lost, mut still_open, mut lost_unknown) = (0, 0, 0, 0, 0);
    // Per deal group: its furthest open position (the current stage counts when open).
    let mut furthest: Vec<(Option<i32>, StageKind, &str, i64)> = Vec::new();
    for ((code, reached), n) in &acc.groups {
        let stage = kind_of.get(code.as_str());
        let kind = stage.map(|s| s.kind).unwrap_or(StageKind::Open);
        let here = stage
            .filter(|s| s.kind == StageKind::Open)
            .map(|s| s.position);
        let pos = match (*reached, here) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        deals += n;
        match kind {
            StageKind::Won => won += n,
            StageKind::Lost => lost += n,
            StageKind::Open => still_open += n,
        }
        furthest.push((pos, kind, code.as_str(), *n));
    }
    let mut out_stages = Vec::new();
    for s in &open {
        let reached: i64 = furthest
            .iter()
            .filter(|(pos, kind, _, _)| {
                *kind == StageKind::Won || pos.is_some_and(|p| p >= s.position)
            })
            .map(|(_, _, _, n)| n)
            .sum();
        let lost_here: i64 = furthest
            .iter()
            .filter(|(pos, kind, _, _)| *kind == StageKind::Lost && *pos == Some(s.position))
            .map(|(_, _, _, n)| n)
            .sum();
        let open_here: i64 = furthest
            .iter()
            .filter(|(_, kind, code, _)| *kind == StageKind::Open && *code == s.code)
            .map(|(_, _, _, n)| n)
            .sum();
        out_stages.push(FunnelStage {
            code: s.code.clone(),
            label: s.label.clone(),
            reached,
            conversion_pct: None,
            lost_here,
            open_here,
        });
    }
    // Inactive stages nobody reached stay off the report.
    let active: HashMap<&str, bool> = open.iter().map(|s| (s.code.as_str(), s.active)).collect();
    out_stages.retain(|s| {
        active.get(s.code.as_str()).copied().unwrap_or(true) || s.reached > 0 || s.lost_here > 0
    });
    for i in 0..out_stages.len() {
        let next = out_stages.get(i + 1).map(|s| s.reached).unwrap_or(won);
        out_stages[i].conversion_pct = pct(next, out_stages[i].reached);
    }
    for (pos, kind, _, n) in &furthest {
        if *kind == StageKind::Lost && !open.iter().any(|s| Some(s.position) == *pos) {
            lost_unknown += n;
        }
    }
    let mut reasons: Vec<LostReason> = acc
        .reasons
        .iter()
        .map(|(r, n)| LostReason {
            reason: r.clone(),
            count: *n,
        })
        .collect();
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    Funnel {
        owner,
        deals,
        won,
        lost,
        open: still_open,
        win_rate_pct: pct(won, deals),
        stages: out_stages,
        lost_unknown_stage: lost_unknown,
        lost_reasons: reasons,
        won_amounts: amounts(acc.won_e4.clone()),
        lost_amounts: amounts(acc.lost_e4.clone()),
    }
}

/// The funnel of the deals created in the period, in total and per owner.
pub fn funnel(conn: &mut DbConn, scope: &Scope, period: &Period) -> Result<FunnelReport, CrmError> {
    require(scope, Object::Report, &[Action::Read])?;
    let stages = super::deals::stages(conn)?;
    let reach = people(conn, scope)?;

    // Per owner, stage, furthest open stage reached and currency: one pass over
    // the period's deals through the covering `deals_funnel` index.
    let mut q = Sql::new(conn.backend());
    q.push(
        "SELECT d.owner_id AS owner_id, d.stage AS stage, d.reached_stage AS reached_stage, \
         d.currency AS currency, COUNT(*) AS n, CAST(COALESCE(SUM(d.amount_e4), 0) AS BIGINT) AS amount_e4 \
         FROM deals d WHERE d.created_at >= ",
    );
    q.bind(Param::Ts(period.start()))
        .push(" AND d.created_at < ")
        .bind(Param::Ts(period.end()))
        .client_not_deleted("d.client_id")
        .people_scope(scope, "d.owner_id")
        .push(" GROUP BY d.owner_id, d.stage, d.reached_stage, d.currency");
    let mut rows: Vec<FunnelRow> = q.load(conn)?;
    keep_people(
        scope,
        &reach,
        &mut rows,
        |r| r.owner_id.as_deref(),
        "funnel",
    );

    let mut q = Sql::new(conn.backend());
    q.push(
        "SELECT d.owner_id AS owner_id, d.lost_reason AS reason, COUNT(*) AS n \
         FROM deals d WHERE d.stage IN (SELECT code FROM deal_stages WHERE kind = 'lost') \
         AND d.created_at >= ",
    );
    q.bind(Param::Ts(period.start()))
        .push(" AND d.created_at < ")
        .bind(Param::Ts(period.end()))
        .client_not_deleted("d.client_id")
        .people_scope(scope, "d.owner_id")
        .push(" GROUP BY d.owner_id, d.lost_reason");
    let mut reasons: Vec<ReasonRow> = q.load(conn)?;
    keep_people(
        scope,
        &reach,
        &mut reasons,
        |r| r.owner_id.as_deref(),
        "funnel reasons",
    );

    let kind: HashMap<&str, super::deals::StageKind> =
        stages.iter().map(|s| (s.code.as_str(), s.kind)).collect();
    let mut total = FunnelAcc::default();
    let mut per: BTreeMap<Option<String>, FunnelAcc> = BTreeMap::new();
    let open_position: HashMap<&str, i32> = stages
        .iter()
        .filter(|s| s.kind == super::deals::StageKind::Open)
        .map(|s| (s.code.as_str(), s.position))
        .collect();
    for r in &rows {
        let reached = r
            .reached_stage
            .as_deref()
            .and_then(|code| open_position.get(code).copied());
        for acc in [&mut total, per.entry(r.owner_id.clone()).or_default()] {
            *acc.groups.entry((r.stage.clone(), reached)).or_default() += r.n;
            match kind.get(r.stage.as_str()) {
                Some(super::deals::StageKind::Won) => {
                    *acc.won_e4.entry(r.currency.clone()).or_default() += r.amount_e4
                }
                Some(super::deals::StageKind::Lost) => {
                    *acc.lost_e4.entry(r.currency.clone()).or_default() += r.amount_e4
                }
                _ => {}
            }
        }
    }
    for r in &reasons {
        let reason = r
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        for acc in [&mut total, per.entry(r.owner_id.clone()).or_default()] {
            *acc.reasons.entry(reason.clone()).or_default() += r.n;
        }
    }
    let mut by_owner: Vec<Funnel> = per
        .iter()
        .map(|(owner, acc)| build_funnel(person_ref(&reach, owner.as_deref()), acc, &stages))
        .collect();
    by_owner.sort_by(|a, b| {
        let name = |f: &Funnel| f.owner.as_ref().map(|o| o.name.to_lowercase());
        b.deals.cmp(&a.deals).then_with(|| name(a).cmp(&name(b)))
    });
    Ok(FunnelReport {
        period: *period,
        total: build_funnel(None, &total, &stages),
        by_owner,
    })
}

impl Sql {
    /// Pins SQLite to `index` where, without statistics, it picks a worse one
    /// (PostgreSQL plans from its statistics and has no such clause).
    fn indexed_by(&mut self, index: &str) -> &mut Sql {
        match self.backend {
            Backend::Sqlite => self.push(&format!(" INDEXED BY {index}")),
            Backend::Postgres => self,
        }
    }

    /// Joins the clients as `c` when the scope needs their owner or team
    /// (`col` names the records' client id); see `in_reach`.
    fn join_clients_for(&mut self, scope: &Scope, col: &str) -> &mut Sql {
        match scope.filter() {
            Filter::Everything => self,
            _ => self.push(&format!(" INNER JOIN clients c ON c.id = {col}")),
        }
    }

    /// Narrows records to live clients in the scope, for a query that an index
    /// on the records drives; pairs with `join_clients_for`. Everything needs
    /// no join: visiting each record's client only to learn it is not deleted
    /// cost more than the rest of the query.
    fn in_reach(&mut self, scope: &Scope, col: &str) -> &mut Sql {
        match scope.filter() {
            Filter::Everything => self.client_not_deleted(col),
            _ => self.client_scope_driven(scope, "c"),
        }
    }

    /// Records of live clients only, without joining the clients (`col` names a
    /// client id): the deleted ones are few and have their own index.
    fn client_not_deleted(&mut self, col: &str) -> &mut Sql {
        self.push(&format!(
            " AND {col} NOT IN (SELECT id FROM clients WHERE deleted_at IS NOT NULL)"
        ))
    }
}

// ---------------------------------------------------------------------------
// Revenue

#[derive(Debug, Clone, Serialize)]
pub struct RevenueMonth {
    /// "2026-11"
    pub month: String,
    pub currency: String,
    /// Invoices issued in the month (voided ones are not counted).
    pub invoices: i64,
    pub invoiced: Decimal,
    /// Credit notes issued in the month (a negative amount).
    pub credited: Decimal,
    /// Payments received in the month.
    pub payments: i64,
    pub paid: Decimal,
}

/// Unpaid issued invoices as of today, per currency.
#[derive(Debug, Clone, Serialize)]
pub struct OpenInvoices {
    pub currency: String,
    pub unpaid_count: i64,
    pub unpaid: Decimal,
    /// The part of the unpaid ones whose due date has passed.
    pub overdue_count: i64,
    pub overdue: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevenueReport {
    pub period: Period,
    /// The day "overdue" was measured against.
    pub today: NaiveDate,
    /// Every month of the period and every currency seen in it, oldest first.
    pub months: Vec<RevenueMonth>,
    /// Totals of the period per currency.
    pub totals: Vec<RevenueMonth>,
    pub open: Vec<OpenInvoices>,
}

#[derive(QueryableByName)]
struct IssuedRow {
    #[diesel(sql_type = Text)]
    month: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total_e4: i64,
}

#[derive(QueryableByName)]
struct PaidRow {
    #[diesel(sql_type = Text)]
    month: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total_e4: i64,
}

#[derive(QueryableByName)]
struct OpenRow {
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Integer)]
    overdue: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total_e4: i64,
}

#[derive(Default, Clone, Copy)]
struct MonthAcc {
    invoices: i64,
    invoiced: i64,
    credited: i64,
    payments: i64,
    paid: i64,
}

fn month_row(month: &str, currency: &str, a: &MonthAcc) -> RevenueMonth {
    RevenueMonth {
        month: month.to_string(),
        currency: currency.to_string(),
        invoices: a.invoices,
        invoiced: money(a.invoiced),
        credited: money(a.credited),
        payments: a.payments,
        paid: money(a.paid),
    }
}

/// Invoiced (by the month of issue) and paid (by the month of payment) per
/// currency over the period, and the unpaid and overdue invoices as of today.
pub fn revenue(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    period: &Period,
) -> Result<RevenueReport, CrmError> {
    require(scope, Object::Report, &[Action::Read])?;
    let today = ctx.env.now().date_naive();
    let backend = conn.backend();

    let mut q = Sql::new(backend);
    q.push("SELECT ")
        .month_of("i.issued_at")
        .push(
            " AS month, i.currency AS currency, i.kind AS kind, COUNT(*) AS n, \
             CAST(COALESCE(SUM(i.total_e4), 0) AS BIGINT) AS total_e4 \
             FROM invoices i",
        )
        .join_clients_for(scope, "i.client_id")
        .push(" WHERE i.state = 'sent' AND i.issued_at >= ")
        .bind(Param::Ts(period.start()))
        .push(" AND i.issued_at < ")
        .bind(Param::Ts(period.end()))
        .in_reach(scope, "i.client_id")
        .push(" GROUP BY 1, 2, 3");
    let issued: Vec<IssuedRow> = q.load(conn)?;

    let mut q = Sql::new(backend);
    q.push("SELECT ")
        .month_of("p.paid_on")
        .push(
            " AS month, i.currency AS currency, COUNT(*) AS n, \
             CAST(COALESCE(SUM(p.amount_e4), 0) AS BIGINT) AS total_e4 \
             FROM payments p INNER JOIN invoices i ON i.id = p.invoice_id",
        )
        .join_clients_for(scope, "i.client_id")
        .push(" WHERE p.paid_on >= ")
        .bind(Param::Day(period.from))
        .push(" AND p.paid_on <= ")
        .bind(Param::Day(period.to))
        .in_reach(scope, "i.client_id")
        .push(" GROUP BY 1, 2");
    let paid: Vec<PaidRow> = q.load(conn)?;

    let mut q = Sql::new(backend);
    q.push(
        "SELECT i.currency AS currency, \
         CASE WHEN i.due_on IS NOT NULL AND i.due_on < ",
    )
    .bind(Param::Day(today))
    .push(
        " THEN 1 ELSE 0 END AS overdue, COUNT(*) AS n, \
         CAST(COALESCE(SUM(i.total_e4 + i.credited_e4 - i.paid_e4), 0) AS BIGINT) AS total_e4 \
         FROM invoices i",
    )
    .join_clients_for(scope, "i.client_id")
    // Written as the partial index `invoices_open` is, so that it drives.
    .push(
        " WHERE i.state = 'sent' AND i.kind = 'invoice' \
         AND i.total_e4 + i.credited_e4 - i.paid_e4 > 0",
    )
    .in_reach(scope, "i.client_id")
    .push(" GROUP BY 1, 2");
    let open: Vec<OpenRow> = q.load(conn)?;

    let mut cells: BTreeMap<(String, String), MonthAcc> = BTreeMap::new();
    let mut currencies: std::collections::BTreeSet<String> = Default::default();
    for r in &issued {
        currencies.insert(r.currency.clone());
        let a = cells
            .entry((r.month.clone(), r.currency.clone()))
            .or_default();
        if r.kind == "credit_note" {
            a.credited += r.total_e4;
        } else {
            a.invoices += r.n;
            a.invoiced += r.total_e4;
        }
    }
    for r in &paid {
        currencies.insert(r.currency.clone());
        let a = cells
            .entry((r.month.clone(), r.currency.clone()))
            .or_default();
        a.payments += r.n;
        a.paid += r.total_e4;
    }
    let mut months = Vec::new();
    let mut totals: BTreeMap<String, MonthAcc> = BTreeMap::new();
    for m in period.months() {
        for cur in &currencies {
            let a = cells
                .get(&(m.clone(), cur.clone()))
                .copied()
                .unwrap_or_default();
            let t = totals.entry(cur.clone()).or_default();
            t.invoices += a.invoices;
            t.invoiced += a.invoiced;
            t.credited += a.credited;
            t.payments += a.payments;
            t.paid += a.paid;
            months.push(month_row(&m, cur, &a));
        }
    }
    let mut open_by: BTreeMap<String, OpenInvoices> = BTreeMap::new();
    let mut open_e4: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &open {
        let o = open_by
            .entry(r.currency.clone())
            .or_insert_with(|| OpenInvoices {
                currency: r.currency.clone(),
                unpaid_count: 0,
                unpaid: Decimal::ZERO,
                overdue_count: 0,
                overdue: Decimal::ZERO,
            });
        let e = open_e4.entry(r.currency.clone()).or_default();
        o.unpaid_count += r.n;
        e.0 += r.total_e4;
        if r.overdue == 1 {
            o.overdue_count += r.n;
            e.1 += r.total_e4;
        }
    }
    for (cur, (unpaid, overdue)) in open_e4 {
        if let Some(o) = open_by.get_mut(&cur) {
            o.unpaid = money(unpaid);
            o.overdue = money(overdue);
        }
    }
    Ok(RevenueReport {
        period: *period,
        today,
        months,
        totals: totals
            .iter()
            .map(|(c, a)| month_row("total", c, a))
            .collect(),
        open: open_by.into_values().collect(),
    })
}

// ---------------------------------------------------------------------------
// Activity

#[derive(Debug, Clone, Serialize)]
pub struct ActivityRow {
    pub user: UserRef,
    pub calls: i64,
    pub emails: i64,
    pub meetings: i64,
    pub notes: i64,
    /// Tasks assigned to the person and marked done in the period.
    pub tasks_done: i64,
    /// Tasks assigned to the person, not done, whose due time has passed (now).
    pub tasks_overdue: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivityReport {
    pub period: Period,
    pub as_of: chrono::DateTime<Utc>,
    pub people: Vec<ActivityRow>,
}

#[derive(QueryableByName)]
struct KindCount {
    #[diesel(sql_type = Nullable<Text>)]
    person: Option<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Calls, e-mails, meetings and notes written, tasks done in the period, and
/// overdue tasks now, per person the reader's scope reaches.
pub fn activity(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    period: &Period,
) -> Result<ActivityReport, CrmError> {
    require(scope, Object::Report, &[Action::Read])?;
    let now = ctx.env.now();
    let backend = conn.backend();
    let reach = people(conn, scope)?;

    let mut q = Sql::new(backend);
    q.push(
        "SELECT t.author_id AS person, t.kind AS kind, COUNT(*) AS n FROM timeline_entries t \
         WHERE t.author_id IS NOT NULL AND t.kind IN ('call', 'email', 'meeting', 'note') \
         AND t.occurred_at >= ",
    )
    .bind(Param::Ts(period.start()))
    .push(" AND t.occurred_at < ")
    .bind(Param::Ts(period.end()))
    .people_scope(scope, "t.author_id")
    .push(" GROUP BY t.author_id, t.kind");
    let mut rows: Vec<KindCount> = q.load(conn)?;

    let mut q = Sql::new(backend);
    q.push(
        "SELECT k.assignee_id AS person, 'done' AS kind, COUNT(*) AS n FROM tasks k \
         WHERE k.done_at >= ",
    )
    .bind(Param::Ts(period.start()))
    .push(" AND k.done_at < ")
    .bind(Param::Ts(period.end()))
    .people_scope(scope, "k.assignee_id")
    .push(" GROUP BY k.assignee_id");
    rows.extend(q.load::<KindCount>(conn)?);

    let mut q = Sql::new(backend);
    q.push(
        "SELECT k.assignee_id AS person, 'overdue' AS kind, COUNT(*) AS n FROM tasks k \
         WHERE k.done_at IS NULL AND k.due_at < ",
    )
    .bind(Param::Ts(now.naive_utc()))
    .people_scope(scope, "k.assignee_id")
    .push(" GROUP BY k.assignee_id");
    rows.extend(q.load::<KindCount>(conn)?);
    keep_people(
        scope,
        &reach,
        &mut rows,
        |r| r.person.as_deref(),
        "activity",
    );

    // Everyone in reach who sells or leads, and anyone else with numbers.
    let roles: HashMap<String, (String, bool)> = users::table
        .select((users::id, users::role, users::disabled))
        .load::<(String, String, bool)>(conn)?
        .into_iter()
        .map(|(id, role, disabled)| (id, (role, disabled)))
        .collect();
    let mut by: BTreeMap<String, ActivityRow> = BTreeMap::new();
    for (id, (name, _)) in &reach {
        let shown = roles
            .get(id)
            .is_some_and(|(role, disabled)| !disabled && (role == "sales" || role == "manager"));
        if shown {
            by.insert(id.clone(), blank_activity(id, name));
        }
    }
    for r in rows {
        let Some(person) = r.person else { continue };
        let name = reach
            .get(&person)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let row = by
            .entry(person.clone())
            .or_insert_with(|| blank_activity(&person, &name));
        match r.kind.as_str() {
            "call" => row.calls += r.n,
            "email" => row.emails += r.n,
            "meeting" => row.meetings += r.n,
            "note" => row.notes += r.n,
            "done" => row.tasks_done += r.n,
            "overdue" => row.tasks_overdue += r.n,
            _ => {}
        }
    }
    let mut people: Vec<ActivityRow> = by.into_values().collect();
    people.sort_by(|a, b| {
        a.user
            .name
            .to_lowercase()
            .cmp(&b.user.name.to_lowercase())
            .then_with(|| a.user.id.cmp(&b.user.id))
    });
    Ok(ActivityReport {
        period: *period,
        as_of: now,
        people,
    })
}

fn blank_activity(id: &str, name: &str) -> ActivityRow {
    ActivityRow {
        user: UserRef {
            id: id.to_string(),
            name: name.to_string(),
        },
        calls: 0,
        emails: 0,
        meetings: 0,
        notes: 0,
        tasks_done: 0,
        tasks_overdue: 0,
    }
}

// ---------------------------------------------------------------------------
// Clients at risk: the owner's flags

/// What makes a client "at risk", as the owner set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskSettings {
    /// Repeated complaints: at least `complaints_min` calls logged with the outcome
    /// `complaint_outcome` in the last `complaints_days` days.
    pub complaints_on: bool,
    pub complaints_min: i32,
    pub complaints_days: i32,
    pub complaint_outcome: String,
    /// No call, e-mail or meeting for `no_contact_days` days (counted from the
    /// client's creation when there was none).
    pub no_contact_on: bool,
    pub no_contact_days: i32,
    /// An unpaid invoice at least `overdue_days` days past its due date.
    pub overdue_on: bool,
    pub overdue_days: i32,
    /// `None` while the defaults apply.
    pub updated_at: Option<chrono::DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings {
            complaints_on: true,
            complaints_min: 2,
            complaints_days: 90,
            complaint_outcome: "complaint".into(),
            no_contact_on: true,
            no_contact_days: 30,
            overdue_on: true,
            overdue_days: 1,
            updated_at: None,
            updated_by: None,
        }
    }
}

/// A change of the settings; fields left out keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettingsInput {
    pub complaints_on: Option<bool>,
    pub complaints_min: Option<i64>,
    pub complaints_days: Option<i64>,
    pub complaint_outcome: Option<String>,
    pub no_contact_on: Option<bool>,
    pub no_contact_days: Option<i64>,
    pub overdue_on: Option<bool>,
    pub overdue_days: Option<i64>,
}

const SETTINGS_ID: &str = "default";

pub fn risk_settings(conn: &mut DbConn) -> Result<RiskSettings, CrmError> {
    let row: Option<ReportSettingsRow> = report_settings::table
        .filter(report_settings::id.eq(SETTINGS_ID))
        .select(ReportSettingsRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        None => RiskSettings::default(),
        Some(r) => RiskSettings {
            complaints_on: r.complaints_on,
            complaints_min: r.complaints_min,
            complaints_days: r.complaints_days,
            complaint_outcome: r.complaint_outcome,
            no_contact_on: r.no_contact_on,
            no_contact_days: r.no_contact_days,
            overdue_on: r.overdue_on,
            overdue_days: r.overdue_days,
            updated_at: Some(utc(r.updated_at)),
            updated_by: r.updated_by,
        },
    })
}

fn in_range(field: &str, v: Option<i64>, lo: i64, hi: i64, old: i32) -> Result<i32, CrmError> {
    match v {
        None => Ok(old),
        Some(v) if (lo..=hi).contains(&v) => Ok(i32::try_from(v).unwrap_or(old)),
        Some(_) => Err(CrmError::invalid(
            field,
            Msg::new("invalid-report-setting-range")
                .arg("min", lo)
                .arg("max", hi),
        )),
    }
}

/// Validates and stores a change (owners only: the scope says so); returns
/// (before, after).
pub fn update_risk_settings(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    input: &RiskSettingsInput,
) -> Result<(RiskSettings, RiskSettings), CrmError> {
    require(scope, Object::ReportSettings, &[Action::Update])?;
    let old = risk_settings(conn)?;
    let outcome = match &input.complaint_outcome {
        None => old.complaint_outcome.clone(),
        Some(v) => text::line("complaint_outcome", v, 100)?.trim().to_string(),
    };
    let now = ctx.env.now().naive_utc();
    let row = ReportSettingsRow {
        id: SETTINGS_ID.into(),
        complaints_on: input.complaints_on.unwrap_or(old.complaints_on),
        complaints_min: in_range(
            "complaints_min",
            input.complaints_min,
            1,
            100,
            old.complaints_min,
        )?,
        complaints_days: in_range(
            "complaints_days",
            input.complaints_days,
            1,
            3650,
            old.complaints_days,
        )?,
        complaint_outcome: outcome,
        no_contact_on: input.no_contact_on.unwrap_or(old.no_contact_on),
        no_contact_days: in_range(
            "no_contact_days",
            input.no_contact_days,
            1,
            3650,
            old.no_contact_days,
        )?,
        overdue_on: input.overdue_on.unwrap_or(old.overdue_on),
        overdue_days: in_range(
            "overdue_days",
            input.overdue_days,
            0,
            3650,
            old.overdue_days,
        )?,
        updated_at: now,
        updated_by: scope.user_id().map(str::to_string),
    };
    let updated =
        diesel::update(report_settings::table.filter(report_settings::id.eq(SETTINGS_ID)))
            .set(&row)
            .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(report_settings::table)
            .values(&row)
            .execute(conn)?;
    }
    let new = risk_settings(conn)?;
    Ok((old, new))
}

// ---------------------------------------------------------------------------
// Clients at risk

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtRiskQuery {
    #[serde(default)]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtRiskClient {
    pub id: String,
    pub name: String,
    pub owner: Option<UserRef>,
    /// Which of the owner's flags this client raises: "complaints", "no_contact",
    /// "overdue_invoices".
    pub flags: Vec<&'static str>,
    pub complaints: i64,
    pub last_contact_at: Option<chrono::DateTime<Utc>>,
    pub overdue_invoices: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtRiskReport {
    pub settings: RiskSettings,
    pub as_of: chrono::DateTime<Utc>,
    pub clients: Vec<AtRiskClient>,
    /// More flagged clients exist than `limit` returned.
    pub more: bool,
    pub limit: u32,
}

#[derive(QueryableByName)]
struct RiskRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    owner_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    team_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    complaints: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_contact: Option<NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
}

pub fn parse_limit(q: &AtRiskQuery) -> Result<u32, CrmError> {
    match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_AT_RISK),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_AT_RISK).contains(&n) => Ok(n),
            _ => Err(CrmError::invalid(
                "limit",
                Msg::new("invalid-report-limit").arg("max", MAX_AT_RISK),
            )),
        },
    }
}

/// The clients in the reader's scope that raise at least one enabled flag, the
/// most flags first.
pub fn at_risk(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    scope: &Scope,
    limit: u32,
) -> Result<AtRiskReport, CrmError> {
    require(scope, Object::Report, &[Action::Read])?;
    let settings = risk_settings(conn)?;
    let now = ctx.env.now();
    let as_of = now.naive_utc();
    let today = now.date_naive();
    let mut clients = Vec::new();
    let mut more = false;
    if settings.complaints_on || settings.no_contact_on || settings.overdue_on {
        let complaints_since = as_of - Duration::days(i64::from(settings.complaints_days));
        let contact_before = as_of - Duration::days(i64::from(settings.no_contact_days));
        let due_before = today - Duration::days(i64::from(settings.overdue_days));
        let outcome = settings.complaint_outcome.to_lowercase();
        // Clients with an overdue invoice or a complaint in the window: few,
        // found through their own indexes, and the only ones that sort above a
        // client flagged for silence alone.
        let troubled = |q: &mut Sql| {
            q.push("SELECT i.client_id FROM invoices i")
                .indexed_by("invoices_open")
                .push(
                    " WHERE i.state = 'sent' AND i.kind = 'invoice' \
                     AND i.total_e4 + i.credited_e4 - i.paid_e4 > 0 AND i.due_on < ",
                )
                .bind(Param::Day(due_before))
                .push(
                    " UNION SELECT t.client_id FROM timeline_entries t \
                 WHERE t.kind = 'call' AND lower(t.call_outcome) = ",
                )
                .bind(Param::Text(outcome.clone()))
                .push(" AND t.occurred_at >= ")
                .bind(Param::Ts(complaints_since));
        };
        let mut q = Sql::new(conn.backend());
        q.push(
            "SELECT x.id AS id, x.name AS name, x.owner_id AS owner_id, x.team_id AS team_id, \
             x.complaints AS complaints, x.last_contact AS last_contact, x.created_at AS created_at, \
             x.overdue AS overdue FROM (SELECT c.id AS id, c.name AS name, c.owner_id AS owner_id, \
             c.team_id AS team_id, c.created_at AS created_at, c.last_contact_at AS last_contact, \
             (SELECT COUNT(*) FROM timeline_entries t",
        )
        // Per client: through its own timeline, not every complaint of the
        // window (SQLite prefers the outcome index here, and is quadratic).
        .indexed_by("timeline_client")
        .push(
            " WHERE t.client_id = c.id AND t.kind = 'call' \
              AND lower(t.call_outcome) = ",
        )
        .bind(Param::Text(outcome.clone()))
        .push(" AND t.occurred_at >= ")
        .bind(Param::Ts(complaints_since))
        .push(
            ") AS complaints, \
             (SELECT COUNT(*) FROM invoices i WHERE i.client_id = c.id AND i.state = 'sent' \
              AND i.kind = 'invoice' AND i.total_e4 + i.credited_e4 - i.paid_e4 > 0 \
              AND i.due_on < ",
        )
        .bind(Param::Day(due_before))
        .push(") AS overdue FROM clients c WHERE c.id IN (");
        troubled(&mut q);
        q.push(")")
            .client_scope_driven(scope, "c")
            .push(") x WHERE 1 = 0");
        if settings.complaints_on {
            q.push(" OR x.complaints >= ")
                .bind(Param::Int(i64::from(settings.complaints_min)));
        }
        if settings.no_contact_on {
            q.push(" OR COALESCE(x.last_contact, x.created_at) < ")
                .bind(Param::Ts(contact_before));
        }
        if settings.overdue_on {
            q.push(" OR x.overdue > 0");
        }
        q.push(" ORDER BY x.overdue DESC, x.complaints DESC, COALESCE(x.last_contact, x.created_at) ASC, x.id LIMIT ")
            .bind(Param::Int(i64::from(limit) + 1));
        let mut rows: Vec<RiskRow> = q.load(conn)?;
        if settings.no_contact_on && rows.len() <= limit as usize {
            // The rest: silent clients with neither overdue invoices nor
            // complaints, the quietest first, straight from `clients_quiet`.
            let mut q = Sql::new(conn.backend());
            q.push(
                "SELECT c.id AS id, c.name AS name, c.owner_id AS owner_id, c.team_id AS team_id, \
                 CAST(0 AS BIGINT) AS complaints, c.last_contact_at AS last_contact, \
                 c.created_at AS created_at, CAST(0 AS BIGINT) AS overdue \
                 FROM clients c WHERE COALESCE(c.last_contact_at, c.created_at) < ",
            )
            .bind(Param::Ts(contact_before))
            .client_scope_driven(scope, "c")
            .push(" AND c.id NOT IN (");
            troubled(&mut q);
            q.push(") ORDER BY COALESCE(c.last_contact_at, c.created_at), c.id LIMIT ")
                .bind(Param::Int(i64::from(limit) + 1 - rows.len() as i64));
            rows.extend(q.load::<RiskRow>(conn)?);
        }
        more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        super::work::recheck(
            scope,
            &mut rows,
            |r| (r.owner_id.as_deref(), r.team_id.as_deref()),
            "clients at risk",
        );
        let names = super::clients::user_names(conn)?;
        for r in rows {
            let mut flags = Vec::new();
            if settings.overdue_on && r.overdue > 0 {
                flags.push("overdue_invoices");
            }
            if settings.complaints_on && r.complaints >= i64::from(settings.complaints_min) {
                flags.push("complaints");
            }
            if settings.no_contact_on && r.last_contact.unwrap_or(r.created_at) < contact_before {
                flags.push("no_contact");
            }
            clients.push(AtRiskClient {
                owner: r.owner_id.as_ref().map(|id| UserRef {
                    id: id.clone(),
                    name: names.get(id).cloned().unwrap_or_default(),
                }),
                id: r.id,
                name: r.name,
                flags,
                complaints: r.complaints,
                last_contact_at: r.last_contact.map(utc),
                overdue_invoices: r.overdue,
            });
        }
    }
    Ok(AtRiskReport {
        settings,
        as_of: now,
        clients,
        more,
        limit,
    })
}
