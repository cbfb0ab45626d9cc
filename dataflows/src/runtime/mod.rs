//! The timely/differential runtime: worker threads that maintain every installed query.
//!
//! ```text
//!  Runtime (any thread; one Mutex = the single ordering point for commands)
//!     │ Command (std mpsc, one channel per worker, same order everywhere) + unpark
//!     ▼
//!  worker 0..N (timely threads)
//!     base dataflow:   InputSession<Element> ─┬─▶ NodesByLabel trace (label → node)
//!                                              └─▶ RelsByType trace (type → relationship)
//!     query dataflows: import NodesByLabel ─▶ label filter ─▶ WHERE/RETURN ─▶ arrange (key,row)
//!                         │                                                    ├─▶ Results trace (peeks)
//!                         │                                                    └─▶ gather on worker 0 ─▶ ChangeSink
//!     ChangeSink: one consolidated [`ChangeSet`] per completed timestamp ─▶ [`EventSink`]
//! ```
//!
//! Contract:
//! * Every transaction passed to [`Runtime::apply`] gets its own timestamp, strictly increasing.
//! * For each installed query, [`QueryEvent::Changes`] arrives at most once per timestamp, only
//!   when the query's result changed at that timestamp, in timestamp order, with
//!   retraction/insertion pairs of one row identity folded into updates.
//! * [`Runtime::peek`] answers with the query's full result as of every transaction applied
//!   before the call, read from the query's result arrangement.
//! * Nothing here blocks a worker on a consumer: event sinks must not block.
//!
//! Only worker 0 feeds the input (the other workers close theirs); differential exchanges data
//! by key at the first arrangement, so all workers share the work downstream.

mod peek;
mod render;
mod sink;
mod worker;

use std::collections::HashSet;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::Thread;

use crate::plan::QueryPlan;
use crate::value::{Element, Value};

pub use peek::PeekReply;
pub use sink::{ChangeSet, EventSink, QueryEvent};

/// Logical time: one per source transaction, assigned by [`Runtime::apply`].
pub type Time = u64;
/// Multiplicity change of a record.
pub type Diff = i64;
/// A result row: the values of the query's columns, in order.
pub type Row = Vec<Value>;
/// A row's identity: the element ids of what the MATCH bound.
pub type RowKey = Vec<Value>;
/// A result row with its identity, as query dataflows produce and arrange them.
pub type KeyedRow = (RowKey, Row);

/// How many transactions pass between two compaction commands. Compaction lets traces forget
/// history (so memory follows the data size), but each command costs every worker a little.
const COMPACTION_INTERVAL: u64 = 64;

/// Settings for [`Runtime::start`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Worker threads in this process.
    pub workers: usize,
}

/// What a worker is told to do; every worker sees every command in the same order.
enum Command {
    Txn { time: Time, updates: Vec<(Element, Diff)> },
    Install { id: Arc<str>, plan: Arc<QueryPlan>, as_of: Time, sink: EventSink },
    Remove { id: Arc<str> },
    Peek { id: Arc<str>, at: Time, reply: Arc<peek::PeekMerge> },
    Compact { upto: Time },
    Shutdown,
}

struct Controller {
    senders: Vec<mpsc::Sender<Command>>,
    threads: Vec<Thread>,
    /// The next timestamp to hand out; every time below it has been sent to the workers.
    next_time: Time,
    queries: HashSet<Arc<str>>,
}

impl Controller {
    fn send(&self, worker: usize, command: Command) {
        // A send fails only once the worker has exited (shutdown or a panic, which aborts the
        // process); there is nobody left to tell.
        let _ = self.senders[worker].send(command);
        self.threads[worker].unpark();
    }

    fn broadcast(&self, make: impl Fn() -> Command) {
        for worker in 0..self.senders.len() {
            self.send(worker, make());
        }
    }
}

/// A running set of timely workers and the queries installed on them.
pub struct Runtime {
    controller: Mutex<Controller>,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
}

/// Errors of the runtime's control operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    /// `install` with an id already in use.
    #[error("query '{0}' is already installed")]
    AlreadyInstalled(String),
    /// An operation on an id that is not installed.
    #[error("query '{0}' is not installed")]
    NotInstalled(String),
    /// Timely could not start its workers.
    #[error("could not start the dataflow workers: {0}")]
    Start(String),
}

