//! The client pages in a real browser: Debian's headless chromium driven over
//! WebDriver (chromedriver), against the real `holdfast` binary on a loopback
//! port. Needs `chromium` and `chromedriver` (`apt-get install -y chromium
//! chromium-driver`); without them the test fails and says so.
//!
//! On SQLite by default; with `HOLDFAST_TEST_DATABASE_URL` set, on a fresh
//! PostgreSQL database created for the run and dropped afterwards.
//!
//! Screenshots for a visual check are written to `/tmp/holdfast-card.png`,
//! `/tmp/holdfast-card-rtl.png`, `/tmp/holdfast-card-phone.png` (whole page),
//! `/tmp/holdfast-card-phone-top.png` (first screen), `/tmp/holdfast-list-phone.png`,
//! `/tmp/holdfast-form-error.png` and `/tmp/holdfast-webauthn.png` (`/keys/elevate`
//! after a refused security-key registration).

#[path = "support/piv.rs"]
#[allow(dead_code)]
mod piv;
#[path = "browser/server.rs"]
mod server;
#[path = "support/webauthn.rs"]
#[allow(dead_code)]
mod webauthn;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::Path;

use anyhow::{Context, anyhow, ensure};
use serde_json::{Value, json};

use server::{Server, User};
use webdriver::{Driver, Session};

const PASSWORD: &str = "browser test password 1";
const GEORGIAN_NAME: &str = "ნინო ბერიძე";
const GEORGIAN_COMPANY: &str = "შპს „მთის ღვინო“";
const ARABIC_NOTE: &str = "اتصلت العميلة بخصوص العقد الجديد، وستعاود الاتصال يوم الخميس.";
const SCRIPT_NOTE: &str = "<script>window.__hfXss = 1</script><img src=x onerror=\"window.__hfXss = 2\"> & \"quotes\" 'single'";
/// Several lines, Cyrillic, a decomposed "é" (e + U+0301) and a right-to-left
/// mark: stored and shown exactly as typed, never normalised.
const MIXED_NOTE: &str = "Первая строка — Cafe\u{301}\nმეორე ხაზი\n\u{200f}سطر ثالث";

fn users() -> Vec<User<'static>> {
    vec![
        User {
            username: "nino",
            role: "sales",
            team: Some("north"),
            display_name: "Nino Beridze",
            password: PASSWORD,
        },
        User {
            username: "tamar",
            role: "owner",
            team: None,
            display_name: "Tamar Owner",
            password: PASSWORD,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pages_in_a_real_browser() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&users())?;
    let mut driver = Driver::start()?;
    let browser = driver.session().await?;
    let result = scenario(&server, &browser).await;
    let result = match result {
        Ok(()) => browser.quit().await,
        Err(e) => {
            let _ = browser
                .screenshot_full(Path::new("/tmp/holdfast-failure.png"))
                .await;
            let url = browser.current_url().await.unwrap_or_default();
            let _ = browser.quit().await;
            Err(e.context(format!(
                "browser was at {url} (screenshot: /tmp/holdfast-failure.png)\n--- server log ---\n{}",
                server.log()
            )))
        }
    };
    drop(driver);
    result
}

async fn scenario(server: &Server, b: &Session) -> anyhow::Result<()> {
    // Not signed in: the client list sends the browser to the sign-in page.
    b.goto(&server.url("/clients")).await?;
    b.wait_for("#login-form").await?;
    ensure!(
        b.current_url().await?.ends_with("/login"),
        "an anonymous visit to /clients should end on /login"
    );
    sign_in(b, "nino").await?;
    b.wait_for("#client-filters").await?;
    ensure!(b.current_url().await?.ends_with("/clients"));
    ensure!(
        b.exists("#no-clients").await?,
        "a new salesperson has an empty list"
    );
    ensure!(
        !b.exists("#filter-deleted").await?,
        "sales staff do not get the deleted filter"
    );

    let id = create_client(server, b).await?;
    add_notes(b).await?;
    log_call(b).await?;
    check_stored_bytes(b, &id).await?;
    screenshots(server, b, &id).await?;
    edit_client(server, b, &id).await?;
    duplicates_and_search(server, b).await?;
    pagination(server, b).await?;
    delete_and_restore(server, b, &id).await?;
    audit_pages(server, b, &id).await?;
    pipeline_drag(server, b, &id).await?;
    import_csv(server, b).await?;
    csp_clean(b).await?;
    Ok(())
}

async fn sign_in(b: &Session, username: &str) -> anyhow::Result<()> {
    b.fill("#username", username).await?;
    b.fill("#password", PASSWORD).await?;
    let submit = b.find("#login-submit").await?;
    b.click_and_wait(&submit).await
}

async fn sign_out(b: &Session) -> anyhow::Result<()> {
    let button = b.find("header.top form[action='/logout'] button").await?;
    b.click_and_wait(&button).await?;
    b.wait_for("#login-form").await?;
    Ok(())
}

