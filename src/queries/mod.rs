//! The service's continuous queries: compiled from config, installed in the runtime, and
//! fanned out to reactions as change events.
//!
//! Two jobs, two modules. The registry (`registry.rs`) decides which queries exist and run, and
//! keeps the engine in agreement with it; the fan-out (`fanout.rs`) turns each running query's
//! change sets into the events reactions receive, without ever making a worker wait. They
//! meet at install: the registry installs a query with the fan-out's sink and hands it the
//! peek taken right after.

mod fanout;
mod registry;

pub use fanout::{unix_millis, QueryResults, QueryStats, QueryUpdate, ResultEvent, EVENT_BUFFER};
pub use registry::{LifecycleError, Queries, QueryEntry, QueryStatus, ResultsError};
