//! Every bad input gets a clear error and loses nothing; hostile strings are
//! stored and returned byte-for-byte.

use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Options, TestServer};

async fn error_of(res: reqwest::Response) -> (StatusCode, Value) {
    let st = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (st, body)
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies() {
    let s = TestServer::start_with(Options {
        body_limit: 8 * 1024,
        ..Options::default()
    });
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON",
            c.raw(Method::POST, "/api/v1/clients")
                .header("content-type", "application/json")
                .body("{\"name\": "),
            400,
            "bad_request",
        ),
        (
            "wrong type",
            c.raw(Method::POST, "/api/v1/clients")
                .json(&json!({"name": 42})),
            400,
            "bad_request",
        ),
        (
            "unknown field",
            c.raw(Method::POST, "/api/v1/clients")
                .json(&json!({"name": "x", "is_admin": true})),
            400,
            "bad_request",
        ),
        (
            "missing field",
            c.raw(Method::POST, "/api/v1/clients")
                .json(&json!({"company": "x"})),
            400,
            "bad_request",
        ),
        (
            "oversized",
            c.raw(Method::POST, "/api/v1/clients")
                .json(&json!({"name": "x".repeat(20_000)})),
            413,
            "too_large",
        ),
        (
            "not JSON",
            c.raw(Method::POST, "/api/v1/clients")
                .header("content-type", "text/plain")
                .body("name=x"),
            415,
            "unsupported_media_type",
        ),
        (
            "bad timeline kind",
            c.raw(
                Method::POST,
                "/api/v1/clients/00000000-0000-4000-8000-000000000000/timeline",
            )
            .json(&json!({"kind": "telegram", "body": "x"})),
            400,
            "bad_request",
        ),
        (
            "bad query type",
            c.raw(Method::GET, "/api/v1/clients?limit=lots"),
            400,
            "bad_request",
        ),
        (
            "bad cursor",
            c.raw(Method::GET, "/api/v1/clients?cursor=%27%20OR%201%3D1"),
            422,
            "invalid",
        ),
        (
            "not a uuid",
            c.raw(Method::GET, "/api/v1/clients/1%20OR%201=1"),
            404,
            "not_found",
        ),
    ];
    for (what, req, status, code) in cases {
        let (st, body) = error_of(req.send().await.unwrap()).await;
        assert_eq!(st.as_u16(), status, "{what}: {body}");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            !msg.is_empty() && !msg.contains("diesel") && !msg.contains("sqlite"),
            "{what}: {msg}"
        );
        assert!(
            body["error"]["request_id"]
                .as_str()
                .is_some_and(|r| r.len() == 24),
            "{what}"
        );
    }
    // Nothing was created by any of them.
    let (_, list) = c.get("/api/v1/clients").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_values_name_the_field() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "a\u{0}b"}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "Ok", "phones": ["call me"]}), "phone"),
        (json!({"name": "Ok", "phones": ["555 12 34 56"]}), "phone"),
        (json!({"name": "Ok", "phones": ["+1 000"]}), "phone"),
        (json!({"name": "Ok", "emails": ["not-an-email"]}), "email"),
        (json!({"name": "Ok", "emails": ["a@b@c"]}), "email"),
        (json!({"name": "Ok", "status": "<b>"}), "status"),
        (
            json!({"name": "Ok", "tags": (0..30).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
        (json!({"name": "Ok", "owner_id": "nobody"}), "owner_id"),
    ] {
        let (st, err) = c.post("/api/v1/clients", body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    // Messages are worded by the translation layer, with their arguments.
    let (_, err) = c
        .post("/api/v1/clients", json!({"name": "ж".repeat(201)}))
        .await;
    assert_eq!(
        err["error"]["message"],
        "is 201 characters long; at most 200 are allowed"
    );
    let (_, err) = c
        .post(
            "/api/v1/clients",
            json!({"name": "Ok", "phones": ["call me"]}),
        )
        .await;
    assert_eq!(err["error"]["message"], "“call me” is not a phone number");
    let id = c.create_client(json!({"name": "Valid"})).await;
    let tl = format!("/api/v1/clients/{id}/timeline");
    for (body, field) in [
        (json!({"kind": "note", "body": ""}), "body"),
        (json!({"kind": "note", "body": "nul\u{0}byte"}), "body"),
        (
            json!({"kind": "call", "direction": "inbound", "recording_url": "javascript:alert(1)"}),
            "recording_url",
        ),
        (
            json!({"kind": "call", "direction": "inbound", "duration_secs": 999999}),
            "duration_secs",
        ),
        (
            json!({"kind": "meeting", "subject": "x", "occurred_at": "2999-01-01T00:00:00Z"}),
            "occurred_at",
        ),
    ] {
        let (st, err) = c.post(&tl, body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    // A failed edit changes nothing.
    let (st, _) = c
        .patch(
            &format!("/api/v1/clients/{id}"),
            json!({"name": "New", "emails": ["bad"]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, card) = c.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["name"], "Valid");
}

#[tokio::test]
async fn hostile_strings_are_kept_byte_for_byte() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let hostile = [
        "Robert'); DROP TABLE clients;--",
        "\" OR \"1\"=\"1",
        "<script>alert(document.cookie)</script>",
        "<img src=x onerror=alert(1)>",
        "=HYPERLINK(\"https://evil.example\",\"click\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "ნინო ბერიძე — \u{202E}evil\u{202C}",
        "محمد بن سلمان",
        "Ёжик Иванович",
        "Oʻzbekiston Gʻulomov",
        "Əliyev Şahin Ağa",
        "😀 emoji 👩🏽‍💼",
        "back\\slash %s %n {{7*7}} ${7*7}",
    ];
    for h in hostile {
        let id = c
            .create_client(
                json!({"name": h, "company": h, "tags": [h.chars().take(40).collect::<String>()]}),
            )
            .await;
        let (st, entry) = c
            .post(
                &format!("/api/v1/clients/{id}/timeline"),
                json!({"kind": "note", "body": format!("{h}\n{h}")}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{h}: {entry}");
        let (_, card) = c.get(&format!("/api/v1/clients/{id}")).await;
        assert_eq!(card["client"]["name"], h);
        assert_eq!(card["client"]["company"], h);
        assert_eq!(card["timeline"]["items"][0]["body"], format!("{h}\n{h}"));
    }
    // At the length limit is fine; a long note is kept whole.
    let long = "ლ".repeat(200);
    let id = c.create_client(json!({"name": long})).await;
    let note = "Ж".repeat(20_000);
    let (st, _) = c
        .post(
            &format!("/api/v1/clients/{id}/timeline"),
            json!({"kind": "note", "body": note}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, card) = c.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["name"], long.as_str());
    assert_eq!(card["timeline"]["items"][0]["body"], note.as_str());
}
