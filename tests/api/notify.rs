//! Alert notices by e-mail and signed webhook, sent from the outbox by a job:
//! the request that trips the alert is not held up by a dead receiver, a
//! failed notice is retried a bounded number of times, and the receiver can
//! check who sent it and when.

use std::sync::Arc;

use chrono::Duration;
use holdfast::config::{Config, SmtpConfig, SmtpSecurity};
use holdfast::identity::Role;
use holdfast::web::notify_jobs::NotifyJob;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::{ManualClock, Options, TestServer, smtp_sink};

const SECRET: &str = "a webhook secret of more than 32 bytes, for tests";

/// One request as the receiver saw it: (headers lower-cased, body).
type Seen = (Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP receiver answering each request with the next status of
/// `statuses` (then 204), handing back what it got.
async fn hook_sink(statuses: Vec<u16>) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let statuses = Arc::new(std::sync::Mutex::new(statuses.into_iter()));
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (tx, statuses) = (tx.clone(), statuses.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(sock);
                let mut headers = vec![];
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).await.unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    let (k, v) = l.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).await.unwrap();
                let status = statuses.lock().unwrap().next().unwrap_or(204);
                tx.send((headers, body)).unwrap();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                reader.get_mut().write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    (port, rx)
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// What a receiver does: recompute the HMAC over "<timestamp>.<body>" and
/// compare in constant time (ring's verify).
fn signed_by(seen: &Seen, secret: &str) -> bool {
    let ts = header(seen, "x-holdfast-timestamp");
    let Some(hex_sig) = header(seen, "x-holdfast-signature").strip_prefix("v1=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = ts.as_bytes().to_vec();
    msg.push(b'.');
    msg.extend_from_slice(&seen.1);
    ring::hmac::verify(&key, &msg, &sig).is_ok()
}

fn quiet(c: &mut Config) {
    // The test drains the outbox itself, with its own receivers.
    c.notify.schedule = String::new();
    c.detection.cards_per_ten_minutes = 5;
}

/// A clock at the next Monday 10:00 UTC (working hours by default).
fn monday() -> Arc<ManualClock> {
    use chrono::{Datelike, Timelike};
    let clock = ManualClock::new();
    let now = holdfast::clock::Clock::now(&*clock);
    let days = (7 - i64::from(now.weekday().num_days_from_monday())) % 7;
    let days = if days == 0 { 7 } else { days };
    let since_midnight = Duration::seconds(i64::from(now.num_seconds_from_midnight()));
    clock.advance(Duration::days(days) - since_midnight + Duration::hours(10));
    clock
}

#[tokio::test]
async fn owners_are_told_by_email_and_signed_webhook_with_bounded_retries() {
    let clock = monday();
    let s = TestServer::start_with(Options {
        clock: Some(clock.clone()),
        tweak: Some(quiet),
        ..Options::default()
    });
    let boss_id = s.add_user("boss", Role::Owner, None);
    s.add_user("root", Role::Admin, None);
    let walker_id = s.add_user("walker", Role::Sales, Some("north"));

    // Only owners and admins set a notice address, with a fresh key proof;
    // each refusal is audited.
    let walker = s.login("walker").await;
    let (st, _) = walker
        .send(
            Method::PUT,
            &format!("/api/v1/users/{boss_id}/email"),
            Some(json!({"email": "attacker@evil.example"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An admin cannot redirect an owner's alerts.
    let root = s.login_elevated("root").await;
    let (st, _) = root
        .send(
            Method::PUT,
            &format!("/api/v1/users/{boss_id}/email"),
            Some(json!({"email": "root@evil.example"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let denied: Vec<_> = s
        .audit("user.email")
        .into_iter()
        .filter(|e| e.outcome != "ok")
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    let boss = s.login_elevated("boss").await;
    let (st, err) = boss
        .send(
            Method::PUT,
            &format!("/api/v1/users/{boss_id}/email"),
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (st, v) = boss
        .send(
            Method::PUT,
            &format!("/api/v1/users/{boss_id}/email"),
            Some(json!({"email": " Tamar.Beridze@Example.GE "})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["email"], "tamar.beridze@example.ge");
    assert_eq!(
        s.audit("user.email")
            .iter()
            .filter(|e| e.outcome == "ok")
            .count(),
        1
    );

    // The walk trips the alert; no receiver is even asked while the requests
    // run, and every card the rule allowed was served.
    let (hook_port, mut hooks) = hook_sink(vec![500]).await;
    let mut ids = vec![];
    for i in 0..8 {
        ids.push(
            walker
                .create_client(json!({"name": format!("Клиент {i}")}))
                .await,
        );
    }
    let started = std::time::Instant::now();
    let mut opened = 0;
    for id in &ids {
        clock.advance(Duration::seconds(5));
        let (st, _) = walker.get(&format!("/api/v1/clients/{id}")).await;
        if st != StatusCode::OK {
            break;
        }
        opened += 1;
    }
    assert_eq!(opened, 6);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(hooks.try_recv().is_err(), "nothing is sent in the request");
    let alert = {
        let mut conn = s.store.conn().unwrap();
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Owners, true, 10)
            .unwrap()
            .into_iter()
            .find(|a| a.kind == "detect.cards_10min")
            .expect("the alert")
    };
    assert_eq!(alert.subject_user.as_deref(), Some(walker_id.as_str()));

    // The job: e-mail to the owner, the webhook (500 first), and a dead URL.
    let (smtp_port, mut mail) = smtp_sink().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = s.config.clone();
    config.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(smtp_port),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Holdfast <crm@example.com>".into(),
    });
    config.notify.webhook_urls = vec![
        format!("http://127.0.0.1:{hook_port}/holdfast"),
        format!("http://127.0.0.1:{dead}/gone"),
    ];
    config.notify.webhook_secret = Some(SecretString::from(SECRET));
    config.notify.max_attempts = 2;
    config.notify.timeout_seconds = 3;
    let job = NotifyJob::new(&config, s.store.clone(), s.env.clone()).unwrap();
    let out = job.run_once().await.unwrap();
    assert_eq!(
        (out.queued, out.sent, out.failed, out.gave_up),
        (3, 1, 2, 0)
    );
    let (to, data) = mail.recv().await.unwrap();
    assert_eq!(to, vec!["tamar.beridze@example.ge".to_string()]);
    assert!(data.contains("Subject: Holdfast alert (high)"), "{data}");
    assert!(data.contains("/control"), "{data}");
    let first = hooks.recv().await.unwrap();
    assert!(signed_by(&first, SECRET));
    assert!(!signed_by(&first, "another secret entirely, 32 bytes+"));
    assert_eq!(
        header(&first, "x-holdfast-timestamp"),
        s.env.now().timestamp().to_string()
    );
    let body: Value = serde_json::from_slice(&first.1).unwrap();
    assert_eq!(body["alert"]["id"], alert.id.as_str());
    assert_eq!(body["alert"]["severity"], "high");
    assert_eq!(body["delivery"], header(&first, "x-holdfast-delivery"));
    // A tampered body or a replayed signature with a new time fails the check.
    let mut tampered = first.clone();
    tampered.1 = first.1.replace_bytes("high", "info");
    assert!(!signed_by(&tampered, SECRET));
    let mut replayed = first.clone();
    for h in replayed.0.iter_mut() {
        if h.0 == "x-holdfast-timestamp" {
            h.1 = (s.env.now().timestamp() + 3600).to_string();
        }
    }
    assert!(!signed_by(&replayed, SECRET));

    // Nothing is due again until the backoff passed.
    let out = job.run_once().await.unwrap();
    assert_eq!((out.sent, out.failed), (0, 0));
    clock.advance(Duration::seconds(31));
    let out = job.run_once().await.unwrap();
    assert_eq!((out.sent, out.failed, out.gave_up), (1, 1, 1));
    let second = hooks.recv().await.unwrap();
    assert!(signed_by(&second, SECRET));
    assert_eq!(
        header(&second, "x-holdfast-delivery"),
        header(&first, "x-holdfast-delivery"),
        "a retry carries the same delivery id"
    );
    // The given-up notice is not tried again; what goes out now is the admins'
    // alert about it (a warning: webhooks only, the admin has no address).
    clock.advance(Duration::hours(2));
    let out = job.run_once().await.unwrap();
    assert_eq!((out.queued, out.sent, out.failed), (2, 1, 1));
    let third = hooks.recv().await.unwrap();
    assert!(signed_by(&third, SECRET));
    let body: Value = serde_json::from_slice(&third.1).unwrap();
    assert_eq!(body["alert"]["kind"], "notify.failed");
    assert_eq!(body["alert"]["audience"], "admins");
    // Its own failure to the dead URL ends there: the open alert for that
    // destination is not raised again, so nothing loops.
    clock.advance(Duration::minutes(1));
    let out = job.run_once().await.unwrap();
    assert_eq!((out.sent, out.failed, out.gave_up), (0, 1, 1));
    clock.advance(Duration::hours(2));
    let out = job.run_once().await.unwrap();
    assert_eq!((out.queued, out.sent, out.failed), (0, 0, 0));
    assert!(mail.try_recv().is_err(), "the e-mail went once");
    let states = {
        let mut conn = s.store.conn().unwrap();
        holdfast::alerts::outbox::deliveries_of(&mut conn, &alert.id).unwrap()
    };
    assert_eq!(states.len(), 3);
    let gone = states.iter().find(|d| d.target.contains("/gone")).unwrap();
    assert!(gone.gave_up_at.is_some() && gone.attempts == 2);
    assert!(gone.last_error.is_some());
    // The admins are told that a notice was lost, once.
    let lost: Vec<_> = {
        let mut conn = s.store.conn().unwrap();
        holdfast::alerts::list(&mut conn, holdfast::alerts::Audience::Admins, true, 10)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == "notify.failed")
            .collect()
    };
    assert_eq!(lost.len(), 1);
    assert!(lost[0].summary.contains("/gone"), "{}", lost[0].summary);
    assert!(
        states
            .iter()
            .filter(|d| !d.target.contains("/gone"))
            .all(|d| d.delivered_at.is_some())
    );
}

trait ReplaceBytes {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self.clone())
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes()
    }
}
