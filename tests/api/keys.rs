//! Hardware keys: PIV attestation (chains generated here with rcgen), the
//! check-attestation command, and (below) enrollment, proofs and elevation over HTTP.

use chrono::Utc;
use holdfast::keys::attestation::{self, AttestationError, Expected, Requirements, Slot, Which};
use holdfast::keys::piv_ext::{PinPolicy, TouchPolicy};
use holdfast::keys::trust::TrustStore;

use crate::support::piv::{self, Chain, SlotSpec, SoftPiv};

fn trust_of(ca: &piv::TestCa) -> TrustStore {
    let mut t = TrustStore::empty();
    t.add("test root", ca.pem.as_bytes()).unwrap();
    t
}

fn verify_with(
    trust: &TrustStore,
    key: &SoftPiv,
    slot: &str,
    req: Requirements,
) -> Result<attestation::Attested, AttestationError> {
    attestation::verify(
        trust,
        &key.slot_der,
        &key.f9_der,
        Expected {
            slot: Some(Slot::parse(slot).unwrap()),
            public_key: Some(&key.spki),
        },
        req,
        Utc::now(),
    )
}

fn verify(trust: &TrustStore, key: &SoftPiv) -> Result<attestation::Attested, AttestationError> {
    verify_with(trust, key, "9a", Requirements::default())
}

#[test]
fn genuine_chain_is_accepted_and_read_out() {
    let Chain { root, key, .. } = piv::chain();
    let a = verify(&trust_of(&root), &key).unwrap();
    assert_eq!(a.slot.to_string(), "9a");
    assert_eq!(a.serial, Some(12_345_678));
    assert_eq!(a.firmware.unwrap().to_string(), "5.4.3");
    assert_eq!(a.form_factor.unwrap().to_string(), "USB-C keychain");
    assert_eq!(a.pin_policy, PinPolicy::Once);
    assert_eq!(a.touch_policy, TouchPolicy::Always);
    assert!(a.intermediate_has_basic_constraints);
    assert!(a.root_subject.contains("Holdfast Test PIV Root CA"));
    assert_eq!(a.public_key_point, key.public_point());
}

#[test]
fn f9_without_basic_constraints_is_accepted_in_the_f9_position() {
    let root = piv::root("Holdfast Test PIV Root CA");
    let f9 = piv::f9(&root, false);
    let key = SoftPiv::attested(&f9, &SlotSpec::default());
    let a = verify(&trust_of(&root), &key).unwrap();
    assert!(!a.intermediate_has_basic_constraints);
}

#[test]
fn wrong_root_an_impostor_with_the_trusted_name() {
    let trusted = piv::root("Holdfast Test PIV Root CA");
    let impostor = piv::root("Holdfast Test PIV Root CA");
    let f9 = piv::f9(&impostor, true);
    let key = SoftPiv::attested(&f9, &SlotSpec::default());
    let err = verify(&trust_of(&trusted), &key).unwrap_err();
    assert!(matches!(err, AttestationError::WrongRoot { .. }), "{err}");
    assert_eq!(err.code(), "wrong_root");
}

#[test]
fn f9_from_another_root_is_refused() {
    let trusted = piv::root("Holdfast Test PIV Root CA");
    let other = piv::root("Some Other Vendor Root");
    let f9 = piv::f9(&other, true);
    let key = SoftPiv::attested(&f9, &SlotSpec::default());
    let err = verify(&trust_of(&trusted), &key).unwrap_err();
    assert!(
        matches!(&err, AttestationError::IntermediateFromOtherRoot { issuer } if issuer.contains("Other Vendor")),
        "{err}"
    );
    // The real Yubico root does not vouch for a test chain either.
    let err = verify(&TrustStore::load(None, true).unwrap(), &piv::chain().key).unwrap_err();
    assert_eq!(err.code(), "f9_from_other_root");
}

