//! Join-key arrangements shared by every query that joins on them.
//!
//! A `joins` entry relates nodes of two labels by equal property values. Each side, a
//! (label, property) pair, is arranged once per worker (node ids keyed by the property's
//! value) when the first query that needs it is installed, and every query that joins on it
//! imports that arrangement (timely-dd-notes.md §3) instead of arranging the label itself.
//! The arrangement lives in a dataflow of its own, so it outlives the query that created it,
//! and is retired when the last query using it is removed.
//!
//! Like the base arrangements it is read as of its compaction frontier, which never passes
//! the `as_of` of an install (compaction follows the same ordered control stream), so a query
//! added while data streams starts from one consistent timestamp.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::TraceReader;
use timely::progress::Antichain;
use timely::worker::Worker;

use super::render::{Base, Button};
use super::{Diff, Time};
use crate::value::Value;

/// A join side: (label, property).
pub(super) type JoinKey = (Arc<str>, Arc<str>);
/// The ids of one label's nodes, keyed by their non-null value of one property.
pub(super) type KeyTrace = TraceAgent<ValSpine<Value, u64, Time, Diff>>;

/// One worker's shared join-key arrangements, with how many installed queries use each.
#[derive(Default)]
pub(super) struct JoinKeys {
    shared: BTreeMap<JoinKey, Shared>,
}

struct Shared {
    trace: KeyTrace,
    users: usize,
    /// Shuts down the arrangement's import of the base nodes, which retires its dataflow.
    button: Button,
}

impl JoinKeys {
    /// Handles on the arrangements of `keys`, building those no query uses yet. Every worker
    /// calls this for the same keys in the same order (the control stream's), so the
    /// dataflows they build line up.
    pub(super) fn acquire(
        &mut self,
        worker: &mut Worker,
        base: &mut Base,
        keys: &[JoinKey],
    ) -> BTreeMap<JoinKey, KeyTrace> {
        keys.iter()
            .map(|key| {
                let shared =
                    self.shared.entry(key.clone()).or_insert_with(|| build(worker, base, key));
                shared.users += 1;
                (key.clone(), shared.trace.clone())
            })
            .collect()
    }

    /// Gives up one use of each of `keys`; an arrangement nobody uses any more is retired.
    pub(super) fn release(&mut self, keys: impl IntoIterator<Item = JoinKey>) {
        for key in keys {
            let Some(shared) = self.shared.get_mut(&key) else { continue };
            shared.users -= 1;
            if shared.users == 0 {
                let mut shared = self.shared.remove(&key).expect("present above");
                shared.button.press();
            }
        }
    }

    /// Lets the arrangements forget distinctions between times before `frontier`.
    pub(super) fn compact(&mut self, frontier: &Antichain<Time>) {
        for shared in self.shared.values_mut() {
            shared.trace.set_logical_compaction(frontier.borrow());
            shared.trace.set_physical_compaction(frontier.borrow());
        }
    }

    /// How many join-key arrangements exist on this worker.
    pub(super) fn len(&self) -> usize {
        self.shared.len()
    }
}

/// A dataflow that arranges the nodes of `label` by their value of `property`.
fn build(worker: &mut Worker, base: &mut Base, (label, property): &JoinKey) -> Shared {
    worker.dataflow_named(&format!("join key {label}.{property}"), |scope| {
        let (nodes, button) = base.nodes.import_frontier(scope, "NodesByLabel");
        let (label, property) = (label.clone(), property.clone());
        let trace = nodes
            .flat_map_ref(move |key, node| {
                let value = (**key == *label).then(|| node.get(&property)).flatten();
                value.filter(|v| !v.is_null()).map(|v| (v.clone(), node.id))
            })
            .arrange_by_key_named("JoinKey")
            .trace;
        Shared { trace, users: 0, button }
    })
}
