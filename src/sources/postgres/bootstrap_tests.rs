//! The streaming bootstrap against a real server: COPY gives exactly the values the
//! simple-query protocol gives, a bootstrap of many parts (and a re-bootstrap) reaches
//! queries as one transaction, and the state store receives every row.
//!
//! These run the source in-process, with a small part size, against the unit tests'
//! throwaway PostgreSQL cluster.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ripple_dataflows::runtime::{ChangeSet, QueryEvent, QuerySpec, Runtime, RuntimeConfig, Time};
use ripple_dataflows::value::{Node, Value};
use tokio_postgres::SimpleQueryMessage;

use super::pg::PgCluster;
use super::replication::{Handoff, Stream};
use super::store::SourceStore;
use super::tables::Tables;
use super::{catalog, connect};
use crate::config::{Config, PostgresSourceConfig, SourceConfig};
use crate::sources::{SourceLinks, SourceState, SourceStatus};
use crate::state::StateStore;

/// Updates per part: every test bootstrap spans many parts.
const PART_SIZE: usize = 64;

fn config(cluster: &PgCluster, database: &str, tables: &str) -> PostgresSourceConfig {
    let config = format!(
        "id: t\nsources:\n  - kind: postgres\n    id: pg\n    host: 127.0.0.1\n    port: {}\n    \
         database: {database}\n    user: postgres\n    tables: [{tables}]\n    slot_name: slot_{database}\n    \
         publication_name: pub\n    bootstrap_provider: {{type: postgres}}\n",
        cluster.port
    );
    let SourceConfig::Postgres(config) =
        Config::parse(&config, "t.yaml", &|_: &str| None).unwrap().sources.remove(0);
    config
}

/// A source in-process, feeding its own runtime.
struct Source {
    stream: Stream,
    runtime: Arc<Runtime>,
    status: Arc<SourceStatus>,
}

impl Source {
    fn new(config: PostgresSourceConfig, state: Option<StateStore>) -> Source {
        let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 2 }).unwrap());
        let status = Arc::new(SourceStatus::default());
        let links = SourceLinks { columns: Arc::new(|_| {}), labels: Default::default() };
        let mut stream =
            Stream::new(config, runtime.clone(), status.clone(), links, state, Handoff::Exported);
        stream.set_part_size(PART_SIZE);
        Source { stream, runtime, status }
    }

    /// Runs the stream until it streams, then closes it (its rows stay).
    async fn bootstrap(&mut self) {
        let streaming = async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.status.view().state != SourceState::Streaming {
                assert!(Instant::now() < deadline, "timed out waiting for the bootstrap");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        self.status.set_state(SourceState::Starting);
        tokio::select! {
            result = self.stream.run() => panic!("the stream ended: {result:?}"),
            () = streaming => {}
        }
        self.stream.close().await;
    }

    fn rows(&self) -> Vec<Arc<Node>> {
        let mut rows = self.stream.tables().expect("set up").rows();
        rows.sort_by_key(|node| node.element_id());
        rows
    }

    async fn shut_down(self) {
        drop(self.stream);
        let runtime = self.runtime;
        tokio::task::spawn_blocking(move || runtime.shutdown()).await.unwrap().unwrap();
    }
}