#[test]
fn an_f9_signed_by_an_intermediate_is_accepted_only_through_a_root() {
    let root = piv::root("Holdfast Test PIV Root CA");
    let inter = piv::intermediate(&root, "Holdfast Test PIV Attestation B 1", true);
    let f9 = piv::f9(&inter, true);
    let key = SoftPiv::attested(&f9, &SlotSpec::default());
    let mut both = trust_of(&root);
    both.add("test intermediate", inter.pem.as_bytes()).unwrap();
    let a = verify(&both, &key).unwrap();
    assert!(a.root_subject.contains("Holdfast Test PIV Root CA"));
    assert_eq!(a.via.len(), 1);
    assert!(a.via[0].contains("Attestation B 1"), "{:?}", a.via);
    // Without the intermediate the f9's issuer is unknown.
    let err = verify(&trust_of(&root), &key).unwrap_err();
    assert_eq!(err.code(), "f9_from_other_root");
    // An intermediate alone is never trusted: the chain must end at a root.
    let err = verify(&trust_of(&inter), &key).unwrap_err();
    assert_eq!(err.code(), "f9_from_other_root", "{err}");
    // A certificate that is not a CA cannot stand in the middle.
    let not_ca = piv::intermediate(&root, "Holdfast Test PIV Attestation B 1", false);
    let f9b = piv::f9(&not_ca, true);
    let key_b = SoftPiv::attested(&f9b, &SlotSpec::default());
    let mut with_not_ca = trust_of(&root);
    with_not_ca.add("not a CA", not_ca.pem.as_bytes()).unwrap();
    let err = verify(&with_not_ca, &key_b).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
}

#[test]
fn self_signed_certificate_with_the_right_extensions_is_refused() {
    let Chain { root, f9, .. } = piv::chain();
    let key = SoftPiv::self_signed(&f9, &SlotSpec::default());
    let err = verify(&trust_of(&root), &key).unwrap_err();
    assert_eq!(
        err,
        AttestationError::SelfSigned {
            which: Which::SlotCertificate
        }
    );
    // Passing the self-signed certificate in both positions changes nothing.
    let both = SoftPiv {
        f9_der: key.slot_der.clone(),
        ..key
    };
    assert_eq!(
        verify(&trust_of(&root), &both).unwrap_err().code(),
        "self_signed"
    );
    // Nor does presenting the root itself as the f9.
    let Chain { root, key, .. } = piv::chain();
    let as_root = SoftPiv {
        f9_der: root.der.clone(),
        ..key
    };
    assert_eq!(
        verify(&trust_of(&root), &as_root).unwrap_err(),
        AttestationError::NotSignedByIntermediate
    );
}

#[test]
fn slot_certificate_from_another_device_is_refused() {
    let root = piv::root("Holdfast Test PIV Root CA");
    let (f9a, f9b) = (piv::f9(&root, true), piv::f9(&root, true));
    let key = SoftPiv::attested(&f9a, &SlotSpec::default());
    let swapped = SoftPiv {
        f9_der: f9b.der.clone(),
        ..key
    };
    assert_eq!(
        verify(&trust_of(&root), &swapped).unwrap_err(),
        AttestationError::NotSignedByIntermediate
    );
}

#[test]
fn public_key_mismatch_is_refused() {
    let Chain { root, f9, key } = piv::chain();
    let other = SoftPiv::attested(&f9, &SlotSpec::default());
    let mixed = SoftPiv {
        spki: other.spki.clone(),
        ..key
    };
    assert_eq!(
        verify(&trust_of(&root), &mixed).unwrap_err(),
        AttestationError::KeyMismatch
    );
    let garbage = SoftPiv {
        spki: vec![1, 2, 3],
        ..other
    };
    assert_eq!(
        verify(&trust_of(&root), &garbage).unwrap_err(),
        AttestationError::KeyMismatch
    );
}

#[test]
fn wrong_slot_is_refused() {
    let Chain { root, f9, .. } = piv::chain();
    let key = SoftPiv::attested(
        &f9,
        &SlotSpec {
            cn: "YubiKey PIV Attestation 9c".into(),
            ..SlotSpec::default()
        },
    );
    let err = verify(&trust_of(&root), &key).unwrap_err();
    assert_eq!(
        err,
        AttestationError::WrongSlot {
            expected: "9a".into(),
            found: "9c".into()
        }
    );
    assert!(verify_with(&trust_of(&root), &key, "9c", Requirements::default()).is_ok());
    let not_piv = SoftPiv::attested(
        &f9,
        &SlotSpec {
            cn: "Some certificate".into(),
            ..SlotSpec::default()
        },
    );
    assert_eq!(
        verify(&trust_of(&root), &not_piv).unwrap_err().code(),
        "malformed"
    );
}

