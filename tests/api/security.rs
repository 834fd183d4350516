//! Sessions, login, CSRF, headers: checked from the attacker's side.

use std::time::Instant;

use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ManualClock, Options, PASSWORD, TestServer};

#[tokio::test]
async fn login_failure_is_the_same_for_unknown_and_known_users() {
    let s = TestServer::start();
    s.add_user("nino", Role::Sales, Some("north"));
    let c = s.client();
    // Fastest of several tries: the least disturbed by other tests on the machine.
    let mut known = f64::MAX;
    let mut unknown = f64::MAX;
    let mut bodies = vec![];
    for i in 0..5 {
        let t = Instant::now();
        let (st, body) = c
            .post(
                "/api/v1/session",
                json!({"username": "nino", "password": format!("wrong password {i}")}),
            )
            .await;
        known = known.min(t.elapsed().as_secs_f64());
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        bodies.push(body["error"]["message"].clone());
        let t = Instant::now();
        let (st, body) = c
            .post(
                "/api/v1/session",
                json!({"username": format!("ghost{i}"), "password": "wrong password"}),
            )
            .await;
        unknown = unknown.min(t.elapsed().as_secs_f64());
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        bodies.push(body["error"]["message"].clone());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // Both paths pay for one argon2 verification (tens of milliseconds); without
    // it a missing user would be answered a hundred times faster. The bounds are
    // wide because the machine is shared with other tests.
    let ratio = unknown / known;
    assert!(
        (0.25..4.0).contains(&ratio),
        "unknown/known timing ratio {ratio}"
    );
    let failed = s.audit("login");
    assert_eq!(failed.iter().filter(|e| e.outcome == "failed").count(), 10);
}

#[tokio::test]
async fn login_is_throttled_per_account_and_audited() {
    let s = TestServer::start();
    s.add_user("giorgi", Role::Sales, Some("north"));
    let c = s.client();
    for _ in 0..5 {
        let (st, _) = c
            .post(
                "/api/v1/session",
                json!({"username": "giorgi", "password": "not the password"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the account is throttled.
    let (st, body) = c
        .post(
            "/api/v1/session",
            json!({"username": "giorgi", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        s.audit("login")
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("throttled"))
    );
}

#[tokio::test]
async fn session_cookie_flags_and_logout() {
    let s = TestServer::start();
    s.add_user("ana", Role::Sales, Some("north"));
    let c = s.client();
    let res = c
        .raw(Method::POST, "/api/v1/session")
        .json(&json!({"username": "ana", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("__Host-holdfast="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    let body: serde_json::Value = res.json().await.unwrap();
    let mut c = c;
    c.csrf = body["csrf_token"].as_str().map(str::to_string);
    assert_eq!(c.get("/api/v1/session").await.0, StatusCode::OK);
    assert_eq!(c.delete("/api/v1/session").await.0, StatusCode::NO_CONTENT);
    assert_eq!(c.get("/api/v1/clients").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.audit("logout").len(), 1);
}

#[tokio::test]
async fn a_new_login_gets_a_new_token_and_disabling_ends_sessions() {
    let s = TestServer::start();
    s.add_user("levan", Role::Sales, Some("north"));
    let a = s.login("levan").await;
    let b = s.login("levan").await;
    assert_ne!(a.csrf, b.csrf, "each login must create a new session");
    assert_eq!(a.get("/api/v1/clients").await.0, StatusCode::OK);
    {
        let mut conn = s.store.conn().unwrap();
        holdfast::identity::users::disable(&mut conn, &s.env, "levan").unwrap();
    }
    assert_eq!(a.get("/api/v1/clients").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(b.get("/api/v1/clients").await.0, StatusCode::UNAUTHORIZED);
    let (st, _) = s
        .client()
        .post(
            "/api/v1/session",
            json!({"username": "levan", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_refusals_are_audited() {
    let s = TestServer::start();
    s.add_user("tamar", Role::Sales, Some("north"));
    let mut c = s.login("tamar").await;
    let good = c.csrf.clone();
    c.csrf = None;
    let (st, body) = c.post("/api/v1/clients", json!({"name": "No token"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "csrf_failed");
    c.csrf = Some("forged-token".into());
    assert_eq!(
        c.post("/api/v1/clients", json!({"name": "Forged"})).await.0,
        StatusCode::FORBIDDEN
    );
    // Another session's token does not work either.
    s.add_user("other", Role::Sales, Some("north"));
    c.csrf = s.login("other").await.csrf;
    assert_eq!(
        c.post("/api/v1/clients", json!({"name": "Borrowed"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // A cross-site request is refused even with the right token.
    c.csrf = good.clone();
    let res = c
        .raw(Method::POST, "/api/v1/clients")
        .header("origin", "https://evil.example")
        .json(&json!({"name": "Cross"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = c
        .raw(Method::POST, "/api/v1/clients")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "Cross"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // `Origin: null` (sent by browsers under a strict referrer policy) counts as
    // cross-site unless Fetch Metadata says same-origin.
    let res = c
        .raw(Method::POST, "/api/v1/clients")
        .header("origin", "null")
        .json(&json!({"name": "Null origin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let rejected = s.audit("csrf.rejected");
    assert_eq!(rejected.len(), 6, "{rejected:?}");
    assert!(rejected.iter().all(|e| e.outcome == "denied"));
    // Nothing was created.
    let (_, list) = c.get("/api/v1/clients").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        c.post("/api/v1/clients", json!({"name": "With token"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let res = c
        .raw(Method::POST, "/api/v1/clients")
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "Same-origin form post"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn headers_request_ids_and_health() {
    let s = TestServer::start();
    let c = s.client();
    let res = c.raw(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    for name in [
        "strict-transport-security",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "x-request-id",
    ] {
        assert!(h.contains_key(name), "{name} missing");
    }
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(c.get("/readyz").await.0, StatusCode::OK);
    let res = c.raw(Method::GET, "/api/v1/nowhere").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], id.as_str());
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn openapi_describes_the_routes() {
    let s = TestServer::start();
    let (st, doc) = s.client().get("/api/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, methods) in [
        ("/session", &["post", "get", "delete"][..]),
        ("/clients", &["get", "post"][..]),
        ("/clients/{id}", &["get", "patch", "delete"][..]),
        ("/clients/{id}/timeline", &["get", "post"][..]),
        ("/clients/{id}/restore", &["post"][..]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} not described"
            );
        }
    }
}

#[tokio::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    s.add_user("eka", Role::Sales, Some("north"));
    // Idle: 30 minutes without a request ends the session.
    let idle = s.login("eka").await;
    clock.advance(chrono::Duration::minutes(29));
    assert_eq!(idle.get("/api/v1/clients").await.0, StatusCode::OK);
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        idle.get("/api/v1/clients").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Absolute: 12 hours, however active the session is.
    let busy = s.login("eka").await;
    for _ in 0..24 {
        // 24 × 29 minutes = 11.6 hours: active, inside the absolute lifetime.
        clock.advance(chrono::Duration::minutes(29));
        assert_eq!(busy.get("/api/v1/session").await.0, StatusCode::OK);
    }
    clock.advance(chrono::Duration::minutes(29));
    assert_eq!(
        busy.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_is_throttled_per_address_under_concurrency() {
    let s = TestServer::start_with(Options {
        max_failures_per_ip: 8,
        ..Options::default()
    });
    s.add_user("real", Role::Sales, Some("north"));
    let c = s.client();
    // Eight wrong guesses at once, each for a different account: every one counts.
    let guesses = (0..8).map(|i| {
        let c = &c;
        async move {
            c.post(
                "/api/v1/session",
                json!({"username": format!("guess{i}"), "password": "wrong password"}),
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let (st, _) = c
        .post(
            "/api/v1/session",
            json!({"username": "real", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_login_page_shows_its_own_error() {
    let s = TestServer::start();
    s.add_user("mari", Role::Sales, Some("north"));
    let res = s
        .client()
        .raw(Method::POST, "/login")
        .form(&[("username", "mari"), ("password", "wrong password here")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"login-form\""), "{html}");
    assert!(html.contains("Wrong username or password."));
    assert!(html.contains("value=\"mari\""), "the username is kept");
}
