//! The tutorial, replayed end to end: its init.sql, its config, then every statement of its
//! Step 8, asserting the SSE events each statement causes, the REST results after each, and
//! the log reaction's lines.

use std::collections::BTreeMap;
use std::time::Duration;

use ripple_dataflows::decimal::Decimal;
use serde_json::{json, Value};

use crate::support::pg::PgCluster;
use crate::support::ripple::{Ripple, TutorialConfig};
use crate::support::sse::SseClient;

const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads `count` events and returns them keyed by query id (events of one transaction may
/// arrive in any order across queries, but each query's at most once).
async fn events(sse: &mut SseClient, count: usize) -> BTreeMap<String, Value> {
    let mut by_query = BTreeMap::new();
    for _ in 0..count {
        let event = sse.next(EVENT_TIMEOUT).await.expect("an SSE event").json();
        let query = event["queryId"].as_str().expect("queryId").to_string();
        assert!(
            by_query.insert(query.clone(), event).is_none(),
            "two events for {query} in one transaction"
        );
    }
    by_query
}

/// The row of a `{before|after}` item, minus `updated_at` (set by the server clock).
fn strip(row: &Value) -> Value {
    let mut row = row.clone();
    row.as_object_mut().expect("row object").remove("updated_at");
    row
}

/// The SQL truth for each query, as rows comparable with REST results.
/// A numeric's text as ripple's JSON carries it: every digit, trailing fraction zeros dropped.
fn exact(numeric: &str) -> Value {
    let value = ripple_dataflows::Value::Decimal(Decimal::parse(numeric).expect("numeric text"));
    serde_json::to_value(ripple_dataflows::json::Json(&value)).expect("a JSON number")
}

async fn truth(db: &tokio_postgres::Client) -> BTreeMap<&'static str, Vec<Value>> {
    let metrics = |sql: &'static str| async move {
        let mut rows: Vec<Value> = db
            .query(sql, &[])
            .await
            .expect("query")
            .iter()
            .map(|r| {
                let value: String = r.get("value");
                let mut row = json!({
                    "name": r.get::<_, String>("name"),
                    "value": exact(&value),
                    "unit": r.get::<_, Option<String>>("unit"),
                });
                if let Ok(id) = r.try_get::<_, i32>("id") {
                    row["id"] = json!(id);
                }
                row
            })
            .collect();
        rows.sort_by_key(|r| r["name"].to_string());
        rows
    };
    let mut alerts: Vec<Value> = db
        .query("SELECT id, metric_name, severity, message FROM alerts WHERE NOT acknowledged", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<_, i32>(0), "metric_name": r.get::<_, String>(1),
                "severity": r.get::<_, String>(2), "message": r.get::<_, Option<String>>(3),
            })
        })
        .collect();
    alerts.sort_by_key(|r| r["id"].to_string());
    BTreeMap::from([
        ("current-metrics", metrics("SELECT id, name, value::text, unit FROM metrics").await),
        (
            "critical-metrics",
            metrics(
                "SELECT name, value::text, unit FROM metrics WHERE (name = 'cpu_usage' AND value > 80) \
                 OR (name = 'memory_usage' AND value > 85) OR (name = 'disk_usage' AND value > 90) \
                 OR (name = 'error_rate' AND value > 5)",
            )
            .await,
        ),
        ("active-alerts", alerts),
    ])
}

