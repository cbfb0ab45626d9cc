//! The runtime against a from-scratch oracle: after every transaction, the accumulated change
//! sets and a peek must both equal the plan evaluated over the whole current data.

use std::collections::BTreeMap;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::*;
use crate::value::{Node, Properties};

/// The query under test.
fn spec() -> QuerySpec {
    QuerySpec::new("MATCH (n:item) WHERE n.v > 50 RETURN n.name, n.v")
}

fn node(label: &str, id: u64, v: i64) -> Arc<Node> {
    let mut properties = Properties::new();
    properties.insert(Arc::from("name"), Value::str(&format!("n{id}")));
    properties.insert(Arc::from("v"), Value::Int(v));
    Arc::new(Node::with_properties(id, &[Arc::from(label)], properties))
}

/// The oracle: the plan evaluated over the current nodes, as a sorted multiset of rows.
fn oracle(nodes: &BTreeMap<u64, Arc<Node>>) -> Vec<Row> {
    let mut rows: Vec<Row> = nodes
        .values()
        .filter(|n| n.get("v") > Some(&Value::Int(50)))
        .map(|n| vec![n.get("name").unwrap().clone(), n.get("v").unwrap().clone()])
        .collect();
    rows.sort();
    rows
}

fn peek(runtime: &Runtime, id: &str) -> Vec<Row> {
    let (at, rows) = peek_at(runtime, id);
    assert_eq!(at, runtime.next_time() - 1, "a peek reflects every applied transaction");
    rows
}

/// A peek's time and its rows, sorted.
fn peek_at(runtime: &Runtime, id: &str) -> (Time, Vec<Row>) {
    let (tx, rx) = mpsc::channel();
    runtime.peek(id, Box::new(move |rows| tx.send(rows).unwrap())).unwrap();
    let (at, mut rows) =
        rx.recv_timeout(Duration::from_secs(10)).expect("peek answered").expect("peek ok");
    rows.sort();
    (at, rows)
}

fn apply_changes(state: &mut Vec<Row>, changes: &ChangeSet) {
    let remove = |state: &mut Vec<Row>, row: &Row| {
        let at = state.iter().position(|r| r == row).expect("retracted row was present");
        state.remove(at);
    };
    for row in &changes.deleted {
        remove(state, row);
    }
    for (before, after) in &changes.updated {
        remove(state, before);
        state.push(after.clone());
    }
    state.extend(changes.added.iter().cloned());
    state.sort();
}

fn incremental_equals_oracle(workers: usize, communication: Communication) {
    let runtime = Runtime::start_with(RuntimeConfig { workers }, communication).unwrap();
    let (tx, rx) = mpsc::channel();
    let sink: EventSink = Arc::new(move |event| {
        let _ = tx.send(event);
    });
    runtime.install("q", spec(), sink).unwrap();

    let mut nodes: BTreeMap<u64, Arc<Node>> = BTreeMap::new();
    let mut seen: Vec<Row> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..200 {
        let mut updates = Vec::new();
        for _ in 0..(next() % 4 + 1) {
            let id = next() % 20;
            if let Some(old) = nodes.remove(&id) {
                updates.push((Element::Node(old), -1));
            }
            if next() % 4 != 0 {
                let new = node("item", id, (next() % 100) as i64);
                nodes.insert(id, new.clone());
                updates.push((Element::Node(new), 1));
            }
            // A node of another label never reaches the query.
            updates.push((Element::Node(node("other", id, 99)), 1));
            updates.push((Element::Node(node("other", id, 99)), -1));
        }
        let time = runtime.apply(updates);
        loop {
            match rx.recv_timeout(Duration::from_secs(10)).expect("event") {
                QueryEvent::Changes { time: t, changes } => {
                    assert!(t <= time);
                    assert!(
                        !changes.added.is_empty()
                            || !changes.updated.is_empty()
                            || !changes.deleted.is_empty()
                    );
                    apply_changes(&mut seen, &changes);
                }
                QueryEvent::Progress { upper } if upper > time => break,
                QueryEvent::Progress { .. } => {}
            }
        }
        assert_eq!(seen, oracle(&nodes), "change sets at time {time}");
        assert_eq!(peek(&runtime, "q"), oracle(&nodes), "peek at time {time}");
    }

    // A query installed late starts from the current state.
    runtime.install("late", spec(), Arc::new(|_| {})).unwrap();
    assert_eq!(peek(&runtime, "late"), oracle(&nodes));
    runtime.remove("late").unwrap();
    assert_eq!(runtime.remove("late"), Err(RuntimeError::NotInstalled("late".into())));
    runtime.shutdown().expect("clean shutdown");
}

