//! Subscriptions users can trust: event ids and `Last-Event-ID` resumption (also across a
//! restart), fetch-then-subscribe without gaps, stalled clients, `/metrics` and `/ready`,
//! Drasi's event format, and the gap-free page `public/live.html`.
//!
//! Clients here apply events strictly: an added row must be new, an updated or deleted row
//! must equal what the client holds. So a duplicate or a gap fails at the event that shows
//! it, and the final state is compared with the SQL truth.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple, TutorialConfig};
use crate::support::sse::{SseClient, SseEvent};
use crate::support::web::StaticServer;

const TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str =
    "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL DEFAULT '');
INSERT INTO items (id, v) SELECT i, i FROM generate_series(1, 20) AS i;
INSERT INTO items (id, v) VALUES (1000, 100);
CREATE PUBLICATION drasi_publication FOR ALL TABLES;";

/// A database with `items`, and the ports of a ripple serving it.
struct Setup {
    database: String,
    db: Arc<tokio_postgres::Client>,
    api_port: u16,
    sse_port: u16,
    drasi_port: u16,
    pg_port: u16,
}

impl Setup {
    async fn new(name: &str) -> Setup {
        Setup::on(PgCluster::shared(), name).await
    }

    /// A database on `pg` (a cluster of the test's own, when other tests' WAL would disturb
    /// what it measures).
    async fn on(pg: &PgCluster, name: &str) -> Setup {
        let database = pg.create_database(name).await;
        let db = pg.client(&database).await;
        db.batch_execute(SCHEMA).await.expect("schema");
        Setup {
            database,
            db: Arc::new(db),
            api_port: free_port(),
            sse_port: free_port(),
            drasi_port: free_port(),
            pg_port: pg.port,
        }
    }

    /// Two queries on one SSE reaction (tutorial format), one on another (Drasi format).
    fn config(&self) -> String {
        format!(
            r#"id: subscriptions
host: 127.0.0.1
port: {api}
state_store: {{kind: redb, path: "${{RIPPLE_STATE}}"}}
sources:
  - kind: postgres
    id: db
    host: 127.0.0.1
    port: {pg}
    database: {db}
    user: postgres
    tables: [public.items]
    slot_name: slot_{db}
    bootstrap_provider: {{type: postgres}}
queries:
  - id: all-items
    query: MATCH (i:items) RETURN i.id, i.v
    sources: [{{source_id: db, nodes: [items]}}]
  - id: big-items
    query: MATCH (i:items) WHERE i.v > 50 RETURN i.id, i.v, i.pad
    sources: [{{source_id: db, nodes: [items]}}]
reactions:
  - kind: sse
    id: stream
    queries: [all-items, big-items]
    host: 127.0.0.1
    port: {sse}
    heartbeat_interval_ms: 500
  - kind: sse
    id: drasi
    queries: [all-items]
    host: 127.0.0.1
    port: {drasi}
    format: drasi
"#,
            api = self.api_port,
            pg = self.pg_port,
            db = self.database,
            sse = self.sse_port,
            drasi = self.drasi_port,
        )
    }

    fn stream_url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.sse_port)
    }

    async fn truth(&self) -> BTreeMap<String, BTreeMap<i64, Value>> {
        let rows = self.db.query("SELECT id, v, pad FROM items", &[]).await.expect("truth");
        let mut all = BTreeMap::new();
        let mut big = BTreeMap::new();
        for row in rows {
            let (id, v, pad): (i32, i32, String) = (row.get(0), row.get(1), row.get(2));
            all.insert(i64::from(id), json!({ "id": id, "v": v }));
            if v > 50 {
                big.insert(i64::from(id), json!({ "id": id, "v": v, "pad": pad }));
            }
        }
        BTreeMap::from([("all-items".to_string(), all), ("big-items".to_string(), big)])
    }

    async fn finish(self, ripple: Ripple) {
        drop(ripple);
        PgCluster::shared().drop_slots(&self.database).await;
    }
}

