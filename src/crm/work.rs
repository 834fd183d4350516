//! What deals, tasks and notifications share: scope checks, names of people and
//! clients, money and time parsing that names the field it refuses.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use super::CrmError;
use crate::access::{Action, Object, Scope};
use crate::i18n::Msg;
use crate::store::DbConn;
use crate::store::schema::{clients, users};

/// Refuses a scope built for another object or action (a wiring mistake, not
/// a user's).
pub(super) fn require(scope: &Scope, object: Object, actions: &[Action]) -> Result<(), CrmError> {
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

/// A client as other records show it; the name only when the reader's scope
/// covers the client.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRef {
    pub id: String,
    pub name: Option<String>,
}

/// A live client's owner, team and name.
pub(super) type Holder = (Option<String>, Option<String>, String);

/// The holder of a live client: (owner, team, name); `None` when there is no
/// such client or it is deleted.
pub(super) fn client_holder(conn: &mut DbConn, id: &str) -> Result<Option<Holder>, CrmError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    Ok(clients::table
        .filter(clients::id.eq(id))
        .filter(clients::deleted_at.is_null())
        .select((clients::owner_id, clients::team_id, clients::name))
        .first(conn)
        .optional()?)
}

/// The name of a live client the scope reaches. A missing client and one
/// outside the scope fail alike for the caller (`OutOfScope` is audited as a
/// denial): deals, projects and invoices are reached exactly when their client is.
pub(super) fn client_in_scope(
    conn: &mut DbConn,
    scope: &Scope,
    client_id: &str,
) -> Result<String, CrmError> {
    let Some((owner, team, name)) = client_holder(conn, client_id)? else {
        return Err(CrmError::NotFound);
    };
    if !scope.permits(owner.as_deref(), team.as_deref()) {
        return Err(CrmError::OutOfScope);
    }
    Ok(name)
}

/// Narrows a boxed query that joins `clients` to the live clients the scope
/// reaches: the scope becomes SQL on the client's owner and team.
macro_rules! within_client_scope {
    ($q:expr, $scope:expr) => {{
        use $crate::store::schema::clients as sc;
        let q = $q.filter(sc::deleted_at.is_null());
        match $scope.filter() {
            $crate::access::Filter::OwnedBy(owner) => q.filter(sc::owner_id.eq(owner.to_string())),
            $crate::access::Filter::TeamOrOwnedBy { team, owner } => q.filter(
                sc::team_id
                    .eq(team.to_string())
                    .or(sc::owner_id.eq(owner.to_string())),
            ),
            $crate::access::Filter::Everything => q,
        }
    }};
}
pub(super) use within_client_scope;

/// Rows the SQL filter let through are checked again, one by one, against
/// their client's (owner, team): a guard against a wrong filter.
pub(super) fn recheck<R>(
    scope: &Scope,
    rows: &mut Vec<R>,
    holder: impl Fn(&R) -> (Option<&str>, Option<&str>),
    what: &str,
) {
    let before = rows.len();
    rows.retain(|r| {
        let (owner, team) = holder(r);
        scope.permits(owner, team)
    });
    if rows.len() != before {
        tracing::error!(
            dropped = before - rows.len(),
            what,
            "rows outside the scope were dropped: the SQL scope filter is wrong"
        );
    }
}

/// A record loaded with its client's (name, owner, team).
pub(super) type WithClient<R> = (R, (String, Option<String>, Option<String>));

/// Cuts a page loaded with one row too many (to learn whether more follow),
/// checks its rows again against the scope, and returns the next page's cursor
/// (keyed on creation time and id).
pub(super) fn cut_page<R>(
    scope: &Scope,
    rows: &mut Vec<WithClient<R>>,
    limit: u32,
    key: impl Fn(&R) -> (chrono::NaiveDateTime, &str),
    what: &str,
) -> Option<String> {
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(r, _)| {
            let (at, id) = key(r);
            super::cursor::encode(at, id)
        })
    } else {
        None
    };
    recheck(
        scope,
        rows,
        |(_, (_, owner, team))| (owner.as_deref(), team.as_deref()),
        what,
    );
    next
}

/// A user who may be given work (own a deal, be assigned a task): exists, is
/// enabled, is not an IT admin, and the scope reaches them. Returns their team.
pub(super) fn assignable_user(
    conn: &mut DbConn,
    scope: &Scope,
    field: &str,
    user_id: &str,
) -> Result<Option<String>, CrmError> {
    let found: Option<(Option<String>, bool, String)> = users::table
        .find(user_id)
        .select((users::team_id, users::disabled, users::role))
        .first(conn)
        .optional()?;
    let Some((team, disabled, role)) = found else {
        return Err(CrmError::invalid(field, Msg::new("invalid-owner-unknown")));
    };
    if disabled || role == "admin" {
        return Err(CrmError::invalid(
            field,
            Msg::new("invalid-owner-cannot-own"),
        ));
    }
    if !scope.permits(Some(user_id), team.as_deref()) {
        return Err(CrmError::Forbidden(Msg::new("not-allowed-assign-work")));
    }
    Ok(team)
}