/// The rows as the simple-query protocol reads them (the bootstrap before COPY): the same
/// session settings, the same mapping to nodes.
async fn simple_query_rows(config: &PostgresSourceConfig) -> Vec<Arc<Node>> {
    let sql = connect::sql(config).await.unwrap();
    let infos = catalog::load(&sql, config).await.unwrap();
    let mut tables = Tables::new(infos.clone()).unwrap();
    for info in infos {
        let columns: Vec<String> = info.columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let select = format!("SELECT {} FROM {}.{}", columns.join(", "), info.schema, info.name);
        let table = (info.schema.clone(), info.name.clone());
        for message in sql.simple_query(&select).await.unwrap() {
            if let SimpleQueryMessage::Row(row) = message {
                let values = (0..row.len()).map(|i| row.get(i).map(str::to_string)).collect();
                tables.insert_snapshot_row(&table, values, &mut Vec::new()).unwrap();
            }
        }
    }
    let mut rows = tables.rows();
    rows.sort_by_key(|node| node.element_id());
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_gives_the_values_the_simple_query_protocol_gives() {
    let cluster = PgCluster::shared();
    let database = cluster.create_database("copy_values").await;
    let db = cluster.client(&database).await;
    // Every COPY escape: tab, newline, carriage return, backslash, the text `\N` next to NULL
    // and '', the other control characters, non-ASCII text, bytea (itself backslash-escaped
    // hex), arrays and JSON with quotes and backslashes, and values of other types; then
    // enough generated rows to span many parts.
    db.batch_execute(
        r#"CREATE TABLE esc (id int PRIMARY KEY, t text, t2 varchar, b bytea, a text[], j json,
                            jb jsonb, flag bool, n numeric, f float8, ts timestamptz);
           INSERT INTO esc VALUES
             (1, E'tab\there', E'line1\nline2\r\nend', '\x00095c0a0d4e5c'::bytea,
              ARRAY[E'a\tb', 'c"d', E'back\\slash', NULL, '', 'NULL'],
              E'{"k": "v\\t\\"q\\"\\\\", "n": [1, null]}', '{"x": "\\n", "y": [true, 1.50]}',
              true, 1.50, 'NaN', '2024-02-29 23:59:59.123456+05:30'),
             (2, E'\\N', '', '', '{}', '[]', '{}', false, -0.0, '-Infinity', 'infinity'),
             (3, NULL, 'N', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             (4, 'üñíçødé ✓ 日本 🎉', E'\\\\ two backslashes \\t not a tab', '\xff'::bytea,
              ARRAY['ü', E'\n'], '"ü"', '"\u00fc"', true, 1e-20, 1.5e300, '1970-01-01 00:00:00+00'),
             (5, E'\b\f\013\001 \177', E'\\', E'\\x41'::bytea, ARRAY[E'\\'], '"\\\\"', '"\\\\"',
              false, 12345678901234567890.123456789, 0.1, NULL);
           INSERT INTO esc (id, t, t2, b)
             SELECT g, repeat(E'x\t\\\n', g % 5) || g, CASE WHEN g % 3 = 0 THEN '' END,
                    decode(lpad(to_hex(g), 8, '0'), 'hex')
             FROM generate_series(6, 3000) g;
           CREATE PUBLICATION pub FOR TABLE esc;"#,
    )
    .await
    .unwrap();
    let config = config(cluster, &database, "esc");
    let mut source = Source::new(config.clone(), None);
    source.bootstrap().await;
    let copied = source.rows();
    assert_eq!(copied.len(), 3000);
    assert_eq!(source.status.view().bootstrap_rows, 3000);
    let simple = simple_query_rows(&config).await;
    assert_eq!(copied.len(), simple.len());
    for (copied, simple) in copied.iter().zip(&simple) {
        // Ids are dense per source dictionary, so the two reads differ in them alone.
        let row = |n: &Node| (n.element_id(), n.values().to_vec());
        assert_eq!(row(copied), row(simple));
    }
    let first = &copied[0];
    assert_eq!(first.element_id(), "esc:1");
    assert_eq!(first.get("t"), Some(&Value::str("tab\there")));
    assert_eq!(first.get("t2"), Some(&Value::str("line1\nline2\r\nend")));
    let second = copied.iter().find(|n| n.element_id() == "esc:2").unwrap();
    assert_eq!(second.get("t"), Some(&Value::str("\\N")), "the text \\N is not NULL");
    assert_eq!(second.get("t2"), Some(&Value::str("")), "'' is not NULL");
    let third = copied.iter().find(|n| n.element_id() == "esc:3").unwrap();
    assert_eq!(third.get("t"), Some(&Value::Null));
    source.shut_down().await;
    cluster.drop_slots(&database).await;
}

/// Collects change sets until the query's output is complete through `through`.
fn changes_through(events: &mpsc::Receiver<QueryEvent>, through: Time) -> Vec<(Time, ChangeSet)> {
    let mut changes = Vec::new();
    loop {
        match events.recv_timeout(Duration::from_secs(10)).expect("event") {
            QueryEvent::Changes { time, changes: c } => changes.push((time, c)),
            QueryEvent::Progress { upper } if upper > through => return changes,
            QueryEvent::Progress { .. } => {}
        }
    }
}

fn sorted<T: Ord>(mut rows: Vec<T>) -> Vec<T> {
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bootstrap_of_many_parts_and_a_rebootstrap_are_one_change_set_each() {
    const ROWS: i64 = 5000;
    let cluster = PgCluster::shared();
    let database = cluster.create_database("parts").await;
    let db = cluster.client(&database).await;
    db.batch_execute(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO items SELECT g, g FROM generate_series(1, {ROWS}) g;
         CREATE PUBLICATION pub FOR TABLE items;"
    ))
    .await
    .unwrap();
    let mut source = Source::new(config(cluster, &database, "items"), None);
    let (tx, events) = mpsc::channel();
    let query = QuerySpec::new("MATCH (i:items) RETURN i.id AS id, i.v AS v");
    source.runtime.install("q", query, Arc::new(move |e| drop(tx.send(e)))).unwrap();
    let row = |id: i64, v: i64| vec![Value::Int(id), Value::Int(v)];

    source.bootstrap().await;
    let changes = changes_through(&events, source.runtime.next_time() - 1);
    assert_eq!(changes.len(), 1, "{} parts, one change set", ROWS as usize / PART_SIZE);
    let added = sorted(changes[0].1.added.clone());
    assert_eq!(added, (1..=ROWS).map(|id| row(id, id)).collect::<Vec<_>>());

    // While the source is away its slot goes, so it bootstraps again: the held rows are
    // retracted and the new snapshot added in one transaction, and queries see only what
    // changed.
    db.batch_execute(&format!(
        "UPDATE items SET v = -v WHERE id % 10 = 0;
         DELETE FROM items WHERE id % 10 = 1;
         INSERT INTO items SELECT g, g FROM generate_series({}, {}) g;",
        ROWS + 1,
        ROWS + 100
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        cluster.drop_slots(&database).await;
        let slots = db
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
                &[&database],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if slots == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot stays active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    source.bootstrap().await;
    let changes = changes_through(&events, source.runtime.next_time() - 1);
    assert_eq!(changes.len(), 1, "one change set for the re-bootstrap: {}", changes.len());
    let set = &changes[0].1;
    let updated = sorted(set.updated.clone());
    let expected: Vec<_> =
        (1..=ROWS).filter(|id| id % 10 == 0).map(|id| (row(id, id), row(id, -id))).collect();
    assert_eq!(updated, expected);
    let deleted = sorted(set.deleted.clone());
    assert_eq!(
        deleted,
        (1..=ROWS).filter(|id| id % 10 == 1).map(|id| row(id, id)).collect::<Vec<_>>()
    );
    let added = sorted(set.added.clone());
    assert_eq!(added, (ROWS + 1..=ROWS + 100).map(|id| row(id, id)).collect::<Vec<_>>());
    assert_eq!(source.rows().len(), (ROWS + 100 - ROWS / 10) as usize);
    source.shut_down().await;
    cluster.drop_slots(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_store_holds_every_row_of_a_bootstrap_larger_than_a_write_part() {
    const ROWS: usize = 20_000;
    let cluster = PgCluster::shared();
    let database = cluster.create_database("stored").await;
    let db = cluster.client(&database).await;
    db.batch_execute(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g;
         CREATE PUBLICATION pub FOR TABLE items;"
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(&dir.path().join("state.redb")).unwrap();
    let config = config(cluster, &database, "items");
    let mut source = Source::new(config.clone(), Some(state.clone()));
    source.bootstrap().await;
    let layout = source.stream.tables().expect("set up").layout();
    let saved = SourceStore::new(state, &config, layout).load().unwrap().expect("saved");
    let mut stored: Vec<Vec<Value>> = saved.rows.into_iter().map(|(_, values)| values).collect();
    stored.sort();
    let mut held: Vec<Vec<Value>> = source.rows().iter().map(|n| n.values().to_vec()).collect();
    held.sort();
    assert_eq!(stored.len(), ROWS);
    assert!(stored == held, "the stored rows are the bootstrapped rows");
    source.shut_down().await;
    cluster.drop_slots(&database).await;
}