/// A small deterministic random number generator (the tests need no `rand`).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `count` random transactions on ids 1..=40 (values up to 100), some of several statements.
async fn write_load(db: &tokio_postgres::Client, seed: u64, count: usize) {
    let mut rng = Lcg(seed);
    for _ in 0..count {
        let statements = 1 + rng.below(3);
        let mut sql = String::from("BEGIN;");
        for _ in 0..statements {
            let id = 1 + rng.below(40);
            if rng.below(4) == 0 {
                sql.push_str(&format!("DELETE FROM items WHERE id = {id};"));
            } else {
                let v = rng.below(101);
                sql.push_str(&format!(
                    "INSERT INTO items (id, v) VALUES ({id}, {v}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;"
                ));
            }
        }
        sql.push_str("COMMIT;");
        db.batch_execute(&sql).await.expect("write load");
    }
}

/// An id or position as (epoch, time, n), a whole transaction sorting last.
fn id_parts(id: &str) -> (u64, u64, u64) {
    let parts: Vec<u64> = id.split('.').map(|p| p.parse().expect("numeric id part")).collect();
    (parts[0], parts[1], parts.get(2).copied().unwrap_or(u64::MAX))
}

/// A client's copy of query results, by row id.
#[derive(Default)]
struct Mirror {
    queries: BTreeMap<String, BTreeMap<i64, Value>>,
    /// Only this query is kept, if set.
    only: Option<String>,
    last_id: Option<String>,
    resets: usize,
}

impl Mirror {
    fn key(row: &Value) -> i64 {
        row["id"].as_i64().expect("row id")
    }

    fn replace(&mut self, data: &Value) {
        for (query, rows) in data["queries"].as_object().expect("queries") {
            let rows = rows.as_array().expect("rows").iter().map(|r| (Mirror::key(r), r.clone()));
            self.queries.insert(query.clone(), rows.collect());
        }
    }

    fn apply(&mut self, event: &SseEvent) {
        if let Some(id) = &event.id {
            if let Some(last) = &self.last_id {
                assert!(id_parts(id) > id_parts(last), "ids must increase: {last} then {id}");
            }
            self.last_id = Some(id.clone());
        }
        let data = event.json();
        match event.event.as_deref() {
            Some("reset") => {
                self.resets += 1;
                self.replace(&data);
                return;
            }
            Some("snapshot") => return self.replace(&data),
            _ => {}
        }
        let query = data["queryId"].as_str().expect("queryId").to_string();
        if self.only.as_ref().is_some_and(|only| *only != query) {
            return;
        }
        let rows = self.queries.entry(query.clone()).or_default();
        for item in data["deleted"].as_array().expect("deleted") {
            let before = &item["before"];
            assert_eq!(rows.remove(&Mirror::key(before)).as_ref(), Some(before), "{query}: delete");
        }
        for item in data["updated"].as_array().expect("updated") {
            let (before, after) = (&item["before"], &item["after"]);
            assert_eq!(rows.remove(&Mirror::key(before)).as_ref(), Some(before), "{query}: update");
            rows.insert(Mirror::key(after), after.clone());
        }
        for item in data["added"].as_array().expect("added") {
            let after = &item["after"];
            assert_eq!(
                rows.insert(Mirror::key(after), after.clone()),
                None,
                "{query}: add of a present row"
            );
        }
    }

    fn matches(&self, truth: &BTreeMap<String, BTreeMap<i64, Value>>) -> bool {
        match &self.only {
            Some(only) => self.queries.get(only) == truth.get(only),
            None => truth.iter().all(|(q, rows)| self.queries.get(q) == Some(rows)),
        }
    }
}

