//! The queries the service knows: their definitions, which of them run, and the lifecycle
//! (add, create, remove, start, stop) that changes that.
//!
//! The registry and the engine must agree on which queries are installed, so every change
//! holds the registry's lock across the runtime call it makes: lifecycle requests cannot
//! interleave between the two. A query from the config file that does not compile is kept,
//! as failed, so the mistake is visible over REST and disturbs no other query; one added at
//! runtime is refused and changes nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ripple_dataflows::plan::{CompileOptions, JoinSpec, QueryPlan};
use ripple_dataflows::runtime::{
    ArrangementRecords, QuerySpec, Reads, Runtime, RuntimeError, Time,
};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::fanout::{self, Fanout};
use super::{QueryResults, QueryStats, QueryUpdate, ResultEvent};
use crate::config::QueryConfig;
use crate::sources::ColumnReport;

/// Whether a query runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum QueryStatus {
    /// Installed and maintained.
    Running,
    /// Not started (`auto_start: false`).
    Stopped,
    /// Did not compile; the rendered, located error says why.
    Failed {
        /// The error, with line:column and a caret under the problem.
        error: String,
    },
}

/// A query known to the service.
pub struct QueryEntry {
    /// Its configuration.
    pub config: QueryConfig,
    /// Column names in order (empty if it failed to compile).
    pub columns: Arc<[Arc<str>]>,
    /// Whether it runs.
    pub status: QueryStatus,
    /// Its counters.
    pub stats: Arc<QueryStats>,
    fanout: Fanout,
}

impl QueryEntry {
    /// The same query with another status; subscribers and feeds carry over.
    fn with_status(&self, status: QueryStatus) -> QueryEntry {
        QueryEntry {
            config: self.config.clone(),
            columns: self.columns.clone(),
            status,
            stats: self.stats.clone(),
            fanout: self.fanout.clone(),
        }
    }

    /// Subscribes to the query's change events, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ResultEvent>> {
        self.fanout.subscribe()
    }

    /// Every change set and progress update from now on, never dropped. The consumer must
    /// keep up on average: the channel is unbounded so that the engine never waits.
    pub fn feed(&self) -> mpsc::UnboundedReceiver<QueryUpdate> {
        self.fanout.feed()
    }
}

/// Errors reading query results.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// No query with that id.
    #[error("query '{0}' does not exist")]
    NotFound(String),
    /// The query exists but is not running.
    #[error("query '{id}' is not running: {reason}")]
    NotRunning {
        /// The query.
        id: String,
        /// Why.
        reason: String,
    },
    /// The engine failed to answer.
    #[error("reading results of query '{id}' failed: {reason}")]
    Engine {
        /// The query.
        id: String,
        /// Why.
        reason: String,
    },
}

/// Why a query could not be added, started, stopped or removed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A query with that id exists.
    #[error("query '{0}' already exists")]
    AlreadyExists(String),
    /// No query with that id.
    #[error("query '{0}' does not exist")]
    NotFound(String),
    /// The query does not compile.
    #[error("query '{id}' does not compile:\n{error}")]
    Compile {
        /// The query.
        id: String,
        /// The rendered, located error.
        error: String,
    },
    /// The engine refused (it has stopped, or it disagrees about which queries exist).
    #[error("the engine refused: {0}")]
    Engine(String),
}

/// All queries of the service.
pub struct Queries {
    runtime: Arc<Runtime>,
    epoch: u64,
    entries: RwLock<BTreeMap<String, Arc<QueryEntry>>>,
}

impl Queries {
    /// An empty set of queries on `runtime`. `epoch` names this process's line of engine
    /// times (they restart at 1 in every process); see [`crate::reactions::position`].
    pub fn new(runtime: Arc<Runtime>, epoch: u64) -> Queries {
        Queries { runtime, epoch, entries: RwLock::new(BTreeMap::new()) }
    }

    /// This process's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The time of the last transaction applied to the engine (0 before the first).
    pub fn last_time(&self) -> Time {
        self.runtime.next_time() - 1
    }

