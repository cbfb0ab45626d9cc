//! What a query is, in a form every worker can receive: its text and its joins.
//!
//! Plans hold `Arc`s and closures-to-be, and do not travel between processes; the text does.
//! Every worker compiles it again, which is deterministic, so every worker builds the same
//! dataflow. The controller compiles it first, so a query that does not compile never
//! reaches a worker.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cypher::CypherError;
use crate::plan::{JoinSpec, QueryPlan};

/// A continuous query's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySpec {
    /// The Cypher text.
    pub text: String,
    /// Relationship types defined by property equality (a query's `joins`).
    pub joins: Vec<Join>,
}

/// A synthetic relationship type between two node labels whose properties are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The relationship type patterns use.
    pub rel_type: String,
    /// One side: (label, property).
    pub left: (String, String),
    /// The other side: (label, property).
    pub right: (String, String),
}

impl QuerySpec {
    /// A query without joins.
    pub fn new(text: impl Into<String>) -> QuerySpec {
        QuerySpec { text: text.into(), joins: Vec::new() }
    }

    /// Parses and compiles the query.
    pub fn compile(&self) -> Result<QueryPlan, CypherError> {
        let arc = |s: &str| Arc::<str>::from(s);
        let joins = self
            .joins
            .iter()
            .map(|j| JoinSpec {
                rel_type: arc(&j.rel_type),
                left: (arc(&j.left.0), arc(&j.left.1)),
                right: (arc(&j.right.0), arc(&j.right.1)),
            })
            .collect();
        crate::compile_with_joins(&self.text, joins)
    }
}
