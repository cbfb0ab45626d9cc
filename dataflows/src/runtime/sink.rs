//! Turning a query's output updates into one change set per completed timestamp.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::consolidation::consolidate;
use timely::progress::frontier::AntichainRef;

use super::{Diff, KeyedRow, Row, RowKey, Time};

/// What a query reports to the outside world.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryEvent {
    /// The result changed at `time`, by exactly this.
    Changes {
        /// The transaction's timestamp.
        time: Time,
        /// The net change.
        changes: ChangeSet,
    },
    /// The result is final for every time below `upper`.
    Progress {
        /// The new lower bound of times that may still change.
        upper: Time,
    },
}

/// The net change of a query's result at one timestamp.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeSet {
    /// Rows that appeared.
    pub added: Vec<Row>,
    /// Rows whose identity stayed but whose values changed: (before, after).
    pub updated: Vec<(Row, Row)>,
    /// Rows that disappeared.
    pub deleted: Vec<Row>,
}

impl ChangeSet {
    /// Pairs retractions and insertions of the same row identity into updates.
    ///
    /// `diffs` must be consolidated. A key with several rows on one side (possible only for
    /// duplicate bindings) pairs as many as it can and reports the rest as added or deleted.
    pub fn from_diffs(diffs: Vec<(KeyedRow, Diff)>) -> ChangeSet {
        let mut by_key: BTreeMap<RowKey, (Vec<Row>, Vec<Row>)> = BTreeMap::new();
        for ((key, row), diff) in diffs {
            let (before, after) = by_key.entry(key).or_default();
            let side = if diff < 0 { before } else { after };
            for _ in 0..diff.unsigned_abs() {
                side.push(row.clone());
            }
        }
        let mut changes = ChangeSet::default();
        for (_, (before, after)) in by_key {
            let mut before = before.into_iter();
            let mut after = after.into_iter();
            loop {
                match (before.next(), after.next()) {
                    (Some(b), Some(a)) => changes.updated.push((b, a)),
                    (Some(b), None) => changes.deleted.push(b),
                    (None, Some(a)) => changes.added.push(a),
                    (None, None) => break,
                }
            }
        }
        changes
    }
}

/// Receives a query's events on a worker thread. It must return quickly and never block: a
/// blocked worker stalls every query on every worker.
pub type EventSink = Arc<dyn Fn(QueryEvent) + Send + Sync>;

/// Buffers output updates by time and emits each time once the frontier has passed it.
pub(super) struct ChangeSink {
    /// Updates before `as_of` belong to the state the query started from, not to a change.
    as_of: Time,
    /// Only worker 0 receives data (it is gathered there) and reports.
    is_leader: bool,
    pending: BTreeMap<Time, Vec<(KeyedRow, Diff)>>,
    reported: Time,
    sink: EventSink,
}

impl ChangeSink {
    pub(super) fn new(as_of: Time, is_leader: bool, sink: EventSink) -> ChangeSink {
        ChangeSink { as_of, is_leader, pending: BTreeMap::new(), reported: 0, sink }
    }

    pub(super) fn absorb(&mut self, updates: impl Iterator<Item = (KeyedRow, Time, Diff)>) {
        for (data, time, diff) in updates {
            if time >= self.as_of {
                self.pending.entry(time).or_default().push((data, diff));
            }
        }
    }

    /// Emits every buffered time the frontier has passed, in order, then the progress.
    pub(super) fn emit_complete(&mut self, frontier: AntichainRef<'_, Time>) {
        if !self.is_leader {
            return;
        }
        while let Some(entry) = self.pending.first_entry() {
            if frontier.less_equal(entry.key()) {
                break;
            }
            let (time, mut diffs) = entry.remove_entry();
            consolidate(&mut diffs);
            if !diffs.is_empty() {
                (self.sink)(QueryEvent::Changes { time, changes: ChangeSet::from_diffs(diffs) });
            }
        }
        let upper = frontier.first().copied().unwrap_or(Time::MAX);
        if upper > self.reported {
            self.reported = upper;
            (self.sink)(QueryEvent::Progress { upper });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn row(v: i64) -> Row {
        vec![Value::Int(v)]
    }

    #[test]
    fn retraction_and_insertion_of_one_key_is_an_update() {
        let k = |s: &str| vec![Value::str(s)];
        let changes = ChangeSet::from_diffs(vec![
            ((k("a"), row(1)), -1),
            ((k("a"), row(2)), 1),
            ((k("b"), row(3)), 1),
            ((k("c"), row(4)), -1),
        ]);
        assert_eq!(changes.updated, vec![(row(1), row(2))]);
        assert_eq!(changes.added, vec![row(3)]);
        assert_eq!(changes.deleted, vec![row(4)]);
    }
}