    /// Adds a query from the config file: compiles it and, if it auto-starts, installs it. A
    /// query that does not compile is kept as failed (visible over REST) and disturbs nothing
    /// else.
    pub fn add(&self, config: QueryConfig) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = self.admit(config);
        if let QueryStatus::Failed { error } = &entry.status {
            tracing::error!(message = "Query did not compile; it will not run.", query = %entry.config.id, %error);
        }
        entries.insert(entry.config.id.clone(), Arc::new(entry));
    }

    /// Updates held in the engine's arrangements, per query and for the shared input graph.
    pub fn arrangement_records(&self) -> ArrangementRecords {
        self.runtime.arrangement_records()
    }

    /// Adds a query at runtime (`POST /api/v1/queries`). A query that does not compile, or
    /// whose id is taken, changes nothing. A running query's current result is available at
    /// once; its change sets continue from the transaction it was installed at.
    pub fn create(&self, config: QueryConfig) -> Result<Arc<QueryEntry>, LifecycleError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.contains_key(&config.id) {
            return Err(LifecycleError::AlreadyExists(config.id));
        }
        let entry = self.admit(config);
        if let QueryStatus::Failed { error } = entry.status {
            return Err(LifecycleError::Compile { id: entry.config.id, error });
        }
        let entry = Arc::new(entry);
        entries.insert(entry.config.id.clone(), entry.clone());
        tracing::info!(message = "Query added.", query = %entry.config.id, status = ?entry.status);
        Ok(entry)
    }

    /// Removes a query and, if it runs, its dataflow. Its feeds end.
    pub fn remove(&self, id: &str) -> Result<(), LifecycleError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.remove(id).ok_or_else(|| LifecycleError::NotFound(id.to_string()))?;
        if entry.status == QueryStatus::Running {
            self.runtime.remove(id).map_err(|e| LifecycleError::Engine(e.to_string()))?;
        }
        tracing::info!(message = "Query removed.", query = %id);
        Ok(())
    }

    /// Starts a stopped query: installs it as if it were new. Starting a running query does
    /// nothing.
    pub fn start(&self, id: &str) -> Result<Arc<QueryEntry>, LifecycleError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(id).ok_or_else(|| LifecycleError::NotFound(id.to_string()))?;
        match &entry.status {
            QueryStatus::Running => return Ok(entry.clone()),
            QueryStatus::Failed { error } => {
                return Err(LifecycleError::Compile { id: id.to_string(), error: error.clone() })
            }
            QueryStatus::Stopped => {}
        }
        self.install(id, spec(&entry.config), entry.columns.clone(), entry.fanout.clone())?;
        let started = Arc::new(entry.with_status(QueryStatus::Running));
        entries.insert(id.to_string(), started.clone());
        tracing::info!(message = "Query started.", query = %id);
        Ok(started)
    }

    /// Stops a running query: removes its dataflow and keeps its definition. Stopping a
    /// query that does not run does nothing.
    pub fn stop(&self, id: &str) -> Result<Arc<QueryEntry>, LifecycleError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(id).ok_or_else(|| LifecycleError::NotFound(id.to_string()))?;
        if entry.status != QueryStatus::Running {
            return Ok(entry.clone());
        }
        self.runtime.remove(id).map_err(|e| LifecycleError::Engine(e.to_string()))?;
        let stopped = Arc::new(entry.with_status(QueryStatus::Stopped));
        entries.insert(id.to_string(), stopped.clone());
        tracing::info!(message = "Query stopped.", query = %id);
        Ok(stopped)
    }

    /// Compiles `config` and installs it if it auto-starts. A query that does not compile
    /// (or that the engine refuses) comes back failed, with the rendered error.
    fn admit(&self, config: QueryConfig) -> QueryEntry {
        let plan = match compile(&config) {
            Ok(plan) => plan,
            Err(error) => return new_entry(config, Arc::from([]), QueryStatus::Failed { error }),
        };
        let columns = plan.column_names();
        if !config.auto_start {
            return new_entry(config, columns, QueryStatus::Stopped);
        }
        let entry = new_entry(config, columns.clone(), QueryStatus::Running);
        match self.install(&entry.config.id, spec(&entry.config), columns, entry.fanout.clone()) {
            Ok(()) => entry,
            Err(error) => entry.with_status(QueryStatus::Failed { error: error.to_string() }),
        }
    }

    /// Installs the query and starts the task that hands its events to subscribers,
    /// counting rows from a peek taken right after installing.
    fn install(
        &self,
        id: &str,
        spec: QuerySpec,
        columns: Arc<[Arc<str>]>,
        fanout: Fanout,
    ) -> Result<(), LifecycleError> {
        let (sink, events) = fanout::channel();
        let engine = |e: RuntimeError| LifecycleError::Engine(e.to_string());
        self.runtime.install(id, spec, sink).map_err(engine)?;
        let (peeked, start) = oneshot::channel();
        self.runtime.peek(id, Box::new(move |rows| drop(peeked.send(rows)))).map_err(engine)?;
        fanout.spawn(Arc::from(id), columns, events, start);
        Ok(())
    }

    /// A source reports an ALTER TABLE change to a column. Each query that takes the table
    /// from that source (`nodes` empty or naming its label) and reads the column (the plan's
    /// [`Reads`]: what reaches its rows, so `RETURN n` reads every column) keeps running and
    /// reports the change as its `last_error`, with a warning in the log.
    pub fn column_changed(&self, report: &ColumnReport) {
        for entry in self.all() {
            let takes_table = entry.config.sources.iter().any(|source| {
                source.source_id == report.source_id
                    && (source.nodes.is_empty() || source.nodes.contains(&report.label))
            });
            let reads = || {
                compile(&entry.config)
                    .is_ok_and(|plan| Reads::of(&plan).reads(&report.label, &report.column))
            };
            if !takes_table || !reads() {
                continue;
            }
            let error = format!(
                "source '{}', table '{}': {}",
                report.source_id, report.label, report.message
            );
            tracing::warn!(message = "A column the query reads changed.", query = %entry.config.id, %error);
            *entry.stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        }
    }

    /// The query, if it exists.
    pub fn get(&self, id: &str) -> Option<Arc<QueryEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// Every query, by id.
    pub fn all(&self) -> Vec<Arc<QueryEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The query's current result, read from its result arrangement, and the engine time it
    /// reflects.
    pub async fn results(&self, id: &str) -> Result<QueryResults, ResultsError> {
        let entry = self.get(id).ok_or_else(|| ResultsError::NotFound(id.to_string()))?;
        match &entry.status {
            QueryStatus::Running => {}
            QueryStatus::Stopped => {
                return Err(ResultsError::NotRunning {
                    id: id.into(),
                    reason: "it is stopped".into(),
                })
            }
            QueryStatus::Failed { error } => {
                return Err(ResultsError::NotRunning { id: id.into(), reason: error.clone() })
            }
        }
        let (tx, rx) = oneshot::channel();
        self.runtime
            .peek(id, Box::new(move |rows| drop(tx.send(rows))))
            .map_err(|e| ResultsError::Engine { id: id.into(), reason: e.to_string() })?;
        let (time, rows) = rx
            .await
            .map_err(|_| ResultsError::Engine {
                id: id.into(),
                reason: "the engine stopped".into(),
            })?
            .map_err(|reason| ResultsError::Engine { id: id.into(), reason })?;
        Ok(QueryResults { time, columns: entry.columns.clone(), rows })
    }
}

