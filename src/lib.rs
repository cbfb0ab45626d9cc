//! ripple: live Cypher queries over PostgreSQL, maintained by differential dataflow.
//!
//! This crate is the service around the engine in `ripple-dataflows`: configuration, the
//! PostgreSQL source, reactions (SSE and log), the REST API and the wiring that runs them.
//! Dependencies point one way: the engine knows nothing of this crate.

pub mod api;
pub mod cluster;
pub mod config;
pub mod listen;
pub mod queries;
pub mod reactions;
pub mod server;
pub mod sources;
pub mod state;
