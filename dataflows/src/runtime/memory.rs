//! How many updates each query's arrangements hold, counted from differential's arrangement
//! log.
//!
//! A trace logs every batch it gains (`Batch`), every merge that replaces two of its batches
//! by one (`Merge` with `complete`) and every batch it lets go when dropped (`Drop`); summed
//! per operator these are the updates the trace holds. That costs a few log events per batch
//! and nothing per record, so it can stay on. An operator belongs to the query whose
//! dataflow created it: building a dataflow allocates a contiguous range of worker-unique
//! identifiers, and arrangement events name their operator by such an identifier.
//!
//! What is counted: the updates (not distinct rows; uncompacted history counts too) in the
//! query's own arrangements (joins, reductions, its result), summed over this process's
//! workers. The shared arrangements of the input graph (nodes by label, relationships by
//! type, nodes by join key) are counted once, as [`ArrangementRecords::base`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use timely::worker::Worker;

/// What a group of arrangements belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Owner {
    /// The shared arrangements of the input graph.
    Base,
    /// A query's own arrangements.
    Query(Arc<str>),
}

/// Updates held in arrangements, by owner, summed over this process's workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArrangementRecords {
    /// In the shared arrangements of the input graph.
    pub base: u64,
    /// In each installed query's own arrangements.
    pub queries: HashMap<Arc<str>, u64>,
}

/// The counts of every worker of the process, shared with the runtime's handle.
#[derive(Debug, Default)]
pub(super) struct Sizes {
    held: Mutex<HashMap<(usize, Owner), i64>>,
}

impl Sizes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, Owner), i64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current counts.
    pub(super) fn records(&self) -> ArrangementRecords {
        let mut records = ArrangementRecords::default();
        for ((_, owner), held) in self.lock().iter() {
            let held = u64::try_from(*held).unwrap_or(0);
            match owner {
                Owner::Base => records.base += held,
                Owner::Query(id) => *records.queries.entry(id.clone()).or_default() += held,
            }
        }
        records
    }
}

/// Which operator identifiers belong to whom, on one worker (shared with its logger).
type Owners = Rc<RefCell<Vec<(Range<usize>, Owner)>>>;

/// One worker's attribution of operators to owners.
pub(super) struct Attribution {
    worker: usize,
    owners: Owners,
    sizes: Arc<Sizes>,
}

impl Attribution {
    /// Starts counting the arrangements `worker` builds from now on into `sizes`.
    pub(super) fn enable(worker: &mut Worker, sizes: Arc<Sizes>) -> Attribution {
        let owners = Owners::default();
        let index = worker.index();
        if let Some(mut register) = worker.log_register() {
            let (owners, sizes) = (owners.clone(), sizes.clone());
            register.insert::<DifferentialEventBuilder, _>(
                "differential/arrange",
                move |_, events| {
                    let Some(events) = events else { return };
                    let owners = owners.borrow();
                    let mut changes: HashMap<&Owner, i64> = HashMap::new();
                    for (operator, change) in events.iter().filter_map(|(_, e)| held_change(e)) {
                        if let Some((_, owner)) = owners.iter().find(|(r, _)| r.contains(&operator))
                        {
                            *changes.entry(owner).or_default() += change;
                        }
                    }
                    if !changes.is_empty() {
                        let mut held = sizes.lock();
                        for (owner, change) in changes {
                            *held.entry((index, owner.clone())).or_default() += change;
                        }
                    }
                },
            );
        }
        Attribution { worker: index, owners, sizes }
    }

    /// Runs `build` and attributes every operator it creates to `owner`.
    pub(super) fn build<T>(
        &self,
        worker: &mut Worker,
        owner: Owner,
        build: impl FnOnce(&mut Worker) -> T,
    ) -> T {
        let start = worker.peek_identifier();
        let built = build(worker);
        let created = start..worker.peek_identifier();
        // Builds that create nothing (a query whose join arrangements exist already) add no
        // entry, so the list the logger scans grows only with dataflows that exist.
        if !created.is_empty() {
            self.owners.borrow_mut().push((created, owner));
        }
        built
    }

    /// Stops counting `owner`'s arrangements (its dataflow is being dropped).
    pub(super) fn forget(&self, owner: &Owner) {
        self.owners.borrow_mut().retain(|(_, o)| o != owner);
        self.sizes.lock().remove(&(self.worker, owner.clone()));
    }
}

/// The change in updates held that `event` reports, and the operator it is about.
fn held_change(event: &DifferentialEvent) -> Option<(usize, i64)> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    match event {
        DifferentialEvent::Batch(batch) => Some((batch.operator, count(batch.length))),
        DifferentialEvent::Merge(merge) => merge.complete.map(|merged| {
            (merge.operator, count(merged) - count(merge.length1) - count(merge.length2))
        }),
        DifferentialEvent::Drop(drop) => Some((drop.operator, -count(drop.length))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::InputSession;
    use timely::dataflow::operators::Probe;

    use super::*;

    #[test]
    fn counts_what_an_arrangement_holds_until_its_dataflow_is_forgotten() {
        let sizes = Arc::new(Sizes::default());
        let shared = sizes.clone();
        timely::execute_directly(move |worker| {
            let attribution = Attribution::enable(worker, shared.clone());
            let owner = Owner::Query(Arc::from("q"));
            let mut input = InputSession::<u64, (u64, u64), i64>::new();
            let (probe, _trace) = attribution.build(worker, owner.clone(), |worker| {
                worker.dataflow(|scope| {
                    let arranged = input.to_collection(scope).arrange_by_key();
                    let (probe, _) = arranged.stream.probe();
                    (probe, arranged.trace)
                })
            });
            for (time, key) in (0..100u64).enumerate() {
                input.advance_to(time as u64);
                input.update((key % 10, key), 1);
                // A retraction of an earlier insertion: both updates stay until compacted.
                if key >= 90 {
                    input.update((key % 10, key - 90), -1);
                }
            }
            input.advance_to(100);
            input.flush();
            while probe.less_than(&100) {
                worker.step();
            }
            worker.step();
            assert_eq!(shared.records().queries.get("q"), Some(&110));
            attribution.forget(&owner);
            assert_eq!(shared.records(), ArrangementRecords::default());
        });
        assert_eq!(sizes.records().base, 0);
    }
}
