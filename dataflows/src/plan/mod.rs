//! Query plans: what a compiled continuous query computes, independent of how it is rendered.
//!
//! A plan is produced by [`compile`] from the syntax tree and consumed by the runtime, which
//! renders it into a differential dataflow. A plan is a tree of [`Op`]s over *binding rows*:
//! each row is a vector of values in numbered slots (one per variable in scope), and every
//! expression ([`Expr`]) refers to slots, never to names.
//!
//! Row identity is part of the contract. Every row carries an identity, and consumers pair a
//! retraction and an insertion with the same identity at one timestamp into an *update*:
//! * after MATCH: the element ids of everything bound so far (whether returned or not), with
//!   `null` for what an OPTIONAL MATCH did not bind;
//! * after UNWIND: the identity of the row unwound, plus the element's position in the list;
//! * after WITH/RETURN without aggregation: unchanged;
//! * after aggregation: the grouping key values;
//! * after DISTINCT: the row's values.
//!
//! Within one relation identities are unique, so a result row's identity names it.

mod compile;
mod expr;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use compile::compile;
pub use expr::{ArithOp, Expr, Function, StringOp};

use ordered_float::OrderedFloat;
use serde::{Deserialize, Serialize};

use crate::cypher::ast::Direction;
use crate::value::Value;

/// A compiled continuous query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// The operator tree producing the result rows; a row's slots are the columns, in order.
    pub root: Op,
    /// Column names, one per slot of the root's rows.
    pub columns: Vec<Arc<str>>,
    /// Relationship types derived from property equality (a query's `joins` config), for
    /// sources that have no relationships of their own.
    pub joins: Vec<JoinSpec>,
}

/// Everything besides the query text that compilation depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileOptions {
    /// Values of `$name` parameters: a continuous query's parameters are fixed when it is
    /// installed, so they compile to constants.
    pub parameters: BTreeMap<String, Value>,
    /// Synthetic relationship types (a query's `joins` config).
    pub joins: Vec<JoinSpec>,
}

/// A synthetic relationship type: nodes `a` (label `left.0`) and `b` (label `right.0`) are
/// related, in both directions, when `a[left.1] = b[right.1]` (non-null, same value).
///
/// Each related pair yields relationships `a→b` and `b→a` with element ids `"{a}:{b}"`, as
/// Drasi does, so the arrow direction in a pattern does not matter; an undirected pattern
/// matches a pair once from each side, exactly like a directed one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// The relationship type.
    pub rel_type: Arc<str>,
    /// (label, property) of one side.
    pub left: (Arc<str>, Arc<str>),
    /// (label, property) of the other side.
    pub right: (Arc<str>, Arc<str>),
}

impl QueryPlan {
    /// The column names in order.
    pub fn column_names(&self) -> Arc<[Arc<str>]> {
        self.columns.iter().cloned().collect()
    }
}

/// An operator producing a relation of binding rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A single empty row: the input of the first clause.
    Unit,
    /// Matches patterns for every input row, appending the newly bound slots.
    Match {
        /// Rows to extend.
        input: Box<Op>,
        /// Steps that bind new slots, in order.
        steps: Vec<Step>,
        /// Relationship slots bound by this MATCH: pairwise distinct (relationship
        /// uniqueness).
        distinct_rels: Vec<usize>,
        /// The WHERE predicate (and inline property maps), over the extended row.
        predicate: Option<Expr>,
        /// OPTIONAL MATCH: input rows without any match are kept, new slots null.
        optional: bool,
        /// How many slots the extended rows have.
        width: usize,
    },
    /// Keeps rows whose predicate is `true`.
    Filter {
        /// Rows to filter.
        input: Box<Op>,
        /// The predicate.
        predicate: Expr,
    },
    /// Replaces each row by the values of `exprs` (identity unchanged).
    Project {
        /// Rows to project.
        input: Box<Op>,
        /// New slots, in order.
        exprs: Vec<Expr>,
    },
    /// Groups rows by `keys` and computes `aggregates` per group. Output rows are the key
    /// values followed by the aggregate values; identity is the key values. With no keys there
    /// is always exactly one row, even for no input.
    Aggregate {
        /// Rows to group.
        input: Box<Op>,
        /// Grouping expressions.
        keys: Vec<Expr>,
        /// Aggregates, in order.
        aggregates: Vec<Aggregate>,
    },
    /// Keeps one row per distinct value vector (identity becomes the values).
    Distinct {
        /// Rows to deduplicate.
        input: Box<Op>,
    },
    /// Appends one slot bound to each element of `list` (no rows for an empty list or null).
    Unwind {
        /// Rows to unwind.
        input: Box<Op>,
        /// The list expression.
        list: Expr,
    },
}

