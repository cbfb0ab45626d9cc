//! The loop each timely worker runs: apply commands in order, answer peeks, step the dataflows.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use differential_dataflow::input::InputSession;
use differential_dataflow::trace::TraceReader;
use timely::progress::Antichain;
use timely::worker::Worker;

use super::peek::PendingPeek;
use super::render::{self, Base, InstalledQuery};
use super::{Command, Diff, Time};
use crate::value::Element;

/// The longest a worker parks without a command or a message from a peer. Commands unpark it
/// at once; the timeout only bounds how long idle merging effort and peeks wait.
const PARK_TIMEOUT: Duration = Duration::from_millis(20);

/// Runs until [`Command::Shutdown`] or until the controller goes away.
pub(super) fn run(worker: &mut Worker, commands: mpsc::Receiver<Command>) {
    let index = worker.index();
    let mut input = InputSession::<Time, Element, Diff>::new();
    let mut base = worker.dataflow_named("base", |scope| Base::build(input.to_collection(scope)));
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

    let mut queries: HashMap<Arc<str>, InstalledQuery> = HashMap::new();
    let mut peeks: Vec<PendingPeek> = Vec::new();
    loop {
        let mut dirty = false;
        loop {
            let command = match commands.try_recv() {
                Ok(command) => command,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return shutdown(worker, queries),
            };
            match command {
                Command::Txn { time, updates } => {
                    let input = input.as_mut().expect("transactions go to worker 0 only");
                    for (element, diff) in updates {
                        input.update_at(element, time, diff);
                    }
                    input.advance_to(time + 1);
                    dirty = true;
                }
                Command::Install { id, plan, as_of, sink } => {
                    if let (true, Some(input)) = (dirty, input.as_mut()) {
                        input.flush();
                        dirty = false;
                    }
                    let query = render::install(worker, &mut base, &id, &plan, as_of, sink);
                    queries.insert(id, query);
                }
                Command::Remove { id } => {
                    if let Some(query) = queries.remove(&id) {
                        query.retire();
                    }
                }
                Command::Peek { id, at, reply } => match queries.get(&id) {
                    Some(query) => peeks.push(PendingPeek::new(query.results.clone(), at, reply)),
                    None => reply.fail(format!("query '{id}' is not installed")),
                },
                Command::Compact { upto } => {
                    let frontier = Antichain::from_elem(upto);
                    base.compact(&frontier);
                    for query in queries.values_mut() {
                        query.results.set_logical_compaction(frontier.borrow());
                        query.results.set_physical_compaction(frontier.borrow());
                    }
                }
                Command::Shutdown => return shutdown(worker, queries),
            }
        }
        if let (true, Some(input)) = (dirty, input.as_mut()) {
            // One flush per drained batch of commands: transactions that queued up while the
            // worker was busy travel together, each still at its own timestamp.
            input.flush();
        }
        peeks.retain_mut(|peek| !peek.try_answer());
        worker.step_or_park(Some(PARK_TIMEOUT));
    }
}

fn shutdown(worker: &mut Worker, queries: HashMap<Arc<str>, InstalledQuery>) {
    for (_, query) in queries {
        query.retire();
    }
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
}
