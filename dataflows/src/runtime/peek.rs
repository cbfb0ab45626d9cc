//! Reading a query's current result out of its arrangement.
//!
//! Each worker holds one shard of the result trace. A peek visits every worker; each answers
//! from its shard once the trace is complete through the peek's time, and the last worker to
//! answer hands the merged rows to the caller.

use std::sync::{Arc, Mutex};

use differential_dataflow::trace::cursor::{cursor_list, Cursor};
use differential_dataflow::trace::TraceReader;
use timely::progress::Antichain;

use super::render::ResultTrace;
use super::{KeyedRow, Row, Time};

/// Receives a peek's result: the timestamp it reflects (every transaction up to and
/// including it) and every row, in row-identity order.
pub type PeekReply = Box<dyn FnOnce(Result<(Time, Vec<Row>), String>) + Send>;

/// The rows gathered so far from the workers that have answered.
pub(super) struct PeekMerge {
    state: Mutex<MergeState>,
}

struct MergeState {
    at: Time,
    remaining: usize,
    rows: Vec<KeyedRow>,
    error: Option<String>,
    reply: Option<PeekReply>,
}

impl PeekMerge {
    pub(super) fn new(workers: usize, at: Time, reply: PeekReply) -> PeekMerge {
        PeekMerge {
            state: Mutex::new(MergeState {
                at,
                remaining: workers,
                rows: Vec::new(),
                error: None,
                reply: Some(reply),
            }),
        }
    }

    fn answer(&self, result: Result<Vec<KeyedRow>, String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(rows) => state.rows.extend(rows),
            Err(error) => state.error = Some(error),
        }
        state.remaining -= 1;
        if state.remaining == 0 {
            let reply = state.reply.take().expect("the last answer replies once");
            let result = match state.error.take() {
                Some(error) => Err(error),
                None => {
                    let mut rows = std::mem::take(&mut state.rows);
                    rows.sort();
                    Ok((state.at, rows.into_iter().map(|(_, row)| row).collect()))
                }
            };
            drop(state);
            reply(result);
        }
    }

    pub(super) fn fail(&self, error: String) {
        self.answer(Err(error));
    }
}

/// A peek waiting on one worker for its shard to be complete through `at`.
pub(super) struct PendingPeek {
    /// A clone of the result trace: holding it keeps compaction from passing `at`.
    trace: ResultTrace,
    at: Time,
    merge: Arc<PeekMerge>,
}

impl PendingPeek {
    pub(super) fn new(trace: ResultTrace, at: Time, merge: Arc<PeekMerge>) -> PendingPeek {
        PendingPeek { trace, at, merge }
    }

    /// Answers if this shard is complete through `at`; returns whether it did.
    pub(super) fn try_answer(&mut self) -> bool {
        let mut upper = Antichain::new();
        self.trace.read_upper(&mut upper);
        if upper.less_equal(&self.at) {
            return false;
        }
        let rows = self.read();
        self.merge.answer(Ok(rows));
        true
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
