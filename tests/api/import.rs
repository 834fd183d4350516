//! CSV import of clients over HTTP: upload → preview → mapping and policy →
//! all-or-nothing commit with one audit event; every malformed file refused
//! with a clear error and nothing changed; duplicates skipped, merged or
//! created; the scope rules from the attacker's side.

use diesel::prelude::*;
use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, ManualClock, Options, TestServer};

fn server() -> TestServer {
    TestServer::start_with(Options {
        tweak: Some(|c| {
            c.import.max_bytes = 16 * 1024;
            c.import.max_rows = 50;
            c.import.max_columns = 12;
            c.import.max_cell_chars = 300;
        }),
        ..Options::default()
    })
}

async fn upload(c: &Client, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let res = c
        .raw(
            Method::POST,
            &format!("/api/v1/imports?file_name={}", urlencoding::encode(name)),
        )
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn count(s: &TestServer, table: &str) -> i64 {
    let mut conn = s.store.conn().unwrap();
    use holdfast::store::schema::{client_contacts, clients, import_batches};
    match table {
        "clients" => clients::table.count().get_result(&mut *conn).unwrap(),
        "contacts" => client_contacts::table
            .count()
            .get_result(&mut *conn)
            .unwrap(),
        "batches" => import_batches::table
            .count()
            .get_result(&mut *conn)
            .unwrap(),
        _ => unreachable!(),
    }
}

fn contacts_of(s: &TestServer, id: &str) -> Vec<String> {
    let mut conn = s.store.conn().unwrap();
    use holdfast::store::schema::client_contacts as cc;
    cc::table
        .filter(cc::client_id.eq(id))
        .select(cc::normalized)
        .order(cc::position)
        .load(&mut *conn)
        .unwrap()
}

fn team_of(s: &TestServer, id: &str) -> (Option<String>, Option<String>) {
    let mut conn = s.store.conn().unwrap();
    use holdfast::store::schema::clients;
    clients::table
        .filter(clients::id.eq(id))
        .select((clients::owner_id, clients::team_id))
        .first(&mut *conn)
        .unwrap()
}

fn utf16(text: &str, le: bool) -> Vec<u8> {
    let mut out = if le {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
    }
    out
}

const NAMES: [&str; 4] = [
    "ნინო ბერიძე",
    "محمد الأحمد",
    "Иван Петров",
    "Şəhla Məmmədova-Núñez",
];

#[tokio::test]
async fn manager_imports_with_preview_mapping_and_one_audited_commit() {
    let s = server();
    let mid = s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("other-lead", Role::Manager, Some("south"));
    let lead = s.login("lead").await;
    let file = format!(
        "\u{feff}Имя;Телефон;E-mail;Компания;Notes\n\
         {};+995 599 11 22 33;nino@example.ge;=HYPERLINK(\"http://evil.example\",\"x\");a\n\
         {};+995 599 11 22 44;;@SUM(1+1);b\n\
         {};;ivan@example.ru;;c\n\
         {};;;Ünal & Co;d\n",
        NAMES[0], NAMES[1], NAMES[2], NAMES[3]
    );
    let (st, v) = upload(&lead, "clients.csv", file.into_bytes()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["encoding"], "utf-8 (BOM)");
    assert_eq!(v["delimiter"], ";");
    assert_eq!(
        v["mapping"],
        json!(["name", "phone", "email", "company", null])
    );
    assert_eq!(v["summary"]["rows"], 4);
    assert_eq!(v["summary"]["create"], 4);
    assert_eq!(v["issues"], json!([]));
    assert_eq!(v["preview"][0]["cells"][0], NAMES[0]);
    // Staging changed no client.
    assert_eq!(count(&s, "clients"), 0);

    // The preview reads back the same.
    let (st, again) = lead.get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["preview"], v["preview"]);

    let (st, done) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["rows"], 4);
    let created: Vec<String> = done["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 4);
    assert_eq!(count(&s, "clients"), 4);

    // Names in every script round-trip exactly; formulas are text.
    for (i, cid) in created.iter().enumerate() {
        let (st, card) = lead.get(&format!("/api/v1/clients/{cid}")).await;
        assert_eq!(st, StatusCode::OK, "{card}");
        assert_eq!(card["client"]["name"], NAMES[i]);
        // The manager's imports land in the manager's team, owned by them.
        assert_eq!(
            team_of(&s, cid),
            (Some(mid.clone()), Some(team_id(&s, "north")))
        );
    }
    let (_, first) = lead.get(&format!("/api/v1/clients/{}", created[0])).await;
    assert_eq!(
        first["client"]["company"],
        "=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(
        contacts_of(&s, &created[0]),
        vec!["+995599112233", "nino@example.ge"]
    );

    // ONE audit event for the import, with its row count and every id.
    let events = s.audit("client.import");
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.outcome, "ok");
    let detail: Value = serde_json::from_str(&ev.detail).unwrap();
    assert_eq!(detail["rows"], 4);
    assert_eq!(detail["created"], 4);
    let ids: Vec<String> = serde_json::from_str(&ev.object_ids).unwrap();
    assert_eq!(ids, created);

    // Committed once: a second commit is refused and changes nothing.
    let (st, _) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(count(&s, "clients"), 4);

    // Another team's lead does not see them.
    let other = s.login("other-lead").await;
    let (st, _) = other.get(&format!("/api/v1/clients/{}", created[0])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

fn team_id(s: &TestServer, name: &str) -> String {
    let mut conn = s.store.conn().unwrap();
    use holdfast::store::schema::teams;
    teams::table
        .filter(teams::name.eq(name))
        .select(teams::id)
        .first(&mut *conn)
        .unwrap()
}

#[tokio::test]
async fn utf16_and_every_delimiter_are_read() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            utf16(
                &format!("name\tphone\n{}\t+995 599 00 00 01\n", NAMES[0]),
                true,
            ),
            "utf-16le",
            "\t",
        ),
        (
            utf16(
                &format!("name,email\n\"{}\",m@example.ae\n", NAMES[1]),
                false,
            ),
            "utf-16be",
            ",",
        ),
        (
            format!("name|email\n{}|ivan@example.ru\n", NAMES[2]).into_bytes(),
            "utf-8",
            "|",
        ),
    ];
    for (bytes, encoding, delimiter) in cases {
        let (st, v) = upload(&lead, "x.csv", bytes).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["encoding"], encoding);
        assert_eq!(v["delimiter"], delimiter);
        assert_eq!(v["issues"], json!([]), "{v}");
        let (st, done) = lead
            .post(
                &format!("/api/v1/imports/{}/commit", v["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{done}");
    }
    assert_eq!(count(&s, "clients"), 3);
    let (_, page) = lead.get("/api/v1/clients").await;
    let mut names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = NAMES[..3].iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
}

