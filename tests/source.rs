//! The PostgreSQL source against a real server: results equal SQL through bootstrap,
//! concurrent writes, dropped connections, `kill -9` and PostgreSQL restarts; WAL is released
//! while ripple runs; values and row semantics match the database.
//!
//! Every comparison uses a fence: once the writers stopped, a marker row is committed, and
//! when the `fence` query shows it, every earlier transaction has been applied (the source
//! applies transactions in commit order). Then each query's REST results must equal the same
//! query in SQL, once, with no retrying.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple};

/// The schema the write-load tests use: the tutorial's two tables, one with a composite key,
/// and the fence.
const SCHEMA: &str = "
    CREATE TABLE metrics (id SERIAL PRIMARY KEY, name VARCHAR(50) NOT NULL,
                          value DECIMAL(10,2) NOT NULL, unit VARCHAR(20));
    CREATE TABLE alerts (id SERIAL PRIMARY KEY, metric_name VARCHAR(50) NOT NULL,
                         severity VARCHAR(20) NOT NULL, message TEXT,
                         acknowledged BOOLEAN DEFAULT FALSE);
    CREATE TABLE readings (sensor text, ts int, value float8, PRIMARY KEY (sensor, ts));
    CREATE TABLE fence (id int PRIMARY KEY);
    CREATE PUBLICATION pub FOR ALL TABLES;
    INSERT INTO metrics (name, value, unit)
        SELECT 'metric_' || g, g * 10.5, CASE WHEN g % 2 = 0 THEN 'percent' END
        FROM generate_series(1, 8) g;
    INSERT INTO alerts (metric_name, severity, message)
        SELECT 'metric_' || g, 'warning', 'seed ' || g FROM generate_series(1, 20) g;
    INSERT INTO readings SELECT 's' || (g % 4), g, g * 0.25 FROM generate_series(1, 50) g;
";

/// Each query of the write-load tests: id, label, Cypher, and the same in SQL.
const QUERIES: &[(&str, &str, &str, &str)] = &[
    (
        "metrics",
        "metrics",
        "MATCH (m:metrics) RETURN m.id, m.name, m.value, m.unit",
        "SELECT id, name, value::float8 AS value, unit FROM metrics",
    ),
    (
        "hot-metrics",
        "metrics",
        "MATCH (m:metrics) WHERE m.value > 50 RETURN m.id, m.value",
        "SELECT id, value::float8 AS value FROM metrics WHERE value > 50",
    ),
    (
        "open-alerts",
        "alerts",
        "MATCH (a:alerts) WHERE a.acknowledged = false RETURN a.id, a.metric_name, a.severity, a.message",
        "SELECT id, metric_name, severity, message FROM alerts WHERE NOT acknowledged",
    ),
    (
        "readings",
        "readings",
        "MATCH (r:readings) RETURN r.sensor, r.ts, r.value",
        "SELECT sensor, ts, value FROM readings",
    ),
    ("fence", "fence", "MATCH (f:fence) RETURN f.id", "SELECT id FROM fence"),
];

/// A ripple config for one source over `database`, with `queries` (id, label, Cypher).
fn config(
    database: &str,
    pg_port: u16,
    api_port: u16,
    state: Option<&Path>,
    queries: &[(&str, &str, &str)],
) -> String {
    let mut text = format!("id: source-test\nhost: 127.0.0.1\nport: {api_port}\n");
    if let Some(state) = state {
        text += &format!("state_store:\n  kind: redb\n  path: {}\n", state.display());
    }
    text += &format!(
        "sources:\n  - kind: postgres\n    id: pg\n    host: 127.0.0.1\n    port: {pg_port}\n    \
         database: {database}\n    user: postgres\n    slot_name: slot_{database}\n    \
         publication_name: pub\n    bootstrap_provider:\n      type: postgres\nqueries:\n"
    );
    for (id, label, cypher) in queries {
        text += &format!(
            "  - id: {id}\n    query: \"{cypher}\"\n    sources:\n      - source_id: pg\n        nodes: [{label}]\n"
        );
    }
    text
}

/// `one` (a [`config`] over database `first`) with a copy of its source, `pg2`, over `second`.
fn with_second_source(one: &str, first: &str, second: &str) -> String {
    let (head, queries) = one.split_once("queries:\n").expect("queries");
    let other = head
        .split_once("sources:\n")
        .expect("sources")
        .1
        .replace("id: pg\n", "id: pg2\n")
        .replace(first, second);
    format!("{head}{other}queries:\n{queries}")
}

fn load_queries() -> Vec<(&'static str, &'static str, &'static str)> {
    QUERIES.iter().map(|(id, label, cypher, _)| (*id, *label, *cypher)).collect()
}

