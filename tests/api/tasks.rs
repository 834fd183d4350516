//! Tasks, reminders and notifications: the scope rule from the attacker's side,
//! reminders and escalations that fire once with time moved by the test (never
//! by sleeping), catch-up after downtime, reminder e-mail through a real SMTP
//! conversation with a small sink, and the "my day" and call-back pages.

use std::sync::Arc;

use chrono::{Duration, Utc};
use holdfast::access::{Gate, Policy};
use holdfast::audit::AuditLog;
use holdfast::audit::values::ValuePolicy;
use holdfast::clock::Env;
use holdfast::config::{Config, SmtpConfig, SmtpSecurity};
use holdfast::identity::Role;
use holdfast::web::work_jobs::ReminderJob;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ManualClock, Options, TestServer, smtp_sink};

/// The server's own schedule is off: the test fires the run itself.
fn no_schedule(c: &mut Config) {
    c.tasks.reminder_schedule = String::new();
    c.tasks.escalate_after_minutes = 120;
}

fn server(clock: &Arc<ManualClock>) -> TestServer {
    TestServer::start_with(Options {
        clock: Some(clock.clone()),
        tweak: Some(no_schedule),
        ..Options::default()
    })
}

/// The reminder run as a node would run it, on the test's clock.
async fn job(s: &TestServer, node: &str, smtp: Option<SmtpConfig>) -> ReminderJob {
    let mut config = s.config.clone();
    config.smtp = smtp;
    let policy = Policy::load(None).await.unwrap();
    let audit = AuditLog::start(s.store.clone(), s.env.clone(), ValuePolicy::Keep).unwrap();
    let gate = Gate::new(
        s.store.clone(),
        Arc::new(policy),
        s.env.clone(),
        None,
        None,
        audit,
    );
    ReminderJob::new(&config, s.store.clone(), gate, s.env.clone(), node).unwrap()
}

fn at(env: &Env, from_now: Duration) -> String {
    (env.now() + from_now).to_rfc3339()
}

/// Signs in afresh (the test's clock outruns session timeouts) and reads the inbox.
async fn inbox_of(s: &TestServer, user: &str) -> Value {
    inbox(&s.login(user).await).await
}

async fn inbox(c: &crate::support::Client) -> Value {
    let (st, inbox) = c.get("/api/v1/notifications").await;
    assert_eq!(st, StatusCode::OK, "{inbox}");
    inbox
}