/// Largest amount accepted (whole units): far above any deal, far below what
/// 1/10000 units in a 64-bit integer can hold.
const AMOUNT_MAX: i64 = 1_000_000_000_000;

/// An amount as given in JSON or a form (a string, or a JSON number written
/// exactly), checked against the currency's minor units. Returns 1/10000 units.
pub fn parse_amount(raw: &str, currency: &str) -> Result<i64, CrmError> {
    let amount = parse_decimal("amount", raw)?;
    let bad = |key: &'static str| CrmError::invalid("amount", Msg::new(key));
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(bad("invalid-amount-negative"));
    }
    if amount >= Decimal::from(AMOUNT_MAX) {
        return Err(CrmError::invalid(
            "amount",
            Msg::new("invalid-amount-too-large").arg("max", AMOUNT_MAX),
        ));
    }
    let minor = currency_minor_units(currency);
    if amount.normalize().scale() > minor {
        return Err(CrmError::invalid(
            "amount",
            Msg::new("invalid-amount-scale")
                .arg("currency", currency)
                .arg("digits", minor),
        ));
    }
    let e4 = amount * Decimal::from(10_000);
    i64::from_str(&e4.trunc().to_string()).map_err(|_| bad("invalid-amount"))
}

/// A decimal in plain notation (digits, one point, a leading minus), exactly as
/// written: no exponents, no thousands separators, never through a float.
pub fn parse_decimal(field: &str, raw: &str) -> Result<Decimal, CrmError> {
    let bad = |key: &'static str| CrmError::invalid(field, Msg::new(key));
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad("invalid-empty"));
    }
    if text.len() > 40
        || !text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(bad("invalid-amount"));
    }
    Decimal::from_str_exact(text).map_err(|_| bad("invalid-amount"))
}

/// Digits after the point a currency has (at most 4, what storage keeps).
pub fn currency_minor_units(code: &str) -> u32 {
    iso_currency::Currency::from_code(code)
        .and_then(|c| c.exponent())
        .map_or(4, |e| u32::from(e).min(4))
}

/// An ISO 4217 code, any case on input, upper case stored.
pub fn parse_currency(raw: &str) -> Result<String, CrmError> {
    let code = raw.trim().to_ascii_uppercase();
    let known = code.len() == 3
        && code.chars().all(|c| c.is_ascii_uppercase())
        && iso_currency::Currency::from_code(&code).is_some();
    if known {
        Ok(code)
    } else {
        Err(CrmError::invalid(
            "currency",
            Msg::new("invalid-currency").arg("value", raw.chars().take(12).collect::<String>()),
        ))
    }
}

pub fn amount_of(e4: i64) -> Decimal {
    Decimal::new(e4, 4).normalize()
}

/// `YYYY-MM-DD`; blank means none.
pub fn parse_date(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, CrmError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| CrmError::invalid(field, Msg::new("invalid-deal-date"))),
    }
}

/// An RFC 3339 time with its offset (`2026-11-23T10:00:00+04:00`), kept in UTC.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, CrmError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| {
            use chrono::SubsecRound;
            t.with_timezone(&Utc).trunc_subsecs(0)
        })
        .map_err(|_| CrmError::invalid(field, Msg::new("invalid-datetime")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_and_checked_against_the_currency() {
        assert_eq!(parse_amount("1234.56", "USD").unwrap(), 12_345_600);
        assert_eq!(parse_amount("0.1", "EUR").unwrap(), 1_000);
        assert_eq!(parse_amount("1500", "JPY").unwrap(), 15_000_000);
        assert_eq!(parse_amount("1.005", "BHD").unwrap(), 10_050);
        for bad in [
            "", "abc", "1e5", "1,000", "12.3.4", "-5", "NaN", "0x10", "1.001",
        ] {
            assert!(parse_amount(bad, "USD").is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", "JPY").is_err());
        assert!(parse_amount("1000000000000", "USD").is_err());
        assert_eq!(amount_of(12_345_600).to_string(), "1234.56");
    }

    #[test]
    fn currencies_are_iso_codes() {
        assert_eq!(parse_currency("gel").unwrap(), "GEL");
        for bad in ["", "XYZ", "US", "usdd", "ЛАР", "€"] {
            assert!(parse_currency(bad).is_err(), "{bad}");
        }
    }
}