/// Numbers as floats (ripple returns a numeric column as a float, SQL's JSON may not), keys
/// and rows sorted: the form both sides are compared in.
fn normalized(rows: Vec<Value>) -> Vec<Value> {
    fn numbers(value: Value) -> Value {
        match value {
            Value::Number(n) => json!(n.as_f64().expect("finite")),
            Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().map(|(k, v)| (k, numbers(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(numbers).collect()),
            other => other,
        }
    }
    let mut rows: Vec<Value> = rows.into_iter().map(numbers).collect();
    rows.sort_by_key(|row| row.to_string());
    rows
}

/// The rows of `sql` as JSON objects.
async fn sql_rows(db: &tokio_postgres::Client, sql: &str) -> Vec<Value> {
    db.query(&format!("SELECT to_jsonb(q)::text FROM ({sql}) q"), &[])
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .iter()
        .map(|row| serde_json::from_str(row.get::<_, &str>(0)).expect("JSON"))
        .collect()
}

/// Commits fence row `n` and waits until ripple's `fence` query shows it.
async fn fence(ripple: &Ripple, db: &tokio_postgres::Client, n: i32) {
    db.execute("INSERT INTO fence VALUES ($1)", &[&n]).await.expect("fence");
    ripple
        .wait_for(&format!("fence {n}"), || async {
            ripple.results("fence").await.iter().any(|row| row["id"] == json!(n))
        })
        .await;
}

/// After a fence: every query of [`QUERIES`] has REST results equal to its SQL.
async fn assert_results_equal_sql(ripple: &Ripple, db: &tokio_postgres::Client, context: &str) {
    let queries: Vec<(&str, &str)> = QUERIES.iter().map(|(id, _, _, sql)| (*id, *sql)).collect();
    assert_equal_sql(ripple, db, &queries, context).await;
}

/// After a fence: each query's (id, SQL) REST results equal its SQL.
async fn assert_equal_sql(
    ripple: &Ripple,
    db: &tokio_postgres::Client,
    queries: &[(&str, &str)],
    context: &str,
) {
    for (id, sql) in queries {
        let ours = normalized(ripple.results(id).await);
        let theirs = normalized(sql_rows(db, sql).await);
        assert_eq!(ours, theirs, "{context}: REST results of {id} differ from SQL");
    }
}

/// A writer: inserts, updates (including primary-key updates) and deletes on every table, in
/// single- and multi-statement transactions, until stopped. It reconnects when PostgreSQL goes
/// away (restarts), so it keeps writing across them.
struct Writer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicI32>,
    task: JoinHandle<()>,
}

impl Writer {
    fn start(port: u16, database: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicI32::new(0));
        let config = format!("host=127.0.0.1 port={port} user=postgres dbname={database}");
        let task = tokio::spawn({
            let (stop, done) = (stop.clone(), done.clone());
            async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, connection)) =
                        tokio_postgres::connect(&config, tokio_postgres::NoTls).await
                    else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    tokio::spawn(connection);
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        if client.batch_execute(&statements(i)).await.is_err() {
                            break;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                        // Leave the two CI cores some room for ripple and PostgreSQL.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
        });
        Writer { stop, done, task }
    }

    /// Transactions committed so far.
    fn committed(&self) -> i32 {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits until `n` more transactions have committed.
    async fn wait_for_more(&self, n: i32) {
        let target = self.committed() + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.committed() < target {
            assert!(Instant::now() < deadline, "the writer made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer");
    }
}

/// Iteration `i` of the writer: one simple-query string is one transaction, however many
/// statements it holds.
fn statements(i: i32) -> String {
    let metric = i % 8 + 1;
    let value = (i * 37) % 10_000;
    let mut sql = format!(
        "UPDATE metrics SET value = {value} / 100.0 WHERE id = {metric};
         INSERT INTO alerts (metric_name, severity, message) VALUES ('m{i}', 'critical', 'w{i}');
         INSERT INTO readings VALUES ('s{}', 1000 + {i}, {i} * 0.5)
             ON CONFLICT (sensor, ts) DO UPDATE SET value = excluded.value;",
        i % 4
    );
    if i % 3 == 0 {
        sql +=
            &format!("UPDATE alerts SET acknowledged = NOT acknowledged WHERE id = {};", i / 2 + 1);
    }
    if i % 4 == 0 {
        sql += &format!("DELETE FROM alerts WHERE id = {};", i / 3 + 1);
    }
    if i % 5 == 0 {
        // A primary-key update: the old row goes, a new key appears.
        sql += &format!(
            "UPDATE readings SET ts = ts + 1000000 WHERE sensor = 's{}' AND ts = 1000 + {};",
            (i - 1) % 4,
            i - 1
        );
    }
    if i % 7 == 0 {
        sql += &format!(
            "DELETE FROM readings WHERE sensor = 's{}' AND ts = 1000 + {};",
            (i - 2) % 4,
            i - 2
        );
    }
    if i % 2 == 0 {
        format!("BEGIN; {sql} COMMIT;")
    } else {
        sql
    }
}

/// A database with [`SCHEMA`].
async fn schema_database(pg: &PgCluster, name: &str) -> (String, tokio_postgres::Client) {
    let database = pg.create_database(name).await;
    let db = pg.client(&database).await;
    db.batch_execute(SCHEMA).await.expect("schema");
    (database, db)
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_under_concurrent_writes_equals_sql_over_ten_runs() {
    let pg = PgCluster::shared();
    for run in 0..10 {
        let (database, db) = schema_database(pg, "consistency").await;
        let writer = Writer::start(pg.port, &database);
        writer.wait_for_more(5).await;
        let api_port = free_port();
        // ripple bootstraps while the writer runs, then streams.
        let ripple = Ripple::start(
            &config(&database, pg.port, api_port, None, &load_queries()),
            api_port,
            &[],
        )
        .await;
        ripple.wait_streaming("pg").await;
        writer.wait_for_more(20).await;
        writer.stop().await;
        fence(&ripple, &db, run).await;
        assert_results_equal_sql(&ripple, &db, &format!("run {run}")).await;
        drop(ripple);
        pg.drop_slots(&database).await;
    }
}

/// GET the source's status.
async fn source_status(ripple: &Ripple) -> Value {
    ripple.get_json("/api/v1/sources/pg").await.expect("source status")["data"]["status"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_then_restart_resumes_from_the_state_store() {
    let pg = PgCluster::shared();
    let (database, db) = schema_database(pg, "kill9").await;
    let state = tempfile::tempdir().expect("state dir");
    let state_path = state.path().join("state.redb");
    let api_port = free_port();
    let text = config(&database, pg.port, api_port, Some(&state_path), &load_queries());
    let writer = Writer::start(pg.port, &database);

    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    ripple
        .wait_for("something acknowledged", || async {
            source_status(&ripple).await["acknowledged"].is_string()
        })
        .await;
    writer.wait_for_more(50).await;
    ripple.kill();
    // Changes keep coming while ripple is down.
    writer.wait_for_more(50).await;

    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    writer.wait_for_more(30).await;
    writer.stop().await;
    fence(&ripple, &db, 1).await;
    assert_results_equal_sql(&ripple, &db, "after kill -9 and restart").await;
    let status = source_status(&ripple).await;
    assert!(status["restored_rows"].as_u64() > Some(0), "restored, not bootstrapped: {status}");
    assert_eq!(status["bootstrap_rows"], 0, "{status}");
    assert!(ripple.log().iter().any(|l| l.contains("Restored the saved state")));
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_walsender_under_load_is_resumed_exactly_once() {
    let pg = PgCluster::shared();
    let (database, db) = schema_database(pg, "terminate").await;
    let api_port = free_port();
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, None, &load_queries()), api_port, &[])
            .await;
    ripple.wait_streaming("pg").await;
    let writer = Writer::start(pg.port, &database);
    for _ in 0..3 {
        writer.wait_for_more(30).await;
        db.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1",
            &[&format!("slot_{database}")],
        )
        .await
        .expect("terminate the walsender");
        ripple
            .wait_for("a reconnection", || async {
                source_status(&ripple).await["last_error"].is_string()
            })
            .await;
        ripple.wait_streaming("pg").await;
    }
    writer.stop().await;
    fence(&ripple, &db, 1).await;
    assert_results_equal_sql(&ripple, &db, "after reconnects").await;
    let status = source_status(&ripple).await;
    assert_eq!(status["state"], "streaming");
    assert!(status["position"].as_str().is_some_and(|p| p.contains('/')), "{status}");
    ripple
        .wait_for("the lag to be measured", || async {
            let status = source_status(&ripple).await;
            status["lag_bytes"].is_u64() && status["lag_seconds"].is_number()
        })
        .await;
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarts_under_load_lose_nothing() {
    // A cluster of its own: restarting the shared one would disturb the other tests.
    let mut pg = PgCluster::start();
    let (database, db) = schema_database(&pg, "pgrestart").await;
    let state = tempfile::tempdir().expect("state dir");
    let api_port = free_port();
    let text =
        config(&database, pg.port, api_port, Some(&state.path().join("s.redb")), &load_queries());
    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    let writer = Writer::start(pg.port, &database);
    for _ in 0..2 {
        writer.wait_for_more(30).await;
        pg.restart();
        writer.wait_for_more(30).await;
        ripple.wait_streaming("pg").await;
    }
    writer.stop().await;
    drop(db);
    let db = pg.client(&database).await;
    fence(&ripple, &db, 1).await;
    assert_results_equal_sql(&ripple, &db, "after PostgreSQL restarts").await;
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_flush_lsn_advances_while_ripple_runs() {
    let pg = PgCluster::shared();
    let (database, db) = schema_database(pg, "flush").await;
    let state = tempfile::tempdir().expect("state dir");
    let api_port = free_port();
    let text =
        config(&database, pg.port, api_port, Some(&state.path().join("s.redb")), &load_queries());
    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    let slot = format!("slot_{database}");
    let confirmed = || async {
        let row = db
            .query_one(
                "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint FROM pg_replication_slots \
                 WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .expect("slot");
        row.get::<_, i64>(0)
    };
    let mut last = confirmed().await;
    for round in 0..3 {
        for i in 0..20 {
            db.batch_execute(&statements(round * 100 + i + 1)).await.expect("write");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = confirmed().await;
            if now > last {
                last = now;
                break;
            }
            assert!(Instant::now() < deadline, "confirmed_flush_lsn stayed at {last}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    drop(ripple);
    pg.drop_slots(&database).await;
}

/// A column of every type the source parses, with values that exercise the edge cases.
const TYPES: &[(&str, &str, &str)] = &[
    ("b", "bool", "true"),
    ("i2", "int2", "-32768"),
    ("i4", "int4", "2147483647"),
    ("i8", "int8", "9223372036854775807"),
    ("o", "oid", "4294967295"),
    ("f4", "float4", "3.14159"),
    ("f8", "float8", "0.1"),
    ("f8nan", "float8", "'NaN'"),
    ("f8inf", "float8", "'-Infinity'"),
    ("num", "numeric(12,3)", "12345.678"),
    ("numbig", "numeric", "-123456789012345678901234567890.000000000000000000000000000001"),
    ("numscale", "numeric(20,10)", "1.5"),
    ("numnan", "numeric", "'NaN'"),
    ("numinf", "numeric", "'-Infinity'"),
    ("bp", "char(4)", "'ab'"),
    ("t", "text", "E'line1\\nline2 \"q\" \\\\ back'"),
    ("vc", "varchar(10)", "'vc'"),
    ("nm", "name", "'a_name'"),
    ("ch", "\"char\"", "'c'"),
    ("u", "uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
    ("d", "date", "'0001-01-01 BC'"),
    ("tm", "time", "'23:59:59.123456'"),
    ("ttz", "timetz", "'12:00:00+05:30'"),
    ("iv", "interval", "'1 year 2 mons 3 days 04:05:06.5'"),
    ("j", "json", r#"'{"b": 1,  "a":[1,2, null]}'"#),
    ("jb", "jsonb", r#"'{"a": [1, 2.5, "x"], "b": {"c": null}}'"#),
    ("ts", "timestamp", "'2024-02-29 23:59:59.123456'"),
    ("tsinf", "timestamp", "'infinity'"),
    ("tstz", "timestamptz", "'2024-02-29 23:59:59.123456+05:30'"),
    ("by", "bytea", "'\\xdeadbeef'"),
    ("ab", "bool[]", "'{t,f,NULL}'"),
    ("a2", "int2[]", "'{1,NULL,3}'"),
    ("a4", "int4[]", "'{{1,2},{3,4}}'"),
    ("a8", "int8[]", "'{-9223372036854775808}'"),
    ("af4", "float4[]", "'{1.5,NaN}'"),
    ("af8", "float8[]", "'{0.1,Infinity}'"),
    ("anum", "numeric[]", "'{1.50,NULL}'"),
    ("at", "text[]", r#"'{"a b","c,d",NULL,"NULL","","q\"uote"}'"#),
    ("avc", "varchar[]", "'{x,y}'"),
    ("abp", "char(2)[]", "'{a,bb}'"),
    ("au", "uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"),
    ("ats", "timestamp[]", r#"'{"2024-01-01 00:00:00",infinity}'"#),
    ("atstz", "timestamptz[]", r#"'{"2024-01-01 00:00:00+00"}'"#),
    ("aj", "json[]", r#"ARRAY['{"k": [1]}'::json, NULL]"#),
    ("ajb", "jsonb[]", r#"ARRAY['{"k": {"z": 1, "a": 2}}'::jsonb]"#),
];

#[tokio::test(flavor = "multi_thread")]
async fn types_round_trip_identically_through_bootstrap_and_stream() {
    let pg = PgCluster::shared();
    let database = pg.create_database("types").await;
    let db = pg.client(&database).await;
    let columns: Vec<String> = TYPES.iter().map(|(name, ty, _)| format!("{name} {ty}")).collect();
    let names: Vec<&str> = TYPES.iter().map(|(name, _, _)| *name).collect();
    let values: Vec<&str> = TYPES.iter().map(|(_, _, value)| *value).collect();
    let insert = |id: i32, nulls: bool| {
        let values = if nulls { vec!["NULL"; values.len()].join(", ") } else { values.join(", ") };
        format!("INSERT INTO ty (id, {}) VALUES ({id}, {values});", names.join(", "))
    };
    db.batch_execute(&format!(
        "CREATE TABLE ty (id int PRIMARY KEY, {});
         CREATE TABLE fence (id int PRIMARY KEY);
         CREATE PUBLICATION pub FOR ALL TABLES;
         {} {}",
        columns.join(", "),
        insert(1, false),
        insert(2, true)
    ))
    .await
    .expect("types table");
    let returns: Vec<String> = names.iter().map(|n| format!("t.{n}")).collect();
    let cypher = format!("MATCH (t:ty) RETURN t.id, {}", returns.join(", "));
    let api_port = free_port();
    let arith = "MATCH (t:ty) WHERE t.numscale = 1.5 AND t.numbig < -1 \
                 RETURN t.numbig + 1 AS next, t.numscale * 11 - t.num + t.num AS exact";
    let queries = [
        ("types", "ty", cypher.as_str()),
        ("arith", "ty", arith),
        ("fence", "fence", "MATCH (f:fence) RETURN f.id"),
    ];
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, None, &queries), api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    db.batch_execute(&format!("{} {}", insert(3, false), insert(4, true)))
        .await
        .expect("stream rows");
    fence(&ripple, &db, 1).await;

    let rows = ripple.results("types").await;
    let row = |id: i64| {
        let mut row = rows.iter().find(|r| r["id"] == json!(id)).expect("row").clone();
        row.as_object_mut().expect("object").remove("id");
        row
    };
    assert_eq!(row(1), row(3), "bootstrap and stream give the same values");
    assert_eq!(row(2), row(4), "bootstrap and stream give the same nulls");
    let full = row(1);
    assert_eq!(full.as_object().map(|o| o.len()), Some(TYPES.len()), "every column: {full}");
    // Spot checks of exactness.
    assert_eq!(full["i8"], json!(9223372036854775807_i64));
    assert_eq!(full["t"], json!("line1\nline2 \"q\" \\ back"));
    assert_eq!(full["u"], json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(full["jb"], json!({"a": [1, 2.5, "x"], "b": {"c": null}}));
    assert_eq!(full["at"], json!(["a b", "c,d", null, "NULL", "", "q\"uote"]));
    assert_eq!(full["a4"], json!([[1, 2], [3, 4]]));
    // numeric: every digit, as a JSON number; trailing zeros of the scale are not kept.
    let numbig = "-123456789012345678901234567890.000000000000000000000000000001";
    assert_eq!(serde_json::to_string(&full["numbig"]).unwrap(), numbig);
    assert_eq!(serde_json::to_string(&full["numscale"]).unwrap(), "1.5");
    assert_eq!(serde_json::to_string(&full["anum"]).unwrap(), "[1.5,null]");
    assert_eq!((&full["numnan"], &full["numinf"]), (&json!("NaN"), &json!("-Infinity")));
    // Exact arithmetic and comparisons in Cypher.
    ripple
        .wait_for("the arithmetic query", || async {
            let rows = ripple.results("arith").await;
            rows.len() == 2
                && rows.iter().all(|row| {
                    serde_json::to_string(row).unwrap()
                        == r#"{"next":-123456789012345678901234567889.000000000000000000000000000001,"exact":16.5}"#
                })
        })
        .await;
    assert_eq!(full["bp"], json!("ab"));
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn row_semantics_follow_the_database() {
    let pg = PgCluster::shared();
    let database = pg.create_database("rows").await;
    let db = pg.client(&database).await;
    db.batch_execute(
        "CREATE TABLE full_t (id int PRIMARY KEY, v text, big text);
         ALTER TABLE full_t REPLICA IDENTITY FULL;
         CREATE TABLE def_t (id int PRIMARY KEY, v text, big text);
         -- Stored out of line and uncompressed, so unchanged values arrive as TOAST 'u'.
         ALTER TABLE full_t ALTER COLUMN big SET STORAGE EXTERNAL;
         ALTER TABLE def_t ALTER COLUMN big SET STORAGE EXTERNAL;
         CREATE TABLE comp (a int, b text, v int, PRIMARY KEY (a, b));
         CREATE TABLE trunc_t (id int PRIMARY KEY, v int);
         CREATE TABLE alter_t (id int PRIMARY KEY, v int);
         CREATE TABLE fence (id int PRIMARY KEY);
         CREATE PUBLICATION pub FOR ALL TABLES;
         INSERT INTO full_t SELECT g, 'v' || g, repeat(md5(g::text), 100) FROM generate_series(1, 4) g;
         INSERT INTO def_t SELECT g, 'v' || g, repeat(md5(g::text), 100) FROM generate_series(1, 4) g;
         INSERT INTO comp SELECT g, 'x', g FROM generate_series(1, 3) g;
         INSERT INTO trunc_t SELECT g, g FROM generate_series(1, 5) g;
         INSERT INTO alter_t VALUES (1, 1);",
    )
    .await
    .expect("schema");
    let queries = [
        ("full", "full_t", "MATCH (n:full_t) RETURN n.id, n.v, n.big"),
        ("def", "def_t", "MATCH (n:def_t) RETURN n.id, n.v, n.big"),
        ("comp", "comp", "MATCH (c:comp) RETURN c.a, c.b, c.v"),
        ("trunc", "trunc_t", "MATCH (t:trunc_t) RETURN t.id, t.v"),
        ("alter", "alter_t", "MATCH (x:alter_t) RETURN x.id, x.v, x.extra"),
        ("fence", "fence", "MATCH (f:fence) RETURN f.id"),
    ];
    let sql = [
        ("full", "SELECT id, v, big FROM full_t"),
        ("def", "SELECT id, v, big FROM def_t"),
        ("comp", "SELECT a, b, v FROM comp"),
        ("trunc", "SELECT id, v FROM trunc_t"),
    ];
    let api_port = free_port();
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, None, &queries), api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    let steps = [
        // Unchanged TOASTed `big` keeps its value.
        "UPDATE full_t SET v = 'w1' WHERE id = 1; UPDATE def_t SET v = 'w1' WHERE id = 1;",
        // Primary-key updates, also of one column of a composite key.
        "UPDATE full_t SET id = 10 WHERE id = 2; UPDATE def_t SET id = 10 WHERE id = 2;
         UPDATE comp SET b = 'zz' WHERE a = 1; UPDATE comp SET v = 20 WHERE a = 2;",
        "DELETE FROM full_t WHERE id = 3; DELETE FROM def_t WHERE id = 3; DELETE FROM comp WHERE a = 3;",
        "TRUNCATE trunc_t; INSERT INTO trunc_t VALUES (9, 9);",
        // Rows keep flowing after the table changes shape.
        "ALTER TABLE alter_t ADD COLUMN extra int DEFAULT 7;
         INSERT INTO alter_t VALUES (5, 5, 9); UPDATE alter_t SET v = 6 WHERE id = 1;",
    ];
    for (n, step) in steps.iter().enumerate() {
        db.batch_execute(step).await.unwrap_or_else(|error| panic!("{step}: {error}"));
        let n = n as i32;
        fence(&ripple, &db, n).await;
        assert_equal_sql(&ripple, &db, &sql, &format!("after {step}")).await;
    }
    assert_eq!(
        normalized(ripple.results("alter").await),
        normalized(vec![
            json!({"id": 1, "v": 6, "extra": 7}),
            json!({"id": 5, "v": 5, "extra": 9})
        ]),
    );
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_without_primary_key_needs_table_keys() {
    let pg = PgCluster::shared();
    let database = pg.create_database("nopk").await;
    let db = pg.client(&database).await;
    db.batch_execute("CREATE TABLE nopk (a int, b int); CREATE PUBLICATION pub FOR ALL TABLES;")
        .await
        .expect("schema");
    let api_port = free_port();
    let queries = [("q", "nopk", "MATCH (n:nopk) RETURN n.a")];
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, None, &queries), api_port, &[]).await;
    ripple
        .wait_for("the source to fail", || async {
            source_status(&ripple).await["state"] == "failed"
        })
        .await;
    let error = source_status(&ripple).await["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("no primary key") && error.contains("table_keys"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sources_in_one_server_each_follow_their_database() {
    let pg = PgCluster::shared();
    let (first, first_db) = schema_database(pg, "multi_a").await;
    let second = pg.create_database("multi_b").await;
    let second_db = pg.client(&second).await;
    second_db
        .batch_execute(
            "CREATE TABLE parts (id int PRIMARY KEY, qty int);
             CREATE PUBLICATION pub FOR ALL TABLES;
             INSERT INTO parts SELECT g, g FROM generate_series(1, 10) g;",
        )
        .await
        .expect("second schema");
    let api_port = free_port();
    let one = config(&first, pg.port, api_port, None, &load_queries());
    let text = format!(
        "{}  - id: parts\n    query: \"MATCH (p:parts) RETURN p.id, p.qty\"\n    \
         sources:\n      - source_id: pg2\n        nodes: [parts]\n",
        with_second_source(&one, &first, &second)
    );
    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    ripple.wait_streaming("pg2").await;
    let writer = Writer::start(pg.port, &first);
    second_db
        .batch_execute(
            "UPDATE parts SET qty = qty * 10 WHERE id <= 5; DELETE FROM parts WHERE id = 10;",
        )
        .await
        .expect("second writes");
    writer.wait_for_more(30).await;
    writer.stop().await;
    fence(&ripple, &first_db, 1).await;
    assert_results_equal_sql(&ripple, &first_db, "first source").await;
    ripple
        .wait_for("the second source's changes", || async {
            normalized(ripple.results("parts").await)
                == normalized(sql_rows(&second_db, "SELECT id, qty FROM parts").await)
        })
        .await;
    drop(ripple);
    pg.drop_slots(&first).await;
    pg.drop_slots(&second).await;
}

/// `ssl_mode: require` in a one-table config over `database`.
fn require_tls_config(database: &str, pg_port: u16, api_port: u16) -> String {
    let queries = [("items", "items", "MATCH (i:items) RETURN i.id, i.name")];
    config(database, pg_port, api_port, None, &queries)
        .replace("    user: postgres\n", "    user: postgres\n    ssl_mode: require\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_mode_require_encrypts_both_connections_and_fails_clearly_without_tls() {
    let schema = "CREATE TABLE items (id int PRIMARY KEY, name text);
                  CREATE PUBLICATION pub FOR ALL TABLES;
                  INSERT INTO items VALUES (1, 'bootstrapped');";

    // The shared cluster has no TLS: `require` must fail, saying so, not fall back.
    let plain = PgCluster::shared();
    let database = plain.create_database("notls").await;
    plain.client(&database).await.batch_execute(schema).await.expect("schema");
    let api_port = free_port();
    let ripple =
        Ripple::start(&require_tls_config(&database, plain.port, api_port), api_port, &[]).await;
    ripple
        .wait_for("the source to fail", || async {
            source_status(&ripple).await["state"] == "failed"
        })
        .await;
    let error = source_status(&ripple).await["last_error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("ssl_mode is 'require'") && error.contains("does not accept TLS"),
        "{error}"
    );
    drop(ripple);

    // A cluster with TLS and a self-signed certificate: both connections use it.
    let tls = PgCluster::start();
    tls.enable_ssl().await;
    let database = tls.create_database("tls").await;
    let db = tls.client(&database).await;
    db.batch_execute(schema).await.expect("schema");
    let api_port = free_port();
    let ripple =
        Ripple::start(&require_tls_config(&database, tls.port, api_port), api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    db.batch_execute("INSERT INTO items VALUES (2, 'streamed')").await.expect("insert");
    ripple
        .wait_for("the streamed row", || async { ripple.results("items").await.len() == 2 })
        .await;
    let connections: Vec<(String, bool)> = db
        .query(
            "SELECT a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'ripple' ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let kinds: std::collections::BTreeSet<&str> =
        connections.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["client backend", "walsender"].into(), "{connections:?}");
    assert!(
        connections.iter().all(|(_, ssl)| *ssl),
        "every ripple connection uses TLS: {connections:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn altered_columns_follow_the_new_schema_and_are_reported_on_the_queries_reading_them() {
    let pg = PgCluster::shared();
    let database = pg.create_database("alter").await;
    let db = pg.client(&database).await;
    db.batch_execute(
        "CREATE TABLE products (id int PRIMARY KEY, name text, price numeric, stock int);
         CREATE TABLE fence (id int PRIMARY KEY);
         CREATE PUBLICATION pub FOR ALL TABLES;
         INSERT INTO products VALUES (1, 'apple', 1.10, 5), (2, 'pear', 2.20, 7);",
    )
    .await
    .expect("schema");
    let api_port = free_port();
    let queries = [
        ("price", "products", "MATCH (p:products) RETURN p.id, p.price"),
        ("name", "products", "MATCH (p:products) RETURN p.id, p.name"),
        ("title", "products", "MATCH (p:products) RETURN p.id, p.title"),
        ("stock", "products", "MATCH (p:products) WHERE p.stock IS NULL RETURN p.id"),
        ("fence", "fence", "MATCH (f:fence) RETURN f.id"),
    ];
    let ripple =
        Ripple::start(&config(&database, pg.port, api_port, None, &queries), api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    db.batch_execute(
        "ALTER TABLE products RENAME COLUMN name TO title;
         ALTER TABLE products DROP COLUMN stock;
         UPDATE products SET price = price + 1 WHERE id = 1;",
    )
    .await
    .expect("alter");
    fence(&ripple, &db, 1).await;

    // Every held row follows the new columns, also the row that did not change.
    let sorted = |mut rows: Vec<Value>| {
        rows.sort_by_key(|row| row["id"].as_i64());
        rows
    };
    assert_eq!(
        sorted(ripple.results("title").await),
        [json!({"id": 1, "title": "apple"}), json!({"id": 2, "title": "pear"})]
    );
    assert_eq!(
        sorted(ripple.results("name").await),
        [json!({"id": 1, "name": null}), json!({"id": 2, "name": null})]
    );
    assert_eq!(sorted(ripple.results("stock").await), [json!({"id": 1}), json!({"id": 2})]);
    let prices: Vec<String> =
        sorted(ripple.results("price").await).iter().map(|row| row["price"].to_string()).collect();
    assert_eq!(prices, ["2.1", "2.2"]);

    // The queries that read a changed column say so and keep running; the others are clean.
    let query = |id: &'static str| {
        let ripple = &ripple;
        async move {
            ripple.get_json(&format!("/api/v1/queries/{id}")).await.expect("query")["data"].clone()
        }
    };
    let name = query("name").await;
    assert_eq!(name["status"], "running");
    let error = name["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("column 'name' was renamed to 'title'"), "{name}");
    let error = query("stock").await["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("column 'stock' was dropped"), "{error}");
    assert_eq!(query("price").await["last_error"], Value::Null);
    assert_eq!(query("title").await["last_error"], Value::Null);
    assert!(ripple.log().iter().any(|line| line.contains("A column the query reads changed.")));
    drop(ripple);
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_name_in_two_sources_is_refused_with_both_named() {
    let pg = PgCluster::shared();
    let mut databases = Vec::new();
    for prefix in ["same_a", "same_b"] {
        let database = pg.create_database(prefix).await;
        pg.client(&database)
            .await
            .batch_execute(
                "CREATE TABLE items (id int PRIMARY KEY); CREATE PUBLICATION pub FOR ALL TABLES;",
            )
            .await
            .expect("schema");
        databases.push(database);
    }
    let api_port = free_port();
    let queries = [("items", "items", "MATCH (i:items) RETURN i.id")];
    let one = config(&databases[0], pg.port, api_port, None, &queries);
    let ripple =
        Ripple::start(&with_second_source(&one, &databases[0], &databases[1]), api_port, &[]).await;
    let states = || async {
        let mut states = Vec::new();
        for id in ["pg", "pg2"] {
            let status = ripple.get_json(&format!("/api/v1/sources/{id}")).await.expect("source");
            let status = &status["data"]["status"];
            states.push((status["state"].clone(), status["last_error"].clone()));
        }
        states
    };
    ripple
        .wait_for("one source streaming, the other failed", || async {
            let states = states().await;
            let mut kinds: Vec<&str> =
                states.iter().map(|(state, _)| state.as_str().unwrap_or_default()).collect();
            kinds.sort();
            kinds == ["failed", "streaming"]
        })
        .await;
    let error = states()
        .await
        .into_iter()
        .find_map(|(_, error)| error.as_str().map(str::to_string))
        .expect("the failed source's error");
    assert!(
        error.contains("gives the node label 'items', which source 'pg")
            && error.contains("already provides"),
        "{error}"
    );
    drop(ripple);
    for database in &databases {
        pg.drop_slots(database).await;
    }
}

/// Rewrites every source's saved fingerprint in a state file as ripple with row format 2
/// (a row stored as a whole node, names and all) wrote it. The layout is the state store's (`postgres_sources`: source
/// id → bincode of the fingerprint and the position).
fn downgrade_row_format(path: &Path) {
    use redb::ReadableTable;
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Meta {
        fingerprint: String,
        position: u64,
    }
    const SOURCES: redb::TableDefinition<&str, &[u8]> =
        redb::TableDefinition::new("postgres_sources");
    let db = redb::Database::open(path).expect("state file");
    let tx = db.begin_write().expect("write transaction");
    {
        let mut table = tx.open_table(SOURCES).expect("sources table");
        let saved: Vec<(String, Vec<u8>)> = table
            .iter()
            .expect("entries")
            .map(|entry| {
                let (id, meta) = entry.expect("entry");
                (id.value().to_string(), meta.value().to_vec())
            })
            .collect();
        assert!(!saved.is_empty(), "a saved source");
        for (id, meta) in saved {
            let mut meta: Meta = bincode::deserialize(&meta).expect("meta");
            assert!(meta.fingerprint.starts_with("format 3;"), "{}", meta.fingerprint);
            meta.fingerprint = meta.fingerprint.replacen("format 3;", "format 2;", 1);
            let meta = bincode::serialize(&meta).expect("encode");
            table.insert(id.as_str(), meta.as_slice()).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_store_of_an_older_row_format_is_dropped_and_bootstrapped_again() {
    let pg = PgCluster::shared();
    let (database, db) = schema_database(pg, "oldformat").await;
    let state = tempfile::tempdir().expect("state dir");
    let state_path = state.path().join("state.redb");
    let api_port = free_port();
    let text = config(&database, pg.port, api_port, Some(&state_path), &load_queries());
    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    assert_eq!(ripple.terminate(), Some(0), "a clean shutdown");
    downgrade_row_format(&state_path);

    let ripple = Ripple::start(&text, api_port, &[]).await;
    ripple.wait_streaming("pg").await;
    ripple
        .wait_for_log(
            "the saved state has row format 2 from another ripple version (this one writes format 3)",
        )
        .await;
    let status = source_status(&ripple).await;
    assert!(status["bootstrap_rows"].as_u64() > Some(0), "bootstrapped: {status}");
    assert_eq!(status["restored_rows"], 0, "{status}");
    db.execute("UPDATE metrics SET value = value + 0.01 WHERE id = 1", &[]).await.expect("update");
    fence(&ripple, &db, 1).await;
    assert_results_equal_sql(&ripple, &db, "after dropping an old state store").await;
    drop(ripple);
    pg.drop_slots(&database).await;
}
