//! A throwaway PostgreSQL 15 cluster for the integration tests.
//!
//! The project's machines (developers' and CI's) have Debian's PostgreSQL 15 binaries and no
//! Docker engine, so the tests run a real server from `/usr/lib/postgresql/15/bin` in a
//! temporary directory: `initdb` once, then `postgres` on a free loopback port with the settings
//! ripple needs (`wal_level = logical`, plenty of replication slots and WAL senders, and
//! `wal_sender_timeout = 10s` so keep-alives arrive while the WAL is idle). `fsync` is off:
//! the data is thrown away, and the tests should not wait for the disk.
//!
//! A missing server is a failure, not a skip: the tests panic and name the package to install.
//!
//! `initdb`, `postgres` and `pg_ctl` refuse to run as root, and CI runs as root, so as root
//! every server-side command runs as the `postgres` system user through `runuser -u postgres --`.
//!
//! # Cleanup, even for the shared cluster
//!
//! [`PgCluster::shared`] lives in a `static`, and statics are never dropped. So cleanup does not
//! rely on `Drop`: every cluster has a *watchdog*, a tiny `sh` process whose standard input is a
//! pipe from the test process. The watchdog blocks reading it; when the pipe closes, because
//! [`PgCluster`] was dropped or because the test process ended in any way (normal exit, panic,
//! abort, `SIGKILL`), it stops the server with `pg_ctl stop -m immediate` and removes the
//! directory. The server and the watchdog run in their own process group, so a Ctrl-C in the
//! terminal hits only the test process, and the watchdog still gets to clean up after it.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian's `postgresql-15` package puts the server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long the server may take to accept connections before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often to retry with a new port when another process took the one we picked: the port
/// is free when chosen, but nothing reserves it until `postgres` binds it.
const PORT_ATTEMPTS: usize = 3;

/// The watchdog: wait for standard input to close, then stop the server and remove the
/// directory. `$1` is the directory, `$2`… the command prefix to run `pg_ctl` as `postgres`.
const WATCHDOG_SCRIPT: &str = r#"
dir="$1"; shift
cat >/dev/null
"$@" "$dir/bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1
rm -rf "$dir"
"#;

/// A running PostgreSQL server on `127.0.0.1:port`, superuser `postgres`, `trust` auth.
pub struct PgCluster {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// Holds the data directory, the server log and the unix socket. The watchdog removes it;
    /// `TempDir`'s own removal is the fallback if the watchdog could not.
    dir: TempDir,
    /// `postgres` (or `runuser`, its parent, when we are root); reaped on drop.
    server: Child,
    /// The watchdog; see the module docs.
    watchdog: Child,
    /// The write end of the watchdog's standard input: closing it stops the cluster.
    watchdog_stdin: Option<ChildStdin>,
}