/// New client: first with an invalid phone (the form comes back with the
/// message and everything typed), then corrected. Returns the client id.
async fn create_client(server: &Server, b: &Session) -> anyhow::Result<String> {
    let new = b.find("#new-client").await?;
    b.click_and_wait(&new).await?;
    b.wait_for("#client-form").await?;
    b.fill("#name", GEORGIAN_NAME).await?;
    b.fill("#company", GEORGIAN_COMPANY).await?;
    b.fill("#tags", "vip, თბილისი").await?;
    b.fill("#source", "ვებსაიტი").await?;
    b.fill("#phones", "555 12 34").await?; // no country code: refused
    b.fill("#emails", "nino@example.ge, სამსახური").await?;
    b.fill("#address", "თბილისი\nრუსთაველის გამზ. 12").await?;
    let submit = b.find("#client-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#phones-error").await?;
    ensure!(b.exists("#form-error").await?, "a summary above the form");
    for (css, want) in [
        ("#name", GEORGIAN_NAME),
        ("#company", GEORGIAN_COMPANY),
        ("#tags", "vip, თბილისი"),
        ("#source", "ვებსაიტი"),
        ("#phones", "555 12 34"),
        ("#emails", "nino@example.ge, სამსახური"),
        ("#address", "თბილისი\nრუსთაველის გამზ. 12"),
    ] {
        let got = b.value_of(css).await?;
        ensure!(
            got == want,
            "{css} kept after the error: {got:?} != {want:?}"
        );
    }
    let phones = b.find("#phones").await?;
    ensure!(
        b.attribute(&phones, "aria-invalid").await?.as_deref() == Some("true"),
        "the phone field is marked invalid"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-form-error.png"))
        .await?;

    b.fill("#phones", "+995 555 12 34 56, mobile").await?;
    let submit = b.find("#client-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#client-card").await?;
    let url = b.current_url().await?;
    let path = url
        .strip_prefix(&server.base)
        .ok_or_else(|| anyhow!("card on another origin: {url}"))?;
    let id = path
        .strip_prefix("/clients/")
        .and_then(|rest| rest.split('?').next())
        .ok_or_else(|| anyhow!("not a card URL: {url}"))?
        .to_string();
    ensure!(b.text_content("#client-name").await? == GEORGIAN_NAME);
    ensure!(b.text_content("#client-company").await? == GEORGIAN_COMPANY);
    ensure!(b.title().await?.starts_with(GEORGIAN_NAME), "page title");
    ensure!(b.exists("#notice").await?, "a 'client created' notice");
    let tel = b.find("#client-phones a").await?;
    ensure!(
        b.attribute(&tel, "href").await?.as_deref() == Some("tel:+995555123456"),
        "phone is a tel: link to the normalised number"
    );
    ensure!(b.text(&tel).await? == "+995 555 12 34 56");
    let mail = b.find("#client-emails a").await?;
    ensure!(b.attribute(&mail, "href").await?.as_deref() == Some("mailto:nino@example.ge"));
    let tags = b.text_content("#client-tags").await?;
    ensure!(
        tags.contains("vip") && tags.contains("თბილისი"),
        "tags: {tags}"
    );
    ensure!(b.text_content("#client-owner").await? == "Nino Beridze");
    ensure!(b.text_content("#client-team").await? == "north");
    ensure!(
        b.text_content("#client-address").await? == "თბილისი\nრუსთაველის გამზ. 12",
        "address with its line break"
    );
    ensure!(b.exists("#no-deals").await?, "no deals yet");
    ensure!(
        b.exists("#edit-client").await?,
        "sales may edit their own client"
    );
    ensure!(
        !b.exists("#delete-client").await?,
        "sales staff get no delete button"
    );
    ensure!(
        !b.exists("#duplicate-warning").await?,
        "a new phone is no duplicate"
    );
    Ok(id)
}

/// The body of the newest timeline entry of `kind`.
async fn newest_body(b: &Session, kind: &str) -> anyhow::Result<String> {
    b.text_content(&format!("#timeline-entries .entry-{kind} .entry-body"))
        .await
}

async fn add_note(b: &Session, text: &str) -> anyhow::Result<()> {
    b.fill("#note-body", text).await?;
    let submit = b.find("#note-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#notice").await?;
    ensure!(
        b.current_url().await?.contains("done=note"),
        "after a note the card is shown again"
    );
    Ok(())
}

async fn add_notes(b: &Session) -> anyhow::Result<()> {
    // An empty note is refused next to the form, not with an error page.
    let submit = b.find("#note-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#note-error").await?;
    ensure!(b.exists("#client-card").await?);

    add_note(b, ARABIC_NOTE).await?;
    let shown = newest_body(b, "note").await?;
    ensure!(
        shown == ARABIC_NOTE,
        "Arabic note shown byte-for-byte: {shown:?}"
    );
    let source = b.source().await?;
    ensure!(
        source.contains(ARABIC_NOTE),
        "the note is in the page as text"
    );

    add_note(b, SCRIPT_NOTE).await?;
    let shown = newest_body(b, "note").await?;
    ensure!(
        shown == SCRIPT_NOTE,
        "markup in a note is shown as text: {shown:?}"
    );
    ensure!(
        b.find_all("#timeline-entries script, #timeline-entries img")
            .await?
            .is_empty(),
        "no element was made from the note"
    );
    let xss = b
        .execute("return window.__hfXss === undefined;", json!([]))
        .await?;
    ensure!(xss == Value::Bool(true), "the note's script did not run");
    let source = b.source().await?;
    ensure!(
        source.contains("&lt;script&gt;window.__hfXss"),
        "the note is escaped in the HTML"
    );

    add_note(b, MIXED_NOTE).await?;
    let shown = newest_body(b, "note").await?;
    ensure!(
        shown == MIXED_NOTE,
        "multi-line note with combining marks shown exactly: {shown:?}"
    );
    let entries = b.find_all("#timeline-entries .entry-note").await?;
    ensure!(entries.len() == 3, "three notes, got {}", entries.len());
    Ok(())
}

async fn log_call(b: &Session) -> anyhow::Result<()> {
    // A bad duration comes back with the message and the input.
    let inbound = b.find("#call-inbound").await?;
    b.click(&inbound).await?;
    b.fill("#call-minutes", "soon").await?;
    b.fill("#call-outcome", "Reached").await?;
    b.fill("#call-body", "ზარი — კლიენტი კმაყოფილია").await?;
    let submit = b.find("#call-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#minutes-error").await?;
    ensure!(b.value_of("#call-minutes").await? == "soon");
    ensure!(b.value_of("#call-body").await? == "ზარი — კლიენტი კმაყოფილია");
    let inbound = b.find("#call-inbound").await?;
    ensure!(
        b.property(&inbound, "checked").await? == Value::Bool(true),
        "direction kept"
    );

    b.fill("#call-minutes", "3:20").await?;
    let submit = b.find("#call-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#notice").await?;
    let title = b
        .text_content("#timeline-entries .entry-call .entry-title")
        .await?;
    ensure!(title == "Incoming call", "call title: {title}");
    let head = b
        .text_content("#timeline-entries .entry-call .entry-head")
        .await?;
    ensure!(
        head.contains("3 min 20 s") && head.contains("Reached"),
        "duration and outcome: {head}"
    );
    ensure!(newest_body(b, "call").await? == "ზარი — კლიენტი კმაყოფილია");
    Ok(())
}

/// What the server stored is exactly what was typed (read back through the
/// JSON API from inside the signed-in page).
async fn check_stored_bytes(b: &Session, id: &str) -> anyhow::Result<()> {
    let script = "const done = arguments[arguments.length - 1];\
        fetch('/api/v1/clients/' + arguments[0] + '/timeline', {credentials: 'same-origin'})\
          .then(r => r.json()).then(done, e => done({error: String(e)}));";
    let page = b.execute_async(script, json!([id])).await?;
    let bodies: Vec<&str> = page["items"]
        .as_array()
        .ok_or_else(|| anyhow!("timeline JSON: {page}"))?
        .iter()
        .filter(|e| e["kind"] == "note")
        .filter_map(|e| e["body"].as_str())
        .collect();
    ensure!(
        bodies == [MIXED_NOTE, SCRIPT_NOTE, ARABIC_NOTE],
        "stored notes, newest first: {bodies:?}"
    );
    Ok(())
}

/// Desktop and phone screenshots; on a phone nothing may be wider than the screen.
async fn screenshots(server: &Server, b: &Session, id: &str) -> anyhow::Result<()> {
    b.goto(&server.url(&format!("/clients/{id}"))).await?;
    b.wait_for("#client-card").await?;
    b.screenshot_full(Path::new("/tmp/holdfast-card.png"))
        .await?;

    // Right to left (as an Arabic or Hebrew locale would set it): the layout
    // mirrors through logical CSS properties and the page still fits.
    b.execute("document.documentElement.dir = 'rtl';", json!([]))
        .await?;
    let mirrored = b
        .execute(
            "const d = document.querySelector('.details').getBoundingClientRect();\
             const w = document.querySelector('.work').getBoundingClientRect();\
             return d.right <= w.left;",
            json!([]),
        )
        .await?;
    ensure!(
        mirrored == Value::Bool(true),
        "in RTL the details column moves to the left"
    );
    no_sideways_scroll(b, "RTL card").await?;
    b.screenshot_full(Path::new("/tmp/holdfast-card-rtl.png"))
        .await?;

    b.emulate_phone(390, 844).await?;
    b.goto(&server.url(&format!("/clients/{id}"))).await?;
    b.wait_for("#client-card").await?;
    no_sideways_scroll(b, "card").await?;
    let font = b
        .execute(
            "return parseFloat(getComputedStyle(document.querySelector('.entry-body')).fontSize);",
            json!([]),
        )
        .await?;
    ensure!(
        font.as_f64().unwrap_or(0.0) >= 14.0,
        "readable text on a phone: {font}"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-card-phone.png"))
        .await?;
    b.screenshot(Path::new("/tmp/holdfast-card-phone-top.png"))
        .await?;

    b.goto(&server.url("/clients")).await?;
    b.wait_for("#client-list").await?;
    no_sideways_scroll(b, "list").await?;
    let head_hidden = b
        .execute(
            "return document.querySelector('#client-list thead').getBoundingClientRect().height <= 1;",
            json!([]),
        )
        .await?;
    ensure!(
        head_hidden == Value::Bool(true),
        "the table collapses into cards on a phone"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-list-phone.png"))
        .await?;
    b.stop_emulation().await?;
    Ok(())
}

async fn no_sideways_scroll(b: &Session, what: &str) -> anyhow::Result<()> {
    let widths = b
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        )
        .await?;
    let (scroll, inner) = (widths[0].as_f64(), widths[1].as_f64());
    ensure!(
        matches!((scroll, inner), (Some(s), Some(i)) if s <= i),
        "the {what} page scrolls sideways on a phone: {widths}"
    );
    Ok(())
}

async fn edit_client(server: &Server, b: &Session, id: &str) -> anyhow::Result<()> {
    b.goto(&server.url(&format!("/clients/{id}"))).await?;
    b.wait_for("#client-card").await?;
    let edit = b.find("#edit-client").await?;
    b.click_and_wait(&edit).await?;
    b.wait_for("#client-form").await?;
    ensure!(
        b.value_of("#name").await? == GEORGIAN_NAME,
        "edit form filled in"
    );
    ensure!(b.value_of("#phones").await? == "+995 555 12 34 56, mobile");
    ensure!(b.value_of("#emails").await? == "nino@example.ge, სამსახური");
    // An emptied name is refused; the other change survives the round trip.
    let hot = b.find("#status option[value='hot']").await?;
    b.click(&hot).await?;
    b.fill("#name", "").await?;
    let submit = b.find("#client-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#name-error").await?;
    ensure!(b.value_of("#status").await? == "hot", "status kept");
    b.fill("#name", GEORGIAN_NAME).await?;
    let submit = b.find("#client-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#client-card").await?;
    ensure!(b.text_content("#client-status").await? == "Hot");
    let change = b
        .text_content("#timeline-entries .entry-status_change .change")
        .await?;
    ensure!(
        change.contains("New") && change.contains("Hot"),
        "status change on the timeline: {change}"
    );
    ensure!(
        b.text_content("#client-phones").await?.contains("mobile"),
        "labels survive an edit"
    );
    Ok(())
}

async fn duplicates_and_search(server: &Server, b: &Session) -> anyhow::Result<()> {
    b.goto(&server.url("/clients/new")).await?;
    b.wait_for("#client-form").await?;
    b.fill("#name", "Нина Беридзе").await?;
    b.fill("#phones", "+995555123456").await?;
    let submit = b.find("#client-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#client-card").await?;
    ensure!(
        b.exists("#duplicate-warning").await?,
        "the same phone marks a possible duplicate"
    );

    b.goto(&server.url("/clients?duplicates=1")).await?;
    b.wait_for("#client-list").await?;
    let names = column(b, "td.name a").await?;
    ensure!(names == ["Нина Беридзе"], "duplicates filter: {names:?}");

    b.goto(&server.url("/clients")).await?;
    b.wait_for("#client-filters").await?;
    b.fill("#q", "ნინო").await?;
    let search = b.find("#search-submit").await?;
    b.click_and_wait(&search).await?;
    b.wait_for("#client-list").await?;
    let names = column(b, "td.name a").await?;
    ensure!(
        names == [GEORGIAN_NAME],
        "search by Georgian name: {names:?}"
    );
    ensure!(
        b.value_of("#q").await? == "ნინო",
        "the search box keeps the query"
    );

    b.goto(
        &server.url("/clients?tag=%E1%83%97%E1%83%91%E1%83%98%E1%83%9A%E1%83%98%E1%83%A1%E1%83%98"),
    )
    .await?;
    b.wait_for("#client-list").await?;
    let names = column(b, "td.name a").await?;
    ensure!(names == [GEORGIAN_NAME], "tag filter: {names:?}");

    b.goto(&server.url("/clients?status=hot")).await?;
    b.wait_for("#client-list").await?;
    let names = column(b, "td.name a").await?;
    ensure!(names == [GEORGIAN_NAME], "status filter: {names:?}");
    Ok(())
}

async fn column(b: &Session, css: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![];
    for el in b.find_all(css).await? {
        out.push(
            b.property(&el, "textContent")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    Ok(out)
}

/// 30 clients with one tag (made through the JSON API, for speed): the first
/// page has 25 and a "Next page" link that keeps the filter.
async fn pagination(server: &Server, b: &Session) -> anyhow::Result<()> {
    let cert = reqwest::Certificate::from_pem(&server.certificate()?)?;
    let api = reqwest::Client::builder()
        .add_root_certificate(cert)
        .cookie_store(true)
        .build()?;
    let base = format!("https://localhost:{}", server.port()?);
    let session: Value = api
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": "nino", "password": PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let csrf = session["csrf_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no csrf token: {session}"))?
        .to_string();
    let mut last_id = String::new();
    for i in 1..=30 {
        let created: Value = api
            .post(format!("{base}/api/v1/clients"))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({ "name": format!("Bulk client {i:02}"), "tags": ["bulk"] }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("creating bulk client {i}"))?
            .json()
            .await?;
        last_id = created["client"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id: {created}"))?
            .to_string();
    }
    // 25 notes on one card: the card shows 20 and links to the older ones.
    for i in 1..=25 {
        api.post(format!("{base}/api/v1/clients/{last_id}/timeline"))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({ "kind": "note", "body": format!("note {i:02}") }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("adding note {i}"))?;
    }
    b.goto(&server.url(&format!("/clients/{last_id}"))).await?;
    b.wait_for("#client-card").await?;
    let newest = column(b, "#timeline-entries .entry-body").await?;
    ensure!(
        newest.len() == 20 && newest.first().map(String::as_str) == Some("note 25"),
        "the card shows the newest 20 entries: {newest:?}"
    );
    let more = b.find("#timeline-more").await?;
    b.click_and_wait(&more).await?;
    b.wait_for("#timeline-newest").await?;
    let older: Vec<String> = column(b, "#timeline-entries .entry-title").await?;
    let bodies = column(b, "#timeline-entries .entry-body").await?;
    ensure!(
        bodies == ["note 05", "note 04", "note 03", "note 02", "note 01"]
            && older.last().map(String::as_str) == Some("Card created"),
        "older entries: {bodies:?} / {older:?}"
    );
    ensure!(!b.exists("#timeline-more").await?, "no older entries left");

    b.goto(&server.url("/clients?tag=bulk")).await?;
    b.wait_for("#client-list").await?;
    let first = column(b, "td.name a").await?;
    ensure!(first.len() == 25, "first page: {}", first.len());
    let next = b.find("#next-page").await?;
    let href = b.attribute(&next, "href").await?.unwrap_or_default();
    ensure!(
        href.contains("tag=bulk") && href.contains("cursor="),
        "next link keeps the filter: {href}"
    );
    b.click_and_wait(&next).await?;
    b.wait_for("#client-list").await?;
    let second = column(b, "td.name a").await?;
    ensure!(second.len() == 5, "second page: {second:?}");
    ensure!(
        second.iter().all(|n| !first.contains(n)),
        "pages do not overlap"
    );
    ensure!(!b.exists("#next-page").await?, "last page has no next link");
    ensure!(
        b.exists("#first-page").await?,
        "a way back to the first page"
    );
    Ok(())
}

/// An owner deletes the client (after a confirmation), finds it among the
/// deleted ones and restores it.
async fn delete_and_restore(server: &Server, b: &Session, id: &str) -> anyhow::Result<()> {
    sign_out(b).await?;
    sign_in(b, "tamar").await?;
    elevate(server, b).await?;
    b.wait_for("#client-filters").await?;
    ensure!(
        b.exists("#filter-deleted").await?,
        "owners can list deleted clients"
    );
    b.goto(&server.url(&format!("/clients/{id}"))).await?;
    b.wait_for("#client-card").await?;
    let delete = b.find("#delete-client").await?;
    b.execute("window.__hfOldPage = true;", json!([])).await?;
    b.click(&delete).await?;
    let question = b.accept_alert().await?;
    ensure!(question.contains("Delete"), "confirmation text: {question}");
    b.wait_new_page().await?;
    b.wait_for("#client-filters").await?;
    ensure!(b.exists(".notice").await?, "a 'deleted' notice");
    b.fill("#q", "ნინო").await?;
    let search = b.find("#search-submit").await?;
    b.click_and_wait(&search).await?;
    b.wait_for("#no-clients").await?;

    let deleted = b.find("#filter-deleted").await?;
    b.click(&deleted).await?;
    let search = b.find("#search-submit").await?;
    b.click_and_wait(&search).await?;
    b.wait_for("#client-list").await?;
    let restore = b.find(&format!("button[data-restore='{id}']")).await?;
    b.click_and_wait(&restore).await?;
    b.wait_for("#client-card").await?;
    ensure!(b.text_content("#client-name").await? == GEORGIAN_NAME);
    ensure!(b.exists("#notice").await?, "a 'restored' notice");
    let kinds = column(b, "#timeline-entries .entry-title").await?;
    ensure!(
        kinds.first().map(String::as_str) == Some("Card restored")
            && kinds.get(1).map(String::as_str) == Some("Card deleted"),
        "delete and restore on the timeline: {kinds:?}"
    );
    Ok(())
}

/// An owner's password alone shows no client data: the page says a hardware-key
/// proof is needed and links to `/keys/elevate`, where the browser gets a
/// challenge; a software YubiKey signs it and posts the proof as
/// `holdfast key login` would; then the same browser session sees the clients.
async fn elevate(server: &Server, b: &Session) -> anyhow::Result<()> {
    use holdfast::keys::protocol;
    b.wait_for("#error-elevate").await?;
    let cert = reqwest::Certificate::from_pem(&server.certificate()?)?;
    let cli = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()?;
    let base = format!("https://localhost:{}", server.port()?);
    // Enroll a software key for the owner with a console-issued code.
    let key = piv::SoftPiv::attested(&server.piv_f9, &piv::SlotSpec::default());
    let code = server.enrollment_code("tamar")?;
    let msg = protocol::enroll_message(
        &server.base,
        &holdfast::identity::token_hash(&code),
        "9a",
        &protocol::key_fingerprint(&key.spki),
    )
    .ok_or_else(|| anyhow!("enroll message"))?;
    cli.post(format!("{base}/api/v1/keys/enroll"))
        .json(&json!({
            "code": code, "kind": "piv", "slot": "9a",
            "public_key": protocol::b64(&key.spki),
            "attestation": protocol::b64(&key.slot_der),
            "intermediate": protocol::b64(&key.f9_der),
            "signature": protocol::b64(&key.sign(&msg)),
        }))
        .send()
        .await?
        .error_for_status()?;
    // The browser asks for a challenge and shows it.
    let link = b.find("#error-elevate").await?;
    b.click_and_wait(&link).await?;
    b.wait_for("#key-not-elevated").await?;
    ensure!(
        b.exists("#own-keys").await?,
        "the page lists the owner's enrolled key"
    );
    let get = b.find("#key-challenge-submit").await?;
    b.click_and_wait(&get).await?;
    b.wait_for("#key-challenge-command").await?;
    let token = b.text_content("#key-challenge-token").await?;
    let parts: Vec<&str> = token.trim().split('.').collect();
    ensure!(
        parts.len() == 5 && parts[0] == "hfk1",
        "challenge token: {token}"
    );
    let origin = String::from_utf8(protocol::unb64(parts[1]).unwrap_or_default())?;
    ensure!(origin == server.base, "origin {origin} vs {}", server.base);
    let msg = protocol::proof_message(
        &origin,
        parts[2],
        parts[3],
        parts[4],
        &protocol::key_fingerprint(&key.spki),
    )
    .ok_or_else(|| anyhow!("proof message"))?;
    cli.post(format!("{base}/api/v1/keys/proof"))
        .json(&json!({
            "challenge": parts[2],
            "public_key": protocol::b64(&key.spki),
            "signature": protocol::b64(&key.sign(&msg)),
        }))
        .send()
        .await?
        .error_for_status()?;
    let cont = b.find("#key-continue").await?;
    b.click_and_wait(&cont).await?;
    Ok(())
}

/// The owner (signed in by `delete_and_restore`) opens the audit log from the
/// navigation, the salesperson's activity page with its chart, and the card's
/// history section.
async fn audit_pages(server: &Server, b: &Session, id: &str) -> anyhow::Result<()> {
    let nav = b.find("#nav-audit").await?;
    b.click_and_wait(&nav).await?;
    b.wait_for("#audit-filters").await?;
    ensure!(b.exists("#audit-events").await?, "the owner sees events");
    ensure!(
        b.exists("#verify-never").await?,
        "no verification has run yet, and the page says so"
    );
    b.fill("#f-action", "client.update").await?;
    let search = b.find("#audit-search").await?;
    b.click_and_wait(&search).await?;
    b.wait_for("#audit-events").await?;
    let actions = column(b, "#audit-events code").await?;
    ensure!(
        !actions.is_empty() && actions.iter().all(|a| a == "client.update"),
        "filtered by action: {actions:?}"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-audit.png"))
        .await?;
    let mut person = None;
    for a in b.find_all("#people a").await? {
        if b.text(&a).await? == "Nino Beridze" {
            person = Some(a);
        }
    }
    let person = person.ok_or_else(|| anyhow!("Nino is not among the people"))?;
    b.click_and_wait(&person).await?;
    b.wait_for("#audit-chart").await?;
    let bars = b
        .execute(
            "return [...document.querySelectorAll('#audit-chart rect.bar')].map(r => r.getBoundingClientRect().height);",
            json!([]),
        )
        .await?;
    let bars = bars.as_array().cloned().unwrap_or_default();
    ensure!(bars.len() == 30, "a bar per day: {}", bars.len());
    ensure!(
        bars.iter().any(|h| h.as_f64().unwrap_or(0.0) > 1.0),
        "today's bar is drawn: {bars:?}"
    );
    ensure!(
        b.text_content("#audit-user-name")
            .await?
            .contains("Nino Beridze")
    );
    b.screenshot_full(Path::new("/tmp/holdfast-audit-user.png"))
        .await?;
    b.goto(&server.url(&format!("/clients/{id}"))).await?;
    b.wait_for("#client-history").await?;
    let who = column(b, "#client-history-events td:nth-child(2)").await?;
    ensure!(
        who.iter().any(|w| w == "Nino Beridze"),
        "the card's history names the salesperson: {who:?}"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-card-history.png"))
        .await?;
    Ok(())
}

/// Nothing on these pages broke the Content-Security-Policy (no inline styles
/// or scripts).
/// Adds a deal on the card, then moves it on the pipeline board by dragging
/// it (the board's script fills and sends the card's own form), and into
/// "lost", which asks for the reason first. The deal page lists every move.
async fn pipeline_drag(server: &Server, b: &Session, client_id: &str) -> anyhow::Result<()> {
    b.goto(&server.url(&format!("/clients/{client_id}")))
        .await?;
    b.wait_for("#client-card").await?;
    for (title, amount, currency) in [
        ("ღვინის მიწოდება", "1500.50", "gel"),
        ("Second", "200", "USD"),
    ] {
        let summary = b.find("#new-deal summary").await?;
        b.click(&summary).await?;
        b.fill("#deal-new-title", title).await?;
        b.fill("#deal-new-amount", amount).await?;
        b.fill("#deal-new-currency", currency).await?;
        let submit = b.find("#deal-new-submit").await?;
        b.click_and_wait(&submit).await?;
        b.wait_for("#notice").await?;
    }
    let link = b.find("#deals a").await?;
    let href = b
        .attribute(&link, "href")
        .await?
        .ok_or_else(|| anyhow!("deal link without href"))?;
    let deal_id = href
        .rsplit('/')
        .next()
        .ok_or_else(|| anyhow!("deal href {href}"))?
        .to_string();
    // The newest deal ("Second") is listed first; find ours by its title.
    let mut ours = None;
    for a in b.find_all("#deals a").await? {
        if b.text(&a).await? == "ღვინის მიწოდება" {
            ours = b.attribute(&a, "href").await?;
        }
    }
    let ours = ours.ok_or_else(|| anyhow!("the new deal is not on the card"))?;
    let id = ours.rsplit('/').next().unwrap_or(&deal_id).to_string();

    let nav = b.find("#nav-pipeline").await?;
    b.click_and_wait(&nav).await?;
    b.wait_for("#pipeline").await?;
    let card = format!("#deal-{id}");
    ensure!(
        b.exists(&format!(".pipeline-col[data-stage='new'] {card}"))
            .await?,
        "a new deal starts in the first stage"
    );
    let totals = b
        .text_content(".pipeline-col[data-stage='new'] .stage-totals")
        .await?;
    ensure!(
        totals.contains("1500.5 GEL") && totals.contains("200 USD"),
        "totals per currency: {totals}"
    );

    // Drag to "qualified".
    let handle = b.find(&format!("{card} .deal-amount")).await?;
    let target = b
        .find(".pipeline-col[data-stage='qualified'] .pipeline-col-head")
        .await?;
    b.execute("window.__hfOldPage = true;", json!([])).await?;
    b.drag(&handle, &target).await?;
    b.wait_new_page().await?;
    b.wait_for("#notice").await?;
    ensure!(
        b.exists(&format!(".pipeline-col[data-stage='qualified'] {card}"))
            .await?,
        "the dragged deal is in its new column"
    );
    let totals = b
        .text_content(".pipeline-col[data-stage='qualified'] .stage-totals")
        .await?;
    ensure!(
        totals.contains("1500.5 GEL"),
        "the total moved along: {totals}"
    );

    // Drag to "lost": the reason is asked for before anything is sent.
    let handle = b.find(&format!("{card} .deal-amount")).await?;
    let target = b
        .find(".pipeline-col[data-stage='lost'] .pipeline-col-head")
        .await?;
    b.drag(&handle, &target).await?;
    let focused = b
        .execute(
            "return document.activeElement && document.activeElement.name;",
            json!([]),
        )
        .await?;
    ensure!(
        focused == json!("lost_reason"),
        "the reason field has the focus: {focused}"
    );
    b.fill(
        &format!("{card} input[name=lost_reason]"),
        "Выбрали конкурента",
    )
    .await?;
    let submit = b.find(&format!("{card} .move-submit")).await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#notice").await?;
    ensure!(
        b.exists(&format!(".pipeline-col[data-stage='lost'] {card}"))
            .await?,
        "the lost deal is in the lost column"
    );
    ensure!(b.text_content(&format!("{card} .deal-lost-reason")).await? == "Выбрали конкурента");
    b.screenshot_full(Path::new("/tmp/holdfast-pipeline.png"))
        .await?;

    // The deal's page lists every stage it went through.
    let title = b.find(&format!("{card} .deal-title")).await?;
    b.click_and_wait(&title).await?;
    b.wait_for("#deal-history").await?;
    let rows = b.find_all("#deal-history-rows tbody tr").await?;
    ensure!(
        rows.len() == 3,
        "created, qualified, lost: {} rows",
        rows.len()
    );

    // The owner adds a stage named in Georgian; it becomes a column.
    b.goto(&server.url("/pipeline")).await?;
    b.wait_for("#new-stage-form").await?;
    b.fill("#new-stage-code", "ხელშეკრულება").await?;
    b.fill("#new-stage-label", "ხელშეკრულება").await?;
    let submit = b.find("#new-stage-submit").await?;
    b.click_and_wait(&submit).await?;
    b.wait_for("#notice").await?;
    ensure!(
        b.exists(".pipeline-col[data-stage='ხელშეკრულება']").await?,
        "the new stage is a column"
    );
    Ok(())
}

/// The owner imports a CSV file through the page: `app.js` sends the file as it
/// is (UTF-16 with a byte order mark, semicolons), the preview shows the names
/// exactly as written, and the commit creates the cards.
async fn import_csv(server: &Server, b: &Session) -> anyhow::Result<()> {
    b.goto(&server.url("/clients")).await?;
    let link = b.wait_for("#import-clients").await?;
    b.click_and_wait(&link).await?;
    b.wait_for("#import-upload").await?;
    let text = "Имя;Телефон\nGiorgi „Gio“ Maisuradze;+995 599 10 20 30\nفاطمة الزهراء;\n";
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    let path = std::env::temp_dir().join(format!("holdfast-import-{}.csv", std::process::id()));
    std::fs::write(&path, &bytes)?;
    let input = b.find("#import-file").await?;
    b.type_into(&input, path.to_str().context("temp path")?)
        .await?;
    let submit = b.find("#import-submit").await?;
    b.click(&submit).await?;
    b.wait_for("#import-settings").await?;
    let detected = b.text_content("#import-detected").await?;
    ensure!(detected.contains("utf-16le"), "detected: {detected}");
    let cells = column(b, "#import-preview tbody td").await?;
    ensure!(
        cells.iter().any(|c| c == "فاطمة الزهراء")
            && cells.iter().any(|c| c == "Giorgi „Gio“ Maisuradze"),
        "preview cells: {cells:?}"
    );
    let commit = b.find("#import-commit").await?;
    b.click_and_wait(&commit).await?;
    b.wait_for("#import-done").await?;
    let _ = std::fs::remove_file(&path);
    b.goto(&server.url("/clients?q=%D9%81%D8%A7%D8%B7%D9%85%D8%A9"))
        .await?;
    b.wait_for("#client-list").await?;
    let names = column(b, "td.name a").await?;
    ensure!(
        names.iter().any(|n| n == "فاطمة الزهراء"),
        "the imported client is found: {names:?}"
    );
    Ok(())
}

async fn csp_clean(b: &Session) -> anyhow::Result<()> {
    let log = b.console_log().await?;
    let violations: Vec<&String> = log
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
        .collect();
    ensure!(violations.is_empty(), "CSP violations: {violations:?}");
    Ok(())
}

/// Security keys in the browser: Chromium's virtual authenticator (WebDriver's
/// Virtual Authenticators extension) driven through `/keys/elevate` and the
/// script in `app.js`, against a server whose `public_url` is
/// `https://localhost:PORT` (WebAuthn needs a domain name).
///
/// Chromium's virtual authenticator cannot be registered: it does not support
/// the credProtect extension the server requires (with enforcement), and it
/// attests with a certificate it signs itself, made anew for every
/// registration (its expiry is "now + 20 years"), so no attestation CA could
/// allow it anyway. Registering through the page is tested up to the browser's
/// refusal, which the page shows. The elevation then runs
/// with a credential whose attestation the server does allow: the test
/// registers a software security key over the JSON API (attested by a test
/// FIDO root in the server's `keys.webauthn_trust_dir`) and copies the same
/// private key into the virtual authenticator, which answers the real page's
/// `navigator.credentials.get`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_key_in_a_real_browser() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let fido_root = webauthn::attestation_root("Holdfast Browser Test FIDO Root");
    let root_pem = fido_root.pem.clone();
    let server = Server::start_with(&users(), move |dir| {
        let trust = dir.join("webauthn-trust");
        let _ = std::fs::create_dir_all(&trust);
        let _ = std::fs::write(trust.join("test-fido-root.pem"), &root_pem);
        vec![
            (
                "HOLDFAST_SERVER__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            ),
            (
                "HOLDFAST_PUBLIC_URL".into(),
                format!("https://localhost:{port}"),
            ),
            (
                "HOLDFAST_KEYS__WEBAUTHN_TRUST_DIR".into(),
                trust.display().to_string(),
            ),
        ]
    })?;
    let mut driver = Driver::start()?;
    let browser = driver.session().await?;
    let result = security_key_scenario(&server, &browser, &fido_root).await;
    let result = match result {
        Ok(()) => browser.quit().await,
        Err(e) => {
            let _ = browser
                .screenshot_full(Path::new("/tmp/holdfast-webauthn-failure.png"))
                .await;
            let url = browser.current_url().await.unwrap_or_default();
            let _ = browser.quit().await;
            Err(e.context(format!(
                "browser was at {url} (screenshot: /tmp/holdfast-webauthn-failure.png)\n--- server log ---\n{}",
                server.log()
            )))
        }
    };
    drop(driver);
    result
}

async fn security_key_scenario(
    server: &Server,
    b: &Session,
    fido_root: &piv::TestCa,
) -> anyhow::Result<()> {
    ensure!(
        server.base.starts_with("https://localhost:"),
        "the server's public URL is {}",
        server.base
    );
    let authenticator = b
        .add_virtual_authenticator(json!({
            "protocol": "ctap2_1",
            "transport": "usb",
            "hasResidentKey": false,
            "hasUserVerification": true,
            "isUserVerified": true,
        }))
        .await?;
    b.goto(&server.url("/login")).await?;
    b.wait_for("#login-form").await?;
    sign_in(b, "tamar").await?;
    b.goto(&server.url("/keys/elevate")).await?;
    b.wait_for("#key-not-elevated").await?;
    b.wait_for("#webauthn-register-form:not([hidden])").await?;
    ensure!(
        !b.exists("#webauthn-login").await?,
        "no key yet: nothing to prove with"
    );

    // Registering through the page runs the script: the server's options go to
    // navigator.credentials.create. Chromium's virtual authenticator cannot
    // meet them (it has no credProtect, which the server requires with
    // enforcement, and its attestation is self-signed), so the browser refuses
    // and the page says the key was not accepted.
    let code = server.enrollment_code("tamar")?;
    b.fill("#webauthn-code", &code).await?;
    let register = b.find("#webauthn-register").await?;
    b.click(&register).await?;
    let status = b.wait_for("#webauthn-status:not([hidden])").await?;
    let text = b.text(&status).await?;
    ensure!(
        text.starts_with("The security key was not accepted:"),
        "the page reports the refusal: {text}"
    );
    ensure!(
        !b.exists("#webauthn-login").await?,
        "nothing was registered"
    );
    b.screenshot_full(Path::new("/tmp/holdfast-webauthn.png"))
        .await?;

    // A software key the allowed set accepts, registered over the API for the
    // same user, and the same credential put into the virtual authenticator.
    let cert = reqwest::Certificate::from_pem(&server.certificate()?)?;
    let api = reqwest::Client::builder()
        .add_root_certificate(cert)
        .cookie_store(true)
        .build()?;
    let session: Value = api
        .post(server.url("/api/v1/session"))
        .json(&json!({"username": "tamar", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let csrf = session["csrf_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no csrf token in {session}"))?
        .to_string();
    let mut key = webauthn::SoftKey::new(
        webauthn::AAGUID,
        webauthn::packed_attestation(fido_root, webauthn::AAGUID),
    );
    let code = server.enrollment_code("tamar")?;
    let begin: Value = api
        .post(server.url("/api/v1/keys/webauthn/register/begin"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"code": code, "label": "Virtual key"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let credential = key.register(&begin["public_key"], &server.base);
    let res = api
        .post(server.url("/api/v1/keys/webauthn/register/finish"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"ceremony": begin["ceremony"], "credential": credential}))
        .send()
        .await?;
    ensure!(
        res.status().is_success(),
        "registering the software key: {}",
        res.text().await?
    );
    b.add_virtual_credential(
        &authenticator,
        json!({
            "credentialId": webauthn::b64(&key.cred_id),
            "isResidentCredential": false,
            "rpId": "localhost",
            "privateKey": webauthn::b64(&key.pkcs8),
            "signCount": key.counter,
        }),
    )
    .await?;

    // The page offers the key; one click proves and elevates this session.
    b.goto(&server.url("/keys/elevate")).await?;
    b.wait_for("#key-not-elevated").await?;
    let prove = b.wait_for("#webauthn-login:not([hidden])").await?;
    b.click(&prove).await?;
    b.wait_for("#key-elevated").await?;
    b.goto(&server.url("/clients")).await?;
    b.wait_for("#client-filters").await?;
    csp_clean(b).await?;
    Ok(())
}
