//! Drives the incremental engine through a scenario in three ways.
//!
//! * bulk: the whole graph in one transaction, then the query installed and peeked (also
//!   peeked once over the empty graph, before the data arrives);
//! * shuffled: the query installed first, then one element per transaction in a seeded random
//!   order, results accumulated from change sets and also peeked;
//! * insert-then-delete: continuing the shuffled run, every element retracted one per
//!   transaction, then everything re-inserted in one transaction.
//!
//! Each mode gets a fresh runtime, so scenarios cannot disturb each other and a wedged
//! runtime dies with its scenario. Every wait is bounded by the scenario's deadline.

use std::collections::HashSet;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use ripple_dataflows::runtime::{
    ChangeSet, Diff, EventSink, QueryEvent, QuerySpec, Row, Runtime, RuntimeConfig, Time,
};
use ripple_dataflows::Element;

/// The query's id in every runtime.
const QUERY: &str = "tck";

/// Why a run stopped.
#[derive(Debug)]
pub enum RunError {
    /// A wait ran past the scenario's deadline.
    Timeout(String),
    /// The change sets contradict the result they apply to.
    Inconsistent(String),
    /// The runtime refused an operation or failed a peek.
    Engine(String),
}

fn engine(error: impl ToString) -> RunError {
    RunError::Engine(error.to_string())
}

/// Results of the bulk mode.
pub struct Bulk {
    /// The query over the empty graph.
    pub empty: Vec<Row>,
    /// The query over the whole graph.
    pub rows: Vec<Row>,
}

/// Results of the shuffled and insert-then-delete modes.
pub struct Incremental {
    /// Accumulated change sets after the shuffled insertion.
    pub inserted: Vec<Row>,
    /// A peek after the shuffled insertion.
    pub inserted_peek: Vec<Row>,
    /// Accumulated change sets after every element was retracted.
    pub retracted: Vec<Row>,
    /// Accumulated change sets after the bulk re-insertion.
    pub reinserted: Vec<Row>,
    /// A peek after the re-insertion.
    pub reinserted_peek: Vec<Row>,
}

/// Mode (a).
pub fn bulk(plan: &QuerySpec, elements: &[Element], deadline: Instant) -> Result<Bulk, RunError> {
    let runtime = start(1)?;
    runtime.install("empty", plan.clone(), Arc::new(|_| {})).map_err(engine)?;
    let empty = peek(&runtime, "empty", deadline)?;
    runtime.remove("empty").map_err(engine)?;
    runtime.apply(elements.iter().map(|e| (e.clone(), 1)).collect());
    runtime.install(QUERY, plan.clone(), Arc::new(|_| {})).map_err(engine)?;
    let rows = peek(&runtime, QUERY, deadline)?;
    runtime.shutdown().map_err(engine)?;
    Ok(Bulk { empty, rows })
}

/// Modes (b) and (c); `seed` fixes the shuffles.
pub fn incremental(
    plan: &QuerySpec,
    elements: &[Element],
    seed: u64,
    deadline: Instant,
) -> Result<Incremental, RunError> {
    let runtime = start(2)?;
    let (tx, events) = mpsc::channel();
    let sink: EventSink = Arc::new(move |event| {
        // The receiver is gone only once the scenario has given up.
        let _ = tx.send(event);
    });
    runtime.install(QUERY, plan.clone(), sink).map_err(engine)?;
    let mut rng = Rng(seed | 1);
    // Change sets describe transactions after the install; the state they apply to is the
    // result at install time, which a peek reads (non-empty even on an empty graph for
    // constant queries and key-less aggregates).
    let mut result = Accumulated { rows: peek(&runtime, QUERY, deadline)?, upper: 0 };

    let mut last = None;
    for element in insertion_order(elements, &mut rng) {
        last = Some(runtime.apply(vec![(element, 1)]));
    }
    result.settle(&events, last, deadline)?;
    let inserted = result.rows.clone();
    let inserted_peek = peek(&runtime, QUERY, deadline)?;

    for element in retraction_order(elements, &mut rng) {
        last = Some(runtime.apply(vec![(element, -1)]));
    }
    result.settle(&events, last, deadline)?;
    let retracted = result.rows.clone();

    let all: Vec<(Element, Diff)> = elements.iter().map(|e| (e.clone(), 1)).collect();
    last = Some(runtime.apply(all));
    result.settle(&events, last, deadline)?;
    let reinserted_peek = peek(&runtime, QUERY, deadline)?;
    runtime.shutdown().map_err(engine)?;
    Ok(Incremental { inserted, inserted_peek, retracted, reinserted: result.rows, reinserted_peek })
}

fn start(workers: usize) -> Result<Runtime, RunError> {
    Runtime::start(RuntimeConfig { workers }).map_err(engine)
}

fn peek(runtime: &Runtime, id: &str, deadline: Instant) -> Result<Vec<Row>, RunError> {
    let (tx, rx) = mpsc::channel();
    runtime
        .peek(
            id,
            Box::new(move |reply| {
                let _ = tx.send(reply);
            }),
        )
        .map_err(engine)?;
    let (_, rows) = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|_| RunError::Timeout("waiting for a peek".to_string()))?
        .map_err(|e| RunError::Engine(format!("peek failed: {e}")))?;
    Ok(rows)
}

/// A query's result rebuilt from its change sets.
#[derive(Default)]
struct Accumulated {
    rows: Vec<Row>,
    /// The greatest progress reported: every time below it is complete.
    upper: Time,
}

