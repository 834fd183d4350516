//! The owner's audit views over the real server: a client's history, one user's
//! activity per day, search and filters, the CSV export, and who may read them.

use holdfast::audit::{self, Event, Outcome, RequestMeta, Who};
use holdfast::identity::Role;
use holdfast::identity::users::{self, NewUser};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, PASSWORD, TestServer};

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

fn actions_by(v: &Value, actor: &str) -> Vec<(String, String)> {
    items(v)
        .iter()
        .filter(|e| e["actor_id"] == actor)
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["touch"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn get_text(c: &Client, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let res = c.raw(Method::GET, path).send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn owner_sees_who_viewed_changed_and_reassigned_a_client() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    let gio = s.add_user("gio", Role::Sales, Some("north"));
    let lead = s.add_user("lead.s", Role::Manager, Some("south"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "ნინო ბერიძე", "owner_id": eka}))
        .await;
    let other = boss.create_client(json!({"name": "Other"})).await;

    let sales = s.login("eka").await;
    assert_eq!(
        sales.get(&format!("/api/v1/clients/{id}")).await.0,
        StatusCode::OK
    );
    let (st, _) = sales
        .patch(
            &format!("/api/v1/clients/{id}"),
            json!({"name": "ნინო ბერიძე-კაპანაძე"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // Someone outside the team tries: refused, and that is part of the history too.
    let manager = s.login("lead.s").await;
    assert_eq!(
        manager.get(&format!("/api/v1/clients/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    // The owner moves the client to a colleague.
    let (st, _) = boss
        .post(
            "/api/v1/reassignments",
            json!({"client_ids": [id], "to_owner": gio, "reason": "eka moved to the south"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    let (st, h) = boss.get(&format!("/api/v1/audit/clients/{id}")).await;
    assert_eq!(st, StatusCode::OK, "{h}");
    let by_eka = actions_by(&h, &eka);
    assert!(
        by_eka.contains(&("client.read".into(), "viewed".into())),
        "{by_eka:?}"
    );
    assert!(
        by_eka.contains(&("client.update".into(), "changed".into())),
        "{by_eka:?}"
    );
    assert!(
        actions_by(&h, &lead).contains(&("client.read".into(), "denied".into())),
        "{h}"
    );
    let reassigned: Vec<&Value> = items(&h)
        .iter()
        .filter(|e| e["touch"] == "reassigned")
        .collect();
    assert_eq!(reassigned.len(), 1, "{h}");
    assert_eq!(reassigned[0]["actor_name"], "boss");
    // Newest first, and only this client's events.
    let seqs: Vec<i64> = items(&h)
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    for e in items(&h) {
        assert!(
            e["object_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == id.as_str()),
            "{e}"
        );
        assert!(
            !e["object_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == other.as_str())
        );
    }
    let eka_event = items(&h)
        .iter()
        .find(|e| e["actor_id"] == eka.as_str())
        .unwrap();
    assert_eq!(eka_event["actor_name"], "eka");
    assert_eq!(eka_event["ip"], "127.0.0.1");

    // Paging with the cursor walks the same events, one at a time, without repeats.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let (st, page) = boss
            .get(&format!(
                "/api/v1/audit/clients/{id}?limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        seen.extend(items(&page).iter().map(|e| e["seq"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    // The walk began after the first read, so it may see newer events too.
    assert!(seqs.iter().all(|s| seen.contains(s)), "{seqs:?} {seen:?}");
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen);
    let (st, body) = boss
        .get(&format!("/api/v1/audit/clients/{id}?cursor=abc"))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "cursor");
}

#[tokio::test]
async fn per_user_view_counts_distinct_clients_per_day() {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let mut ids = vec![];
    for name in ["A", "B", "C"] {
        ids.push(
            boss.create_client(json!({"name": name, "owner_id": eka}))
                .await,
        );
    }
    let day1 = s.env.now().date_naive();
    // Day 1: A twice and B: two distinct clients, three reads.
    let sales = s.login("eka").await;
    for id in [&ids[0], &ids[0], &ids[1]] {
        assert_eq!(
            sales.get(&format!("/api/v1/clients/{id}")).await.0,
            StatusCode::OK
        );
    }
    // Day 2: C once.
    clock.advance(chrono::Duration::days(1));
    let sales = s.login("eka").await;
    assert_eq!(
        sales.get(&format!("/api/v1/clients/{}", ids[2])).await.0,
        StatusCode::OK
    );
    // Day 3: nothing. Day 4: the list shows all three at once, and one refusal.
    clock.advance(chrono::Duration::days(2));
    let sales = s.login("eka").await;
    let (st, list) = sales.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(items(&list).len(), 3);
    assert_eq!(
        sales.get("/api/v1/clients?deleted=true").await.0,
        StatusCode::FORBIDDEN
    );
    // A failed sign-in (another program, perhaps a stolen password) is listed too.
    let stranger = s.client();
    let res = stranger
        .raw(Method::POST, "/api/v1/session")
        .header("user-agent", "Stolen-Password-Bot/1.0")
        .json(&json!({"username": "eka", "password": "wrong password, sorry"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let boss = s.login_elevated("boss").await;
    let day4 = day1 + chrono::Duration::days(3);
    let (st, a) = boss
        .get(&format!("/api/v1/audit/users/{eka}?from={day1}&to={day4}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let days: Vec<(String, i64, i64)> = a["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_string(),
                d["distinct_clients"].as_i64().unwrap(),
                d["reads"].as_i64().unwrap(),
            )
        })
        .collect();
    let day = |n: i64| (day1 + chrono::Duration::days(n)).to_string();
    assert_eq!(
        days,
        vec![
            (day(0), 2, 3),
            (day(1), 1, 1),
            (day(2), 0, 0),
            (day(3), 3, 1)
        ]
    );
    assert_eq!(a["distinct_clients"], 3);
    assert_eq!(a["counts"]["reads"], 5);
    assert_eq!(a["counts"]["denials"], 1);
    assert_eq!(a["counts"]["sign_ins"], 3);
    assert_eq!(a["counts"]["failed_sign_ins"], 1);
    assert_eq!(a["user"]["username"], "eka");
    let sign_ins = a["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 4);
    assert_eq!(sign_ins[0]["outcome"], "failed", "newest first");
    assert_eq!(sign_ins[0]["user_agent"], "Stolen-Password-Bot/1.0");
    assert_eq!(sign_ins[0]["ip"], "127.0.0.1");
    assert_eq!(a["denials"][0]["action"], "client.list");

    // One day only; the default period ends today.
    let (_, one) = boss
        .get(&format!(
            "/api/v1/audit/users/{eka}?from={}&to={}",
            day(1),
            day(1)
        ))
        .await;
    assert_eq!(one["distinct_clients"], 1);
    let (st, dflt) = boss.get(&format!("/api/v1/audit/users/{eka}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(dflt["to"], day(3));
    assert_eq!(dflt["days"].as_array().unwrap().len(), 30);

    // The work is bounded: at most 92 days, and the period must make sense.
    let from = day1 - chrono::Duration::days(100);
    let (st, body) = boss
        .get(&format!("/api/v1/audit/users/{eka}?from={from}&to={day1}"))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "from");
    let (st, _) = boss
        .get(&format!(
            "/api/v1/audit/users/{eka}?from={}&to={day1}",
            day(2)
        ))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = boss
        .get(&format!("/api/v1/audit/users/{eka}?from=last-week"))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn filters_narrow_the_search() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    let admin = s.add_user("it", Role::Admin, None);
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "Client", "owner_id": eka}))
        .await;
    let sales = s.login("eka").await;
    let res = sales
        .raw(Method::GET, &format!("/api/v1/clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let (st, _) = sales.get("/api/v1/clients?q=ნინო%20محمد").await;
    assert_eq!(st, StatusCode::OK);
    let it = s.login_elevated("it").await;
    assert_eq!(it.get("/api/v1/clients").await.0, StatusCode::FORBIDDEN);

    let b = &boss;
    let search = move |q: String| async move {
        let (st, v) = b.get(&format!("/api/v1/audit/events?{q}")).await;
        assert_eq!(st, StatusCode::OK, "{q}: {v}");
        items(&v).clone()
    };
    let reads = search("action=client.read".into()).await;
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|e| e["action"] == "client.read"));
    let mine = search(format!("actor={eka}")).await;
    assert!(mine.len() >= 3, "sign-in, read, list");
    assert!(mine.iter().all(|e| e["actor_id"] == eka.as_str()));
    let denied = search("outcome=denied".into()).await;
    assert!(!denied.is_empty());
    assert!(denied.iter().all(|e| e["outcome"] == "denied"));
    assert!(denied.iter().any(|e| e["actor_id"] == admin.as_str()));
    let about = search(format!("object={id}")).await;
    assert!(about.iter().all(|e| {
        e["object_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == id.as_str())
    }));
    assert!(about.iter().any(|e| e["action"] == "client.create"));
    let by_request = search(format!("request_id={request_id}")).await;
    assert_eq!(by_request.len(), 1);
    assert_eq!(by_request[0]["action"], "client.read");
    assert_eq!(by_request[0]["actor_id"], eka.as_str());
    let text = search("q=%D5%A8".into()).await; // not in any detail
    assert!(text.is_empty());
    let text = search("q=ნინო".into()).await;
    assert_eq!(text.len(), 1);
    assert_eq!(text[0]["action"], "client.list");
    assert_eq!(text[0]["detail"]["q"], "ნინო محمد", "byte for byte");
    // Wildcards are literal.
    assert!(search("q=%25%25%25xyz".into()).await.is_empty());
    // Time range: all of today, nothing yesterday.
    let today = s.env.now().date_naive();
    let yesterday = today - chrono::Duration::days(1);
    assert!(!search(format!("from={today}&to={today}")).await.is_empty());
    assert!(search(format!("to={yesterday}")).await.is_empty());
    // Combined: eka's reads of this client.
    let both = search(format!("actor={eka}&action=client.read&object={id}")).await;
    assert_eq!(both.len(), 1);
    // Paging: limit and cursor.
    let (_, p1) = boss.get("/api/v1/audit/events?limit=2").await;
    assert_eq!(items(&p1).len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = boss
        .get(&format!("/api/v1/audit/events?limit=2&cursor={cursor}"))
        .await;
    assert!(items(&p2)[0]["seq"].as_i64().unwrap() < items(&p1)[1]["seq"].as_i64().unwrap());
    // Bad input is refused with the field named.
    let (st, body) = boss.get("/api/v1/audit/events?from=tomorrow").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "from");
    let long = "x".repeat(201);
    let (st, body) = boss.get(&format!("/api/v1/audit/events?q={long}")).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn only_owners_read_the_log_and_refusals_are_recorded() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("it", Role::Admin, None);
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "Client", "owner_id": eka}))
        .await;
    for (username, role) in [("eka", "sales"), ("lead", "manager"), ("it", "admin")] {
        // The admin holds a hardware-key proof: refused by role, not for want of a key.
        let c = if role == "admin" {
            s.login_elevated(username).await
        } else {
            s.login(username).await
        };
        for path in [
            "/api/v1/audit/events".to_string(),
            format!("/api/v1/audit/clients/{id}"),
            format!("/api/v1/audit/users/{eka}"),
            "/api/v1/audit/export".to_string(),
        ] {
            let (st, body) = c.get(&path).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{username} {path}: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
            assert!(body["error"]["request_id"].as_str().is_some());
            assert!(body.get("items").is_none());
        }
        // The pages too, and the navigation does not offer them.
        let (st, _, html) = get_text(&c, "/audit").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{username}");
        assert!(!html.contains("<table"), "{username}");
        let (st, _, html) = get_text(&c, &format!("/audit/users/{eka}")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(!html.contains("<svg"));
        let (_, _, clients) = get_text(&c, "/clients").await;
        assert!(!clients.contains("href=\"/audit\""), "{username}");
        let reads: Vec<_> = s
            .audit("audit.read")
            .into_iter()
            .filter(|e| e.actor_role.as_deref() == Some(role))
            .collect();
        assert!(reads.len() >= 5, "{username}: {}", reads.len());
        assert!(reads.iter().all(|e| e.outcome == "denied"));
        assert!(
            reads
                .iter()
                .any(|e| e.detail.contains(&format!("\"client_id\":\"{id}\"")))
        );
        let exports: Vec<_> = s
            .audit("audit.export")
            .into_iter()
            .filter(|e| e.actor_role.as_deref() == Some(role))
            .collect();
        assert_eq!(exports.len(), 1, "{username}");
        assert_eq!(exports[0].outcome, "denied");
    }
    // A sales card has no history section; the owner's has one, and a nav link.
    let sales = s.login("eka").await;
    let (st, _, card) = get_text(&sales, &format!("/clients/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!card.contains("id=\"client-history\""));
    let (st, _, card) = get_text(&boss, &format!("/clients/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(card.contains("id=\"client-history\""), "{card}");
    assert!(card.contains("href=\"/audit\""));
}

#[tokio::test]
async fn reading_and_exporting_the_log_are_audited() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    let boss_id = s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "Client", "owner_id": eka}))
        .await;
    let (st, _) = boss
        .get(&format!(
            "/api/v1/audit/events?action=client.create&object={id}"
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    let reads = s.audit("audit.read");
    assert_eq!(reads.len(), 1);
    let r = &reads[0];
    assert_eq!(r.outcome, "ok");
    assert_eq!(r.actor_id.as_deref(), Some(boss_id.as_str()));
    let detail: Value = serde_json::from_str(&r.detail).unwrap();
    assert_eq!(detail["view"], "events");
    assert_eq!(detail["filter"]["action"], "client.create");
    assert_eq!(detail["filter"]["object_id"], id.as_str());
    assert_eq!(detail["count"], 1);
    // The owner's read of the log shows up in the log.
    let (_, v) = boss.get("/api/v1/audit/events?action=audit.read").await;
    // (A read is recorded once it has run, so it sees the reads before it.)
    assert_eq!(items(&v).len(), 1);
    assert_eq!(items(&v)[0]["actor_name"], "boss");

    boss.get(&format!("/api/v1/audit/clients/{id}")).await;
    boss.get(&format!("/api/v1/audit/users/{eka}")).await;
    let views: Vec<String> = s
        .audit("audit.read")
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(&e.detail).unwrap()["view"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(views, ["user", "client", "events", "events"]);

    let (st, headers, csv) = get_text(&boss, "/api/v1/audit/export?action=client.create").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(headers["x-holdfast-rows"], "1");
    let exports = s.audit("audit.export");
    assert_eq!(exports.len(), 1);
    let detail: Value = serde_json::from_str(&exports[0].detail).unwrap();
    assert_eq!(exports[0].outcome, "ok");
    assert_eq!(detail["rows"], 1);
    assert_eq!(detail["truncated"], false);
    assert_eq!(detail["filter"]["action"], "client.create");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("seq,at,actor_id"));
    assert!(lines[1].contains("client.create"));
    // The page's export link gives the same file, and is audited the same way.
    let (st, _, page_csv) = get_text(&boss, "/audit/export?action=client.create").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page_csv.lines().count(), 2);
    assert_eq!(s.audit("audit.export").len(), 2);
}

#[tokio::test]
async fn csv_export_neutralises_formulas_and_keeps_every_script() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    {
        let mut conn = s.store.conn().unwrap();
        users::add(
            &mut conn,
            &s.env,
            NewUser {
                username: "mallory".into(),
                display_name: Some("=2+3".into()),
                role: Role::Sales,
                team: Some("north".into()),
                password: Some(SecretString::from(PASSWORD)),
            },
        )
        .unwrap();
    }
    let mallory = s.login("mallory").await;
    for ua in ["=cmd()|' /C calc'!A0", "@SUM(1+1)", "+1+1", "-1+1"] {
        let res = mallory
            .raw(Method::GET, "/api/v1/clients?q=ნინო%20ბერიძე%20محمد")
            .header("user-agent", ua)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let boss = s.login_elevated("boss").await;
    let (st, _, csv) = get_text(&boss, "/api/v1/audit/export?action=client.list").await;
    assert_eq!(st, StatusCode::OK);
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    for ua in ["'=cmd()|' /C calc'!A0", "'@SUM(1+1)", "'+1+1", "'-1+1"] {
        assert!(csv.contains(&format!(",{ua},")), "{ua} in {csv}");
    }
    assert!(csv.contains(",'=2+3,"), "display name neutralised: {csv}");
    // No cell starts with a formula character.
    for row in &rows {
        for cell in row.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '@']), "{cell} in {row}");
        }
    }
    // Georgian and Arabic come back byte for byte (the detail is JSON in one cell).
    assert!(csv.contains("ნინო ბერიძე محمد"), "{csv}");
    assert!(
        csv.as_bytes()
            .windows("ნინო ბერიძე محمد".len())
            .any(|w| w == "ნინო ბერიძე محمد".as_bytes())
    );
}

#[tokio::test]
async fn pages_show_the_last_verification_the_chart_and_the_card_history() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "ნინო", "owner_id": eka}))
        .await;
    let sales = s.login("eka").await;
    sales.get(&format!("/api/v1/clients/{id}")).await;

    let (st, _, html) = get_text(&boss, "/audit").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("id=\"verify-never\""));
    assert!(html.contains("id=\"audit-events\""));
    assert!(html.contains("href=\"/audit/export?\""));
    assert!(html.contains("lang=\"en\" dir=\"ltr\""));

    // What `holdfast audit verify` records, once broken and then intact.
    let console = Who {
        id: "cli:root".into(),
        role: "console".into(),
        session_ref: None,
    };
    let mut conn = s.store.conn().unwrap();
    let broken = Event::new("audit.verify", Outcome::Failed)
        .by(console.clone())
        .detail(json!({
            "events": 41, "head_seq": 42, "checkpoints": 1,
            "problem": {"seq": 17, "kind": "edited", "message": "event 17 does not match its hash"},
        }));
    audit::record(&mut conn, &s.env, &RequestMeta::default(), &broken).unwrap();
    drop(conn);
    let (_, v) = boss.get("/api/v1/audit/events?limit=1").await;
    assert_eq!(v["last_verification"]["ok"], false);
    assert_eq!(v["last_verification"]["problem"]["seq"], 17);
    assert_eq!(v["last_verification"]["events"], 41);
    let (_, _, html) = get_text(&boss, "/audit").await;
    assert!(html.contains("id=\"verify-problem\""), "{html}");
    assert!(html.contains("event 17 does not match its hash"));
    assert!(
        html.contains("An event was edited at position 17"),
        "{html}"
    );
    let mut conn = s.store.conn().unwrap();
    let fine = Event::new("audit.verify", Outcome::Ok)
        .by(console)
        .detail(json!({"events": 60, "head_seq": 60, "checkpoints": 2, "problem": null}));
    audit::record(&mut conn, &s.env, &RequestMeta::default(), &fine).unwrap();
    drop(conn);
    let (_, v) = boss.get("/api/v1/audit/events?limit=1").await;
    assert_eq!(v["last_verification"]["ok"], true);
    assert_eq!(v["last_verification"]["events"], 60);
    let (_, _, html) = get_text(&boss, "/audit").await;
    assert!(html.contains("id=\"verify-events\">60<"));
    assert!(!html.contains("id=\"verify-problem\""));

    // Filters on the page; a bad one is explained, not a server error.
    let (st, _, html) = get_text(&boss, &format!("/audit?actor={eka}&action=client.read")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains(&format!("/clients/{id}")));
    let (st, _, html) = get_text(&boss, "/audit?from=soon").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("id=\"audit-error\""));

    // The per-user page: a bar per day, the day's count in the table.
    let (st, _, html) = get_text(&boss, &format!("/audit/users/{eka}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("<svg id=\"audit-chart\""));
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 30);
    assert!(html.contains("id=\"audit-days\""));
    assert!(html.contains("id=\"sum-distinct\">1<"), "{html}");

    // The card's history names the salesperson's read.
    let (_, _, card) = get_text(&boss, &format!("/clients/{id}")).await;
    let section = card
        .split("id=\"client-history\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        section.contains(&format!("/audit/users/{eka}")),
        "{section}"
    );
    assert!(section.contains("client.read"));
    assert!(section.contains("client.create"));
}

