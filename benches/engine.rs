//! Engine benchmark: the dataflow runtime driven directly, without PostgreSQL.
//!
//! For each workload, worker count and batch size it reports source row changes per second
//! and per-transaction latency (from `Runtime::apply` to the moment every query's output is
//! complete through that transaction) at p50 and p99. A final long run reports resident
//! memory while one million updates hit a fixed set of rows.
//!
//! Run: `cargo bench --bench engine` (add `-- --quick` for a short smoke run; `-- --only
//! <text>` runs only the workloads whose name contains it, and skips the memory run, e.g. to
//! profile one). Results and the machine they came from are recorded in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ripple_dataflows::plan::{CompileOptions, JoinSpec};
use ripple_dataflows::runtime::{Diff, QueryEvent, QuerySpec, Runtime, RuntimeConfig, Time};
use ripple_dataflows::value::{fresh_node_id, Element, Node, Properties, Value};

/// The allocator the `ripple` binary uses (src/main.rs), so that the numbers carry over.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Completion tracking: for each query, when its output became complete through each time.
struct Progress {
    state: Mutex<Vec<Vec<(Time, Instant)>>>,
    changed: Condvar,
}

impl Progress {
    fn new(queries: usize) -> Arc<Progress> {
        Arc::new(Progress { state: Mutex::new(vec![Vec::new(); queries]), changed: Condvar::new() })
    }

    fn record(&self, query: usize, upper: Time) {
        self.state.lock().unwrap()[query].push((upper, Instant::now()));
        self.changed.notify_all();
    }

    /// Blocks until every query's output is complete through `time`.
    fn wait(&self, time: Time) {
        let mut state = self.state.lock().unwrap();
        while !state.iter().all(|q| q.last().is_some_and(|(upper, _)| *upper > time)) {
            state = self.changed.wait(state).unwrap();
        }
    }

    /// When every query was complete through `time` (the latest of the queries' first
    /// moments past it).
    fn completed(&self, time: Time) -> Instant {
        let state = self.state.lock().unwrap();
        state
            .iter()
            .map(|q| {
                let at = q.partition_point(|(upper, _)| *upper <= time);
                q[at].1
            })
            .max()
            .expect("at least one query")
    }
}

/// One benchmark workload: its queries and how it changes rows.
struct Workload {
    name: &'static str,
    queries: Vec<String>,
    joins: Vec<JoinSpec>,
    /// The initial rows.
    rows: Vec<Arc<Node>>,
    /// The row that replaces row `i` in step `n`.
    change: fn(&Arc<Node>, u64) -> Arc<Node>,
}

fn node(label: &str, id: usize, properties: &[(&str, Value)]) -> Arc<Node> {
    let mut properties: Properties =
        properties.iter().map(|(k, v)| (Arc::from(*k), v.clone())).collect();
    properties.insert(Arc::from("id"), Value::Int(id as i64));
    Arc::new(Node::table_row(fresh_node_id(), label, &["id"], properties))
}

/// `node` with property `key` (one of its columns) set to `value`.
fn with(node: &Arc<Node>, key: &str, value: Value) -> Arc<Node> {
    let position = node.schema().position(key).expect("a column of the node");
    let mut values = node.values().to_vec();
    values[position] = value;
    Arc::new(Node::new(node.id, node.schema().clone(), values))
}

