//! The loop each timely worker runs: take source transactions (worker 0), apply control
//! commands in order, answer peeks, step the dataflows.

use std::collections::{BTreeSet, HashMap};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use differential_dataflow::input::InputSession;
use differential_dataflow::trace::TraceReader;
use timely::progress::Antichain;
use timely::worker::Worker;

use super::control::{Control, ControlPlane};
use super::join_keys::JoinKeys;
use super::memory::{Attribution, Owner};
use super::peek::{PartSender, PendingPeek};
use super::render::{self, Base, InstalledQuery};
use super::sink::EventSink;
use super::{Command, Diff, Local, QuerySpec, Time};
use crate::plan::QueryPlan;
use crate::value::Element;

/// The longest a worker parks without a command or a message from a peer. Commands unpark
/// worker 0 at once, and messages unpark the others; the timeout only bounds how long idle
/// merging effort waits.
const PARK_TIMEOUT: Duration = Duration::from_millis(20);

/// How long worker 0 keeps stepping without parking after a command arrived: a source that
/// sends one transaction at a time usually sends the next within this, and waking a parked
/// thread costs tens of µs. Costs at most this much CPU per burst of commands.
const SPIN: Duration = Duration::from_micros(50);

/// Runs until [`Control::Shutdown`]. `commands` is worker 0's channel from the controller;
/// the other workers have none.
pub(super) fn run(
    worker: &mut Worker,
    mut commands: Option<mpsc::Receiver<Command>>,
    local: Arc<Local>,
) {
    let index = worker.index();
    let arrangements = Attribution::enable(worker, local.arrangements.clone());
    let mut input = InputSession::<Time, Element, Diff>::new();
    let mut base = arrangements.build(worker, Owner::Base, |worker| {
        worker.dataflow_named("base", |scope| Base::build(input.to_collection(scope)))
    });
    // Time 0 is never used: the first transaction gets time 1.
    input.advance_to(1);
    input.flush();
    let mut input = if index == 0 {
        Some(input)
    } else {
        // Only worker 0 feeds data; a closed input does not hold back the frontier.
        input.close();
        None
    };
    let mut control = ControlPlane::build(worker);
    let mut parts = PartSender::build(worker, local.peeks.clone());

    let mut join_keys = JoinKeys::default();
    let mut queries: HashMap<Arc<str>, InstalledQuery> = HashMap::new();
    let mut peeks: Vec<PendingPeek> = Vec::new();
    let mut commits = Commits::default();
    let mut last_command: Option<Instant> = None;
    loop {
        if let (Some(channel), Some(input)) = (&commands, input.as_mut()) {
            match take_commands(channel, input, &mut commits, &mut control) {
                Drained::Nothing => {}
                Drained::Some => last_command = Some(Instant::now()),
                Drained::Disconnected => commands = None,
            }
        }
        while let Some(command) = control.next() {
            match command {
                Control::Install { id, spec, as_of } => {
                    let plan = compile_installed(index, &id, &spec);
                    let sink = if index == 0 { local.take_sink(&id) } else { None };
                    let sink = sink.unwrap_or_else(|| Arc::new(|_| {}) as EventSink);
                    let keyed = arrangements.build(worker, Owner::Base, |worker| {
                        join_keys.acquire(worker, &mut base, &render::join_keys(&plan))
                    });
                    let plan = Arc::new(plan);
                    let query = arrangements.build(worker, Owner::Query(id.clone()), |worker| {
                        render::install(worker, &mut base, keyed, &id, &plan, as_of, sink)
                    });
                    queries.insert(id, query);
                    local.count_join_arrangements(index, &join_keys);
                }
                Control::Remove { id } => {
                    if let Some(query) = queries.remove(&id) {
                        join_keys.release(query.retire());
                        local.count_join_arrangements(index, &join_keys);
                    }
                    arrangements.forget(&Owner::Query(id));
                }
                Control::Peek { id, at, peek } => match queries.get(&id) {
                    Some(query) => peeks.push(PendingPeek::new(query.results.clone(), at, peek)),
                    None => parts.send(peek, Err(format!("query '{id}' is not installed"))),
                },
                Control::Compact { upto } => {
                    let frontier = Antichain::from_elem(upto);
                    base.compact(&frontier);
                    join_keys.compact(&frontier);
                    for query in queries.values_mut() {
                        query.results.set_logical_compaction(frontier.borrow());
                        query.results.set_physical_compaction(frontier.borrow());
                    }
                }
                Control::Shutdown => return shutdown(worker, queries, join_keys),
                #[cfg(test)]
                Control::Panic { worker } => assert_ne!(worker, index, "test-only worker panic"),
            }
        }
        peeks.retain_mut(|peek| match peek.try_read() {
            Some(rows) => {
                parts.send(peek.peek, Ok(rows));
                false
            }
            None => true,
        });
        let spinning = last_command.is_some_and(|at| at.elapsed() < SPIN);
        worker.step_or_park(Some(if spinning { Duration::ZERO } else { PARK_TIMEOUT }));
    }
}

