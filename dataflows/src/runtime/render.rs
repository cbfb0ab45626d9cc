//! Rendering a [`QueryPlan`] into a query dataflow on one worker.
//!
//! Every operator of the plan becomes a collection of `(identity, row)` pairs (see
//! [`crate::plan`] for what identities are). Patterns read the shared base arrangements
//! (imported once per query) and join per step; the result is arranged by identity, which is
//! what peeks read and what the change sink pairs updates by.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, ShutdownButton, TraceAgent};
use differential_dataflow::operators::Iterate;
use differential_dataflow::trace::implementations::{ValBatcher, ValSpine};
use differential_dataflow::trace::wrappers::frontier::TraceFrontier;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::{CapabilitySet, Exchange, Operator, ToStream};
use timely::dataflow::Scope;
use timely::progress::Antichain;
use timely::worker::Worker;

use super::join_keys::{JoinKey, KeyTrace};
use super::sink::{ChangeSink, EventSink};
use super::usage::{Slimmer, Use};
use super::{Diff, KeyedRow, Row, RowKey, Time};
use crate::aggregate::{aggregate, kept_argument};
use crate::cypher::ast::Direction;
use crate::eval::EvalError;
use crate::plan::{Expr, JoinSpec, Op, PathPart, QueryPlan, Step};
use crate::value::{Element, Node, Path, RelId, Relationship, Value};

/// Every node, keyed by label (unlabelled nodes under `""`): shared by all queries.
pub(super) type NodeTrace = TraceAgent<ValSpine<Arc<str>, Arc<Node>, Time, Diff>>;
/// Every relationship, keyed by type: shared by all queries.
pub(super) type RelTrace = TraceAgent<ValSpine<Arc<str>, Arc<Relationship>, Time, Diff>>;
/// A query's output, keyed by row identity: the arrangement peeks read.
pub(super) type ResultTrace = TraceAgent<ValSpine<RowKey, Row, Time, Diff>>;

type Rows<'s> = VecCollection<'s, Time, KeyedRow, Diff>;
/// A relationship keyed by the node it is followed from, with the node it leads to.
type OrientedRel = (u64, (Arc<Relationship>, u64));
/// Shuts an import down, which lets timely retire the dataflow that holds it.
pub(super) type Button = ShutdownButton<CapabilitySet<Time>>;

/// The shared arrangements of the input graph, built once per worker.
pub(super) struct Base {
    pub(super) nodes: NodeTrace,
    pub(super) rels: RelTrace,
}

impl Base {
    /// Arranges the input: each node once per label, each relationship by its type.
    pub(super) fn build(elements: VecCollection<'_, Time, Element, Diff>) -> Base {
        let nodes = elements.clone().flat_map(|element| match element {
            Element::Node(node) if node.labels().is_empty() => vec![(Arc::from(""), node)],
            Element::Node(node) => {
                node.labels().iter().map(|l| (l.clone(), node.clone())).collect()
            }
            Element::Relationship(_) => Vec::new(),
        });
        let rels = elements.flat_map(|element| match element {
            Element::Relationship(rel) => Some((rel.rel_type.clone(), rel)),
            Element::Node(_) => None,
        });
        Base {
            nodes: arrange_spread(nodes, |node| node.id.hashed(), "NodesByLabel"),
            rels: arrange_spread(rels, |rel| rel.hashed(), "RelsByType"),
        }
    }

    /// Lets the traces forget distinctions between times before `frontier`.
    pub(super) fn compact(&mut self, frontier: &Antichain<Time>) {
        self.nodes.set_logical_compaction(frontier.borrow());
        self.nodes.set_physical_compaction(frontier.borrow());
        self.rels.set_logical_compaction(frontier.borrow());
        self.rels.set_physical_compaction(frontier.borrow());
    }
}