#[tokio::test]
async fn tasks_follow_their_assignee_and_links_stay_in_scope() {
    let clock = ManualClock::new();
    let s = server(&clock);
    let n1 = s.add_user("sales.n1", Role::Sales, Some("north"));
    s.add_user("sales.n2", Role::Sales, Some("north"));
    s.add_user("sales.s1", Role::Sales, Some("south"));
    s.add_user("manager.n", Role::Manager, Some("north"));
    let c = s.login("sales.n1").await;
    let client = c.create_client(json!({"name": "Иван Петров"})).await;
    let (st, task) = c
        .post(
            "/api/v1/tasks",
            json!({"title": "Перезвонить", "due_at": at(&s.env, Duration::hours(3)),
                   "client_id": client, "priority": "high"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["assignee"]["id"], n1.as_str());
    assert_eq!(task["client"]["name"], "Иван Петров");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["overdue"], false);

    // The attacker's side: colleagues and other teams get 404, and it is logged.
    for who in ["sales.n2", "sales.s1"] {
        let a = s.login(who).await;
        let (st, _) = a.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who}");
        let (st, _) = a
            .patch(&format!("/api/v1/tasks/{id}"), json!({"done": true}))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who}");
        let (_, page) = a.get("/api/v1/tasks?state=all").await;
        assert!(page["items"].as_array().unwrap().is_empty(), "{who}");
        // Nor may they hang a task on someone else's client, or give one to n1.
        let (st, _) = a
            .post(
                "/api/v1/tasks",
                json!({"title": "x", "due_at": at(&s.env, Duration::hours(1)), "client_id": client}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{who} links another's client");
        let (st, _) = a
            .post(
                "/api/v1/tasks",
                json!({"title": "x", "due_at": at(&s.env, Duration::hours(1)), "assignee_id": n1}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{who} assigns work to n1");
    }
    let denied: Vec<_> = s
        .audit("task.read")
        .into_iter()
        .filter(|e| e.outcome == "denied" && e.object_ids.contains(&id))
        .collect();
    assert_eq!(denied.len(), 2);
    // The team lead sees the team's tasks; completing is audited with the field.
    let m = s.login("manager.n").await;
    let (_, page) = m.get("/api/v1/tasks").await;
    assert_eq!(page["items"][0]["id"], id.as_str());
    let (st, done) = c
        .patch(&format!("/api/v1/tasks/{id}"), json!({"done": true}))
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["done"], true);
    assert!(s.audit("task.update")[0].detail.contains("\"done\""));
    let (_, open) = c.get("/api/v1/tasks").await;
    assert!(
        open["items"].as_array().unwrap().is_empty(),
        "done tasks leave the open list"
    );

    // Hostile input names the field and creates nothing.
    for (field, body) in [
        ("due_at", json!({"title": "t", "due_at": "tomorrow at 10"})),
        (
            "due_at",
            json!({"title": "t", "due_at": "2026-11-23T10:00:00"}),
        ),
        (
            "priority",
            json!({"title": "t", "due_at": at(&s.env, Duration::hours(1)), "priority": "urgent!!"}),
        ),
        (
            "title",
            json!({"title": "ა".repeat(201), "due_at": at(&s.env, Duration::hours(1))}),
        ),
    ] {
        let (st, err) = c.post("/api/v1/tasks", body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field);
    }
    let (_, all) = c.get("/api/v1/tasks?state=all").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reminders_and_escalations_fire_once_on_the_tests_clock() {
    let clock = ManualClock::new();
    let s = server(&clock);
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let lead = s.add_user("manager.n", Role::Manager, Some("north"));
    let c = s.login("sales.n1").await;
    let (_, task) = c
        .post(
            "/api/v1/tasks",
            json!({"title": "Call back Nino", "due_at": at(&s.env, Duration::minutes(30))}),
        )
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    let (_, finished) = c
        .post(
            "/api/v1/tasks",
            json!({"title": "Already done", "due_at": at(&s.env, Duration::minutes(10))}),
        )
        .await;
    c.patch(
        &format!("/api/v1/tasks/{}", finished["id"].as_str().unwrap()),
        json!({"done": true}),
    )
    .await;
    let node_a = job(&s, "node-a", None).await;
    let node_b = job(&s, "node-b", None).await;

    // Not due yet: nothing.
    let out = node_a.run_once().await.unwrap();
    assert_eq!(out.ran.unwrap().reminded, 0);
    assert_eq!(inbox_of(&s, "sales.n1").await["unread"], 0);

    // Due: two nodes fire at the same moment; one claims the slot and works.
    // One reminder, to the assignee, recorded in the log.
    clock.advance(Duration::minutes(31));
    let (a, b) = (
        node_a.run_once().await.unwrap(),
        node_b.run_once().await.unwrap(),
    );
    assert!(
        a.ran.is_some() != b.ran.is_some(),
        "exactly one node per slot"
    );
    let out = a.ran.or(b.ran).unwrap();
    assert_eq!(out.reminded, 1, "the done task is not reminded");
    let mine = inbox_of(&s, "sales.n1").await;
    assert_eq!(mine["unread"], 1);
    assert_eq!(mine["items"][0]["title"], "Call back Nino");
    assert_eq!(mine["items"][0]["kind"], "reminder");
    let remind = &s.audit("task.remind")[0];
    assert!(remind.object_ids.contains(&id));
    assert_eq!(remind.actor_role.as_deref(), Some("system"));

    // Runs after that (this node, another node, a restarted server) add nothing.
    clock.advance(Duration::seconds(1));
    assert_eq!(node_b.run_once().await.unwrap().ran.unwrap().reminded, 0);
    clock.advance(Duration::seconds(1));
    assert_eq!(node_a.run_once().await.unwrap().ran.unwrap().reminded, 0);
    assert_eq!(
        inbox_of(&s, "sales.n1").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Still open two hours after it was due: the team lead hears of it, once.
    clock.advance(Duration::minutes(100));
    assert_eq!(
        node_b.run_once().await.unwrap().ran.unwrap().escalated,
        0,
        "not yet"
    );
    clock.advance(Duration::minutes(30));
    let out = node_b.run_once().await.unwrap().ran.unwrap();
    assert_eq!(out.escalated, 1);
    let theirs = inbox_of(&s, "manager.n").await;
    assert_eq!(theirs["unread"], 1);
    assert_eq!(theirs["items"][0]["kind"], "escalation");
    let esc = &s.audit("task.escalate")[0];
    assert!(esc.detail.contains(&lead), "{}", esc.detail);
    clock.advance(Duration::seconds(1));
    assert_eq!(node_a.run_once().await.unwrap().ran.unwrap().escalated, 0);
    assert_eq!(
        inbox_of(&s, "manager.n").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The assignee's notifications are theirs alone.
    let (c, m) = (s.login("sales.n1").await, s.login("manager.n").await);
    let note = mine["items"][0]["id"].as_str().unwrap().to_string();
    let (st, _) = m
        .post(&format!("/api/v1/notifications/{note}/read"), json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(inbox_of(&s, "sales.n1").await["unread"], 1);
    let (st, _) = c
        .post(&format!("/api/v1/notifications/{note}/read"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(inbox_of(&s, "sales.n1").await["unread"], 0);

    // A new due time owes a new reminder.
    let c = s.login("sales.n1").await;
    let (st, _) = c
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({"due_at": at(&s.env, Duration::minutes(5))}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    clock.advance(Duration::minutes(6));
    assert_eq!(node_a.run_once().await.unwrap().ran.unwrap().reminded, 1);
}

#[tokio::test]
async fn a_run_after_downtime_catches_up_on_everything_that_fell_due() {
    let clock = ManualClock::new();
    let s = server(&clock);
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    for i in 0..5 {
        let (st, _) = c
            .post(
                "/api/v1/tasks",
                json!({"title": format!("Task {i}"), "due_at": at(&s.env, Duration::minutes(10 + i))}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
    }
    // The servers were down for a day: the first run after it reminds each once.
    clock.advance(Duration::days(1));
    let out = job(&s, "restarted", None).await.run_once().await.unwrap();
    let report = out.ran.unwrap();
    assert_eq!((report.reminded, report.escalated), (5, 5));
    assert_eq!(inbox_of(&s, "sales.n1").await["unread"], 5);
}

#[tokio::test]
async fn reminders_are_emailed_once_when_smtp_is_configured() {
    let clock = ManualClock::new();
    let s = server(&clock);
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let (st, err) = c
        .send(
            reqwest::Method::PUT,
            "/api/v1/notifications/settings",
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (st, _) = c
        .send(
            reqwest::Method::PUT,
            "/api/v1/notifications/settings",
            Some(json!({"email": "Nino@Example.GE"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    c.post(
        "/api/v1/tasks",
        json!({"title": "დარეკვა ნინოსთან", "due_at": at(&s.env, Duration::minutes(5))}),
    )
    .await;
    let (port, mut mail) = smtp_sink().await;
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Holdfast <crm@example.com>".into(),
    };
    let node = job(&s, "mailer", Some(smtp)).await;
    clock.advance(Duration::minutes(6));
    let out = node.run_once().await.unwrap();
    assert_eq!(out.ran.unwrap().emails_queued, 1);
    assert_eq!((out.emails_sent, out.emails_failed), (1, 0));
    let (to, data) = mail.recv().await.unwrap();
    assert_eq!(to, vec!["nino@example.ge".to_string()]);
    assert!(data.contains("Subject: Reminder:"), "{data}");
    assert!(data.contains("/my-day"), "{data}");
    // The in-app notification is there too, and the mail is not sent again.
    assert_eq!(inbox_of(&s, "sales.n1").await["unread"], 1);
    clock.advance(Duration::seconds(1));
    let out = node.run_once().await.unwrap();
    assert_eq!(out.emails_sent, 0);
    assert!(mail.try_recv().is_err());
}

#[tokio::test]
async fn my_day_and_the_call_back_button() {
    let clock = ManualClock::new();
    let s = server(&clock);
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let client = c.create_client(json!({"name": "محمد علي"})).await;
    let contacted = c.create_client(json!({"name": "Contacted already"})).await;
    let (st, _) = c
        .post(
            &format!("/api/v1/clients/{contacted}/timeline"),
            json!({"kind": "call", "direction": "outbound"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    c.post(
        "/api/v1/tasks",
        json!({"title": "Overdue thing", "due_at": at(&s.env, Duration::minutes(5))}),
    )
    .await;
    clock.advance(Duration::minutes(10));
    let c = s.login("sales.n1").await;
    // "Call back tomorrow at 10" in the browser's zone (Tbilisi, UTC+4).
    let csrf = c.csrf.clone().unwrap();
    let res = c
        .raw(
            reqwest::Method::POST,
            &format!("/clients/{client}/callback"),
        )
        .form(&[("csrf", csrf.as_str()), ("tz", "Asia/Tbilisi")])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let (_, tasks) = c.get(&format!("/api/v1/tasks?client_id={client}")).await;
    let due = tasks["items"][0]["due_at"].as_str().unwrap().to_string();
    let due = chrono::DateTime::parse_from_rfc3339(&due).unwrap();
    let tbilisi = due.with_timezone(&chrono::FixedOffset::east_opt(4 * 3600).unwrap());
    assert_eq!(tbilisi.format("%H:%M").to_string(), "10:00");
    let today = (s.env.now() + Duration::hours(4)).date_naive();
    assert_eq!(tbilisi.date_naive(), today.succ_opt().unwrap());
    assert!(due.with_timezone(&Utc) > s.env.now());

    // The card's task form: a refused time comes back with what was typed.
    let res = c
        .raw(reqwest::Method::POST, &format!("/clients/{client}/tasks"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "Встреча в офисе"),
            ("due", "soon"),
            ("priority", "high"),
            ("tz", "Asia/Tbilisi"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"form-error\"") && html.contains("Встреча в офисе"),
        "{html}"
    );
    let res = c
        .raw(reqwest::Method::POST, &format!("/clients/{client}/tasks"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "Встреча в офисе"),
            ("due", "2030-01-02T09:30"),
            ("priority", "high"),
            ("tz", "Asia/Tbilisi"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (_, tasks) = c.get(&format!("/api/v1/tasks?client_id={client}")).await;
    assert!(
        tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["due_at"] == "2030-01-02T05:30:00Z" && t["priority"] == "high"),
        "09:30 in Tbilisi is 05:30 UTC: {tasks}"
    );

    let res = c.raw(reqwest::Method::GET, "/my-day").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Overdue thing"), "the overdue task is listed");
    assert!(html.contains("محمد علي"), "a lead without a first contact");
    assert!(
        !html.contains("Contacted already"),
        "a called client is no new lead"
    );
    assert!(html.contains("id=\"overdue-count\">1<"), "one overdue task");
}

#[tokio::test]
async fn the_server_runs_the_reminders_on_its_schedule() {
    fn every_second(c: &mut Config) {
        c.tasks.reminder_schedule = "* * * * * *".into();
    }
    let s = TestServer::start_with(Options {
        tweak: Some(every_second),
        ..Options::default()
    });
    s.add_user("sales.n1", Role::Sales, Some("north"));
    let c = s.login("sales.n1").await;
    let (st, _) = c
        .post(
            "/api/v1/tasks",
            json!({"title": "Was due a minute ago", "due_at": at(&s.env, -Duration::minutes(1))}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    // This waits for the real scheduler (the wiring under test), not for time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if inbox(&c).await["unread"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reminder from the scheduler"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let runs: i64 = {
        use diesel::prelude::*;
        let mut conn = s.store.conn().unwrap();
        holdfast::store::schema::job_runs::table
            .filter(holdfast::store::schema::job_runs::job.eq("task-reminders"))
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    assert!(runs >= 1, "each firing claims its slot");
}
