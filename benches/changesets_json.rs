//! Change sets to JSON: what it costs to turn a query's change sets into the SSE frames a
//! reaction sends, by the path ripple took before issue 11 item 5 and by the one it takes now.
//!
//! * **tree** (before): once per change set, every row to a `serde_json::Map` of `String`
//!   column names and `serde_json::Value`s; per reaction, a `json!` tree of the event, its
//!   `String`, and a frame copied from that string.
//! * **direct** (now): per reaction, the event serialised from the engine rows and the
//!   query's column names straight into the frame's buffer.
//!
//! Both are run on the same change sets, single-threaded, and must produce the same bytes
//! (checked before anything is timed). Reported per change set: CPU time of the thread, heap
//! allocations and bytes allocated, each the best of a few rounds.
//!
//! Run: `cargo bench --bench changesets_json` (`-- --events N --rows R`: N change sets of R
//! row changes each; default 10 000 × 10, five columns). Results are in BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use ripple::config::SseFormat;
use ripple::queries::ResultEvent;
use ripple::reactions::format::ChangeEvent;
use ripple::reactions::sse::frame::FrameWriter;
use ripple_dataflows::decimal::Decimal;
use ripple_dataflows::runtime::{ChangeSet, Row};
use ripple_dataflows::Value;
use rustix::time::{clock_gettime, ClockId};

/// The `ripple` binary's allocator (src/main.rs), counting what passes through it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The path before: JSON trees and strings (the code of `main` at `ccdacb2`, condensed).
mod tree {
    use std::sync::Arc;

    use axum::body::Bytes;
    use ripple_dataflows::runtime::Row;
    use ripple_dataflows::Value;
    use serde_json::{json, Map, Value as Json};

    pub type JsonRow = Map<String, Json>;

    /// A change set as the fan-out held it.
    pub struct Event {
        pub query_id: Arc<str>,
        pub added: Vec<JsonRow>,
        pub updated: Vec<(JsonRow, JsonRow)>,
        pub deleted: Vec<JsonRow>,
    }

