//! Reading a query's current result out of its arrangement.
//!
//! Each worker holds one shard of the result trace. A peek reaches every worker through the
//! control plane; each answers from its shard once the trace is complete through the peek's
//! time and sends its part through a small dataflow that gathers parts on worker 0 (so
//! answers come back from other processes too). Worker 0 merges them and, with the last
//! part, hands the rows to the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::trace::cursor::{cursor_list, Cursor};
use differential_dataflow::trace::TraceReader;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Exchange, Operator};
use timely::dataflow::InputHandleVec;
use timely::progress::Antichain;
use timely::worker::Worker;

use super::render::ResultTrace;
use super::{KeyedRow, Row, Time};

/// Receives a peek's result: the timestamp it reflects (every transaction up to and
/// including it) and every row, in row-identity order.
pub type PeekReply = Box<dyn FnOnce(Result<(Time, Vec<Row>), String>) + Send>;

/// One worker's answer to a peek.
type Part = Result<Vec<KeyedRow>, String>;

/// The peeks waiting for parts, by number; shared by the controller and worker 0.
#[derive(Default)]
pub(super) struct PeekBook {
    open: Mutex<HashMap<u64, Merge>>,
}

/// The parts gathered so far for one peek.
struct Merge {
    at: Time,
    remaining: usize,
    rows: Vec<KeyedRow>,
    error: Option<String>,
    reply: PeekReply,
}

impl PeekBook {
    /// Registers peek `peek` at `at`, to be answered by `workers` parts.
    pub(super) fn open(&self, peek: u64, workers: usize, at: Time, reply: PeekReply) {
        let merge = Merge { at, remaining: workers, rows: Vec::new(), error: None, reply };
        self.lock().insert(peek, merge);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Merge>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one worker's part; the last part replies.
    fn add(&self, peek: u64, part: Part) {
        let mut open = self.lock();
        let Some(merge) = open.get_mut(&peek) else { return };
        match part {
            Ok(rows) => merge.rows.extend(rows),
            Err(error) => merge.error = Some(error),
        }
        merge.remaining -= 1;
        if merge.remaining > 0 {
            return;
        }
        let merge = open.remove(&peek).expect("present above");
        drop(open);
        let result = match merge.error {
            Some(error) => Err(error),
            None => {
                let mut rows = merge.rows;
                rows.sort();
                Ok((merge.at, rows.into_iter().map(|(_, row)| row).collect()))
            }
        };
        (merge.reply)(result);
    }
}

/// Where a worker sends its parts: a dataflow that gathers them on worker 0.
pub(super) struct PartSender {
    input: InputHandleVec<Time, (u64, Part)>,
}

impl PartSender {
    /// Builds the gathering dataflow; every worker must call this at the same point. Worker
    /// 0 adds what arrives to `book`.
    pub(super) fn build(worker: &mut Worker, book: Arc<PeekBook>) -> PartSender {
        let mut input = InputHandleVec::new();
        worker.dataflow_named("peek parts", |scope| {
            input.to_stream(scope).exchange(|_| 0).sink(Pipeline, "Gather", move |(input, _)| {
                input.for_each(|_, data| {
                    for (peek, part) in data.drain(..) {
                        book.add(peek, part);
                    }
                });
            });
        });
        PartSender { input }
    }

    /// Sends this worker's part of peek `peek` on its way.
    pub(super) fn send(&mut self, peek: u64, part: Part) {
        self.input.send((peek, part));
        // Closing the epoch, unlike `flush`, also flushes the exchange's buffers to other
        // workers. Nothing waits on this dataflow's frontier; times just keep it moving.
        let next = *self.input.time() + 1;
        self.input.advance_to(next);
    }
}

/// A peek waiting on one worker for its shard to be complete through `at`.
pub(super) struct PendingPeek {
    /// A clone of the result trace: holding it keeps compaction from passing `at`.
    trace: ResultTrace,
    at: Time,
    /// The peek's number.
    pub(super) peek: u64,
}

impl PendingPeek {
    pub(super) fn new(trace: ResultTrace, at: Time, peek: u64) -> PendingPeek {
        PendingPeek { trace, at, peek }
    }

    /// This shard's rows, once it is complete through `at`.
    pub(super) fn try_read(&mut self) -> Option<Vec<KeyedRow>> {
        let mut upper = Antichain::new();
        self.trace.read_upper(&mut upper);
        if upper.less_equal(&self.at) {
            return None;
        }
        Some(self.read())
    }

    fn read(&mut self) -> Vec<KeyedRow> {
        // The empty frontier selects every batch, which is valid whatever the compaction state.
        let Some(batches) = self.trace.batches_through(Antichain::new().borrow()) else {
            return Vec::new();
        };
        let (mut cursor, storage) = cursor_list(batches);
        let mut rows = Vec::new();
        while let Some(key) = cursor.get_key(&storage) {
            while let Some(row) = cursor.get_val(&storage) {
                let mut count = 0;
                cursor.map_times(&storage, |t, r| {
                    if *t <= self.at {
                        count += *r;
                    }
                });
                for _ in 0..count.max(0) {
                    rows.push((key.clone(), row.clone()));
                }
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
        rows
    }
}