#[test]
fn policies_below_the_minimum_are_refused() {
    let Chain { root, f9, .. } = piv::chain();
    let trust = trust_of(&root);
    let with = |pin, touch| {
        SoftPiv::attested(
            &f9,
            &SlotSpec {
                pin,
                touch,
                ..SlotSpec::default()
            },
        )
    };
    let err = verify(&trust, &with(PinPolicy::Never, TouchPolicy::Always)).unwrap_err();
    assert_eq!(
        err,
        AttestationError::PinPolicyTooWeak {
            found: PinPolicy::Never,
            minimum: PinPolicy::Once
        }
    );
    let err = verify(&trust, &with(PinPolicy::Always, TouchPolicy::Never)).unwrap_err();
    assert_eq!(
        err,
        AttestationError::TouchPolicyTooWeak {
            found: TouchPolicy::Never,
            minimum: TouchPolicy::Cached
        }
    );
    // Cached touch meets the default minimum, not a stricter one.
    let cached = with(PinPolicy::Once, TouchPolicy::Cached);
    assert!(verify(&trust, &cached).is_ok());
    let strict = Requirements {
        min_pin: PinPolicy::Always,
        min_touch: TouchPolicy::Always,
    };
    assert_eq!(
        verify_with(&trust, &cached, "9a", strict)
            .unwrap_err()
            .code(),
        "pin_policy_too_weak"
    );
    let always_pin = with(PinPolicy::Always, TouchPolicy::Cached);
    assert_eq!(
        verify_with(&trust, &always_pin, "9a", strict)
            .unwrap_err()
            .code(),
        "touch_policy_too_weak"
    );
    // No policy extension at all (an imported key is never attested): refused.
    let none = SoftPiv::attested(
        &f9,
        &SlotSpec {
            with_policy: false,
            ..SlotSpec::default()
        },
    );
    assert_eq!(verify(&trust, &none).unwrap_err().code(), "malformed");
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let Chain { root, key, .. } = piv::chain();
    for (slot, f9) in [
        (vec![], key.f9_der.clone()),
        (key.slot_der.clone(), vec![0x30, 0x03, 1, 2, 3]),
        (
            key.slot_der[..key.slot_der.len() - 1].to_vec(),
            key.f9_der.clone(),
        ),
    ] {
        let err = attestation::verify(
            &trust_of(&root),
            &slot,
            &f9,
            Expected {
                slot: None,
                public_key: None,
            },
            Requirements::default(),
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "malformed", "{err}");
    }
}

#[test]
fn expired_chain_is_refused() {
    let Chain { root, key, .. } = piv::chain();
    let far = Utc::now() + chrono::Duration::days(365 * 3000);
    let err = attestation::verify(
        &trust_of(&root),
        &key.slot_der,
        &key.f9_der,
        Expected {
            slot: None,
            public_key: Some(&key.spki),
        },
        Requirements::default(),
        far,
    )
    .unwrap_err();
    assert_eq!(err.code(), "expired");
}

fn holdfast_cli(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.current_dir(dir)
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_TEST_DATABASE_URL")
        .env_remove("HOLDFAST_DATABASE__URL")
        .env("HOLDFAST_LOG__FORMAT", "json");
    cmd
}

