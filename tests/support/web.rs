//! `public/` served over HTTP, as the demo serves it.

use std::process::{Child, Command, Stdio};

/// `python3 -m http.server` serving `public/` on 127.0.0.1; killed on drop.
pub struct StaticServer(Child);

impl StaticServer {
    /// Starts it on `port` (the caller waits until it answers).
    pub fn start(port: u16) -> StaticServer {
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/public"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 serves the dashboard");
        StaticServer(child)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
