//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of sources, queries, reactions
//! and the process.
//!
//! Source metrics come from the source's status view: besides the state, the position and
//! the counters it knows, every other numeric field becomes a gauge `ripple_source_<field>`,
//! so fields a source adds (lag, for instance) are exported without a change here.
//!
//! A query's memory is what its own arrangements hold, counted in updates by the engine
//! (`Runtime::arrangement_records`); the bytes are an estimate: the process's resident memory
//! apportioned to each query by its share of the updates held in all arrangements (the
//! shared input graph's included). They are not measured per query.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value as JsonValue;

use super::AppState;
use crate::config::ReactionConfig;
use crate::queries::QueryStatus;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Clock ticks per second in `/proc/self/stat`: `USER_HZ`, 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// Metric families by name, rendered in name order.
#[derive(Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
}

struct Family {
    help: String,
    kind: &'static str,
    samples: Vec<(String, f64)>,
}

impl Exposition {
    fn add(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = self.families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            samples: Vec::new(),
        });
        let labels: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels =
            if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        family.samples.push((labels, value));
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, "gauge", help, labels, value);
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, "counter", help, labels, value);
    }

    fn render(&self) -> String {
        let mut text = String::new();
        for (name, family) in &self.families {
            let _ = writeln!(
                text,
                "# HELP {name} {}",
                family.help.replace('\\', "\\\\").replace('\n', "\\n")
            );
            let _ = writeln!(text, "# TYPE {name} {}", family.kind);
            for (labels, value) in &family.samples {
                let _ = writeln!(text, "{name}{labels} {value}");
            }
        }
        text
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A PostgreSQL LSN (`X/Y`, hexadecimal) as a byte position.
fn lsn_bytes(lsn: &str) -> Option<f64> {
    let (high, low) = lsn.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    Some(((high << 32) | low) as f64)
}

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = Exposition::default();
    sources(&state, &mut out);
    queries(&state, &mut out);
    reactions(&state, &mut out);
    process(&mut out);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.render())
}

fn sources(state: &AppState, out: &mut Exposition) {
    for (id, source) in state.sources.iter() {
        let labels = [("source", id.as_str())];
        let JsonValue::Object(fields) =
            serde_json::to_value(source.status.view()).unwrap_or_default()
        else {
            continue;
        };
        for (field, value) in &fields {
            match (field.as_str(), value) {
                ("state", JsonValue::String(phase)) => out.gauge(
                    "ripple_source_state",
                    "1 for the phase the source is in.",
                    &[("source", id), ("state", phase)],
                    1.0,
                ),
                ("position", JsonValue::String(lsn)) => {
                    if let Some(bytes) = lsn_bytes(lsn) {
                        out.gauge(
                            "ripple_source_position_bytes",
                            "Position of the last applied transaction (PostgreSQL: commit LSN).",
                            &labels,
                            bytes,
                        );
                    }
                }
                ("transactions", JsonValue::Number(n)) => out.counter(
                    "ripple_source_transactions_total",
                    "Source transactions applied.",
                    &labels,
                    n.as_f64().unwrap_or(0.0),
                ),
                ("row_changes", JsonValue::Number(n)) => out.counter(
                    "ripple_source_row_changes_total",
                    "Row changes applied.",
                    &labels,
                    n.as_f64().unwrap_or(0.0),
                ),
                (field, JsonValue::Number(n)) => out.gauge(
                    &format!("ripple_source_{field}"),
                    &format!("The source status field '{field}'."),
                    &labels,
                    n.as_f64().unwrap_or(0.0),
                ),
                _ => {}
            }
        }
    }
}