#[test]
fn incremental_equals_oracle_on_one_worker() {
    incremental_equals_oracle(1, Communication::Threads);
}

#[test]
fn incremental_equals_oracle_on_three_workers() {
    incremental_equals_oracle(3, Communication::Threads);
}

/// Every exchanged value (elements, rows, commands, peek parts) goes through bincode, as in
/// a cluster.
#[test]
fn incremental_equals_oracle_on_three_serializing_workers() {
    incremental_equals_oracle(3, Communication::Serialized);
}

#[test]
fn a_query_that_does_not_compile_is_refused_before_any_worker_sees_it() {
    let runtime = Runtime::start(RuntimeConfig { workers: 1 }).unwrap();
    let refused = runtime.install("bad", QuerySpec::new("MATCH (n RETURN n"), Arc::new(|_| {}));
    assert!(matches!(refused, Err(RuntimeError::Compile { .. })), "{refused:?}");
    assert_eq!(
        runtime.peek("bad", Box::new(|_| {})).unwrap_err(),
        RuntimeError::NotInstalled("bad".into())
    );
    runtime.shutdown().expect("clean shutdown");
}

/// Runs `f` under a panic hook that records, for every panic whose message contains
/// `marker`, the panicking thread's name and the message, then passes the panic on to the
/// previous hook. The hook is process-wide, so tests that replace it take turns.
fn panics_during<T>(marker: &str, f: impl FnOnce() -> T) -> (T, Vec<(String, String)>) {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let previous = Arc::new(std::panic::take_hook());
    let (chained, marker, record) = (previous.clone(), marker.to_string(), seen.clone());
    std::panic::set_hook(Box::new(move |info| {
        let message = info.to_string();
        if message.contains(&marker) {
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            record.lock().unwrap().push((thread, message));
        }
        chained(info);
    }));
    let result = f();
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

/// A panic on a timely worker thread runs the process's panic hook on that thread (the
/// service's hook logs it and exits with 70), and the runtime does not hang: the other
/// workers still stop, and `shutdown` reports the failure.
#[test]
fn a_worker_panic_reaches_the_panic_hook_and_shutdown_reports_it() {
    let (result, seen) = panics_during("test-only worker panic", || {
        let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
        runtime.install("q", spec(), Arc::new(|_| {})).unwrap();
        runtime.apply(vec![(Element::Node(node("item", 1, 60)), 1)]);
        runtime.send_control(Control::Panic { worker: 1 });
        runtime.shutdown()
    });
    // Timely reports only that the worker panicked; the message went to the hook.
    assert!(matches!(&result, Err(RuntimeError::WorkerFailed(_))), "{result:?}");
    let threads: Vec<&str> = seen.iter().map(|(thread, _)| thread.as_str()).collect();
    assert_eq!(threads, ["timely:work-1"]);
}

/// Skipping a query a worker cannot compile would put the workers' dataflows out of step;
/// the worker stops instead, naming the query and the error. The controller refuses such a
/// query (see above), so this test sends the install past it.
#[test]
fn a_worker_that_cannot_compile_an_installed_query_stops_the_runtime() {
    let (result, seen) = panics_during("cannot compile query 'bad'", || {
        let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
        runtime.install("q", spec(), Arc::new(|_| {})).unwrap();
        let spec = QuerySpec::new("MATCH (n RETURN n");
        runtime.send_control(Control::Install { id: Arc::from("bad"), spec, as_of: 1 });
        runtime.shutdown()
    });
    assert!(matches!(&result, Err(RuntimeError::WorkerFailed(_))), "{result:?}");
    assert!(!seen.is_empty(), "no worker reported the query it cannot compile");
    for (thread, message) in &seen {
        assert!(thread.starts_with("timely:work-"), "{thread}: {message}");
        assert!(
            message.contains("1:10: expected ')' to close the node pattern"),
            "the located compile error: {message}"
        );
    }
}

#[test]
fn a_value_change_is_one_update() {
    let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
    let (tx, rx) = mpsc::channel();
    runtime
        .install(
            "q",
            spec(),
            Arc::new(move |e| {
                let _ = tx.send(e);
            }),
        )
        .unwrap();
    runtime.apply(vec![(Element::Node(node("item", 1, 60)), 1)]);
    let t = runtime.apply(vec![
        (Element::Node(node("item", 1, 60)), -1),
        (Element::Node(node("item", 1, 70)), 1),
    ]);
    let mut changes = Vec::new();
    while let Ok(event) = rx.recv_timeout(Duration::from_secs(10)) {
        match event {
            QueryEvent::Changes { changes: c, .. } => changes.push(c),
            QueryEvent::Progress { upper } if upper > t => break,
            QueryEvent::Progress { .. } => {}
        }
    }
    let row = |v| vec![Value::str("n1"), Value::Int(v)];
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].added, vec![row(60)]);
    assert_eq!(changes[1].updated, vec![(row(60), row(70))]);
}

