//! The bootstrap hand-off under concurrent writes, checked against the database, and shown to
//! catch a broken hand-off.
//!
//! These run the source in-process (they need the test-only [`Handoff`] switch), against the
//! integration tests' throwaway PostgreSQL cluster. A writer inserts, updates and deletes
//! while the source bootstraps; after the writer stops, a fence transaction marks the end, and
//! once the source has applied it, its rows must equal the table.
//!
//! The writer only updates and deletes the seeded rows and only inserts new ones, so a change
//! that the hand-off loses stays lost: a later change to the same row cannot mask it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgwire_replication::Lsn;
use ripple_dataflows::runtime::{Runtime, RuntimeConfig};
use ripple_dataflows::value::Value;

use super::pg;
use super::replication::{Handoff, Stream};
use crate::config::{Config, SourceConfig};
use crate::sources::{SourceLinks, SourceState, SourceStatus};

const SEEDED: i32 = 200;

/// Runs one bootstrap under writes; returns the source's rows and the table's, as
/// element id → `v`.
async fn bootstrap_under_writes(
    handoff: Handoff,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let cluster = pg::PgCluster::shared();
    let database = cluster.create_database("handoff").await;
    let db = cluster.client(&database).await;
    db.batch_execute(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO items SELECT g, 0 FROM generate_series(1, {SEEDED}) g;
         CREATE PUBLICATION pub FOR TABLE items;"
    ))
    .await
    .unwrap();
    let config = format!(
        "id: t\nsources:\n  - kind: postgres\n    id: pg\n    host: 127.0.0.1\n    port: {}\n    \
         database: {database}\n    user: postgres\n    tables: [items]\n    slot_name: slot_{database}\n    \
         publication_name: pub\n    bootstrap_provider: {{type: postgres}}\n",
        cluster.port
    );
    let SourceConfig::Postgres(config) =
        Config::parse(&config, "t.yaml", &|_: &str| None).unwrap().sources.remove(0);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let writer = cluster.client(&database).await;
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = SEEDED + 1;
            while !stop.load(Ordering::Relaxed) {
                let seeded = 1 + next % SEEDED;
                writer.execute("INSERT INTO items VALUES ($1, 1)", &[&next]).await.unwrap();
                writer
                    .execute("UPDATE items SET v = v + 1 WHERE id = $1", &[&seeded])
                    .await
                    .unwrap();
                if next % 3 == 0 {
                    writer
                        .execute("DELETE FROM items WHERE id = $1", &[&((seeded * 7) % SEEDED + 1)])
                        .await
                        .unwrap();
                }
                next += 1;
            }
        })
    };

    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 1 }).unwrap());
    let status = Arc::new(SourceStatus::default());
    let links = SourceLinks { columns: Arc::new(|_| {}), labels: Default::default() };
    let mut stream = Stream::new(config, runtime.clone(), status.clone(), links, None, handoff);
    let fenced = async {
        wait(|| status.view().state == SourceState::Streaming).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        writer.await.unwrap();
        // The source's position passes the WAL position read after the fence's commit only
        // once the fence is applied (transactions reach it in commit order).
        db.execute("INSERT INTO items VALUES (0, 0)", &[]).await.unwrap();
        let after: String =
            db.query_one("SELECT pg_current_wal_lsn()::text", &[]).await.unwrap().get(0);
        let after = Lsn::parse(&after).unwrap();
        wait(|| {
            status.view().position.and_then(|p| Lsn::parse(&p).ok()).is_some_and(|p| p >= after)
        })
        .await;
    };
    tokio::select! {
        result = stream.run() => panic!("the stream ended: {result:?}"),
        () = fenced => {}
    }
    let ours = stream
        .tables()
        .expect("set up")
        .rows()
        .into_iter()
        .map(|node| match node.get("v") {
            Some(Value::Int(v)) => (node.element_id(), *v),
            other => panic!("{}: v = {other:?}", node.element_id()),
        })
        .collect();
    let theirs = db
        .query("SELECT id, v FROM items", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (format!("items:{}", r.get::<_, i32>(0)), i64::from(r.get::<_, i32>(1))))
        .collect();
    stream.close().await;
    cluster.drop_slots(&database).await;
    tokio::task::spawn_blocking(move || runtime.shutdown()).await.unwrap().unwrap();
    (ours, theirs)
}

async fn wait(mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exported_snapshot_meets_the_stream_exactly() {
    for _ in 0..2 {
        let (ours, theirs) = bootstrap_under_writes(Handoff::Exported).await;
        assert_eq!(ours, theirs);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_taken_before_the_slot_is_caught() {
    let (ours, theirs) = bootstrap_under_writes(Handoff::SnapshotBeforeSlot).await;
    assert_ne!(ours, theirs, "the comparison must catch changes lost in the hand-off");
}