fn queries(state: &AppState, out: &mut Exposition) {
    let arrangements = state.queries.arrangement_records();
    let held = arrangements.base + arrangements.queries.values().sum::<u64>();
    out.gauge(
        "ripple_engine_base_arrangement_records",
        "Updates held in the shared arrangements of the input graph (nodes by label, relationships by type).",
        &[],
        arrangements.base as f64,
    );
    let bytes_per_update = match (resident_bytes(), held) {
        (Some(rss), 1..) => Some(rss / held as f64),
        _ => None,
    };
    for query in state.queries.all() {
        let labels = [("query", query.config.id.as_str())];
        let running = if query.status == QueryStatus::Running { 1.0 } else { 0.0 };
        out.gauge("ripple_query_running", "1 if the query is maintained.", &labels, running);
        let stats = &query.stats;
        out.gauge(
            "ripple_query_rows",
            "Rows in the query's current result.",
            &labels,
            stats.rows.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "ripple_query_changesets_total",
            "Change sets the query emitted (one per transaction that changed its result).",
            &labels,
            stats.changesets.load(Ordering::Relaxed) as f64,
        );
        out.gauge(
            "ripple_query_last_update_timestamp_seconds",
            "When the query's result last changed, in seconds since the Unix epoch (0: never).",
            &labels,
            stats.last_update_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        let records =
            arrangements.queries.get(query.config.id.as_str()).copied().unwrap_or_default();
        out.gauge(
            "ripple_query_arrangement_records",
            "Updates held in the query's own arrangements (joins, aggregations, its result), summed over workers.",
            &labels,
            records as f64,
        );
        if let Some(per_update) = bytes_per_update {
            out.gauge(
                "ripple_query_memory_bytes_estimate",
                "Resident memory apportioned to the query by its share of the updates held in all arrangements.",
                &labels,
                records as f64 * per_update,
            );
        }
    }
}

fn reactions(state: &AppState, out: &mut Exposition) {
    for (id, reaction) in state.reactions.all() {
        let kind = match reaction.config {
            ReactionConfig::Sse(_) => "sse",
            ReactionConfig::Log(_) => "log",
        };
        let labels = [("reaction", id.as_str()), ("kind", kind)];
        let stats = reaction.stats.view();
        out.gauge(
            "ripple_reaction_clients",
            "SSE clients connected.",
            &labels,
            stats.clients as f64,
        );
        out.counter(
            "ripple_reaction_events_sent_total",
            "Events (SSE) or lines (log) delivered.",
            &labels,
            stats.events_sent as f64,
        );
        out.counter(
            "ripple_reaction_events_missed_total",
            "Events the reaction missed because it fell behind.",
            &labels,
            stats.events_missed as f64,
        );
        out.counter(
            "ripple_reaction_clients_dropped_total",
            "SSE clients dropped because they fell behind.",
            &labels,
            stats.clients_dropped as f64,
        );
    }
}

/// The process's resident memory, from `/proc/self/status` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())?;
    Some(kib * 1024.0)
}

/// Resident memory and CPU time from `/proc/self` (Linux; nothing elsewhere).
fn process(out: &mut Exposition) {
    if let Some(bytes) = resident_bytes() {
        out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", &[], bytes);
    }
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
        out.counter(
            "process_cpu_seconds_total",
            "User and system CPU time spent, in seconds.",
            &[],
            (user + system) / USER_HZ,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_escaped_labels() {
        let mut out = Exposition::default();
        out.counter("b_total", "B.", &[("q", "a\"b\\c\nd")], 2.0);
        out.gauge("a", "A.", &[], 1.5);
        assert_eq!(
            out.render(),
            "# HELP a A.\n# TYPE a gauge\na 1.5\n# HELP b_total B.\n# TYPE b_total counter\nb_total{q=\"a\\\"b\\\\c\\nd\"} 2\n"
        );
    }

    #[test]
    fn lsns_are_byte_positions() {
        assert_eq!(lsn_bytes("1/0"), Some(4294967296.0));
        assert_eq!(lsn_bytes("0/16B3748"), Some(23803720.0));
        assert_eq!(lsn_bytes("nope"), None);
    }

    #[test]
    fn process_metrics_are_read_on_linux() {
        let mut out = Exposition::default();
        process(&mut out);
        let text = out.render();
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
    }
}