impl Runtime {
    /// Starts the worker threads.
    pub fn start(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let workers = config.workers.max(1);
        let mut senders = Vec::with_capacity(workers);
        let mut receivers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::channel();
            senders.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let (thread_tx, thread_rx) = mpsc::channel();
        let thread_tx = Mutex::new(thread_tx);
        let guards = timely::execute(timely::Config::process(workers), move |w| {
            let index = w.index();
            let receiver = receivers.lock().expect("receivers")[index]
                .take()
                .expect("each worker takes its receiver once");
            thread_tx
                .lock()
                .expect("thread channel")
                .send((index, std::thread::current()))
                .expect("runtime waits for every worker");
            worker::run(w, receiver);
        })
        .map_err(RuntimeError::Start)?;
        let mut threads: Vec<Option<Thread>> = vec![None; workers];
        for _ in 0..workers {
            let (index, thread) = thread_rx
                .recv()
                .map_err(|_| RuntimeError::Start("a worker exited during start-up".into()))?;
            threads[index] = Some(thread);
        }
        let controller = Controller {
            senders,
            threads: threads.into_iter().map(|t| t.expect("every worker reported")).collect(),
            next_time: 1,
            queries: HashSet::new(),
        };
        Ok(Runtime { controller: Mutex::new(controller), guards: Mutex::new(Some(guards)) })
    }

    fn controller(&self) -> std::sync::MutexGuard<'_, Controller> {
        // The lock is never held across a panic point of ours, so poisoning means a bug elsewhere;
        // the state itself stays consistent, so keep going.
        self.controller.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one source transaction; returns the timestamp it was given.
    pub fn apply(&self, updates: Vec<(Element, Diff)>) -> Time {
        let mut c = self.controller();
        let time = c.next_time;
        c.next_time += 1;
        c.send(0, Command::Txn { time, updates });
        if time.is_multiple_of(COMPACTION_INTERVAL) {
            // Every later install (as_of = next_time) and peek (at ≥ time) reads at or after
            // `time`, so history before it can be folded together.
            c.broadcast(|| Command::Compact { upto: time });
        }
        time
    }

    /// Installs a query. Its first events describe the transactions applied after this call;
    /// its current result (via [`Runtime::peek`]) includes everything applied before.
    pub fn install(
        &self,
        id: &str,
        plan: Arc<QueryPlan>,
        sink: EventSink,
    ) -> Result<(), RuntimeError> {
        let mut c = self.controller();
        let id: Arc<str> = Arc::from(id);
        if !c.queries.insert(id.clone()) {
            return Err(RuntimeError::AlreadyInstalled(id.to_string()));
        }
        let as_of = c.next_time;
        c.broadcast(|| Command::Install {
            id: id.clone(),
            plan: plan.clone(),
            as_of,
            sink: sink.clone(),
        });
        Ok(())
    }

    /// Removes a query and frees its dataflow; no events follow.
    pub fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut c = self.controller();
        if !c.queries.remove(id) {
            return Err(RuntimeError::NotInstalled(id.to_string()));
        }
        let id: Arc<str> = Arc::from(id);
        c.broadcast(|| Command::Remove { id: id.clone() });
        Ok(())
    }

    /// Reads a query's current result: every row, as of the last transaction applied before
    /// this call, together with that transaction's timestamp. `reply` runs once, on a worker
    /// thread, when every worker has answered.
    pub fn peek(&self, id: &str, reply: PeekReply) -> Result<(), RuntimeError> {
        let c = self.controller();
        if !c.queries.contains(id) {
            return Err(RuntimeError::NotInstalled(id.to_string()));
        }
        let at = c.next_time - 1;
        let merge = Arc::new(peek::PeekMerge::new(c.senders.len(), at, reply));
        let id: Arc<str> = Arc::from(id);
        c.broadcast(|| Command::Peek { id: id.clone(), at, reply: merge.clone() });
        Ok(())
    }

    /// The timestamp the next transaction will get.
    pub fn next_time(&self) -> Time {
        self.controller().next_time
    }

    /// Stops the workers and waits for them. Idempotent.
    pub fn shutdown(&self) {
        self.controller().broadcast(|| Command::Shutdown);
        let guards = self.guards.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(guards) = guards {
            for result in guards.join() {
                if let Err(error) = result {
                    tracing::error!(message = "A dataflow worker failed.", %error);
                }
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests;