/// A small social graph: five people, some knowing others, one self-loop.
fn people() -> Vec<Element> {
    let person = |id: u64, name: &str, city: &str| {
        let mut properties = Properties::new();
        properties.insert(Arc::from("name"), Value::str(name));
        properties.insert(Arc::from("city"), Value::str(city));
        Element::Node(Arc::new(Node::with_properties(id, &[Arc::from("Person")], properties)))
    };
    let knows = |id: u64, start: u64, end: u64| {
        Element::Relationship(Arc::new(crate::value::Relationship {
            id: crate::value::RelId::Stored(id),
            rel_type: Arc::from("KNOWS"),
            start,
            end,
            properties: Properties::new(),
        }))
    };
    vec![
        person(1, "ann", "oslo"),
        person(2, "bob", "oslo"),
        person(3, "cid", "rome"),
        person(4, "dan", "rome"),
        person(5, "eve", "lima"),
        knows(1, 1, 2),
        knows(2, 2, 3),
        knows(3, 1, 3),
        knows(4, 4, 4),
    ]
}

/// The query's rows after feeding `elements` one transaction each (query installed first),
/// checked against a peek and against a bulk load into a fresh runtime.
fn rows_of(query: &str, elements: Vec<Element>) -> Vec<Row> {
    rows_of_spec(QuerySpec::new(query), elements)
}

fn rows_of_spec(plan: QuerySpec, elements: Vec<Element>) -> Vec<Row> {
    let query = plan.text.clone();
    if let Err(e) = plan.compile() {
        panic!("{}", e.render(&query));
    }
    let incremental = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
    let (tx, rx) = mpsc::channel();
    incremental.install("q", plan.clone(), Arc::new(move |e| drop(tx.send(e)))).unwrap();
    let mut seen: Vec<Row> = peek(&incremental, "q");
    let mut last = 0;
    for element in elements.iter().cloned() {
        last = incremental.apply(vec![(element, 1)]);
    }
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("event") {
            QueryEvent::Changes { changes, .. } => apply_changes(&mut seen, &changes),
            QueryEvent::Progress { upper } if upper > last => break,
            QueryEvent::Progress { .. } => {}
        }
    }
    let bulk = Runtime::start(RuntimeConfig { workers: 1 }).unwrap();
    bulk.apply(elements.into_iter().map(|e| (e, 1)).collect());
    bulk.install("q", plan, Arc::new(|_| {})).unwrap();
    let expected = peek(&bulk, "q");
    assert_eq!(seen, expected, "change sets vs bulk for {query}");
    assert_eq!(peek(&incremental, "q"), expected, "peek vs bulk for {query}");
    expected
}