/// Arranges elements by label (or type), spread over the workers by element id rather than
/// by the key: one label's elements then live on every worker, and so does the work of every
/// query on them, up to its first exchange. Nothing joins on these arrangements directly
/// (queries read them batch by batch), so they need not be partitioned by key.
fn arrange_spread<E: ExchangeData + Send + Sync>(
    pairs: VecCollection<'_, Time, (Arc<str>, Arc<E>), Diff>,
    spread: fn(&E) -> u64,
    name: &str,
) -> TraceAgent<ValSpine<Arc<str>, Arc<E>, Time, Diff>> {
    let by_id =
        ExchangePact::new(move |((_, e), _, _): &((Arc<str>, Arc<E>), Time, Diff)| spread(e));
    arrange_core::<_, _, ValBatcher<_, _, _, _>, _>(pairs.inner, by_id, name, ValBatcher::new).trace
}

/// A query dataflow on one worker.
pub(super) struct InstalledQuery {
    pub(super) results: ResultTrace,
    /// The shared join-key arrangements it imports, to give back when it is removed.
    pub(super) join_keys: Vec<JoinKey>,
    buttons: Vec<Button>,
}

impl InstalledQuery {
    /// Retires the dataflow: with its imports shut down and the result handle dropped, timely
    /// completes it and removes it on its own. Returns the join keys it used.
    pub(super) fn retire(mut self) -> Vec<JoinKey> {
        for button in &mut self.buttons {
            button.press();
        }
        self.join_keys
    }
}

/// The join sides a plan reads: those of every `joins` entry whose relationship type one of
/// its patterns can follow.
pub(super) fn join_keys(plan: &QueryPlan) -> Vec<JoinKey> {
    let mut followed: Vec<&[Arc<str>]> = Vec::new();
    expanded_types(&plan.root, &mut followed);
    let mut keys: Vec<JoinKey> = plan
        .joins
        .iter()
        .filter(|j| followed.iter().any(|types| types.is_empty() || types.contains(&j.rel_type)))
        .flat_map(|j| [j.left.clone(), j.right.clone()])
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The relationship types of every expansion in `op` and its inputs.
fn expanded_types<'p>(op: &'p Op, out: &mut Vec<&'p [Arc<str>]>) {
    match op {
        Op::Unit => {}
        Op::Match { input, steps, .. } => {
            for step in steps {
                if let Step::Expand { types, .. } = step {
                    out.push(types);
                }
            }
            expanded_types(input, out);
        }
        Op::Filter { input, .. }
        | Op::Project { input, .. }
        | Op::Aggregate { input, .. }
        | Op::Distinct { input }
        | Op::Unwind { input, .. } => expanded_types(input, out),
    }
}

/// Builds the query's dataflow, importing the base arrangements and the shared join-key
/// arrangements (`keyed`, see [`join_keys`]) as of their compaction frontier.
pub(super) fn install(
    worker: &mut Worker,
    base: &mut Base,
    keyed: BTreeMap<JoinKey, KeyTrace>,
    id: &Arc<str>,
    plan: &Arc<QueryPlan>,
    as_of: Time,
    sink: EventSink,
) -> InstalledQuery {
    let is_leader = worker.index() == 0;
    let join_keys = keyed.keys().cloned().collect();
    worker.dataflow_named(&format!("query {id}"), |scope| {
        let mut renderer = Renderer {
            scope,
            base,
            joins: plan.joins.clone(),
            keyed,
            imported_keys: BTreeMap::new(),
            nodes: None,
            rels: None,
            buttons: Vec::new(),
            errors: ErrorLog { query: id.clone(), count: 0 },
            is_leader,
        };
        // Everything a query returns is read whole.
        let rows = renderer.op(&plan.root, &vec![Use::Whole; plan.root.width()]);
        let results = rows.clone().arrange_by_key_named("Results").trace;
        // The change sink reads the rows before they are arranged: it consolidates each
        // timestamp itself, so reading them back out of the arrangement would only copy them.
        let mut changes = ChangeSink::new(as_of, is_leader, sink);
        rows.inner.exchange(|_| 0).sink(Pipeline, "ChangeSink", move |(input, frontier)| {
            input.for_each(|_, data| changes.absorb(data.drain(..)));
            changes.emit_complete(frontier.frontier());
        });
        InstalledQuery { results, join_keys, buttons: renderer.buttons }
    })
}

/// Logs evaluation failures of one query without flooding: the first, then every 1000th.
#[derive(Clone)]
struct ErrorLog {
    query: Arc<str>,
    count: u64,
}