#[tokio::test]
async fn the_log_is_not_shown_or_exported_when_the_read_cannot_be_recorded() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let id = boss
        .create_client(json!({"name": "Client", "owner_id": eka}))
        .await;
    {
        use diesel::RunQueryDsl;
        let mut conn = s.store.conn().unwrap();
        let sql = if s.db.is_postgres() {
            vec![
                "CREATE FUNCTION block_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END; $$",
                "CREATE TRIGGER block_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION block_audit()",
            ]
        } else {
            vec![
                "CREATE TRIGGER block_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            ]
        };
        for q in sql {
            diesel::sql_query(q).execute(&mut *conn).unwrap();
        }
    }
    for path in [
        "/api/v1/audit/events".to_string(),
        format!("/api/v1/audit/clients/{id}"),
        format!("/api/v1/audit/users/{eka}"),
        "/api/v1/audit/export".to_string(),
    ] {
        let (st, body) = boss.get(&path).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "audit_unavailable");
        assert!(
            !body.to_string().contains("client.create"),
            "{path}: {body}"
        );
    }
}

/// A search on an object id looks at a bounded stretch of the log per page;
/// following the cursor still finds every match, newest first, once.
#[test]
fn bounded_scans_still_find_every_match_by_following_the_cursor() {
    use holdfast::audit::views::{self, Filter};
    let db = crate::support::TestDb::new();
    let store = holdfast::store::Store::open(&SecretString::from(db.url.clone()), 2).unwrap();
    let env = holdfast::clock::Env::system();
    let mut conn = store.conn().unwrap();
    let mut expected = vec![];
    for i in 0..40 {
        let target = i % 7 == 3;
        let ev = Event::new("client.read", Outcome::Ok).on(
            "client",
            [if target {
                "c-target".to_string()
            } else {
                format!("c-{i}")
            }],
        );
        audit::record(&mut conn, &env, &RequestMeta::default(), &ev).unwrap();
        if target {
            expected.push(holdfast::audit::chain::head(&mut conn).unwrap().0);
        }
    }
    expected.reverse();
    let filter = Filter {
        object_id: Some("c-target".into()),
        ..Filter::default()
    };
    for (limit, window) in [(1, 1), (2, 5), (3, 7), (50, 1000)] {
        let mut seen = vec![];
        let mut before = None;
        let mut pages = 0;
        loop {
            let page =
                views::search_within(&mut conn, &filter, before, limit, Some(window)).unwrap();
            assert!(page.items.len() as i64 <= limit);
            seen.extend(page.items.iter().map(|e| e.seq));
            pages += 1;
            match page.next_cursor {
                Some(c) => before = Some(c.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}, window {window}");
        assert!(pages <= 40 / window as usize + expected.len() + 1);
    }
}

#[tokio::test]
async fn openapi_describes_the_audit_routes() {
    let s = TestServer::start();
    let (st, doc) = s.client().get("/api/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    for path in [
        "/audit/events",
        "/audit/export",
        "/audit/clients/{id}",
        "/audit/users/{id}",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} not described"
        );
    }
    for schema in [
        "AuditEvent",
        "AuditEventPage",
        "AuditEventSearch",
        "AuditUserActivity",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

/// A stolen owner password is not enough to read the log either: without a
/// hardware-key proof every audit route and page refuses, and the attempt is
/// itself in the log.
#[tokio::test]
async fn an_owner_without_a_key_proof_reads_no_audit_log() {
    let s = TestServer::start();
    let eka = s.add_user("eka", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let sales = s.login("eka").await;
    let id = sales.create_client(json!({"name": "ნინო ბერიძე"})).await;
    let boss = s.login("boss").await;
    for path in [
        "/api/v1/audit/events".to_string(),
        format!("/api/v1/audit/clients/{id}"),
        format!("/api/v1/audit/users/{eka}"),
        "/api/v1/audit/export".to_string(),
    ] {
        let (st, body) = boss.get(&path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "key_proof_required", "{path}");
        assert!(!body.to_string().contains("ნინო"), "{path}");
    }
    let (st, _, html) = get_text(&boss, "/audit").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(!html.contains(&eka));
    let refused: Vec<_> = s
        .audit("audit.read")
        .into_iter()
        .chain(s.audit("audit.export"))
        .filter(|e| e.outcome == "denied" && e.detail.contains("hardware key proof required"))
        .collect();
    assert!(refused.len() >= 5, "{refused:?}");
}