/// Applies events until the mirror equals the SQL truth (which must not change meanwhile).
async fn read_until_truth(sse: &mut SseClient, mirror: &mut Mirror, setup: &Setup) {
    let truth = setup.truth().await;
    let deadline = Instant::now() + TIMEOUT;
    while !mirror.matches(&truth) {
        assert!(Instant::now() < deadline, "the client never reached the SQL truth");
        if let Some(event) = sse.next(Duration::from_millis(500)).await {
            mirror.apply(&event);
        }
        assert!(!sse.ended, "the stream ended early");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_with_last_event_id_under_load_and_after_a_restart() {
    let setup = Setup::new("resume").await;
    let state = tempfile::tempdir().expect("state dir");
    let state_path = state.path().join("state.redb");
    let config = setup.config();
    let ripple = Ripple::start_with_state(&config, setup.api_port, &[], Some(&state_path)).await;
    ripple.wait_streaming("db").await;
    let url = setup.stream_url();

    let mut mirror = Mirror::default();
    let mut sse = SseClient::connect(&format!("{url}?snapshot=true")).await;
    let first = sse.next(TIMEOUT).await.expect("the snapshot");
    assert_eq!(first.event.as_deref(), Some("snapshot"));
    mirror.apply(&first);

    let writer = {
        let db = setup.db.clone();
        tokio::spawn(async move { write_load(&db, 1, 300).await })
    };
    let mut reconnects = 0;
    while !writer.is_finished() || reconnects < 3 {
        for _ in 0..25 {
            match sse.next(Duration::from_millis(500)).await {
                Some(event) => mirror.apply(&event),
                None => break,
            }
        }
        drop(sse);
        tokio::time::sleep(Duration::from_millis(30)).await;
        sse = SseClient::resume(&url, mirror.last_id.as_deref()).await;
        reconnects += 1;
    }
    writer.await.expect("writer");
    read_until_truth(&mut sse, &mut mirror, &setup).await;
    assert_eq!(mirror.resets, 0, "every reconnect within the journal resumes exactly");
    let rest: BTreeMap<i64, Value> =
        ripple.results("all-items").await.into_iter().map(|r| (Mirror::key(&r), r)).collect();
    assert_eq!(Some(&rest), mirror.queries.get("all-items"), "client state equals REST results");

    // Shutdown ends the stream with a final comment.
    assert_eq!(ripple.terminate(), Some(0));
    while sse.next(TIMEOUT).await.is_some() {}
    assert!(sse.ended, "the stream ends on shutdown");
    assert!(
        sse.comment_texts.iter().any(|c| c == "server shutting down"),
        "{:?}",
        sse.comment_texts
    );

    // Writes while ripple is down; after the restart the old id gets a reset, then exact
    // events again, with ids still increasing.
    write_load(&setup.db, 2, 40).await;
    let ripple = Ripple::start_with_state(&config, setup.api_port, &[], Some(&state_path)).await;
    ripple.wait_streaming("db").await;
    let mut sse = SseClient::resume(&url, mirror.last_id.as_deref()).await;
    let reset = sse.next(TIMEOUT).await.expect("a reset");
    assert_eq!(reset.event.as_deref(), Some("reset"), "{reset:?}");
    mirror.apply(&reset);
    assert_eq!(reset.json()["position"].as_str(), reset.id.as_deref());
    write_load(&setup.db, 3, 40).await;
    read_until_truth(&mut sse, &mut mirror, &setup).await;

    // An unknown or malformed id also gets one reset, not an error.
    for bad in ["nonsense", "1.2.3.4", "999999999999999.1"] {
        let mut sse = SseClient::resume(&url, Some(bad)).await;
        let event = sse.next(TIMEOUT).await.expect("a reset");
        assert_eq!(event.event.as_deref(), Some("reset"), "for {bad:?}");
    }
    setup.finish(ripple).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_then_subscribe_with_racing_writes_never_gaps() {
    let setup = Setup::new("fetchsub").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;
    let url = setup.stream_url();
    for iteration in 0..200u64 {
        let (status, body) = ripple.get("/api/v1/queries/all-items/results").await;
        assert_eq!(status, 200, "{body}");
        let position = body["data"]["position"].as_str().expect("data.position").to_string();
        let rows = body["data"]["results"].as_array().expect("data.results");
        assert_eq!(body["data"]["count"], rows.len());
        let mut mirror = Mirror { only: Some("all-items".into()), ..Mirror::default() };
        mirror
            .queries
            .insert("all-items".into(), rows.iter().map(|r| (Mirror::key(r), r.clone())).collect());
        // Writes race with opening the stream.
        let writer = {
            let db = setup.db.clone();
            tokio::spawn(async move { write_load(&db, 100 + iteration, 2).await })
        };
        let mut sse = SseClient::connect(&format!("{url}?since={position}")).await;
        writer.await.expect("writer");
        read_until_truth(&mut sse, &mut mirror, &setup).await;
        assert_eq!(mirror.resets, 0, "a fresh position resumes exactly");
    }
    setup.finish(ripple).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_client_is_dropped_and_others_miss_nothing() {
    let setup = Setup::new("stalled").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;

    // A client that asks for the stream and never reads.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", setup.sse_port)).expect("connect");
    write!(stalled, "GET /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    ripple
        .wait_for("the stalled client to be counted", || async {
            ripple
                .get_json("/api/v1/reactions/stream")
                .await
                .is_some_and(|v| v["data"]["stats"]["clients"] == 1)
        })
        .await;

    // A client that reads everything, concurrently.
    let mut sse = SseClient::connect(&format!("{}?snapshot=true", setup.stream_url())).await;
    let mut mirror = Mirror::default();
    mirror.apply(&sse.next(TIMEOUT).await.expect("the snapshot"));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(event) = sse.next(Duration::from_millis(200)).await {
                    mirror.apply(&event);
                }
                assert!(!sse.ended, "the reading client's stream ended");
            }
            (sse, mirror)
        })
    };

    // Large events fill the stalled client's socket, then its backlog in the journal until
    // that exceeds `max_client_backlog_bytes` (16 MiB by default).
    for round in 0..2000 {
        let pad = char::from(b'a' + (round % 26) as u8).to_string().repeat(64 * 1024);
        setup.db.execute("UPDATE items SET pad = $1 WHERE id = 1000", &[&pad]).await.unwrap();
        let stats = ripple.get_json("/api/v1/reactions/stream").await.expect("stats");
        if stats["data"]["stats"]["clients_dropped"] == 1 {
            break;
        }
    }
    ripple
        .wait_for("the stalled client to be dropped", || async {
            ripple
                .get_json("/api/v1/reactions/stream")
                .await
                .is_some_and(|v| v["data"]["stats"]["clients_dropped"] == 1)
        })
        .await;

    done.store(true, Ordering::Relaxed);
    let (mut sse, mut mirror) = reader.await.expect("reader");
    read_until_truth(&mut sse, &mut mirror, &setup).await;
    assert_eq!(mirror.resets, 0);

    // The stalled client, reading at last, gets what was buffered and the reason it ended.
    stalled.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut received = Vec::new();
    stalled.read_to_end(&mut received).expect("the stalled stream ends");
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains(": dropped: too far behind"), "no final comment");
    setup.finish(ripple).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_beyond_the_old_1024_event_limit_reaches_a_reading_client_whole() {
    let setup = Setup::new("burst").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;
    let mut sse = SseClient::connect(&format!("{}?snapshot=true", setup.stream_url())).await;
    let mut mirror = Mirror::default();
    mirror.apply(&sse.next(TIMEOUT).await.expect("the snapshot"));

    // 2 500 transactions while the client does not read: each changes big-items' row 1000
    // (a 3 KB pad, so ≈ 6 KB events, ≈ 15 MB in all: more than the socket buffers and 1 024
    // events hold, less than `max_client_backlog_bytes`), so far more than 1 024 events wait
    // for the client at once. It is not dropped, and gets every one.
    for round in 0..2500 {
        let pad = format!("{round:04}").repeat(750);
        setup.db.execute("UPDATE items SET pad = $1 WHERE id = 1000", &[&pad]).await.unwrap();
    }
    read_until_truth(&mut sse, &mut mirror, &setup).await;
    assert_eq!(mirror.resets, 0);
    let stats = ripple.get_json("/api/v1/reactions/stream").await.expect("stats");
    assert_eq!(stats["data"]["stats"]["clients_dropped"], 0, "{stats}");
    assert!(stats["data"]["stats"]["events_sent"].as_u64() >= Some(2500), "{stats}");
    setup.finish(ripple).await;
}

/// A strict parser of the Prometheus text format: every line is a HELP, a TYPE or a
/// sample; names and labels are well formed; each family's HELP and TYPE come once, before
/// its samples, which are contiguous. Returns samples as (name, labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut samples = Vec::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: Vec<String> = Vec::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name, true), "HELP name {name:?}");
            assert!(!helped.contains(&name.to_string()), "second HELP for {name}");
            helped.push(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name, true), "TYPE name {name:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                typed.insert(name.to_string(), kind.to_string()).is_none(),
                "second TYPE for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        assert!(is_name(name, true), "sample name {name:?}");
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            (labels, rest) = parse_labels(inner, line);
        }
        let value = rest.strip_prefix(' ').expect("space before the value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("value {other:?}")),
        };
        let kind = typed.get(name).unwrap_or_else(|| panic!("sample {name} before its TYPE"));
        assert!(kind != "counter" || value >= 0.0, "negative counter {name}");
        if current.as_deref() != Some(name) {
            assert!(!finished.contains(&name.to_string()), "samples of {name} are not contiguous");
            finished.extend(current.replace(name.to_string()));
        }
        samples.push((name.to_string(), labels, value));
    }
    samples
}

