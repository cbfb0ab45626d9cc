//! The timely/differential runtime: worker threads that maintain every installed query, in
//! one process or across a cluster of processes.
//!
//! ```text
//!  Runtime (process 0; one Mutex = the single ordering point for commands)
//!     │ Command (std mpsc) + unpark
//!     ▼
//!  worker 0 ── transactions ─▶ InputSession (only worker 0 feeds; the others close theirs)
//!     │    └─ control commands, numbered ─▶ control dataflow ─▶ broadcast to every worker
//!     ▼
//!  worker 0..N, any process (timely threads), each applying control commands in number order
//!     base dataflow:   InputSession<Element> ─┬─▶ NodesByLabel trace (label → node)
//!                                              └─▶ RelsByType trace (type → relationship)
//!                      (both spread over the workers by element id)
//!     join-key dataflows, one per (label, property) some query joins on, shared:
//!                      import NodesByLabel ─▶ arrange (value → node id) ─▶ JoinKey trace
//!     query dataflows: import NodesByLabel (+ JoinKey traces) ─▶ label filter ─▶ WHERE/RETURN
//!                         ─▶ rows (key,row) ─┬─▶ arrange: Results trace (peeks)
//!                                            └─▶ gather on worker 0 ─▶ ChangeSink
//!     peek parts:      each worker's shard of a peek ─▶ gather on worker 0 ─▶ PeekBook ─▶ reply
//!     ChangeSink: one consolidated [`ChangeSet`] per completed timestamp ─▶ [`EventSink`]
//! ```
//!
//! Contract:
//! * Every transaction gets its own timestamp when it begins, strictly increasing: one passed
//!   whole to [`Runtime::apply`], or one fed in parts through a [`Transaction`] from
//!   [`Runtime::begin`].
//! * A timestamp is complete only once its transaction has committed and so has every earlier
//!   one. Until then none of its parts is visible: queries see each transaction whole, in
//!   timestamp order, however many parts it came in and whatever was fed meanwhile.
//! * For each installed query, [`QueryEvent::Changes`] arrives at most once per timestamp, only
//!   when the query's result changed at that timestamp, in timestamp order, with
//!   retraction/insertion pairs of one row identity folded into updates.
//! * [`Runtime::peek`] answers with the query's full result as of every transaction committed
//!   before the call that no open transaction precedes, read from the query's result
//!   arrangement.
//! * Nothing here blocks a worker on a consumer: event sinks and peek replies must not block
//!   (the service gives them unbounded channels).
//!
//! Everything that leaves the workers (change sets, peek answers) is gathered on worker 0,
//! which is in process 0 with the controller; so in a cluster the other processes run
//! workers only ([`serve_member`]).

mod control;
mod join_keys;
mod memory;
mod peek;
mod render;
mod sink;
mod spec;
mod usage;
mod worker;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::Thread;

use crate::value::{Element, Value};
use control::Control;

pub use memory::ArrangementRecords;
pub use peek::PeekReply;
pub use sink::{ChangeSet, EventSink, QueryEvent};
pub use spec::QuerySpec;
pub use usage::Reads;

/// Logical time: one per source transaction, assigned when it begins.
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

/// How the workers talk to each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Communication {
    /// Threads of this process, passing values without serializing them.
    Threads,
    /// Threads of this process, serializing every exchanged value as a cluster does: finds
    /// serialization bugs without a cluster.
    Serialized,
    /// Several processes, each with `workers` threads; all processes build the same
    /// dataflows. Process 0 runs the [`Runtime`]; the others run [`serve_member`].
    Cluster {
        /// This process's index.
        process: usize,
        /// Every process's `host:port`, in process order.
        addresses: Vec<String>,
    },
}

/// Runs on worker 0 once it has taken a part of a transaction into the dataflow.
pub type Taken = Box<dyn FnOnce() + Send>;

/// What the controller sends worker 0.
enum Command {
    /// Updates of the transaction at `time`; its last part has `commit` set.
    Part {
        time: Time,
        updates: Vec<(Element, Diff)>,
        commit: bool,
        taken: Option<Taken>,
    },
    Control(Control),
}