impl PgCluster {
    /// Creates and starts a new cluster in a temporary directory.
    ///
    /// # Panics
    ///
    /// If the PostgreSQL 15 binaries are missing (naming the package to install), or if the
    /// server does not come up within 30 s (printing its log).
    pub fn start() -> PgCluster {
        let bin = Path::new(PG_BIN);
        assert!(
            bin.join("initdb").exists() && bin.join("postgres").exists(),
            "PostgreSQL 15 server binaries not found in {PG_BIN}; the integration tests need \
             them: apt-get install postgresql-15 (or run scripts/pg install)"
        );
        let root = is_root();

        let dir = tempfile::Builder::new()
            .prefix("ripple-pg-")
            .tempdir()
            .expect("creating a temporary directory for PostgreSQL");
        if root {
            run(Command::new("chown").arg("postgres:postgres").arg(dir.path()));
        }
        // The watchdog runs `pg_ctl` from here; a symlink keeps its script free of paths.
        std::os::unix::fs::symlink(bin, dir.path().join("bin")).expect("symlinking the binaries");

        let data = dir.path().join("data");
        run(as_postgres(root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"]));

        let (mut watchdog, watchdog_stdin) = spawn_watchdog(dir.path(), root);
        let mut cluster = None;
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let server = spawn_server(dir.path(), port, root);
            match wait_until_ready(dir.path(), port, server) {
                Ok(server) => {
                    cluster = Some((port, server));
                    break;
                }
                Err(log) if log.contains("Address already in use") && attempt < PORT_ATTEMPTS => {
                    continue
                }
                Err(log) => {
                    // Let the watchdog stop a half-started server before the directory goes.
                    drop(watchdog_stdin);
                    let _ = watchdog.wait();
                    panic!("PostgreSQL did not start on 127.0.0.1:{port}; server log:\n{log}")
                }
            }
        }
        let (port, server) = cluster.expect("the loop either starts the server or panics");
        PgCluster { port, dir, server, watchdog, watchdog_stdin: Some(watchdog_stdin) }
    }

    /// Restarts the server on the same port, as `pg_ctl restart -m fast` would: clients are
    /// disconnected, and the cluster's data (replication slots included) is kept.
    ///
    /// # Panics
    ///
    /// If the server does not stop, or does not come back within 30 s.
    pub fn restart(&mut self) {
        let root = is_root();
        run(as_postgres(root, &Path::new(PG_BIN).join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "-t", "30", "stop"]));
        let _ = self.server.wait();
        let server = spawn_server(self.dir.path(), self.port, root);
        self.server = wait_until_ready(self.dir.path(), self.port, server).unwrap_or_else(|log| {
            panic!("PostgreSQL did not restart on 127.0.0.1:{}; server log:\n{log}", self.port)
        });
    }

    /// One cluster for the whole test binary, started on first use.
    ///
    /// Tests share it and isolate themselves with [`create_database`](Self::create_database).
    /// It is never dropped; the watchdog stops it and removes its directory when the test
    /// process exits (see the module docs).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    /// Creates a fresh database named `<prefix>_<pid>_<n>` and returns its name.
    ///
    /// The pid keeps names apart if two test binaries ever share a cluster, the counter keeps
    /// them apart within one. The prefix is lower-cased and reduced to `[a-z0-9_]`, so the
    /// name never needs quoting.
    pub async fn create_database(&self, name_prefix: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let prefix: String = name_prefix
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '_') => c,
                _ => '_',
            })
            .take(40)
            .collect();
        let name =
            format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        self.client("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name}: {error}"));
        name
    }

    /// A connection to `database` as `postgres`; its connection task is spawned on the current
    /// tokio runtime and ends when the client is dropped.
    pub async fn client(&self, database: &str) -> tokio_postgres::Client {
        let config = format!("host=127.0.0.1 port={} user=postgres dbname={database}", self.port);
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|error| panic!("connecting to {config}: {error}"));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("test PostgreSQL connection closed with an error: {error}");
            }
        });
        client
    }

    /// Turns TLS on, with a self-signed certificate made now by the `openssl` CLI (which
    /// Debian's PostgreSQL packages depend on), and reloads the configuration.
    ///
    /// # Panics
    ///
    /// If the certificate cannot be made or the server does not turn TLS on within 30 s.
    pub async fn enable_ssl(&self) {
        let root = is_root();
        let data = self.dir.path().join("data");
        run(as_postgres(root, Path::new("openssl"))
            .args(["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout"])
            .arg(data.join("server.key"))
            .arg("-out")
            .arg(data.join("server.crt")));
        run(as_postgres(root, Path::new("chmod")).arg("600").arg(data.join("server.key")));
        let client = self.client("postgres").await;
        for statement in ["ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()"] {
            client.batch_execute(statement).await.expect("turning ssl on");
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let row = self.client("postgres").await.query_one("SHOW ssl", &[]).await;
            if row.expect("SHOW ssl").get::<_, String>(0) == "on" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not turn ssl on; server log:\n{}",
                std::fs::read_to_string(log_path(self.dir.path())).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops every inactive replication slot of `database`.
    ///
    /// A forgotten slot pins WAL for as long as the cluster lives, so tests that let ripple
    /// create a (permanent) slot call this in their teardown. Active slots, still held by a
    /// walsender, are left alone.
    pub async fn drop_slots(&self, database: &str) {
        self.client(database)
            .await
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE database = $1 AND NOT active",
                &[&database],
            )
            .await
            .unwrap_or_else(|error| {
                panic!("dropping the replication slots of {database}: {error}")
            });
    }
}