fn strs(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn relationships_aggregation_optional_unwind_and_distinct() {
    let q = |query: &str| strs(&rows_of(query, people()));
    assert_eq!(
        q("MATCH (a:Person)-[:KNOWS]->(b:Person) RETURN a.name, b.name"),
        ["'ann','bob'", "'ann','cid'", "'bob','cid'", "'dan','dan'"]
    );
    assert_eq!(
        q("MATCH (a:Person)<-[:KNOWS]-(b) WHERE a <> b RETURN a.name AS a, count(*) AS n"),
        ["'bob',1", "'cid',2"]
    );
    assert_eq!(
        q("MATCH (a:Person) OPTIONAL MATCH (a)-[:KNOWS]->(b:Person {city: 'rome'}) RETURN a.name, b.name"),
        ["'ann','cid'", "'bob','cid'", "'cid',null", "'dan','dan'", "'eve',null"]
    );
    assert_eq!(
        q("MATCH (a:Person)-[:KNOWS]-(b:Person) RETURN a.name AS a, count(b) AS n"),
        ["'ann',2", "'bob',2", "'cid',2", "'dan',1"]
    );
    assert_eq!(
        q("MATCH (a:Person) WITH a.city AS city, count(*) AS n WHERE n > 1 RETURN city, n"),
        ["'oslo',2", "'rome',2"]
    );
    assert_eq!(
        q("MATCH (a:Person) RETURN DISTINCT a.city AS city"),
        ["'lima'", "'oslo'", "'rome'"]
    );
    assert_eq!(q("UNWIND [1, 2, 2] AS x RETURN x * 2 AS y"), ["2", "4", "4"]);
    assert_eq!(q("RETURN 1 + 2 AS three"), ["3"]);
    assert_eq!(
        q("MATCH (a:Person)-[:KNOWS]->(b)-[:KNOWS]->(c) RETURN a.name, c.name"),
        ["'ann','cid'"]
    );
    assert_eq!(
        q("MATCH (a:Person) RETURN count(*) AS n, collect(a.name)[0] AS first, sum(size(a.name)) AS s"),
        ["5,'ann',15"]
    );
}

#[test]
fn key_less_aggregates_have_one_row_even_when_empty() {
    assert_eq!(
        strs(&rows_of("MATCH (a:Person) RETURN count(*) AS n, max(a.name) AS m", Vec::new())),
        ["0,null"]
    );
}

/// Vehicles and orders related by plate through a `joins` entry.
fn pickups() -> (Vec<Element>, QuerySpec) {
    let row = |label: &str, id: i64, pairs: &[(&str, Value)]| {
        let mut properties: Properties =
            pairs.iter().map(|(k, v)| (Arc::from(*k), v.clone())).collect();
        properties.insert(Arc::from("id"), Value::Int(id));
        let node = Node::table_row(crate::value::fresh_node_id(), label, &["id"], properties);
        Element::Node(Arc::new(node))
    };
    let elements = vec![
        row("vehicles", 1, &[("plate", Value::str("AAA")), ("color", Value::str("red"))]),
        row("vehicles", 2, &[("plate", Value::str("BBB")), ("color", Value::str("blue"))]),
        row("orders", 1, &[("plate", Value::str("AAA"))]),
        row("orders", 2, &[("plate", Value::Null)]),
    ];
    let join = crate::plan::JoinSpec {
        rel_type: Arc::from("PICKUP_BY"),
        left: (Arc::from("vehicles"), Arc::from("plate")),
        right: (Arc::from("orders"), Arc::from("plate")),
    };
    let options = crate::plan::CompileOptions { joins: vec![join], ..Default::default() };
    (elements, QuerySpec { text: String::new(), options })
}

#[test]
fn joins_relate_nodes_by_property_in_both_directions() {
    let (elements, spec) = pickups();
    for query in [
        "MATCH (o:orders)-[:PICKUP_BY]->(v:vehicles) RETURN elementId(o) AS o, v.color AS color",
        "MATCH (v:vehicles)-[:PICKUP_BY]->(o:orders) RETURN elementId(o) AS o, v.color AS color",
        "MATCH (o:orders)<-[:PICKUP_BY]-(v:vehicles) RETURN elementId(o) AS o, v.color AS color",
    ] {
        let plan = QuerySpec { text: query.into(), ..spec.clone() };
        let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
        runtime.install("q", plan, Arc::new(|_| {})).unwrap();
        runtime.apply(elements.iter().cloned().map(|e| (e, 1)).collect());
        assert_eq!(strs(&peek(&runtime, "q")), ["'orders:1','red'"], "{query}");
    }
}

#[test]
fn queries_joining_on_the_same_keys_share_their_arrangements() {
    let (elements, spec) = pickups();
    let with = |text: &str| QuerySpec { text: text.into(), ..spec.clone() };
    let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
    runtime
        .install("plain", with("MATCH (v:vehicles) RETURN v.color AS color"), Arc::new(|_| {}))
        .unwrap();
    // A query that does not follow the join arranges nothing for it.
    assert!(peek(&runtime, "plain").is_empty());
    assert_eq!(runtime.join_arrangements(), 0);

    let colors =
        "MATCH (o:orders)-[:PICKUP_BY]->(v:vehicles) RETURN elementId(o) AS o, v.color AS color";
    runtime.install("first", with(colors), Arc::new(|_| {})).unwrap();
    runtime.apply(elements.iter().cloned().map(|e| (e, 1)).collect());
    assert_eq!(strs(&peek(&runtime, "first")), ["'orders:1','red'"]);
    assert_eq!(runtime.join_arrangements(), 2, "one per join side");

    // Installed while the data is there: it starts from the shared arrangements' state.
    let counts = "MATCH (v:vehicles)<-[:PICKUP_BY]-(o) RETURN v.color AS color, count(o) AS n";
    runtime.install("second", with(counts), Arc::new(|_| {})).unwrap();
    assert_eq!(strs(&peek(&runtime, "second")), ["'red',1"]);
    assert_eq!(runtime.join_arrangements(), 2, "the second query imports the same two");

    runtime.remove("first").unwrap();
    runtime.apply(vec![(elements[2].clone(), -1)]);
    assert_eq!(strs(&peek(&runtime, "second")), Vec::<String>::new());
    assert_eq!(runtime.join_arrangements(), 2, "still used by the second query");

    runtime.remove("second").unwrap();
    assert_eq!(strs(&peek(&runtime, "plain")), ["'blue'", "'red'"]);
    assert_eq!(runtime.join_arrangements(), 0, "dropped with the last query using them");

    // A query joining again after that builds them anew, from the current state.
    runtime.install("again", with(counts), Arc::new(|_| {})).unwrap();
    runtime.apply(vec![(elements[2].clone(), 1)]);
    assert_eq!(strs(&peek(&runtime, "again")), ["'red',1"]);
    assert_eq!(runtime.join_arrangements(), 2);
    runtime.shutdown().expect("clean shutdown");
}

#[test]
fn variable_length_patterns_walk_trails() {
    let q = |query: &str| strs(&rows_of(query, people()));
    assert_eq!(
        q("MATCH (a:Person {name: 'ann'})-[:KNOWS*]->(b) RETURN b.name AS b, size(r) AS hops"
            .replace("[:KNOWS*]", "[r:KNOWS*]")
            .as_str()),
        ["'bob',1", "'cid',1", "'cid',2"]
    );
    assert_eq!(
        q("MATCH (a:Person {name: 'ann'})-[:KNOWS*0..1]-(b) RETURN b.name AS b"),
        ["'ann'", "'bob'", "'cid'"]
    );
    // The self-loop is walked once, never twice in one trail.
    assert_eq!(q("MATCH (a:Person {name: 'dan'})-[r*1..5]-(b) RETURN size(r) AS n"), ["1"]);
}

/// Collects a query's change sets until its output is complete through `through`.
fn changes_through(rx: &mpsc::Receiver<QueryEvent>, through: Time) -> Vec<(Time, ChangeSet)> {
    let mut changes = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("event") {
            QueryEvent::Changes { time, changes: c } => changes.push((time, c)),
            QueryEvent::Progress { upper } if upper > through => return changes,
            QueryEvent::Progress { .. } => {}
        }
    }
}

