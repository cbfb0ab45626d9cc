//! The tutorial's dashboard page, unchanged, in headless Chromium against ripple.
//!
//! The page hard-codes `http://localhost:8080` (REST) and `http://localhost:8081/events`
//! (SSE), so this test runs ripple on exactly those ports, as the tutorial does.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple, TutorialConfig};
use crate::support::web::StaticServer;

const UI_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn tutorial_dashboard_shows_and_live_updates() {
    let Some(browser) = Browser::start().await else { return };
    let pg = PgCluster::shared();
    let (mut config, db) = TutorialConfig::create("dashboard").await;
    // The page hard-codes the tutorial's ports.
    config.api_port = 8080;
    config.sse_port = 8081;
    let database = config.database.clone();
    let ripple = Ripple::start(&config.render(), config.api_port, &[]).await;
    ripple.wait_streaming("metrics-db").await;
    let web_port = free_port();
    let _web = StaticServer::start(web_port);
    let page = format!("http://localhost:{web_port}/index.html");
    ripple
        .wait_for("the static server", || async {
            reqwest::get(&page).await.is_ok_and(|r| r.status().is_success())
        })
        .await;

    browser.goto(&page).await;
    let wait = |selector: &'static str, expected: &'static [&'static str]| {
        let browser = &browser;
        async move {
            browser
                .wait_for_text(
                    selector,
                    |text| expected.iter().all(|e| text.contains(e)),
                    UI_TIMEOUT,
                )
                .await
                .unwrap_or_else(|error| panic!("{error}"))
        }
    };
    // Step 7: initial metrics and alerts, and the stream connected.
    wait("#metrics", &["cpu usage", "45.5 percent", "request rate", "1250 req/min"]).await;
    wait("#alerts", &["disk_usage", "Disk usage above 75%"]).await;
    wait("#status", &["Connected"]).await;
    wait("#critical", &["All metrics within normal range"]).await;
    assert!(browser.text_of("h1").await.starts_with("System Metrics Dashboard"));

    // Step 8, watched on the page.
    db.execute(
        "UPDATE metrics SET value = 95.0, updated_at = NOW() WHERE name = 'disk_usage'",
        &[],
    )
    .await
    .unwrap();
    wait("#critical", &["disk usage", "95 percent"]).await;
    wait("#metrics", &["95 percent"]).await;
    db.execute("UPDATE alerts SET acknowledged = true WHERE metric_name = 'disk_usage'", &[])
        .await
        .unwrap();
    wait("#alerts", &["No active alerts"]).await;
    db.execute(
        "INSERT INTO alerts (metric_name, severity, message) VALUES ('cpu_usage', 'critical', 'CPU usage exceeded 85%')",
        &[],
    )
    .await
    .unwrap();
    wait("#alerts", &["cpu_usage", "CPU usage exceeded 85%"]).await;
    let logged = browser.execute("return document.querySelectorAll('#events .event').length").await;
    assert!(logged.as_u64().is_some_and(|n| n >= 4), "event log entries: {logged}");

    // Kept for a person to look at: target/dashboard.png.
    let shot = concat!(env!("CARGO_MANIFEST_DIR"), "/target/dashboard.png");
    browser.screenshot(shot).await;
    assert!(std::fs::metadata(shot).is_ok_and(|m| m.len() > 1000), "screenshot written");
    drop(browser);
    drop(ripple);
    pg.drop_slots(&database).await;
}
