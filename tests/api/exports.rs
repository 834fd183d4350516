//! Data-loss controls from the attacker's side: exports within and beyond the
//! allowance, approvals (never the requester, never without a fresh proof),
//! rejected exports without a file, fingerprint seeds traced back to the user,
//! and decoy clients that raise an alert on every path that touches them.

use std::sync::Arc;

use base64::Engine;
use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, TestServer};

const SEED_DOMAIN: &str = "leak-trace.example.com";

fn server() -> (TestServer, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        exports: Some(holdfast::config::ExportsConfig {
            seed_domain: Some(SEED_DOMAIN.into()),
            seed_phones: vec!["+995322000100..+995322000999".into()],
            seeds_per_export: 2,
            ..Default::default()
        }),
        ..Options::default()
    });
    (s, clock)
}

/// The bytes and headers of a GET.
async fn fetch(c: &Client, path: &str) -> (StatusCode, Vec<u8>, reqwest::header::HeaderMap) {
    let res = c.raw(Method::GET, path).send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, res.bytes().await.unwrap().to_vec(), headers)
}

async fn export(c: &Client, body: Value) -> (StatusCode, Value) {
    c.post("/api/v1/exports", body).await
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, b).as_ref())
}

fn csv_records(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("UTF-8 byte-order mark");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn export_within_allowance_is_ready_in_scope_neutralised_and_fingerprinted() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("gio", Role::Sales, Some("north"));
    let nino = s.login("nino").await;
    let gio = s.login("gio").await;
    let mine = [
        nino.create_client(json!({"name": "ნინო ბერიძე", "phones": ["+995 599 12 34 56"]}))
            .await,
        nino.create_client(
            json!({"name": "თამარ ლომიძე", "company": "=HYPERLINK(\"http://evil.example\",\"x\")"}),
        )
        .await,
        nino.create_client(json!({"name": "محمد الأحمد", "company": "  @SUM(1+1)"}))
            .await,
    ];
    gio.create_client(json!({"name": "Colleague Secret Client"}))
        .await;

    let (status, e) = export(&nino, json!({"format": "csv"})).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(e["state"], "ready");
    assert_eq!(e["row_count"], 3);
    assert_eq!(e["requested_by"]["id"], nino_id.as_str());
    let id = e["id"].as_str().unwrap().to_string();

    let (status, bytes, headers) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let sha = sha256_hex(&bytes);
    assert_eq!(headers["x-holdfast-sha256"].to_str().unwrap(), sha);
    let records = csv_records(&bytes);
    // Three clients and two seeds; nothing of the colleague's.
    assert_eq!(records.len(), 5);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains("Colleague Secret Client"));
    assert!(text.contains("ნინო ბერიძე") && text.contains("محمد الأحمد"));
    for rec in &records {
        for cell in rec {
            let t = cell.trim_start();
            assert!(
                !(t.starts_with(['=', '+', '-', '@']) || cell.starts_with(['\t', '\r'])),
                "formula cell {cell:?}"
            );
        }
    }
    assert!(text.contains("'=HYPERLINK"));
    assert!(text.contains("'  @SUM(1+1)"));
    let seeds: Vec<&Vec<String>> = records
        .iter()
        .filter(|r| r[6].ends_with(&format!("@{SEED_DOMAIN}")))
        .collect();
    assert_eq!(seeds.len(), 2, "{records:?}");
    // Seeds follow the scripts of the real names and use the company's numbers.
    for seed in seeds {
        assert!(seed[5].contains("+995322000"), "{seed:?}");
        assert!(
            seed[2]
                .chars()
                .any(|c| ('\u{10A0}'..='\u{10FF}').contains(&c)
                    || ('\u{0600}'..='\u{06FF}').contains(&c)),
            "{seed:?}"
        );
    }

    // The record: who, what, how many, the file's hash.
    let (status, rec) = nino.get(&format!("/api/v1/exports/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    assert_eq!(rec["file_sha256"], sha.as_str());
    assert_eq!(rec["downloads"], 1);
    assert_eq!(rec["format"], "csv");

    // Audited: the request, the clients that left, the download.
    let ready = s.audit("export.ready");
    assert_eq!(ready.len(), 1);
    for m in &mine {
        assert!(ready[0].object_ids.contains(m.as_str()));
    }
    assert_eq!(ready[0].actor_id.as_deref(), Some(nino_id.as_str()));
    assert!(ready[0].detail.contains(&sha));
    assert_eq!(s.audit("export.request").len(), 1);
    assert_eq!(s.audit("export.download").len(), 1);

    // The seeds are not clients: no list or count shows them.
    let (_, list) = nino.get("/api/v1/clients?limit=100").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    assert!(!list.to_string().contains(SEED_DOMAIN));

    // XLSX and JSON carry the same rows; another user cannot fetch the file.
    let (status, x) = export(&nino, json!({"format": "xlsx"})).await;
    assert_eq!(status, StatusCode::CREATED, "{x}");
    let (status, bytes, _) = fetch(
        &nino,
        &format!("/api/v1/exports/{}/file", x["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"PK"));
    assert!(holdfast::exports::format::text_of(&bytes).contains("ნინო ბერიძე"));
    let (status, j) = export(&nino, json!({"format": "json", "filter": {"q": "ნინო"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{j}");
    assert_eq!(j["row_count"], 1);
    let jid = j["id"].as_str().unwrap();
    let (status, bytes, _) = fetch(&nino, &format!("/api/v1/exports/{jid}/file")).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    let (status, _, _) = fetch(&gio, &format!("/api/v1/exports/{jid}/file")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = gio.get(&format!("/api/v1/exports/{jid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        s.audit("export.download")
            .iter()
            .any(|e| e.outcome == "denied" && e.object_ids.contains(jid))
    );

    // Bad input is refused clearly and nothing is made.
    let (status, body) = export(&nino, json!({"format": "pdf"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = export(&nino, json!({"format": "csv", "object": "contacts"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn deal(c: &Client, client: &str, title: &str, amount: &str) -> String {
    let (st, d) = c
        .post(
            "/api/v1/deals",
            json!({"client_id": client, "title": title, "amount": amount, "currency": "GEL"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{d}");
    d["id"].as_str().unwrap().to_string()
}

async fn invoice(c: &Client, client: &str) -> String {
    let line =
        json!({"description": "Work", "quantity": "1", "unit_price": "100", "tax_rate": "18"});
    let (st, inv) = c
        .post(
            "/api/v1/invoices",
            json!({"client_id": client, "currency": "GEL", "lines": [line]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    inv["invoice"]["id"].as_str().unwrap().to_string()
}

/// Deals and invoices leave only within scope, each row with its client's name
/// and contacts, with seeds planted, counted against the allowance, audited
/// with the records and clients that left, and traceable like a client export.
#[tokio::test]
async fn deals_and_invoices_export_in_scope_with_seeds() {
    let (s, _clock) = server();
    s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("gio", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    let gio = s.login("gio").await;
    let tamar = nino
        .create_client(
            json!({"name": "თამარ ლომიძე", "phones": ["+995 599 11 22 33"],
                              "emails": ["tamar@example.ge"]}),
        )
        .await;
    let olga = nino.create_client(json!({"name": "Ольга Ильина"})).await;
    let theirs = gio.create_client(json!({"name": "Gio's Secret"})).await;
    let d1 = deal(&nino, &tamar, "ვებგვერდი", "1200.50").await;
    let d2 = deal(&nino, &olga, "=cmd|' /C calc'!A0", "10").await;
    deal(&gio, &theirs, "Secret deal", "99").await;
    let sent = invoice(&nino, &tamar).await;
    let (st, _) = nino
        .post(&format!("/api/v1/invoices/{sent}/issue"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let draft = invoice(&nino, &olga).await;
    invoice(&gio, &theirs).await;

    // Deals: nino's two, two seeds, nothing of gio's, formulas neutralised.
    let (st, e) = export(&nino, json!({"object": "deals", "format": "csv"})).await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["object"].as_str(), e["row_count"].as_i64()),
        (Some("deals"), Some(2))
    );
    let id = e["id"].as_str().unwrap().to_string();
    let (st, bytes, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("\u{feff}id,title,stage,amount,currency"),
        "{text}"
    );
    assert!(!text.contains("Secret"));
    assert!(
        text.contains("ვებგვერდი") && text.contains("1200.5") && text.contains("tamar@example.ge")
    );
    assert!(text.contains("'=cmd"));
    let records = csv_records(&bytes);
    assert_eq!(records.len(), 4, "{records:?}");
    let seeds: Vec<_> = records
        .iter()
        .filter(|r| r[9].ends_with(SEED_DOMAIN))
        .collect();
    assert_eq!(seeds.len(), 2, "{records:?}");
    for seed in &seeds {
        // A seed looks like one of the real deals, with a seed client.
        assert!(
            seed[1] == "ვებგვერდი" || seed[1] == "'=cmd|' /C calc'!A0",
            "{seed:?}"
        );
        assert!(seed[8].contains("+995322000"), "{seed:?}");
    }
    let ready = s.audit("export.ready");
    let ev = ready.iter().find(|e| e.detail.contains(&id)).unwrap();
    for x in [&d1, &d2, &tamar, &olga] {
        assert!(
            ev.object_ids.contains(x.as_str()),
            "{x} in {}",
            ev.object_ids
        );
    }
    assert!(ev.detail.contains("\"object\":\"deals\""));

    // The leaked deal list is traced to nino's export.
    let boss = s.login_elevated("boss").await;
    let (st, t) = boss
        .post(
            "/api/v1/exports/trace",
            json!({"file_base64": base64::engine::general_purpose::STANDARD.encode(&bytes)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(t["hits"][0]["export"]["id"], id.as_str(), "{t}");
    assert_eq!(t["hits"][0]["seeds_found"], 2);

    // Invoices, filtered by status: only the issued one (and the seeds); JSON.
    let (st, e) = export(
        &nino,
        json!({"object": "invoices", "format": "json", "filter": {"status": "sent"}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    assert_eq!(e["row_count"], 1);
    let iid = e["id"].as_str().unwrap();
    let (_, bytes, _) = fetch(&nino, &format!("/api/v1/exports/{iid}/file")).await;
    let rows: Value = serde_json::from_slice(&bytes).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let real: Vec<_> = rows.iter().filter(|r| r["id"] == sent.as_str()).collect();
    assert_eq!(real.len(), 1);
    assert_eq!(real[0]["total"], "118");
    assert_eq!(real[0]["client"], "თამარ ლომიძე");
    assert_eq!(real[0]["number"], "000001");
    assert!(!rows.iter().any(|r| r["id"] == draft.as_str()));
    assert!(rows.iter().all(|r| r.get("client_id").is_none()));

    // Filters that do not apply are refused with the field; nothing is made.
    let before = s.audit("export.ready").len();
    for (object, filter, field) in [
        ("deals", json!({"q": "x"}), "q"),
        ("deals", json!({"tag": "vip"}), "tag"),
        ("invoices", json!({"owner_id": "x"}), "owner_id"),
    ] {
        let (st, body) = export(
            &nino,
            json!({"object": object, "format": "csv", "filter": filter}),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert_eq!(s.audit("export.ready").len(), before);
}

async fn many_clients(c: &Client, n: usize) {
    for i in 0..n {
        c.create_client(json!({"name": format!("Client {i:03}")}))
            .await;
    }
}

#[tokio::test]
async fn export_beyond_allowance_waits_gives_no_file_and_only_a_fresh_owner_approves() {
    let (s, clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    many_clients(&nino, 51).await;

    let (status, e) = export(
        &nino,
        json!({"format": "csv", "reason": "quarterly mailing"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{e}");
    assert_eq!(e["state"], "pending");
    assert_eq!(e["row_count"], 51);
    assert_eq!(e["over_allowance"][0]["limit"], "rows_per_export");
    let id = e["id"].as_str().unwrap().to_string();

    // No file while it waits.
    let (status, body, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        s.audit("export.download")
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("waiting for an owner"))
    );
    assert!(s.audit("export.ready").is_empty());

    // The requester cannot approve, nor can a team lead.
    let (status, body) = nino
        .post(&format!("/api/v1/exports/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let lead = s.login("lead").await;
    let (status, _) = lead
        .post(&format!("/api/v1/exports/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.audit("export.approve")
            .iter()
            .filter(|e| e.outcome == "denied")
            .count(),
        2
    );

    // An owner's proof from more than the step-up window ago is not enough.
    let boss = s.login_elevated("boss").await;
    let (_, pending) = boss.get("/api/v1/exports?who=all&state=pending").await;
    assert_eq!(pending["items"][0]["id"], id.as_str(), "{pending}");
    clock.advance(chrono::Duration::minutes(6));
    let (status, body) = boss
        .post(
            &format!("/api/v1/exports/{id}/approve"),
            json!({"comment": "ok"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "key_step_up_required");
    assert!(
        s.audit("export.approve").iter().any(
            |e| e.outcome == "denied" && e.detail.contains("fresh hardware key proof required")
        )
    );
    let (_, still) = nino.get(&format!("/api/v1/exports/{id}")).await;
    assert_eq!(still["state"], "pending");

    // With a fresh proof the owner approves; the file is made for the requester.
    let (status, body) = boss.prove().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, approved) = boss
        .post(
            &format!("/api/v1/exports/{id}/approve"),
            json!({"comment": "mailing agreed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "ready");
    assert_eq!(approved["decided_by"]["name"], "boss");
    assert_eq!(approved["decision_comment"], "mailing agreed");
    let (status, bytes, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv_records(&bytes).len(), 53);
    let ready = s.audit("export.ready");
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].actor_id.as_deref(), Some(nino_id.as_str()));
    // The owner cannot take the file (it carries the requester's seeds).
    let (status, _, _) = fetch(&boss, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Decided once.
    let (status, _) = boss
        .post(&format!("/api/v1/exports/{id}/reject"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The owners were told at once, with the request as evidence.
    let (status, alerts) = boss.get("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let a = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "export.over_allowance")
        .expect("alert");
    let seq = a["evidence"][0].as_i64().unwrap();
    let request = s
        .audit("export.request")
        .into_iter()
        .find(|e| e.seq == seq)
        .expect("evidence is the request event");
    assert!(request.object_ids.contains(&id));
}

#[tokio::test]
async fn a_rejected_export_never_has_a_file() {
    let (s, _clock) = server();
    s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    many_clients(&nino, 51).await;
    let (_, e) = export(&nino, json!({"format": "xlsx"})).await;
    let id = e["id"].as_str().unwrap().to_string();
    let boss = s.login_elevated("boss").await;
    let (status, r) = boss
        .post(
            &format!("/api/v1/exports/{id}/reject"),
            json!({"comment": "no reason to take 51 clients"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "rejected");
    assert!(r["file_sha256"].is_null());
    let (status, _, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = boss
        .post(&format!("/api/v1/exports/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, r) = nino.get(&format!("/api/v1/exports/{id}")).await;
    assert_eq!(r["state"], "rejected");
    assert!(s.audit("export.ready").is_empty());
    assert_eq!(s.audit("export.reject").len(), 1);
    assert!(
        s.audit("export.download")
            .iter()
            .all(|e| e.outcome == "denied")
    );
}

#[tokio::test]
async fn an_owner_never_approves_their_own_export() {
    let (s, _clock) = server();
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    // Owners may ask for 30 exports an hour; the 31st waits.
    let mut last = Value::Null;
    for _ in 0..31 {
        let (_, e) = export(&boss, json!({"format": "json"})).await;
        last = e;
    }
    assert_eq!(last["state"], "pending", "{last}");
    let id = last["id"].as_str().unwrap();
    let (status, body) = boss
        .post(&format!("/api/v1/exports/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_allowed");
    assert!(
        s.audit("export.approve")
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("own request"))
    );
}

#[tokio::test]
async fn a_leaked_file_is_traced_to_its_user() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("gio", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    let gio = s.login("gio").await;
    for name in ["Ана Петрова", "Ólafur Þórsson", "ნინო ბერიძე"] {
        nino.create_client(json!({"name": name})).await;
        gio.create_client(json!({"name": format!("{name} II")}))
            .await;
    }
    // Both export; nino's file leaks.
    let (_, theirs) = export(&gio, json!({"format": "csv"})).await;
    let (_, e) = export(&nino, json!({"format": "csv"})).await;
    let id = e["id"].as_str().unwrap().to_string();
    let (_, leaked, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    let (_, _, _) = fetch(
        &gio,
        &format!("/api/v1/exports/{}/file", theirs["id"].as_str().unwrap()),
    )
    .await;

    let boss = s.login_elevated("boss").await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&leaked);
    let (status, t) = boss
        .post("/api/v1/exports/trace", json!({"file_base64": b64}))
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let hit = &t["hits"][0];
    assert_eq!(hit["export"]["id"], id.as_str());
    assert_eq!(hit["export"]["requested_by"]["id"], nino_id.as_str());
    assert_eq!(hit["exact_file"], true);
    assert_eq!(hit["seeds_found"], 2);
    assert_eq!(t["hits"].as_array().unwrap().len(), 1, "{t}");

    // A part of the file, re-typed into another sheet, still points at nino.
    let records = csv_records(&leaked);
    let seed = records
        .iter()
        .find(|r| r[6].ends_with(SEED_DOMAIN))
        .unwrap()
        .clone();
    let partial = format!(
        "Name;Phone;Mail\n{};{};{}\nSomeone;+1 555 0100;a@b.org\n",
        seed[2],
        seed[5].trim_start_matches('\''),
        seed[6].to_uppercase()
    );
    let (_, t) = boss
        .post(
            "/api/v1/exports/trace",
            json!({"file_base64": base64::engine::general_purpose::STANDARD.encode(partial)}),
        )
        .await;
    assert_eq!(t["hits"][0]["export"]["id"], id.as_str(), "{t}");
    assert_eq!(t["hits"][0]["exact_file"], false);

    // One seed email that received mail, or one seed number that was called.
    let (_, t) = boss
        .post("/api/v1/exports/trace", json!({"email": seed[6]}))
        .await;
    assert_eq!(
        t["hits"][0]["export"]["requested_by"]["name"], "nino",
        "{t}"
    );
    let phone = seed[5].trim_start_matches('\'').to_string();
    let (_, t) = boss
        .post("/api/v1/exports/trace", json!({"phone": phone}))
        .await;
    assert_eq!(t["hits"][0]["export"]["id"], id.as_str(), "{t}");
    // The owner's list shows the seeds against the export.
    let (status, sv) = boss.get(&format!("/api/v1/exports/seeds?ids={id}")).await;
    assert_eq!(status, StatusCode::OK, "{sv}");
    assert_eq!(sv["items"].as_array().unwrap().len(), 2);

    // Only owners trace; the attempt is recorded.
    let (status, _) = nino
        .post("/api/v1/exports/trace", json!({"email": seed[6]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        s.audit("export.trace")
            .iter()
            .any(|e| e.outcome == "denied")
    );
    assert!(s.audit("export.trace").iter().any(|e| e.outcome == "ok"));

    // The console command names the export, the user and the time.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leak.csv");
    std::fs::write(&file, &leaked).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_TEST_DATABASE_URL")
            .env("HOLDFAST_DATABASE__URL", &s.db.url)
            .env("HOLDFAST_DATA_DIR", s.data_dir.path())
            .env("HOLDFAST_LOG__FORMAT", "json")
            .output()
            .unwrap()
    };
    let out = run(&["trace", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&id) && text.contains("nino"), "{text}");
    let out = run(&["trace", "--email", "nobody@example.org"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        s.audit("export.trace")
            .iter()
            .any(|e| e.actor_role.as_deref() == Some("console"))
    );
}

async fn alerts_of(boss: &Client, kind: &str) -> Vec<Value> {
    let (status, a) = boss.get("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK, "{a}");
    a["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn decoys_raise_an_alert_on_every_path_that_touches_them() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    s.add_user("it", Role::Admin, None);
    let boss = s.login_elevated("boss").await;
    let nino = s.login("nino").await;
    nino.create_client(json!({"name": "Real Client"})).await;

    let (status, d) = boss
        .post("/api/v1/decoys", json!({"owner_id": nino_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let decoy = d["client_id"].as_str().unwrap().to_string();
    let (status, _) = nino
        .post("/api/v1/decoys", json!({"owner_id": nino_id}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // It sits in nino's list like any client; a list is not a touch.
    let (_, list) = nino.get("/api/v1/clients").await;
    assert!(list.to_string().contains(&decoy));
    assert!(alerts_of(&boss, "decoy.touched").await.is_empty());

    // Every touch raises a high-severity alert at once, with its event as evidence.
    let touches: Vec<(&str, (StatusCode, Value))> = vec![
        (
            "client.read",
            nino.get(&format!("/api/v1/clients/{decoy}")).await,
        ),
        (
            "timeline.read",
            nino.get(&format!("/api/v1/clients/{decoy}/timeline")).await,
        ),
        (
            "client.update",
            nino.patch(
                &format!("/api/v1/clients/{decoy}"),
                json!({"status": "warm"}),
            )
            .await,
        ),
        (
            "timeline.add",
            nino.post(
                &format!("/api/v1/clients/{decoy}/timeline"),
                json!({"kind": "note", "body": "called"}),
            )
            .await,
        ),
        (
            "export.ready",
            export(&nino, json!({"format": "csv"})).await,
        ),
    ];
    let alerts = alerts_of(&boss, "decoy.touched").await;
    for (action, (status, body)) in &touches {
        assert!(status.is_success(), "{action}: {body}");
        let a = alerts
            .iter()
            .find(|a| a["detail"]["action"] == *action)
            .unwrap_or_else(|| panic!("no alert for {action}: {alerts:?}"));
        assert_eq!(a["severity"], "high");
        assert_eq!(a["subject_user"], nino_id.as_str());
        let seq = a["evidence"][0].as_i64().unwrap();
        let ev = s
            .audit(action)
            .into_iter()
            .find(|e| e.seq == seq)
            .unwrap_or_else(|| panic!("evidence of {action}"));
        assert!(ev.object_ids.contains(&decoy));
        assert_eq!(ev.actor_id.as_deref(), Some(nino_id.as_str()));
    }

    // Someone outside writes to a decoy's address through the web form: its
    // contacts have left the company.
    let (status, d2) = boss
        .post(
            "/api/v1/decoys",
            json!({"owner_id": nino_id, "name": "Ирина Орлова",
                   "emails": [format!("irina.orlova77@{SEED_DOMAIN}")]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d2}");
    let res = s
        .client()
        .raw(Method::POST, "/intake/form")
        .header("accept", "application/json")
        .form(&[
            ("name", "Irina"),
            ("email", format!("Irina.Orlova77@{SEED_DOMAIN}").as_str()),
            ("message", "your colleague gave me this address"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let outside = alerts_of(&boss, "decoy.touched").await;
    let a = outside
        .iter()
        .find(|a| a["detail"]["action"] == "intake.form")
        .unwrap_or_else(|| panic!("{outside:?}"));
    assert!(
        a["detail"]["decoys"]
            .to_string()
            .contains(d2["client_id"].as_str().unwrap())
    );
    let alerts = alerts_of(&boss, "decoy.touched").await;

    // Acknowledged with a comment, audited; admins see only admins' alerts.
    let first = alerts[0]["id"].as_str().unwrap();
    let (status, body) = boss
        .post(
            &format!("/api/v1/alerts/{first}/acknowledge"),
            json!({"comment": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, acked) = boss
        .post(
            &format!("/api/v1/alerts/{first}/acknowledge"),
            json!({"comment": "talked to nino: a test of the decoy"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert!(acked["acknowledged_at"].is_string());
    let (status, _) = boss
        .post(
            &format!("/api/v1/alerts/{first}/acknowledge"),
            json!({"comment": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(s.audit("alert.acknowledge").len(), 1);
    assert_eq!(
        alerts_of(&boss, "decoy.touched").await.len(),
        alerts.len() - 1
    );
    let (status, _) = nino.get("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(s.audit("alert.list").iter().any(|e| e.outcome == "denied"));
    let it = s.login_elevated("it").await;
    let (status, a) = it.get("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert!(!a.to_string().contains("decoy"), "{a}");
}

#[tokio::test]
async fn reassignments_need_a_reason_are_limited_and_moving_to_oneself_is_flagged() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    let gio_id = s.add_user("gio", Role::Sales, Some("north"));
    let lead_id = s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let gio = s.login("gio").await;
    let nino = s.login("nino").await;
    let lead = s.login("lead").await;
    let mut theirs = vec![];
    for i in 0..54 {
        theirs.push(
            gio.create_client(json!({"name": format!("ქეთი {i}")}))
                .await,
        );
    }
    let body = |ids: &[String], to: &str, reason: &str| json!({"client_ids": ids, "to_owner": to, "reason": reason});

    // Sales staff move nothing, not even a colleague's client to themselves.
    let (status, _) = nino
        .post(
            "/api/v1/reassignments",
            body(&theirs[..1], &nino_id, "mine now"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        s.audit("client.reassign")
            .iter()
            .any(|e| e.outcome == "denied" && e.actor_id.as_deref() == Some(nino_id.as_str()))
    );

    // A reason is required.
    let (status, b) = lead
        .post("/api/v1/reassignments", body(&theirs[..1], &nino_id, "  "))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // A team lead moves a client within the team: before and after owner audited.
    let (status, r) = lead
        .post(
            "/api/v1/reassignments",
            body(&theirs[..1], &nino_id, "gio is on leave"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "done");
    let ev = s
        .audit("client.reassign")
        .into_iter()
        .find(|e| e.outcome == "ok")
        .unwrap();
    assert!(ev.detail.contains(&gio_id) && ev.detail.contains(&nino_id));
    assert!(ev.detail.contains("gio is on leave"));
    let (_, card) = nino.get(&format!("/api/v1/clients/{}", theirs[0])).await;
    assert_eq!(card["client"]["owner"]["id"], nino_id.as_str());

    // Moving colleagues' clients to oneself raises a high-severity alert.
    let (status, r) = lead
        .post(
            "/api/v1/reassignments",
            body(&theirs[1..3], &lead_id, "I will call them"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let boss = s.login_elevated("boss").await;
    let alerts = alerts_of(&boss, "reassign.to_self").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["severity"], "high");
    assert_eq!(alerts[0]["subject_user"], lead_id.as_str());
    let seq = alerts[0]["evidence"][0].as_i64().unwrap();
    assert!(
        s.audit("client.reassign")
            .iter()
            .any(|e| e.seq == seq && e.object_ids.contains(&theirs[1]))
    );

    // A bulk move beyond the allowance waits; nothing moves until an owner approves.
    let bulk = theirs[3..54].to_vec();
    let (status, r) = lead
        .post(
            "/api/v1/reassignments",
            body(&bulk, &nino_id, "territory change"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["state"], "pending");
    assert_eq!(r["over_allowance"][0]["limit"], "bulk_reassign_max");
    let req = r["request"].as_str().unwrap().to_string();
    let (_, card) = gio.get(&format!("/api/v1/clients/{}", bulk[0])).await;
    assert_eq!(card["client"]["owner"]["id"], gio_id.as_str());
    let (status, _) = lead
        .post(&format!("/api/v1/reassignments/{req}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, pending) = boss.get("/api/v1/reassignments/pending").await;
    assert_eq!(pending["items"][0]["id"], req.as_str(), "{pending}");
    let (status, done) = boss
        .post(
            &format!("/api/v1/reassignments/{req}/approve"),
            json!({"comment": "agreed in the meeting"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    let (_, card) = nino.get(&format!("/api/v1/clients/{}", bulk[50])).await;
    assert_eq!(card["client"]["owner"]["id"], nino_id.as_str());
    assert_eq!(
        s.audit("reassign.approve")
            .iter()
            .map(|e| e.outcome.as_str())
            .collect::<Vec<_>>(),
        ["ok", "denied"]
    );

    let (status, d) = boss
        .post("/api/v1/decoys", json!({"owner_id": gio_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let decoy = d["client_id"].as_str().unwrap().to_string();
    // Moving a decoy is a touch like any other.
    let (status, r) = lead
        .post(
            "/api/v1/reassignments",
            body(std::slice::from_ref(&decoy), &nino_id, "tidying up"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let decoy_alerts = alerts_of(&boss, "decoy.touched").await;
    assert!(
        decoy_alerts
            .iter()
            .any(|a| a["detail"]["action"] == "client.reassign"),
        "{decoy_alerts:?}"
    );
}

#[tokio::test]
async fn the_owners_page_shows_alerts_with_evidence_waiting_exports_and_seeds() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    many_clients(&nino, 51).await;
    let (_, waiting) = export(&nino, json!({"format": "csv", "reason": "mailing"})).await;
    let waiting = waiting["id"].as_str().unwrap().to_string();
    let boss = s.login_elevated("boss").await;
    let (_, d) = boss
        .post("/api/v1/decoys", json!({"owner_id": nino_id}))
        .await;
    let decoy = d["client_id"].as_str().unwrap();
    nino.get(&format!("/api/v1/clients/{decoy}")).await;

    let (status, html, _) = fetch(&boss, "/control").await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("decoy.touched"), "{html}");
    assert!(html.contains("/audit?request_id="), "evidence link");
    assert!(html.contains(&format!("pending-{waiting}")));
    assert!(html.contains(&format!("/clients/{decoy}")));

    // Approving from the page is the same guarded decision.
    let res = boss
        .raw(Method::POST, &format!("/control/exports/{waiting}/approve"))
        .form(&[
            ("csrf", boss.csrf.clone().unwrap()),
            ("comment", "ok".to_string()),
        ])
        .send()
        .await
        .unwrap();
    // The 303 leads back to the page.
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.url().path(), "/control");
    let (_, e) = nino.get(&format!("/api/v1/exports/{waiting}")).await;
    assert_eq!(e["state"], "ready");
    let (_, html, _) = fetch(&boss, "/control").await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains(SEED_DOMAIN), "seeds of recent exports");

    // Not for sales staff, and the refusal is recorded.
    let (status, _, _) = fetch(&nino, "/control").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(s.audit("alert.list").iter().any(|e| e.outcome == "denied"));
}

#[tokio::test]
async fn requests_at_the_same_moment_cannot_share_one_allowance() {
    let (s, _clock) = server();
    s.add_user("nino", Role::Sales, Some("north"));
    let nino = s.login("nino").await;
    nino.create_client(json!({"name": "Only Client"})).await;
    // Sales may ask for 5 exports an hour: eight at once leave exactly three waiting.
    let requests = (0..8).map(|_| export(&nino, json!({"format": "json"})));
    let results = futures_util::future::join_all(requests).await;
    let states: Vec<String> = results
        .iter()
        .map(|(st, e)| {
            assert!(st.is_success(), "{e}");
            e["state"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "ready").count(),
        5,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| *s == "pending").count(),
        3,
        "{states:?}"
    );
}

#[tokio::test]
async fn a_leaked_spreadsheet_is_traced_too() {
    let (s, _clock) = server();
    let nino_id = s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let nino = s.login("nino").await;
    nino.create_client(json!({"name": "محمد الأحمد"})).await;
    let (_, e) = export(&nino, json!({"format": "xlsx"})).await;
    let id = e["id"].as_str().unwrap().to_string();
    let (_, leaked, _) = fetch(&nino, &format!("/api/v1/exports/{id}/file")).await;
    let boss = s.login_elevated("boss").await;
    let (status, t) = boss
        .post(
            "/api/v1/exports/trace",
            json!({"file_base64": base64::engine::general_purpose::STANDARD.encode(&leaked)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        t["hits"][0]["export"]["requested_by"]["id"],
        nino_id.as_str()
    );
    assert_eq!(t["hits"][0]["exact_file"], true);
    assert_eq!(t["hits"][0]["seeds_found"], 2, "{t}");
}
