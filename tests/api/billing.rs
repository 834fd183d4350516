//! Projects, invoices, credit notes and payments over HTTP: the whole flow with
//! exact decimal totals, the gapless number sequence under concurrent issuers,
//! issued invoices frozen (by the API and by the database), overdue from the
//! clock, the client's relationship and balance, the scope rule from the
//! attacker's side, and hostile input.

use futures_util::future::join_all;
use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, TestServer};

fn line(description: &str, quantity: &str, unit_price: &str, tax_rate: &str) -> Value {
    json!({"description": description, "quantity": quantity, "unit_price": unit_price,
           "tax_rate": tax_rate})
}

async fn draft(c: &Client, client_id: &str, currency: &str, lines: Value) -> Value {
    let (st, inv) = c
        .post(
            "/api/v1/invoices",
            json!({"client_id": client_id, "currency": currency, "lines": lines}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    inv
}

fn id_of(detail: &Value) -> String {
    detail["invoice"]["id"].as_str().unwrap().to_string()
}

async fn issue(c: &Client, id: &str) -> Value {
    let (st, inv) = c
        .post(&format!("/api/v1/invoices/{id}/issue"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{inv}");
    inv
}

#[tokio::test]
async fn invoices_are_drafted_issued_paid_and_credited_with_exact_totals() {
    let s = TestServer::start();
    s.add_user("sales.b1", Role::Sales, Some("north"));
    let c = s.login("sales.b1").await;
    let client = c.create_client(json!({"name": "Gülnarə Əliyeva"})).await;
    // Hostile and any-script descriptions are data, kept byte for byte.
    let hostile = "<script>alert(1)</script> ' OR 1=1; -- ღვინო «вино» نبيذ";
    let d = draft(
        &c,
        &client,
        "azn",
        json!([
            line(hostile, "3", "0.335", "18"),
            line("Konsultasiya xidməti", "1.5", "200", "0"),
        ]),
    )
    .await;
    let id = id_of(&d);
    assert_eq!(d["invoice"]["status"], "draft");
    assert!(d["invoice"]["number"].is_null(), "no number while a draft");
    assert_eq!(d["lines"][0]["description"], hostile);
    // 3 × 0.335 = 1.005 → 1.01 (half away from zero); 18% of 1.01 = 0.1818 → 0.18.
    assert_eq!(d["lines"][0]["net"], "1.01");
    assert_eq!(d["lines"][0]["tax"], "0.18");
    assert_eq!(d["invoice"]["subtotal"], "301.01");
    assert_eq!(d["invoice"]["tax"], "0.18");
    assert_eq!(d["invoice"]["total"], "301.19");
    assert_eq!(d["invoice"]["currency"], "AZN");

    // A draft is edited freely.
    let (st, d) = c
        .patch(
            &format!("/api/v1/invoices/{id}"),
            json!({"lines": [line(hostile, "3", "0.335", "18"), line("Audit", "1", "100", "18")],
                   "due_on": "2099-12-31"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["invoice"]["total"], "119.19");

    let d = issue(&c, &id).await;
    let number = d["invoice"]["number"].as_i64().unwrap();
    assert_eq!(number, 1, "the first number of a fresh sequence");
    assert_eq!(d["invoice"]["status"], "sent");

    // Issued: never edited, never issued twice.
    let (st, err) = c
        .patch(
            &format!("/api/v1/invoices/{id}"),
            json!({"notes": "late edit"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
    let (st, _) = c
        .post(&format!("/api/v1/invoices/{id}/issue"), json!({}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, same) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(same["invoice"]["total"], "119.19");
    assert!(same["invoice"]["notes"].is_null());

    // Payments: partly paid, more than outstanding refused, then paid.
    let (st, paid) = c
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "19.19", "method": "bank", "paid_on": "2026-11-20"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["invoice"]["status"], "partly_paid");
    assert_eq!(paid["invoice"]["outstanding"], "100");
    let (st, err) = c
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "100.01"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "amount");
    let (st, paid) = c
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": 100}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["invoice"]["status"], "paid");
    let (_, list) = c.get(&format!("/api/v1/invoices/{id}/payments")).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A full credit note: its own number in the same sequence, negative totals
    // that cancel the invoice; the money paid is now owed back to the client.
    let (st, cn) = c
        .post(&format!("/api/v1/invoices/{id}/credit-notes"), json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cn}");
    assert_eq!(cn["invoice"]["kind"], "credit_note");
    assert_eq!(cn["invoice"]["credits_id"], id.as_str());
    assert_eq!(cn["invoice"]["total"], "-119.19");
    assert_eq!(cn["lines"][0]["quantity"], "-3");
    let cn_id = id_of(&cn);
    let cn = issue(&c, &cn_id).await;
    assert_eq!(cn["invoice"]["number"], number + 1);
    let (_, inv) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["credited"], "-119.19");
    assert_eq!(inv["invoice"]["outstanding"], "-119.19");
    assert_eq!(inv["credit_notes"][0]["id"], cn_id.as_str());
    // Nothing more can be credited.
    let (st, more) = c
        .post(
            &format!("/api/v1/invoices/{id}/credit-notes"),
            json!({"lines": [line("again", "1", "1", "0")]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{more}");
    let (st, err) = c
        .post(
            &format!("/api/v1/invoices/{}/issue", id_of(&more)),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // The refused issue gave its number back: the next document takes 3.
    let other = draft(&c, &client, "AZN", json!([line("x", "1", "5", "0")])).await;
    let other = issue(&c, &id_of(&other)).await;
    assert_eq!(other["invoice"]["number"], number + 2);

    // The client's relationship: invoices, payments and the balance.
    let (st, rel) = c
        .get(&format!("/api/v1/clients/{client}/relationship"))
        .await;
    assert_eq!(st, StatusCode::OK, "{rel}");
    assert_eq!(rel["payments"].as_array().unwrap().len(), 2);
    assert!(rel["invoices"].as_array().unwrap().len() >= 3);
    assert_eq!(rel["balance"][0]["currency"], "AZN");
    assert_eq!(rel["balance"][0]["invoiced"], "124.19");
    assert_eq!(rel["balance"][0]["paid"], "119.19");
    assert_eq!(rel["balance"][0]["outstanding"], "-114.19");

    // The printable page: the lines escaped, the totals, a print stylesheet.
    let html = c
        .raw(reqwest::Method::GET, &format!("/invoices/{id}/print"))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(
        html.contains("119.19 AZN") && html.contains("000001"),
        "{html}"
    );
    assert!(html.contains("/static/work.css"));
    let css = c
        .raw(reqwest::Method::GET, "/static/work.css")
        .send()
        .await
        .unwrap();
    assert!(css.text().await.unwrap().contains("@media print"));

    // Writes are audited with the client's id.
    let ev = &s.audit("invoice.issue")[0];
    assert!(ev.object_ids.contains(&client), "{}", ev.object_ids);
    let ok = s.audit("payment.create");
    assert_eq!(ok.iter().filter(|e| e.outcome == "ok").count(), 2);
}

#[tokio::test]
async fn concurrent_issuers_take_numbers_without_gaps_or_duplicates() {
    let s = TestServer::start();
    s.add_user("sales.b2", Role::Sales, Some("north"));
    let c = s.login("sales.b2").await;
    let client = c.create_client(json!({"name": "Тамара"})).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let d = draft(
            &c,
            &client,
            "GEL",
            json!([line(&format!("n{i}"), "1", "10", "18")]),
        )
        .await;
        ids.push(id_of(&d));
    }
    // Each draft issued twice at once: one issue wins, the other is refused and
    // gives its number back.
    let calls = ids.iter().chain(ids.iter()).map(|id| {
        let c = &c;
        async move {
            c.post(&format!("/api/v1/invoices/{id}/issue"), json!({}))
                .await
        }
    });
    let results = join_all(calls).await;
    let mut numbers: Vec<i64> = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .map(|(_, v)| v["invoice"]["number"].as_i64().unwrap())
        .collect();
    assert!(
        results
            .iter()
            .all(|(st, _)| *st == StatusCode::OK || *st == StatusCode::CONFLICT),
        "{results:?}"
    );
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=12).collect::<Vec<i64>>(),
        "every number once, no gap"
    );
    let d = draft(&c, &client, "GEL", json!([line("last", "1", "1", "0")])).await;
    assert_eq!(issue(&c, &id_of(&d)).await["invoice"]["number"], 13);

    // Ten payments of 20 at once against 100 outstanding: exactly five land.
    let d = draft(&c, &client, "GEL", json!([line("pay", "1", "100", "0")])).await;
    let id = id_of(&d);
    issue(&c, &id).await;
    let path = format!("/api/v1/invoices/{id}/payments");
    let pays = (0..10).map(|_| c.post(&path, json!({"amount": "20"})));
    let results = join_all(pays).await;
    let landed = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    assert_eq!(landed, 5, "{results:?}");
    let (_, inv) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["paid"], "100");
    assert_eq!(inv["invoice"]["status"], "paid");
    assert_eq!(inv["payments"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_database_refuses_edits_of_issued_invoices() {
    let s = TestServer::start();
    s.add_user("sales.b3", Role::Sales, Some("north"));
    let c = s.login("sales.b3").await;
    let client = c.create_client(json!({"name": "Nodira"})).await;
    let d = draft(
        &c,
        &client,
        "UZS",
        json!([line("Xizmat", "2", "50000", "12")]),
    )
    .await;
    let id = id_of(&d);
    issue(&c, &id).await;
    let (st, _) = c
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "1000"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let mut conn = s.store.conn().unwrap();
    use diesel::connection::SimpleConnection;
    for sql in [
        format!("UPDATE invoices SET total_e4 = 1 WHERE id = '{id}'"),
        format!("UPDATE invoices SET notes = 'x' WHERE id = '{id}'"),
        format!("UPDATE invoices SET state = 'draft' WHERE id = '{id}'"),
        format!("DELETE FROM invoices WHERE id = '{id}'"),
        format!("UPDATE invoice_lines SET unit_price_e4 = 1 WHERE invoice_id = '{id}'"),
        format!("DELETE FROM invoice_lines WHERE invoice_id = '{id}'"),
        format!(
            "INSERT INTO invoice_lines (id, invoice_id, position, description, quantity_e4, \
             unit_price_e4, tax_rate_e4, net_e4, tax_e4, total_e4) \
             VALUES ('extra', '{id}', 9, 'extra', 10000, 10000, 0, 10000, 0, 10000)"
        ),
        format!("UPDATE payments SET amount_e4 = 1 WHERE invoice_id = '{id}'"),
        format!("DELETE FROM payments WHERE invoice_id = '{id}'"),
    ] {
        assert!(
            conn.batch_execute(&sql).is_err(),
            "the database took: {sql}"
        );
    }
    let (_, after) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(after["invoice"]["total"], "112000");
    assert_eq!(after["lines"].as_array().unwrap().len(), 1);
    assert_eq!(after["invoice"]["paid"], "1000");
}

#[tokio::test]
async fn overdue_follows_the_due_date_and_the_clock() {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    s.add_user("sales.b4", Role::Sales, Some("north"));
    let c = s.login("sales.b4").await;
    let client = c.create_client(json!({"name": "Overdue Ltd"})).await;
    let d = draft(&c, &client, "EUR", json!([line("Work", "1", "100", "20")])).await;
    let id = id_of(&d);
    let tomorrow = (s.env.now() + chrono::Duration::days(1)).date_naive();
    let (st, _) = c
        .patch(
            &format!("/api/v1/invoices/{id}"),
            json!({"due_on": tomorrow.to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    issue(&c, &id).await;
    let (_, inv) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["status"], "sent");
    clock.advance(chrono::Duration::days(3));
    // Three days later: a new session, the same invoice now overdue.
    let c = s.login("sales.b4").await;
    let (_, inv) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["status"], "overdue");
    let (_, page) = c.get("/api/v1/invoices?status=overdue").await;
    assert_eq!(page["items"][0]["id"], id.as_str());
    let (_, page) = c.get("/api/v1/invoices?status=sent").await;
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    let (_, paid) = c
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "120"}),
        )
        .await;
    assert_eq!(paid["invoice"]["status"], "paid");
}

#[tokio::test]
async fn a_salesperson_reaches_no_colleagues_projects_invoices_or_payments() {
    let s = TestServer::start();
    s.add_user("sales.own", Role::Sales, Some("north"));
    s.add_user("sales.other", Role::Sales, Some("north"));
    s.add_user("lead.north", Role::Manager, Some("north"));
    let a = s.login("sales.own").await;
    let b = s.login("sales.other").await;
    let client = a.create_client(json!({"name": "Mine only"})).await;
    let (st, project) = a
        .post(
            "/api/v1/projects",
            json!({"client_id": client, "name": "Website", "status": "active",
                   "starts_on": "2026-11-01", "ends_on": "2026-12-31"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{project}");
    let pid = project["id"].as_str().unwrap().to_string();
    // The project's own tasks (task scope rules stay: assignee and team).
    let (st, task) = a
        .post(
            "/api/v1/tasks",
            json!({"title": "Kick-off", "due_at": "2026-12-01T10:00:00+04:00", "project_id": pid}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{task}");
    assert_eq!(task["project"]["name"], "Website");
    assert_eq!(
        task["client"]["id"],
        client.as_str(),
        "the client follows from the project"
    );
    let (_, tasks) = a.get(&format!("/api/v1/tasks?project_id={pid}")).await;
    assert_eq!(tasks["items"][0]["id"], task["id"]);
    let d = draft(
        &a,
        &client,
        "USD",
        json!([line("Design", "10", "95.5", "0")]),
    )
    .await;
    let id = id_of(&d);
    issue(&a, &id).await;
    let (st, _) = a
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "5"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);

    // The colleague: every door answers 404 and changes nothing.
    let denied_before = s.audit("invoice.read").len();
    let page = b
        .raw(reqwest::Method::GET, &format!("/invoices/{id}/print"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(!page.text().await.unwrap().contains("Design"));
    for path in [
        format!("/api/v1/invoices/{id}"),
        format!("/api/v1/invoices/{id}/payments"),
        format!("/api/v1/projects/{pid}"),
        format!("/api/v1/clients/{client}/relationship"),
    ] {
        let (st, body) = b.get(&path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for (path, body) in [
        (
            format!("/api/v1/invoices/{id}/payments"),
            json!({"amount": "1"}),
        ),
        (format!("/api/v1/invoices/{id}/issue"), json!({})),
        (format!("/api/v1/invoices/{id}/void"), json!({})),
        (format!("/api/v1/invoices/{id}/credit-notes"), json!({})),
        (
            "/api/v1/invoices".to_string(),
            json!({"client_id": client, "currency": "USD", "lines": []}),
        ),
        (
            "/api/v1/projects".to_string(),
            json!({"client_id": client, "name": "Steal"}),
        ),
        (
            "/api/v1/tasks".to_string(),
            json!({"title": "Peek", "due_at": "2026-12-01T10:00:00Z", "project_id": pid}),
        ),
    ] {
        let (st, resp) = b.post(&path, body).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {resp}");
    }
    let (st, _) = b
        .patch(
            &format!("/api/v1/projects/{pid}"),
            json!({"name": "Mine now"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, tasks) = b.get(&format!("/api/v1/tasks?project_id={pid}")).await;
    assert!(tasks["items"].as_array().unwrap().is_empty(), "{tasks}");
    for path in ["/api/v1/invoices", "/api/v1/projects"] {
        let (_, page) = b.get(path).await;
        assert!(
            page["items"].as_array().unwrap().is_empty(),
            "{path}: {page}"
        );
    }
    let (_, page) = b.get(&format!("/api/v1/invoices?client_id={client}")).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    let denied: Vec<_> = s
        .audit("invoice.read")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .collect();
    assert!(
        s.audit("invoice.read").len() > denied_before && !denied.is_empty(),
        "the attempt is in the audit log"
    );
    assert!(
        s.audit("payment.create")
            .iter()
            .any(|e| e.outcome == "denied")
    );
    let (_, mine) = a.get(&format!("/api/v1/projects/{pid}")).await;
    assert_eq!(mine["name"], "Website");
    let (_, inv) = a.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["paid"], "5");

    // The card shows the whole relationship to whoever reads the client.
    let card = a
        .raw(reqwest::Method::GET, &format!("/clients/{client}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(card.contains("id=\"client-invoices\""), "{card}");
    assert!(card.contains("Website") && card.contains("950 USD") && card.contains("5 USD"));
    assert!(card.contains(&format!("/invoices/{id}/print")));

    // The team lead reaches the whole relationship.
    let lead = s.login("lead.north").await;
    let (st, rel) = lead
        .get(&format!("/api/v1/clients/{client}/relationship"))
        .await;
    assert_eq!(st, StatusCode::OK, "{rel}");
    assert_eq!(rel["projects"][0]["id"], pid.as_str());
    assert_eq!(rel["invoices"][0]["id"], id.as_str());
    assert_eq!(rel["payments"][0]["amount"], "5");
    assert_eq!(rel["balance"][0]["outstanding"], "950");
}

#[tokio::test]
async fn bad_invoice_input_is_refused_with_the_field_and_changes_nothing() {
    let s = TestServer::start();
    s.add_user("sales.b5", Role::Sales, Some("north"));
    let c = s.login("sales.b5").await;
    let client = c.create_client(json!({"name": "Careful"})).await;
    let cases = [
        (json!([line("x", "-1", "10", "0")]), "lines[0].quantity"),
        (json!([line("x", "0", "10", "0")]), "lines[0].quantity"),
        (json!([line("x", "1", "10", "101")]), "lines[0].tax_rate"),
        (json!([line("x", "1", "10", "-5")]), "lines[0].tax_rate"),
        (json!([line("x", "1", "-10", "0")]), "lines[0].unit_price"),
        (json!([line("x", "1e5", "10", "0")]), "lines[0].quantity"),
        (json!([line("x", "1", "1,50", "0")]), "lines[0].unit_price"),
        (json!([line("x", "1", "1.2.3", "0")]), "lines[0].unit_price"),
        (json!([line("x", "1", "NaN", "0")]), "lines[0].unit_price"),
        (json!([line("x", "0.00001", "1", "0")]), "lines[0].quantity"),
        (
            json!([line("x", "1", "1", "0"), line("", "1", "1", "0")]),
            "lines[1].description",
        ),
        (
            json!([line("x", "10000000", "1", "0")]),
            "lines[0].quantity",
        ),
    ];
    for (lines, field) in cases {
        let (st, err) = c
            .post(
                "/api/v1/invoices",
                json!({"client_id": client, "currency": "USD", "lines": lines}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{lines}: {err}");
        assert_eq!(err["error"]["field"], field, "{lines}: {err}");
    }
    for currency in ["XYZ", "dollars", "", "€"] {
        let (st, err) = c
            .post(
                "/api/v1/invoices",
                json!({"client_id": client, "currency": currency, "lines": []}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{currency}: {err}");
        assert_eq!(err["error"]["field"], "currency");
    }
    let (st, err) = c
        .post(
            "/api/v1/invoices",
            json!({"client_id": client, "currency": "USD", "due_on": "31.12.2026", "lines": []}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (st, err) = c
        .post(
            "/api/v1/projects",
            json!({"client_id": client, "name": "P", "status": "finished"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (st, err) = c
        .post(
            "/api/v1/projects",
            json!({"client_id": client, "name": "P", "starts_on": "2026-12-01", "ends_on": "2026-11-01"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // An empty draft cannot be issued; nothing was stored by the refusals.
    let empty = draft(&c, &client, "USD", json!([])).await;
    let (st, _) = c
        .post(
            &format!("/api/v1/invoices/{}/issue", id_of(&empty)),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, page) = c.get("/api/v1/invoices").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = c.get("/api/v1/projects").await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

/// A form post as the browser sends it; redirects are followed.
async fn form(c: &Client, path: &str, body: &str) -> (StatusCode, String, String) {
    let res = c
        .raw(reqwest::Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (st, url) = (res.status(), res.url().path().to_string());
    (st, url, res.text().await.unwrap())
}

#[tokio::test]
async fn the_web_pages_draft_issue_and_pay_invoices_and_add_projects() {
    let s = TestServer::start();
    s.add_user("sales.w1", Role::Sales, Some("north"));
    let c = s.login("sales.w1").await;
    let client = c.create_client(json!({"name": "ნინო"})).await;
    let card = c
        .raw(reqwest::Method::GET, &format!("/clients/{client}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(card.contains("id=\"invoice-form\"") && card.contains("id=\"project-form\""));

    // A refused draft says why (the tax rate) and stores nothing.
    let bad = "currency=GEL&due_on=&description=x&quantity=1&unit_price=10&tax_rate=150\
               &description=&quantity=&unit_price=&tax_rate=";
    let (st, _, page) = form(&c, &format!("/clients/{client}/invoices"), bad).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("id=\"form-error\"") && page.contains("tax_rate"),
        "{page}"
    );
    let (_, list) = c.get("/api/v1/invoices").await;
    assert!(list["items"].as_array().unwrap().is_empty());

    let good = "currency=gel&due_on=2099-01-31&description=%E1%83%A6%E1%83%95%E1%83%98%E1%83%9C%E1%83%9D\
                &quantity=2&unit_price=10&tax_rate=18&description=&quantity=&unit_price=&tax_rate=";
    let (st, url, page) = form(&c, &format!("/clients/{client}/invoices"), good).await;
    assert_eq!(st, StatusCode::OK);
    assert!(url.ends_with("/print"), "{url}");
    assert!(
        page.contains("23.6 GEL") && page.contains("ღვინო"),
        "{page}"
    );
    let id = url
        .trim_start_matches("/invoices/")
        .trim_end_matches("/print")
        .to_string();

    let (_, _, page) = form(&c, &format!("/invoices/{id}/issue"), "").await;
    assert!(page.contains("000001"), "{page}");
    // A bad amount: the message, and what was typed is still there.
    let (st, _, page) = form(
        &c,
        &format!("/invoices/{id}/payments"),
        "amount=12%2C5&method=cash",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("id=\"form-error\"") && page.contains("value=\"12,5\""),
        "{page}"
    );
    let (_, _, page) = form(
        &c,
        &format!("/invoices/{id}/payments"),
        "amount=23.6&paid_on=&method=cash",
    )
    .await;
    assert!(page.contains(">Paid<"), "{page}");
    let (_, inv) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(inv["invoice"]["status"], "paid");
    // Issued: the page offers no issue button any more, and a forged post is refused.
    assert!(!page.contains("id=\"invoice-issue\""));
    let (st, _, page) = form(&c, &format!("/invoices/{id}/issue"), "").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("id=\"form-error\""), "{page}");

    let (_, url, _) = form(
        &c,
        &format!("/clients/{client}/projects"),
        "name=Sayt&status=active&starts_on=2026-11-01&ends_on=2026-12-01",
    )
    .await;
    assert_eq!(url, format!("/clients/{client}"));
    let (_, projects) = c.get(&format!("/api/v1/projects?client_id={client}")).await;
    assert_eq!(projects["items"][0]["name"], "Sayt");
}

async fn page_text(c: &Client, path: &str) -> (StatusCode, String) {
    let res = c.raw(reqwest::Method::GET, path).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_draft_is_edited_on_its_page_until_it_is_issued() {
    let s = TestServer::start();
    s.add_user("sales.e1", Role::Sales, Some("north"));
    s.add_user("sales.e2", Role::Sales, Some("north"));
    let c = s.login("sales.e1").await;
    let other = s.login("sales.e2").await;
    let client = c.create_client(json!({"name": "Łukasz"})).await;
    let inv = draft(
        &c,
        &client,
        "EUR",
        json!([
            line("Design", "2", "100", "20"),
            line("Hosting", "1", "10", "0")
        ]),
    )
    .await;
    let id = id_of(&inv);
    let (_, page) = page_text(&c, &format!("/invoices/{id}/print")).await;
    assert!(
        page.contains("id=\"invoice-edit-form\"") && page.contains("value=\"Hosting\""),
        "{page}"
    );

    // A bad line: the message names the field, what was typed stays, nothing changes.
    let bad = "currency=EUR&due_on=&notes=&description=Design&quantity=2&unit_price=100&tax_rate=20\
               &description=%D8%A7%D8%B3%D8%AA%D8%B6%D8%A7%D9%81%D8%A9&quantity=1&unit_price=abc&tax_rate=";
    let (st, _, page) = form(&c, &format!("/invoices/{id}/edit"), bad).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("id=\"form-error\"")
            && page.contains("unit_price")
            && page.contains("value=\"استضافة\"")
            && page.contains("value=\"abc\""),
        "{page}"
    );
    let (_, now) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(now["invoice"]["total"], "250");

    // The second line replaced (Arabic), the first dropped by clearing it, a note added.
    let good = "currency=EUR&due_on=2099-03-01&notes=%E1%83%92%E1%83%90%E1%83%9B%E1%83%90%E1%83%A0%E1%83%AF%E1%83%9D%E1%83%91%E1%83%90\
                &description=&quantity=2&unit_price=100&tax_rate=20\
                &description=%D8%A7%D8%B3%D8%AA%D8%B6%D8%A7%D9%81%D8%A9&quantity=3&unit_price=12.5&tax_rate=18\
                &description=&quantity=&unit_price=&tax_rate=";
    let (st, url, page) = form(&c, &format!("/invoices/{id}/edit"), good).await;
    assert_eq!(st, StatusCode::OK);
    assert!(url.ends_with("/print"), "{url}");
    assert!(
        page.contains("استضافة") && !page.contains(">Design<"),
        "{page}"
    );
    let (_, now) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(now["lines"].as_array().unwrap().len(), 1, "{now}");
    // 3 × 12.50 = 37.50, 18% tax 6.75.
    assert_eq!(now["invoice"]["total"], "44.25", "{now}");
    assert_eq!(now["invoice"]["due_on"], "2099-03-01");
    assert!(
        s.audit("invoice.update")
            .iter()
            .any(|e| e.outcome == "ok" && e.detail.contains("lines"))
    );

    // A colleague cannot reach the draft's form, and the attempt is audited.
    let denied_before = s.audit("invoice.update").len();
    let (st, _, _) = form(&other, &format!("/invoices/{id}/edit"), good).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(s.audit("invoice.update").len() > denied_before);

    // Issued: no edit form, and a forged edit is refused and changes nothing.
    issue(&c, &id).await;
    let (_, page) = page_text(&c, &format!("/invoices/{id}/print")).await;
    assert!(!page.contains("id=\"invoice-edit-form\""));
    let (st, _, page) = form(&c, &format!("/invoices/{id}/edit"), good).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("id=\"form-error\""), "{page}");
    let (_, after) = c.get(&format!("/api/v1/invoices/{id}")).await;
    assert_eq!(after["invoice"]["total"], "44.25");
    assert_eq!(after["invoice"]["status"], "sent");
}

#[tokio::test]
async fn the_project_page_edits_the_project_and_takes_its_tasks() {
    let s = TestServer::start();
    s.add_user("sales.p1", Role::Sales, Some("north"));
    s.add_user("sales.p2", Role::Sales, Some("north"));
    let c = s.login("sales.p1").await;
    let other = s.login("sales.p2").await;
    let client = c.create_client(json!({"name": "Вера Николаевна"})).await;
    let (st, p) = c
        .post(
            "/api/v1/projects",
            json!({"client_id": client, "name": "საიტი", "starts_on": "2026-12-01"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();

    // The card links the project; the page shows it.
    let (_, card) = page_text(&c, &format!("/clients/{client}")).await;
    assert!(
        card.contains(&format!("href=\"/projects/{pid}\"")),
        "{card}"
    );
    let (st, page) = page_text(&c, &format!("/projects/{pid}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("საიტი")
            && page.contains("Вера Николаевна")
            && page.contains("id=\"no-tasks\""),
        "{page}"
    );

    // Ends before it starts: refused with the message, the typed values kept.
    let (st, _, page) = form(
        &c,
        &format!("/projects/{pid}"),
        "name=%E1%83%A1%E1%83%90%E1%83%98%E1%83%A2%E1%83%98+2&status=active&starts_on=2026-12-01&ends_on=2026-11-01",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("id=\"form-error\"") && page.contains("value=\"2026-11-01\""),
        "{page}"
    );
    let (_, now) = c.get(&format!("/api/v1/projects/{pid}")).await;
    assert_eq!(now["status"], "planned");

    let (_, url, page) = form(
        &c,
        &format!("/projects/{pid}"),
        "name=%E1%83%A1%E1%83%90%E1%83%98%E1%83%A2%E1%83%98+2&status=active&starts_on=2026-12-01&ends_on=2027-01-15",
    )
    .await;
    assert_eq!(url, format!("/projects/{pid}"));
    assert!(page.contains("id=\"notice\""), "{page}");
    let (_, now) = c.get(&format!("/api/v1/projects/{pid}")).await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["name"], "საიტი 2");
    assert_eq!(now["ends_on"], "2027-01-15");

    // A task from the page belongs to the project (and so to its client).
    let (_, url, page) = form(
        &c,
        &format!("/projects/{pid}/tasks"),
        "tz=Asia%2FTbilisi&title=%D0%9F%D0%BE%D0%B7%D0%B2%D0%BE%D0%BD%D0%B8%D1%82%D1%8C&due=2026-12-02T10%3A00&priority=high",
    )
    .await;
    assert_eq!(url, format!("/projects/{pid}"));
    assert!(page.contains("Позвонить"), "{page}");
    let (_, tasks) = c.get(&format!("/api/v1/tasks?project_id={pid}")).await;
    let task = &tasks["items"][0];
    assert_eq!(task["title"], "Позвонить");
    assert_eq!(task["client"]["id"], client.as_str());
    assert_eq!(task["due_at"], "2026-12-02T06:00:00Z");
    // Done from the project page comes back to it.
    let tid = task["id"].as_str().unwrap();
    let (_, url, page) = form(
        &c,
        &format!("/tasks/{tid}/done"),
        &format!("back=project:{pid}"),
    )
    .await;
    assert_eq!(url, format!("/projects/{pid}"));
    assert!(page.contains("id=\"project-tasks-done\""), "{page}");
    // A hostile "back" goes to my day, nowhere else.
    let (_, url, _) = form(
        &c,
        &format!("/tasks/{tid}/done"),
        "back=project://evil.example",
    )
    .await;
    assert_eq!(url, "/my-day");

    // Its task lists belong to one record: reopening the page is not a list walk.
    for _ in 0..15 {
        let (st, _) = page_text(&c, &format!("/projects/{pid}")).await;
        assert_eq!(st, StatusCode::OK);
    }
    assert!(
        !s.audit("alert.raise")
            .iter()
            .any(|e| e.detail.contains("list_pages")),
        "a project's own task lists tripped the list-walk rule"
    );

    // A colleague reaches neither the page nor its forms; the attempts are audited.
    let denied_before = s.audit("project.read").len();
    let (st, _) = page_text(&other, &format!("/projects/{pid}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = form(&other, &format!("/projects/{pid}"), "name=x&status=done").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = form(
        &other,
        &format!("/projects/{pid}/tasks"),
        "title=x&due=2026-12-02T10%3A00&priority=low",
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(s.audit("project.read").len() > denied_before);
    assert!(
        s.audit("project.update")
            .iter()
            .any(|e| e.outcome == "denied")
    );
    let (_, now) = c.get(&format!("/api/v1/projects/{pid}")).await;
    assert_eq!(now["status"], "active", "{now}");
    let (_, tasks) = c
        .get(&format!("/api/v1/tasks?project_id={pid}&state=all"))
        .await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);
}

/// Issued invoices, their lines, credit notes and payments survive a backup and
/// restore (the frozen-invoice triggers let a restore write exactly the issued
/// lines, and a credit note may come before its invoice in id order), and stay
/// frozen in the restored database.
#[tokio::test]
async fn billing_survives_backup_and_restore_and_stays_frozen() {
    use crate::backup as b;
    let s = TestServer::start();
    s.add_user("sales.r1", Role::Sales, Some("north"));
    let c = s.login("sales.r1").await;
    let client = c.create_client(json!({"name": "Restored"})).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = draft(
            &c,
            &client,
            "EUR",
            json!([
                line(&format!("L{i}a"), "2", "10", "20"),
                line("b", "1", "1", "0")
            ]),
        )
        .await;
        let id = id_of(&d);
        issue(&c, &id).await;
        let (st, cn) = c
            .post(&format!("/api/v1/invoices/{id}/credit-notes"), json!({}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{cn}");
        issue(&c, &id_of(&cn)).await;
        ids.push(id);
    }
    let d = draft(&c, &client, "EUR", json!([line("paid", "1", "50", "0")])).await;
    let paid = id_of(&d);
    issue(&c, &paid).await;
    let (st, _) = c
        .post(
            &format!("/api/v1/invoices/{paid}/payments"),
            json!({"amount": "20"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);

    let k = b::age_keys();
    let mut config = s.config.clone();
    config.backup.recipients = vec![k.recipient.clone()];
    config.backup.destinations = vec![k.dir.path().join("dest")];
    let made = b::backup(&s, &config);
    let target = crate::support::TestDb::new();
    b::restore_to(&config, &k, &b::archive_path(&config, &made), &target.url);

    let mut conn = b::open(&target.url);
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let lines: i64 = holdfast::store::schema::invoice_lines::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(lines, 4 * 2 * 2 + 1);
    let numbers: Vec<Option<i64>> = holdfast::store::schema::invoices::table
        .select(holdfast::store::schema::invoices::number)
        .load(&mut conn)
        .unwrap();
    assert_eq!(numbers.len(), 9);
    let next: i64 = holdfast::store::schema::invoice_sequences::table
        .select(holdfast::store::schema::invoice_sequences::last_number)
        .first(&mut conn)
        .unwrap();
    assert_eq!(next, 9, "the sequence continues where it was");
    for sql in [
        format!("UPDATE invoices SET total_e4 = 1 WHERE id = '{paid}'"),
        format!("DELETE FROM invoice_lines WHERE invoice_id = '{paid}'"),
        format!(
            "INSERT INTO invoice_lines (id, invoice_id, position, description, quantity_e4, \
             unit_price_e4, tax_rate_e4, net_e4, tax_e4, total_e4) \
             VALUES ('extra', '{paid}', 9, 'extra', 10000, 10000, 0, 10000, 0, 10000)"
        ),
    ] {
        assert!(
            conn.batch_execute(&sql).is_err(),
            "restored database took: {sql}"
        );
    }
}
