//! Queries and reactions added and removed over REST while a writer keeps PostgreSQL busy:
//! the other queries' SSE streams and REST results are undisturbed (compared with SQL), and
//! an added query's results equal SQL as soon as it exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple};
use crate::support::sse::SseClient;

const SCHEMA: &str = "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO items (id, v) SELECT i, i FROM generate_series(1, 30) AS i;
CREATE PUBLICATION drasi_publication FOR ALL TABLES;";

fn config(database: &str, pg_port: u16, api_port: u16, sse_port: u16) -> String {
    format!(
        r#"id: lifecycle
host: 127.0.0.1
port: {api_port}
sources:
  - kind: postgres
    id: db
    host: 127.0.0.1
    port: {pg_port}
    database: {database}
    user: postgres
    tables: [public.items]
    slot_name: slot_{database}
    bootstrap_provider: {{type: postgres}}
queries:
  - id: all-items
    query: MATCH (i:items) RETURN i.id AS id, i.v AS v
    sources: [{{source_id: db, nodes: [items]}}]
reactions:
  - kind: sse
    id: stream
    queries: [all-items]
    host: 127.0.0.1
    port: {sse_port}
"#
    )
}

/// A query added at runtime: items above a threshold.
fn big_items(id: &str, threshold: i32) -> String {
    json!({
        "id": id,
        "query": format!("MATCH (i:items) WHERE i.v > {threshold} RETURN i.id AS id, i.v AS v"),
        "sources": [{"sourceId": "db", "nodes": ["items"]}],
    })
    .to_string()
}

/// Rows of `items` with `v > threshold` as the queries return them, by id.
async fn sql(db: &tokio_postgres::Client, threshold: i32) -> BTreeMap<i64, Value> {
    let rows = db.query("SELECT id, v FROM items WHERE v > $1", &[&threshold]).await.unwrap();
    rows.iter()
        .map(|r| {
            let (id, v): (i32, i32) = (r.get(0), r.get(1));
            (i64::from(id), json!({"id": id, "v": v}))
        })
        .collect()
}

fn by_id(rows: Vec<Value>) -> BTreeMap<i64, Value> {
    rows.into_iter().map(|r| (r["id"].as_i64().expect("id"), r)).collect()
}

