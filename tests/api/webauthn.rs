//! WebAuthn security keys over the JSON API, with a software security key that
//! speaks the real protocol (`support::webauthn`): registration with attestation
//! from the allowed set only, user-verified proofs that elevate the session like
//! PIV proofs, and each refusal from the attacker's side, audited.

use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::webauthn::{self as wa, AAGUID, Attest, SoftKey};
use crate::support::{Client, ManualClock, Options, TestServer};

fn server_with(clock: Option<std::sync::Arc<ManualClock>>) -> TestServer {
    TestServer::start_with(Options {
        clock,
        localhost_url: true,
        ..Options::default()
    })
}

fn rejected(status: StatusCode, body: &Value, check: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_rejected", "{body}");
    assert_eq!(body["error"]["field"], check, "{body}");
}

async fn user_id(c: &Client) -> String {
    let (_, me) = c.get("/api/v1/session").await;
    me["user"]["id"].as_str().unwrap().to_string()
}

/// A software security key attested by the server's test FIDO root.
fn good_key(s: &TestServer) -> SoftKey {
    SoftKey::new(AAGUID, wa::packed_attestation(&s.webauthn_root, AAGUID))
}

async fn register_begin(c: &Client, code: &str) -> Value {
    let (status, begin) = c
        .post(
            "/api/v1/keys/webauthn/register/begin",
            json!({"code": code, "label": "Desk key"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{begin}");
    begin
}

async fn register(
    s: &TestServer,
    c: &Client,
    key: &mut SoftKey,
    code: &str,
) -> (StatusCode, Value) {
    let begin = register_begin(c, code).await;
    let cred = key.register(&begin["public_key"], &s.config.base_url());
    c.post(
        "/api/v1/keys/webauthn/register/finish",
        json!({"ceremony": begin["ceremony"], "credential": cred}),
    )
    .await
}

/// Registers `key` for the signed-in user with a console-issued code.
async fn enroll(s: &TestServer, c: &Client, key: &mut SoftKey) -> Value {
    let code = s.enrollment_code(&user_id(c).await);
    let (status, body) = register(s, c, key, &code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn login_begin(c: &Client) -> Value {
    let (status, begin) = c.post("/api/v1/keys/webauthn/login/begin", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{begin}");
    begin
}

async fn finish_login(
    s: &TestServer,
    c: &Client,
    key: &mut SoftKey,
    begin: &Value,
) -> (StatusCode, Value) {
    let assertion = key.assert(&begin["public_key"], &s.config.base_url());
    c.post(
        "/api/v1/keys/webauthn/login/finish",
        json!({"ceremony": begin["ceremony"], "credential": assertion}),
    )
    .await
}

async fn prove(s: &TestServer, c: &Client, key: &mut SoftKey) -> (StatusCode, Value) {
    let begin = login_begin(c).await;
    finish_login(s, c, key, &begin).await
}

fn failed_with(s: &TestServer, action: &str, reason: &str) -> bool {
    s.audit(action).iter().any(|e| {
        e.outcome == "failed" && e.detail.contains(reason) && e.detail.contains("webauthn")
    })
}

#[tokio::test]
async fn a_security_key_registers_with_attestation_and_elevates_the_session() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let it_id = user_id(&it).await;
    let keys_path = format!("/api/v1/users/{it_id}/keys");
    let (status, body) = it.get(&keys_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_proof_required");

    let mut key = good_key(&s);
    let info = enroll(&s, &it, &mut key).await;
    assert_eq!(info["kind"], "webauthn");
    assert_eq!(info["aaguid"], AAGUID);
    assert!(
        info["attestation_ca"]
            .as_str()
            .unwrap()
            .contains("Holdfast Test FIDO Root CA"),
        "{info}"
    );
    assert_eq!(info["user_verification"], true);
    assert_eq!(info["enrolled_by"], "test-console");
    assert_eq!(info["label"], "Desk key");
    // Registering is no proof: still nothing privileged.
    let (status, _) = it.get(&keys_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, ok) = prove(&s, &it, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["key_id"], info["id"]);
    let (status, list) = it.get(&keys_path).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = &list.as_array().unwrap()[0];
    assert_eq!(listed["kind"], "webauthn");
    assert_eq!(listed["aaguid"], AAGUID);
    assert!(listed["last_used_at"].is_string(), "{listed}");
    let (_, e) = it.get("/api/v1/keys/elevation").await;
    assert!(e["elevated_until"].is_string(), "{e}");

    let enrolled = s.audit("key.enroll");
    assert!(
        enrolled
            .iter()
            .any(|e| e.outcome == "ok" && e.detail.contains(AAGUID))
    );
    let proofs = s.audit("key.proof");
    assert!(
        proofs
            .iter()
            .any(|e| e.outcome == "ok" && e.detail.contains("webauthn"))
    );
    // The enrollment code is spent.
    let code_reuse = s.enrollment_code(&it_id);
    let (status, _) = register(&s, &it, &mut good_key(&s), &code_reuse).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a fresh code registers a spare"
    );
}

#[tokio::test]
async fn step_up_needs_a_fresh_webauthn_proof() {
    let clock = ManualClock::new();
    let s = server_with(Some(clock.clone()));
    s.add_user("boss", Role::Owner, None);
    let sales_id = s.add_user("nino", Role::Sales, None);
    let boss = s.login("boss").await;
    let mut key = good_key(&s);
    enroll(&s, &boss, &mut key).await;
    let (status, body) = prove(&s, &boss, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let step_up = format!("/api/v1/users/{sales_id}/key-enrollment-code");
    let (status, body) = boss.post(&step_up, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    clock.advance(chrono::Duration::minutes(6));
    let (status, body) = boss.post(&step_up, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_step_up_required");
    let (status, body) = prove(&s, &boss, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = boss.post(&step_up, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_ceremony_is_single_use_bound_to_its_session_and_short_lived() {
    let clock = ManualClock::new();
    let s = server_with(Some(clock.clone()));
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let mut key = good_key(&s);
    enroll(&s, &it, &mut key).await;

    // Replayed: the same ceremony and assertion a second time.
    let begin = login_begin(&it).await;
    let assertion = key.assert(&begin["public_key"], &s.config.base_url());
    let body = json!({"ceremony": begin["ceremony"], "credential": assertion});
    let (status, ok) = it
        .post("/api/v1/keys/webauthn/login/finish", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let (status, again) = it.post("/api/v1/keys/webauthn/login/finish", body).await;
    rejected(status, &again, "challenge_used");
    assert!(failed_with(&s, "key.proof", "challenge_used"));

    // Begun in one session, finished in another session of the same user: the
    // second session stays unelevated.
    let other = s.login("it").await;
    let begin = login_begin(&it).await;
    let (status, body) = finish_login(&s, &other, &mut key, &begin).await;
    rejected(status, &body, "wrong_session");
    let (_, e) = other.get("/api/v1/keys/elevation").await;
    assert!(e["elevated_until"].is_null(), "{e}");
    assert!(failed_with(&s, "key.proof", "wrong_session"));

    // Expired: two minutes at most.
    let begin = login_begin(&other).await;
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(begin["expires_at"].clone()).unwrap();
    assert!(expires <= s.env.now() + chrono::Duration::seconds(120));
    clock.advance(chrono::Duration::seconds(121));
    let (status, body) = finish_login(&s, &other, &mut key, &begin).await;
    rejected(status, &body, "challenge_expired");

    // An unknown ceremony.
    let begin = login_begin(&other).await;
    let mut forged = begin.clone();
    forged["ceremony"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, body) = finish_login(&s, &other, &mut key, &forged).await;
    rejected(status, &body, "unknown_challenge");
}

#[tokio::test]
async fn wrong_origin_or_rp_id_is_refused() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let mut key = good_key(&s);
    enroll(&s, &it, &mut key).await;

    key.origin_override = Some("https://crm.example.evil".into());
    let (status, body) = prove(&s, &it, &mut key).await;
    rejected(status, &body, "wrong_origin");
    key.origin_override = None;
    key.rp_id_override = Some("example.evil".into());
    let (status, body) = prove(&s, &it, &mut key).await;
    rejected(status, &body, "wrong_rp_id");
    assert!(failed_with(&s, "key.proof", "wrong_origin"));
    assert!(failed_with(&s, "key.proof", "wrong_rp_id"));

    // Registration checks them too.
    let mut phished = good_key(&s);
    phished.origin_override = Some("https://crm.example.evil".into());
    let code = s.enrollment_code(&user_id(&it).await);
    let (status, body) = register(&s, &it, &mut phished, &code).await;
    rejected(status, &body, "wrong_origin");
    let (_, e) = it.get("/api/v1/keys/elevation").await;
    assert!(e["elevated_until"].is_null(), "{e}");
}

#[tokio::test]
async fn authenticators_outside_the_allowed_set_are_refused() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let it_id = user_id(&it).await;
    let other_vendor = wa::attestation_root("Holdfast Test FIDO Root CA");
    let cases: Vec<(&str, SoftKey)> = vec![
        (
            "attestation_untrusted",
            SoftKey::new(AAGUID, wa::packed_attestation(&other_vendor, AAGUID)),
        ),
        (
            "attestation_missing",
            SoftKey::new(AAGUID, Attest::SelfAttested),
        ),
        ("attestation_missing", SoftKey::new(AAGUID, Attest::None)),
    ];
    for (check, mut key) in cases {
        let code = s.enrollment_code(&it_id);
        let (status, body) = register(&s, &it, &mut key, &code).await;
        rejected(status, &body, check);
        assert!(failed_with(&s, "key.enroll", check), "{check} audited");
    }
    // No attestation at all would also pass webauthn-rs's signature checks, so the
    // refusal above is the allowed-set rule, not a malformed message.
    let (status, keys) = it.get("/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys.as_array().unwrap().len(), 0, "{keys}");

    // A user verification the key did not do.
    let mut lazy = good_key(&s);
    lazy.user_verified = false;
    let code = s.enrollment_code(&it_id);
    let (status, body) = register(&s, &it, &mut lazy, &code).await;
    rejected(status, &body, "user_not_verified");
}

#[tokio::test]
async fn the_allowed_set_can_be_limited_to_aaguids() {
    let s = TestServer::start_with(Options {
        localhost_url: true,
        keys: Some(holdfast::config::KeysConfig {
            webauthn_aaguids: vec![AAGUID.into()],
            ..Default::default()
        }),
        ..Options::default()
    });
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let it_id = user_id(&it).await;
    let other_model = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    let mut key = SoftKey::new(
        other_model,
        wa::packed_attestation(&s.webauthn_root, other_model),
    );
    let code = s.enrollment_code(&it_id);
    let (status, body) = register(&s, &it, &mut key, &code).await;
    rejected(status, &body, "aaguid_not_allowed");
    assert!(failed_with(&s, "key.enroll", "aaguid_not_allowed"));
    let mut allowed = good_key(&s);
    let code = s.enrollment_code(&it_id);
    let (status, body) = register(&s, &it, &mut allowed, &code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn registration_needs_a_code_issued_to_the_signed_in_user() {
    let s = server_with(None);
    let boss_id = s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let (status, body) = it
        .post(
            "/api/v1/keys/webauthn/register/begin",
            json!({"code": "not-a-code"}),
        )
        .await;
    rejected(status, &body, "enrollment_code_invalid");
    // The owner's code does not let the admin register a key (for either of them).
    let code = s.enrollment_code(&boss_id);
    let (status, body) = it
        .post(
            "/api/v1/keys/webauthn/register/begin",
            json!({"code": code}),
        )
        .await;
    rejected(status, &body, "enrollment_code_invalid");
    assert!(failed_with(&s, "key.enroll", "enrollment_code_invalid"));
    // Without a session there is no registration at all.
    let (status, _) = s
        .client()
        .post(
            "/api/v1/keys/webauthn/register/begin",
            json!({"code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_key_proves_nothing_and_its_sessions_end() {
    let s = server_with(None);
    s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let boss = s.login_elevated("boss").await;
    let it = s.login("it").await;
    let mut key = good_key(&s);
    let info = enroll(&s, &it, &mut key).await;
    let (status, body) = prove(&s, &it, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second session, mid-ceremony when the key is revoked.
    let second = s.login("it").await;
    let pending = login_begin(&second).await;

    let key_id = info["id"].as_str().unwrap();
    let (status, body) = boss
        .post(&format!("/api/v1/keys/{key_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains("webauthn"), "{body}");
    // The session the key elevated has ended.
    let (status, _) = it.get("/api/v1/keys/elevation").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = finish_login(&s, &second, &mut key, &pending).await;
    rejected(status, &body, "key_revoked");
    assert!(failed_with(&s, "key.proof", "key_revoked"));
    // And a new ceremony has no key to offer.
    let (status, body) = second
        .post("/api/v1/keys/webauthn/login/begin", json!({}))
        .await;
    rejected(status, &body, "unknown_key");
    assert!(s.audit("key.revoke").iter().any(|e| e.outcome == "ok"));
}

#[tokio::test]
async fn a_disabled_user_cannot_prove_with_a_security_key() {
    let s = server_with(None);
    s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let boss = s.login_elevated("boss").await;
    let it = s.login("it").await;
    let it_id = user_id(&it).await;
    let mut key = good_key(&s);
    enroll(&s, &it, &mut key).await;
    let begin = login_begin(&it).await;
    let (status, body) = boss
        .post(&format!("/api/v1/users/{it_id}/disable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = finish_login(&s, &it, &mut key, &begin).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status} {body}"
    );
    assert!(
        !s.audit("key.proof")
            .iter()
            .any(|e| e.outcome == "ok" && e.actor_id.as_deref() == Some(it_id.as_str()))
    );
}

#[tokio::test]
async fn a_signature_counter_that_goes_back_is_refused_and_audited() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let mut key = good_key(&s);
    enroll(&s, &it, &mut key).await;
    let (status, body) = prove(&s, &it, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = prove(&s, &it, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A clone of the key, made before those proofs, replays an older counter.
    key.counter = 1;
    let (status, body) = prove(&s, &it, &mut key).await;
    rejected(status, &body, "counter_regressed");
    assert!(failed_with(&s, "key.proof", "counter_regressed"));
}

#[tokio::test]
async fn a_proof_without_user_verification_is_refused() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let mut key = good_key(&s);
    enroll(&s, &it, &mut key).await;
    key.user_verified = false;
    let (status, body) = prove(&s, &it, &mut key).await;
    rejected(status, &body, "user_not_verified");
    let (_, e) = it.get("/api/v1/keys/elevation").await;
    assert!(e["elevated_until"].is_null(), "{e}");
}

#[tokio::test]
async fn a_webauthn_credential_is_no_piv_key() {
    let s = server_with(None);
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let mut key = good_key(&s);
    let info = enroll(&s, &it, &mut key).await;
    let challenge = it.challenge().await;
    // The credential id stored as the key's "public key" must not pass as a PIV key.
    let (status, body) = it
        .cli()
        .post(
            "/api/v1/keys/proof",
            json!({
                "challenge": challenge["id"],
                "public_key": wa::b64(&key.cred_id),
                "signature": wa::b64(b"whatever"),
            }),
        )
        .await;
    rejected(status, &body, "unknown_key");
    assert_eq!(info["fingerprint"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn openapi_describes_the_webauthn_routes() {
    let s = TestServer::start();
    let (status, doc) = s.client().get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/keys/webauthn/register/begin",
        "/keys/webauthn/register/finish",
        "/keys/webauthn/login/begin",
        "/keys/webauthn/login/finish",
    ] {
        assert!(
            doc["paths"][path]["post"].is_object(),
            "{path} not described"
        );
    }
    let key = &doc["components"]["schemas"]["HardwareKey"]["properties"];
    for field in ["aaguid", "attestation_ca", "user_verification"] {
        assert!(key[field].is_object(), "HardwareKey.{field} not described");
    }
}

#[tokio::test]
async fn without_a_domain_name_webauthn_is_unavailable_and_says_so() {
    // The default test server's public URL is https://127.0.0.1:PORT.
    let s = TestServer::start();
    s.add_user("it", Role::Admin, None);
    let it = s.login("it").await;
    let code = s.enrollment_code(&user_id(&it).await);
    let (status, body) = it
        .post(
            "/api/v1/keys/webauthn/register/begin",
            json!({"code": code}),
        )
        .await;
    rejected(status, &body, "webauthn_unavailable");
}