impl Accumulated {
    /// Applies change sets until the query is complete through `time`, the last transaction
    /// applied (`None` if there was none: progress only moves when transactions arrive).
    fn settle(
        &mut self,
        events: &mpsc::Receiver<QueryEvent>,
        time: Option<Time>,
        deadline: Instant,
    ) -> Result<(), RunError> {
        let Some(time) = time else { return Ok(()) };
        while self.upper <= time {
            let event =
                events.recv_timeout(deadline.saturating_duration_since(Instant::now())).map_err(
                    |_| RunError::Timeout(format!("waiting for the query to complete time {time}")),
                )?;
            match event {
                QueryEvent::Changes { time: t, changes } => self.apply(t, &changes)?,
                QueryEvent::Progress { upper } => self.upper = self.upper.max(upper),
            }
        }
        Ok(())
    }

    fn apply(&mut self, time: Time, changes: &ChangeSet) -> Result<(), RunError> {
        for row in changes.deleted.iter().chain(changes.updated.iter().map(|(before, _)| before)) {
            let at = self.rows.iter().position(|r| r == row).ok_or_else(|| {
                RunError::Inconsistent(format!(
                    "the change set at time {time} removes a row that is not in the result: {row:?}"
                ))
            })?;
            self.rows.swap_remove(at);
        }
        self.rows.extend(changes.updated.iter().map(|(_, after)| after.clone()));
        self.rows.extend(changes.added.iter().cloned());
        Ok(())
    }
}

/// A shuffle in which every relationship comes after both of its nodes.
fn insertion_order(elements: &[Element], rng: &mut Rng) -> Vec<Element> {
    dependency_order(elements, rng, |pending, placed| match pending {
        Element::Node(_) => true,
        Element::Relationship(r) => placed.contains(&r.start) && placed.contains(&r.end),
    })
}

/// A shuffle in which every node comes after all of its relationships: the reverse of a
/// (fresh) insertion order.
fn retraction_order(elements: &[Element], rng: &mut Rng) -> Vec<Element> {
    let mut order = insertion_order(elements, rng);
    order.reverse();
    order
}

/// Shuffles, then releases each element once `ready(element, placed node ids)` holds.
fn dependency_order(
    elements: &[Element],
    rng: &mut Rng,
    ready: impl Fn(&Element, &HashSet<u64>) -> bool,
) -> Vec<Element> {
    let mut placed = HashSet::new();
    let mut out = Vec::with_capacity(elements.len());
    let mut waiting: Vec<Element> = Vec::new();
    for element in shuffled(elements, rng) {
        if !ready(&element, &placed) {
            waiting.push(element);
            continue;
        }
        if let Element::Node(n) = &element {
            placed.insert(n.id);
        }
        out.push(element);
        let (now, still): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|w| ready(w, &placed));
        waiting = still;
        out.extend(now);
    }
    out.extend(waiting);
    out
}

fn shuffled(elements: &[Element], rng: &mut Rng) -> Vec<Element> {
    let mut v = elements.to_vec();
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    v
}

/// xorshift64: a fixed, dependency-free sequence so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::Graph;
    use std::time::Duration;

    fn graph(script: &str) -> Vec<Element> {
        let mut graph = Graph::default();
        graph.execute(script).expect("setup runs");
        graph.elements()
    }

    #[test]
    fn orders_respect_relationship_endpoints() {
        let elements = graph("CREATE (a)-[:T]->(b)<-[:T]-(c)-[:T]->(a), (d)");
        let mut rng = Rng(42);
        let position = |order: &[Element], wanted: &Element| {
            order.iter().position(|e| match (e, wanted) {
                (Element::Node(n), Element::Node(w)) => n.id == w.id,
                (Element::Relationship(r), Element::Relationship(w)) => r.is(w),
                _ => false,
            })
        };
        let node = |id: u64| {
            elements.iter().find(|e| matches!(e, Element::Node(n) if n.id == id)).unwrap()
        };
        for _ in 0..20 {
            let insert = insertion_order(&elements, &mut rng);
            let retract = retraction_order(&elements, &mut rng);
            assert_eq!((insert.len(), retract.len()), (elements.len(), elements.len()));
            for element in &elements {
                let Element::Relationship(r) = element else { continue };
                for end in [node(r.start), node(r.end)] {
                    assert!(position(&insert, end) < position(&insert, element));
                    assert!(position(&retract, end) > position(&retract, element));
                }
            }
        }
    }

    #[test]
    fn every_mode_settles_on_empty_and_small_graphs() {
        let plan = QuerySpec::new("MATCH (n:L) RETURN n.v AS v");
        for script in ["CREATE ()", "CREATE (:L {v: 1})-[:T]->(:L {v: 2}), (:M {v: 3})"] {
            let elements = graph(script);
            let deadline = Instant::now() + Duration::from_secs(10);
            let Ok(bulk) = bulk(&plan, &elements, deadline) else { panic!("bulk run failed") };
            let Ok(runs) = incremental(&plan, &elements, 1, deadline) else {
                panic!("incremental run failed")
            };
            let mut rows = bulk.rows.clone();
            rows.sort();
            for mut got in
                [runs.inserted, runs.inserted_peek, runs.reinserted, runs.reinserted_peek]
            {
                got.sort();
                assert_eq!(got, rows);
            }
            assert_eq!(runs.retracted, bulk.empty);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(incremental(&plan, &[], 1, deadline).is_ok(), "an empty graph needs no waiting");
    }
}