/// Random single- and multi-row transactions on ids 1..=40 until `stop`; counts commits.
fn spawn_writer(
    db: Arc<tokio_postgres::Client>,
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut below = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        while !stop.load(Ordering::Relaxed) {
            let mut sql = String::from("BEGIN;");
            for _ in 0..1 + below(3) {
                let id = 1 + below(40);
                if below(5) == 0 {
                    sql.push_str(&format!("DELETE FROM items WHERE id = {id};"));
                } else {
                    sql.push_str(&format!(
                        "INSERT INTO items VALUES ({id}, {}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;",
                        below(101)
                    ));
                }
            }
            sql.push_str("COMMIT;");
            db.batch_execute(&sql).await.expect("writer");
            commits.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// A client's copy of one query's rows, built from a snapshot and then change events applied
/// strictly (an added row must be new, a changed or deleted one must match), so a gap or a
/// duplicate fails at the event that shows it.
struct Mirror {
    query: &'static str,
    rows: BTreeMap<i64, Value>,
}

impl Mirror {
    fn apply(&mut self, data: &Value, event: Option<&str>) {
        if event == Some("snapshot") || event == Some("reset") {
            self.rows = by_id(data["queries"][self.query].as_array().expect("rows").clone());
            return;
        }
        if data["queryId"] != self.query {
            return;
        }
        let key = |row: &Value| row["id"].as_i64().expect("id");
        for item in data["deleted"].as_array().expect("deleted") {
            assert_eq!(self.rows.remove(&key(&item["before"])).as_ref(), Some(&item["before"]));
        }
        for item in data["updated"].as_array().expect("updated") {
            assert_eq!(self.rows.remove(&key(&item["before"])).as_ref(), Some(&item["before"]));
            self.rows.insert(key(&item["after"]), item["after"].clone());
        }
        for item in data["added"].as_array().expect("added") {
            assert_eq!(self.rows.insert(key(&item["after"]), item["after"].clone()), None);
        }
    }

    /// Reads events until the copy equals `truth` (which must no longer change).
    async fn catch_up(&mut self, sse: &mut SseClient, truth: &BTreeMap<i64, Value>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while &self.rows != truth {
            assert!(Instant::now() < deadline, "{}: the stream never reached SQL", self.query);
            if let Some(event) = sse.next(Duration::from_millis(500)).await {
                self.apply(&event.json(), event.event.as_deref());
            }
            assert!(!sse.ended, "{}: the stream ended", self.query);
        }
    }
}

async fn send(method: reqwest::Method, url: String, body: Option<String>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn post(ripple: &Ripple, path: &str, body: &str) -> (u16, Value) {
    send(reqwest::Method::POST, format!("{}{path}", ripple.api), Some(body.to_string())).await
}

async fn delete(ripple: &Ripple, path: &str) -> (u16, Value) {
    send(reqwest::Method::DELETE, format!("{}{path}", ripple.api), None).await
}

/// Waits until the writer has committed `more` transactions beyond now.
async fn let_writer_run(commits: &AtomicU64, more: u64) {
    let target = commits.load(Ordering::Relaxed) + more;
    while commits.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_and_reactions_come_and_go_while_data_flows() {
    let pg = PgCluster::shared();
    let database = pg.create_database("lifecycle").await;
    let db = Arc::new(pg.client(&database).await);
    db.batch_execute(SCHEMA).await.expect("schema");
    let (api_port, sse_port) = (free_port(), free_port());
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, sse_port), api_port, &[]).await;
    ripple.wait_streaming("db").await;
    let mut stream =
        SseClient::connect(&format!("http://127.0.0.1:{sse_port}/events?snapshot=true")).await;
    let mut all_items = Mirror { query: "all-items", rows: BTreeMap::new() };

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(db.clone(), stop.clone(), commits.clone());
    let_writer_run(&commits, 20).await;

    // Refused requests change nothing.
    let (status, body) = post(&ripple, "/api/v1/queries", &big_items("all-items", 1)).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("QUERY_ALREADY_EXISTS")));
    let bad = json!({"id": "bad", "query": "MATCH (i:items)\nRETURN i.v +", "sources": [{"sourceId": "db"}]});
    let (status, body) = post(&ripple, "/api/v1/queries", &bad.to_string()).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("INVALID_QUERY")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("2:") && message.contains('^'), "located with a caret: {message}");
    let (status, body) = post(
        &ripple,
        "/api/v1/queries",
        "id: x\nquery: MATCH (n) RETURN n\nsources: [{source_id: nope}]\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown source 'nope'"));
    let (status, body) = post(&ripple, "/api/v1/queries", "id: x\nqury: y\n").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("request:2:1: qury"), "{body}");
    assert_eq!(ripple.get("/api/v1/queries/bad").await.0, 404);

    // Add queries while the writer runs; remove one of them again.
    for (id, threshold) in [("big-items", 50), ("temp", 10)] {
        let (status, body) = post(&ripple, "/api/v1/queries", &big_items(id, threshold)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["status"], "running");
        // Results are there at once (the writer may already have moved on).
        ripple.results(id).await;
    }
    let_writer_run(&commits, 20).await;
    assert_eq!(delete(&ripple, "/api/v1/queries/temp").await.0, 200);
    assert_eq!(ripple.get("/api/v1/queries/temp").await.0, 404);

    // Reactions too: an SSE reaction on the new query, a log reaction, one removed again.
    let big_port = free_port();
    let sse_reaction = format!(
        "kind: sse\nid: big-stream\nqueries: [big-items]\nhost: 127.0.0.1\nport: {big_port}\n"
    );
    let (status, body) = post(&ripple, "/api/v1/reactions", &sse_reaction).await;
    assert_eq!(status, 200, "{body}");
    let mut big_stream =
        SseClient::connect(&format!("http://127.0.0.1:{big_port}/events?snapshot=true")).await;
    let mut big_items_mirror = Mirror { query: "big-items", rows: BTreeMap::new() };
    let log = r#"{"kind": "log", "id": "lines", "queries": ["big-items"]}"#;
    assert_eq!(post(&ripple, "/api/v1/reactions", log).await.0, 200);
    assert_eq!(post(&ripple, "/api/v1/reactions", log).await.0, 409);
    let (status, body) = delete(&ripple, "/api/v1/queries/big-items").await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("QUERY_CONFLICT")), "{body}");
    let (status, _) = post(&ripple, "/api/v1/queries/big-items/stop", "").await;
    assert_eq!(status, 409, "a query that reactions read cannot stop");
    let_writer_run(&commits, 20).await;
    ripple.wait_for_log("[big-items] ").await;
    assert_eq!(delete(&ripple, "/api/v1/reactions/lines").await.0, 200);
    assert_eq!(ripple.get("/api/v1/reactions/lines").await.0, 404);

    // Stop and start an unsubscribed query while data flows.
    assert_eq!(post(&ripple, "/api/v1/queries", &big_items("mid", 30)).await.0, 200);
    let (status, body) = post(&ripple, "/api/v1/queries/mid/stop", "").await;
    assert_eq!((status, &body["data"]["status"]), (200, &json!("stopped")));
    assert_eq!(ripple.get("/api/v1/queries/mid/results").await.0, 409);
    let_writer_run(&commits, 10).await;
    let (status, body) = post(&ripple, "/api/v1/queries/mid/start", "").await;
    assert_eq!((status, &body["data"]["status"]), (200, &json!("running")));
    let_writer_run(&commits, 20).await;

    // Quiesce: every stream and every query's REST results equal SQL.
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let truth = sql(&db, i32::MIN).await;
    all_items.catch_up(&mut stream, &truth).await;
    big_items_mirror.catch_up(&mut big_stream, &sql(&db, 50).await).await;
    for (query, threshold) in [("all-items", i32::MIN), ("big-items", 50), ("mid", 30)] {
        let expected = sql(&db, threshold).await;
        ripple
            .wait_for(&format!("{query} to equal SQL"), || async {
                by_id(ripple.results(query).await) == expected
            })
            .await;
    }

    // With the data at rest, a new query's results equal SQL at once: no waiting.
    assert_eq!(post(&ripple, "/api/v1/queries", &big_items("late", 70)).await.0, 200);
    assert_eq!(by_id(ripple.results("late").await), sql(&db, 70).await);
    let (_, body) = ripple.get("/api/v1/queries/late").await;
    assert_eq!(body["data"]["status"], "running");

    // Removing the SSE reaction frees its port; then its query can go.
    assert_eq!(delete(&ripple, "/api/v1/reactions/big-stream").await.0, 200);
    std::net::TcpListener::bind(("127.0.0.1", big_port)).expect("the reaction's port is free");
    assert_eq!(delete(&ripple, "/api/v1/queries/big-items").await.0, 200);
    assert_eq!(ripple.get("/api/v1/queries/big-items/results").await.0, 404);

    // The first stream saw none of this: one more write reaches it as usual.
    db.batch_execute("UPDATE items SET v = v + 1000 WHERE id = (SELECT min(id) FROM items)")
        .await
        .unwrap();
    all_items.catch_up(&mut stream, &sql(&db, i32::MIN).await).await;
    assert_eq!(ripple.terminate(), Some(0));
    pg.drop_slots(&database).await;
}
