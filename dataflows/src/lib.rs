//! ripple's query engine: Cypher text in, incrementally maintained results out.
//!
//! The crate knows nothing of PostgreSQL, HTTP or tokio. Sources hand it transactions of node
//! changes; it hands back, per query, one change set per transaction that changed the result,
//! and answers "current result" lookups from arrangements.
//!
//! * [`cypher`]: text → syntax tree, with located errors.
//! * [`plan`]: syntax tree → [`plan::QueryPlan`], rejecting what cannot run.
//! * [`eval`]: openCypher expression semantics.
//! * [`runtime`]: timely workers that maintain the plans as differential dataflows.
#![warn(missing_docs)]

pub mod aggregate;
pub mod cypher;
pub mod decimal;
pub mod eval;
pub mod json;
pub mod plan;
pub mod runtime;
pub mod schema;
pub mod value;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testing;

pub use schema::Schema;
pub use value::{Element, Node, RelId, Relationship, Value};

/// Parses and compiles a continuous query.
pub fn compile(text: &str) -> Result<plan::QueryPlan, cypher::CypherError> {
    compile_with(text, &plan::CompileOptions::default())
}

/// Parses and compiles a continuous query with parameter values and synthetic relationship
/// types ([`plan::CompileOptions`]).
pub fn compile_with(
    text: &str,
    options: &plan::CompileOptions,
) -> Result<plan::QueryPlan, cypher::CypherError> {
    plan::compile(text, &cypher::parse(text)?, options)
}