fn collecting(runtime: &Runtime, id: &str) -> mpsc::Receiver<QueryEvent> {
    let (tx, rx) = mpsc::channel();
    runtime.install(id, spec(), Arc::new(move |e| drop(tx.send(e)))).unwrap();
    rx
}

/// A re-bootstrap's shape: every held row retracted, then the new rows added, in several
/// parts of one transaction. Queries see nothing until the commit, then only the net
/// difference, as one change set.
#[test]
fn a_transaction_fed_in_parts_is_one_change_set_of_its_net_difference() {
    let runtime = Runtime::start(RuntimeConfig { workers: 2 }).unwrap();
    let rx = collecting(&runtime, "q");
    let old: Vec<_> = (1..=10).map(|id| node("item", id, 60)).collect();
    let loaded = runtime.apply(old.iter().map(|n| (Element::Node(n.clone()), 1)).collect());
    assert_eq!(changes_through(&rx, loaded).len(), 1);

    let mut txn = runtime.begin();
    let (taken_tx, taken) = mpsc::channel();
    let taken_by = |part: u32| -> Taken {
        let taken_tx = taken_tx.clone();
        Box::new(move || taken_tx.send(part).expect("the test waits"))
    };
    let retractions = old.iter().map(|n| (Element::Node(n.clone()), -1));
    txn.feed(retractions.collect(), taken_by(1));
    // Rows 1-5 come back unchanged, 6-10 with a new value, and row 11 is new.
    for part in 0..3u64 {
        let ids = (1 + part * 4)..=(4 + part * 4).min(11);
        let v = |id| if id <= 5 { 60 } else { 70 };
        txn.feed(ids.map(|id| (Element::Node(node("item", id, v(id))), 1)).collect(), taken_by(2));
    }
    assert_eq!(taken.recv_timeout(Duration::from_secs(10)), Ok(1), "parts are taken in order");
    let (at, rows) = peek_at(&runtime, "q");
    assert_eq!((at, rows.len()), (loaded, 10), "a peek does not wait for the open transaction");
    let time = txn.commit();
    assert_eq!(time, loaded + 1);
    let changes = changes_through(&rx, time);
    assert_eq!(changes.len(), 1, "one change set: {changes:?}");
    let (at, set) = &changes[0];
    assert_eq!(*at, time);
    let row = |id: u64, v: i64| vec![Value::str(&format!("n{id}")), Value::Int(v)];
    let mut updated = set.updated.clone();
    updated.sort();
    let mut expected: Vec<_> = (6..=10).map(|id| (row(id, 60), row(id, 70))).collect();
    expected.sort();
    assert_eq!(updated, expected);
    assert_eq!(set.added, vec![row(11, 70)]);
    assert!(set.deleted.is_empty(), "{set:?}");
    assert_eq!(taken.try_iter().count(), 3, "every part's callback ran");
    runtime.shutdown().expect("clean shutdown");
}