/// A fresh entry: no subscribers yet, counters at zero.
fn new_entry(config: QueryConfig, columns: Arc<[Arc<str>]>, status: QueryStatus) -> QueryEntry {
    let stats = Arc::new(QueryStats::default());
    let fanout = Fanout::new(stats.clone());
    QueryEntry { config, columns, status, stats, fanout }
}

/// Compiles the query with its joins; a failure is rendered with line:column and a caret.
fn compile(config: &QueryConfig) -> Result<QueryPlan, String> {
    spec(config).compile().map_err(|error| error.render(&config.query))
}

/// The query as the engine takes it: its text and its joins.
fn spec(config: &QueryConfig) -> QuerySpec {
    let options = CompileOptions { joins: join_specs(config), ..Default::default() };
    QuerySpec { text: config.query.clone(), options }
}

/// The query's `joins` as the engine's synthetic relationship types.
fn join_specs(config: &QueryConfig) -> Vec<JoinSpec> {
    config
        .joins
        .iter()
        .filter_map(|join| match join.keys.as_slice() {
            [a, b] => Some(JoinSpec {
                rel_type: Arc::from(join.id.as_str()),
                left: (Arc::from(a.label.as_str()), Arc::from(a.property.as_str())),
                right: (Arc::from(b.label.as_str()), Arc::from(b.property.as_str())),
            }),
            // Config validation guarantees exactly two keys.
            _ => None,
        })
        .collect()
}