#[test]
fn check_attestation_command_explains_accept_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust");
    std::fs::create_dir(&trust).unwrap();
    let Chain { root, f9, key } = piv::chain();
    std::fs::write(trust.join("test-root.pem"), &root.pem).unwrap();
    std::fs::write(dir.path().join("slot.pem"), &key.slot_pem).unwrap();
    std::fs::write(dir.path().join("f9.der"), &f9.der).unwrap();
    let run = |args: &[&str]| {
        holdfast_cli(dir.path())
            .env("HOLDFAST_KEYS__TRUST_DIR", &trust)
            .args(["key", "check-attestation"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["slot.pem", "f9.der"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "slot: 9a",
        "serial: 12345678",
        "firmware: 5.4.3",
        "form factor: USB-C keychain",
        "PIN policy: once (minimum once)",
        "touch policy: always (minimum cached)",
        "Holdfast Test PIV Root CA",
        "result: accepted",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // Stricter configuration: the same key is refused, with the reason, exit 2.
    let out = holdfast_cli(dir.path())
        .env("HOLDFAST_KEYS__TRUST_DIR", &trust)
        .env("HOLDFAST_KEYS__MIN_PIN_POLICY", "always")
        .args(["key", "check-attestation", "slot.pem", "f9.der"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("refused (pin_policy_too_weak)"), "{text}");
    // Without the test root, the chain ends nowhere trusted.
    let out = holdfast_cli(dir.path())
        .args([
            "key",
            "check-attestation",
            "slot.pem",
            "f9.der",
            "--slot",
            "9c",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("f9_from_other_root"), "{text}");
    // A missing file is an error, not a refusal.
    let out = run(&["nope.pem", "f9.der"]);
    assert_eq!(out.status.code(), Some(1));
}

// ---- Over HTTP: enrollment, challenges, proofs, elevation, step-up -------------

use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, TestServer};

fn rejected(status: StatusCode, body: &Value, check: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_rejected", "{body}");
    assert_eq!(body["error"]["field"], check, "{body}");
}

async fn user_id(c: &Client) -> String {
    let (_, me) = c.get("/api/v1/session").await;
    me["user"]["id"].as_str().unwrap().to_string()
}

fn with_clock() -> (TestServer, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    (s, clock)
}

#[tokio::test]
async fn owner_needs_a_proof_for_client_data_and_a_fresh_one_for_step_up() {
    let (s, clock) = with_clock();
    let boss_id = s.add_user("boss", Role::Owner, None);
    let sales_id = s.add_user("nino", Role::Sales, Some("north"));
    let nino = s.login("nino").await;
    let client_id = nino.create_client(json!({"name": "Kept Client"})).await;

    // Password only: no client data, nothing privileged.
    let mut boss = s.login("boss").await;
    for path in [
        "/api/v1/clients".to_string(),
        format!("/api/v1/clients/{client_id}"),
    ] {
        let (status, body) = boss.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "key_proof_required");
        assert!(!body.to_string().contains("Kept Client"));
    }
    let (status, body) = boss
        .post(
            &format!("/api/v1/users/{sales_id}/key-enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_proof_required");
    let denial = s
        .audit("client.read")
        .into_iter()
        .find(|e| e.outcome == "denied")
        .expect("audited denial");
    assert!(
        denial.detail.contains("hardware key proof required"),
        "{}",
        denial.detail
    );
    assert_eq!(denial.actor_id.as_deref(), Some(boss_id.as_str()));
    let (_, e) = boss.get("/api/v1/keys/elevation").await;
    assert_eq!(e["privileged"], true);
    assert!(e["elevated_until"].is_null());

    // A proof from an enrolled key elevates this session.
    boss.key = Some(s.enroll_soft_key(&boss_id).await);
    let (status, body) = boss.prove().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, list) = boss.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list.to_string().contains("Kept Client"));
    let (status, body) = boss
        .post(
            &format!("/api/v1/users/{sales_id}/key-enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["code"].as_str().unwrap().len(), 43);
    let (_, e) = boss.get("/api/v1/keys/elevation").await;
    assert!(e["elevated_until"].is_string(), "{e}");

    // After the step-up window: client data still, but the sensitive action asks again.
    clock.advance(chrono::Duration::minutes(6));
    let (status, _) = boss.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = boss
        .post(
            &format!("/api/v1/users/{sales_id}/key-enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_step_up_required");
    assert!(
        s.audit("key.enrollment_code").iter().any(
            |e| e.outcome == "denied" && e.detail.contains("fresh hardware key proof required")
        )
    );
    let (status, body) = boss.prove().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = boss
        .post(&format!("/api/v1/users/{sales_id}/disable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["disabled"], true);
    // Proofs and enrollments are in the audit log.
    assert!(
        s.audit("key.proof")
            .iter()
            .filter(|e| e.outcome == "ok")
            .count()
            >= 2
    );
    assert!(s.audit("key.enroll").iter().any(|e| e.outcome == "ok"));
    // Sales staff are never asked for a key for their own work.
    let (status, _) = nino.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nino was disabled above");
    s.add_user("eka", Role::Sales, None);
    let (status, _) = s.login("eka").await.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn elevation_ends_with_its_time_and_never_outlives_the_session() {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        keys: Some(holdfast::config::KeysConfig {
            elevation_minutes: 20,
            ..Default::default()
        }),
        ..Options::default()
    });
    s.add_user("it", Role::Admin, None);
    let it = s.login_elevated("it").await;
    let it_id = user_id(&it).await;
    let (status, _) = it.get(&format!("/api/v1/users/{it_id}/keys")).await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(chrono::Duration::minutes(21));
    let (status, body) = it.get(&format!("/api/v1/users/{it_id}/keys")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_proof_required");
    let (_, until) = it.prove().await;
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(until["elevated_until"].clone()).unwrap();
    assert!(until <= clock_now(&s) + chrono::Duration::minutes(20));
}

fn clock_now(s: &TestServer) -> chrono::DateTime<chrono::Utc> {
    s.env.now()
}

#[tokio::test]
async fn replayed_expired_and_forged_proofs_are_refused() {
    let (s, clock) = with_clock();
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let key = boss.key.clone().unwrap();
    let cli = boss.cli();

    // Replay.
    let challenge = boss.challenge().await;
    assert!(challenge["token"].as_str().unwrap().starts_with("hfk1."));
    let proof = Client::proof_for(&challenge, &key);
    let (status, body) = cli.post("/api/v1/keys/proof", proof.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = cli.post("/api/v1/keys/proof", proof).await;
    rejected(status, &body, "challenge_used");

    // Expired (two minutes at most).
    let challenge = boss.challenge().await;
    clock.advance(chrono::Duration::seconds(121));
    let (status, body) = cli
        .post("/api/v1/keys/proof", Client::proof_for(&challenge, &key))
        .await;
    rejected(status, &body, "challenge_expired");

    // A signature over other bytes (another nonce), then a signature by a key
    // that is attested but not enrolled, then an unknown challenge.
    let challenge = boss.challenge().await;
    let mut forged = challenge.clone();
    forged["nonce"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let (status, body) = cli
        .post("/api/v1/keys/proof", Client::proof_for(&forged, &key))
        .await;
    rejected(status, &body, "bad_signature");
    let challenge = boss.challenge().await;
    let stranger = s.soft_key();
    let (status, body) = cli
        .post(
            "/api/v1/keys/proof",
            Client::proof_for(&challenge, &stranger),
        )
        .await;
    rejected(status, &body, "unknown_key");
    let mut unknown = Client::proof_for(&boss.challenge().await, &key);
    unknown["challenge"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, body) = cli.post("/api/v1/keys/proof", unknown).await;
    rejected(status, &body, "unknown_challenge");

    let failed: Vec<_> = s
        .audit("key.proof")
        .into_iter()
        .filter(|e| e.outcome == "failed")
        .collect();
    for reason in [
        "challenge_used",
        "challenge_expired",
        "bad_signature",
        "unknown_key",
    ] {
        assert!(
            failed.iter().any(|e| e.detail.contains(reason)),
            "no failed proof audited for {reason}"
        );
    }
}

#[tokio::test]
async fn a_proof_elevates_only_the_session_that_asked() {
    let s = TestServer::start();
    let boss_id = s.add_user("boss", Role::Owner, None);
    s.add_user("nino", Role::Sales, None);
    let mut a = s.login("boss").await;
    let b = s.login("boss").await;
    a.key = Some(s.enroll_soft_key(&boss_id).await);
    let key = a.key.clone().unwrap();

    // B's challenge signed with A's session binding: the signature does not verify.
    let challenge_b = b.challenge().await;
    let challenge_a = a.challenge().await;
    let mut mixed = challenge_b.clone();
    mixed["session_binding"] = challenge_a["session_binding"].clone();
    let (status, body) = a
        .cli()
        .post("/api/v1/keys/proof", Client::proof_for(&mixed, &key))
        .await;
    rejected(status, &body, "bad_signature");

    // A's own challenge elevates A, and only A.
    let (status, body) = a
        .cli()
        .post("/api/v1/keys/proof", Client::proof_for(&challenge_a, &key))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(a.get("/api/v1/clients").await.0, StatusCode::OK);
    let (status, body) = b.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Someone else's signed-in session cannot ask for a challenge bound to B.
    let nino = s.login("nino").await;
    let c = nino.challenge().await;
    assert_ne!(c["session_binding"], challenge_b["session_binding"]);
    // A challenge cannot be made without a session.
    let (status, _) = s.client().post("/api/v1/keys/challenge", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Unanswered challenges of any session are swept once expired, not before.
    let mut conn = s.store.conn().unwrap();
    let now = chrono::Utc::now();
    // A's challenge (used) and B's (spent by the failed proof).
    assert_eq!(
        holdfast::keys::service::sweep_challenges(&mut conn, now).unwrap(),
        2
    );
    assert_eq!(
        holdfast::keys::service::sweep_challenges(&mut conn, now).unwrap(),
        0
    );
    let later = now + chrono::Duration::minutes(3);
    assert_eq!(
        holdfast::keys::service::sweep_challenges(&mut conn, later).unwrap(),
        1,
        "nino's open challenge"
    );
}

#[tokio::test]
async fn revoking_a_key_ends_the_sessions_it_elevated() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    s.add_user("boss2", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let other = s.login_elevated("boss2").await;
    let boss_id = user_id(&boss).await;
    let (status, keys) = other.get(&format!("/api/v1/users/{boss_id}/keys")).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let key = &keys.as_array().unwrap()[0];
    assert_eq!(key["kind"], "piv");
    assert_eq!(key["slot"], "9a");
    assert_eq!(key["serial"], 12_345_678);
    assert_eq!(key["pin_policy"], "once");
    assert_eq!(key["touch_policy"], "always");
    assert!(key["last_used_at"].is_string());
    let key_id = key["id"].as_str().unwrap();
    let (status, body) = other
        .post(&format!("/api/v1/keys/{key_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked_at"].is_string());
    // The elevated session has ended.
    let (status, _) = boss.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The revoked key proves nothing any more.
    let mut again = s.login("boss").await;
    again.key = boss.key.clone();
    let (status, body) = again.prove().await;
    rejected(status, &body, "key_revoked");
    assert!(
        s.audit("key.revoke")
            .iter()
            .any(|e| e.outcome == "ok" && e.detail.contains("\"sessions_ended\":1"))
    );
    // Revoking twice is a conflict, not a second event.
    let (status, _) = other
        .post(&format!("/api/v1/keys/{key_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_disabled_user_cannot_prove() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    let it_id = s.add_user("it", Role::Admin, None);
    let boss = s.login_elevated("boss").await;
    let mut it = s.login("it").await;
    it.key = Some(s.enroll_soft_key(&it_id).await);
    let challenge = it.challenge().await;
    let (status, body) = boss
        .post(&format!("/api/v1/users/{it_id}/disable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = it
        .cli()
        .post(
            "/api/v1/keys/proof",
            Client::proof_for(&challenge, it.key.as_ref().unwrap()),
        )
        .await;
    rejected(status, &body, "user_disabled");
}

#[tokio::test]
async fn enrollment_checks_code_attestation_and_possession() {
    let s = TestServer::start();
    let boss_id = s.add_user("boss", Role::Owner, None);
    let it_id = s.add_user("it", Role::Admin, None);
    let cli = s.client();
    let enroll = |body: Value| {
        let cli = &cli;
        async move { cli.post("/api/v1/keys/enroll", body).await }
    };

    // No or a wrong code.
    let key = s.soft_key();
    let (status, body) = enroll(s.enroll_request(&key, "not-a-code", "9a")).await;
    rejected(status, &body, "enrollment_code_invalid");

    // Each attestation failure names its check, and leaves the code usable.
    let code = s.enrollment_code(&boss_id);
    let other_root = piv::root("Another Root");
    let foreign = SoftPiv::attested(&piv::f9(&other_root, true), &SlotSpec::default());
    let (status, body) = enroll(s.enroll_request(&foreign, &code, "9a")).await;
    rejected(status, &body, "f9_from_other_root");
    let weak = SoftPiv::attested(
        &s.piv_f9,
        &SlotSpec {
            touch: TouchPolicy::Never,
            ..SlotSpec::default()
        },
    );
    let (status, body) = enroll(s.enroll_request(&weak, &code, "9a")).await;
    rejected(status, &body, "touch_policy_too_weak");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("touch policy"),
        "{body}"
    );
    let (status, body) = enroll(s.enroll_request(&key, &code, "9c")).await;
    rejected(status, &body, "wrong_slot");
    // Possession: a signature by another key over the right message.
    let mut stolen = s.enroll_request(&key, &code, "9a");
    stolen["signature"] = s.enroll_request(&s.soft_key(), &code, "9a")["signature"].clone();
    let (status, body) = enroll(stolen).await;
    rejected(status, &body, "bad_signature");

    // The genuine key enrolls once; the code is then spent.
    let (status, body) = enroll(s.enroll_request(&key, &code, "9a")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user_id"], boss_id);
    assert_eq!(body["enrolled_by"], "test-console");
    let (status, body) = enroll(s.enroll_request(&s.soft_key(), &code, "9a")).await;
    rejected(status, &body, "enrollment_code_invalid");
    // The same key cannot be enrolled for someone else.
    let code2 = s.enrollment_code(&it_id);
    let (status, _) = enroll(s.enroll_request(&key, &code2, "9a")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let failed = s.audit("key.enroll");
    assert!(
        failed
            .iter()
            .any(|e| e.outcome == "failed" && e.detail.contains("touch_policy_too_weak"))
    );
}

#[tokio::test]
async fn admins_do_not_manage_owners_and_sales_manage_nobody() {
    let s = TestServer::start();
    let boss_id = s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let nino_id = s.add_user("nino", Role::Sales, None);
    let it = s.login_elevated("it").await;
    let (status, body) = it
        .post(
            &format!("/api/v1/users/{boss_id}/key-enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_allowed");
    let (status, _) = it
        .post(&format!("/api/v1/users/{boss_id}/disable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = it
        .post(
            &format!("/api/v1/users/{nino_id}/key-enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let nino = s.login("nino").await;
    let (status, body) = nino.get(&format!("/api/v1/users/{nino_id}/keys")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    // Everyone sees their own keys.
    let (status, own) = nino.get("/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own, json!([]));
}

#[test]
fn break_glass_and_init_issue_enrollment_codes_on_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let out = holdfast_cli(dir.path())
        .env("HOLDFAST_SERVER__PLAIN_HTTP", "true")
        .args(["init"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("holdfast key enroll --server"), "{text}");
    let out = holdfast_cli(dir.path())
        .args(["key", "break-glass", "--username", "owner"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("enrollment code for owner"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("break-glass"));
    let out = holdfast_cli(dir.path())
        .args(["key", "break-glass", "--username", "nobody"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The only owner cannot be disabled (nobody could recover or approve then).
    let out = holdfast_cli(dir.path())
        .args(["user", "disable", "--username", "owner"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("last active owner"), "{err}");
    // Audited with a high severity marker.
    let db = dir.path().join("holdfast-data/holdfast.db");
    let store = holdfast::store::Store::open(
        &secrecy::SecretString::from(format!("sqlite://{}", db.display())),
        1,
    )
    .unwrap();
    let mut conn = store.conn().unwrap();
    let events = holdfast::audit::search(
        &mut conn,
        &holdfast::audit::Query {
            action: Some("key.break_glass".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].detail.contains("\"severity\":\"high\""),
        "{}",
        events[0].detail
    );
    // And an open high-severity alert for the owners, pointing at that event.
    use holdfast::alerts::{self, Audience, Severity};
    let open = alerts::list(&mut conn, Audience::Owners, true, 10).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "key.break_glass");
    assert_eq!(open[0].severity, Severity::High);
    assert_eq!(open[0].evidence, vec![events[0].seq]);
}

#[tokio::test]
async fn the_cli_flows_speak_the_protocol_with_a_software_device() {
    use holdfast::keys::client::{self, ClientError, PivDevice};
    use secrecy::SecretString;
    let s = TestServer::start();
    let boss_id = s.add_user("boss", Role::Owner, None);
    let origin = s.config.base_url();
    let pin = SecretString::from("123456");
    let mut dev = piv::SoftDevice::new(&s.piv_f9, "123456");
    let slot = Slot::parse("9a").unwrap();

    // `holdfast key enroll`: a key generated with the server's minimum policy.
    let code = s.enrollment_code(&boss_id);
    let req = client::enroll(
        &mut dev,
        &origin,
        &code,
        slot,
        PinPolicy::Once,
        TouchPolicy::Cached,
        &pin,
        Some("desk key".into()),
    )
    .unwrap();
    let (status, body) = s
        .client()
        .post("/api/v1/keys/enroll", serde_json::to_value(&req).unwrap())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["label"], "desk key");
    assert_eq!(body["touch_policy"], "cached");

    // `holdfast key login`: the browser's token, signed on the device, posted by the CLI.
    let boss = s.login("boss").await;
    let token = boss.challenge().await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong_pin = client::prove(&mut dev, &origin, &token, slot, &SecretString::from("0000"));
    assert!(matches!(wrong_pin, Err(ClientError::Device(_))));
    let elsewhere = client::prove(&mut dev, "https://evil.example", &token, slot, &pin);
    assert!(matches!(elsewhere, Err(ClientError::WrongOrigin { .. })));
    let proof = client::prove(&mut dev, &origin, &token, slot, &pin).unwrap();
    let (status, body) = boss
        .cli()
        .post("/api/v1/keys/proof", serde_json::to_value(&proof).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(boss.get("/api/v1/clients").await.0, StatusCode::OK);

    // A key generated below the server's minimum is refused at enrollment.
    let code = s.enrollment_code(&boss_id);
    let weak = client::enroll(
        &mut dev,
        &origin,
        &code,
        Slot::parse("9c").unwrap(),
        PinPolicy::Never,
        TouchPolicy::Always,
        &pin,
        None,
    )
    .unwrap();
    let (status, body) = s
        .client()
        .post("/api/v1/keys/enroll", serde_json::to_value(&weak).unwrap())
        .await;
    rejected(status, &body, "pin_policy_too_weak");
    assert!(dev.f9_certificate().is_ok());
}

#[tokio::test]
async fn elevation_never_outlives_the_session() {
    let s = TestServer::start_with(Options {
        keys: Some(holdfast::config::KeysConfig {
            elevation_minutes: 48 * 60,
            ..Default::default()
        }),
        ..Options::default()
    });
    s.add_user("boss", Role::Owner, None);
    let start = s.env.now();
    let boss = s.login_elevated("boss").await;
    let (_, e) = boss.get("/api/v1/keys/elevation").await;
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(e["elevated_until"].clone()).unwrap();
    let session_hours = s.config.session.absolute_timeout_hours;
    assert!(until <= start + chrono::Duration::hours(session_hours) + chrono::Duration::seconds(5));
    assert!(until > start + chrono::Duration::hours(session_hours - 1));
}

#[tokio::test]
async fn failed_proofs_and_enrollments_are_throttled_per_address() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let key = boss.key.clone().unwrap();
    let cli = boss.cli();
    let max = holdfast::keys::service::MAX_FAILURES_PER_IP;
    for _ in 0..max {
        let mut proof = Client::proof_for(&boss.challenge().await, &key);
        proof["challenge"] = json!("00000000-0000-4000-8000-000000000000");
        let (status, body) = cli.post("/api/v1/keys/proof", proof).await;
        rejected(status, &body, "unknown_challenge");
    }
    // Now even a good proof from this address waits, and so does an enrollment.
    let good = Client::proof_for(&boss.challenge().await, &key);
    let (status, body) = cli.post("/api/v1/keys/proof", good).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _) = cli
        .post(
            "/api/v1/keys/enroll",
            s.enroll_request(&s.soft_key(), "whatever", "9a"),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        s.audit("key.proof")
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("throttled"))
    );
}

#[tokio::test]
async fn key_management_page_lists_revokes_and_issues_codes() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    let it_id = s.add_user("it", Role::Admin, None);
    let it_key = s.enroll_soft_key(&it_id).await;
    let page = |c: &Client| {
        let http = c.http.clone();
        let url = format!("{}/admin/keys", c.base);
        async move {
            let res = http.get(url).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    // Without a proof: the error page, with the way to get one.
    let plain = s.login("boss").await;
    let (status, html) = page(&plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("/keys/elevate"), "{html}");

    let boss = s.login_elevated("boss").await;
    let (status, html) = page(&boss).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-user=\"it\""), "{html}");
    assert!(html.contains("12345678"));
    // Issue a code: shown once in the answer to the POST.
    let res = boss
        .raw(
            reqwest::Method::POST,
            &format!("/admin/users/{it_id}/key-enrollment-code"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"issued-code-value\""), "{html}");
    // Revoke the admin's key.
    let (_, keys) = boss.get(&format!("/api/v1/users/{it_id}/keys")).await;
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    let res = boss
        .raw(
            reqwest::Method::POST,
            &format!("/admin/keys/{key_id}/revoke"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "after the redirect");
    assert!(res.text().await.unwrap().contains("admin-keys-notice"));
    let mut it = s.login("it").await;
    it.key = Some(it_key);
    let (status, body) = it.prove().await;
    rejected(status, &body, "key_revoked");
}
