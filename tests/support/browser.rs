//! A tiny WebDriver client for end-to-end tests of the dashboard in a real browser.
//!
//! It drives Debian's `chromium` through Debian's `chromedriver` (package `chromium-driver`),
//! speaking the W3C WebDriver protocol over `reqwest`, so the tests need no extra crates and
//! no browser download (the machines reach package registries only).
//!
//! Outside CI a machine without chromedriver skips the browser tests ([`Browser::start`]
//! returns `None` and says why). Under `CI=true` a missing browser is a failure: `.ci/run`
//! installs it, and a silently skipped test would hide that the install broke.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session. Dropping it ends the session and stops chromedriver.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>`, chromedriver's address.
    driver_url: String,
    session_id: String,
    chromedriver: Child,
    /// Chromium's profile (`--user-data-dir`), so sessions share no state and leave no trace.
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    ///
    /// Returns `None` (after printing why) only when chromedriver is not installed and the
    /// `CI` environment variable is unset.
    ///
    /// # Panics
    ///
    /// Under CI when chromedriver or chromium is missing, and whenever the session cannot be
    /// created.
    pub async fn start() -> Option<Browser> {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            if !Path::new(path).exists() {
                let reason = format!(
                    "{path} not found: apt-get install --no-install-recommends chromium chromium-driver \
                     (package {package})"
                );
                if in_ci() {
                    panic!("browser tests need a browser under CI: {reason}");
                }
                eprintln!("skipping browser test: {reason}");
                return None;
            }
        }

        let profile = tempfile::Builder::new()
            .prefix("ripple-chromium-")
            .tempdir()
            .expect("creating a Chromium profile directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("finding a free TCP port")
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("spawning {CHROMEDRIVER}: {error}"));
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--no-first-run".to_string(),
            "--window-size=1280,1024".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut browser = Browser {
            http: reqwest::Client::new(),
            driver_url: format!("http://127.0.0.1:{port}"),
            session_id: String::new(),
            chromedriver,
            _profile: profile,
        };
        browser.wait_for_driver().await;
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        let url = format!("{}/session", browser.driver_url);
        let session = send(browser.http.post(&url).json(&capabilities))
            .await
            .unwrap_or_else(|error| panic!("creating a Chromium session: {error}"));
        browser.session_id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {session}"))
            .to_string();
        Some(browser)
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|error| panic!("navigating to {url}: {error}"));
    }

    /// The rendered text of the first element matching `css_selector`.
    pub async fn text_of(&self, css_selector: &str) -> String {
        self.try_text_of(css_selector)
            .await
            .unwrap_or_else(|error| panic!("reading the text of {css_selector:?}: {error}"))
    }

    /// Runs `js` as the body of a function in the page and returns its result.
    pub async fn execute(&self, js: &str) -> Value {
        let body = json!({ "script": js, "args": [] });
        self.command(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
            .unwrap_or_else(|error| panic!("executing {js:?}: {error}"))
    }

    /// Polls the text of `css_selector` until `predicate` holds, and returns that text.
    ///
    /// The element may appear late: a missing element counts as "not yet". On timeout the
    /// error tells the last text seen, or the last error.
    pub async fn wait_for_text(
        &self,
        css_selector: &str,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_text_of(css_selector).await {
                Ok(text) if predicate(&text) => return Ok(text),
                Ok(text) => format!("last text: {text:?}"),
                Err(error) => format!("last error: {error}"),
            };
            if Instant::now() >= deadline {
                return Err(format!("{css_selector:?} did not match within {timeout:?}; {last}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await
            .unwrap_or_else(|error| panic!("taking a screenshot: {error}"));
        let png = decode_base64(encoded.as_str().expect("a base64 string"));
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    }

    async fn try_text_of(&self, css_selector: &str) -> Result<String, String> {
        let body = json!({ "using": "css selector", "value": css_selector });
        let element = self.command(reqwest::Method::POST, "/element", Some(body)).await?;
        let id = element[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("no element reference in {element}"))?;
        let text = self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None).await?;
        text.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("element text is not a string: {text}"))
    }

    /// Sends a command to this session (`path` is relative to `/session/<id>`).
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.driver_url, self.session_id);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// `DELETE /session/<id>` over a blocking socket, for [`Drop`]. chromedriver answers once
    /// Chromium has quit; it keeps the connection open, so read up to the end of the body.
    fn delete_session(&self) -> std::io::Result<()> {
        let address = self.driver_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        write!(
            stream,
            "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
            self.session_id
        )?;
        let mut response = Vec::new();
        let mut buffer = [0; 4096];
        loop {
            let n = stream.read(&mut buffer)?;
            response.extend_from_slice(&buffer[..n]);
            if n == 0 || http_response_complete(&response) {
                return Ok(());
            }
        }
    }

    /// Waits until chromedriver answers `GET /status` with `ready: true`.
    async fn wait_for_driver(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/status", self.driver_url);
        loop {
            if let Ok(status) = send(self.http.get(&url)).await {
                if status["ready"] == Value::Bool(true) {
                    return;
                }
            }
            if let Ok(Some(status)) = self.chromedriver.try_wait() {
                panic!("{CHROMEDRIVER} exited at startup: {status}");
            }
            assert!(Instant::now() < deadline, "{CHROMEDRIVER} did not become ready within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    /// Ends the session, which makes chromedriver quit Chromium, then stops chromedriver.
    ///
    /// `Drop` cannot await, so the `DELETE` goes over a blocking socket: it is one small
    /// request to loopback. Killing chromedriver without it could orphan Chromium.
    fn drop(&mut self) {
        if !self.session_id.is_empty() {
            if let Err(error) = self.delete_session() {
                eprintln!("ending the Chromium session: {error}");
            }
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// Whether we run under CI (`CI` set to anything but empty, `0` or `false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Whether `response` holds a whole HTTP/1.1 response: headers and `Content-Length` bytes.
fn http_response_complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let headers = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let length = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    response.len() >= end + 4 + length
}

/// Sends a WebDriver request and unwraps its `value`; a WebDriver error becomes `Err` with
/// the error code and message.
async fn send(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{status}: {}: {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or("")
        ))
    }
}

/// Decodes standard base64 (as WebDriver returns screenshots); a base64 crate would be the
/// only other use, not worth a dependency.
fn decode_base64(text: &str) -> Vec<u8> {
    let sextet = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("invalid base64 byte {c:#x}"),
        }
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0, |n, (i, &c)| n | sextet(c) << (18 - 6 * i));
        bytes.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    bytes
}