#[tokio::test]
async fn malformed_files_get_a_clear_error_and_change_nothing() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    lead.create_client(json!({"name": "Existing"})).await;
    let wide: String = (0..13)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let many_rows: String = std::iter::once("name\n".to_string())
        .chain((0..51).map(|i| format!("n{i}\n")))
        .collect();
    let mut garbage = Vec::new();
    let mut x: u32 = 7;
    for _ in 0..(20 * 1024) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("empty", vec![], StatusCode::UNPROCESSABLE_ENTITY, "empty"),
        (
            "header only",
            b"name,phone\r\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no data rows",
        ),
        (
            "latin-1",
            b"name\nJos\xe9 N\xfa\xf1ez\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not valid UTF-8 (line 2)",
        ),
        (
            "binary",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UTF-8",
        ),
        (
            "nul bytes",
            b"name\na\0b\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NUL",
        ),
        (
            "utf-16 cut short",
            vec![0xFF, 0xFE, b'a', 0, b'b'],
            StatusCode::UNPROCESSABLE_ENTITY,
            "odd number of bytes",
        ),
        (
            "ragged",
            b"name,phone\nA,1\nB\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "row 3 has 1 cells, but the header has 2",
        ),
        (
            "too many columns",
            format!("{wide}\n{wide}\n").into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "13 columns",
        ),
        (
            "too many rows",
            many_rows.into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "more than 50 data rows",
        ),
        (
            "overlong cell",
            format!("name\n{}\n", "x".repeat(301)).into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "longer than 300 characters",
        ),
        (
            "garbage",
            garbage,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
    ];
    for (what, bytes, status, says) in cases {
        let before = (count(&s, "clients"), count(&s, "batches"));
        let (st, v) = upload(&lead, "bad.csv", bytes).await;
        assert_eq!(st, status, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
        assert!(!v["error"]["request_id"].as_str().unwrap_or("").is_empty());
        assert_eq!(
            (count(&s, "clients"), count(&s, "batches")),
            before,
            "{what} changed something"
        );
    }
    // Refusals of a file are audited as failed uploads.
    assert!(
        s.audit("client.import.upload")
            .iter()
            .any(|e| e.outcome == "failed")
    );
}