impl ErrorLog {
    /// A failing row is left out of the result. Evaluation is deterministic, so the row is
    /// left out both when inserted and when retracted, and the result stays consistent.
    fn record(&mut self, error: &EvalError) {
        if self.count.is_multiple_of(1000) {
            tracing::warn!(
                message = "Query evaluation failed; the row is left out of the result.",
                query = %self.query,
                %error,
                failures = self.count + 1
            );
        }
        self.count += 1;
    }

    fn ok<T>(&mut self, result: Result<T, EvalError>) -> Option<T> {
        result.map_err(|e| self.record(&e)).ok()
    }
}

struct Renderer<'s, 'b> {
    scope: Scope<'s, Time>,
    base: &'b mut Base,
    joins: Vec<JoinSpec>,
    /// The shared join-key arrangements this query may import.
    keyed: BTreeMap<JoinKey, KeyTrace>,
    imported_keys: BTreeMap<JoinKey, Arranged<'s, TraceFrontier<KeyTrace>>>,
    nodes: Option<Arranged<'s, TraceFrontier<NodeTrace>>>,
    rels: Option<Arranged<'s, TraceFrontier<RelTrace>>>,
    buttons: Vec<Button>,
    errors: ErrorLog,
    is_leader: bool,
}

impl<'s> Renderer<'s, '_> {
    /// Renders `op`, whose output slots are read as `uses` says.
    fn op(&mut self, op: &Op, uses: &[Use]) -> Rows<'s> {
        let input_uses = Use::input_of(op, uses);
        match op {
            Op::Unit => self.constant(vec![(Vec::new(), Vec::new())]),
            Op::Match { input, steps, distinct_rels, predicate, optional, width } => {
                let rows = self.op(input, &input_uses[..input.width()]);
                self.match_op(
                    rows,
                    **input == Op::Unit,
                    input.identity_len(),
                    input.width(),
                    steps,
                    &input_uses,
                    distinct_rels,
                    predicate,
                    *optional,
                    *width,
                )
            }
            Op::Filter { input, predicate } => {
                let rows = self.op(input, &input_uses);
                self.filter(rows, predicate.clone())
            }
            Op::Project { input, exprs } => {
                let rows = self.op(input, &input_uses);
                let exprs = exprs.clone();
                let mut errors = self.errors.clone();
                rows.flat_map(move |(ident, row)| {
                    let values: Result<Row, _> = exprs.iter().map(|e| e.eval(&row)).collect();
                    errors.ok(values).map(|values| (ident, values))
                })
            }
            Op::Aggregate { input, keys, aggregates } => {
                let rows = self.op(input, &input_uses);
                let (keys, aggs) = (keys.clone(), aggregates.clone());
                let mut errors = self.errors.clone();
                let grouped = rows.flat_map(move |(_, row)| {
                    let key: Result<Row, _> = keys.iter().map(|e| e.eval(&row)).collect();
                    let args: Result<Row, _> = aggs
                        .iter()
                        .map(|a| match &a.argument {
                            None => Ok(Value::Null),
                            Some(e) => e.eval(&row).map(|v| kept_argument(a, v)),
                        })
                        .collect();
                    errors.ok(key.and_then(|k| args.map(|a| (k, Some(a)))))
                });
                // A key-less aggregate has exactly one row even for no input: a placeholder
                // keeps its (empty-keyed) group alive from the start.
                let grouped = if op_keys_empty(op) {
                    grouped.concat(self.constant(vec![(Vec::new(), None)]))
                } else {
                    grouped
                };
                let aggregates = aggregates.clone();
                grouped
                    .reduce_named("Aggregate", move |_key, rows, out: &mut Vec<(Row, Diff)>| {
                        out.push((aggregate(&aggregates, rows), 1));
                    })
                    .map(|(key, values)| {
                        let row = key.iter().cloned().chain(values).collect();
                        (key, row)
                    })
            }
            Op::Distinct { input } => self
                .op(input, &input_uses)
                .map(|(_, row)| row)
                .distinct_core::<Diff>()
                .map(|row| (row.clone(), row)),
            Op::Unwind { input, list } => {
                let rows = self.op(input, &input_uses);
                let list = list.clone();
                let mut errors = self.errors.clone();
                rows.flat_map(move |(ident, row)| {
                    let items = match errors.ok(list.eval(&row)) {
                        Some(Value::List(items)) => items.to_vec(),
                        Some(Value::Null) | None => Vec::new(),
                        Some(other) => vec![other],
                    };
                    items.into_iter().enumerate().map(move |(i, item)| {
                        let mut ident = ident.clone();
                        ident.push(Value::Int(i as i64));
                        let mut row = row.clone();
                        row.push(item);
                        (ident, row)
                    })
                })
            }
        }
    }

    /// A collection holding `rows` from the start (time 0, before any query's `as_of`, so they
    /// are part of its initial state rather than a change). Only worker 0 holds them.
    fn constant<D: differential_dataflow::ExchangeData>(
        &self,
        rows: Vec<D>,
    ) -> VecCollection<'s, Time, D, Diff> {
        let rows = if self.is_leader { rows } else { Vec::new() };
        rows.into_iter().map(|d| (d, 0, 1)).to_stream(self.scope).as_collection()
    }

    fn filter(&mut self, rows: Rows<'s>, predicate: Expr) -> Rows<'s> {
        let mut errors = self.errors.clone();
        rows.filter(move |(_, row)| errors.ok(predicate.eval_predicate(row)) == Some(Some(true)))
    }

    fn nodes(&mut self) -> Arranged<'s, TraceFrontier<NodeTrace>> {
        if self.nodes.is_none() {
            let (arranged, button) = self.base.nodes.import_frontier(self.scope, "NodesByLabel");
            self.buttons.push(button);
            self.nodes = Some(arranged);
        }
        self.nodes.clone().expect("imported above")
    }

    fn rels(&mut self) -> Arranged<'s, TraceFrontier<RelTrace>> {
        if self.rels.is_none() {
            let (arranged, button) = self.base.rels.import_frontier(self.scope, "RelsByType");
            self.buttons.push(button);
            self.rels = Some(arranged);
        }
        self.rels.clone().expect("imported above")
    }

    /// Every node carrying all `labels`, once each.
    fn nodes_with(&mut self, labels: &[Arc<str>]) -> VecCollection<'s, Time, Arc<Node>, Diff> {
        let labels = labels.to_vec();
        self.nodes().flat_map_ref(move |key, node| {
            let wanted = match labels.first() {
                // Read each node under its first wanted label only.
                Some(first) => **key == **first && labels.iter().all(|l| node.has_label(l)),
                // All nodes: each under its first label (or "" if it has none).
                None => node.labels().first().map_or(key.is_empty(), |l| l == key),
            };
            wanted.then(|| node.clone())
        })
    }

    /// Every node carrying all `labels`, bound alone: identity its id, row the node, cut
    /// down to what `use_` reads.
    fn scan(&mut self, labels: &[Arc<str>], use_: &Use) -> Rows<'s> {
        let mut slimmer = Slimmer::new(use_);
        self.nodes_with(labels).map(move |node| {
            (vec![Value::Int(node.id as i64)], vec![Value::Node(slimmer.slim(node))])
        })
    }

    /// Every stored relationship of one of `types` (any type if empty).
    fn rels_with(
        &mut self,
        types: &[Arc<str>],
    ) -> VecCollection<'s, Time, Arc<Relationship>, Diff> {
        let wanted = types.to_vec();
        self.rels().flat_map_ref(move |key, rel| {
            (wanted.is_empty() || wanted.contains(key)).then(|| rel.clone())
        })
    }

    /// The relationships a join defines: both directions for every related pair. Both sides
    /// come from the shared join-key arrangements, so the join itself arranges nothing.
    fn join_rels(&mut self, join: &JoinSpec) -> VecCollection<'s, Time, Arc<Relationship>, Diff> {
        let left = self.keyed_by_property(&join.left);
        let right = self.keyed_by_property(&join.right);
        let rel_type = join.rel_type.clone();
        left.join_core(right, move |_, a, b| {
            let rel = |start: &u64, end: &u64| {
                Arc::new(Relationship {
                    id: RelId::Joined,
                    rel_type: rel_type.clone(),
                    start: *start,
                    end: *end,
                    properties: Default::default(),
                })
            };
            [rel(a, b), rel(b, a)]
        })
    }

    /// Node ids of a label keyed by their non-null value of a property: the shared
    /// arrangement, imported once per query.
    fn keyed_by_property(&mut self, key: &JoinKey) -> Arranged<'s, TraceFrontier<KeyTrace>> {
        if let Some(imported) = self.imported_keys.get(key) {
            return imported.clone();
        }
        let trace =
            self.keyed.get_mut(key).expect("install acquires every join key the plan follows");
        let (arranged, button) = trace.import_frontier(self.scope, "JoinKey");
        self.buttons.push(button);
        self.imported_keys.insert(key.clone(), arranged.clone());
        arranged
    }

    #[allow(clippy::too_many_arguments)]
    fn match_op(
        &mut self,
        input: Rows<'s>,
        input_is_unit: bool,
        input_identity: usize,
        input_width: usize,
        steps: &[Step],
        uses: &[Use],
        distinct_rels: &[usize],
        predicate: &Option<Expr>,
        optional: bool,
        width: usize,
    ) -> Rows<'s> {
        // A first MATCH that starts with a scan binds the scanned nodes themselves: the
        // product with the single empty row would arrange every node again, per query.
        let (mut rows, steps) = match steps.split_first() {
            Some((Step::ScanNodes { labels, slot }, rest)) if input_is_unit => {
                // A lone scan keeps whole nodes: nothing in this MATCH arranges its rows, so
                // cutting nodes down would only cost an allocation per node.
                let use_ = if rest.is_empty() { &Use::Whole } else { &uses[*slot] };
                (self.scan(labels, use_), rest)
            }
            _ => (input.clone(), steps),
        };
        for step in steps {
            rows = self.step(rows, step, uses);
        }
        if distinct_rels.len() > 1 {
            let slots = distinct_rels.to_vec();
            rows = rows.filter(move |(_, row)| {
                let mut rels = Vec::new();
                for slot in &slots {
                    rels_in(&row[*slot], &mut rels);
                }
                rels.iter().enumerate().all(|(i, a)| rels[i + 1..].iter().all(|b| !a.is(b)))
            });
        }
        if let Some(predicate) = predicate {
            rows = self.filter(rows, predicate.clone());
        }
        if !optional {
            return rows;
        }
        // OPTIONAL MATCH: input rows with no match survive, padded with nulls.
        let matched = rows
            .clone()
            .map(move |(ident, _)| ident[..input_identity].to_vec())
            .distinct_core::<Diff>();
        let new_slots = width - input_width;
        let unmatched = input.antijoin(matched).map(move |(mut ident, mut row)| {
            ident.extend(std::iter::repeat_n(Value::Null, new_slots));
            row.extend(std::iter::repeat_n(Value::Null, new_slots));
            (ident, row)
        });
        rows.concat(unmatched)
    }

    /// Extends `rows` by one step; `uses` says what is read of each slot of the MATCH's rows.
    fn step(&mut self, rows: Rows<'s>, step: &Step, uses: &[Use]) -> Rows<'s> {
        match step {
            Step::ScanNodes { labels, slot } => {
                let nodes = self.scan(labels, &uses[*slot]).map(|bound| ((), bound));
                rows.map(|r| ((), r)).join_map(nodes, |_, (ident, row), (node_ident, node_row)| {
                    let ident = ident.iter().chain(node_ident).cloned().collect();
                    let row = row.iter().chain(node_row).cloned().collect();
                    (ident, row)
                })
            }
            Step::BindPath { parts, .. } => {
                let parts = parts.clone();
                rows.map(move |(mut ident, mut row)| {
                    let path = build_path(&parts, &row).map_or(Value::Null, Value::Path);
                    ident.push(Value::Null);
                    row.push(path);
                    (ident, row)
                })
            }
            Step::CheckLabels { slot, labels } => {
                let (slot, labels) = (*slot, labels.clone());
                rows.filter(move |(_, row)| match &row[slot] {
                    Value::Node(n) => labels.iter().all(|l| n.has_label(l)),
                    _ => false,
                })
            }
            Step::Expand {
                from, to_bound, types, direction, to_labels, to, length, nodes, ..
            } => {
                let from = *from;
                let keyed = rows.flat_map(move |(ident, row)| match &row[from] {
                    Value::Node(n) => Some((n.id, (ident, row))),
                    _ => None,
                });
                // (other end's id, extended row)
                let expanded = match length {
                    None => {
                        let oriented = self.oriented_rels(types, *direction);
                        keyed.join_map(oriented, |_, (ident, row), (rel, other)| {
                            let mut ident = ident.clone();
                            // Both ends' ids are in the identity already (the start bound
                            // before, the end bound next), so a joined relationship is
                            // identified there by its type alone, without an allocation.
                            ident.push(match rel.id {
                                RelId::Joined => Value::Str(rel.rel_type.clone()),
                                RelId::Stored(_) => rel.ident(),
                            });
                            let mut row = row.clone();
                            row.push(Value::Relationship(rel.clone()));
                            (*other, (ident, row))
                        })
                    }
                    Some((min, max)) => {
                        self.trails(keyed, types, *direction, (*min, *max), nodes.is_some())
                    }
                };
                if *to_bound {
                    let (to, labels) = (*to, to_labels.clone());
                    expanded.flat_map(move |(other, (ident, row))| match &row[to] {
                        Value::Node(n)
                            if n.id == other && labels.iter().all(|l| n.has_label(l)) =>
                        {
                            Some((ident, row))
                        }
                        _ => None,
                    })
                } else {
                    let mut slimmer = Slimmer::new(&uses[*to]);
                    let nodes = self.nodes_with(to_labels).map(move |n| (n.id, slimmer.slim(n)));
                    expanded.join_map(nodes, |_, (ident, row), node| {
                        let mut ident = ident.clone();
                        ident.push(Value::Int(node.id as i64));
                        let mut row = row.clone();
                        row.push(Value::Node(node.clone()));
                        (ident, row)
                    })
                }
            }
        }
    }

    /// Walks trails (no relationship twice) of `min..=max` relationships from each row's node,
    /// in differential's iterative scope: each round extends every trail by one step. Returns
    /// the node each trail ends at, with the row extended by the list of relationships walked
    /// and, `with_nodes`, the list of nodes walked through (for a path variable).
    fn trails(
        &mut self,
        keyed: VecCollection<'s, Time, (u64, KeyedRow), Diff>,
        types: &[Arc<str>],
        direction: Direction,
        (min, max): (u64, Option<u64>),
        with_nodes: bool,
    ) -> VecCollection<'s, Time, (u64, KeyedRow), Diff> {
        let oriented = self.oriented_rels(types, direction);
        let by_id = if with_nodes {
            self.nodes_with(&[]).map(|n| (n.id, n))
        } else {
            self.constant(Vec::new())
        };
        let seeds = keyed.map(|(at, (ident, row))| (at, (ident, row, Trail::default())));
        let max = max.unwrap_or(u64::MAX);
        let start = seeds.clone();
        let walked = seeds.iterate(move |scope, trails| {
            let stepped = trails
                .filter(move |(_, (_, _, trail))| (trail.rels.len() as u64) < max)
                .join_map(oriented.enter(scope), |_, (ident, row, trail), (rel, other)| {
                    if trail.rels.iter().any(|r| r.is(rel)) {
                        return None;
                    }
                    let mut trail = trail.clone();
                    trail.rels.push(rel.clone());
                    Some((*other, (ident.clone(), row.clone(), trail)))
                })
                .flat_map(|step| step);
            let stepped = if with_nodes {
                stepped.join_map(by_id.enter(scope), |at, (ident, row, trail), node| {
                    let mut trail = trail.clone();
                    trail.nodes.push(node.clone());
                    (*at, (ident.clone(), row.clone(), trail))
                })
            } else {
                stepped
            };
            stepped.concat(start.enter(scope)).distinct_core::<Diff>()
        });
        walked.filter(move |(_, (_, _, trail))| trail.rels.len() as u64 >= min).map(
            move |(at, (mut ident, mut row, trail))| {
                let ids = trail.rels.iter().map(|r| r.ident()).collect();
                ident.push(Value::List(ids));
                row.push(Value::List(trail.rels.into_iter().map(Value::Relationship).collect()));
                if with_nodes {
                    ident.push(Value::Null);
                    row.push(Value::List(trail.nodes.into_iter().map(Value::Node).collect()));
                }
                (at, (ident, row))
            },
        )
    }

    /// Relationships keyed by the node they are followed from, with the node they lead to.
    /// An undirected pattern follows each stored relationship both ways, but a self-loop only
    /// once. Synthetic join relationships exist in both directions already, so every pattern
    /// direction follows them forwards only: each related pair matches once from each side.
    fn oriented_rels(
        &mut self,
        types: &[Arc<str>],
        direction: Direction,
    ) -> VecCollection<'s, Time, OrientedRel, Diff> {
        let outgoing = |r: Arc<Relationship>| (r.start, (r.clone(), r.end));
        let incoming = |r: Arc<Relationship>| (r.end, (r.clone(), r.start));
        let rels = self.rels_with(types);
        let mut oriented = match direction {
            Direction::Outgoing => rels.map(outgoing),
            Direction::Incoming => rels.map(incoming),
            Direction::Either => {
                rels.clone().map(outgoing).concat(rels.filter(|r| r.start != r.end).map(incoming))
            }
        };
        let joins: Vec<JoinSpec> = self
            .joins
            .iter()
            .filter(|j| types.is_empty() || types.contains(&j.rel_type))
            .cloned()
            .collect();
        for join in joins {
            let synthetic = self.join_rels(&join).map(outgoing);
            oriented = oriented.concat(synthetic);
        }
        oriented
    }
}

