//! Field masking and theft detection from the attacker's side: masked contacts in
//! lists with the audited reveal, and the departing salesperson's moves, each
//! expected to raise its alert and be blocked.

use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ManualClock, Options, TestServer};

#[tokio::test]
async fn lists_mask_contacts_and_a_reveal_is_one_audited_request() {
    let s = TestServer::start();
    s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("gio", Role::Sales, Some("north"));
    let nino = s.login("nino").await;
    let gio = s.login("gio").await;
    let id = nino
        .create_client(json!({
            "name": "ნინო ბერიძე",
            "phones": ["+995 599 12 34 56"],
            "emails": ["nino.beridze@example.ge"],
        }))
        .await;
    let theirs = gio
        .create_client(json!({"name": "Other", "phones": ["+995 599 65 43 21"]}))
        .await;

    // The API list carries masked contacts only.
    let (status, page) = nino.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    let row = &page["items"][0];
    assert_eq!(row["phone"], "+995 ••• •• •• 56");
    assert_eq!(row["email"], "n•••@example.ge");
    assert!(!page.to_string().contains("599 12 34"));
    assert!(!page.to_string().contains("nino.beridze@"));
    // So does the page, with a reveal button.
    let html = nino
        .raw(Method::GET, "/clients")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("+995 ••• •• •• 56"), "{html}");
    assert!(!html.contains("nino.beridze@example.ge"));
    assert!(html.contains(&format!("data-reveal=\"{id}\"")));

    // One request reveals, and it is its own audit event.
    let (status, r) = nino
        .post(&format!("/api/v1/clients/{id}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["phones"][0]["value"], "+995 599 12 34 56");
    assert_eq!(r["emails"][0]["value"], "nino.beridze@example.ge");
    // The page's one click.
    let res = nino
        .raw(Method::POST, &format!("/clients/{id}/reveal"))
        .form(&[("csrf", nino.csrf.clone().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("nino.beridze@example.ge")
    );
    let events = s.audit("client.reveal");
    let ok: Vec<_> = events.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(ok.len(), 2);
    assert!(ok[0].object_ids.contains(&id));

    // A colleague's client cannot be revealed: 404 like a missing one, audited.
    let (status, _) = nino
        .post(&format!("/api/v1/clients/{theirs}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let denied: Vec<_> = s
        .audit("client.reveal")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(denied[0].object_ids.contains(&theirs));

    // An admin has no reveal at all.
    s.add_user("root", Role::Admin, None);
    let admin = s.login("root").await;
    let (status, _) = admin
        .post(&format!("/api/v1/clients/{id}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A clock at the next Monday 09:00 UTC (working hours by default).
fn monday_morning() -> std::sync::Arc<ManualClock> {
    use chrono::{Datelike, Timelike};
    let clock = ManualClock::new();
    let now = holdfast::clock::Clock::now(&*clock);
    let days = (7 - now.weekday().num_days_from_monday()) % 7;
    let days = if days == 0 { 7 } else { days };
    let at_midnight = chrono::Duration::hours(i64::from(now.hour()))
        + chrono::Duration::minutes(i64::from(now.minute()))
        + chrono::Duration::seconds(i64::from(now.second()));
    clock.advance(
        chrono::Duration::days(i64::from(days)) - at_midnight + chrono::Duration::hours(9),
    );
    clock
}

fn server_at(clock: &std::sync::Arc<ManualClock>) -> TestServer {
    TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
}

fn alerts_of(s: &TestServer, kind: &str, user: &str) -> Vec<holdfast::alerts::Alert> {
    let mut conn = s.store.conn().unwrap();
    holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, false, 1000)
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == kind && a.subject_user.as_deref() == Some(user))
        .collect()
}

/// The alert's evidence is the audit events that were counted.
fn assert_evidence(s: &TestServer, alert: &holdfast::alerts::Alert, action: &str) {
    assert!(!alert.evidence.is_empty());
    let events = s.audit(action);
    for seq in &alert.evidence {
        assert!(
            events.iter().any(|e| e.seq == *seq),
            "evidence {seq} is not a {action} event"
        );
    }
}

#[tokio::test]
async fn the_departing_salesperson_who_pages_the_api_to_the_end_is_stopped() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("leaver", Role::Sales, Some("north"));
    let c = s.login("leaver").await;
    for i in 0..30 {
        c.create_client(json!({"name": format!("Client {i}")}))
            .await;
    }
    // Two rows a page, as fast as a script goes.
    let mut cursor: Option<String> = None;
    let mut blocked = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(cur) => format!("/api/v1/clients?limit=2&cursor={cur}"),
            None => "/api/v1/clients?limit=2".to_string(),
        };
        let (status, page) = c.get(&path).await;
        if status != StatusCode::OK {
            blocked = Some((status, page));
            break;
        }
        match page["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    let alerts = alerts_of(&s, "detect.list_pages_min", &uid);
    assert_eq!(alerts.len(), 1, "one alert, deduplicated");
    assert_eq!(alerts[0].severity, holdfast::alerts::Severity::High);
    assert_evidence(&s, &alerts[0], "client.list");
    // The walk stopped before the end: the step-up response needs a hardware
    // key the salesperson does not have.
    let (status, body) = blocked.expect("the walk was blocked");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = c.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = s.audit("client.list");
    assert!(
        refused
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("step-up"))
    );
    // Exports are suspended too, and the responses are audited.
    let (status, _) = c.post("/api/v1/exports", json!({"format": "csv"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let responses = s.audit("detect.respond");
    assert!(
        responses
            .iter()
            .any(|e| e.detail.contains("suspend_exports"))
    );
    assert!(responses.iter().any(|e| e.detail.contains("step_up")));

    // An owner acknowledges the alert with a comment: the restrictions end.
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let (status, body) = boss
        .post(
            &format!("/api/v1/alerts/{}/acknowledge", alerts[0].id),
            json!({"comment": "talked to them"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.advance(chrono::Duration::minutes(2));
    let (status, _) = c.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    let ack = s.audit("alert.acknowledge");
    assert!(ack[0].detail.contains("step_up"), "{}", ack[0].detail);

    // The owner's page shows the leaver's day against their usual one.
    let html = boss
        .raw(Method::GET, "/control")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("data-user=\"{uid}\" data-metric=\"list_rows\"")),
        "{html}"
    );
    assert!(
        s.audit("audit.read")
            .iter()
            .any(|e| e.detail.contains("usage"))
    );
}

#[tokio::test]
async fn reopening_ones_own_card_is_not_a_walk_through_the_list() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("busy", Role::Sales, Some("north"));
    let c = s.login("busy").await;
    let id = c.create_client(json!({"name": "Გიორგი Კაპანაძე"})).await;
    // The card page lists the client's deals and tasks each time it opens: a
    // salesperson adding notes and calls reopens it again and again.
    for _ in 0..20 {
        let (status, _) = c.get(&format!("/api/v1/deals?client_id={id}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = c.get(&format!("/api/v1/tasks?client_id={id}")).await;
        assert_eq!(status, StatusCode::OK);
        let html = c
            .raw(Method::GET, &format!("/clients/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(html.status(), StatusCode::OK);
    }
    assert!(alerts_of(&s, "detect.list_pages_min", &uid).is_empty());
    assert!(alerts_of(&s, "detect.list_rows", &uid).is_empty());
    let (status, _) = c.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK, "no restriction was put on the user");
}

#[tokio::test]
async fn the_salesperson_who_opens_cards_one_after_another_is_stopped() {
    let clock = monday_morning();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        tweak: Some(|c| c.detection.cards_per_ten_minutes = 15),
        ..Options::default()
    });
    let uid = s.add_user("walker", Role::Sales, Some("north"));
    let c = s.login("walker").await;
    let mut ids = vec![];
    for i in 0..25 {
        ids.push(c.create_client(json!({"name": format!("Card {i}")})).await);
    }
    let mut opened = 0;
    for id in &ids {
        clock.advance(chrono::Duration::seconds(5));
        let (status, _) = c.get(&format!("/api/v1/clients/{id}")).await;
        if status != StatusCode::OK {
            assert_eq!(status, StatusCode::FORBIDDEN);
            break;
        }
        opened += 1;
    }
    assert_eq!(opened, 16, "the 17th card is refused");
    let alerts = alerts_of(&s, "detect.cards_10min", &uid);
    assert_eq!(alerts.len(), 1);
    assert_evidence(&s, &alerts[0], "client.read");
}

#[tokio::test]
async fn many_refusals_in_a_row_raise_an_alert() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("prober", Role::Sales, Some("north"));
    s.add_user("other", Role::Sales, Some("north"));
    let prober = s.login("prober").await;
    let other = s.login("other").await;
    let theirs = other.create_client(json!({"name": "Not yours"})).await;
    for _ in 0..11 {
        let (status, _) = prober.get(&format!("/api/v1/clients/{theirs}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let alerts = alerts_of(&s, "detect.denied_run", &uid);
    assert_eq!(alerts.len(), 1);
    assert_evidence(&s, &alerts[0], "client.read");
    assert_eq!(alerts[0].severity, holdfast::alerts::Severity::Warning);
}

/// A tiny seeded generator: the same week every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn a_normal_week_of_a_sales_team_raises_no_alert() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let mut rng = Lcg(0x5eed_2026);
    let mut people = vec![];
    for i in 0..10 {
        let name = format!("seller{i}");
        let team = if i < 5 { "north" } else { "south" };
        s.add_user(&name, Role::Sales, Some(team));
        people.push(name);
    }
    // Each has a book of clients.
    let mut books: Vec<Vec<String>> = vec![];
    for name in &people {
        let c = s.login(name).await;
        let mut book = vec![];
        for j in 0..40 {
            book.push(
                c.create_client(json!({
                    "name": format!("{name} client {j}"),
                    "phones": [format!("+99559900{:04}", j + 100 * books.len())],
                }))
                .await,
            );
        }
        books.push(book);
    }
    for day in 0..5 {
        for (i, name) in people.iter().enumerate() {
            let c = s.login(name).await;
            // A few list pages, a dozen or two cards, a reveal or two, sometimes
            // an export within the allowance, at a person's pace.
            // Half of it through the pages people use (a card page also reads
            // the client's deals, tasks and billing), half through the API.
            for _ in 0..1 + rng.below(3) {
                let path = if rng.below(2) == 0 {
                    "/clients"
                } else {
                    "/api/v1/clients?limit=25"
                };
                let status = c.raw(Method::GET, path).send().await.unwrap().status();
                assert_eq!(status, StatusCode::OK, "{path}");
                clock.advance(chrono::Duration::seconds(20));
            }
            for _ in 0..8 + rng.below(15) {
                let id = &books[i][rng.below(40) as usize];
                let path = if rng.below(2) == 0 {
                    format!("/clients/{id}")
                } else {
                    format!("/api/v1/clients/{id}")
                };
                let status = c.raw(Method::GET, &path).send().await.unwrap().status();
                assert_eq!(status, StatusCode::OK, "day {day} {name} {path}");
                clock.advance(chrono::Duration::seconds(15 + rng.below(60) as i64));
            }
            for _ in 0..rng.below(3) {
                let id = &books[i][rng.below(40) as usize];
                let (status, _) = c
                    .post(&format!("/api/v1/clients/{id}/reveal"), json!({}))
                    .await;
                assert_eq!(status, StatusCode::OK);
            }
            if rng.below(4) == 0 {
                let (status, e) = c
                    .post(
                        "/api/v1/exports",
                        json!({"format": "csv", "filter": {"q": "client 1"}}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{e}");
            }
        }
        // The rest of the day and the night pass.
        let now = holdfast::clock::Clock::now(&*clock);
        use chrono::Timelike;
        let to_next_morning = chrono::Duration::hours(24 + 9 - i64::from(now.hour()))
            - chrono::Duration::minutes(i64::from(now.minute()));
        clock.advance(to_next_morning);
    }
    let mut conn = s.store.conn().unwrap();
    let raised: Vec<_> =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, false, 1000)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind.starts_with("detect."))
            .collect();
    assert!(raised.is_empty(), "{raised:#?}");
    assert!(s.audit("detect.respond").is_empty());
}

#[tokio::test]
async fn a_departing_team_lead_is_frozen_reported_on_and_handed_over() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let lead_id = s.add_user("lead", Role::Manager, Some("north"));
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let lead = s.login("lead").await;
    let nino = s.login("nino").await;
    let mut book = vec![];
    for name in ["Ана Петрова", "ლევან გელაშვილი", "Əli Məmmədov"]
    {
        book.push(lead.create_client(json!({ "name": name })).await);
    }
    let ninos = nino.create_client(json!({"name": "Nino's client"})).await;
    // Before leaving, the lead reads the team's cards.
    let (status, _) = lead.get(&format!("/api/v1/clients/{ninos}")).await;
    assert_eq!(status, StatusCode::OK);

    // Marking needs an owner with a fresh hardware-key proof.
    let (status, _) = lead
        .post(&format!("/api/v1/users/{lead_id}/leaving"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let boss = s.login_elevated("boss").await;
    let (status, d) = boss
        .post(&format!("/api/v1/users/{lead_id}/leaving"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["book"], 3);

    // Read-only on their own clients: the team's card is gone, edits, exports
    // and reassignments are refused, and each use raises the alert.
    let (status, page) = lead.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let (status, _) = lead.get(&format!("/api/v1/clients/{ninos}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = lead
        .patch(
            &format!("/api/v1/clients/{}", book[0]),
            json!({"source": "x"}),
        )
        .await;
    assert!(
        status.is_client_error() && status != StatusCode::NOT_FOUND,
        "{status}"
    );
    let (status, _) = lead.post("/api/v1/exports", json!({"format": "csv"})).await;
    assert!(status.is_client_error());
    let (status, _) = lead
        .post(
            "/api/v1/reassignments",
            json!({"client_ids": [ninos], "to_owner": lead_id, "reason": "mine now"}),
        )
        .await;
    assert!(status.is_client_error());
    let refused: Vec<_> = s
        .audit("client.update")
        .into_iter()
        .filter(|e| e.outcome == "denied" && e.detail.contains("departure"))
        .collect();
    assert_eq!(refused.len(), 1);
    let alerts = alerts_of(&s, "detect.after_leaving", &lead_id);
    assert_eq!(alerts.len(), 1, "one a day");
    assert!(!alerts[0].evidence.is_empty());

    // The owner's report: the book, what was touched (the colleague's card
    // outside the book), the day flagged.
    let (status, r) = boss
        .get(&format!("/api/v1/users/{lead_id}/departure"))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["book"].as_array().unwrap().len(), 3);
    assert!(
        r["outside_book"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == &json!(ninos))
    );
    assert!(
        r["days"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["anomalous"] == true)
    );
    assert!(!r["alerts"].as_array().unwrap().is_empty());
    // A salesperson cannot read it.
    let (status, _) = nino
        .get(&format!("/api/v1/users/{lead_id}/departure"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // One action hands the book to Nino and disables the lead.
    let (status, out) = boss
        .post(
            &format!("/api/v1/users/{lead_id}/depart"),
            json!({"to_owner": nino_id, "reason": "leaving the company"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["moved"], 3);
    let (status, _) = lead.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, page) = nino.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert_eq!(s.audit("user.depart").len(), 1);
    assert_eq!(
        s.audit("client.reassign")
            .iter()
            .filter(|e| e.outcome == "ok")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_salesperson_who_exports_beyond_the_allowance_is_stopped() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("exporter", Role::Sales, Some("north"));
    let c = s.login("exporter").await;
    for i in 0..3 {
        c.create_client(json!({"name": format!("Export {i}")}))
            .await;
    }
    // Export after export: past the hourly allowance they wait for an owner,
    // past the day's floor detection suspends exports altogether.
    let mut states = vec![];
    let mut refused = None;
    for _ in 0..10 {
        clock.advance(chrono::Duration::minutes(1));
        let (status, e) = c.post("/api/v1/exports", json!({"format": "csv"})).await;
        if status != StatusCode::CREATED && status != StatusCode::ACCEPTED {
            refused = Some(status);
            break;
        }
        states.push(e["state"].as_str().unwrap().to_string());
    }
    assert_eq!(
        states.iter().filter(|s| *s == "ready").count(),
        5,
        "{states:?}"
    );
    assert!(
        states.iter().any(|s| s == "pending"),
        "{states:?} {refused:?}"
    );
    assert_eq!(refused, Some(StatusCode::FORBIDDEN));
    assert!(!alerts_of(&s, "export.over_allowance", &uid).is_empty());
    let alerts = alerts_of(&s, "detect.exports", &uid);
    assert_eq!(alerts.len(), 1);
    assert_evidence(&s, &alerts[0], "export.request");
}

#[tokio::test]
async fn the_team_lead_who_reassigns_colleagues_clients_to_themselves_is_stopped() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let lead_id = s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("nino", Role::Sales, Some("north"));
    let lead = s.login("lead").await;
    let nino = s.login("nino").await;
    let mut theirs = vec![];
    for i in 0..20 {
        theirs.push(
            nino.create_client(json!({"name": format!("Nino {i}")}))
                .await,
        );
    }
    let mut blocked = None;
    for chunk in theirs.chunks(4) {
        clock.advance(chrono::Duration::minutes(1));
        let (status, r) = lead
            .post(
                "/api/v1/reassignments",
                json!({"client_ids": chunk, "to_owner": lead_id, "reason": "covering"}),
            )
            .await;
        if status != StatusCode::OK {
            blocked = Some(status);
            break;
        }
        assert_eq!(r["state"], "done", "{r}");
    }
    assert!(!alerts_of(&s, "reassign.to_self", &lead_id).is_empty());
    let alerts = alerts_of(&s, "detect.reassigns", &lead_id);
    assert_eq!(alerts.len(), 1);
    assert_evidence(&s, &alerts[0], "client.reassign");
    assert_eq!(blocked, Some(StatusCode::FORBIDDEN));
}

#[tokio::test]
async fn a_decoy_reached_through_its_deals_and_tasks_raises_the_alert() {
    let s = TestServer::start();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    let boss = s.login_elevated("boss").await;
    let (status, d) = boss
        .post("/api/v1/decoys", json!({"owner_id": nino_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let decoy = d["client_id"].as_str().unwrap().to_string();

    let (status, deal) = nino
        .post(
            "/api/v1/deals",
            json!({"client_id": decoy, "title": "Bait", "amount": "100", "currency": "GEL"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let (status, _) = nino.get(&format!("/api/v1/deals/{deal_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let due =
        (holdfast::clock::Clock::now(&*s.env.clock) + chrono::Duration::hours(3)).to_rfc3339();
    let (status, task) = nino
        .post(
            "/api/v1/tasks",
            json!({"title": "Call", "due_at": due, "client_id": decoy}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    let (status, _) = nino.get(&format!("/api/v1/tasks/{task_id}")).await;
    assert_eq!(status, StatusCode::OK);

    let mut conn = s.store.conn().unwrap();
    let alerts: Vec<_> =
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, false, 100)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == "decoy.touched")
            .collect();
    for action in ["deal.create", "deal.read", "task.create", "task.read"] {
        let a = alerts
            .iter()
            .find(|a| a.detail["action"] == action)
            .unwrap_or_else(|| panic!("no decoy alert for {action}: {alerts:#?}"));
        assert_eq!(a.severity, holdfast::alerts::Severity::High);
        let ev = s.audit(action);
        assert!(ev.iter().any(|e| a.evidence.contains(&e.seq)), "{action}");
    }
}

/// The counters the detector keeps for a user: (metric, n).
fn counters_of(s: &TestServer, user: &str) -> Vec<(String, i64)> {
    use diesel::prelude::*;
    use holdfast::store::schema::usage_counts as u;
    let mut conn = s.store.conn().unwrap();
    u::table
        .filter(u::user_id.eq(user))
        .select((u::metric, u::n))
        .load(&mut conn)
        .unwrap()
}

#[tokio::test]
async fn the_gate_marks_record_bound_lists_and_whole_lists_still_count() {
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("pager", Role::Sales, Some("north"));
    let c = s.login("pager").await;
    let mut clients = vec![];
    for name in ["Ана", "ლევანი", "Zoë Ðorđević"] {
        let id = c.create_client(json!({ "name": name })).await;
        for i in 0..2 {
            let (st, d) = c
                .post(
                    "/api/v1/deals",
                    json!({"client_id": id, "title": format!("Deal {i}"), "amount": "10", "currency": "EUR"}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{d}");
        }
        clients.push(id);
    }
    // A client's own deals and tasks, and a deal's tasks, are lists inside
    // one record: the Gate says so on the event, and no page or row is counted.
    for id in &clients {
        let (st, _) = c.get(&format!("/api/v1/deals?client_id={id}")).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = c.get(&format!("/api/v1/tasks?client_id={id}")).await;
        assert_eq!(st, StatusCode::OK);
    }
    let counted = counters_of(&s, &uid);
    assert!(
        !counted
            .iter()
            .any(|(m, _)| m == "list_rows" || m == "list_pages_min"),
        "{counted:?}"
    );
    // The whole deal list paged one row at a time is counted, page by page,
    // and walked fast enough it trips the rule like the client list does.
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut refused = false;
    for _ in 0..20 {
        let path = match &cursor {
            Some(cur) => format!("/api/v1/deals?limit=1&cursor={cur}"),
            None => "/api/v1/deals?limit=1".to_string(),
        };
        let (st, page) = c.get(&path).await;
        if st != StatusCode::OK {
            assert_eq!(st, StatusCode::FORBIDDEN);
            refused = true;
            break;
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => cursor = None,
        }
    }
    let rows: i64 = counters_of(&s, &uid)
        .iter()
        .filter(|(m, _)| m == "list_rows")
        .map(|(_, n)| *n)
        .sum();
    assert!(rows >= 6, "whole-list rows are counted: {rows}");
    assert!(refused, "paged {pages} times without a stop");
    let alerts = alerts_of(&s, "detect.list_pages_min", &uid);
    assert_eq!(alerts.len(), 1);
    assert_evidence(&s, &alerts[0], "deal.list");
}

#[tokio::test]
async fn after_an_acknowledged_alert_a_walk_that_goes_on_trips_again() {
    let clock = monday_morning();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        tweak: Some(|c| c.detection.cards_per_ten_minutes = 5),
        ..Options::default()
    });
    let uid = s.add_user("walker", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let c = s.login("walker").await;
    let mut ids = vec![];
    for i in 0..20 {
        ids.push(c.create_client(json!({"name": format!("Карта {i}")})).await);
    }
    let mut cards = ids.iter();
    let mut open = |n: usize| {
        let next: Vec<String> = cards.by_ref().take(n).cloned().collect();
        let c = &c;
        let clock = &clock;
        async move {
            let mut statuses = vec![];
            for id in next {
                clock.advance(chrono::Duration::seconds(5));
                statuses.push(c.get(&format!("/api/v1/clients/{id}")).await.0);
            }
            statuses
        }
    };
    // Six cards trip the rule (floor 5); the seventh is refused (step-up).
    let st = open(7).await;
    assert!(st[..6].iter().all(|s| *s == StatusCode::OK), "{st:?}");
    assert_eq!(st[6], StatusCode::FORBIDDEN);
    let first = alerts_of(&s, "detect.cards_10min", &uid);
    assert_eq!(first.len(), 1);

    let boss = s.login_elevated("boss").await;
    let (status, body) = boss
        .post(
            &format!("/api/v1/alerts/{}/acknowledge", first[0].id),
            json!({"comment": "a call campaign; watching"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A few more cards in the same window: within what the owner saw, no new
    // alert and no new block.
    let st = open(5).await;
    assert!(st.iter().all(|s| *s == StatusCode::OK), "{st:?}");
    assert_eq!(alerts_of(&s, "detect.cards_10min", &uid).len(), 1);
    // Another floor's worth: the walk goes on, so the alert fires again, with
    // its own evidence, and the user is stopped again.
    let st = open(2).await;
    assert_eq!(st[0], StatusCode::OK);
    assert_eq!(st[1], StatusCode::FORBIDDEN, "{st:?}");
    let all = alerts_of(&s, "detect.cards_10min", &uid);
    assert_eq!(all.len(), 2);
    let again = all.iter().find(|a| a.id != first[0].id).unwrap();
    assert!(again.acknowledged_at.is_none());
    assert_eq!(again.detail["count"], 12);
    assert_evidence(&s, again, "client.read");
    assert!(
        s.audit("alert.raise")
            .iter()
            .any(|e| e.object_ids.contains(&again.id))
    );
}

#[tokio::test]
async fn old_counters_are_pruned_once_across_nodes_and_the_baseline_stays() {
    use holdfast::audit::usage;
    let clock = monday_morning();
    let s = server_at(&clock);
    let uid = s.add_user("counted", Role::Sales, Some("north"));
    let now = s.env.now();
    let day = |ago: i64| usage::day_key((now - chrono::Duration::days(ago)).naive_utc());
    {
        let mut conn = s.store.conn().unwrap();
        for ago in [0, 3, 13, 96, 98, 400] {
            usage::bump(&mut conn, &uid, "views", &day(ago), 5, 1).unwrap();
            usage::insert_new(
                &mut conn,
                "INSERT INTO usage_seen (user_id, day, client_id) VALUES ({1}, {2}, {3}) ON CONFLICT DO NOTHING",
                [uid.as_str(), &day(ago), "c1"],
            )
            .unwrap();
        }
        // A window long gone, the current one, and a streak.
        let old = now - chrono::Duration::hours(2);
        usage::bump(
            &mut conn,
            &uid,
            "list_pages_min",
            &usage::minute_key(old.naive_utc()),
            3,
            1,
        )
        .unwrap();
        usage::bump(
            &mut conn,
            &uid,
            "cards_10min",
            &usage::ten_minute_key(old.naive_utc()),
            3,
            1,
        )
        .unwrap();
        usage::bump(
            &mut conn,
            &uid,
            "cards_10min",
            &usage::ten_minute_key(now.naive_utc()),
            2,
            1,
        )
        .unwrap();
        usage::bump(&mut conn, &uid, "denied_run", usage::STREAK, 2, 1).unwrap();
    }
    let baseline_days = s.config.detection.baseline_days;
    let mut conn = s.store.conn().unwrap();
    let first = usage::prune_once(&mut conn, now, "node-a", baseline_days).unwrap();
    let second = usage::prune_once(&mut conn, now, "node-b", baseline_days).unwrap();
    assert_eq!(
        first,
        Some(usage::Pruned { counts: 4, seen: 2 }),
        "kept: 97 days (90 + 7); gone: the days 98 and 400 back, and both old windows"
    );
    assert_eq!(
        second, None,
        "the other node's firing of the same day does nothing"
    );
    drop(conn);
    let left: Vec<(String, i64)> = counters_of(&s, &uid);
    assert_eq!(left.iter().filter(|(m, _)| m == "views").count(), 4);
    assert!(left.iter().any(|(m, n)| m == "cards_10min" && *n == 2));
    assert!(!left.iter().any(|(m, _)| m == "list_pages_min"));
    assert!(left.iter().any(|(m, _)| m == "denied_run"));
}

#[tokio::test]
async fn a_teams_own_working_hours_apply_to_its_people_by_team_name() {
    let clock = monday_morning();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        tweak: Some(|c| {
            // North starts at ten (09:00 is early for them); by name.
            c.detection.teams.insert(
                "north".into(),
                holdfast::config::TeamHours {
                    work_start: Some("10:00".into()),
                    ..Default::default()
                },
            );
            c.detection.off_hours_events = 3;
        }),
        ..Options::default()
    });
    let early = s.add_user("early", Role::Sales, Some("north"));
    let usual = s.add_user("usual", Role::Sales, Some("south"));
    for who in ["early", "usual"] {
        let c = s.login(who).await;
        let id = c.create_client(json!({"name": "Ნანა"})).await;
        for _ in 0..5 {
            let (st, _) = c.get(&format!("/api/v1/clients/{id}")).await;
            assert_eq!(st, StatusCode::OK);
        }
    }
    let alerts = alerts_of(&s, "detect.off_hours", &early);
    assert_eq!(alerts.len(), 1, "north works from ten");
    assert_eq!(alerts[0].severity, holdfast::alerts::Severity::Warning);
    assert!(alerts_of(&s, "detect.off_hours", &usual).is_empty());
    // An hour later North is at work: its counter stops growing.
    let n = |s: &TestServer| -> i64 {
        counters_of(s, &early)
            .iter()
            .filter(|(m, _)| m == "off_hours")
            .map(|(_, n)| *n)
            .sum()
    };
    let before = n(&s);
    clock.advance(chrono::Duration::hours(1));
    let c = s.login("early").await;
    let (st, _) = c.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(n(&s), before);
}
