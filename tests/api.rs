//! REST and SSE behaviour around the tutorial path: failures stay contained and are reported
//! where an operator looks.

use std::time::{Duration, Instant};

use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;

use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple, TutorialConfig};
use crate::support::sockets;
use crate::support::sse::SseClient;

/// The tutorial's config with one more query before the reactions.
fn with_extra_query(config: &TutorialConfig, id: &str, query: &str) -> String {
    let extra = format!(
        "  - id: {id}\n    query: \"{query}\"\n    sources:\n      - source_id: metrics-db\n        nodes: [metrics]\n\n"
    );
    config.render().replacen("reactions:", &format!("{extra}reactions:"), 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_query_fails_alone_and_unknown_ids_are_404() {
    let pg = PgCluster::shared();
    let (config, _) = TutorialConfig::create("badquery").await;
    let database = config.database.clone();
    let text =
        with_extra_query(&config, "sorted", "MATCH (m:metrics) RETURN m.name ORDER BY m.name");
    let ripple = Ripple::start(&text, config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;

    let (status, body) = ripple.get("/api/v1/queries/sorted").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "failed");
    let error = body["data"]["error"].as_str().expect("error text");
    assert!(error.starts_with("1:33: ORDER BY is not supported in a continuous query"), "{error}");

    let (status, body) = ripple.get("/api/v1/queries/sorted/results").await;
    assert_eq!(status, 409);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "QUERY_NOT_RUNNING");

    // The other queries run as usual.
    assert_eq!(ripple.results("current-metrics").await.len(), 8);
    let (_, list) = ripple.get("/api/v1/queries").await;
    let statuses: Vec<_> =
        list["data"].as_array().unwrap().iter().map(|q| q["status"].clone()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "running").count(), 3);

    for (path, code) in [
        ("/api/v1/queries/nope", "QUERY_NOT_FOUND"),
        ("/api/v1/queries/nope/results", "QUERY_NOT_FOUND"),
        ("/api/v1/sources/nope", "SOURCE_NOT_FOUND"),
        ("/api/v1/reactions/nope", "REACTION_NOT_FOUND"),
    ] {
        let (status, body) = ripple.get(path).await;
        assert_eq!((status, body["error"]["code"].clone()), (404, json!(code)), "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("'nope'")));
    }
    let (status, body) = ripple.get("/api/v1/reactions/dashboard-stream").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["config"]["kind"], "sse");
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_publication_is_reported_with_the_sql_to_create_it() {
    let pg = PgCluster::shared();
    let database = pg.create_database("nopub").await;
    let db = pg.client(&database).await;
    db.batch_execute(
        &include_str!("../config/init.sql")
            .replace("CREATE PUBLICATION drasi_publication FOR ALL TABLES;", ""),
    )
    .await
    .expect("init.sql without the publication");
    let config = TutorialConfig {
        database: database.clone(),
        pg_port: pg.port,
        api_port: free_port(),
        sse_port: free_port(),
    };
    let ripple = Ripple::start(&config.render(), config.api_port, &[]).await;
    ripple
        .wait_for("the source to fail", || async {
            ripple
                .get_json("/api/v1/sources/metrics-db")
                .await
                .is_some_and(|v| v["data"]["status"]["state"] == "failed")
        })
        .await;
    let (_, body) = ripple.get("/api/v1/sources/metrics-db").await;
    let error = body["data"]["status"]["last_error"].as_str().unwrap();
    assert!(
        error.contains(
            "CREATE PUBLICATION drasi_publication FOR TABLE public.metrics, public.alerts;"
        ),
        "{error}"
    );
    // The server stays up and answers.
    assert_eq!(ripple.results("current-metrics").await, Vec::<serde_json::Value>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_heartbeats_are_comments() {
    let pg = PgCluster::shared();
    let (config, _) = TutorialConfig::create("heartbeat").await;
    let database = config.database.clone();
    let text =
        config.render().replace("heartbeat_interval_ms: 30000", "heartbeat_interval_ms: 100");
    let ripple = Ripple::start(&text, config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;
    let mut sse = SseClient::connect(&format!("http://127.0.0.1:{}/events", config.sse_port)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sse.comments == 0 {
        assert!(Instant::now() < deadline, "no heartbeat arrived");
        assert_eq!(
            sse.next(Duration::from_millis(200)).await,
            None,
            "no data event without a change"
        );
    }
    drop(ripple);
    pg.drop_slots(&database).await;
}

/// Issue 12: ripple's end of every connection it accepts has `TCP_NODELAY` (a short SSE event
/// written behind an unacknowledged one otherwise waits for the client's delayed ACK): the
/// REST API, an SSE reaction from the config file and one added over REST.
#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_connection_has_nodelay() {
    let pg = PgCluster::shared();
    let (config, _) = TutorialConfig::create("nodelay").await;
    let database = config.database.clone();
    let ripple = Ripple::start(&config.render(), config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;
    let added_port = free_port();
    let reaction = json!({
        "kind": "sse", "id": "added-stream", "queries": ["current-metrics"],
        "host": "127.0.0.1", "port": added_port, "sse_path": "/events",
    });
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/reactions", ripple.api))
        .json(&reaction)
        .send()
        .await
        .expect("POST /api/v1/reactions");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());

    for (listener, port, path) in [
        ("REST API", config.api_port, "/health"),
        ("SSE reaction from the config", config.sse_port, "/events"),
        ("SSE reaction added over REST", added_port, "/events"),
    ] {
        let client = get_headers(port, path);
        let accepted = sockets::accepted_end(ripple.pid(), &client);
        assert!(accepted.nodelay().expect("TCP_NODELAY"), "{listener}: Nagle is on");
    }
    drop(ripple);
    pg.drop_slots(&database).await;
}

/// A connection that sent `GET path` and read the answer's headers, so the server has
/// accepted it; left open (a keep-alive connection, or a stream).
fn get_headers(port: u16, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).expect("the answer's headers within 10 s");
        assert!(n > 0, "{path} on port {port}: the server closed the connection");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    stream
}
