//! Client cards through the API: create, search, timeline, duplicates, soft delete.

use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

const NAMES: &[&str] = &[
    "ნინო ბერიძე",
    "محمد عبد الله",
    "Иван Петров",
    "Oʻtkir Yoʻldoshev",
    "Şəhla Məmmədova",
    "Zoë Łukasiewicz-Dvořák",
];

#[tokio::test]
async fn names_in_any_script_round_trip_and_are_searchable() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let mut ids = vec![];
    for name in NAMES {
        let id = c
            .create_client(json!({"name": name, "address": format!("{name}\nქუჩა 1, თბილისი")}))
            .await;
        let (_, card) = c.get(&format!("/api/v1/clients/{id}")).await;
        assert_eq!(card["client"]["name"], *name, "byte-for-byte");
        ids.push(id);
    }
    for (name, id) in NAMES.iter().zip(&ids) {
        // Search by the first word's prefix, in its own script.
        let first: String = name
            .split_whitespace()
            .next()
            .unwrap()
            .chars()
            .take(3)
            .collect();
        let (st, page) = c
            .get(&format!(
                "/api/v1/clients?q={}",
                urlencoding::encode(&first)
            ))
            .await;
        assert_eq!(st, StatusCode::OK);
        let found: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert!(
            found.contains(&id.as_str()),
            "searching {first:?} for {name}: {page}"
        );
    }
}

#[tokio::test]
async fn search_by_phone_email_and_company() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let id = c
        .create_client(json!({
            "name": "Nino", "company": "Kavkaz Logistics",
            "phones": ["+995 555 12 34 56"], "emails": ["Nino.B@Example.GE"]
        }))
        .await;
    c.create_client(json!({"name": "Someone else", "phones": ["+998 90 123 45 67"]}))
        .await;
    for q in [
        "555 12 34",
        "+995555123456",
        "nino.b@example.ge",
        "example",
        "kavkaz",
        "logist",
    ] {
        let (_, page) = c
            .get(&format!("/api/v1/clients?q={}", urlencoding::encode(q)))
            .await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{q}: {page}");
        assert_eq!(items[0]["id"], id.as_str());
    }
    // Search syntax in the query is plain text, never an error or an injection.
    for q in [
        "\"",
        "'; DROP TABLE clients; --",
        "NEAR(a b)",
        "a OR b",
        "*",
        "-x",
        "é\u{301}",
    ] {
        let (st, _) = c
            .get(&format!("/api/v1/clients?q={}", urlencoding::encode(q)))
            .await;
        assert_eq!(st, StatusCode::OK, "{q}");
    }
}

