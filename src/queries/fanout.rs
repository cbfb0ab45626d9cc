//! Each running query's change sets → the events reactions receive.
//!
//! Worker threads must never wait on a consumer, so each query's events leave the runtime
//! through an unbounded channel into a tokio task that broadcasts them, with the query's
//! column names, as engine rows: each reaction writes the JSON it sends straight from them
//! (see [`ripple_dataflows::json`]), so no intermediate form is built here. Broadcast
//! receivers that fall behind by more than [`EVENT_BUFFER`] events lose events (and are told
//! so); they never slow the engine.
//!
//! Reactions that must not lose anything (the SSE reaction's journal) take a [`feed`]
//! instead: an unbounded channel that also carries the query's progress, so they can merge
//! several queries in transaction order.
//!
//! [`feed`]: crate::queries::QueryEntry::feed

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ripple_dataflows::runtime::{ChangeSet, EventSink, QueryEvent, Row, Time};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many events a slow subscriber may fall behind before it misses some.
pub const EVENT_BUFFER: usize = 4096;

/// One query's change at one source transaction, shared (in an `Arc`) by every reaction.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultEvent {
    /// The query.
    pub query_id: Arc<str>,
    /// The engine timestamp of the transaction.
    pub time: Time,
    /// The query's column names, naming the values of every row of `changes`.
    pub columns: Arc<[Arc<str>]>,
    /// The rows that appeared, changed and disappeared, as the engine emitted them.
    pub changes: ChangeSet,
}

/// A query's whole result at one engine time.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResults {
    /// The time the rows reflect: every transaction up to and including it.
    pub time: Time,
    /// The query's column names.
    pub columns: Arc<[Arc<str>]>,
    /// The rows, in no particular order.
    pub rows: Vec<Row>,
}

/// What a [feed](crate::queries::QueryEntry::feed) carries, in the order the engine emitted
/// it.
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

/// Live counters of one query, and its last problem. The row count starts from a peek taken
/// when the query is installed, so it is exact for queries added while data already exists.
#[derive(Debug, Default)]
pub struct QueryStats {
    /// The last change to its input that the query cannot follow (a column it reads was
    /// dropped, renamed or retyped); it keeps running.
    pub last_error: Mutex<Option<String>>,
    /// Rows in the result now.
    pub rows: AtomicI64,
    /// Change sets emitted.
    pub changesets: AtomicU64,
    /// When the last change set was emitted, in milliseconds since the Unix epoch (0: never).
    pub last_update_ms: AtomicU64,
}

impl QueryStats {
    /// Counts a change set; its rows only if the starting peek did not already include it.
    fn record(&self, event: &ResultEvent, count_rows: bool) {
        if count_rows {
            let delta = event.changes.added.len() as i64 - event.changes.deleted.len() as i64;
            self.rows.fetch_add(delta, Ordering::Relaxed);
        }
        self.changesets.fetch_add(1, Ordering::Relaxed);
        self.last_update_ms.store(unix_millis(), Ordering::Relaxed);
    }
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The channel a query's events leave the engine through: the sink to install the query
/// with, which never blocks a worker, and its receiving end for [`Fanout::spawn`].
pub(super) fn channel() -> (EventSink, mpsc::UnboundedReceiver<QueryEvent>) {
    let (tx, rx) = mpsc::unbounded_channel::<QueryEvent>();
    let sink = Arc::new(move |event: QueryEvent| {
        let _ = tx.send(event);
    });
    (sink, rx)
}

/// Where a query's events go: its broadcast subscribers, its feeds and its counters. Shared
/// by every install of the query, so subscribers and feeds outlive a stop and start.
#[derive(Clone)]
pub(super) struct Fanout {
    events: broadcast::Sender<Arc<ResultEvent>>,
    feeds: Arc<Mutex<Vec<mpsc::UnboundedSender<QueryUpdate>>>>,
    stats: Arc<QueryStats>,
}

impl Fanout {
    /// No subscribers yet; events are counted in `stats`.
    pub(super) fn new(stats: Arc<QueryStats>) -> Fanout {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Fanout { events, feeds: Arc::new(Mutex::new(Vec::new())), stats }
    }

    /// Subscribes to the query's change events, from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<ResultEvent>> {
        self.events.subscribe()
    }

    /// Every change set and progress update from now on, never dropped.
    pub(super) fn feed(&self) -> mpsc::UnboundedReceiver<QueryUpdate> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feeds.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// Starts the task that hands the query's engine events to subscribers and feeds. `start` answers the peek taken right after installing: its rows seed the row
    /// count, and change sets at times it reflects are not counted again.
    pub(super) fn spawn(
        self,
        query_id: Arc<str>,
        columns: Arc<[Arc<str>]>,
        mut rx: mpsc::UnboundedReceiver<QueryEvent>,
        start: oneshot::Receiver<Result<(Time, Vec<Row>), String>>,
    ) {
        tokio::spawn(async move {
            // Change sets at times the peek reflects are already in its row count.
            let counted = match start.await {
                Ok(Ok((time, rows))) => {
                    self.stats.rows.store(rows.len() as i64, Ordering::Relaxed);
                    time
                }
                _ => 0,
            };
            while let Some(event) = rx.recv().await {
                let update = match event {
                    QueryEvent::Changes { time, changes } => {
                        let columns = columns.clone();
                        let event =
                            ResultEvent { query_id: query_id.clone(), time, columns, changes };
                        self.stats.record(&event, time > counted);
                        let event = Arc::new(event);
                        // No subscriber is fine: the event simply has no audience.
                        let _ = self.events.send(event.clone());
                        QueryUpdate::Changes(event)
                    }
                    QueryEvent::Progress { upper } => QueryUpdate::Progress { upper },
                };
                let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
                feeds.retain(|feed| feed.send(update.clone()).is_ok());
            }
        });
    }
}