/// A metric name (`colons`) or label name.
fn is_name(name: &str, colons: bool) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// `name="value",...}` (after the `{`): the labels and the text after the `}`.
fn parse_labels<'t>(inner: &'t str, line: &str) -> (BTreeMap<String, String>, &'t str) {
    let mut labels = BTreeMap::new();
    let mut rest = inner;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("label in {line}"));
        assert!(is_name(label, false), "label name {label:?}");
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, 'n') => value.push('\n'),
                (true, '\\' | '"') => value.push(c),
                (true, other) => panic!("bad escape \\{other} in {line}"),
                (false, '\\') => {}
                (false, '"') => {
                    end = Some(i + 1);
                    break;
                }
                (false, c) => value.push(c),
            }
            escaped = !escaped && c == '\\';
        }
        let end = end.unwrap_or_else(|| panic!("unclosed label value in {line}"));
        assert!(labels.insert(label.to_string(), value).is_none(), "duplicate label in {line}");
        rest = &after[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn sample(
    samples: &[(String, BTreeMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

/// `/metrics`, checked by the strict parser.
async fn scrape(ripple: &Ripple) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let response = reqwest::get(format!("{}/metrics", ripple.api)).await.expect("metrics");
    let kind = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse_prometheus(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_and_ready_tells_why_not() {
    let setup = Setup::new("metrics").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;
    let (status, body) = ripple.get("/ready").await;
    assert_eq!((status, body["status"].clone()), (200, json!("ready")), "{body}");
    let _client = SseClient::connect(&setup.stream_url()).await;
    write_load(&setup.db, 9, 30).await;
    let rows = setup.truth().await["all-items"].len() as f64;

    ripple
        .wait_for("the metrics to show the writes", || async {
            let samples = scrape(&ripple).await;
            sample(&samples, "ripple_query_rows", &[("query", "all-items")]) == Some(rows)
                && sample(&samples, "ripple_source_transactions_total", &[("source", "db")])
                    .is_some_and(|t| t >= 30.0)
        })
        .await;
    let samples = scrape(&ripple).await;
    let get = |name: &str, labels: &[(&str, &str)]| {
        sample(&samples, name, labels).unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    };
    assert_eq!(get("ripple_source_state", &[("source", "db"), ("state", "streaming")]), 1.0);
    assert!(get("ripple_source_position_bytes", &[("source", "db")]) > 0.0);
    assert!(get("ripple_source_row_changes_total", &[("source", "db")]) >= 30.0);
    assert!(get("ripple_query_changesets_total", &[("query", "all-items")]) >= 1.0);
    assert!(get("ripple_query_last_update_timestamp_seconds", &[("query", "all-items")]) > 1.7e9);
    assert_eq!(get("ripple_query_running", &[("query", "big-items")]), 1.0);
    assert_eq!(get("ripple_reaction_clients", &[("reaction", "stream"), ("kind", "sse")]), 1.0);
    assert!(get("ripple_reaction_events_sent_total", &[("reaction", "stream")]) >= 1.0);
    assert_eq!(get("ripple_reaction_clients_dropped_total", &[("reaction", "stream")]), 0.0);
    assert!(get("process_resident_memory_bytes", &[]) > 1e6);
    assert!(get("process_cpu_seconds_total", &[]) > 0.0);
    assert!(get("ripple_source_lag_bytes", &[("source", "db")]) >= 0.0);
    // Every current row is at least one update in the result arrangement and in the base.
    assert!(get("ripple_query_arrangement_records", &[("query", "all-items")]) >= rows);
    assert!(get("ripple_engine_base_arrangement_records", &[]) >= rows);
    assert!(get("ripple_query_memory_bytes_estimate", &[("query", "all-items")]) > 0.0);

    // A source that cannot connect keeps the server unready, and /ready says why.
    let broken = TutorialConfig {
        database: setup.database.clone(),
        pg_port: free_port(),
        api_port: free_port(),
        sse_port: free_port(),
    };
    let unready = Ripple::start(&broken.render(), broken.api_port, &[]).await;
    let (status, body) = unready.get("/ready").await;
    assert_eq!((status, body["error"]["code"].clone()), (503, json!("NOT_READY")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("source 'metrics-db' is"), "{message}");
    drop(unready);
    setup.finish(ripple).await;
}

/// The source's lag in bytes and seconds, from `/metrics`.
async fn source_lag(ripple: &Ripple) -> (f64, f64) {
    let samples = scrape(ripple).await;
    let get = |name: &str| sample(&samples, name, &[("source", "db")]).unwrap_or(0.0);
    (get("ripple_source_lag_bytes"), get("ripple_source_lag_seconds"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_source_lag_rise_under_load_and_return_to_zero() {
    // A cluster of its own: WAL that other tests write would be lag too.
    let pg = PgCluster::start();
    let setup = Setup::on(&pg, "lag").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;

    // Writers commit large transactions back to back until the lag has been seen.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let db = pg.client(&setup.database).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let sql = format!(
                "INSERT INTO items (id, v) SELECT {} + g, g % 100 FROM generate_series(1, 2000) AS g \
                 ON CONFLICT (id) DO UPDATE SET v = items.v + 1",
                10_000 * (writer + 1)
            );
            while !stop.load(Ordering::Relaxed) {
                db.batch_execute(&sql).await.expect("write load");
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut most_bytes, mut most_seconds) = (0.0_f64, 0.0_f64);
    while most_bytes <= 0.0 || most_seconds <= 0.0 {
        assert!(
            Instant::now() < deadline,
            "no lag seen under load (most: {most_bytes} bytes, {most_seconds} s)"
        );
        let (bytes, seconds) = source_lag(&ripple).await;
        (most_bytes, most_seconds) = (most_bytes.max(bytes), most_seconds.max(seconds));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("most lag seen under load: {most_bytes} bytes, {most_seconds} s");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    ripple
        .wait_for("the lag to return to zero", || async { source_lag(&ripple).await == (0.0, 0.0) })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_acknowledges_the_last_applied_position() {
    let setup = Setup::new("finalack").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &[]).await;
    ripple.wait_streaming("db").await;
    write_load(&setup.db, 11, 50).await;
    let truth = setup.truth().await.remove("all-items").expect("all-items");
    ripple
        .wait_for("the results to reflect the writes", || async {
            let rows = ripple.results("all-items").await;
            rows.into_iter().map(|r| (Mirror::key(&r), r)).collect::<BTreeMap<_, _>>() == truth
        })
        .await;
    let status = ripple.get_json("/api/v1/sources/db").await.expect("source status");
    let position = status["data"]["status"]["position"].as_str().expect("position").to_string();

    // At once, before the periodic acknowledgement would have sent it.
    assert_eq!(ripple.terminate(), Some(0));
    let slot = format!("slot_{}", setup.database);
    let row = setup
        .db
        .query_one(
            "SELECT confirmed_flush_lsn::text, \
             pg_wal_lsn_diff(confirmed_flush_lsn, $2::text::pg_lsn)::float8 \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot, &position],
        )
        .await
        .expect("the slot");
    let (confirmed, ahead): (String, f64) = (row.get(0), row.get(1));
    assert!(ahead >= 0.0, "confirmed_flush_lsn {confirmed} is behind the last applied {position}");
    PgCluster::shared().drop_slots(&setup.database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drasi_format_events_and_json_logs() {
    let setup = Setup::new("drasifmt").await;
    let ripple = Ripple::start(&setup.config(), setup.api_port, &["--log-format", "json"]).await;
    ripple.wait_streaming("db").await;
    let json_line = ripple.log().iter().find_map(|line| {
        serde_json::from_str::<Value>(line)
            .ok()
            .filter(|v| v["message"] == "SSE reaction listening.")
    });
    assert_eq!(json_line.expect("JSON log lines")["reaction"], "stream");
    let mut sse =
        SseClient::connect(&format!("http://127.0.0.1:{}/events", setup.drasi_port)).await;
    for sql in [
        "INSERT INTO items (id, v) VALUES (500, 60)",
        "UPDATE items SET v = 61 WHERE id = 500",
        "DELETE FROM items WHERE id = 500",
    ] {
        setup.db.execute(sql, &[]).await.unwrap();
    }
    let mut events = Vec::new();
    for _ in 0..3 {
        let event = sse.next(TIMEOUT).await.expect("an event");
        assert!(event.id.is_some(), "every event has an id");
        let mut data = event.json();
        assert!(data["timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{data}");
        data.as_object_mut().unwrap().remove("timestamp");
        events.push(data);
    }
    let (before, after) = (json!({"id": 500, "v": 60}), json!({"id": 500, "v": 61}));
    assert_eq!(
        events,
        [
            json!({"queryId": "all-items", "results": [{"type": "ADD", "data": before}]}),
            json!({"queryId": "all-items", "results": [{"type": "UPDATE", "before": before, "after": after, "data": after}]}),
            json!({"queryId": "all-items", "results": [{"type": "DELETE", "data": after}]}),
        ]
    );
    setup.finish(ripple).await;
}

/// Every number as a float: the browser returns `95.0` as `95`.
fn floats(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

/// The live page's state, reduced to what SQL can tell: metric values by id, active alert
/// ids, critical metric values by name.
async fn page_state(browser: &Browser) -> Value {
    let state = browser
        .execute(
            "const s = window.liveState ? window.liveState() : null; if (!s) return null;
             return {
               metrics: Object.fromEntries(s['current-metrics'].map(r => [String(r.id), r.value])),
               alerts: s['active-alerts'].map(r => r.id).sort((a, b) => a - b),
               critical: Object.fromEntries(s['critical-metrics'].map(r => [r.name, r.value])),
             };",
        )
        .await;
    floats(state)
}

async fn sql_state(db: &tokio_postgres::Client) -> Value {
    let metrics = db.query("SELECT id, value::float8 FROM metrics", &[]).await.unwrap();
    let critical = db
        .query(
            "SELECT name, value::float8 FROM metrics WHERE (name = 'cpu_usage' AND value > 80) \
             OR (name = 'memory_usage' AND value > 85) OR (name = 'disk_usage' AND value > 90) \
             OR (name = 'error_rate' AND value > 5)",
            &[],
        )
        .await
        .unwrap();
    let alerts =
        db.query("SELECT id FROM alerts WHERE NOT acknowledged ORDER BY id", &[]).await.unwrap();
    floats(json!({
        "metrics": metrics.iter().map(|r| (r.get::<_, i32>(0).to_string(), json!(r.get::<_, f64>(1)))).collect::<serde_json::Map<_, _>>(),
        "alerts": alerts.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(),
        "critical": critical.iter().map(|r| (r.get::<_, String>(0), json!(r.get::<_, f64>(1)))).collect::<serde_json::Map<_, _>>(),
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn live_page_stays_consistent_with_sql() {
    let Some(browser) = Browser::start().await else { return };
    let pg = PgCluster::shared();
    let (config, db) = TutorialConfig::create("livepage").await;
    let db = Arc::new(db);
    let database = config.database.clone();
    let ripple = Ripple::start(&config.render(), config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;
    let web_port = free_port();
    let _web = StaticServer::start(web_port);
    let page = format!(
        "http://localhost:{web_port}/live.html?api=http://127.0.0.1:{}&stream=http://127.0.0.1:{}/events",
        config.api_port, config.sse_port
    );
    ripple
        .wait_for("the static server", || async {
            reqwest::get(&page).await.is_ok_and(|r| r.status().is_success())
        })
        .await;

    // Writes race with the page's fetches and its stream's start.
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                db.execute(
                    "UPDATE metrics SET value = $1::float8::numeric WHERE name = 'cpu_usage'",
                    &[&(50.0 + f64::from(i))],
                )
                .await
                .unwrap();
            }
        })
    };
    browser.goto(&page).await;
    writer.await.unwrap();
    let consistent = || async {
        let expected = sql_state(&db).await;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let seen = page_state(&browser).await;
            if seen == expected {
                break;
            }
            assert!(Instant::now() < deadline, "the page shows {seen}, SQL has {expected}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    consistent().await;
    for sql in [
        "UPDATE metrics SET value = 95.0 WHERE name = 'disk_usage'",
        "UPDATE alerts SET acknowledged = true WHERE metric_name = 'disk_usage'",
        "INSERT INTO alerts (metric_name, severity, message) VALUES ('cpu_usage', 'critical', 'CPU usage exceeded 85%')",
        "DELETE FROM metrics WHERE name = 'request_rate'",
    ] {
        db.execute(sql, &[]).await.unwrap();
    }
    consistent().await;
    browser
        .wait_for_text(
            "#critical",
            |t| t.contains("disk_usage") && t.contains("95"),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    drop(browser);
    drop(ripple);
    pg.drop_slots(&database).await;
}
