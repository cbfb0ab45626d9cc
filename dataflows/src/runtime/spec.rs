//! What a query is, in a form every worker can receive: its text and its joins.
//!
//! Plans hold `Arc`s and closures-to-be, and do not travel between processes; the text does.
//! Every worker compiles it again, which is deterministic, so every worker builds the same
//! dataflow. The controller compiles it first, so a query that does not compile never
//! reaches a worker.

use serde::{Deserialize, Serialize};

use crate::cypher::CypherError;
use crate::plan::{CompileOptions, QueryPlan};

/// A continuous query's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySpec {
    /// The Cypher text.
    pub text: String,
    /// Parameter values and join-derived relationship types.
    pub options: CompileOptions,
}

impl QuerySpec {
    /// A query without parameters or joins.
    pub fn new(text: impl Into<String>) -> QuerySpec {
        QuerySpec { text: text.into(), options: CompileOptions::default() }
    }

    /// Parses and compiles the query.
    pub fn compile(&self) -> Result<QueryPlan, CypherError> {
        crate::compile_with(&self.text, &self.options)
    }
}