/// One binding step of a MATCH.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Binds `slot` to every node carrying all `labels` (cartesian product with the rows).
    ScanNodes {
        /// The new slot.
        slot: usize,
        /// Required labels.
        labels: Vec<Arc<str>>,
    },
    /// Follows relationships from the node in `from`, binding the relationship to `rel` and
    /// the node at its other end to `to` (or checking it equals `to` if `to` is bound).
    Expand {
        /// The bound node to start from.
        from: usize,
        /// The new relationship slot.
        rel: usize,
        /// The other node's slot.
        to: usize,
        /// Whether `to` is already bound (then the step checks instead of binding).
        to_bound: bool,
        /// Allowed types; empty = any.
        types: Vec<Arc<str>>,
        /// Direction relative to `from`.
        direction: Direction,
        /// Labels the other node must carry.
        to_labels: Vec<Arc<str>>,
        /// `None` for one relationship; `Some((min, max))` for a variable-length pattern,
        /// whose slot then holds the list of relationships walked (a trail: no relationship
        /// twice). `max: None` is unbounded.
        length: Option<(u64, Option<u64>)>,
        /// For a variable-length pattern under a path variable: the slot (right after `rel`)
        /// that receives the nodes walked, after `from` (including the last one).
        nodes: Option<usize>,
    },
    /// Binds `slot` to the path made of `parts` (null if any part is null).
    BindPath {
        /// The path variable's slot.
        slot: usize,
        /// The path's nodes and relationships in written order.
        parts: Vec<PathPart>,
    },
    /// Checks that the node already bound in `slot` carries `labels`.
    CheckLabels {
        /// The bound slot.
        slot: usize,
        /// Required labels.
        labels: Vec<Arc<str>>,
    },
}

/// A piece of a path variable's pattern, in written order.
#[derive(Clone, Debug, PartialEq)]
pub enum PathPart {
    /// The node in `slot`.
    Node(usize),
    /// The relationship (or, for a variable-length pattern, the list of relationships) in
    /// `slot`; `nodes` holds a variable-length pattern's walked nodes; `reversed` when the
    /// pattern was matched right to left, so the lists run against the written order.
    Rel {
        /// The relationship slot.
        slot: usize,
        /// The walked nodes' slot, for a variable-length pattern.
        nodes: Option<usize>,
        /// Matched right to left.
        reversed: bool,
    },
}

/// An aggregating function call.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Which function.
    pub function: AggregateFunction,
    /// Its argument (`None` for `count(*)`).
    pub argument: Option<Expr>,
    /// `DISTINCT` inside the call.
    pub distinct: bool,
}

/// The aggregating functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `count(x)` / `count(*)`
    Count,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Avg,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `collect(x)`
    Collect,
    /// `percentileCont(x, p)`: the `p`-th percentile, interpolated between values.
    PercentileCont(OrderedFloat<f64>),
    /// `percentileDisc(x, p)`: the `p`-th percentile, one of the values.
    PercentileDisc(OrderedFloat<f64>),
}

impl AggregateFunction {
    /// A percentile function with its percentile set; other functions unchanged.
    pub fn with_percentile(self, p: f64) -> AggregateFunction {
        match self {
            AggregateFunction::PercentileCont(_) => AggregateFunction::PercentileCont(p.into()),
            AggregateFunction::PercentileDisc(_) => AggregateFunction::PercentileDisc(p.into()),
            other => other,
        }
    }
}

impl Op {
    /// How many slots this operator's rows have.
    pub fn width(&self) -> usize {
        match self {
            Op::Unit => 0,
            Op::Match { width, .. } => *width,
            Op::Filter { input, .. } | Op::Distinct { input } => input.width(),
            Op::Project { exprs, .. } => exprs.len(),
            Op::Aggregate { keys, aggregates, .. } => keys.len() + aggregates.len(),
            Op::Unwind { input, .. } => input.width() + 1,
        }
    }

    /// How many values this operator's row identities have (the same for every row).
    pub fn identity_len(&self) -> usize {
        match self {
            Op::Unit => 0,
            Op::Match { input, width, .. } => input.identity_len() + (width - input.width()),
            Op::Filter { input, .. } | Op::Project { input, .. } => input.identity_len(),
            Op::Aggregate { keys, .. } => keys.len(),
            Op::Distinct { input } => input.width(),
            Op::Unwind { input, .. } => input.identity_len() + 1,
        }
    }
}
