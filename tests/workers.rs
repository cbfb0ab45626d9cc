//! The same workload through ripple with `--workers 1` and `--workers 3` (and, in cluster
//! mode, 2 processes × 2 workers): every query's results and every change event are
//! identical.
//!
//! Both servers read the same database through their own replication slots, so they see the
//! same transactions in the same order. Events are compared per query and transaction with
//! their rows as multisets (the order of rows inside an event is not part of the contract).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple};
use crate::support::sse::SseClient;

const SCHEMA: &str = "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, grp int);
CREATE TABLE groups (gid int PRIMARY KEY, name text NOT NULL);
INSERT INTO groups SELECT g, 'group ' || g FROM generate_series(1, 5) AS g;
INSERT INTO items SELECT i, (i * 37) % 101, i % 6 FROM generate_series(1, 40) AS i;
CREATE PUBLICATION drasi_publication FOR ALL TABLES;";

/// The queries, each of which the final marker transaction changes.
const QUERIES: [&str; 4] = ["big-items", "per-group", "item-groups", "group-sizes"];

/// A config serving the four queries on one SSE reaction, through slot `slot`.
pub fn config(database: &str, slot: &str, pg_port: u16, api_port: u16, sse_port: u16) -> String {
    let join = "joins: [{id: IN_GROUP, keys: [{label: items, property: grp}, {label: groups, property: gid}]}]";
    let sources = "sources: [{source_id: db, nodes: [items, groups]}]";
    format!(
        r#"id: workers
host: 127.0.0.1
port: {api_port}
sources:
  - kind: postgres
    id: db
    host: 127.0.0.1
    port: {pg_port}
    database: {database}
    user: postgres
    tables: [public.items, public.groups]
    slot_name: {slot}
    bootstrap_provider: {{type: postgres}}
queries:
  - id: big-items
    query: MATCH (i:items) WHERE i.v > 50 RETURN i.id AS id, i.v AS v
    {sources}
  - id: per-group
    query: MATCH (i:items) RETURN i.grp AS grp, count(i) AS n, sum(i.v) AS total, avg(i.v) AS mean
    {sources}
  - id: item-groups
    query: MATCH (i:items)-[:IN_GROUP]->(g:groups) RETURN i.id AS id, g.name AS name
    {sources}
    {join}
  - id: group-sizes
    query: |
      MATCH (g:groups)
      OPTIONAL MATCH (g)-[:IN_GROUP]-(i:items)
      RETURN g.name AS name, count(i) AS n, collect(i.id) AS ids
    {sources}
    {join}
reactions:
  - kind: sse
    id: stream
    queries: [{queries}]
    host: 127.0.0.1
    port: {sse_port}
"#,
        queries = QUERIES.join(", "),
    )
}

/// One server under test and its event stream.
pub struct Server {
    pub ripple: Ripple,
    stream: SseClient,
}

impl Server {
    /// Starts ripple with `args` on its own slot and subscribes once it streams.
    pub async fn start(database: &str, name: &str, args: &[&str]) -> Server {
        let (api_port, sse_port) = (free_port(), free_port());
        let slot = format!("slot_{database}_{name}");
        let text = config(database, &slot, PgCluster::shared().port, api_port, sse_port);
        let ripple = Ripple::start(&text, api_port, args).await;
        ripple.wait_streaming("db").await;
        // A snapshot first, so that the stream holds exactly the changes after the bootstrap,
        // however far the bootstrap's own change events had travelled at connect time.
        let url = format!("http://127.0.0.1:{sse_port}/events?snapshot=true");
        let mut stream = SseClient::connect(&url).await;
        let first = stream.next(Duration::from_secs(30)).await.expect("snapshot");
        assert_eq!(first.event.as_deref(), Some("snapshot"));
        Server { ripple, stream }
    }

