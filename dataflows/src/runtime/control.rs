//! The control plane: one ordered stream of commands that reaches every worker, in every
//! process, in the same order.
//!
//! Building and dropping dataflows must happen in the same order on every worker (their
//! channel ids come from per-worker counters), and installs, peeks and compactions must be
//! ordered against each other on every worker (a peek must never read a trace that was
//! compacted past its time). Only worker 0 (in process 0, beside the controller) issues
//! commands: it numbers them and sends them through a small dataflow that broadcasts them
//! to every worker; each worker releases them strictly in number order, as soon as they
//! arrive. No timestamp needs to advance, so there is no wait for progress tracking.
//!
//! Source transactions do not travel here: only worker 0 feeds the input, straight from the
//! controller.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Operator;
use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

use super::spec::QuerySpec;
use super::Time;

/// A command every worker applies, in the same order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) enum Control {
    /// Build the query's dataflow; changes are reported from `as_of` on.
    Install { id: Arc<str>, spec: QuerySpec, as_of: Time },
    /// Retire the query's dataflow.
    Remove { id: Arc<str> },
    /// Read this worker's shard of the query's result as of `at`; answer peek `peek`.
    Peek { id: Arc<str>, at: Time, peek: u64 },
    /// Let traces forget the distinctions between times before `upto`.
    Compact { upto: Time },
    /// Stop.
    Shutdown,
    /// Panic on worker `worker`: lets tests check that a worker failure surfaces.
    #[cfg(test)]
    Panic { worker: usize },
}

/// One worker's end of the control plane.
pub(super) struct ControlPlane {
    /// Worker 0 only: where commands enter.
    input: Option<InputHandleVec<Time, (u64, Control)>>,
    next_number: u64,
    /// Whether commands were issued since the last flush.
    unsent: bool,
    released: Rc<RefCell<VecDeque<Control>>>,
}

impl ControlPlane {
    /// Builds the control dataflow; every worker must call this at the same point.
    pub(super) fn build(worker: &mut Worker) -> ControlPlane {
        let mut input = InputHandleVec::new();
        let released = Rc::new(RefCell::new(VecDeque::new()));
        let out = released.clone();
        worker.dataflow_named("control", |scope| {
            // Commands that arrived ahead of an earlier one, by number.
            let mut early: BTreeMap<u64, Control> = BTreeMap::new();
            let mut expected = 0;
            input.to_stream(scope).broadcast().sink(Pipeline, "Release", move |(input, _)| {
                input.for_each(|_, data| early.extend(data.drain(..)));
                while let Some(command) = early.remove(&expected) {
                    out.borrow_mut().push_back(command);
                    expected += 1;
                }
            });
        });
        let input = if worker.index() == 0 {
            Some(input)
        } else {
            // Nothing enters elsewhere; a closed input holds nothing back.
            drop(input);
            None
        };
        ControlPlane { input, next_number: 0, unsent: false, released }
    }

    /// Issues a command (worker 0 only); it travels at the next [`flush`](Self::flush).
    pub(super) fn issue(&mut self, command: Control) {
        let input = self.input.as_mut().expect("only worker 0 issues commands");
        input.send((self.next_number, command));
        self.next_number += 1;
        self.unsent = true;
    }

    /// Issues each of `commands`, in order.
    pub(super) fn issue_all(&mut self, commands: impl IntoIterator<Item = Control>) {
        for command in commands {
            self.issue(command);
        }
    }

    /// Sends the commands issued so far.
    pub(super) fn flush(&mut self) {
        if let (true, Some(input)) = (std::mem::take(&mut self.unsent), self.input.as_mut()) {
            // Closing the epoch, unlike `flush`, also flushes the exchange's buffers to other
            // workers. Nothing waits on this dataflow's frontier; times just keep it moving.
            let next = *input.time() + 1;
            input.advance_to(next);
        }
    }

    /// The next command to apply, if one has arrived.
    pub(super) fn next(&mut self) -> Option<Control> {
        self.released.borrow_mut().pop_front()
    }
}