#[tokio::test]
async fn phones_and_emails_are_normalised_and_duplicates_flagged() {
    let s = TestServer::start();
    let n1 = s.add_user("sales.n1", Role::Sales, Some("north"));
    s.add_user("sales.s1", Role::Sales, Some("south"));
    let a = s.login("sales.n1").await;
    let (st, created) = a
        .post(
            "/api/v1/clients",
            json!({"name": "First", "phones": ["00995 555-12-34-56"], "emails": [" A@B.GE "]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(created["duplicate"], false);
    assert_eq!(
        created["client"]["phones"][0]["normalized"],
        "+995555123456"
    );
    assert_eq!(created["client"]["emails"][0]["normalized"], "a@b.ge");
    assert_eq!(created["client"]["owner"]["id"], n1.as_str());
    // Someone in another team enters the same person: flagged, not silently doubled.
    let b = s.login("sales.s1").await;
    let (st, dup) = b
        .post(
            "/api/v1/clients",
            json!({"name": "Same person", "phones": ["+995555123456"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["client"]["possible_duplicate"], true);
    // The colleague's client stays invisible: not even its id is given out.
    assert!(dup["client"]["duplicate_of"].is_null(), "{dup}");
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let dup_id = dup["client"]["id"].as_str().unwrap();
    let (_, card) = boss.get(&format!("/api/v1/clients/{dup_id}")).await;
    assert_eq!(card["client"]["duplicate_of"], created["client"]["id"]);
    let (_, flagged) = b.get("/api/v1/clients?duplicates=true").await;
    assert_eq!(flagged["items"].as_array().unwrap().len(), 1);
    // The audit event names the match, for the owner to review.
    assert!(
        s.audit("client.create")
            .iter()
            .any(|e| e.detail.contains(created["client"]["id"].as_str().unwrap()))
    );
}

#[tokio::test]
async fn timeline_newest_first_with_status_changes() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let id = c.create_client(json!({"name": "Timeline"})).await;
    let path = format!("/api/v1/clients/{id}/timeline");
    let (st, call) = c
        .post(&path, json!({"kind": "call", "direction": "inbound", "duration_secs": 95, "outcome": "interested",
            "recording_url": "https://pbx.example/rec/1.mp3", "occurred_at": "2026-01-02T10:00:00Z"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{call}");
    assert_eq!(
        c.post(
            &path,
            json!({"kind": "email", "subject": "Offer", "body": "Attached"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        c.post(&path, json!({"kind": "meeting", "subject": "Visit"}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        c.post(&path, json!({"kind": "note", "body": "Prefers WhatsApp"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (st, _) = c
        .patch(&format!("/api/v1/clients/{id}"), json!({"status": "hot"}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, tl) = c.get(&path).await;
    let kinds: Vec<&str> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "status_change",
            "note",
            "meeting",
            "email",
            "created",
            "call"
        ]
    );
    assert_eq!(tl["items"][0]["old_value"], "new");
    assert_eq!(tl["items"][0]["new_value"], "hot");
    // Paging the timeline.
    let (_, first) = c.get(&format!("{path}?limit=2")).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = c.get(&format!("{path}?limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["kind"], "meeting");
}

#[tokio::test]
async fn soft_delete_and_owner_restore() {
    let s = TestServer::start();
    let n1 = s.add_user("sales.n1", Role::Sales, Some("north"));
    s.add_user("manager.n", Role::Manager, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let sales = s.login("sales.n1").await;
    let id = sales.create_client(json!({"name": "To delete"})).await;
    let manager = s.login("manager.n").await;
    assert_eq!(
        manager.delete(&format!("/api/v1/clients/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sales.get(&format!("/api/v1/clients/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = sales.get("/api/v1/clients").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // Only an owner sees the deleted list and restores.
    assert_eq!(
        sales.get("/api/v1/clients?deleted=true").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        manager
            .post(&format!("/api/v1/clients/{id}/restore"), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let boss = s.login_elevated("boss").await;
    let (_, deleted) = boss.get("/api/v1/clients?deleted=true").await;
    assert_eq!(deleted["items"][0]["id"], id.as_str());
    let (st, restored) = boss
        .post(&format!("/api/v1/clients/{id}/restore"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{restored}");
    assert_eq!(restored["owner"]["id"], n1.as_str());
    let (_, card) = sales.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["name"], "To delete");
    let kinds: Vec<String> = card["timeline"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["restored", "deleted", "created"]);
}

#[tokio::test]
async fn owners_edit_the_status_list() {
    let s = TestServer::start();
    s.add_user("boss", Role::Owner, None);
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let boss = s.login_elevated("boss").await;
    let sales = s.login("sales.n1").await;
    let (st, list) = boss
        .send(
            reqwest::Method::PUT,
            "/api/v1/statuses/partner",
            Some(json!({"label": "Partner", "position": 8})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"] == "partner")
    );
    let (st, _) = sales
        .send(
            reqwest::Method::PUT,
            "/api/v1/statuses/mine",
            Some(json!({"label": "Mine"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(
        sales
            .post("/api/v1/clients", json!({"name": "P", "status": "partner"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (st, body) = sales
        .post(
            "/api/v1/clients",
            json!({"name": "P", "status": "nonsense"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "status");
}

#[tokio::test]
async fn the_read_fails_closed_when_the_audit_log_cannot_be_written() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let id = c.create_client(json!({"name": "Secret Client Name"})).await;
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
    let (st, body) = c.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(!body.to_string().contains("Secret Client Name"));
    let (st, body) = c.get("/api/v1/clients").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!body.to_string().contains("Secret Client Name"));
    // A write whose audit event cannot be stored does not happen either.
    let (st, _) = c
        .patch(&format!("/api/v1/clients/{id}"), json!({"name": "Renamed"}))
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    {
        use diesel::RunQueryDsl;
        let mut conn = s.store.conn().unwrap();
        diesel::sql_query(
            "DROP TRIGGER block_audit".to_string()
                + if s.db.is_postgres() {
                    " ON audit_events"
                } else {
                    ""
                },
        )
        .execute(&mut *conn)
        .unwrap();
    }
    let (_, card) = c.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(card["client"]["name"], "Secret Client Name");
}

#[tokio::test]
async fn audit_events_cannot_be_edited_or_deleted() {
    let s = TestServer::start();
    s.add_user("sales.n1", Role::Sales, Some("north"));
    s.login("sales.n1").await;
    use diesel::RunQueryDsl;
    let mut conn = s.store.conn().unwrap();
    assert!(
        diesel::sql_query("UPDATE audit_events SET outcome = 'ok'")
            .execute(&mut *conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("DELETE FROM audit_events")
            .execute(&mut *conn)
            .is_err()
    );
}

/// Every page of `/api/v1/clients?q=…`, `limit` at a time, following the cursor.
async fn search_pages(c: &crate::support::Client, q: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/clients?limit={limit}&q={}", urlencoding::encode(q));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (st, page) = c.get(&path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

/// One- and two-letter prefixes in the scripts clients write their names in, with
/// case folded, and (on SQLite, whose index folds them) diacritics too.
#[tokio::test]
async fn short_prefixes_in_every_script() {
    // Many list pages a minute: the detection would ask for a key.
    let s = TestServer::start_with(crate::support::Options {
        tweak: Some(|c| c.detection.enabled = false),
        ..Default::default()
    });
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let names = [
        "Ağabəy Əliyev",
        "AĞAYEVA Leyla",
        "Agnès Müller",
        "ნინო ბერიძე",
        "ნათია ლომიძე",
        "محمد الهاشمي",
        "مريم المنصوري",
        "Иван Петров",
        "Ирина Иванова",
        "Йоханна Кох",
        "Oʻtkir Yoʻldoshev",
        "Oʻgʻiloy Karimova",
        "Şəhla Məmmədova",
        "Məmməd Quliyev",
    ];
    let mut id_of = std::collections::HashMap::new();
    for name in names {
        id_of.insert(name, c.create_client(json!({ "name": name })).await);
    }
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        ("ნ", vec!["ნინო ბერიძე", "ნათია ლომიძე"]),
        ("ნი", vec!["ნინო ბერიძე"]),
        ("ბე", vec!["ნინო ბერიძე"]),
        ("م", vec!["محمد الهاشمي", "مريم المنصوري"]),
        ("ال", vec!["محمد الهاشمي", "مريم المنصوري"]),
        ("И", vec!["Иван Петров", "Ирина Иванова"]),
        ("ив", vec!["Иван Петров", "Ирина Иванова"]),
        ("ПЕ", vec!["Иван Петров"]),
        ("oʻ", vec!["Oʻtkir Yoʻldoshev", "Oʻgʻiloy Karimova"]),
        ("YOʻ", vec!["Oʻtkir Yoʻldoshev"]),
        ("mə", vec!["Şəhla Məmmədova", "Məmməd Quliyev"]),
        ("ŞƏ", vec!["Şəhla Məmmədova"]),
        (
            "m",
            vec!["Şəhla Məmmədova", "Məmməd Quliyev", "Agnès Müller"],
        ),
        ("ağ ə", vec!["Ağabəy Əliyev"]),
    ];
    // Both backends fold Latin diacritics on both sides: "ağ" is "ag", and
    // "agnes muller" finds "Agnès Müller". Letters that are not a base letter
    // plus marks stay distinct (ə is not e, й is not и).
    let ag = vec!["Ağabəy Əliyev", "AĞAYEVA Leyla", "Agnès Müller"];
    cases.push(("ag", ag.clone()));
    cases.push(("ağ", ag.clone()));
    cases.push(("AĞ", ag));
    cases.push(("mu", vec!["Agnès Müller"]));
    cases.push(("agnes muller", vec!["Agnès Müller"]));
    cases.push(("AGNÈS MÜLLER", vec!["Agnès Müller"]));
    cases.push(("səhla", vec!["Şəhla Məmmədova"]));
    cases.push(("sehla", vec![]));
    cases.push(("йо", vec!["Йоханна Кох"]));
    cases.push(("ио", vec![]));
    // Newest first: the reverse of the order they were made in.
    let newest_first: Vec<&str> = names.iter().rev().copied().collect();
    for (q, want) in cases {
        let want: Vec<String> = newest_first
            .iter()
            .filter(|n| want.contains(n))
            .map(|n| id_of[n].clone())
            .collect();
        for limit in [1, 2, 25] {
            assert_eq!(
                search_pages(&c, q, limit).await,
                want,
                "{q:?}, {limit} a page"
            );
        }
    }
}

/// Over a demo base (many matches, names in every script), a short search pages
/// through exactly the clients the index matches, newest first, each once, for an
/// owner (the whole base) and for a salesperson (own clients only).
#[tokio::test]
async fn short_prefix_pages_match_the_index() {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use holdfast::store::DbConn;

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }

    let s = TestServer::start();
    holdfast::demo::load(
        &s.store,
        &s.env,
        400,
        11,
        &secrecy::SecretString::from(crate::support::PASSWORD.to_string()),
    )
    .unwrap();
    s.add_user("boss", Role::Owner, None);
    let owner = s.login_elevated("boss").await;
    let sales = s.login("sales.north.1").await;
    let sales_id = sales.get("/api/v1/session").await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut longest = 0;
    for q in ["a", "Ağ", "ნ", "ال", "Ив", "Mə", "9", "99", "ka m"] {
        let terms = holdfast::crm::search::terms(q);
        let mut conn = s.store.conn().unwrap();
        let conn: &mut DbConn = &mut conn;
        let (matches, arg) = if s.db.is_postgres() {
            (
                "search_tsv @@ to_tsquery('simple', holdfast_fold($1))",
                holdfast::crm::search::tsquery(&terms),
            )
        } else {
            (
                "pk IN (SELECT rowid FROM clients_fts WHERE clients_fts MATCH $1)",
                holdfast::crm::search::fts5_query(&terms),
            )
        };
        let reference = |conn: &mut DbConn, owner: Option<&str>| -> Vec<String> {
            let sql = format!(
                "SELECT id FROM clients WHERE deleted_at IS NULL AND {matches} {} \
                 ORDER BY created_at DESC, id DESC",
                if owner.is_some() {
                    "AND owner_id = $2"
                } else {
                    "AND $2 IS NULL"
                }
            );
            diesel::sql_query(sql)
                .bind::<Text, _>(arg.clone())
                .bind::<diesel::sql_types::Nullable<Text>, _>(owner.map(str::to_string))
                .load::<Id>(conn)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        let everyone = reference(conn, None);
        let own = reference(conn, Some(&sales_id));
        assert!(!everyone.is_empty(), "{q:?} matches no demo client");
        longest = longest.max(everyone.len());
        assert_eq!(
            search_pages(&owner, q, 25).await,
            everyone,
            "{q:?} as the owner"
        );
        assert_eq!(search_pages(&sales, q, 25).await, own, "{q:?} as sales");
    }
    assert!(longest > 50, "some search spans several pages");
}
