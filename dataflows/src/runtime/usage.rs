//! Which properties of its nodes a query reads, so that it binds only those.
//!
//! A MATCH binds whole nodes, and rows carry them through every later join, arrangement and
//! comparison. Most queries read a few properties (`n.value`), so each node is cut down to
//! what the plan reads before it enters the query's rows: rows get smaller, and an update
//! that changes only properties the query never reads yields identical rows, which cancel at
//! the first consolidation instead of re-deriving every joined row (a branch update joined
//! to 100 000 accounts, issue 6). A node keeps its id and labels whatever is read.
//!
//! The analysis runs top-down with the rendering: an operator gets the uses of its output
//! slots and derives those of its input's slots ([`Use::input_of`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::plan::{AggregateFunction, Expr, Function, Op, PathPart, QueryPlan, Step};
use crate::schema::Schema;
use crate::value::Node;

/// What a query reads of the value bound in one slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum Use {
    /// At most a node's id and labels.
    #[default]
    Identity,
    /// These properties (and id and labels).
    Properties(BTreeSet<Arc<str>>),
    /// The whole value.
    Whole,
}

/// The uses of a row's slots, by slot.
pub(super) type Uses = Vec<Use>;

impl Use {
    fn merge(&mut self, other: Use) {
        match (&mut *self, other) {
            (Use::Whole, _) | (_, Use::Identity) => {}
            (_, Use::Whole) => *self = Use::Whole,
            (Use::Identity, other) => *self = other,
            (Use::Properties(mine), Use::Properties(theirs)) => mine.extend(theirs),
        }
    }

    /// The uses of `op`'s input slots, given those of its output slots. For a MATCH, the uses
    /// of its extended rows (input slots first, then the slots it binds).
    pub(super) fn input_of(op: &Op, output: &[Use]) -> Uses {
        match op {
            Op::Unit => Vec::new(),
            Op::Match { steps, predicate, width, .. } => {
                let mut uses = sized(output, *width);
                reads_opt(predicate.as_ref(), &mut uses);
                for step in steps {
                    if let Step::BindPath { parts, .. } = step {
                        for part in parts {
                            let slot = match part {
                                PathPart::Node(slot) | PathPart::Rel { slot, .. } => *slot,
                            };
                            mark(&mut uses, slot, Use::Whole);
                        }
                    }
                }
                uses
            }
            Op::Filter { input, predicate } => {
                let mut uses = sized(output, input.width());
                reads(predicate, &mut uses);
                uses
            }
            Op::Project { input, exprs } => {
                let mut uses = vec![Use::Identity; input.width()];
                for (expr, out) in exprs.iter().zip(output) {
                    match expr {
                        // Passed through as it is: read as the output is.
                        Expr::Slot(slot) => mark(&mut uses, *slot, out.clone()),
                        expr => reads(expr, &mut uses),
                    }
                }
                uses
            }
            Op::Aggregate { input, keys, aggregates } => {
                let mut uses = vec![Use::Identity; input.width()];
                for key in keys {
                    reads(key, &mut uses);
                }
                for aggregate in aggregates {
                    match &aggregate.argument {
                        // Counting a bound value reads only whether it is null.
                        Some(Expr::Slot(_))
                            if aggregate.function == AggregateFunction::Count
                                && !aggregate.distinct => {}
                        argument => reads_opt(argument.as_ref(), &mut uses),
                    }
                }
                uses
            }
            // Node values differ by id, so distinct rows stay distinct however cut down.
            Op::Distinct { input } => sized(output, input.width()),
            Op::Unwind { input, list } => {
                let mut uses = sized(output, input.width());
                reads(list, &mut uses);
                uses
            }
        }
    }
}

/// What a query reads of the nodes it binds, by the labels they are bound under: the same
/// analysis that decides what each node is cut down to, so a query is told about a changed
/// column exactly when the column reaches its rows.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// (labels a bound node must carry (empty: any node), what is read of it).
    bindings: Vec<(Vec<Arc<str>>, Use)>,
}

impl Reads {
    /// The reads of `plan`, including the properties its `joins` relate nodes by.
    pub fn of(plan: &QueryPlan) -> Reads {
        let mut reads = Reads::default();
        reads.op(&plan.root, &vec![Use::Whole; plan.root.width()]);
        for (label, property) in super::render::join_keys(plan) {
            let read = Use::Properties(BTreeSet::from([property]));
            reads.bindings.push((vec![label], read));
        }
        reads
    }

    /// Whether the query reads property `property` of nodes labelled `label`.
    pub fn reads(&self, label: &str, property: &str) -> bool {
        self.bindings.iter().any(|(labels, read)| {
            (labels.is_empty() || labels.iter().any(|l| &**l == label))
                && match read {
                    Use::Whole => true,
                    Use::Properties(keys) => keys.contains(property),
                    Use::Identity => false,
                }
        })
    }