/// REST results of every query equal the SQL truth.
async fn assert_results_match(ripple: &Ripple, db: &tokio_postgres::Client) {
    for (query, expected) in truth(db).await {
        let mut rows: Vec<Value> = ripple
            .results(query)
            .await
            .iter()
            .map(|r| {
                let mut r = strip(r);
                r.as_object_mut().unwrap().remove("created_at");
                r
            })
            .collect();
        let key = if query == "active-alerts" { "id" } else { "name" };
        rows.sort_by_key(|r| r[key].to_string());
        assert_eq!(rows, expected, "REST results of {query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tutorial_step_8_end_to_end() {
    let pg = PgCluster::shared();
    let (config, db) = TutorialConfig::create("tutorial").await;
    let database = config.database.clone();
    let ripple = Ripple::start(&config.render(), config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;

    // Step 7: the initial state.
    assert_eq!(ripple.results("current-metrics").await.len(), 8);
    let alerts = ripple.results("active-alerts").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["metric_name"], "disk_usage");
    assert!(
        alerts[0]["created_at"].as_str().is_some_and(|t| t.contains('T')),
        "timestamps are ISO-8601"
    );
    assert_eq!(ripple.results("critical-metrics").await, Vec::<Value>::new());
    assert_results_match(&ripple, &db).await;

    let mut sse = SseClient::connect(&format!("http://127.0.0.1:{}/events", config.sse_port)).await;

    // Update CPU usage: the metrics panel changes and cpu crosses its threshold (80).
    db.execute("UPDATE metrics SET value = 85.5, updated_at = NOW() WHERE name = 'cpu_usage'", &[])
        .await
        .unwrap();
    let e = events(&mut sse, 2).await;
    let updated = &e["current-metrics"]["updated"][0];
    assert_eq!(
        strip(&updated["before"]),
        json!({"id": 1, "name": "cpu_usage", "value": 45.5, "unit": "percent"})
    );
    assert_eq!(
        strip(&updated["after"]),
        json!({"id": 1, "name": "cpu_usage", "value": 85.5, "unit": "percent"})
    );
    assert_eq!(e["current-metrics"]["added"], json!([]));
    assert_eq!(e["current-metrics"]["deleted"], json!([]));
    assert_eq!(
        e["critical-metrics"]["added"],
        json!([{"after": {"name": "cpu_usage", "value": 85.5, "unit": "percent"}}])
    );
    assert_results_match(&ripple, &db).await;

    // Trigger a critical threshold: disk → 95 is an update and a new critical row.
    db.execute(
        "UPDATE metrics SET value = 95.0, updated_at = NOW() WHERE name = 'disk_usage'",
        &[],
    )
    .await
    .unwrap();
    let e = events(&mut sse, 2).await;
    assert_eq!(strip(&e["current-metrics"]["updated"][0]["after"])["value"], json!(95));
    assert_eq!(
        e["critical-metrics"]["added"],
        json!([{"after": {"name": "disk_usage", "value": 95, "unit": "percent"}}])
    );
    ripple.wait_for_log("CRITICAL: disk_usage = 95percent").await;
    assert_results_match(&ripple, &db).await;

    // Add a new alert.
    db.execute(
        "INSERT INTO alerts (metric_name, severity, message) VALUES ('cpu_usage', 'critical', 'CPU usage exceeded 85%')",
        &[],
    )
    .await
    .unwrap();
    let e = events(&mut sse, 1).await;
    let added = &e["active-alerts"]["added"][0]["after"];
    assert_eq!((added["id"].clone(), added["severity"].clone()), (json!(2), json!("critical")));
    assert_results_match(&ripple, &db).await;

    // Update request rate: only the metrics panel.
    db.execute(
        "UPDATE metrics SET value = 2500, updated_at = NOW() WHERE name = 'request_rate'",
        &[],
    )
    .await
    .unwrap();
    let e = events(&mut sse, 1).await;
    assert_eq!(strip(&e["current-metrics"]["updated"][0]["after"])["value"], json!(2500));
    assert_results_match(&ripple, &db).await;

    // Acknowledge the disk alert: it leaves the active alerts.
    db.execute("UPDATE alerts SET acknowledged = true WHERE metric_name = 'disk_usage'", &[])
        .await
        .unwrap();
    let e = events(&mut sse, 1).await;
    let deleted = &e["active-alerts"]["deleted"];
    assert_eq!(deleted.as_array().map(Vec::len), Some(1));
    assert_eq!(deleted[0]["before"]["metric_name"], "disk_usage");
    assert_results_match(&ripple, &db).await;

    // Create high error rate: an update and a new critical row.
    db.execute("UPDATE metrics SET value = 8.5, updated_at = NOW() WHERE name = 'error_rate'", &[])
        .await
        .unwrap();
    let e = events(&mut sse, 2).await;
    assert_eq!(e["critical-metrics"]["added"][0]["after"]["name"], "error_rate");
    ripple.wait_for_log("CRITICAL: error_rate = 8.5percent").await;
    assert_results_match(&ripple, &db).await;

    // A change that leaves every result as it was (an unreturned column of an unmatched
    // alert) emits nothing; the next real change is the next event.
    db.execute("UPDATE alerts SET created_at = NOW() WHERE metric_name = 'disk_usage'", &[])
        .await
        .unwrap();
    db.execute("UPDATE metrics SET value = 10, updated_at = NOW() WHERE name = 'cpu_usage'", &[])
        .await
        .unwrap();
    let e = events(&mut sse, 2).await;
    assert_eq!(e["critical-metrics"]["deleted"][0]["before"]["name"], "cpu_usage");
    assert!(e.contains_key("current-metrics"));
    assert_results_match(&ripple, &db).await;

    // The log reaction logged every critical addition, and nothing for the deletion.
    let critical: Vec<String> =
        ripple.log().into_iter().filter(|l| l.contains("CRITICAL: ")).collect();
    assert_eq!(critical.len(), 3, "{critical:#?}");

    assert_eq!(ripple.terminate(), Some(0), "clean exit on SIGTERM");
    pg.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_with_existing_slot_serves_correct_results() {
    let pg = PgCluster::shared();
    let (config, db) = TutorialConfig::create("restart").await;
    let database = config.database.clone();

    let first = Ripple::start(&config.render(), config.api_port, &[]).await;
    first.wait_streaming("metrics-db").await;
    db.execute("UPDATE metrics SET value = 91, updated_at = NOW() WHERE name = 'disk_usage'", &[])
        .await
        .unwrap();
    first
        .wait_for("the update", || async { first.results("critical-metrics").await.len() == 1 })
        .await;
    assert_eq!(first.terminate(), Some(0));

    // Changes while ripple is down, then a restart against the existing slot.
    db.execute(
        "UPDATE metrics SET value = 99, updated_at = NOW() WHERE name = 'memory_usage'",
        &[],
    )
    .await
    .unwrap();
    db.execute("DELETE FROM metrics WHERE name = 'disk_usage'", &[]).await.unwrap();
    let second = Ripple::start(&config.render(), config.api_port, &["--workers", "2"]).await;
    second.wait_streaming("metrics-db").await;
    assert_results_match(&second, &db).await;
    let critical = second.results("critical-metrics").await;
    assert_eq!(critical, vec![json!({"name": "memory_usage", "value": 99, "unit": "percent"})]);

    db.execute("INSERT INTO metrics (name, value, unit) VALUES ('cpu_usage', 81, 'percent')", &[])
        .await
        .unwrap();
    second
        .wait_for("the insert", || async { second.results("critical-metrics").await.len() == 2 })
        .await;
    assert_results_match(&second, &db).await;
    drop(second);
    pg.drop_slots(&database).await;
}
