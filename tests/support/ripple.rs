//! ripple as a real process: the built binary, a config file, its log captured.
//!
//! Tests run the same executable users run (`CARGO_BIN_EXE_ripple`), so the CLI, config
//! loading, logging and shutdown are exercised too.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// A free TCP port on 127.0.0.1 (free when chosen; nothing reserves it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The tutorial's `config/server.yaml`, pointed at a test database and at free ports.
///
/// Only the values a parallel test must change are replaced: the database, the slot, the API
/// and SSE ports, and the state path; everything else is the file as shipped.
pub struct TutorialConfig {
    /// The database holding the tutorial's tables.
    pub database: String,
    /// The PostgreSQL port.
    pub pg_port: u16,
    /// The REST API port.
    pub api_port: u16,
    /// The SSE reaction's port.
    pub sse_port: u16,
}

impl TutorialConfig {
    /// A fresh database on the shared test cluster, loaded with the tutorial's `init.sql`,
    /// and the tutorial's config pointed at it with free ports; also a client of it.
    pub async fn create(prefix: &str) -> (TutorialConfig, tokio_postgres::Client) {
        let pg = crate::support::pg::PgCluster::shared();
        let database = pg.create_database(prefix).await;
        let db = pg.client(&database).await;
        db.batch_execute(include_str!("../../config/init.sql")).await.expect("init.sql");
        let config = TutorialConfig {
            database,
            pg_port: pg.port,
            api_port: free_port(),
            sse_port: free_port(),
        };
        (config, db)
    }

    /// The config text.
    pub fn render(&self) -> String {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/server.yaml"))
                .expect("config/server.yaml");
        let replace = |text: String, from: &str, to: &str| {
            assert!(text.contains(from), "config/server.yaml no longer contains {from:?}");
            text.replacen(from, to, 1)
        };
        let text = replace(shipped, "port: 8080", &format!("port: {}", self.api_port));
        let text = replace(text, "port: 8081", &format!("port: {}", self.sse_port));
        let text = replace(text, "database: metrics", &format!("database: {}", self.database));
        let text = replace(
            text,
            "slot_name: drasi_dashboard_slot",
            &format!("slot_name: slot_{}", self.database),
        );
        replace(text, "${PGPORT:-5432}", &self.pg_port.to_string())
    }
}

/// A running `ripple` process; killed on drop.
pub struct Ripple {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// The REST API's base URL.
    pub api: String,
    _dir: TempDir,
}

impl Ripple {
    /// Starts `ripple --config <file with config_text>` with extra arguments, and waits until
    /// the REST API answers.
    pub async fn start(config_text: &str, api_port: u16, args: &[&str]) -> Ripple {
        Ripple::start_with_state(config_text, api_port, args, None).await
    }

    /// Like [`start`](Self::start), with `RIPPLE_STATE` at `state` (to keep the state store
    /// across restarts) instead of in the process's own temporary directory.
    pub async fn start_with_state(
        config_text: &str,
        api_port: u16,
        args: &[&str],
        state: Option<&std::path::Path>,
    ) -> Ripple {
        let dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = dir.path().join("server.yaml");
        let state = state.map_or_else(|| dir.path().join("state.redb"), PathBuf::from);
        std::fs::write(&path, config_text).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ripple"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("RIPPLE_STATE", state)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ripple");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[ripple] {line}");
                    log.lock().unwrap().push(line);
                }
            });
        }
        let ripple = Ripple { child, log, api: format!("http://127.0.0.1:{api_port}"), _dir: dir };
        ripple
            .wait_for("the REST API", || async { ripple.get_json("/health").await.is_some() })
            .await;
        ripple
    }

    /// Polls `ready` every 50 ms for up to 30 s; panics (with the log) if it never holds.
    pub async fn wait_for<Fut>(&self, what: &str, mut ready: impl FnMut() -> Fut)
    where
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ready().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; ripple's log:\n{}", self.log().join("\n"));
    }

    /// Waits until source `id` reports `streaming`.
    pub async fn wait_streaming(&self, source: &str) {
        let path = format!("/api/v1/sources/{source}");
        self.wait_for("the source to stream", || async {
            self.get_json(&path).await.is_some_and(|v| v["data"]["status"]["state"] == "streaming")
        })
        .await;
    }

    /// GET `path` as JSON; `None` if the server does not answer.
    pub async fn get_json(&self, path: &str) -> Option<Value> {
        let response = reqwest::get(format!("{}{path}", self.api)).await.ok()?;
        response.json().await.ok()
    }

    /// GET `path` and return the status code and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.api)).await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// The query's current result rows, from the REST API.
    pub async fn results(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/v1/queries/{query}/results")).await;
        assert_eq!(status, 200, "results of {query}: {body}");
        assert_eq!(body["success"], true);
        let rows = body["data"]["results"].as_array().expect("results array").clone();
        assert_eq!(body["data"]["count"], rows.len());
        rows
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `text`.
    pub async fn wait_for_log(&self, text: &str) {
        self.wait_for(&format!("a log line containing {text:?}"), || async {
            self.log().iter().any(|l| l.contains(text))
        })
        .await;
    }

    /// Kills the process with SIGKILL (`kill -9`): no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9 ripple");
        self.child.wait().expect("reap ripple");
    }

    /// Waits (up to 30 s) for the process to exit on its own; returns the exit code.
    pub fn wait_exit(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "ripple did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "ripple did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ripple {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
