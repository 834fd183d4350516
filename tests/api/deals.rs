//! Deals and the pipeline over HTTP: create, update, stage moves with their
//! history, totals per currency, stages edited by owners, the scope rule (a
//! deal is reached exactly when its client is) from the attacker's side, and
//! hostile input.

use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Client, TestServer};

async fn new_deal(c: &Client, client_id: &str, title: &str, amount: &str, currency: &str) -> Value {
    let (st, deal) = c
        .post(
            "/api/v1/deals",
            json!({"client_id": client_id, "title": title, "amount": amount, "currency": currency,
                   "expected_close": "2026-12-31"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{deal}");
    deal
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn deals_move_through_stages_with_history_and_totals() {
    let s = TestServer::start();
    let me = s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let client = c.create_client(json!({"name": "ნინო ბერიძე"})).await;
    let deal = new_deal(&c, &client, "ღვინის მიწოდება 2027", "1234.50", "gel").await;
    let id = deal["id"].as_str().unwrap().to_string();
    assert_eq!(deal["title"], "ღვინის მიწოდება 2027", "byte-for-byte");
    assert_eq!(deal["amount"], "1234.5", "exact decimal as a string");
    assert_eq!(deal["currency"], "GEL");
    assert_eq!(deal["stage"], "new", "the first open stage by default");
    assert_eq!(deal["owner"]["id"], me.as_str());
    assert_eq!(deal["client"]["name"], "ნინო ბერიძე");
    new_deal(&c, &client, "Second", "100.25", "GEL").await;
    new_deal(&c, &client, "Dollars", "99.99", "USD").await;

    // Moving: to a stage, then to "lost" without a reason (refused, nothing
    // changes), then with one.
    let (st, moved) = c
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({"stage": "qualified"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    assert_eq!(moved["stage"], "qualified");
    let (st, err) = c
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({"stage": "lost"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "lost_reason");
    let (_, still) = c.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(
        still["deal"]["stage"], "qualified",
        "a refused move changes nothing"
    );
    let (st, lost) = c
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({"stage": "lost", "lost_reason": "Выбрали конкурента"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{lost}");
    assert_eq!(lost["lost_reason"], "Выбрали конкурента");

    // Every change is kept, with who and when.
    let (st, history) = c.get(&format!("/api/v1/deals/{id}/history")).await;
    assert_eq!(st, StatusCode::OK);
    let steps: Vec<(Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from_stage"].clone(), h["to_stage"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("new")),
            (json!("new"), json!("qualified")),
            (json!("qualified"), json!("lost")),
        ]
    );
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["by"]["id"] == me.as_str())
    );

    // Updating fields; the audit event names the changed fields.
    let (st, upd) = c
        .patch(
            &format!("/api/v1/deals/{id}"),
            json!({"title": "Renamed", "amount": 2000, "expected_close": null}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    assert_eq!(upd["amount"], "2000");
    assert!(upd["expected_close"].is_null());
    let ev = &s.audit("deal.update")[0];
    assert!(
        ev.detail.contains("\"title\"") && ev.detail.contains("\"amount\""),
        "{}",
        ev.detail
    );
    assert!(ev.object_ids.contains(&id) && ev.object_ids.contains(&client));

    // The pipeline: totals per stage and per currency, never across currencies.
    let (st, board) = c.get("/api/v1/pipeline").await;
    assert_eq!(st, StatusCode::OK, "{board}");
    let col = |code: &str| {
        board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["stage"]["code"] == code)
            .unwrap()
            .clone()
    };
    let new = col("new");
    assert_eq!(new["count"], 2);
    assert_eq!(
        new["totals"],
        json!([{"currency": "GEL", "amount": "100.25"}, {"currency": "USD", "amount": "99.99"}])
    );
    assert_eq!(col("lost")["count"], 1);
    assert_eq!(col("qualified")["count"], 0);

    // The list: filters and cursor pagination.
    let (_, page) = c.get("/api/v1/deals?limit=2").await;
    assert_eq!(ids(&page).len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = c
        .get(&format!("/api/v1/deals?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest).len(), 1);
    assert!(rest["next_cursor"].is_null());
    let (_, usd) = c.get("/api/v1/deals?currency=usd").await;
    assert_eq!(ids(&usd).len(), 1);
    let (_, lost_only) = c.get("/api/v1/deals?stage=lost").await;
    assert_eq!(ids(&lost_only), vec![id.clone()]);

    // The client card lists the client's deals.
    let (_, card) = c.get(&format!("/api/v1/clients/{client}")).await;
    assert_eq!(card["deals"].as_array().unwrap().len(), 3);
    let (st, of_client) = c.get(&format!("/api/v1/clients/{client}/deals")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(of_client.as_array().unwrap().len(), 3);
    // Reads are audited with the ids they returned.
    let read = &s.audit("deal.read")[0];
    assert_eq!(read.outcome, "ok");
    assert!(read.object_ids.contains(&id));
}

#[tokio::test]
async fn a_deal_is_reached_exactly_when_its_client_is() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    s.add_user("sales.n2", Role::Sales, Some("north"));
    let s1 = s.add_user("sales.s1", Role::Sales, Some("south"));
    s.add_user("manager.n", Role::Manager, Some("north"));
    s.add_user("manager.s", Role::Manager, Some("south"));
    s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let n1 = s.login("sales.n1").await;
    let client = n1.create_client(json!({"name": "Northern client"})).await;
    let deal = new_deal(&n1, &client, "Northern deal", "500", "EUR").await;
    let id = deal["id"].as_str().unwrap().to_string();

    // The attacker: a salesperson of another team, and a colleague of the same
    // team (sales see only their own clients). Every door answers 404.
    for who in ["sales.s1", "sales.n2", "manager.s"] {
        let c = s.login(who).await;
        let (st, _) = c.get(&format!("/api/v1/deals/{id}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} reads");
        let (st, _) = c.get(&format!("/api/v1/deals/{id}/history")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} reads the history");
        let (st, _) = c
            .patch(&format!("/api/v1/deals/{id}"), json!({"title": "mine now"}))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} edits");
        let (st, _) = c
            .post(
                &format!("/api/v1/deals/{id}/stage"),
                json!({"stage": "won"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} moves");
        let (st, _) = c
            .post(
                "/api/v1/deals",
                json!({"client_id": client, "title": "x", "amount": "1", "currency": "EUR"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} adds a deal to the client");
        let (_, page) = c.get("/api/v1/deals").await;
        assert!(ids(&page).is_empty(), "{who} lists nothing");
        let (_, board) = c.get("/api/v1/pipeline").await;
        assert!(
            board["columns"]
                .as_array()
                .unwrap()
                .iter()
                .all(|col| col["count"] == 0 && col["totals"].as_array().unwrap().is_empty()),
            "{who}'s pipeline shows neither the deal nor its amount"
        );
        let (st, _) = c.get(&format!("/api/v1/clients/{client}/deals")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} lists the client's deals");
    }
    // Nothing changed, and each attempt is in the log as a denial naming the deal.
    let (_, d) = n1.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(d["deal"]["title"], "Northern deal");
    assert_eq!(d["deal"]["stage"], "new");
    for action in ["deal.read", "deal.history", "deal.update", "deal.move"] {
        let denied: Vec<_> = s
            .audit(action)
            .into_iter()
            .filter(|e| e.outcome == "denied" && e.object_ids.contains(&id))
            .collect();
        assert_eq!(denied.len(), 3, "{action}: one denial per attacker");
    }
    assert!(
        s.audit("deal.create")
            .iter()
            .any(|e| e.outcome == "denied" && e.object_ids.contains(&client))
    );

    // The team lead of the client's team, and an owner with a key proof, see it.
    let mn = s.login("manager.n").await;
    let (st, _) = mn.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let (_, page) = mn.get("/api/v1/deals").await;
    assert_eq!(ids(&page), vec![id.clone()]);
    let boss = s.login_elevated("boss").await;
    let (st, _) = boss.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    // An owner without the proof, and an IT admin, get no deal at all.
    let bare = s.login("boss").await;
    let (st, _) = bare.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let it = s.login_elevated("it").await;
    let (st, _) = it.get("/api/v1/deals").await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The deal follows its client: moved to the south team, it is theirs.
    let (st, body) = boss
        .post(
            "/api/v1/reassignments",
            json!({"client_ids": [client], "to_owner": s1, "reason": "territory change"}),
        )
        .await;
    assert!(st.is_success(), "{st} {body}");
    let south = s.login("sales.s1").await;
    let (st, _) = south.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = n1.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "the former owner lost it with the client"
    );
}

#[tokio::test]
async fn hostile_deal_input_gets_a_clear_error_and_changes_nothing() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let client = c.create_client(json!({"name": "Client"})).await;
    let deal = new_deal(&c, &client, "Deal", "10.50", "USD").await;
    let id = deal["id"].as_str().unwrap().to_string();
    let base = json!({"client_id": client, "title": "t", "amount": "1", "currency": "USD"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = vec![
        ("amount", with("amount", json!("twelve"))),
        ("amount", with("amount", json!("1e5"))),
        ("amount", with("amount", json!("1,000.00"))),
        ("amount", with("amount", json!("-5"))),
        ("amount", with("amount", json!("12.345"))),
        ("amount", with("amount", json!(""))),
        ("amount", with("amount", json!("99999999999999999999999"))),
        ("amount", with("amount", json!(1e300))),
        ("currency", with("currency", json!("XYZ"))),
        ("currency", with("currency", json!("ლარი"))),
        ("currency", with("currency", json!("US"))),
        ("title", with("title", json!("x".repeat(201)))),
        ("title", with("title", json!("  "))),
        ("title", with("title", json!("a\u{0}b"))),
        (
            "expected_close",
            with("expected_close", json!("31/12/2026")),
        ),
        ("stage", with("stage", json!("переговоры"))),
        ("stage", with("stage", json!("'; DROP TABLE deals; --"))),
    ];
    for (field, body) in cases {
        let (st, err) = c.post("/api/v1/deals", body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        let msg = err["error"]["message"].as_str().unwrap_or("");
        assert!(!msg.is_empty() && !msg.contains("diesel"), "{msg}");
    }
    // Wrong JSON types are a plain 400.
    let (st, _) = c.post("/api/v1/deals", with("amount", json!(true))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = c.post("/api/v1/deals", with("owner", json!("x"))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "unknown fields are refused");
    // The same checks on update and move; the deal is untouched.
    for (field, patch) in [
        ("amount", json!({"amount": "abc"})),
        ("currency", json!({"currency": "EURO"})),
        ("amount", json!({"currency": "JPY"})),
        ("stage", json!({"stage": "მოლაპარაკება"})),
        ("title", json!({"title": "ü".repeat(300)})),
    ] {
        let (st, err) = c.patch(&format!("/api/v1/deals/{id}"), patch.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {err}");
        assert_eq!(err["error"]["field"], field, "{patch}: {err}");
    }
    let (_, page) = c.get("/api/v1/deals").await;
    assert_eq!(ids(&page), vec![id.clone()], "nothing was created");
    let (_, d) = c.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(d["deal"]["amount"], "10.5");
    assert_eq!(d["deal"]["currency"], "USD");
    assert_eq!(d["deal"]["stage"], "new");
    assert_eq!(d["history"].as_array().unwrap().len(), 1);
    // A JSON number is taken as written, never through a float.
    let (st, exact) = c.post("/api/v1/deals", with("amount", json!(0.1))).await;
    assert_eq!(st, StatusCode::CREATED, "{exact}");
    assert_eq!(exact["amount"], "0.1");
    // The deal page's edit form: a refused amount comes back with what was
    // typed; a good one is saved.
    let csrf = c.csrf.clone().unwrap();
    let edit = |amount: &'static str| {
        c.raw(reqwest::Method::POST, &format!("/deals/{id}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("title", "Deal"),
                ("amount", amount),
                ("currency", "USD"),
                ("expected_close", "2026-12-31"),
            ])
            .send()
    };
    let res = edit("12,50 $").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"form-error\"") && html.contains("12,50 $"),
        "{html}"
    );
    let (_, d) = c.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(d["deal"]["amount"], "10.5", "nothing changed");
    let res = edit("12.75").await.unwrap();
    assert!(res.status().is_success());
    let (_, d) = c.get(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(d["deal"]["amount"], "12.75");

    // Not a deal id at all: 404, never a database error.
    let (st, _) = c.get("/api/v1/deals/1%20OR%201=1").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn owners_edit_the_stages_in_any_script_and_it_is_audited() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let c = s.login("sales.n1").await;
    let (st, _) = c
        .send(
            reqwest::Method::PUT,
            "/api/v1/deal-stages/contract",
            Some(json!({"label": "Contract"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        s.audit("deal_stages.update")
            .iter()
            .any(|e| e.outcome == "denied")
    );
    let boss = s.login_elevated("boss").await;
    let code = "მოლაპარაკება";
    let path = format!("/api/v1/deal-stages/{}", urlencoding::encode(code));
    let (st, list) = boss
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"label": "მოლაპარაკება (ხელშეკრულება)", "position": 5})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let ev = &s.audit("deal_stages.update")[0];
    assert_eq!(ev.outcome, "ok");
    assert!(ev.detail.contains("ხელშეკრულება"), "{}", ev.detail);
    // Stage codes with spaces or punctuation are refused, naming the field.
    let (st, err) = boss
        .send(
            reqwest::Method::PUT,
            "/api/v1/deal-stages/a%20b",
            Some(json!({"label": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "code");
    // Taking every open stage off the board is refused.
    for code in ["new", "qualified", "proposal", "negotiation", code] {
        let (st, _) = boss
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/deal-stages/{}", urlencoding::encode(code)),
                Some(json!({"label": "x", "active": false})),
            )
            .await;
        if code == "მოლაპარაკება" {
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "the last open stage stays"
            );
        } else {
            assert_eq!(st, StatusCode::OK);
        }
    }
    // A deal moves into the new stage by its code.
    let client = c.create_client(json!({"name": "Client"})).await;
    let deal = new_deal(&c, &client, "Deal", "1", "GEL").await;
    assert_eq!(
        deal["stage"], code,
        "the only open stage left is the default"
    );
    let (_, stages) = c.get("/api/v1/deal-stages").await;
    assert!(
        stages
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"] == code && s["label"] == "მოლაპარაკება (ხელშეკრულება)")
    );
}

#[tokio::test]
async fn openapi_describes_deals_tasks_and_notifications() {
    let s = TestServer::start();
    let (st, doc) = s.client().get("/api/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    for (path, methods) in [
        ("/deals", &["get", "post"][..]),
        ("/deals/{id}", &["get", "patch"][..]),
        ("/deals/{id}/stage", &["post"][..]),
        ("/deals/{id}/history", &["get"][..]),
        ("/pipeline", &["get"][..]),
        ("/deal-stages/{code}", &["put"][..]),
        ("/tasks", &["get", "post"][..]),
        ("/tasks/{id}", &["get", "patch"][..]),
        ("/notifications", &["get"][..]),
        ("/notifications/settings", &["get", "put"][..]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} not described"
            );
        }
    }
    for schema in ["WorkDeal", "Pipeline", "Task", "Inbox"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

/// The SQL scope of the deal list and pipeline and the per-record rule give the
/// same answers: for every role and team, the deals listed are exactly those
/// whose client that user can open.
#[tokio::test]
async fn deal_lists_and_single_reads_agree_for_every_user() {
    let s = TestServer::start();
    let people = [
        ("sales.n1", Role::Sales, Some("north")),
        ("sales.n2", Role::Sales, Some("north")),
        ("sales.s1", Role::Sales, Some("south")),
        ("manager.n", Role::Manager, Some("north")),
        ("manager.s", Role::Manager, Some("south")),
        ("lonely.manager", Role::Manager, None),
    ];
    let mut user_ids = std::collections::HashMap::new();
    for (name, role, team) in people {
        user_ids.insert(name, s.add_user(name, role, team));
    }
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    // A client owned by each person, each with a deal.
    let mut deals = vec![];
    for (owner, _, _) in people {
        let client = boss
            .create_client(
                json!({"name": format!("Client of {owner}"), "owner_id": user_ids[owner]}),
            )
            .await;
        let d = new_deal(&boss, &client, &format!("Deal of {owner}"), "10", "EUR").await;
        deals.push((client, d["id"].as_str().unwrap().to_string()));
    }
    for (name, _, _) in people {
        let c = s.login(name).await;
        let mut readable = vec![];
        for (client, deal) in &deals {
            let (st, _) = c.get(&format!("/api/v1/clients/{client}")).await;
            let (dst, _) = c.get(&format!("/api/v1/deals/{deal}")).await;
            assert_eq!(st, dst, "{name}: the deal answers like its client");
            if st == StatusCode::OK {
                readable.push(deal.clone());
            }
        }
        readable.sort();
        assert!(!readable.is_empty(), "{name} reaches at least their own");
        let (_, page) = c.get("/api/v1/deals?limit=100").await;
        let mut listed = ids(&page);
        listed.sort();
        assert_eq!(listed, readable, "{name}: list = readable deals");
        let (_, board) = c.get("/api/v1/pipeline").await;
        let mut on_board: Vec<String> = board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|col| col["deals"].as_array().unwrap().clone())
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        on_board.sort();
        assert_eq!(on_board, readable, "{name}: board = readable deals");
        // The database's count and sum cover exactly the same deals.
        let new = board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["stage"]["code"] == "new")
            .unwrap()
            .clone();
        assert_eq!(new["count"], readable.len(), "{name}: count");
        assert_eq!(
            new["totals"],
            json!([{"currency": "EUR", "amount": (10 * readable.len()).to_string()}]),
            "{name}: totals"
        );
    }
}

/// A column shows the newest cards only, but its count and totals cover every
/// deal of the stage (summed by the database, exactly, per currency).
#[tokio::test]
async fn the_board_counts_and_sums_more_deals_than_it_shows() {
    let s = TestServer::start();
    s.add_user("sales.big", Role::Sales, Some("north"));
    let c = s.login("sales.big").await;
    let client = c.create_client(json!({"name": "Გ. ჩიქოვანი"})).await;
    let shown = holdfast::crm::deals::COLUMN_CARDS as usize;
    let mut newest = String::new();
    for i in 0..shown + 3 {
        let d = new_deal(&c, &client, &format!("Deal {i}"), "0.01", "GEL").await;
        newest = d["id"].as_str().unwrap().to_string();
    }
    new_deal(&c, &client, "Big one", "99999999999.99", "USD").await;
    new_deal(&c, &client, "Big two", "99999999999.99", "USD").await;
    let (st, board) = c.get("/api/v1/pipeline").await;
    assert_eq!(st, StatusCode::OK, "{board}");
    let new = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stage"]["code"] == "new")
        .unwrap()
        .clone();
    assert_eq!(new["count"], shown + 5);
    assert_eq!(new["deals"].as_array().unwrap().len(), shown);
    assert!(
        new["deals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == newest.as_str())
    );
    assert_eq!(
        new["totals"],
        json!([
            {"currency": "GEL", "amount": "1.03"},
            {"currency": "USD", "amount": "199999999999.98"}
        ])
    );
}