    /// Every change event until each query has reported the marker transaction, in order,
    /// as (query, event with sorted rows).
    pub async fn events_through_marker(&mut self) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let mut marked: Vec<&str> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while marked.len() < QUERIES.len() {
            assert!(Instant::now() < deadline, "the marker never reached every query");
            let Some(event) = self.stream.next(Duration::from_millis(500)).await else {
                assert!(!self.stream.ended, "the stream ended");
                continue;
            };
            let data = event.json();
            let query = data["queryId"].as_str().expect("queryId").to_string();
            let text = data.to_string();
            let markers = ["\"marker\"", "\"id\":9999", "\"grp\":99,", "\"grp\":99}"];
            if markers.iter().any(|m| text.contains(m)) {
                marked.extend(QUERIES.iter().find(|q| **q == query));
                marked.dedup();
            }
            events.push((query, canonical(data)));
        }
        events
    }

    /// Every query's current rows, sorted.
    pub async fn results(&self) -> BTreeMap<&'static str, Vec<String>> {
        let mut all = BTreeMap::new();
        for query in QUERIES {
            let mut rows: Vec<String> =
                self.ripple.results(query).await.iter().map(canonical_row).collect();
            rows.sort();
            all.insert(query, rows);
        }
        all
    }
}

/// A row as text with list values sorted (`collect` gives no order).
fn canonical_row(row: &Value) -> String {
    let mut row = row.clone();
    if let Some(object) = row.as_object_mut() {
        for value in object.values_mut() {
            if let Some(list) = value.as_array_mut() {
                list.sort_by_key(|v| v.to_string());
            }
        }
    }
    row.to_string()
}

/// An event's rows as sorted multisets, without the id (which names engine times).
fn canonical(data: Value) -> Value {
    let mut out = serde_json::Map::new();
    for part in ["added", "updated", "deleted"] {
        let mut items: Vec<String> = data[part]
            .as_array()
            .expect("rows")
            .iter()
            .map(|item| {
                let fields = ["before", "after"].map(|side| canonical_row(&item[side]));
                fields.join(" -> ")
            })
            .collect();
        items.sort();
        out.insert(part.to_string(), Value::from(items));
    }
    Value::Object(out)
}

/// Random transactions over items and groups, then one marker transaction that changes
/// every query.
pub async fn workload(db: &tokio_postgres::Client, transactions: usize) {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut below = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for _ in 0..transactions {
        let mut sql = String::from("BEGIN;");
        for _ in 0..1 + below(4) {
            let id = 1 + below(50);
            match below(10) {
                0 | 1 => sql.push_str(&format!("DELETE FROM items WHERE id = {id};")),
                2 => sql.push_str(&format!(
                    "UPDATE groups SET name = 'group {}' WHERE gid = {};",
                    below(1000),
                    1 + below(5)
                )),
                _ => sql.push_str(&format!(
                    "INSERT INTO items VALUES ({id}, {}, {}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, grp = EXCLUDED.grp;",
                    below(101),
                    below(7)
                )),
            }
        }
        sql.push_str("COMMIT;");
        db.batch_execute(&sql).await.expect("workload");
    }
    db.batch_execute(
        "BEGIN; INSERT INTO groups VALUES (99, 'marker'); INSERT INTO items VALUES (9999, 100, 99); COMMIT;",
    )
    .await
    .expect("marker");
}

/// Creates the database with the schema.
pub async fn database(name: &str) -> (String, tokio_postgres::Client) {
    let pg = PgCluster::shared();
    let database = pg.create_database(name).await;
    let db = pg.client(&database).await;
    db.batch_execute(SCHEMA).await.expect("schema");
    (database, db)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_and_three_workers_give_identical_results_and_events() {
    let (database, db) = database("workers").await;
    let mut one = Server::start(&database, "one", &["--workers", "1"]).await;
    let mut three = Server::start(&database, "three", &["--workers", "3"]).await;
    assert_eq!(one.results().await, three.results().await, "bootstrapped results");

    workload(&db, 150).await;
    let events_one = one.events_through_marker().await;
    let events_three = three.events_through_marker().await;
    assert!(events_one.len() > 150, "the workload changes the queries: {}", events_one.len());
    for query in QUERIES {
        let of = |events: &[(String, Value)]| -> Vec<Value> {
            events.iter().filter(|(q, _)| q == query).map(|(_, e)| e.clone()).collect()
        };
        assert_eq!(of(&events_one), of(&events_three), "{query}: change events differ");
    }
    assert_eq!(events_one, events_three, "events interleave identically across queries");
    assert_eq!(one.results().await, three.results().await, "final results");

    drop((one, three));
    PgCluster::shared().drop_slots(&database).await;
}
