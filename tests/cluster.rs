//! Cluster mode: 2 processes × 2 workers on localhost give the same results and change
//! events as 1 process × 1 worker on the same workload; process 0 stops the cluster
//! cleanly; and a dead process stops the cluster (process 0 exits non-zero, for a
//! supervisor to restart them together).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::pg::PgCluster;
use crate::support::ripple::free_port;
use crate::workers::{self, Server};

/// Writes the host file and the config for a member process.
fn files(dir: &Path, database: &str) -> (String, String) {
    let hostfile = dir.join("hosts");
    let hosts = format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port());
    std::fs::write(&hostfile, hosts).expect("host file");
    let config = dir.join("server.yaml");
    let text = workers::config(database, "unused", PgCluster::shared().port, 1, 2);
    std::fs::write(&config, text).expect("config");
    (hostfile.display().to_string(), config.display().to_string())
}

/// The cluster flags of process `process`.
fn cluster_args(hostfile: &str, process: &str) -> Vec<String> {
    ["--workers", "2", "--processes", "2", "--process", process, "--hostfile", hostfile]
        .map(String::from)
        .to_vec()
}

/// Starts process 1, which runs workers only and waits for process 0.
fn start_member(config: &str, hostfile: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ripple"))
        .args(["--config", config])
        .args(cluster_args(hostfile, "1"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn cluster member")
}

fn wait_exit(child: &mut Child, what: &str) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_of_two_workers_equal_one_worker() {
    let (database, db) = workers::database("cluster").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (hostfile, config) = files(dir.path(), &database);
    let mut member = start_member(&config, &hostfile);
    let args = cluster_args(&hostfile, "0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cluster = Server::start(&database, "cluster", &args).await;
    let mut single = Server::start(&database, "single", &["--workers", "1"]).await;
    assert_eq!(cluster.results().await, single.results().await, "bootstrapped results");

    workers::workload(&db, 100).await;
    let events_cluster = cluster.events_through_marker().await;
    let events_single = single.events_through_marker().await;
    assert!(events_single.len() > 100, "the workload changes the queries");
    assert_eq!(events_cluster, events_single, "change events");
    assert_eq!(cluster.results().await, single.results().await, "final results");

    // Process 0 shuts the whole cluster down cleanly.
    assert_eq!(cluster.ripple.terminate(), Some(0));
    assert_eq!(wait_exit(&mut member, "the member"), Some(0));
    drop(single);
    PgCluster::shared().drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_process_stops_the_cluster() {
    let (database, _db) = workers::database("cluster_dies").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (hostfile, config) = files(dir.path(), &database);
    let mut member = start_member(&config, &hostfile);
    let args = cluster_args(&hostfile, "0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cluster = Server::start(&database, "cluster", &args).await;
    member.kill().expect("kill -9 the member");
    member.wait().expect("reap the member");
    cluster.ripple.wait_for_log("A thread panicked; exiting.").await;
    assert_eq!(cluster.ripple.wait_exit(), Some(70));
    PgCluster::shared().drop_slots(&database).await;
}
