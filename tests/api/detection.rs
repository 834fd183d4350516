//! Field masking and theft detection from the attacker's side: masked contacts in
//! lists with the audited reveal, and the departing salesperson's moves, each
//! expected to raise its alert and be blocked.

use holdfast::identity::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn lists_mask_contacts_and_a_reveal_is_one_audited_request() {
    let s = TestServer::start();
    s.add_user("nino", Role::Sales, Some("north"));
    s.add_user("gio", Role::Sales, Some("north"));
    let nino = s.login("nino").await;
    let gio = s.login("gio").await;
    let id = nino
        .create_client(json!({
            "name": "ნინო ბერიძე",
            "phones": ["+995 599 12 34 56"],
            "emails": ["nino.beridze@example.ge"],
        }))
        .await;
    let theirs = gio
        .create_client(json!({"name": "Other", "phones": ["+995 599 65 43 21"]}))
        .await;

    // The API list carries masked contacts only.
    let (status, page) = nino.get("/api/v1/clients").await;
    assert_eq!(status, StatusCode::OK);
    let row = &page["items"][0];
    assert_eq!(row["phone"], "+995 ••• •• •• 56");
    assert_eq!(row["email"], "n•••@example.ge");
    assert!(!page.to_string().contains("599 12 34"));
    assert!(!page.to_string().contains("nino.beridze@"));
    // So does the page, with a reveal button.
    let html = nino
        .raw(Method::GET, "/clients")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("+995 ••• •• •• 56"), "{html}");
    assert!(!html.contains("nino.beridze@example.ge"));
    assert!(html.contains(&format!("data-reveal=\"{id}\"")));

    // One request reveals, and it is its own audit event.
    let (status, r) = nino
        .post(&format!("/api/v1/clients/{id}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["phones"][0]["value"], "+995 599 12 34 56");
    assert_eq!(r["emails"][0]["value"], "nino.beridze@example.ge");
    // The page's one click.
    let res = nino
        .raw(Method::POST, &format!("/clients/{id}/reveal"))
        .form(&[("csrf", nino.csrf.clone().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("nino.beridze@example.ge")
    );
    let events = s.audit("client.reveal");
    let ok: Vec<_> = events.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(ok.len(), 2);
    assert!(ok[0].object_ids.contains(&id));

    // A colleague's client cannot be revealed: 404 like a missing one, audited.
    let (status, _) = nino
        .post(&format!("/api/v1/clients/{theirs}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let denied: Vec<_> = s
        .audit("client.reveal")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(denied[0].object_ids.contains(&theirs));

    // An admin has no reveal at all.
    s.add_user("root", Role::Admin, None);
    let admin = s.login("root").await;
    let (status, _) = admin
        .post(&format!("/api/v1/clients/{id}/reveal"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