    fn op(&mut self, op: &Op, uses: &[Use]) {
        let input_uses = Use::input_of(op, uses);
        match op {
            Op::Unit => {}
            Op::Match { input, steps, .. } => {
                for step in steps {
                    match step {
                        Step::ScanNodes { labels, slot } => {
                            self.bindings.push((labels.clone(), input_uses[*slot].clone()));
                        }
                        Step::Expand { to, to_bound, to_labels, nodes, .. } => {
                            if !to_bound {
                                self.bindings.push((to_labels.clone(), input_uses[*to].clone()));
                            }
                            if nodes.is_some() {
                                // The nodes a trail walks through, of any label, for a path.
                                self.bindings.push((Vec::new(), Use::Whole));
                            }
                        }
                        Step::BindPath { .. } | Step::CheckLabels { .. } => {}
                    }
                }
                self.op(input, &input_uses[..input.width()]);
            }
            Op::Filter { input, .. }
            | Op::Project { input, .. }
            | Op::Aggregate { input, .. }
            | Op::Distinct { input }
            | Op::Unwind { input, .. } => self.op(input, &input_uses),
        }
    }
}

/// Cuts nodes down to what one [`Use`] reads. Nodes of one schema all project to the same
/// smaller schema, so each schema's projection is interned once and remembered here.
#[derive(Clone)]
pub(super) struct Slimmer {
    use_: Use,
    /// (schema seen, its projection), by address; a label has few schemas.
    projections: Vec<(Arc<Schema>, Arc<Schema>)>,
}

impl Slimmer {
    pub(super) fn new(use_: &Use) -> Slimmer {
        Slimmer { use_: use_.clone(), projections: Vec::new() }
    }

    /// `node` cut down to what the use reads (its id, labels and key always stay); the same
    /// node if it has nothing more.
    pub(super) fn slim(&mut self, node: Arc<Node>) -> Arc<Node> {
        let keys = match &self.use_ {
            Use::Whole => return node,
            Use::Properties(keys) => Some(keys),
            Use::Identity => None,
        };
        let schema = node.schema();
        let projected = match self.projections.iter().find(|(s, _)| Arc::ptr_eq(s, schema)) {
            Some((_, projected)) => projected.clone(),
            None => {
                let projected = schema.project(|c| keys.is_some_and(|k| k.contains(c)));
                self.projections.push((schema.clone(), projected.clone()));
                projected
            }
        };
        if Arc::ptr_eq(&projected, schema) {
            node
        } else {
            Arc::new(node.project(projected))
        }
    }
}

/// `uses` padded or cut to `width` slots.
fn sized(uses: &[Use], width: usize) -> Uses {
    let mut uses = uses[..uses.len().min(width)].to_vec();
    uses.resize(width, Use::Identity);
    uses
}

/// Adds `what` to the use of `slot`; slots past the row (an expression's own temporary
/// slots, such as a list comprehension's variable) are not bound by a MATCH and are skipped.
fn mark(uses: &mut Uses, slot: usize, what: Use) {
    if let Some(use_) = uses.get_mut(slot) {
        use_.merge(what);
    }
}

fn reads_opt(expr: Option<&Expr>, uses: &mut Uses) {
    if let Some(expr) = expr {
        reads(expr, uses);
    }
}

