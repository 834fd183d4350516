//! Reports over HTTP on a small data set built through the API with the test's
//! clock: every number checked against a hand count, the scope rule from the
//! attacker's side (a salesperson never sees a colleague's numbers, a team lead
//! never another team's, through any report), the audit events, refused
//! parameters (400 naming the parameter), and the owner's clients-at-risk flags.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, TestServer};

fn set(clock: &ManualClock, to: DateTime<Utc>) {
    use holdfast::clock::Clock;
    clock.advance(to - clock.now());
}

fn day(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn line(description: &str, quantity: &str, unit_price: &str) -> Value {
    json!({"description": description, "quantity": quantity, "unit_price": unit_price,
           "tax_rate": "0"})
}

async fn deal(c: &Client, client: &str, title: &str, amount: &str, currency: &str) -> String {
    let (st, d) = c
        .post(
            "/api/v1/deals",
            json!({"client_id": client, "title": title, "amount": amount, "currency": currency}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{d}");
    d["id"].as_str().unwrap().to_string()
}

async fn move_to(c: &Client, id: &str, stages: &[&str]) {
    for stage in stages {
        let (st, d) = c
            .post(
                &format!("/api/v1/deals/{id}/stage"),
                json!({"stage": stage}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
    }
}

async fn lose(c: &Client, id: &str, reason: &str) {
    let (st, d) = c
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({"stage": "lost", "lost_reason": reason}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
}

async fn invoice(c: &Client, client: &str, currency: &str, price: &str, due: &str) -> String {
    let (st, d) = c
        .post(
            "/api/v1/invoices",
            json!({"client_id": client, "currency": currency, "due_on": due,
                   "lines": [line("Servicio de consultoría", "1", price)]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{d}");
    let id = d["invoice"]["id"].as_str().unwrap().to_string();
    let (st, d) = c
        .post(&format!("/api/v1/invoices/{id}/issue"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    id
}

async fn log(c: &Client, client: &str, entry: Value) {
    let (st, e) = c
        .post(&format!("/api/v1/clients/{client}/timeline"), entry)
        .await;
    assert!(st.is_success(), "{e}");
}

struct World {
    s: TestServer,
    clock: Arc<ManualClock>,
    c1: String,
    c2: String,
    c3: String,
    n1: String,
    n2: String,
    s1: String,
}

/// North: sales n1 and n2, lead ln. South: sales s1, lead ls. An owner and an
/// admin. Dates: January (old clients, an old deal), May (an invoice, part
/// paid), 15 June 12:00 (everything else); the reports are read on 15 June 15:00.
async fn world() -> World {
    let clock = ManualClock::new();
    set(&clock, day(2026, 1, 10, 12));
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    let n1 = s.add_user("r.nino", Role::Sales, Some("north"));
    let n2 = s.add_user("r.nodar", Role::Sales, Some("north"));
    s.add_user("r.lead.north", Role::Manager, Some("north"));
    let s1 = s.add_user("r.salome", Role::Sales, Some("south"));
    s.add_user("r.lead.south", Role::Manager, Some("south"));
    s.add_user("r.owner", Role::Owner, None);
    s.add_user("r.admin", Role::Admin, None);

    // January: clients c1 (n1) and c2 (n2), and an old deal of n1's.
    let a = s.login("r.nino").await;
    let c1 = a.create_client(json!({"name": "Ნინო Ბერიძე"})).await;
    deal(&a, &c1, "Old deal", "10", "GEL").await;
    let b = s.login("r.nodar").await;
    let c2 = b.create_client(json!({"name": "Đặng Thị Hương"})).await;

    // May: an invoice of 100 GEL due 20 May, 40 paid.
    set(&clock, day(2026, 5, 10, 12));
    let a = s.login("r.nino").await;
    let may = invoice(&a, &c1, "GEL", "100", "2026-05-20").await;
    let (st, p) = a
        .post(
            &format!("/api/v1/invoices/{may}/payments"),
            json!({"amount": "40", "paid_on": "2026-05-15"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");

    // June 15.
    set(&clock, day(2026, 6, 15, 12));
    let a = s.login("r.nino").await;
    let b = s.login("r.nodar").await;
    let z = s.login("r.salome").await;
    let c3 = z.create_client(json!({"name": "سلمى الحسيني"})).await;
    let c2b = b
        .create_client(json!({"name": "Müller-Lüdenscheidt GmbH"}))
        .await;

    // n1's deals: won; lost after qualified; still new; lost after negotiation.
    let d1 = deal(&a, &c1, "Won", "1000", "GEL").await;
    move_to(&a, &d1, &["qualified", "proposal", "won"]).await;
    let d2 = deal(&a, &c1, "Lost early", "500", "GEL").await;
    move_to(&a, &d2, &["qualified"]).await;
    lose(&a, &d2, "price").await;
    deal(&a, &c1, "Waiting", "200", "USD").await;
    let d4 = deal(&a, &c1, "Lost late", "300", "USD").await;
    move_to(&a, &d4, &["proposal", "negotiation"]).await;
    lose(&a, &d4, "timing").await;
    // n2: won straight from new. s1: lost at new.
    let d5 = deal(&b, &c2b, "Quick win", "50", "EUR").await;
    move_to(&b, &d5, &["won"]).await;
    let d6 = deal(&z, &c3, "Nope", "70", "EUR").await;
    lose(&z, &d6, "price").await;

    // Invoices: n1 250 GEL due in July, 80 USD fully credited; s1 999 EUR.
    invoice(&a, &c1, "GEL", "250", "2026-07-15").await;
    let usd = invoice(&a, &c1, "USD", "80", "2026-07-15").await;
    let (st, cn) = a
        .post(&format!("/api/v1/invoices/{usd}/credit-notes"), json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cn}");
    let cn = cn["invoice"]["id"].as_str().unwrap().to_string();
    let (st, cn) = a
        .post(&format!("/api/v1/invoices/{cn}/issue"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{cn}");
    invoice(&z, &c3, "EUR", "999", "2026-07-01").await;

    // Activity: n1 two complaint calls, a meeting and a note on c1; n2 a call.
    for _ in 0..2 {
        log(
            &a,
            &c1,
            json!({"kind": "call", "direction": "inbound", "outcome": "Complaint"}),
        )
        .await;
    }
    log(&a, &c1, json!({"kind": "meeting", "subject": "Review"})).await;
    log(
        &a,
        &c1,
        json!({"kind": "note", "body": "Unhappy about delays"}),
    )
    .await;
    log(
        &b,
        &c2b,
        json!({"kind": "call", "direction": "outbound", "outcome": "answered"}),
    )
    .await;
    // n1: one task done, one overdue by 15:00.
    for title in ["Send the offer", "Call back"] {
        let (st, t) = a
            .post(
                "/api/v1/tasks",
                json!({"title": title, "due_at": "2026-06-15T13:00:00Z", "client_id": c1}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
        if title == "Send the offer" {
            let id = t["id"].as_str().unwrap();
            let (st, t) = a
                .patch(&format!("/api/v1/tasks/{id}"), json!({"done": true}))
                .await;
            assert_eq!(st, StatusCode::OK, "{t}");
        }
    }
    set(&clock, day(2026, 6, 15, 15));
    World {
        s,
        clock,
        c1,
        c2,
        c3,
        n1,
        n2,
        s1,
    }
}

fn stage<'a>(f: &'a Value, code: &str) -> &'a Value {
    f["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("no stage {code} in {f}"))
}

fn owners(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["by_owner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["owner"]["id"].as_str().unwrap_or("-").to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const JUNE: &str = "from=2026-06-01&to=2026-06-30";

#[tokio::test]
async fn funnel_numbers_and_scopes() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (st, r) = a.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let t = &r["total"];
    // The January deal is outside the period.
    assert_eq!(t["deals"], 4, "{t}");
    assert_eq!(t["won"], 1);
    assert_eq!(t["lost"], 2);
    assert_eq!(t["open"], 1);
    assert_eq!(t["win_rate_pct"], 25.0);
    assert_eq!(stage(t, "new")["reached"], 4);
    assert_eq!(stage(t, "new")["open_here"], 1);
    assert_eq!(stage(t, "new")["conversion_pct"], 75.0);
    assert_eq!(stage(t, "qualified")["reached"], 3);
    assert_eq!(stage(t, "qualified")["lost_here"], 1);
    assert_eq!(stage(t, "qualified")["conversion_pct"], 66.7);
    assert_eq!(stage(t, "proposal")["reached"], 2);
    assert_eq!(stage(t, "proposal")["conversion_pct"], 100.0);
    assert_eq!(stage(t, "negotiation")["reached"], 2);
    assert_eq!(stage(t, "negotiation")["lost_here"], 1);
    assert_eq!(stage(t, "negotiation")["conversion_pct"], 50.0);
    assert_eq!(
        t["won_amounts"],
        json!([{"currency": "GEL", "amount": "1000"}])
    );
    assert_eq!(
        t["lost_amounts"],
        json!([{"currency": "GEL", "amount": "500"}, {"currency": "USD", "amount": "300"}])
    );
    assert_eq!(
        t["lost_reasons"],
        json!([{"reason": "price", "count": 1}, {"reason": "timing", "count": 1}])
    );
    // Only n1's own numbers.
    assert_eq!(owners(&r), vec![w.n1.clone()]);
    let ev = &w.s.audit("report.funnel.read")[0];
    assert_eq!(ev.outcome, "ok");
    assert_eq!(ev.actor_id.as_deref(), Some(w.n1.as_str()));

    // The whole history of January to June includes the old deal (still new).
    let (_, r) = a
        .get("/api/v1/reports/funnel?from=2026-01-01&to=2026-06-30")
        .await;
    assert_eq!(r["total"]["deals"], 5);
    assert_eq!(stage(&r["total"], "new")["open_here"], 2);

    // n2 sees only their quick win.
    let b = w.s.login("r.nodar").await;
    let (_, r) = b.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(r["total"]["deals"], 1);
    assert_eq!(owners(&r), vec![w.n2.clone()]);

    // The north lead: n1 and n2, not the south.
    let ln = w.s.login("r.lead.north").await;
    let (_, r) = ln.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    let t = &r["total"];
    assert_eq!(t["deals"], 5);
    assert_eq!(t["won"], 2);
    assert_eq!(stage(t, "new")["conversion_pct"], 80.0);
    assert_eq!(stage(t, "qualified")["reached"], 4);
    assert_eq!(stage(t, "negotiation")["conversion_pct"], 66.7);
    assert_eq!(sorted(owners(&r)), sorted(vec![w.n1.clone(), w.n2.clone()]));
    assert_eq!(
        t["won_amounts"],
        json!([{"currency": "EUR", "amount": "50"}, {"currency": "GEL", "amount": "1000"}])
    );

    // The south lead: s1 only.
    let ls = w.s.login("r.lead.south").await;
    let (_, r) = ls.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(r["total"]["deals"], 1);
    assert_eq!(stage(&r["total"], "new")["lost_here"], 1);
    assert_eq!(owners(&r), vec![w.s1.clone()]);

    // The owner (with a key proof) sees all six.
    let o = w.s.login_elevated("r.owner").await;
    let (st, r) = o.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["total"]["deals"], 6);
    assert_eq!(
        r["total"]["lost_reasons"],
        json!([{"reason": "price", "count": 2}, {"reason": "timing", "count": 1}])
    );
    assert_eq!(r["by_owner"].as_array().unwrap().len(), 3);
    let _ = (&w.clock, &w.c2, &w.c3);
}

#[tokio::test]
async fn revenue_per_month_and_currency_within_scope() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (st, r) = a
        .get("/api/v1/reports/revenue?from=2026-05-01&to=2026-06-30")
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let cell = |m: &str, c: &str| -> Value {
        r["months"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["month"] == m && x["currency"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("no {m} {c} in {r}"))
    };
    assert_eq!(
        r["months"].as_array().unwrap().len(),
        4,
        "2 months × GEL, USD"
    );
    let may = cell("2026-05", "GEL");
    assert_eq!(may["invoices"], 1);
    assert_eq!(may["invoiced"], "100");
    assert_eq!(may["payments"], 1);
    assert_eq!(may["paid"], "40");
    let june = cell("2026-06", "GEL");
    assert_eq!(june["invoiced"], "250");
    assert_eq!(june["paid"], "0");
    let usd = cell("2026-06", "USD");
    assert_eq!(usd["invoiced"], "80");
    assert_eq!(usd["credited"], "-80");
    assert_eq!(cell("2026-05", "USD")["invoiced"], "0");
    // Open invoices today (15 June): GEL 60 overdue since 20 May + 250 not yet due;
    // the USD one is fully credited. Never an EUR line: that is s1's client.
    assert_eq!(
        r["open"],
        json!([{"currency": "GEL", "unpaid_count": 2, "unpaid": "310",
                "overdue_count": 1, "overdue": "60"}])
    );
    let totals = r["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2);
    assert_eq!(totals[0]["currency"], "GEL");
    assert_eq!(totals[0]["invoiced"], "350");

    // n2 has no invoices at all; s1 only EUR.
    let b = w.s.login("r.nodar").await;
    let (_, r) = b.get("/api/v1/reports/revenue").await;
    assert_eq!(r["months"], json!([]));
    assert_eq!(r["open"], json!([]));
    let z = w.s.login("r.salome").await;
    let (_, r) = z.get("/api/v1/reports/revenue").await;
    // The default period: the last 12 months, this one included.
    assert_eq!(r["period"]["from"], "2025-07-01");
    assert_eq!(r["period"]["to"], "2026-06-15");
    assert_eq!(r["months"].as_array().unwrap().len(), 12);
    assert_eq!(r["open"][0]["currency"], "EUR");
    assert_eq!(r["open"][0]["unpaid"], "999");
    assert_eq!(r["open"][0]["overdue"], "0");

    // The north lead sees n1's money, not s1's; the owner both, never added up
    // across currencies.
    let ln = w.s.login("r.lead.north").await;
    let (_, r) = ln.get("/api/v1/reports/revenue").await;
    let currencies = strs(&r["open"], "currency");
    assert_eq!(currencies, vec!["GEL"]);
    let o = w.s.login_elevated("r.owner").await;
    let (_, r) = o.get("/api/v1/reports/revenue").await;
    let currencies = strs(&r["open"], "currency");
    assert_eq!(currencies, vec!["EUR", "GEL"]);
    assert_eq!(w.s.audit("report.revenue.read").len(), 5);
}

#[tokio::test]
async fn activity_per_person_and_overdue_work() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (st, r) = a.get(&format!("/api/v1/reports/activity?{JUNE}")).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let people = r["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{r}");
    let me = &people[0];
    assert_eq!(me["user"]["id"], w.n1.as_str());
    assert_eq!(me["calls"], 2);
    assert_eq!(me["meetings"], 1);
    assert_eq!(me["notes"], 1);
    assert_eq!(me["emails"], 0);
    assert_eq!(me["tasks_done"], 1);
    assert_eq!(me["tasks_overdue"], 1);

    let ln = w.s.login("r.lead.north").await;
    let (_, r) = ln.get(&format!("/api/v1/reports/activity?{JUNE}")).await;
    let ids: Vec<String> = r["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&w.n1) && ids.contains(&w.n2), "{r}");
    assert!(!ids.contains(&w.s1), "another team's person: {r}");
    let n2 = r["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"]["id"] == w.n2.as_str())
        .unwrap();
    assert_eq!(n2["calls"], 1);

    // Before June nothing happened.
    let (_, r) = a
        .get("/api/v1/reports/activity?from=2026-02-01&to=2026-02-28")
        .await;
    assert_eq!(r["people"][0]["calls"], 0);
    // Overdue work is as of now, whatever the period.
    assert_eq!(r["people"][0]["tasks_overdue"], 1);
}

#[tokio::test]
async fn clients_at_risk_follow_the_owners_flags() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (st, r) = a.get("/api/v1/reports/at-risk").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let list = r["clients"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(list[0]["id"], w.c1.as_str());
    assert_eq!(list[0]["flags"], json!(["overdue_invoices", "complaints"]));
    assert_eq!(list[0]["complaints"], 2);
    assert_eq!(list[0]["overdue_invoices"], 1);
    // The read names the clients it returned, like a list page.
    let ev = &w.s.audit("report.at_risk.list")[0];
    assert_eq!(ev.actor_id.as_deref(), Some(w.n1.as_str()));
    let ids: Vec<String> = serde_json::from_str(&ev.object_ids).unwrap();
    assert_eq!(ids, vec![w.c1.clone()]);

    // n2's January client has had no contact since: 156 days.
    let b = w.s.login("r.nodar").await;
    let (_, r) = b.get("/api/v1/reports/at-risk").await;
    let list = r["clients"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(list[0]["id"], w.c2.as_str());
    assert_eq!(list[0]["flags"], json!(["no_contact"]));

    // The north lead sees both; the south lead none; s1's client is not at risk.
    let ln = w.s.login("r.lead.north").await;
    let (_, r) = ln.get("/api/v1/reports/at-risk").await;
    assert_eq!(r["clients"].as_array().unwrap().len(), 2);
    let ls = w.s.login("r.lead.south").await;
    let (_, r) = ls.get("/api/v1/reports/at-risk").await;
    assert_eq!(r["clients"], json!([]));

    // A salesperson cannot change the flags; the attempt is audited.
    let (st, e) = a
        .send(
            reqwest::Method::PUT,
            "/api/v1/reports/settings",
            Some(json!({"complaints_min": 9})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let ev = &w.s.audit("report.settings.update")[0];
    assert_eq!(ev.outcome, "denied");
    // Nor a team lead, nor an owner without the key proof.
    let (st, _) = ln
        .send(
            reqwest::Method::PUT,
            "/api/v1/reports/settings",
            Some(json!({"complaints_min": 9})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let bare = w.s.login("r.owner").await;
    let (st, e) = bare
        .send(
            reqwest::Method::PUT,
            "/api/v1/reports/settings",
            Some(json!({"complaints_min": 9})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(e["error"]["code"], "key_proof_required");
    let (st, e) = bare.get("/api/v1/reports/at-risk").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(e["error"]["code"], "key_proof_required");

    // The owner: defaults first, then a change.
    let o = w.s.login_elevated("r.owner").await;
    let (st, s) = o.get("/api/v1/reports/settings").await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["complaints_min"], 2);
    assert!(s["updated_at"].is_null());
    let (_, r) = o.get("/api/v1/reports/at-risk").await;
    assert_eq!(r["clients"].as_array().unwrap().len(), 2);

    // Bad values: named, nothing changed.
    for (body, field) in [
        (json!({"complaints_min": 0}), "complaints_min"),
        (json!({"complaints_days": 100000}), "complaints_days"),
        (json!({"no_contact_days": -3}), "no_contact_days"),
        (json!({"overdue_days": 4000}), "overdue_days"),
        (json!({"complaint_outcome": "   "}), "complaint_outcome"),
    ] {
        let (st, e) = o
            .send(
                reqwest::Method::PUT,
                "/api/v1/reports/settings",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    for body in [
        json!({"complaints_minimum": 3}),
        json!({"complaints_min": "three"}),
    ] {
        let (st, e) = o
            .send(
                reqwest::Method::PUT,
                "/api/v1/reports/settings",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
    }
    let (_, s) = o.get("/api/v1/reports/settings").await;
    assert_eq!(s["complaints_min"], 2);
    assert!(s["updated_at"].is_null(), "nothing was saved: {s}");

    // Three complaints needed now, and no-contact off: c1 only for its invoice,
    // c2 no longer.
    let (st, s) = o
        .send(
            reqwest::Method::PUT,
            "/api/v1/reports/settings",
            Some(json!({"complaints_min": 3, "no_contact_on": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["complaints_min"], 3);
    assert_eq!(s["no_contact_days"], 30, "left out: kept");
    let ev = &w.s.audit("report.settings.update")[0];
    assert_eq!(ev.outcome, "ok");
    let detail: Value = serde_json::from_str(&ev.detail).unwrap();
    assert_eq!(detail["old"]["complaints_min"], 2);
    assert_eq!(detail["new"]["complaints_min"], 3);
    let (_, r) = o.get("/api/v1/reports/at-risk").await;
    let list = r["clients"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(list[0]["id"], w.c1.as_str());
    assert_eq!(list[0]["flags"], json!(["overdue_invoices"]));
    // Salespeople read the flags (they see why a client is listed).
    let (st, s) = a.get("/api/v1/reports/settings").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s["complaints_min"], 3);
    let _ = (&w.c3, &w.clock);
}

#[tokio::test]
async fn no_report_shows_a_colleague_or_another_team() {
    let w = world().await;
    let reports = [
        "/api/v1/reports/funnel?from=2026-01-01&to=2026-06-30",
        "/api/v1/reports/activity?from=2026-01-01&to=2026-06-30",
        "/api/v1/reports/at-risk",
    ];
    // Whatever n1 asks, no id of n2, s1, or their clients, appears anywhere.
    let a = w.s.login("r.nino").await;
    for path in reports {
        let (st, r) = a.get(path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {r}");
        let text = r.to_string();
        for foreign in [&w.n2, &w.s1, &w.c2, &w.c3] {
            assert!(
                !text.contains(foreign.as_str()),
                "{path} leaks {foreign}: {r}"
            );
        }
    }
    // The revenue report of n1 shows no EUR (s1's client) at all.
    let (_, r) = a
        .get("/api/v1/reports/revenue?from=2026-01-01&to=2026-06-30")
        .await;
    assert!(!r.to_string().contains("EUR"), "{r}");
    // The south lead sees nothing of the north.
    let ls = w.s.login("r.lead.south").await;
    for path in reports {
        let (_, r) = ls.get(path).await;
        let text = r.to_string();
        for foreign in [&w.n1, &w.n2, &w.c1, &w.c2] {
            assert!(
                !text.contains(foreign.as_str()),
                "{path} leaks {foreign}: {r}"
            );
        }
    }
    let (_, r) = ls.get("/api/v1/reports/revenue").await;
    assert!(!r.to_string().contains("GEL"), "{r}");
    // An IT admin reads no reports, even with a key proof; the refusal is audited.
    let ad = w.s.login_elevated("r.admin").await;
    for path in reports {
        let (st, _) = ad.get(path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(
        w.s.audit("report.funnel.read")
            .iter()
            .any(|e| e.outcome == "denied")
    );
}

#[tokio::test]
async fn bad_parameters_are_refused_with_the_parameter_named() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=0001-01-01&to=2026-01-01", "from"),
        ("from=2026-06-30&to=2026-06-01", "from"),
        ("from=2000-01-01&to=2026-06-01", "to"),
        ("from=2026-01-01&to=99999-01-01", "to"),
    ] {
        for report in ["funnel", "revenue", "activity"] {
            let (st, e) = a.get(&format!("/api/v1/reports/{report}?{query}")).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{report}?{query}: {e}");
            assert_eq!(e["error"]["code"], "bad_parameter", "{e}");
            assert_eq!(e["error"]["field"], field, "{report}?{query}: {e}");
            assert!(!e["error"]["message"].as_str().unwrap().is_empty());
        }
    }
    for query in ["limit=0", "limit=501", "limit=-1", "limit=ten"] {
        let (st, e) = a.get(&format!("/api/v1/reports/at-risk?{query}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["error"]["field"], "limit");
    }
    // A misspelt parameter is refused, not ignored.
    let (st, _) = a.get("/api/v1/reports/funnel?form=2026-01-01").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Exactly the longest period is fine.
    let (st, r) = a
        .get("/api/v1/reports/revenue?from=2023-06-21&to=2026-06-20")
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["months"].as_array().unwrap().len(), 2 * 37);
    // Not signed in: 401.
    let (st, _) = w.s.client().get("/api/v1/reports/funnel").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

async fn html(c: &Client, path: &str) -> (StatusCode, String) {
    let res = c.raw(reqwest::Method::GET, path).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn report_pages_draw_an_accessible_chart_over_the_table() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (st, page) = html(&a, &format!("/reports/funnel?{JUNE}")).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    // The chart names itself for screen readers; the table carries the numbers.
    assert!(
        page.contains("<svg id=\"funnel-chart\" role=\"img\""),
        "{page}"
    );
    assert!(page.contains("<title id=\"funnel-chart-title\">"), "{page}");
    assert!(page.contains("<desc id=\"funnel-chart-desc\">"), "{page}");
    assert!(page.contains("id=\"funnel-stages\""), "{page}");
    assert!(
        page.contains("<td class=\"num\" dir=\"auto\">66.7 %</td>"),
        "{page}"
    );
    assert!(page.contains("id=\"nav-reports\""), "{page}");
    assert!(!page.contains("<script>"), "no inline script under the CSP");
    for path in ["/reports/revenue", "/reports/activity", "/reports/at-risk"] {
        let (st, page) = html(&a, path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {page}");
        assert!(page.contains("role=\"img\""), "{path}");
        assert!(page.contains("<caption>"), "{path}");
        // Never a colleague's client or name.
        assert!(!page.contains("Đặng Thị Hương"), "{path}");
        assert!(!page.contains("سلمى الحسيني"), "{path}");
    }
    let (_, page) = html(&a, "/reports/revenue?from=2026-05-01&to=2026-06-30").await;
    assert!(page.contains("revenue-chart-gel") && page.contains("revenue-chart-usd"));
    assert!(!page.contains("revenue-chart-eur"), "s1's currency: {page}");
    // The at-risk page links the client's card; a salesperson sees the flags
    // but no form to change them.
    let (_, page) = html(&a, "/reports/at-risk").await;
    assert!(page.contains(&format!("/clients/{}", w.c1)), "{page}");
    assert!(page.contains("id=\"settings-summary\""));
    assert!(!page.contains("id=\"settings-form\""));
    // A bad period: a 400 page that names the problem.
    let (st, page) = html(&a, "/reports/funnel?from=2026-06-30&to=2026-06-01").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(page.contains("is after"), "{page}");

    // The owner changes the flags on the page.
    let o = w.s.login_elevated("r.owner").await;
    let (_, page) = html(&o, "/reports/at-risk").await;
    assert!(page.contains("id=\"settings-form\""), "{page}");
    let csrf = o.csrf.clone().unwrap();
    let post = |min: &'static str| {
        o.raw(reqwest::Method::POST, "/reports/settings")
            .form(&[
                ("csrf", csrf.as_str()),
                ("complaints_on", "1"),
                ("complaints_min", min),
                ("complaints_days", "60"),
                ("complaint_outcome", "complaint"),
                ("no_contact_days", "45"),
                ("overdue_on", "1"),
                ("overdue_days", "3"),
            ])
            .send()
    };
    let res = post("zero").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("id=\"form-error\""));
    let res = post("0").await.unwrap();
    assert!(res.text().await.unwrap().contains("id=\"form-error\""));
    let (_, s) = o.get("/api/v1/reports/settings").await;
    assert!(s["updated_at"].is_null(), "nothing saved: {s}");
    let res = post("4").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("id=\"notice\""));
    let (_, s) = o.get("/api/v1/reports/settings").await;
    assert_eq!(s["complaints_min"], 4);
    assert_eq!(s["no_contact_on"], false, "unchecked box: off");
    assert_eq!(s["overdue_days"], 3);
    let _ = (&w.n1, &w.c2, &w.c3, &w.clock);
}

#[tokio::test]
async fn funnel_follows_the_board_when_an_owner_reorders_it() {
    let w = world().await;
    let a = w.s.login("r.nino").await;
    let (_, r) = a.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(stage(&r["total"], "negotiation")["lost_here"], 1, "{r}");
    assert_eq!(stage(&r["total"], "proposal")["lost_here"], 0, "{r}");

    // The board becomes new, negotiation, qualified, proposal: "Lost late"
    // (new → proposal → negotiation → lost) now got furthest with its
    // proposal, and "Lost early" (new → qualified → lost) past negotiation.
    let o = w.s.login_elevated("r.owner").await;
    for (code, label, position) in [
        ("negotiation", "Negotiation", 2),
        ("qualified", "Qualified", 3),
        ("proposal", "Proposal", 4),
    ] {
        let (st, s) = o
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/deal-stages/{code}"),
                Some(json!({"label": label, "position": position})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{s}");
    }
    let (_, r) = a.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    let t = &r["total"];
    let order = strs(&t["stages"], "code");
    assert_eq!(
        order,
        ["new", "negotiation", "qualified", "proposal"],
        "{t}"
    );
    assert_eq!(stage(t, "negotiation")["lost_here"], 0, "{t}");
    assert_eq!(stage(t, "proposal")["lost_here"], 1, "{t}");
    assert_eq!(stage(t, "qualified")["lost_here"], 1, "{t}");
    // Reached: all four; negotiation or later: Won, Lost early, Lost late.
    assert_eq!(stage(t, "new")["reached"], 4);
    assert_eq!(stage(t, "negotiation")["reached"], 3);
    assert_eq!(stage(t, "proposal")["reached"], 2);

    // A deal moved after the reorder is counted by the new order at once.
    let d = deal(&a, &w.c1, "Fresh", "5", "GEL").await;
    move_to(&a, &d, &["proposal", "negotiation"]).await;
    let (_, r) = a.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    let t = &r["total"];
    assert_eq!(stage(t, "proposal")["reached"], 3, "{t}");
    assert_eq!(stage(t, "negotiation")["open_here"], 1, "{t}");
}

#[tokio::test]
async fn clients_at_risk_rank_troubled_clients_before_quiet_ones() {
    let w = world().await;
    // A second quiet client of n2's, made in January.
    set(&w.clock, day(2026, 1, 12, 12));
    let b = w.s.login("r.nodar").await;
    let c5 = b.create_client(json!({"name": "Оксана Шевчук"})).await;
    set(&w.clock, day(2026, 6, 15, 15));
    let b = w.s.login("r.nodar").await;
    // c2: one complaint in April (below the two needed), logged afterwards;
    // then an older call logged later still must not move its last contact back.
    log(
        &b,
        &w.c2,
        json!({"kind": "call", "direction": "inbound", "outcome": "complaint",
               "occurred_at": "2026-04-01T10:00:00Z"}),
    )
    .await;
    log(
        &b,
        &w.c2,
        json!({"kind": "meeting", "subject": "Visit", "occurred_at": "2026-03-01T10:00:00Z"}),
    )
    .await;
    log(
        &b,
        &c5,
        json!({"kind": "email", "subject": "Hello", "occurred_at": "2026-01-20T10:00:00Z"}),
    )
    .await;

    // c5 is the quieter, but c2's complaint ranks it first.
    let (st, r) = b.get("/api/v1/reports/at-risk").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let list = r["clients"].as_array().unwrap();
    let ids = strs(&r["clients"], "id");
    assert_eq!(ids, [w.c2.as_str(), c5.as_str()], "{r}");
    assert_eq!(list[0]["complaints"], 1);
    assert_eq!(list[0]["flags"], json!(["no_contact"]));
    assert_eq!(list[0]["last_contact_at"], "2026-04-01T10:00:00Z");
    assert_eq!(list[1]["last_contact_at"], "2026-01-20T10:00:00Z");
    assert_eq!(r["more"], false);
    let (_, r) = b.get("/api/v1/reports/at-risk?limit=1").await;
    assert_eq!(r["clients"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["clients"][0]["id"], w.c2.as_str());
    assert_eq!(r["more"], true);

    // The north lead: c1 (overdue and complaints) first, then n2's two; a
    // page of two still says there is more.
    let ln = w.s.login("r.lead.north").await;
    let (_, r) = ln.get("/api/v1/reports/at-risk").await;
    let ids = strs(&r["clients"], "id");
    assert_eq!(ids, [w.c1.as_str(), w.c2.as_str(), c5.as_str()], "{r}");
    let (_, r) = ln.get("/api/v1/reports/at-risk?limit=2").await;
    assert_eq!(r["clients"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["more"], true);
    // Neither the south lead nor s1 sees any of them.
    let z = w.s.login("r.salome").await;
    let (_, r) = z.get("/api/v1/reports/at-risk").await;
    assert_eq!(r["clients"], json!([]), "{r}");
    let _ = (&w.s1, &w.c3);
}

#[tokio::test]
async fn a_deleted_clients_records_leave_every_report() {
    let w = world().await;
    let o = w.s.login_elevated("r.owner").await;
    let (_, r) = o.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(r["total"]["deals"], 6, "{r}");
    let (st, e) = o.delete(&format!("/api/v1/clients/{}", w.c1)).await;
    assert!(st.is_success(), "{e}");

    // c1 carried n1's four June deals, both open invoices and the complaints.
    let (_, r) = o.get(&format!("/api/v1/reports/funnel?{JUNE}")).await;
    assert_eq!(r["total"]["deals"], 2, "{r}");
    let a = w.s.login("r.nino").await;
    let (st, r) = a
        .get("/api/v1/reports/revenue?from=2026-05-01&to=2026-06-30")
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["open"], json!([]), "{r}");
    assert_eq!(r["totals"], json!([]), "{r}");
    let (_, r) = o.get("/api/v1/reports/at-risk").await;
    let ids = strs(&r["clients"], "id");
    assert_eq!(ids, [w.c2.as_str()], "{r}");
}

/// One text field of every object in a JSON array.
fn strs<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o[field].as_str().unwrap())
        .collect()
}