#[tokio::test]
async fn one_bad_row_refuses_the_whole_import() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let file = "name,email,status\n\
                Good One,good@example.com,\n\
                Bad Mail,not-an-email,\n\
                ,blank@example.com,\n\
                Bad Status,x@example.com,nonsense\n";
    let (st, v) = upload(&lead, "x.csv", file.into()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap();
    assert_eq!(v["issues_total"], 3, "{v}");
    let issues = v["issues"].as_array().unwrap();
    assert_eq!(issues[0]["row"], 3);
    assert_eq!(issues[0]["column"], 2);
    assert_eq!(issues[0]["header"], "email");
    assert!(
        issues[0]["message"]
            .as_str()
            .unwrap()
            .contains("not-an-email"),
        "{v}"
    );
    assert_eq!(issues[1]["row"], 4);
    assert_eq!(issues[1]["field"], "name");
    assert_eq!(issues[2]["row"], 5);
    assert_eq!(issues[2]["field"], "status");

    let before = (count(&s, "clients"), count(&s, "contacts"));
    let (st, e) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 rows have problems; nothing was imported"),
        "{e}"
    );
    assert_eq!((count(&s, "clients"), count(&s, "contacts")), before);
    assert_eq!(s.audit("client.import")[0].outcome, "failed");

    // Ignoring the bad columns leaves one bad row (the blank name): still refused.
    let (st, v) = lead
        .send(
            Method::PUT,
            &format!("/api/v1/imports/{id}"),
            Some(json!({"mapping": ["name", null, null]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["issues_total"], 1);
    let (st, _) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&s, "clients"), before.0);

    // A mapping without a name column is refused by the commit too.
    let (st, e) = lead
        .post(
            &format!("/api/v1/imports/{id}/commit"),
            json!({"mapping": [null, "email", null]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(count(&s, "clients"), before.0);
    // An unknown field is refused by name.
    let (st, e) = lead
        .send(
            Method::PUT,
            &format!("/api/v1/imports/{id}"),
            Some(json!({"mapping": ["name", "password", null]})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}

#[tokio::test]
async fn duplicates_are_skipped_merged_or_created() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let nino = lead
        .create_client(json!({
            "name": "ნინო ბერიძე", "company": "Old Co",
            "phones": ["+995 599 12 34 56"], "emails": ["nino@example.ge"],
        }))
        .await;
    let ivan = lead.create_client(json!({"name": "Иван Петров"})).await;
    let file = "name,phone,email,company,address\n\
                Nino B.,00995-599-123-456,nino.b@example.ge,New Co,Tbilisi\n\
                ИВАН  ПЕТРОВ,,ivan@example.ru,,\n\
                Fresh Person,,fresh@example.com,,\n\
                Fresh P.,+995 599 77 77 77,FRESH@example.com,,Batumi\n";
    let upload_one = || async {
        let (st, v) = upload(&lead, "d.csv", file.into()).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v
    };

    // Skip (the default): rows 2 and 3 match existing clients, row 5 matches row 4.
    let v = upload_one().await;
    let dups = v["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 3, "{v}");
    assert_eq!(dups[0]["row"], 2);
    assert_eq!(dups[0]["client_id"], nino.as_str());
    assert_eq!(dups[0]["by"], "phone");
    assert_eq!(dups[1]["row"], 3);
    assert_eq!(dups[1]["client_id"], ivan.as_str());
    assert_eq!(dups[1]["by"], "name");
    assert_eq!(dups[2]["row"], 5);
    assert_eq!(dups[2]["same_as_row"], 4);
    assert_eq!(dups[2]["by"], "email");
    let before = count(&s, "clients");
    let (st, done) = lead
        .post(
            &format!("/api/v1/imports/{}/commit", v["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["created"].as_array().unwrap().len(), 1);
    assert_eq!(done["skipped"], 3);
    assert_eq!(count(&s, "clients"), before + 1);

    // Merge, with row 3 created anyway: nothing overwritten, new channels added.
    let v = upload_one().await;
    let id = v["id"].as_str().unwrap();
    let (st, v) = lead
        .send(
            Method::PUT,
            &format!("/api/v1/imports/{id}"),
            Some(json!({"policy": "merge", "decisions": {"3": "create"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The company differs: the card keeps its own, and the preview says so.
    assert!(
        v["kept"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["row"] == 2 && k["field"] == "company"),
        "{v}"
    );
    let before = count(&s, "clients");
    let (st, done) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    // Row 2 merges into Nino; row 3 is created anyway; the "fresh" person exists
    // now (from the skip run), so rows 4 and 5 merge into that card.
    let merged: Vec<String> = done["merged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(merged.len(), 2, "{done}");
    assert_eq!(merged[0], nino);
    assert_eq!(done["created"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(count(&s, "clients"), before + 1);
    let (_, card) = lead.get(&format!("/api/v1/clients/{nino}")).await;
    assert_eq!(card["client"]["company"], "Old Co");
    assert_eq!(card["client"]["address"], "Tbilisi");
    assert_eq!(card["client"]["name"], "ნინო ბერიძე");
    assert_eq!(
        contacts_of(&s, &nino),
        vec!["+995599123456", "nino@example.ge", "nino.b@example.ge"]
    );
    assert_eq!(
        contacts_of(&s, &merged[1]),
        vec!["+995599777777", "fresh@example.com"]
    );
    let (_, card) = lead.get(&format!("/api/v1/clients/{}", merged[1])).await;
    assert_eq!(card["client"]["name"], "Fresh Person");
    assert_eq!(card["client"]["address"], "Batumi");
    // One event for the whole import, naming the created and merged cards.
    let ev = &s.audit("client.import")[0];
    let ids: Vec<String> = serde_json::from_str(&ev.object_ids).unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&nino));

    // Create: every row becomes a new card (flagged as a possible duplicate).
    let v = upload_one().await;
    let before = count(&s, "clients");
    let (st, done) = lead
        .post(
            &format!("/api/v1/imports/{}/commit", v["id"].as_str().unwrap()),
            json!({"policy": "create"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(count(&s, "clients"), before + 4);
}

#[tokio::test]
async fn within_the_file_a_merge_folds_rows_together() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let file = "name,phone,email,address\n\
                Tamar Lomidze,+995 599 55 55 55,,\n\
                Tamar Lomidze,,tamar@example.ge,Kutaisi\n";
    let (_, v) = upload(&lead, "f.csv", file.into()).await;
    let (st, done) = lead
        .post(
            &format!("/api/v1/imports/{}/commit", v["id"].as_str().unwrap()),
            json!({"policy": "merge"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    let created = done["created"].as_array().unwrap();
    assert_eq!(created.len(), 1);
    let id = created[0].as_str().unwrap();
    assert_eq!(
        contacts_of(&s, id),
        vec!["+995599555555", "tamar@example.ge"]
    );
    let (_, card) = lead.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["address"], "Kutaisi");
}

#[tokio::test]
async fn sales_are_refused_and_a_staged_import_is_its_uploaders_alone() {
    let s = server();
    s.add_user("sales", Role::Sales, Some("north"));
    s.add_user("lead", Role::Manager, Some("north"));
    s.add_user("lead2", Role::Manager, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let sales = s.login("sales").await;
    let (st, e) = upload(&sales, "x.csv", b"name\nA\n".to_vec()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, _) = sales.get("/api/v1/imports").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let denied = s.audit("client.import.upload");
    assert!(
        denied
            .iter()
            .any(|e| e.outcome == "denied" && e.actor_role.as_deref() == Some("sales"))
    );
    // The page refuses too, and the client list offers no import.
    let res = sales.raw(Method::GET, "/imports").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let list = sales.raw(Method::GET, "/clients").send().await.unwrap();
    assert!(!list.text().await.unwrap().contains("id=\"import-clients\""));

    let lead = s.login("lead").await;
    let (st, v) = upload(&lead, "x.csv", b"name\nSecret Prospect\n".to_vec()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // A colleague (same team, same role) can neither see nor commit nor discard it.
    let lead2 = s.login("lead2").await;
    let (st, _) = lead2.get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = lead2
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = lead2.delete(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = lead2.get("/api/v1/imports").await;
    assert_eq!(list["items"], json!([]));
    let res = lead2
        .raw(Method::GET, &format!("/imports/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        s.audit("client.import.read")
            .iter()
            .any(|e| e.outcome == "denied"
                && e.detail.contains("outside scope")
                && e.object_ids.contains(&id))
    );
    assert!(
        s.audit("client.import")
            .iter()
            .any(|e| e.outcome == "denied" && e.object_ids.contains(&id))
    );
    assert_eq!(count(&s, "clients"), 0);

    // An owner needs the hardware key, like for any write of client data.
    let boss = s.login("boss").await;
    let (st, e) = upload(&boss, "x.csv", b"name\nA\n".to_vec()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"]["code"], "key_proof_required");
    let boss = s.login_elevated("boss").await;
    let (st, v) = upload(&boss, "x.csv", b"name\nOwner Import\n".to_vec()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _) = boss
        .post(
            &format!("/api/v1/imports/{}/commit", v["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // The uploader can still commit their own.
    let (st, done) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(count(&s, "clients"), 2);
}

#[tokio::test]
async fn the_pages_preview_and_commit() {
    let s = server();
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let list = lead.raw(Method::GET, "/clients").send().await.unwrap();
    assert!(list.text().await.unwrap().contains("href=\"/imports\""));
    let res = lead.raw(Method::GET, "/imports").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"import-upload\""));
    assert!(!html.contains("<script>"));

    let file = format!("Name,Phone\n{},+995 599 00 00 09\n", NAMES[0]);
    let (_, v) = upload(&lead, "page.csv", file.into_bytes()).await;
    let id = v["id"].as_str().unwrap();
    let html = lead
        .raw(Method::GET, &format!("/imports/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(NAMES[0]), "{html}");
    assert!(html.contains("name=\"col_0\""));
    assert!(html.contains("id=\"import-commit\""));

    // The commit button posts the settings form (mapping and policy as shown).
    let res = lead
        .raw(Method::POST, &format!("/imports/{id}/commit"))
        .form(&[
            ("csrf", lead.csrf.clone().unwrap()),
            ("col_0", "name".into()),
            ("col_1", "phone".into()),
            ("policy", "skip".into()),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"import-done\""), "{html}");
    assert_eq!(count(&s, "clients"), 1);
}

#[tokio::test]
async fn a_staged_import_expires_and_is_deleted() {
    let clock = ManualClock::new();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    });
    s.add_user("lead", Role::Manager, Some("north"));
    let lead = s.login("lead").await;
    let (st, v) = upload(&lead, "x.csv", b"name\nLate Lead\n".to_vec()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    clock.advance(chrono::Duration::hours(25));
    // Keep the session alive across the jump, as a returning user would.
    let lead = s.login("lead").await;
    let (st, _) = lead.get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = lead
        .post(&format!("/api/v1/imports/{id}/commit"), json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(count(&s, "clients"), 0);
    // The next upload clears expired ones: the old file is gone from the database.
    let (st, _) = upload(&lead, "y.csv", b"name\nNew Lead\n".to_vec()).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(count(&s, "batches"), 1);
}
