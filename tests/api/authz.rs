//! The authorization matrix: every role × (own, same team, other team) ×
//! (read, list, update, delete), the expected answer written out.

use holdfast::identity::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[derive(Clone, Copy, Debug)]
enum Target {
    Own,
    SameTeam,
    OtherTeam,
}

/// (role, target, read, listed, update, delete)
const MATRIX: &[(&str, Target, u16, bool, u16, u16)] = &[
    ("sales", Target::Own, 200, true, 200, 403),
    ("sales", Target::SameTeam, 404, false, 404, 403),
    ("sales", Target::OtherTeam, 404, false, 404, 403),
    ("manager", Target::Own, 200, true, 200, 204),
    ("manager", Target::SameTeam, 200, true, 200, 204),
    ("manager", Target::OtherTeam, 404, false, 404, 404),
    ("owner", Target::Own, 200, true, 200, 204),
    ("owner", Target::SameTeam, 200, true, 200, 204),
    ("owner", Target::OtherTeam, 200, true, 200, 204),
    // Admin is not owner: no client data at all, whoever owns it.
    ("admin", Target::Own, 403, false, 403, 403),
    ("admin", Target::SameTeam, 403, false, 403, 403),
    ("admin", Target::OtherTeam, 403, false, 403, 403),
];

#[tokio::test]
async fn authorization_matrix() {
    let s = TestServer::start();
    let ids = [
        ("sales", s.add_user("sales.n1", Role::Sales, Some("north"))),
        (
            "sales.n2",
            s.add_user("sales.n2", Role::Sales, Some("north")),
        ),
        (
            "sales.s1",
            s.add_user("sales.s1", Role::Sales, Some("south")),
        ),
        (
            "manager",
            s.add_user("manager.n", Role::Manager, Some("north")),
        ),
        ("owner", s.add_user("boss", Role::Owner, Some("north"))),
        ("admin", s.add_user("it", Role::Admin, Some("north"))),
    ];
    let id_of = |k: &str| {
        ids.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let login_of = |role: &str| match role {
        "sales" => "sales.n1",
        "manager" => "manager.n",
        "owner" => "boss",
        _ => "it",
    };
    let boss = s.login_elevated("boss").await;
    let mut failures = vec![];
    for (n, (role, target, read, listed, update, delete)) in MATRIX.iter().enumerate() {
        // Owner of the record: the actor itself, a team-mate, or someone in another team.
        let owner_id = match (*role, *target) {
            ("admin", Target::Own) | ("admin", Target::SameTeam) => id_of("sales.n2"),
            (r, Target::Own) => id_of(r),
            ("sales", Target::SameTeam) => id_of("sales.n2"),
            (_, Target::SameTeam) => id_of("sales"),
            (_, Target::OtherTeam) => id_of("sales.s1"),
        };
        let marker = format!("matrixcase{n}");
        let id = boss
            .create_client(json!({"name": format!("Client {marker}"), "owner_id": owner_id}))
            .await;
        let actor = if matches!(*role, "owner" | "admin") {
            s.login_elevated(login_of(role)).await
        } else {
            s.login(login_of(role)).await
        };
        let got_read = actor.get(&format!("/api/v1/clients/{id}")).await.0.as_u16();
        let (list_status, list) = actor.get(&format!("/api/v1/clients?q={marker}")).await;
        let got_listed = list["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["id"] == id.as_str()));
        if *role == "admin" {
            assert_eq!(list_status, StatusCode::FORBIDDEN, "admin list");
        }
        let got_update = actor
            .patch(
                &format!("/api/v1/clients/{id}"),
                json!({"source": "matrix"}),
            )
            .await
            .0
            .as_u16();
        let got_delete = actor
            .delete(&format!("/api/v1/clients/{id}"))
            .await
            .0
            .as_u16();
        let got = (got_read, got_listed, got_update, got_delete);
        let want = (*read, *listed, *update, *delete);
        if got != want {
            failures.push(format!("{role} {target:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "matrix mismatches:\n{}",
        failures.join("\n")
    );
    // Every refusal is in the audit log: out-of-scope reads as denials, role refusals too.
    let reads = s.audit("client.read");
    let denied_reads = reads.iter().filter(|e| e.outcome == "denied").count();
    let expected = MATRIX.iter().filter(|m| m.2 != 200).count();
    assert_eq!(denied_reads, expected, "denied reads in audit");
    assert!(
        s.audit("client.list")
            .iter()
            .any(|e| e.outcome == "denied" && e.actor_role.as_deref() == Some("admin"))
    );
}

#[tokio::test]
async fn sales_cannot_move_clients_to_themselves_or_away() {
    let s = TestServer::start();
    let n1 = s.add_user("sales.n1", Role::Sales, Some("north"));
    let n2 = s.add_user("sales.n2", Role::Sales, Some("north"));
    let mgr = s.add_user("manager.n", Role::Manager, Some("north"));
    let s1 = s.add_user("sales.s1", Role::Sales, Some("south"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    let theirs = boss
        .create_client(json!({"name": "Colleague's client", "owner_id": n2}))
        .await;
    let mine = boss
        .create_client(json!({"name": "My client", "owner_id": n1}))
        .await;
    let sales = s.login("sales.n1").await;
    let reassign = |ids: &[&String], to: &str| json!({"client_ids": ids, "to_owner": to, "reason": "territory change"});
    // Taking a colleague's client: sales staff move nothing.
    let (st, _) = sales
        .post("/api/v1/reassignments", reassign(&[&theirs], &n1))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Creating a client owned by someone else, or giving one away: refused.
    let (st, _) = sales
        .post("/api/v1/clients", json!({"name": "x", "owner_id": n2}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = sales
        .post("/api/v1/reassignments", reassign(&[&mine], &n2))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An owner is never changed as a field edit (a reassignment needs a reason).
    let (st, body) = sales
        .patch(&format!("/api/v1/clients/{mine}"), json!({"owner_id": n2}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "owner_id");
    // A manager reassigns within the team, not outside it.
    let manager = s.login("manager.n").await;
    let (st, body) = manager
        .post("/api/v1/reassignments", reassign(&[&mine], &n2))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["moved"][0]["to"], n2.as_str());
    let (st, _) = manager
        .post("/api/v1/reassignments", reassign(&[&mine], &s1))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = manager
        .post("/api/v1/reassignments", reassign(&[&mine], &mgr))
        .await;
    assert_eq!(st, StatusCode::OK);
    // The owner change is on the timeline and in the audit log.
    let (_, tl) = boss.get(&format!("/api/v1/clients/{mine}/timeline")).await;
    assert!(
        tl["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "owner_change")
    );
    assert!(
        s.audit("client.reassign")
            .iter()
            .any(|e| e.outcome == "denied")
    );
}

#[tokio::test]
async fn paging_never_leaves_the_scope() {
    let s = TestServer::start();
    let n1 = s.add_user("sales.n1", Role::Sales, Some("north"));
    let n2 = s.add_user("sales.n2", Role::Sales, Some("north"));
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    for i in 0..7 {
        boss.create_client(json!({"name": format!("Mine {i}"), "owner_id": n1}))
            .await;
        boss.create_client(json!({"name": format!("Theirs {i}"), "owner_id": n2}))
            .await;
    }
    let sales = s.login("sales.n1").await;
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let (st, page) = sales
            .get(&format!("/api/v1/clients?limit=3&cursor={cursor}"))
            .await;
        assert_eq!(st, StatusCode::OK);
        for c in page["items"].as_array().unwrap() {
            assert_eq!(c["owner_id"], n1.as_str());
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    // The page size is capped.
    let (_, page) = boss.get("/api/v1/clients?limit=100000").await;
    assert!(page["items"].as_array().unwrap().len() <= 100);
}