/// Adds what evaluating `expr` reads.
fn reads(expr: &Expr, uses: &mut Uses) {
    let all = |exprs: &mut dyn Iterator<Item = &Expr>, uses: &mut Uses| {
        exprs.for_each(|e| reads(e, uses));
    };
    match expr {
        Expr::Literal(_) => {}
        Expr::Slot(slot) => mark(uses, *slot, Use::Whole),
        Expr::Property(inner, key) => match &**inner {
            Expr::Slot(slot) => mark(uses, *slot, Use::Properties(BTreeSet::from([key.clone()]))),
            inner => reads(inner, uses),
        },
        Expr::HasLabels(inner, _) if matches!(**inner, Expr::Slot(_)) => {}
        Expr::Call(Function::ElementId | Function::Labels, args, _)
            if matches!(args.as_slice(), [Expr::Slot(_)]) => {}
        Expr::List(items) => all(&mut items.iter(), uses),
        Expr::Map(entries) => all(&mut entries.iter().map(|(_, e)| e), uses),
        Expr::Not(e) | Expr::Neg(e) | Expr::IsNull(e, _) | Expr::HasLabels(e, _) => reads(e, uses),
        Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Xor(a, b)
        | Expr::Arith(_, a, b, _)
        | Expr::StringOp(_, a, b)
        | Expr::In(a, b)
        | Expr::Index(a, b, _) => all(&mut [&**a, &**b].into_iter(), uses),
        Expr::Compare(first, rest) => {
            reads(first, uses);
            all(&mut rest.iter().map(|(_, e)| e), uses);
        }
        Expr::Case(arms, otherwise) => {
            all(&mut arms.iter().flat_map(|(c, v)| [c, v]), uses);
            reads(otherwise, uses);
        }
        Expr::Call(_, args, _) => all(&mut args.iter(), uses),
        Expr::Slice(list, from, to) => {
            reads(list, uses);
            all(&mut from.iter().chain(to).map(|e| &**e), uses);
        }
        Expr::ListComprehension { list, predicate, projection, .. } => {
            reads(list, uses);
            all(&mut predicate.iter().chain(projection).map(|e| &**e), uses);
        }
        Expr::Quantified { list, predicate, .. } => {
            reads(list, uses);
            reads(predicate, uses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::QuerySpec;

    /// The uses of the first MATCH's extended rows.
    fn match_uses(query: &str) -> Uses {
        let plan = QuerySpec::new(query).compile().expect("compiles");
        let mut op = &plan.root;
        let mut uses = vec![Use::Whole; op.width()];
        loop {
            let input_uses = Use::input_of(op, &uses);
            match op {
                Op::Match { input, .. } if **input == Op::Unit => return input_uses,
                Op::Match { input, .. } => {
                    uses = input_uses[..input.width()].to_vec();
                    op = input;
                }
                Op::Filter { input, .. }
                | Op::Project { input, .. }
                | Op::Aggregate { input, .. }
                | Op::Distinct { input }
                | Op::Unwind { input, .. } => {
                    uses = input_uses;
                    op = input;
                }
                Op::Unit => panic!("no MATCH in {query}"),
            }
        }
    }

    fn props(keys: &[&str]) -> Use {
        Use::Properties(keys.iter().map(|k| Arc::from(*k)).collect())
    }

    #[test]
    fn a_node_is_cut_down_to_the_properties_read() {
        assert_eq!(
            match_uses("MATCH (a:A)-[:R]->(b:B) WHERE a.x > 1 RETURN b.y AS y, a.z AS z")[0],
            props(&["x", "z"])
        );
        assert_eq!(
            match_uses("MATCH (a:A)-[:R]->(b:B) WITH a, b.y AS y RETURN a.x AS x, y")[2],
            props(&["y"])
        );
        assert_eq!(
            match_uses("MATCH (a:A)-[:R]->(b) RETURN elementId(a) AS a, b")[0],
            Use::Identity
        );
        assert_eq!(match_uses("MATCH (a:A)-[:R]->(b) RETURN elementId(a) AS a, b")[2], Use::Whole);
        assert_eq!(match_uses("MATCH (a:A) RETURN keys(a) AS k")[0], Use::Whole);
    }

    #[test]
    fn reads_name_the_properties_that_reach_a_query_by_label() {
        let reads = |q: &str| Reads::of(&QuerySpec::new(q).compile().expect("compiles"));
        let filter = reads("MATCH (m:metrics) WHERE m.value > 1 RETURN m.name AS n");
        assert!(filter.reads("metrics", "value") && filter.reads("metrics", "name"));
        assert!(!filter.reads("metrics", "unit"), "not read");
        assert!(!filter.reads("alerts", "value"), "another label");
        let whole = reads("MATCH (m:metrics) RETURN m");
        assert!(whole.reads("metrics", "unit"), "RETURN m reads every column");
        let any = reads("MATCH (a:A)-[:R]->(b) RETURN b.x AS x, count(a) AS n");
        assert!(any.reads("Z", "x"), "b may carry any label");
        assert!(!any.reads("A", "y"));
        let keyed = reads("MATCH (a:A) RETURN elementId(a) AS id");
        assert!(!keyed.reads("A", "x"), "an id reads no property");
    }

    #[test]
    fn slimming_keeps_id_labels_key_and_the_properties_read() {
        let names = |n: &[&str]| n.iter().map(|n| Arc::from(*n)).collect::<Vec<Arc<str>>>();
        let schema = Schema::intern(&names(&["A"]), &names(&["k", "x", "y"]), &["k"], "A");
        let values = [1, 2, 3].map(crate::value::Value::Int).to_vec();
        let node = Arc::new(Node::new(7, schema, values));
        let slim = Slimmer::new(&props(&["y", "w"])).slim(node.clone());
        assert_eq!((slim.id, slim.labels()), (node.id, node.labels()));
        assert_eq!(slim.properties().map(|(k, _)| &**k).collect::<Vec<_>>(), ["k", "y"]);
        assert_eq!(slim.element_id(), "A:1");
        assert!(Arc::ptr_eq(&Slimmer::new(&props(&["x", "y"])).slim(node.clone()), &node));
        assert_eq!(Slimmer::new(&Use::Identity).slim(node).values().len(), 1);
    }
}
