//! Rendering a [`QueryPlan`] into a query dataflow on one worker.

use std::sync::Arc;

use differential_dataflow::operators::arrange::{ShutdownButton, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::CapabilitySet;
use timely::dataflow::operators::{Exchange, Operator};
use timely::worker::Worker;

use super::sink::{ChangeSink, EventSink};
use super::{Diff, Row, RowKey, Time};
use crate::plan::QueryPlan;
use crate::value::{Node, Value};

/// Every node, keyed by label: the shared arrangement all queries import.
pub(super) type BaseTrace = TraceAgent<ValSpine<Arc<str>, Arc<Node>, Time, Diff>>;
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
    base: &mut BaseTrace,
    id: &Arc<str>,
    plan: &Arc<QueryPlan>,
    as_of: Time,
    sink: EventSink,
) -> InstalledQuery {
    let is_leader = worker.index() == 0;
    worker.dataflow_named(&format!("query {id}"), |scope| {
        let (nodes, button) = base.import_frontier(scope, "NodesByLabel");
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
