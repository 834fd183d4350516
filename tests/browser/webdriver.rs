//! A small W3C WebDriver client over reqwest, for chromedriver and Debian's
//! headless chromium. Only what the browser tests use.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver returns element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for a page or an element may take.
pub const WAIT: Duration = Duration::from_secs(15);

fn find_program(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env_var)
        && !p.is_empty()
    {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running chromedriver (in its own process group, so that the browsers it
/// starts are ended with it).
pub struct Driver {
    child: Child,
    base: String,
    chromium: PathBuf,
    http: reqwest::Client,
    profiles: Vec<tempfile::TempDir>,
}

impl Driver {
    pub fn start() -> anyhow::Result<Driver> {
        let driver = find_program("CHROMEDRIVER", &["chromedriver"]).ok_or_else(|| {
            anyhow!(
                "chromedriver was not found (set CHROMEDRIVER or install it: \
                 `apt-get install -y chromium chromium-driver`); the browser test cannot run"
            )
        })?;
        let chromium =
            find_program("CHROMIUM", &["chromium", "chromium-browser"]).ok_or_else(|| {
                anyhow!(
                    "chromium was not found (set CHROMIUM or install it: \
                     `apt-get install -y chromium chromium-driver`); the browser test cannot run"
                )
            })?;
        let mut child = Command::new(&driver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("chromedriver has no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = match rx.recv_timeout(WAIT) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("chromedriver did not report its port within {WAIT:?}");
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("HTTP client for chromedriver")?;
        Ok(Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            chromium,
            http,
            profiles: vec![],
        })
    }

    /// A new headless browser with a fresh profile.
    pub async fn session(&mut self) -> anyhow::Result<Session> {
        let profile = tempfile::tempdir().context("browser profile dir")?;
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--ignore-certificate-errors".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": true,
                    "pageLoadStrategy": "normal",
                    "unhandledPromptBehavior": "ignore",
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": self.chromium.display().to_string(),
                        "args": args,
                    }
                }
            }
        });
        let url = format!("{}/session", self.base);
        let value = call(&self.http, reqwest::Method::POST, &url, Some(caps))
            .await
            .context("creating a browser session")?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {value}"))?;
        self.profiles.push(profile);
        Ok(Session {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ends chromedriver and the browsers it started (same process group).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    } else if method == reqwest::Method::POST {
        req = req.json(&json!({}));
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("WebDriver {method} {url}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .with_context(|| format!("WebDriver {method} {url}: body"))?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "WebDriver {method} {url}: {} {}: {}",
            status.as_u16(),
            value["error"].as_str().unwrap_or(""),
            value["message"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        );
    }
    Ok(value)
}

/// An element reference.
#[derive(Clone, Debug)]
pub struct El(String);

pub struct Session {
    http: reqwest::Client,
    url: String,
}

impl Session {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}{path}", self.url),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        call(
            &self.http,
            reqwest::Method::GET,
            &format!("{}{path}", self.url),
            None,
        )
        .await
    }

    pub async fn quit(self) -> anyhow::Result<()> {
        call(&self.http, reqwest::Method::DELETE, &self.url, None).await?;
        Ok(())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({ "url": url })).await?;
        Ok(())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        let v = self.get("/url").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn source(&self) -> anyhow::Result<String> {
        let v = self.get("/source").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn title(&self) -> anyhow::Result<String> {
        let v = self.get("/title").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<El>> {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| El(s.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn find(&self, css: &str) -> anyhow::Result<El> {
        self.find_all(css)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element matches `{css}`"))
    }

    /// Waits until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<El> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(el) = self.find_all(css).await?.into_iter().next() {
                return Ok(el);
            }
            if Instant::now() > deadline {
                let url = self.current_url().await.unwrap_or_default();
                bail!("timed out waiting for `{css}` on {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.find_all(css).await?.is_empty())
    }

    pub async fn click(&self, el: &El) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/click", el.0), json!({}))
            .await?;
        Ok(())
    }

    pub async fn clear(&self, el: &El) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/clear", el.0), json!({}))
            .await?;
        Ok(())
    }

    /// Types `text` as keystrokes (a `\n` is the Enter key).
    pub async fn type_into(&self, el: &El, text: &str) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/value", el.0), json!({ "text": text }))
            .await?;
        Ok(())
    }

    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        self.clear(&el).await?;
        if text.is_empty() {
            return Ok(());
        }
        self.type_into(&el, text).await
    }

    pub async fn text(&self, el: &El) -> anyhow::Result<String> {
        let v = self.get(&format!("/element/{}/text", el.0)).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn property(&self, el: &El, name: &str) -> anyhow::Result<Value> {
        self.get(&format!("/element/{}/property/{name}", el.0))
            .await
    }

    pub async fn attribute(&self, el: &El, name: &str) -> anyhow::Result<Option<String>> {
        let v = self
            .get(&format!("/element/{}/attribute/{name}", el.0))
            .await?;
        Ok(v.as_str().map(str::to_string))
    }

    /// The element's `textContent`: exactly the characters in the DOM.
    pub async fn text_content(&self, css: &str) -> anyhow::Result<String> {
        let el = self.find(css).await?;
        let v = self.property(&el, "textContent").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn value_of(&self, css: &str) -> anyhow::Result<String> {
        let el = self.find(css).await?;
        let v = self.property(&el, "value").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn execute(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Runs `script` (which calls `arguments[arguments.length - 1]` with its result).
    pub async fn execute_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    /// Clicks `el` (a submit button or link) and waits for the next page to load.
    pub async fn click_and_wait(&self, el: &El) -> anyhow::Result<()> {
        self.execute("window.__hfOldPage = true;", json!([]))
            .await?;
        self.click(el).await?;
        self.wait_new_page().await
    }

    /// Waits until the document is a new one (`__hfOldPage` gone) and loaded.
    pub async fn wait_new_page(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let done = self
                .execute(
                    "return window.__hfOldPage === undefined && document.readyState === 'complete';",
                    json!([]),
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for the next page");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn accept_alert(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.get("/alert/text").await {
                Ok(v) => {
                    let text = v.as_str().unwrap_or_default().to_string();
                    self.post("/alert/accept", json!({})).await?;
                    return Ok(text);
                }
                Err(e) if Instant::now() > deadline => return Err(e.context("no dialog opened")),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Adds a virtual security key (WebDriver's Virtual Authenticators extension);
    /// returns its id.
    pub async fn add_virtual_authenticator(&self, options: Value) -> anyhow::Result<String> {
        let v = self.post("/webauthn/authenticator", options).await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no authenticator id in {v}"))
    }

    /// Puts a credential (private key and all) into a virtual security key.
    pub async fn add_virtual_credential(
        &self,
        authenticator: &str,
        credential: Value,
    ) -> anyhow::Result<()> {
        self.post(
            &format!("/webauthn/authenticator/{authenticator}/credential"),
            credential,
        )
        .await?;
        Ok(())
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    /// Emulates a phone screen (`mobile` honours the viewport meta tag).
    pub async fn emulate_phone(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true }),
        )
        .await?;
        Ok(())
    }

    pub async fn stop_emulation(&self) -> anyhow::Result<()> {
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await?;
        Ok(())
    }

    /// A PNG of the whole page (not just the viewport).
    pub async fn screenshot_full(&self, path: &Path) -> anyhow::Result<()> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1280.0).ceil();
        let height = size["height"].as_f64().unwrap_or(1000.0).ceil();
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("screenshot base64")?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// A PNG of what is on the screen.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let v = self.get("/screenshot").await?;
        let data = v.as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("screenshot base64")?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Drags with a real (mouse) pointer from the middle of `from` to the
    /// middle of `to`, in small steps, as a person would.
    pub async fn drag(&self, from: &El, to: &El) -> anyhow::Result<()> {
        let origin = |el: &El| json!({ ELEMENT: el.0 });
        self.post(
            "/actions",
            json!({ "actions": [{
                "type": "pointer",
                "id": "mouse",
                "parameters": { "pointerType": "mouse" },
                "actions": [
                    { "type": "pointerMove", "duration": 0, "origin": origin(from), "x": 0, "y": 0 },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pause", "duration": 50 },
                    { "type": "pointerMove", "duration": 100, "origin": "pointer", "x": 12, "y": 4 },
                    { "type": "pointerMove", "duration": 300, "origin": origin(to), "x": 0, "y": 0 },
                    { "type": "pause", "duration": 50 },
                    { "type": "pointerUp", "button": 0 },
                ],
            }]}),
        )
        .await?;
        Ok(())
    }

    /// Browser console entries since the last call (chromedriver's log endpoint).
    pub async fn console_log(&self) -> anyhow::Result<Vec<String>> {
        let v = self.post("/se/log", json!({ "type": "browser" })).await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}
