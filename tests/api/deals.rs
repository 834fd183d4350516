
/// The SQL scope of the deal list and pipeline and the per-record rule give the
/// same answers: for every role and team, the deals listed are exactly those
/// whose client that user can open.
#[tokio::test]
async fn deal_lists_and_single_reads_agree_for_every_user() {
    let s = TestServer::start();
    let people = [
        ("sales.n1", Role::Sales, Some("north")),
        ("sales.n2", Role::Sales, Some("north")),
        ("sales.s1", Role::Sales, Some("south")),
        ("manager.n", Role::Manager, Some("north")),
        ("manager.s", Role::Manager, Some("south")),
        ("lonely.manager", Role::Manager, None),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, role, team) in people {
        ids.insert(name, s.add_user(name, role, team));
    }
    s.add_user("boss", Role::Owner, None);
    let boss = s.login_elevated("boss").await;
    // Clients owned by each person (and one by nobody), each with a deal.
    let mut deals = vec![];
    for (owner, _, _) in people {
        let client = boss
            .create_client(json!({"name": format!("Client of {owner}"), "owner_id": ids[owner]}))
            .await;
        let d = new_deal(&boss, &client, &format!("Deal of {owner}"), "10", "EUR").await;
        deals.push((client, d["id"].as_str().unwrap().to_string()));
    }
    for (name, _, _) in people {
        let c = s.login(name).await;
        let mut readable = vec![];
        for (client, deal) in &deals {
            let (st, _) = c.get(&format!("/api/v1/clients/{client}")).await;
            let (dst, _) = c.get(&format!("/api/v1/deals/{deal}")).await;
            assert_eq!(st, dst, "{name}: the deal answers like its client");
            if st == StatusCode::OK {
                readable.push(deal.clone());
            }
        }
        readable.sort();
        let (_, page) = c.get("/api/v1/deals?limit=100").await;
        let mut listed = ids_of_page(&page);
        listed.sort();
        assert_eq!(listed, readable, "{name}: list = readable deals");
        let (_, board) = c.get("/api/v1/pipeline").await;
        let mut on_board: Vec<String> = board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|col| col["deals"].as_array().unwrap().clone())
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        on_board.sort();
        assert_eq!(on_board, readable, "{name}: board = readable deals");
    }
}

fn ids_of_page(page: &Value) -> Vec<String> {
    ids(page)
}