/// What the controller shares with worker 0, which is in the same process.
#[derive(Default)]
struct Local {
    /// Event sinks of queries whose install is on its way.
    sinks: Mutex<HashMap<Arc<str>, EventSink>>,
    peeks: Arc<peek::PeekBook>,
    /// Updates held in arrangements, counted by this process's workers.
    arrangements: Arc<memory::Sizes>,
    /// How many shared join-key arrangements worker 0 holds (every worker holds the same).
    join_arrangements: AtomicUsize,
}

impl Local {
    fn take_sink(&self, id: &str) -> Option<EventSink> {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    /// Worker 0 publishes its count after each install and removal.
    fn count_join_arrangements(&self, worker: usize, keys: &join_keys::JoinKeys) {
        if worker == 0 {
            self.join_arrangements.store(keys.len(), Ordering::Relaxed);
        }
    }
}

struct Controller {
    sender: mpsc::Sender<Command>,
    worker0: Thread,
    /// The next timestamp to hand out.
    next_time: Time,
    /// Timestamps handed out whose transactions have not committed.
    open: BTreeSet<Time>,
    /// The frontier of the last compaction command.
    compacted: Time,
    next_peek: u64,
    queries: HashSet<Arc<str>>,
}

impl Controller {
    fn send(&self, command: Command) {
        // A send fails only once worker 0 has exited (shutdown or a panic, which stops the
        // process); there is nobody left to tell.
        let _ = self.sender.send(command);
        self.worker0.unpark();
    }

    /// The first timestamp that is not complete: every transaction before it has committed.
    fn settled(&self) -> Time {
        self.open.first().copied().unwrap_or(self.next_time)
    }
}

/// A running set of timely workers and the queries installed on them.
pub struct Runtime {
    controller: Mutex<Controller>,
    local: Arc<Local>,
    /// Workers in all processes.
    peers: usize,
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
    /// `install` of a query that does not compile.
    #[error("query '{id}' does not compile: {error}")]
    Compile {
        /// The query.
        id: String,
        /// The compiler's message.
        error: String,
    },
    /// Timely could not start its workers.
    #[error("could not start the dataflow workers: {0}")]
    Start(String),
    /// A worker stopped with a panic.
    #[error("a dataflow worker failed: {0}")]
    WorkerFailed(String),
}

impl Runtime {
    /// Starts the worker threads of a single process.
    pub fn start(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        Runtime::start_with(config, Communication::Threads)
    }

    /// Starts the workers of a single process, or process 0 of a cluster (which returns once
    /// every process has connected).
    pub fn start_with(
        config: RuntimeConfig,
        communication: Communication,
    ) -> Result<Runtime, RuntimeError> {
        if let Communication::Cluster { process, .. } = &communication {
            if *process != 0 {
                return Err(RuntimeError::Start(format!(
                    "process {process} runs workers only (serve_member)"
                )));
            }
        }
        let (sender, receiver) = mpsc::channel();
        let local = Arc::new(Local::default());
        let (guards, worker0) = launch(&config, &communication, Some(receiver), local.clone())?;
        let worker0 =
            worker0.ok_or_else(|| RuntimeError::Start("worker 0 did not start".into()))?;
        let processes = match &communication {
            Communication::Cluster { addresses, .. } => addresses.len(),
            _ => 1,
        };
        let controller = Controller {
            sender,
            worker0,
            next_time: 1,
            open: BTreeSet::new(),
            compacted: 0,
            next_peek: 0,
            queries: HashSet::new(),
        };
        Ok(Runtime {
            controller: Mutex::new(controller),
            local,
            peers: config.workers.max(1) * processes,
            guards: Mutex::new(Some(guards)),
        })
    }

    fn controller(&self) -> std::sync::MutexGuard<'_, Controller> {
        // The lock is never held across a panic point of ours, so poisoning means a bug elsewhere;
        // the state itself stays consistent, so keep going.
        self.controller.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one source transaction whole; returns the timestamp it was given.
    pub fn apply(&self, updates: Vec<(Element, Diff)>) -> Time {
        self.begin().commit_with(updates)
    }