/// A pseudo-random number from a step counter (SplitMix64), so runs are repeatable.
fn noise(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const METRIC_NAMES: [&str; 8] = [
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "network_in",
    "network_out",
    "active_connections",
    "request_rate",
    "error_rate",
];

fn workloads(rows: usize) -> Vec<Workload> {
    let metrics: Vec<Arc<Node>> = (0..rows)
        .map(|i| {
            node(
                "metrics",
                i,
                &[
                    ("id", Value::Int(i as i64)),
                    ("name", Value::str(METRIC_NAMES[i % 8])),
                    ("value", Value::float((i % 100) as f64)),
                    ("unit", Value::str("percent")),
                ],
            )
        })
        .collect();
    let orders: Vec<Arc<Node>> = (0..rows)
        .map(|i| {
            node(
                "orders",
                i,
                &[
                    ("region", Value::Int((i % 50) as i64)),
                    ("amount", Value::Int((i % 1000) as i64)),
                    ("plate", Value::Int((i % (rows / 4).max(1)) as i64)),
                ],
            )
        })
        .collect();
    let vehicles: Vec<Arc<Node>> = (0..rows / 4)
        .map(|i| {
            node("vehicles", i, &[("plate", Value::Int(i as i64)), ("color", Value::str("red"))])
        })
        .collect();
    let tutorial = vec![
        "MATCH (m:metrics) RETURN m.id, m.name, m.value, m.unit".to_string(),
        "MATCH (m:metrics) WHERE m.value > 90 RETURN m.id AS id, m.name AS name".to_string(),
        "MATCH (m:metrics) WHERE (m.name = 'cpu_usage' AND m.value > 80) \
         OR (m.name = 'memory_usage' AND m.value > 85) OR (m.name = 'disk_usage' AND m.value > 90) \
         OR (m.name = 'error_rate' AND m.value > 5) RETURN m.name, m.value, m.unit"
            .to_string(),
    ];
    let new_value = |n: &Arc<Node>, step: u64| {
        with(n, "value", Value::float((noise(step) % 10_000) as f64 / 100.0))
    };
    vec![
        Workload { name: "tutorial queries", queries: tutorial, joins: Vec::new(), rows: metrics.clone(), change: new_value },
        Workload {
            name: "join (orders→vehicles)",
            queries: vec!["MATCH (o:orders)-[:PICKUP_BY]->(v:vehicles) RETURN o.amount AS amount, v.color AS color".into()],
            joins: vec![JoinSpec {
                rel_type: Arc::from("PICKUP_BY"),
                left: (Arc::from("orders"), Arc::from("plate")),
                right: (Arc::from("vehicles"), Arc::from("plate")),
            }],
            rows: orders.iter().cloned().chain(vehicles).collect(),
            change: |n, step| {
                if n.has_label("orders") {
                    with(n, "amount", Value::Int((noise(step) % 1000) as i64))
                } else {
                    with(n, "color", Value::str(if step % 2 == 0 { "red" } else { "blue" }))
                }
            },
        },
        Workload {
            name: "grouped aggregate",
            queries: vec!["MATCH (o:orders) RETURN o.region AS region, sum(o.amount) AS total, count(*) AS n".into()],
            joins: Vec::new(),
            rows: orders,
            change: |n, step| with(n, "amount", Value::Int((noise(step) % 1000) as i64)),
        },
        Workload {
            name: "20 queries, one label",
            queries: (0..20).map(|i| format!("MATCH (m:metrics) WHERE m.value > {} RETURN m.id AS id, m.value AS v", i * 5)).collect(),
            joins: Vec::new(),
            rows: metrics,
            change: new_value,
        },
    ]
}

struct Measurement {
    row_changes_per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `transactions` single-row updates in batches of `batch` transactions (each its own
/// timestamp), waiting for completion after each batch.
fn measure(workload: &Workload, workers: usize, batch: usize, transactions: usize) -> Measurement {
    let runtime = Runtime::start(RuntimeConfig { workers }).expect("runtime");
    let progress = Progress::new(workload.queries.len());
    for (i, query) in workload.queries.iter().enumerate() {
        let options = CompileOptions { joins: workload.joins.clone(), ..Default::default() };
        let spec = QuerySpec { text: query.to_string(), options };
        let progress = progress.clone();
        let sink = Arc::new(move |event| {
            if let QueryEvent::Progress { upper } = event {
                progress.record(i, upper);
            }
        });
        runtime.install(&format!("q{i}"), spec, sink).expect("install");
    }
    let mut current: Vec<Arc<Node>> = workload.rows.clone();
    let load = runtime.apply(current.iter().map(|n| (Element::Node(n.clone()), 1)).collect());
    progress.wait(load);

    let mut applied: Vec<(Time, Instant)> = Vec::with_capacity(transactions);
    let started = Instant::now();
    let mut step = 0u64;
    while applied.len() < transactions {
        let mut last = 0;
        for _ in 0..batch.min(transactions - applied.len()) {
            step += 1;
            let at = (noise(step) % current.len() as u64) as usize;
            let new = (workload.change)(&current[at], step);
            let old = std::mem::replace(&mut current[at], new.clone());
            let updates: Vec<(Element, Diff)> =
                vec![(Element::Node(old), -1), (Element::Node(new), 1)];
            let sent = Instant::now();
            last = runtime.apply(updates);
            applied.push((last, sent));
        }
        progress.wait(last);
    }
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> =
        applied.iter().map(|(t, sent)| progress.completed(*t) - *sent).collect();
    latencies.sort();
    runtime.shutdown().expect("clean shutdown");
    Measurement {
        row_changes_per_second: transactions as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

extern "C" {
    /// mimalloc's own collection (linked through the `mimalloc` crate): with `force`, it
    /// returns freed pages to the OS now rather than after its purge delay.
    fn mi_collect(force: bool);
}

/// Resident memory in use: pages the allocator holds freed are returned first, so that a
/// sample measures live data, not when mimalloc last purged.
fn resident_kb() -> u64 {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) };
    memory_kb().0
}

/// Resident memory of this process, from /proc (kB): (current, peak).
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One million updates to 10 000 fixed rows through the tutorial queries, sampling RSS.
fn memory_run(updates: usize) -> Vec<(usize, u64)> {
    let workload = workloads(10_000).remove(0);
    let runtime = Runtime::start(RuntimeConfig { workers: 1 }).expect("runtime");
    let progress = Progress::new(workload.queries.len());
    for (i, query) in workload.queries.iter().enumerate() {
        let progress = progress.clone();
        runtime
            .install(
                &format!("q{i}"),
                QuerySpec::new(query.as_str()),
                Arc::new(move |event| {
                    if let QueryEvent::Progress { upper } = event {
                        progress.record(i, upper);
                    }
                }),
            )
            .expect("install");
    }
    let mut current = workload.rows.clone();
    runtime.apply(current.iter().map(|n| (Element::Node(n.clone()), 1)).collect());
    let mut samples = Vec::new();
    let mut last = 0;
    for step in 1..=updates as u64 {
        let at = (noise(step) % current.len() as u64) as usize;
        let new = (workload.change)(&current[at], step);
        let old = std::mem::replace(&mut current[at], new.clone());
        last = runtime.apply(vec![(Element::Node(old), -1), (Element::Node(new), 1)]);
        if step % 1000 == 0 {
            progress.wait(last);
            // Keep the progress log short: only the newest entry matters from here on.
            for q in progress.state.lock().unwrap().iter_mut() {
                let keep = q.len().saturating_sub(1);
                q.drain(..keep);
            }
        }
        if (step as usize).is_multiple_of(updates / 10) {
            samples.push((step as usize, resident_kb()));
        }
    }
    progress.wait(last);
    runtime.shutdown().expect("clean shutdown");
    samples
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
    let selected = |name: &str| only.is_none_or(|only| name.contains(only.as_str()));
    let rows = if quick { 1_000 } else { 10_000 };
    // The memory run goes first, in a fresh process: after the other workloads, memory they
    // freed would still count in RSS until the allocator hands it back, at any moment.
    let updates = if quick { 100_000 } else { 1_000_000 };
    let memory = only.is_none().then(|| (memory_run(updates), memory_kb().1));
    println!(
        "# Engine benchmark ({} rows per workload{})\n",
        rows,
        if quick { ", quick" } else { "" }
    );
    println!("| workload | workers | txns per batch | row changes/s | latency p50 | latency p99 |");
    println!("|---|---|---|---|---|---|");
    let mut results = BTreeMap::new();
    for workload in workloads(rows).into_iter().filter(|w| selected(w.name)) {
        for workers in [1, 2] {
            for batch in [1, 100, 10_000] {
                let transactions = match (quick, batch) {
                    (true, 1) => 500,
                    (true, _) => 5_000,
                    (false, 1) => 5_000,
                    (false, 100) => 50_000,
                    (false, _) => 100_000,
                };
                let m = measure(&workload, workers, batch, transactions);
                println!(
                    "| {} | {workers} | {batch} | {:.0} | {:.2} ms | {:.2} ms |",
                    workload.name,
                    m.row_changes_per_second,
                    m.p50.as_secs_f64() * 1e3,
                    m.p99.as_secs_f64() * 1e3
                );
                results.insert((workload.name, workers, batch), m.row_changes_per_second);
            }
        }
    }
    println!("\n| workload | txns per batch | speed-up, 2 workers vs 1 |");
    println!("|---|---|---|");
    for workload in workloads(rows).iter().map(|w| w.name).filter(|name| selected(name)) {
        for batch in [100, 10_000] {
            let ratio = results[&(workload, 2, batch)] / results[&(workload, 1, batch)];
            println!("| {workload} | {batch} | {ratio:.2}× |");
        }
    }
    let Some((samples, peak_kb)) = memory else { return };
    println!("\n## Memory: {updates} updates to 10 000 rows (tutorial queries, 1 worker)\n");
    println!("| updates applied | RSS |");
    println!("|---|---|");
    for (step, kb) in &samples {
        println!("| {step} | {:.1} MiB |", *kb as f64 / 1024.0);
    }
    let (low, high) =
        samples.iter().skip(1).fold((u64::MAX, 0), |(lo, hi), (_, kb)| (lo.min(*kb), hi.max(*kb)));
    println!(
        "\nRSS after the first 10% of updates stays within {:.1}% of its mean; peak RSS {:.1} MiB.",
        (high - low) as f64 / ((high + low) as f64 / 2.0) * 50.0,
        peak_kb as f64 / 1024.0
    );
}
