//! The SQL scope (lists) and the per-record casbin check (single reads) must give
//! the same answers for every actor and every ownership layout.

use std::collections::BTreeSet;
use std::sync::Arc;

use diesel::prelude::*;
use holdfast::access::{Gate, GateError, Policy};
use holdfast::audit::RequestMeta;
use holdfast::clock::Env;
use holdfast::crm::types::{ListQuery, NewClient};
use holdfast::identity::users::{self, NewUser};
use holdfast::identity::{Actor, Role};
use holdfast::store::schema::clients;
use holdfast::store::{DbConn, Store};
use proptest::prelude::*;
use secrecy::SecretString;

use crate::support::TestDb;

#[derive(Debug, Clone)]
struct Layout {
    users: Vec<(Role, Option<u8>)>,
    /// (owner index or none, team override: None = owner's team, Some(None) = no team, Some(Some(t)) = team t)
    clients: Vec<(Option<usize>, Option<Option<u8>>)>,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Sales),
        Just(Role::Manager),
        Just(Role::Owner),
        Just(Role::Admin)
    ]
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::collection::vec((role(), prop::option::of(0u8..2)), 2..6),
        prop::collection::vec(
            (
                prop::option::of(0usize..6),
                prop::option::of(prop::option::of(0u8..2)),
            ),
            0..14,
        ),
    )
        .prop_map(|(users, clients)| Layout { users, clients })
}

/// A user in the database and the actor a session for them would carry.
fn actor(conn: &mut DbConn, env: &Env, username: &str, role: Role, team: Option<&str>) -> Actor {
    let user = users::add(
        conn,
        env,
        NewUser {
            username: username.into(),
            display_name: None,
            role,
            team: team.map(str::to_string),
            password: None,
        },
    )
    .unwrap();
    Actor {
        session_ref: format!("session-of-{}", user.username),
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        role,
        team_id: user.team_id,
        elevation: None,
    }
}

/// This test holds SQL scope and casbin to the same answers; the hardware-key rule
/// (tested in `keys.rs`) is configured away so that owners and admins need no proof.
fn no_key_rule(gate: Gate) -> Gate {
    gate.with_key_rules(holdfast::access::KeyRules::from_config(
        &holdfast::config::KeysConfig {
            privileged_roles: vec![],
            ..Default::default()
        },
    ))
}

async fn check(layout: Layout) {
    let db = TestDb::new();
    let store = Store::open(&SecretString::from(db.url.clone()), 2).unwrap();
    let env = Env::system();
    let policy = Arc::new(Policy::load(None).await.unwrap());
    let audit = holdfast::audit::AuditLog::start(
        store.clone(),
        env.clone(),
        holdfast::audit::values::ValuePolicy::Keep,
    )
    .unwrap();
    let gate = no_key_rule(Gate::new(
        store.clone(),
        policy,
        env.clone(),
        None,
        None,
        audit,
    ));
    let meta = RequestMeta::default();
    let team_names = ["north", "south"];
    let mut conn = store.conn().unwrap();
    let mut actors = vec![];
    for (i, (role, team)) in layout.users.iter().enumerate() {
        let team = team.map(|t| team_names[t as usize]);
        actors.push(actor(&mut conn, &env, &format!("u{i}"), *role, team));
    }
    let root = actor(&mut conn, &env, "root", Role::Owner, None);
    let team_ids: Vec<String> = team_names
        .iter()
        .map(|n| users::ensure_team(&mut conn, &env, n).unwrap())
        .collect();
    let mut ids = vec![];
    for (n, (owner, team)) in layout.clients.iter().enumerate() {
        let created = gate
            .create_client(
                &root,
                &meta,
                NewClient {
                    name: format!("c{n}"),
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        let id = created.client.id;
        let owner_actor = owner.and_then(|o| actors.get(o));
        let owner_id = owner_actor.map(|a| a.user_id.clone());
        let team_id = match team {
            None => owner_actor.and_then(|a| a.team_id.clone()),
            Some(None) => None,
            Some(Some(t)) => Some(team_ids[*t as usize].clone()),
        };
        diesel::update(clients::table.filter(clients::id.eq(&id)))
            .set((clients::owner_id.eq(owner_id), clients::team_id.eq(team_id)))
            .execute(&mut conn)
            .unwrap();
        ids.push(id);
    }
    drop(conn);
    for actor in &actors {
        let mut listed = BTreeSet::new();
        let mut cursor = None;
        let list_forbidden = loop {
            let q = ListQuery {
                limit: Some(5),
                cursor: cursor.clone(),
                ..ListQuery::default()
            };
            match gate.list_clients(actor, &meta, q).await {
                Ok(page) => {
                    listed.extend(page.items.into_iter().map(|c| c.id));
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break false,
                    }
                }
                Err(GateError::Forbidden) => break true,
                Err(e) => panic!("list: {e}"),
            }
        };
        for id in &ids {
            let read = gate.client_card(actor, &meta, id).await;
            match read {
                Ok(_) => assert!(
                    listed.contains(id),
                    "{actor:?} reads {id} but the list omits it"
                ),
                Err(GateError::NotFound) => assert!(
                    !listed.contains(id),
                    "{actor:?} lists {id} but cannot read it"
                ),
                Err(GateError::Forbidden) => {
                    assert!(list_forbidden, "{actor:?}: read forbidden, list allowed")
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        assert!(listed.iter().all(|l| ids.contains(l)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn sql_scope_matches_per_record_policy(layout in layout()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(layout));
    }
}

/// Any text typed into the search box is a plain query on both backends: never
/// a syntax error, never a server error.
#[test]
fn any_search_text_is_answered() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = TestDb::new();
        let store = Store::open(&SecretString::from(db.url.clone()), 2).unwrap();
        let env = Env::system();
        let policy = Arc::new(Policy::load(None).await.unwrap());
        let audit = holdfast::audit::AuditLog::start(
            store.clone(),
            env.clone(),
            holdfast::audit::values::ValuePolicy::Keep,
        )
        .unwrap();
        let gate = no_key_rule(Gate::new(
            store.clone(),
            policy,
            env.clone(),
            None,
            None,
            audit,
        ));
        let mut conn = store.conn().unwrap();
        let root = actor(&mut conn, &env, "root", Role::Owner, None);
        drop(conn);
        let meta = RequestMeta::default();
        gate.create_client(
            &root,
            &meta,
            NewClient {
                name: "ნინო O'Brien \"Quote\" AND OR NEAR".into(),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
        let mut runner = TestRunner::default();
        let strategy = prop_oneof![
            "\\PC{0,60}",
            "[\"'*():^+\\-~\\\\&|!<>{}\\[\\] a-zA-Zა-ჰ0-9]{0,30}",
        ];
        for _ in 0..200 {
            let q = strategy.new_tree(&mut runner).unwrap().current();
            let result = gate
                .list_clients(
                    &root,
                    &meta,
                    ListQuery {
                        q: Some(q.clone()),
                        ..ListQuery::default()
                    },
                )
                .await;
            match result {
                Ok(_) => {}
                Err(GateError::Invalid { .. }) if q.chars().count() > 200 || q.contains('\0') => {}
                Err(e) => panic!("query {q:?}: {e}"),
            }
        }
    });
}