    /// Begins a transaction to be fed in parts, at the next timestamp; see [`Transaction`].
    pub fn begin(&self) -> Transaction<'_> {
        let mut c = self.controller();
        let time = c.next_time;
        c.next_time += 1;
        c.open.insert(time);
        Transaction { runtime: self, time, committed: false }
    }

    /// Installs a query. Its first events describe the transactions that complete after this
    /// call (an open one included); its current result (via [`Runtime::peek`]) includes every
    /// complete one.
    pub fn install(&self, id: &str, spec: QuerySpec, sink: EventSink) -> Result<(), RuntimeError> {
        spec.compile().map_err(|e| RuntimeError::Compile {
            id: id.to_string(),
            error: e.render(&spec.text),
        })?;
        let mut c = self.controller();
        let id: Arc<str> = Arc::from(id);
        if !c.queries.insert(id.clone()) {
            return Err(RuntimeError::AlreadyInstalled(id.to_string()));
        }
        self.local.sinks.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), sink);
        let as_of = c.settled();
        c.send(Command::Control(Control::Install { id, spec, as_of }));
        Ok(())
    }

    /// Removes a query and frees its dataflow; no events follow.
    pub fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut c = self.controller();
        if !c.queries.remove(id) {
            return Err(RuntimeError::NotInstalled(id.to_string()));
        }
        c.send(Command::Control(Control::Remove { id: Arc::from(id) }));
        Ok(())
    }

    /// Reads a query's current result: every row, as of the last complete timestamp at this
    /// call, together with that timestamp. An open transaction is not waited for. `reply` runs
    /// once, on a worker thread, when every worker has answered.
    pub fn peek(&self, id: &str, reply: PeekReply) -> Result<(), RuntimeError> {
        let mut c = self.controller();
        if !c.queries.contains(id) {
            return Err(RuntimeError::NotInstalled(id.to_string()));
        }
        let at = c.settled() - 1;
        let peek = c.next_peek;
        c.next_peek += 1;
        self.local.peeks.open(peek, self.peers, at, reply);
        c.send(Command::Control(Control::Peek { id: Arc::from(id), at, peek }));
        Ok(())
    }

    /// Updates held in the arrangements of each query and of the shared input graph, in this
    /// process's workers: the updates they hold, not distinct rows (see `runtime/memory.rs`).
    pub fn arrangement_records(&self) -> ArrangementRecords {
        self.local.arrangements.records()
    }

    /// How many shared join-key arrangements exist (per worker): one per (label, property)
    /// that some installed query joins on. Reflects every install and removal that a peek
    /// issued after it has answered.
    pub fn join_arrangements(&self) -> usize {
        self.local.join_arrangements.load(Ordering::Relaxed)
    }

    /// The timestamp the next transaction will get.
    pub fn next_time(&self) -> Time {
        self.controller().next_time
    }

    /// Stops the workers (in every process) and waits for this process's. Idempotent.
    /// Reports a worker that failed (panicked).
    pub fn shutdown(&self) -> Result<(), RuntimeError> {
        self.controller().send(Command::Control(Control::Shutdown));
        let guards = self.guards.lock().unwrap_or_else(|p| p.into_inner()).take();
        guards.map_or(Ok(()), join)
    }

    #[cfg(test)]
    fn send_control(&self, control: Control) {
        self.controller().send(Command::Control(control));
    }
}

/// One transaction fed to the engine in several parts, at one timestamp: for a source
/// transaction too large to hold whole (a bootstrap), and for the one-part form
/// [`Runtime::apply`].
///
/// Contract:
/// * Its parts are parts of one change: queries see none of them before [`commit`], then all
///   at once, as one change set per query. So a part may retract what an earlier part of the
///   same transaction added, and only the net difference shows.
/// * Its timestamp is fixed when it begins. Transactions begun later (by other sources) may be
///   fed meanwhile; they complete after it, so nothing appears between its parts and nothing
///   overtakes it. Peeks answer at the last complete timestamp without waiting for it.
/// * Parts go to worker 0 without limit; a feeder that must bound memory waits for a part's
///   [`Taken`] before sending the one after next, which keeps at most two parts queued.
/// * Dropped without [`commit`], it commits what it was fed: parts cannot be recalled, and a
///   transaction left open would hold back every later timestamp.
///
/// [`commit`]: Transaction::commit
pub struct Transaction<'r> {
    runtime: &'r Runtime,
    time: Time,
    committed: bool,
}

