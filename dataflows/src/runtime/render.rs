//! Rendering a [`QueryPlan`] into a query dataflow on one worker.

use std::sync::Arc;

use differential_dataflow::operators::arrange::{ShutdownButton, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::CapabilitySet;
use timely::dataflow::operators::{Exchange, Operator};
use timely::progress::Antichain;
use timely::worker::Worker;

use super::sink::{ChangeSink, EventSink};
use super::{Diff, Row, RowKey, Time};
use crate::plan::QueryPlan;
use crate::value::{Element, Node, Relationship, Value};

/// Every node, keyed by label (unlabelled nodes under `""`): shared by all queries.
pub(super) type NodeTrace = TraceAgent<ValSpine<Arc<str>, Arc<Node>, Time, Diff>>;
/// Every relationship, keyed by type: shared by all queries.
pub(super) type RelTrace = TraceAgent<ValSpine<Arc<str>, Arc<Relationship>, Time, Diff>>;

/// The shared arrangements of the input graph, built once per worker.
pub(super) struct Base {
    pub(super) nodes: NodeTrace,
    pub(super) rels: RelTrace,
}

impl Base {
    /// Arranges the input: each node once per label, each relationship by its type.
    pub(super) fn build(elements: VecCollection<'_, Time, Element, Diff>) -> Base {
        let nodes = elements
            .clone()
            .flat_map(|element| match element {
                Element::Node(node) if node.labels.is_empty() => vec![(Arc::from(""), node)],
                Element::Node(node) => {
                    node.labels.iter().map(|l| (l.clone(), node.clone())).collect()
                }
                Element::Relationship(_) => Vec::new(),
            })
            .arrange_by_key_named("NodesByLabel")
            .trace;
        let rels = elements
            .flat_map(|element| match element {
                Element::Relationship(rel) => Some((rel.rel_type.clone(), rel)),
                Element::Node(_) => None,
            })
            .arrange_by_key_named("RelsByType")
            .trace;
        Base { nodes, rels }
    }

    /// Lets the traces forget distinctions between times before `frontier`.
    pub(super) fn compact(&mut self, frontier: &Antichain<Time>) {
        self.nodes.set_logical_compaction(frontier.borrow());
        self.nodes.set_physical_compaction(frontier.borrow());
        self.rels.set_logical_compaction(frontier.borrow());
        self.rels.set_physical_compaction(frontier.borrow());
    }
}
/// A query's output, keyed by row identity: the arrangement peeks read.
pub(super) type ResultTrace = TraceAgent<ValSpine<RowKey, Row, Time, Diff>>;

/// A query dataflow on one worker.
pub(super) struct InstalledQuery {
    pub(super) results: ResultTrace,
    button: ShutdownButton<CapabilitySet<Time>>,
}

impl InstalledQuery {
    /// Retires the dataflow: with its only import shut down and the result handle dropped,
    /// timely completes it and removes it on its own.
    pub(super) fn retire(mut self) {
        self.button.press();
    }
}

/// Builds the query's dataflow, importing the base arrangement as of its compaction frontier.
pub(super) fn install(
    worker: &mut Worker,
    base: &mut Base,
    id: &Arc<str>,
    plan: &Arc<QueryPlan>,
    as_of: Time,
    sink: EventSink,
) -> InstalledQuery {
    let is_leader = worker.index() == 0;
    worker.dataflow_named(&format!("query {id}"), |scope| {
        let (nodes, button) = base.nodes.import_frontier(scope, "NodesByLabel");
        let label = plan.scan.label.clone();
        let mut evaluate = RowEvaluator::new(id.clone(), plan.clone());
        let arranged = nodes
            .flat_map_ref(move |l, node| (**l == *label).then(|| node.clone()))
            .flat_map(move |node| evaluate.row(node))
            .arrange_by_key_named("Results");
        let results = arranged.trace.clone();
        let mut changes = ChangeSink::new(as_of, is_leader, sink);
        arranged.as_collection(|key, row| (key.clone(), row.clone())).inner.exchange(|_| 0).sink(
            Pipeline,
            "ChangeSink",
            move |(input, frontier)| {
                input.for_each(|_, data| changes.absorb(data.drain(..)));
                changes.emit_complete(frontier.frontier());
            },
        );
        InstalledQuery { results, button }
    })
}

/// Evaluates WHERE and RETURN for one binding; lives inside a `flat_map` closure.
struct RowEvaluator {
    query: Arc<str>,
    plan: Arc<QueryPlan>,
    errors: u64,
}

impl RowEvaluator {
    fn new(query: Arc<str>, plan: Arc<QueryPlan>) -> RowEvaluator {
        RowEvaluator { query, plan, errors: 0 }
    }

    /// The output row for a matched node, or `None` if the WHERE rejects it or evaluation
    /// fails. Failures are logged (the first, then every 1000th) rather than panicking the
    /// worker; a failing row is absent from the result both when inserted and retracted, since
    /// evaluation is deterministic.
    fn row(&mut self, node: Arc<Node>) -> Option<(RowKey, Row)> {
        let key = vec![Value::Str(node.id.clone())];
        let binding = [Value::Node(node)];
        let evaluated = (|| {
            if let Some(filter) = &self.plan.filter {
                if filter.eval_predicate(&binding)? != Some(true) {
                    return Ok(None);
                }
            }
            let row = self
                .plan
                .columns
                .iter()
                .map(|c| c.expr.eval(&binding))
                .collect::<Result<Row, _>>()?;
            Ok(Some((key, row)))
        })();
        evaluated.unwrap_or_else(|error: crate::eval::EvalError| {
            if self.errors.is_multiple_of(1000) {
                tracing::warn!(
                    message = "Query evaluation failed; the row is left out of the result.",
                    query = %self.query,
                    %error,
                    failures = self.errors + 1
                );
            }
            self.errors += 1;
            None
        })
    }
}