fn op_keys_empty(op: &Op) -> bool {
    matches!(op, Op::Aggregate { keys, .. } if keys.is_empty())
}

/// A trail being walked: the relationships so far and the nodes after the start.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
struct Trail {
    rels: Vec<Arc<Relationship>>,
    nodes: Vec<Arc<Node>>,
}

/// The path a path variable binds, from the row's slots; `None` if any part is null.
fn build_path(parts: &[PathPart], row: &[Value]) -> Option<Arc<Path>> {
    let mut path = Path { nodes: Vec::new(), relationships: Vec::new() };
    // A zero-length variable-length part ends where it started: its end node is already there.
    let mut empty_part = false;
    for part in parts {
        match part {
            PathPart::Node(slot) => match &row[*slot] {
                Value::Node(_) if std::mem::take(&mut empty_part) => {}
                Value::Node(n) => path.nodes.push(n.clone()),
                _ => return None,
            },
            PathPart::Rel { slot, nodes, reversed } => {
                let mut rels: Vec<Arc<Relationship>> = match &row[*slot] {
                    Value::Relationship(r) => vec![r.clone()],
                    Value::List(items) => items
                        .iter()
                        .map(|v| match v {
                            Value::Relationship(r) => Some(r.clone()),
                            _ => None,
                        })
                        .collect::<Option<_>>()?,
                    _ => return None,
                };
                // The walked nodes include the trail's last node, which the next part adds.
                let mut walked: Vec<Arc<Node>> = match nodes.map(|s| &row[s]) {
                    Some(Value::List(items)) => items
                        .iter()
                        .map(|v| match v {
                            Value::Node(n) => Some(n.clone()),
                            _ => None,
                        })
                        .collect::<Option<_>>()?,
                    _ => Vec::new(),
                };
                walked.pop();
                empty_part = rels.is_empty();
                if *reversed {
                    rels.reverse();
                    walked.reverse();
                }
                for (i, rel) in rels.into_iter().enumerate() {
                    path.relationships.push(rel);
                    if let Some(node) = walked.get(i) {
                        path.nodes.push(node.clone());
                    }
                }
            }
        }
    }
    Some(Arc::new(path))
}

/// Adds the relationships a relationship slot holds: one, a list (variable length) or none
/// (null, from an OPTIONAL MATCH).
fn rels_in<'v>(v: &'v Value, out: &mut Vec<&'v Relationship>) {
    match v {
        Value::Relationship(r) => out.push(r),
        Value::List(items) => items.iter().for_each(|item| rels_in(item, out)),
        _ => {}
    }
}