impl Drop for PgCluster {
    /// Closes the watchdog's pipe, so it stops the server (immediate shutdown) and removes the
    /// directory, then waits for both processes so that neither outlives the cluster.
    fn drop(&mut self) {
        drop(self.watchdog_stdin.take());
        if let Err(error) = self.watchdog.wait() {
            eprintln!("waiting for the PostgreSQL watchdog: {error}");
        }
        // Reaps `postgres` (or `runuser`); it has exited once `pg_ctl stop -w` returned.
        let _ = self.server.wait();
    }
}

/// Whether this process runs as root. `/proc/self` belongs to the process's effective user,
/// which avoids a `libc` dependency for `geteuid`.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A command that runs `program` as the `postgres` user when we are root, as ourselves
/// otherwise. Its working directory is `/`, which every user may enter.
fn as_postgres(root: bool, program: &Path) -> Command {
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.current_dir("/");
    command
}

/// Runs a short command to completion, panicking with its output if it fails.
fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|error| panic!("running {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A loopback TCP port that was free a moment ago (bind to port 0, then release it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("finding a free TCP port")
        .port()
}

/// Starts the watchdog (see the module docs) and returns it with the write end of its pipe.
fn spawn_watchdog(dir: &Path, root: bool) -> (Child, ChildStdin) {
    let mut command = Command::new("sh");
    command
        .args(["-c", WATCHDOG_SCRIPT, "ripple-pg-watchdog"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0);
    if root {
        command.args(["runuser", "-u", "postgres", "--"]);
    }
    let mut watchdog =
        command.spawn().unwrap_or_else(|error| panic!("spawning the PostgreSQL watchdog: {error}"));
    let stdin = watchdog.stdin.take().expect("the watchdog's stdin is piped");
    (watchdog, stdin)
}

/// Spawns `postgres` on `port`, logging to `<dir>/server.log` (truncated for each attempt).
fn spawn_server(dir: &Path, port: u16, root: bool) -> Child {
    let log = File::create(log_path(dir)).expect("creating the server log");
    let log_err = log.try_clone().expect("cloning the server log handle");
    let settings = [
        "listen_addresses=127.0.0.1".to_string(),
        format!("port={port}"),
        format!("unix_socket_directories={}", dir.display()),
        "wal_level=logical".to_string(),
        "max_replication_slots=32".to_string(),
        "max_wal_senders=32".to_string(),
        "wal_sender_timeout=10s".to_string(),
        // Tests run in parallel, each with a few connections plus ripple's.
        "max_connections=200".to_string(),
        "fsync=off".to_string(),
    ];
    let mut command = as_postgres(root, &Path::new(PG_BIN).join("postgres"));
    command.arg("-D").arg(dir.join("data"));
    for setting in &settings {
        command.arg("-c").arg(setting);
    }
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {command:?}: {error}"))
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("server.log")
}

/// Polls `pg_isready` until the server accepts connections. On failure (the server exited, or
/// [`START_TIMEOUT`] passed) returns the server log; the caller's watchdog stops a server that
/// is still starting.
fn wait_until_ready(dir: &Path, port: u16, mut server: Child) -> Result<Child, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let read_log = || std::fs::read_to_string(log_path(dir)).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("(postgres exited: {status})\n{}", read_log()));
        }
        let ready = Command::new(Path::new(PG_BIN).join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-t", "1", "-p", &port.to_string()])
            .status()
            .map(|status| status.success())
            .unwrap_or(false);
        if ready {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(format!("(not ready after {START_TIMEOUT:?})\n{}", read_log()));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
