//! Automatic cards from the telephony webhook and the public web form.

use holdfast::identity::Role;
use holdfast::web::api::intake::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Options, TestServer};

const SECRET: &str = "test-call-secret-0123456789";

async fn post_call(
    s: &TestServer,
    body: &serde_json::Value,
    ts_offset: i64,
    secret: &str,
) -> (StatusCode, serde_json::Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let ts = chrono::Utc::now().timestamp() + ts_offset;
    let res = s
        .client()
        .raw(Method::POST, "/intake/call")
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sign(secret.as_bytes(), ts, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    let st = res.status();
    (st, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn calls_create_or_match_cards_and_forgeries_are_refused() {
    let s = TestServer::start();
    let boss_id = s.add_user("boss", Role::Owner, None);
    let call = json!({"number": "+995 599 11 22 33", "direction": "inbound", "duration_secs": 40, "call_id": "pbx-1"});
    let (st, first) = post_call(&s, &call, 0, SECRET).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(first["created"], true);
    let (st, second) = post_call(
        &s,
        &json!({"number": "00995599112233", "direction": "outbound"}),
        0,
        SECRET,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(second["created"], false);
    assert_eq!(second["client_id"], first["client_id"]);
    let boss = s.login_elevated("boss").await;
    let id = first["client_id"].as_str().unwrap();
    let (_, card) = boss.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["name"], "+995599112233");
    assert_eq!(card["client"]["owner"]["id"], boss_id.as_str());
    let calls = card["timeline"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call")
        .count();
    assert_eq!(calls, 2);

    // Forged, unsigned and replayed-late webhooks.
    let (st, _) = post_call(&s, &call, 0, "wrong-secret").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = post_call(&s, &call, -3600, SECRET).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let res = s
        .client()
        .raw(Method::POST, "/intake/call")
        .header("content-type", "application/json")
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let refused = s
        .audit("intake.call")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .count();
    assert_eq!(refused, 3);
    // A body altered after signing is refused.
    let raw = serde_json::to_vec(&call).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let sig = sign(SECRET.as_bytes(), ts, &raw);
    let res = s
        .client()
        .raw(Method::POST, "/intake/call")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sig)
        .body(call.to_string().replace("599", "598"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn call_webhook_is_off_without_a_secret() {
    let s = TestServer::start_with(Options {
        call_secret: None,
        ..Options::default()
    });
    let (st, _) = post_call(
        &s,
        &json!({"number": "+995599112233", "direction": "inbound"}),
        0,
        SECRET,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_form_creates_leads_with_honeypot_and_rate_limit() {
    let s = TestServer::start_with(Options {
        form_per_ip_per_hour: 5,
        ..Options::default()
    });
    s.add_user("boss", Role::Owner, None);
    let form = |fields: &[(&str, &str)]| {
        s.client()
            .raw(Method::POST, "/intake/form")
            .header("accept", "application/json")
            .form(fields)
            .send()
    };
    let res = form(&[
        ("name", "ლალი"),
        ("email", "Lali@Example.ge"),
        ("message", "Call me about the offer"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Same email again: matched to the same card.
    let res = form(&[("name", "Lali again"), ("email", "lali@example.ge")])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // A bot fills the hidden field: answered alike, nothing kept.
    let res = form(&[
        ("name", "Bot"),
        ("email", "bot@spam.example"),
        ("website", "http://spam"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Invalid input gets a clear error: JSON for scripts, a page for people.
    let res = form(&[("name", "No contact")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["request_id"].is_string(), "{body}");
    let res = s
        .client()
        .raw(Method::POST, "/intake/form")
        .header("accept", "text/html")
        .header("accept-language", "en")
        .form(&[("name", "Nobody to call")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html"), "{page}");
    assert!(!page.trim_start().starts_with('{'), "{page}");
    // Over the hourly allowance.
    let res = form(&[("name", "Flood"), ("email", "flood@example.com")])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let boss = s.login_elevated("boss").await;
    let (_, list) = boss.get("/api/v1/clients").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["name"], "ლალი");
    let id = items[0]["id"].as_str().unwrap();
    let (_, card) = boss.get(&format!("/api/v1/clients/{id}")).await;
    let notes = card["timeline"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "note")
        .count();
    assert_eq!(notes, 2);
    let denied: Vec<String> = s
        .audit("intake.form")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .map(|e| e.detail)
        .collect();
    assert!(denied.iter().any(|d| d.contains("honeypot")));
    assert!(denied.iter().any(|d| d.contains("rate limit")));
    // Oversized submissions are refused.
    let big = "x".repeat(20_000);
    let res = s
        .client()
        .raw(Method::POST, "/intake/form")
        .form(&[("name", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
