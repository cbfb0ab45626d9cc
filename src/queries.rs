//! The service's continuous queries: compiled from config, installed in the runtime, and
//! fanned out to reactions as JSON change events.
//!
//! Worker threads must never wait on a consumer, so each query's events leave the runtime
//! through an unbounded channel into a tokio task that converts rows to JSON once and
//! broadcasts the result. Broadcast receivers that fall behind by more than
//! [`EVENT_BUFFER`] events lose events (and are told so); they never slow the engine.
//!
//! Reactions that must not lose anything (the SSE reaction's journal) take a [`feed`]
//! instead: an unbounded channel that also carries the query's progress, so they can merge
//! several queries in transaction order.
//!
//! [`feed`]: QueryEntry::feed

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ripple_dataflows::plan::{CompileOptions, JoinSpec, QueryPlan};
use ripple_dataflows::runtime::{ChangeSet, QueryEvent, Row, Runtime, Time};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::QueryConfig;

/// How many events a slow subscriber may fall behind before it misses some.
pub const EVENT_BUFFER: usize = 4096;

/// A result row as JSON: column name → value.
pub type JsonRow = Map<String, Json>;

/// One query's change at one source transaction, ready for reactions.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultEvent {
    /// The query.
    pub query_id: Arc<str>,
    /// The engine timestamp of the transaction.
    pub time: Time,
    /// Rows that appeared.
    pub added: Vec<JsonRow>,
    /// (before, after) pairs of rows whose values changed.
    pub updated: Vec<(JsonRow, JsonRow)>,
    /// Rows that disappeared.
    pub deleted: Vec<JsonRow>,
}

/// What a [feed](QueryEntry::feed) carries, in the order the engine emitted it.
#[derive(Clone, Debug)]
pub enum QueryUpdate {
    /// The result changed at `event.time`.
    Changes(Arc<ResultEvent>),
    /// The result is final for every time below `upper`: no change set at such a time
    /// follows.
    Progress {
        /// The new lower bound of times that may still change.
        upper: Time,
    },
}

/// Live counters of one query, maintained from its change sets (a query is installed before
/// any transaction, so counting from zero gives its exact row count).
#[derive(Debug, Default)]
pub struct QueryStats {
    /// Rows in the result now.
    pub rows: AtomicI64,
    /// Change sets emitted.
    pub changesets: AtomicU64,
    /// When the last change set was emitted, in milliseconds since the Unix epoch (0: never).
    pub last_update_ms: AtomicU64,
}

impl QueryStats {
    fn record(&self, event: &ResultEvent) {
        let delta = event.added.len() as i64 - event.deleted.len() as i64;
        self.rows.fetch_add(delta, Ordering::Relaxed);
        self.changesets.fetch_add(1, Ordering::Relaxed);
        self.last_update_ms.store(unix_millis(), Ordering::Relaxed);
    }
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

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
    events: broadcast::Sender<Arc<ResultEvent>>,
    feeds: Arc<Mutex<Vec<mpsc::UnboundedSender<QueryUpdate>>>>,
}

impl QueryEntry {
    /// Subscribes to the query's change events, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ResultEvent>> {
        self.events.subscribe()
    }

    /// Every change set and progress update from now on, never dropped. The consumer must
    /// keep up on average: the channel is unbounded so that the engine never waits.
    pub fn feed(&self) -> mpsc::UnboundedReceiver<QueryUpdate> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feeds.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
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

    /// Adds a query from config: compiles it and, if it auto-starts, installs it. A query that
    /// does not compile is kept as failed (visible over REST) and disturbs nothing else.
    pub fn add(&self, config: QueryConfig) {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let stats = Arc::new(QueryStats::default());
        let feeds = Arc::new(Mutex::new(Vec::new()));
        let options = CompileOptions { joins: join_specs(&config), ..Default::default() };
        let (columns, status) = match ripple_dataflows::compile_with(&config.query, &options) {
            Err(error) => {
                let error = error.render(&config.query);
                tracing::error!(message = "Query did not compile; it will not run.", query = %config.id, %error);
                (Arc::from([]), QueryStatus::Failed { error })
            }
            Ok(plan) if !config.auto_start => (plan.column_names(), QueryStatus::Stopped),
            Ok(plan) => {
                let columns = plan.column_names();
                let fanout =
                    Fanout { events: events.clone(), feeds: feeds.clone(), stats: stats.clone() };
                self.install(&config.id, plan, columns.clone(), fanout);
                (columns, QueryStatus::Running)
            }
        };
        let entry = QueryEntry { config, columns, status, stats, events, feeds };
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.config.id.clone(), Arc::new(entry));
    }

    fn install(&self, id: &str, plan: QueryPlan, columns: Arc<[Arc<str>]>, fanout: Fanout) {
        let (tx, mut rx) = mpsc::unbounded_channel::<QueryEvent>();
        let query_id: Arc<str> = Arc::from(id);
        let sink = Arc::new(move |event: QueryEvent| {
            let _ = tx.send(event);
        });
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let update = match event {
                    QueryEvent::Changes { time, changes } => {
                        let event = to_result_event(&query_id, &columns, time, changes);
                        fanout.stats.record(&event);
                        let event = Arc::new(event);
                        // No subscriber is fine: the event simply has no audience.
                        let _ = fanout.events.send(event.clone());
                        QueryUpdate::Changes(event)
                    }
                    QueryEvent::Progress { upper } => QueryUpdate::Progress { upper },
                };
                let mut feeds = fanout.feeds.lock().unwrap_or_else(|p| p.into_inner());
                feeds.retain(|feed| feed.send(update.clone()).is_ok());
            }
        });
        self.runtime
            .install(id, Arc::new(plan), sink)
            .expect("query ids are unique: config validation rejects duplicates");
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
    /// reflects (every transaction up to and including it).
    pub async fn results(&self, id: &str) -> Result<(Time, Vec<JsonRow>), ResultsError> {
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
        Ok((time, rows.iter().map(|row| to_json_row(&entry.columns, row)).collect()))
    }
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

/// Where a running query's events go.
struct Fanout {
    events: broadcast::Sender<Arc<ResultEvent>>,
    feeds: Arc<Mutex<Vec<mpsc::UnboundedSender<QueryUpdate>>>>,
    stats: Arc<QueryStats>,
}

fn to_json_row(columns: &[Arc<str>], row: &Row) -> JsonRow {
    columns.iter().zip(row).map(|(c, v)| (c.to_string(), v.to_json())).collect()
}

fn to_result_event(
    query_id: &Arc<str>,
    columns: &[Arc<str>],
    time: Time,
    changes: ChangeSet,
) -> ResultEvent {
    let json = |row: &Row| to_json_row(columns, row);
    ResultEvent {
        query_id: query_id.clone(),
        time,
        added: changes.added.iter().map(json).collect(),
        updated: changes.updated.iter().map(|(b, a)| (json(b), json(a))).collect(),
        deleted: changes.deleted.iter().map(json).collect(),
    }
}