/// Compiles a query this worker is told to install, or panics.
///
/// This cannot fail: [`Runtime::install`](super::Runtime::install) compiles the same text
/// with the same options before it sends the command, and compilation is deterministic, so
/// a query that reaches a worker compiles on every worker. If it ever did fail (a compiler
/// that reads something besides its input, a command that bypassed the controller), no
/// answer but stopping is safe. Every worker must build the same dataflows in the same
/// order, because timely identifies dataflows and channels by per-worker counters: a worker
/// that skipped the query while another built it would exchange every later dataflow's
/// data on the wrong channels, or hang its peers; and if all of them skipped it, the
/// controller would still believe it installed and serve nothing for it. So the worker
/// panics, naming the query and the error: the service's panic hook then stops the process,
/// and [`Runtime::shutdown`](super::Runtime::shutdown) reports the failed worker.
fn compile_installed(index: usize, id: &str, spec: &QuerySpec) -> QueryPlan {
    spec.compile().unwrap_or_else(|error| {
        panic!(
            "worker {index} cannot compile query '{id}', which the controller compiled; the \
             workers' dataflows would go out of step, so the runtime stops: {}",
            error.render(&spec.text)
        )
    })
}

/// What worker 0 found in its command channel.
enum Drained {
    Nothing,
    Some,
    /// The controller is gone.
    Disconnected,
}

/// Worker 0's record of transactions that committed before an earlier one did. The input
/// advances past a timestamp only once its transaction and every earlier one have committed,
/// so transactions fed concurrently still complete whole and in order.
#[derive(Default)]
struct Commits {
    ahead: BTreeSet<Time>,
}

impl Commits {
    fn commit(&mut self, time: Time, input: &mut InputSession<Time, Element, Diff>) {
        self.ahead.insert(time);
        let mut next = *input.time();
        while self.ahead.remove(&next) {
            next += 1;
        }
        input.advance_to(next);
    }
}

/// Worker 0: feeds every queued part of a transaction and passes control commands on.
fn take_commands(
    commands: &mpsc::Receiver<Command>,
    input: &mut InputSession<Time, Element, Diff>,
    commits: &mut Commits,
    control: &mut ControlPlane,
) -> Drained {
    let mut dirty = false;
    let mut drained = Drained::Nothing;
    // A compaction is superseded by the next one: while transactions queue up, only the
    // newest of consecutive compactions travels (each costs every worker a control message
    // and a pass over every trace). Other commands keep their order relative to it.
    let mut compact = None;
    loop {
        let command = commands.try_recv();
        if command.is_ok() {
            drained = Drained::Some;
        }
        match command {
            Ok(Command::Part { time, updates, commit, taken }) => {
                for (element, diff) in updates {
                    input.update_at(element, time, diff);
                }
                if let Some(taken) = taken {
                    taken();
                }
                if commit {
                    commits.commit(time, input);
                }
                dirty = true;
            }
            Ok(Command::Control(command @ Control::Compact { .. })) => compact = Some(command),
            Ok(Command::Control(command)) => {
                control.issue_all(compact.take());
                control.issue(command);
            }
            // The runtime shuts down before it drops the channel; a gone controller (a
            // panic elsewhere) leaves nothing to do but stop.
            Err(mpsc::TryRecvError::Disconnected) => {
                control.issue_all(compact.take());
                control.issue(Control::Shutdown);
                drained = Drained::Disconnected;
                break;
            }
            Err(mpsc::TryRecvError::Empty) => break,
        }
    }
    control.issue_all(compact);
    if dirty {
        // One flush per drained batch: transactions and parts that queued up while the worker
        // was busy travel together, each still at its own timestamp.
        input.flush();
    }
    control.flush();
    drained
}

fn shutdown(
    worker: &mut Worker,
    queries: HashMap<Arc<str>, InstalledQuery>,
    mut join_keys: JoinKeys,
) {
    for (_, query) in queries {
        join_keys.release(query.retire());
    }
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
}
