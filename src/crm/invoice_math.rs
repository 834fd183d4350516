//! Invoice arithmetic, exact in decimal (no floats anywhere).
//!
//! The rounding rule: **per line, half away from zero, to the currency's minor
//! units** (half-up for positive amounts):
//! - net = round(quantity × unit price)
//! - tax = round(net × tax rate / 100)
//! - line total = net + tax
//!
//! Document totals are the sums of the rounded line amounts and are never
//! rounded again, so the printed lines always add up to the printed totals.
//! Rounding away from zero is symmetric, so a credit note's line (the same line
//! with the quantity negated) is exactly the negative of the invoice's line, and
//! a full credit note cancels its invoice to the last minor unit.

use rust_decimal::{Decimal, RoundingStrategy};

/// Amounts of one line, rounded to the currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    pub net: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

pub fn round(value: Decimal, minor_units: u32) -> Decimal {
    value.round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero)
}

/// One line's amounts; `None` when the product does not fit a decimal (callers
/// bound quantities and prices far below that).
pub fn line(
    quantity: Decimal,
    unit_price: Decimal,
    tax_rate_percent: Decimal,
    minor_units: u32,
) -> Option<LineAmounts> {
    let net = round(quantity.checked_mul(unit_price)?, minor_units);
    let tax = round(
        net.checked_mul(tax_rate_percent)?
            .checked_div(Decimal::ONE_HUNDRED)?,
        minor_units,
    );
    Some(LineAmounts {
        net,
        tax,
        total: net.checked_add(tax)?,
    })
}

pub fn totals<'a>(lines: impl IntoIterator<Item = &'a LineAmounts>) -> Totals {
    lines.into_iter().fold(Totals::default(), |t, l| Totals {
        subtotal: t.subtotal + l.net,
        tax: t.tax + l.tax,
        total: t.total + l.total,
    })
}

/// A decimal as 1/10000 units (what storage keeps); `None` when it has more
/// than four digits after the point or does not fit.
pub fn to_e4(value: Decimal) -> Option<i64> {
    if value.normalize().scale() > 4 {
        return None;
    }
    let scaled = value.checked_mul(Decimal::from(10_000))?;
    i64::try_from(scaled.trunc()).ok()
}

pub fn from_e4(e4: i64) -> Decimal {
    Decimal::new(e4, 4).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn lines_round_half_away_from_zero_per_line() {
        // 3 × 0.335 = 1.005 → 1.01 (half up), tax 18% of 1.01 = 0.1818 → 0.18.
        let l = line(dec("3"), dec("0.335"), dec("18"), 2).unwrap();
        assert_eq!(
            (l.net, l.tax, l.total),
            (dec("1.01"), dec("0.18"), dec("1.19"))
        );
        // The negated line is exactly the negative one.
        let c = line(dec("-3"), dec("0.335"), dec("18"), 2).unwrap();
        assert_eq!(
            (c.net, c.tax, c.total),
            (dec("-1.01"), dec("-0.18"), dec("-1.19"))
        );
        // Per line, not per document: two lines of 0.005 tax each round up to
        // 0.01 each, 0.02 in all (a document-level rounding would give 0.01).
        let a = line(dec("1"), dec("0.05"), dec("10"), 2).unwrap();
        assert_eq!(a.tax, dec("0.01"));
        assert_eq!(totals(&[a, a]).tax, dec("0.02"));
        // JPY has no minor units.
        let y = line(dec("1"), dec("100.5"), dec("0"), 0).unwrap();
        assert_eq!(y.net, dec("101"));
    }

    #[test]
    fn e4_round_trips_and_refuses_excess_precision() {
        assert_eq!(to_e4(dec("12.3456")), Some(123_456));
        assert_eq!(to_e4(dec("-0.5")), Some(-5_000));
        assert_eq!(to_e4(dec("0.00001")), None);
        assert_eq!(from_e4(123_456), dec("12.3456"));
    }

    fn qty() -> impl Strategy<Value = Decimal> {
        // 0.0001 .. 1,000,000 with up to four decimals.
        (1i64..=10_000_000_000).prop_map(|n| Decimal::new(n, 4))
    }

    fn price() -> impl Strategy<Value = Decimal> {
        // 0 .. 10,000,000 with up to four decimals.
        (0i64..=100_000_000_000).prop_map(|n| Decimal::new(n, 4))
    }

    fn rate() -> impl Strategy<Value = Decimal> {
        (0i64..=1_000_000).prop_map(|n| Decimal::new(n, 4))
    }

    proptest! {
        #[test]
        fn a_line_is_its_exact_value_within_half_a_minor_unit(
            q in qty(), p in price(), r in rate(), minor in 0u32..=4,
        ) {
            let l = line(q, p, r, minor).unwrap();
            let half = Decimal::new(5, minor + 1);
            prop_assert!((l.net - q * p).abs() <= half);
            prop_assert!((l.tax - l.net * r / Decimal::ONE_HUNDRED).abs() <= half);
            prop_assert_eq!(l.total, l.net + l.tax);
            prop_assert!(l.net.normalize().scale() <= minor);
            prop_assert!(l.tax.normalize().scale() <= minor);
            prop_assert!(l.tax >= Decimal::ZERO && l.net >= Decimal::ZERO);
            if r.is_zero() {
                prop_assert_eq!(l.tax, Decimal::ZERO);
            }
        }

        #[test]
        fn totals_add_up_and_a_full_credit_note_cancels_the_invoice(
            lines in proptest::collection::vec((qty(), price(), rate()), 1..20),
            minor in 0u32..=4,
        ) {
            let inv: Vec<LineAmounts> =
                lines.iter().map(|(q, p, r)| line(*q, *p, *r, minor).unwrap()).collect();
            let cn: Vec<LineAmounts> =
                lines.iter().map(|(q, p, r)| line(-*q, *p, *r, minor).unwrap()).collect();
            let (ti, tc) = (totals(&inv), totals(&cn));
            prop_assert_eq!(ti.total, ti.subtotal + ti.tax);
            prop_assert_eq!(ti.subtotal, inv.iter().map(|l| l.net).sum::<Decimal>());
            prop_assert_eq!(tc.subtotal, -ti.subtotal);
            prop_assert_eq!(tc.tax, -ti.tax);
            prop_assert_eq!(ti.total + tc.total, Decimal::ZERO);
            // What storage keeps gives back the same numbers.
            prop_assert_eq!(from_e4(to_e4(ti.total).unwrap()), ti.total.normalize());
        }

        #[test]
        fn a_partial_credit_note_never_exceeds_the_invoice(
            lines in proptest::collection::vec((qty(), price(), rate()), 1..10),
            keep in 0u32..=100,
            minor in 0u32..=4,
        ) {
            // Crediting a share of each line's quantity (rounded down) credits at
            // most the invoice's total.
            let share = Decimal::new(i64::from(keep), 2);
            let inv: Vec<LineAmounts> =
                lines.iter().map(|(q, p, r)| line(*q, *p, *r, minor).unwrap()).collect();
            let cn: Vec<LineAmounts> = lines
                .iter()
                .map(|(q, p, r)| {
                    let part = (*q * share).round_dp_with_strategy(4, RoundingStrategy::ToZero);
                    line(-part, *p, *r, minor).unwrap()
                })
                .collect();
            let rest = totals(&inv).total + totals(&cn).total;
            prop_assert!(rest >= Decimal::ZERO);
            prop_assert!(rest <= totals(&inv).total);
        }
    }
}