impl Transaction<'_> {
    /// The timestamp the transaction will complete at.
    pub fn time(&self) -> Time {
        self.time
    }

    /// Feeds one part; `taken` runs on worker 0 once it has taken the part into the dataflow.
    pub fn feed(&mut self, updates: Vec<(Element, Diff)>, taken: Taken) {
        let command = Command::Part { time: self.time, updates, commit: false, taken: Some(taken) };
        self.runtime.controller().send(command);
    }

    /// Commits; returns the timestamp.
    pub fn commit(self) -> Time {
        self.commit_with(Vec::new())
    }

    /// Feeds `updates` as the last part and commits; returns the timestamp.
    pub fn commit_with(mut self, updates: Vec<(Element, Diff)>) -> Time {
        self.finish(updates);
        self.time
    }

    fn finish(&mut self, updates: Vec<(Element, Diff)>) {
        self.committed = true;
        let mut c = self.runtime.controller();
        c.send(Command::Part { time: self.time, updates, commit: true, taken: None });
        c.open.remove(&self.time);
        let complete = c.settled() - 1;
        if complete >= c.compacted + COMPACTION_INTERVAL {
            // Every later install (as_of ≥ settled) and peek (at ≥ settled - 1) reads at or
            // after `complete`, so history before it can be folded together.
            c.compacted = complete;
            c.send(Command::Control(Control::Compact { upto: complete }));
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.finish(Vec::new());
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(message = "The dataflow runtime stopped with an error.", %error);
        }
    }
}

/// Runs this process's workers of a cluster whose process 0 runs the [`Runtime`], until
/// process 0 shuts them down. Returns once every local worker has stopped.
pub fn serve_member(
    config: RuntimeConfig,
    communication: Communication,
) -> Result<(), RuntimeError> {
    let (guards, _) = launch(&config, &communication, None, Arc::new(Local::default()))?;
    join(guards)
}

/// Waits for every local worker; the first failure, if any.
fn join(guards: timely::communication::WorkerGuards<()>) -> Result<(), RuntimeError> {
    let mut failure = None;
    for result in guards.join() {
        if let Err(error) = result {
            tracing::error!(message = "A dataflow worker failed.", %error);
            failure.get_or_insert(RuntimeError::WorkerFailed(error));
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Starts timely. Worker 0 (if it is in this process) takes `commands` and reports its
/// thread, so that the controller can wake it.
fn launch(
    config: &RuntimeConfig,
    communication: &Communication,
    commands: Option<mpsc::Receiver<Command>>,
    local: Arc<Local>,
) -> Result<(timely::communication::WorkerGuards<()>, Option<Thread>), RuntimeError> {
    let threads = config.workers.max(1);
    let communication = match communication {
        Communication::Threads => timely::CommunicationConfig::Process(threads),
        Communication::Serialized => timely::CommunicationConfig::ProcessBinary(threads),
        Communication::Cluster { process, addresses } => timely::CommunicationConfig::Cluster {
            threads,
            process: *process,
            addresses: addresses.clone(),
            report: false,
            zerocopy: false,
        },
    };
    let timely_config = timely::Config { communication, worker: timely::WorkerConfig::default() };
    let leads = commands.is_some();
    let commands = Mutex::new(commands);
    let (thread_tx, thread_rx) = mpsc::channel();
    let thread_tx = Mutex::new(thread_tx);
    let guards = timely::execute(timely_config, move |w| {
        let commands = if w.index() == 0 {
            // The controller waits for this; if it is gone, so is the runtime.
            let _ = thread_tx.lock().map(|tx| tx.send(std::thread::current()));
            commands.lock().ok().and_then(|mut c| c.take())
        } else {
            None
        };
        worker::run(w, commands, local.clone());
    })
    .map_err(RuntimeError::Start)?;
    let worker0 = if leads {
        Some(
            thread_rx
                .recv()
                .map_err(|_| RuntimeError::Start("worker 0 exited during start-up".into()))?,
        )
    } else {
        None
    };
    Ok((guards, worker0))
}

#[cfg(test)]
mod tests;
