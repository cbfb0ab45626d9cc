//! Query plans: what a compiled continuous query computes, independent of how it is rendered.
//!
//! A plan is produced by [`compile`] from the syntax tree and consumed by the runtime, which
//! renders it into a differential dataflow. Plans hold resolved expressions ([`Expr`]) in
//! which variables are slots of a binding row, so evaluation never looks names up.
//!
//! Row identity is part of the plan's contract: every output row carries a key (the element
//! ids of everything the MATCH bound, whether returned or not). Consumers pair the retraction
//! and insertion of one key at one timestamp into an *update*, as Drasi does.

mod compile;
mod expr;

use std::sync::Arc;

pub use compile::compile;
pub use expr::{ArithOp, Expr, Function, StringOp};

/// A compiled continuous query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// The nodes scanned: `MATCH (variable:label)`; binding slot 0.
    pub scan: LabelScan,
    /// The WHERE predicate (inline property maps are folded in): rows where it is not `true`
    /// are dropped.
    pub filter: Option<Expr>,
    /// The RETURN columns, in order.
    pub columns: Vec<Column>,
}

/// `MATCH (variable:label)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelScan {
    /// The variable name, for diagnostics.
    pub variable: Arc<str>,
    /// The label the node must carry.
    pub label: Arc<str>,
}

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The column name, as it appears in result rows (see [`compile`] for naming rules).
    pub name: Arc<str>,
    /// The value.
    pub expr: Expr,
}

impl QueryPlan {
    /// The labels this query reads, so sources can be checked against the query's config.
    pub fn labels(&self) -> Vec<Arc<str>> {
        vec![self.scan.label.clone()]
    }

    /// The column names in order.
    pub fn column_names(&self) -> Arc<[Arc<str>]> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}