    /// `Value::to_json`.
    fn value(value: &Value) -> Json {
        let properties = |props: &mut dyn Iterator<Item = (&Arc<str>, &Value)>| {
            Json::Object(props.map(|(k, v)| (k.to_string(), self::value(v))).collect())
        };
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => match serde_json::Number::from_f64(f.0) {
                Some(n) => Json::Number(n),
                None if f.0.is_nan() => Json::String("NaN".into()),
                None if f.0 > 0.0 => Json::String("Infinity".into()),
                None => Json::String("-Infinity".into()),
            },
            Value::Decimal(d) => Json::Number(d.as_str().parse().expect("a JSON number")),
            Value::Str(s) => Json::String(s.to_string()),
            Value::List(items) => Json::Array(items.iter().map(self::value).collect()),
            Value::Map(map) => properties(&mut map.iter()),
            Value::Node(node) => properties(&mut node.properties()),
            Value::Relationship(rel) => properties(&mut rel.properties.iter()),
            Value::Path(_) => unreachable!("the benchmark has no paths"),
        }
    }

    fn row(columns: &[Arc<str>], row: &Row) -> JsonRow {
        columns.iter().zip(row).map(|(c, v)| (c.to_string(), value(v))).collect()
    }

    /// `fanout::to_result_event`: once per change set.
    pub fn convert(event: &ripple::queries::ResultEvent) -> Event {
        let json = |r: &Row| row(&event.columns, r);
        let changes = &event.changes;
        Event {
            query_id: event.query_id.clone(),
            added: changes.added.iter().map(json).collect(),
            updated: changes.updated.iter().map(|(b, a)| (json(b), json(a))).collect(),
            deleted: changes.deleted.iter().map(json).collect(),
        }
    }

    /// `format::tutorial_event` and `format::change_event`: once per reaction.
    pub fn tutorial(event: &Event) -> String {
        json!({
            "queryId": &*event.query_id,
            "added": event.added.iter().map(|row| json!({ "after": row })).collect::<Vec<_>>(),
            "updated": event
                .updated
                .iter()
                .map(|(before, after)| json!({ "before": before, "after": after }))
                .collect::<Vec<_>>(),
            "deleted": event.deleted.iter().map(|row| json!({ "before": row })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// `format::drasi_event`.
    pub fn drasi(event: &Event, timestamp_ms: u64) -> String {
        let deleted = event.deleted.iter().map(|row| json!({ "type": "DELETE", "data": row }));
        let updated = event.updated.iter().map(|(before, after)| {
            json!({ "type": "UPDATE", "before": before, "after": after, "data": after })
        });
        let added = event.added.iter().map(|row| json!({ "type": "ADD", "data": row }));
        json!({
            "queryId": &*event.query_id,
            "results": deleted.chain(updated).chain(added).collect::<Vec<_>>(),
            "timestamp": timestamp_ms,
        })
        .to_string()
    }

    /// `frame::event`.
    pub fn frame(id: &str, data: &str) -> Bytes {
        let mut text = String::with_capacity(data.len() + id.len() + 32);
        text.push_str("id: ");
        text.push_str(id);
        text.push('\n');
        for line in data.split('\n') {
            text.push_str("data: ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        Bytes::from(text)
    }
}

/// `events` change sets of `rows` row changes each (40 % added, 40 % in updates, 20 %
/// deleted), over the tutorial's kinds of column: text, numeric, text, integer, float.
fn change_sets(events: usize, rows: usize) -> Vec<Arc<ResultEvent>> {
    let columns: Arc<[Arc<str>]> =
        ["name", "value", "unit", "samples", "ratio"].into_iter().map(Arc::from).collect();
    let row = |i: usize| -> Row {
        vec![
            Value::str(&format!("metric_{}", i % 1000)),
            Value::Decimal(Decimal::parse(&format!("{}.{}", i % 100, i % 97 + 1)).unwrap()),
            Value::str(["%", "ms"][i % 2]),
            Value::Int(i as i64),
            Value::float(i as f64 / 7.0),
        ]
    };
    let (added, updated) = (rows * 2 / 5, rows / 5);
    let deleted = rows - added - 2 * updated;
    (0..events)
        .map(|e| {
            let mut next = (0..).map(|r| row(e * rows + r));
            let changes = ChangeSet {
                added: next.by_ref().take(added).collect(),
                updated: (0..updated)
                    .map(|_| (next.next().unwrap(), next.next().unwrap()))
                    .collect(),
                deleted: next.take(deleted).collect(),
            };
            let query_id = Arc::from("current-metrics");
            Arc::new(ResultEvent {
                query_id,
                time: e as u64 + 1,
                columns: columns.clone(),
                changes,
            })
        })
        .collect()
}

fn id(time: u64) -> String {
    format!("1780000000000.{time}.0")
}

fn old_path(event: &ResultEvent, format: SseFormat) -> Bytes {
    let converted = tree::convert(event);
    let data = match format {
        SseFormat::Tutorial => tree::tutorial(&converted),
        SseFormat::Drasi => tree::drasi(&converted, 0),
    };
    tree::frame(&id(event.time), &data)
}

fn new_path(event: &ResultEvent, format: SseFormat, frames: &mut FrameWriter) -> Bytes {
    frames.event(None, &id(event.time), &ChangeEvent::new(format, event, 0))
}

/// Per change set: CPU time, allocations, bytes allocated; the best of `rounds`.
struct Cost {
    cpu: Duration,
    allocations: f64,
    bytes: f64,
}

fn thread_cpu() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn measure(
    events: &[Arc<ResultEvent>],
    rounds: usize,
    mut render: impl FnMut(&ResultEvent) -> Bytes,
) -> Cost {
    let n = events.len() as u32;
    let mut best: Option<Cost> = None;
    for _ in 0..rounds {
        let (allocations, bytes) =
            (ALLOCATIONS.load(Ordering::Relaxed), ALLOCATED_BYTES.load(Ordering::Relaxed));
        let start = thread_cpu();
        let mut sent = 0;
        for event in events {
            // Dropped at once: the journal's lifetime of a frame is not what is measured.
            sent += render(event).len();
        }
        let cost = Cost {
            cpu: (thread_cpu() - start) / n,
            allocations: (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / n as f64,
            bytes: (ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes) as f64 / n as f64,
        };
        std::hint::black_box(sent);
        if best.as_ref().is_none_or(|b| cost.cpu < b.cpu) {
            best = Some(cost);
        }
    }
    best.expect("at least one round")
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    match args.iter().position(|a| a == name) {
        Some(at) => args[at + 1].parse().unwrap_or_else(|_| panic!("{name} takes a number")),
        None => default,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (events, rows) = (arg(&args, "--events", 10_000), arg(&args, "--rows", 10));
    let events = change_sets(events, rows);
    let mut frames = FrameWriter::default();
    for format in [SseFormat::Tutorial, SseFormat::Drasi] {
        for event in &events {
            assert_eq!(old_path(event, format), new_path(event, format, &mut frames));
        }
    }
    let frame_bytes = new_path(&events[0], SseFormat::Tutorial, &mut frames).len();
    println!(
        "{} change sets of {rows} row changes × 5 columns (a frame: {frame_bytes} bytes); per change set:",
        events.len()
    );
    println!("| format | path | CPU µs | allocations | bytes allocated |");
    println!("|---|---|---|---|---|");
    for (name, format) in [("tutorial", SseFormat::Tutorial), ("drasi", SseFormat::Drasi)] {
        let old = measure(&events, 5, |event| old_path(event, format));
        let new = measure(&events, 5, |event| new_path(event, format, &mut frames));
        for (path, cost) in [("tree (before)", &old), ("direct (now)", &new)] {
            println!(
                "| {name} | {path} | {:.2} | {:.1} | {:.0} |",
                cost.cpu.as_secs_f64() * 1e6,
                cost.allocations,
                cost.bytes
            );
        }
        println!(
            "| {name} | speed-up | {:.1}× | {:.1}× fewer | {:.1}× fewer |",
            old.cpu.as_secs_f64() / new.cpu.as_secs_f64(),
            old.allocations / new.allocations,
            old.bytes / new.bytes
        );
    }
}
