//! Departure mode on the owner's web pages: marking a user as leaving, the
//! departure report with the flagged days, and the hand-over that disables the
//! account, each behind a ticked confirmation and a fresh hardware-key proof,
//! and refused (and audited) for anyone else.

use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Client, ManualClock, Options, TestServer};

/// A clock at the next Monday 09:00 UTC (working hours by default).
fn monday() -> std::sync::Arc<ManualClock> {
    use chrono::{Datelike, Timelike};
    let clock = ManualClock::new();
    let now = holdfast::clock::Clock::now(&*clock);
    let days = (7 - i64::from(now.weekday().num_days_from_monday())) % 7;
    let days = if days == 0 { 7 } else { days };
    let since_midnight = chrono::Duration::seconds(i64::from(now.num_seconds_from_midnight()));
    clock.advance(chrono::Duration::days(days) - since_midnight + chrono::Duration::hours(9));
    clock
}

async fn page(c: &Client, path: &str) -> (StatusCode, String) {
    let res = c.raw(Method::GET, path).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn form(c: &Client, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all = vec![("csrf", c.csrf.clone().unwrap())];
    all.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let res = c.raw(Method::POST, path).form(&all).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_owner_marks_reads_and_hands_over_a_leaver_from_the_pages() {
    let clock = monday();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    let lead_id = s.add_user("lead", Role::Manager, Some("north"));
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    let gio_id = s.add_user("gio", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let lead = s.login("lead").await;
    let nino = s.login("nino").await;
    let mut book = vec![];
    for name in ["Ана Петрова", "ლევან გელაშვილი", "Əli Məmmədov"]
    {
        book.push(lead.create_client(json!({ "name": name })).await);
    }
    let ninos = nino.create_client(json!({"name": "Nino's client"})).await;
    let (st, _) = lead.get(&format!("/api/v1/clients/{ninos}")).await;
    assert_eq!(st, StatusCode::OK);

    // Not for the people it is about: the page and its forms are refused and
    // the attempts are in the audit log.
    let (st, _) = page(&lead, "/control/departures").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = form(
        &lead,
        &format!("/control/departures/{nino_id}/leaving"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        s.audit("user.list")
            .iter()
            .any(|e| e.outcome == "denied" && e.actor_id.as_deref() == Some(lead_id.as_str()))
    );
    assert!(
        s.audit("user.leaving")
            .iter()
            .any(|e| e.outcome == "denied" && e.actor_id.as_deref() == Some(lead_id.as_str()))
    );

    let boss = s.login_elevated("boss").await;
    let (st, html) = page(&boss, "/control/departures").await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("id=\"person-{lead_id}\"")), "{html}");
    assert!(html.contains(&format!("/control/departures/{lead_id}/leaving")));
    // Without the ticked box nothing happens.
    let (st, html) = form(
        &boss,
        &format!("/control/departures/{lead_id}/leaving"),
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("tick the confirmation box"), "{html}");
    let (st, _) = lead.post("/api/v1/exports", json!({"format": "csv"})).await;
    assert!(st.is_success(), "not marked yet: {st}");
    // Ticked: marked, and the report page is where it lands.
    let (st, html) = form(
        &boss,
        &format!("/control/departures/{lead_id}/leaving"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"depart-form\""), "{html}");
    assert_eq!(
        s.audit("user.leaving")
            .iter()
            .filter(|e| e.outcome == "ok")
            .count(),
        1
    );

    // The leaver keeps going: refused, and the day is flagged in the report.
    let (st, _) = lead.post("/api/v1/exports", json!({"format": "csv"})).await;
    assert!(st.is_client_error());
    let (st, html) = page(&boss, &format!("/control/departures/{lead_id}")).await;
    assert_eq!(st, StatusCode::OK);
    let today = s.env.now().format("%Y-%m-%d").to_string();
    assert!(
        html.contains(&format!("class=\"anomalous\" data-day=\"{today}\"")),
        "{html}"
    );
    assert!(html.contains("detect.after_leaving"), "{html}");
    // The colleague's card they opened is named, outside their book.
    assert!(html.contains("id=\"outside-book\""), "{html}");
    assert!(html.contains(&ninos), "{html}");
    for name in ["Ана Петрова", "ლევან გელაშვილი", "Əli Məmmədov"]
    {
        assert!(html.contains(name), "{name} in the book");
    }
    // The hand-over offers the active colleagues, not the leaver.
    assert!(
        html.contains(&format!("<option value=\"{nino_id}\">")),
        "{html}"
    );
    assert!(!html.contains(&format!("<option value=\"{lead_id}\">")));

    // Without the box, or without a recipient: refused, nothing moved.
    let path = format!("/control/departures/{lead_id}/depart");
    let (st, _) = form(
        &boss,
        &path,
        &[("to_owner", &nino_id), ("reason", "leaves Friday")],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = form(
        &boss,
        &path,
        &[
            ("to_owner", ""),
            ("reason", "leaves Friday"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, page1) = lead.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page1["items"].as_array().unwrap().len(), 3);

    // A proof older than the step-up window is not enough.
    clock.advance(chrono::Duration::minutes(6));
    let (st, _) = form(
        &boss,
        &path,
        &[
            ("to_owner", &nino_id),
            ("reason", "leaves Friday"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(s.audit("user.depart").iter().any(|e| e.outcome == "denied"));
    let (st, _) = lead.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::OK, "still there");

    // With a fresh proof. A colleague's client slipped into the hand-over is
    // refused, audited, and nothing moves.
    let (st, body) = boss.prove().await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let stray = format!("to.{ninos}");
    let (st, html) = form(
        &boss,
        &path,
        &[
            ("to_owner", &gio_id),
            (&stray, &gio_id),
            ("reason", "leaves Friday"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        s.audit("user.depart")
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("outside the book"))
    );
    let (st, _) = lead.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::OK, "still there");
    // Handed over (one client to Gio, the rest to Nino), disabled, signed out.
    let to_gio = format!("to.{}", book[1]);
    let (st, html) = form(
        &boss,
        &path,
        &[
            ("to_owner", &nino_id),
            (&to_gio, &gio_id),
            ("reason", "leaves Friday"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("id=\"person-{lead_id}\"")));
    let (st, _) = lead.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let nino = s.login("nino").await;
    let (_, mine) = nino.get("/api/v1/clients").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
    let gio = s.login("gio").await;
    let (_, his) = gio.get("/api/v1/clients").await;
    assert_eq!(his["items"].as_array().unwrap().len(), 1);
    assert_eq!(his["items"][0]["id"], book[1].as_str());
    let departs: Vec<_> = s
        .audit("user.depart")
        .into_iter()
        .filter(|e| e.outcome == "ok")
        .collect();
    assert_eq!(departs.len(), 1);
    assert!(
        departs[0].detail.contains("\"moved\":3"),
        "{}",
        departs[0].detail
    );
    let moved: Vec<_> = s
        .audit("client.reassign")
        .into_iter()
        .filter(|e| e.outcome == "ok")
        .collect();
    assert_eq!(moved.len(), 2, "one reassignment per colleague");
    assert!(moved.iter().all(|m| m.detail.contains("leaves Friday")));
    for id in &book {
        assert!(moved.iter().any(|m| m.object_ids.contains(id)));
    }
}