/// Another source may apply while a transaction is open: its transaction gets a later
/// timestamp and completes after the open one, so neither is split or overtaken.
#[test]
fn transactions_begun_meanwhile_complete_after_the_open_one() {
    let runtime = Runtime::start(RuntimeConfig { workers: 1 }).unwrap();
    let rx = collecting(&runtime, "q");
    let mut open = runtime.begin();
    open.feed(vec![(Element::Node(node("item", 1, 60)), 1)], Box::new(|| {}));
    let later = runtime.apply(vec![(Element::Node(node("item", 2, 70)), 1)]);
    assert_eq!(later, open.time() + 1);
    // Installed now, a query starts before the open transaction: both are changes to it.
    let late = collecting(&runtime, "late");
    assert_eq!(peek_at(&runtime, "late"), (0, Vec::new()), "peeks do not see the open one");
    std::thread::sleep(Duration::from_millis(100));
    let early: Vec<_> = rx.try_iter().collect();
    assert!(
        early.iter().all(|e| matches!(e, QueryEvent::Progress { upper } if *upper <= open.time())),
        "nothing completes while an earlier transaction is open: {early:?}"
    );
    open.feed(vec![(Element::Node(node("item", 3, 80)), 1)], Box::new(|| {}));
    let first = open.time();
    drop(open);
    let row = |id: u64, v: i64| vec![Value::str(&format!("n{id}")), Value::Int(v)];
    for events in [rx, late] {
        let changes = changes_through(&events, later);
        let added: Vec<_> = changes.iter().map(|(t, c)| (*t, c.added.clone())).collect();
        assert_eq!(
            added,
            vec![(first, vec![row(1, 60), row(3, 80)]), (later, vec![row(2, 70)])],
            "a dropped transaction commits what it was fed"
        );
    }
    runtime.shutdown().expect("clean shutdown");
}
