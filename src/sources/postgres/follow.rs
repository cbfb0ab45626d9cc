//! Following the change stream: transactions applied whole and in commit order, positions
//! made durable and acknowledged, and lag measured.
//!
//! A transaction's messages are collected until its Commit and only then applied, to the
//! rows and to the engine at once, with no await in between. So wherever the stream stops
//! (a dropped connection, a shutdown), the rows, the engine and the position agree, and the
//! transaction the server sends again after a reconnect is applied exactly once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgwire_replication::{Lsn, ReplicationClient, ReplicationEvent};
use ripple_dataflows::runtime::Runtime;

use super::checkpoint::Checkpoints;
use super::pgoutput::{self, Message};
use super::tables::Tables;
use super::PgSourceError;
use crate::sources::{ColumnListener, ColumnReport, SourceStatus};

/// How often the server's WAL position is read for the lag. Between two readings the lag is
/// updated on every applied transaction and keep-alive, so it falls as ripple catches up.
const LAG_INTERVAL: Duration = Duration::from_millis(250);

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The open transaction: its messages so far.
struct Transaction {
    /// Commit LSN.
    final_lsn: Lsn,
    commit_time_micros: i64,
    messages: Vec<Message>,
}

/// What the lag is computed from, kept between measurements.
#[derive(Default)]
struct Lag {
    /// The newest WAL position the server is known to have: read every [`LAG_INTERVAL`], or
    /// sent in a keep-alive.
    server: Lsn,
    /// Commit time of the last applied transaction.
    last_commit: Option<i64>,
    /// Whether the server has said, since the last applied transaction, that nothing more is
    /// pending (an idle keep-alive).
    caught_up: bool,
}

impl Lag {
    /// Reports how far `applied` is behind the server: in bytes of WAL, and, while behind, in
    /// seconds since the commit of the last applied transaction (0 when caught up).
    fn report(&self, applied: Lsn, status: &SourceStatus) {
        let bytes = self.server.as_u64().saturating_sub(applied.as_u64());
        let seconds = match self.last_commit {
            Some(commit) if bytes > 0 && !self.caught_up => seconds_since(commit),
            _ => 0.0,
        };
        status.lag(bytes, seconds);
    }
}

/// Everything the stream updates, borrowed from the source for one session.
pub(super) struct Follower<'a> {
    pub source_id: &'a str,
    pub runtime: &'a Runtime,
    /// Hears of column changes that break queries.
    pub columns: &'a ColumnListener,
    pub status: &'a SourceStatus,
    pub tables: &'a mut Tables,
    pub checkpoints: &'a mut Checkpoints,
    /// End LSN of the last applied transaction (or a later idle position).
    pub applied: &'a mut Lsn,
}

impl Follower<'_> {
    /// Applies committed transactions until the stream fails.
    pub(super) async fn run(
        mut self,
        client: &mut ReplicationClient,
        sql: &tokio_postgres::Client,
    ) -> Result<(), PgSourceError> {
        let mut open: Option<Transaction> = None;
        let mut measure = tokio::time::interval(LAG_INTERVAL);
        measure.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lag = Lag::default();
        loop {
            let event = tokio::select! {
                biased;
                next = self.checkpoints.next(*self.applied) => {
                    match next? {
                        Some(durable) => self.checkpoints.acknowledge(durable, client, self.status),
                        None => self.checkpoints.start(self.tables, *self.applied),
                    }
                    continue;
                }
                _ = measure.tick() => {
                    let current: String =
                        sql.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
                    let current = Lsn::parse(&current).map_err(|error| {
                        PgSourceError::Transient(format!("unreadable WAL position: {error}"))
                    })?;
                    lag.server = lag.server.max(current);
                    lag.report(*self.applied, self.status);
                    continue;
                }
                event = client.recv() => event?,
            };
            let Some(event) = event else {
                return Err(PgSourceError::Transient("the replication stream ended".into()));
            };
            match event {
                ReplicationEvent::Begin { final_lsn, commit_time_micros, .. } => {
                    lag.caught_up = false;
                    open =
                        Some(Transaction { final_lsn, commit_time_micros, messages: Vec::new() });
                }
                ReplicationEvent::XLogData { data, .. } => {
                    let message = pgoutput::decode(&data).map_err(|error| {
                        PgSourceError::Fatal(format!("could not decode pgoutput: {error}"))
                    })?;
                    match open.as_mut() {
                        Some(transaction) => transaction.messages.push(message),
                        None if matches!(message, Message::Relation(_) | Message::Type { .. }) => {
                            let mut updates = Vec::new();
                            self.tables.apply(message, &mut updates)?;
                            self.tables.end_transaction();
                            if !updates.is_empty() {
                                self.runtime.apply(updates);
                            }
                            self.report_column_changes();
                        }
                        None => {
                            return Err(PgSourceError::Transient(
                                "pgoutput sent a row change outside a transaction".into(),
                            ))
                        }
                    }
                }
                ReplicationEvent::Commit { end_lsn, .. } => {
                    let Some(transaction) = open.take() else {
                        return Err(PgSourceError::Transient(
                            "pgoutput sent a Commit without a Begin".into(),
                        ));
                    };
                    if let Some(time) = self.commit(transaction, end_lsn, client)? {
                        lag.last_commit = Some(time);
                        lag.report(*self.applied, self.status);
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    // Between transactions, everything before the server's position has been
                    // sent and applied: the position may move there, so that WAL written for
                    // other tables or databases is released too (as PostgreSQL's own
                    // subscribers do).
                    if open.is_none() {
                        lag.caught_up = true;
                        lag.server = lag.server.max(wal_end);
                        if wal_end > *self.applied {
                            *self.applied = wal_end;
                            self.status.moved(wal_end.to_string());
                            self.checkpoints.applied(wal_end, client, self.status);
                        }
                        lag.report(*self.applied, self.status);
                    }
                }
                ReplicationEvent::Message { .. } | ReplicationEvent::StoppedAt { .. } => {}
            }
        }
    }

    /// Applies a complete transaction, unless it was applied before (the server resends from
    /// the acknowledged position, which may be behind what is applied). Returns the commit
    /// time of a transaction it applied.
    fn commit(
        &mut self,
        transaction: Transaction,
        end_lsn: Lsn,
        client: &ReplicationClient,
    ) -> Result<Option<i64>, PgSourceError> {
        if transaction.final_lsn < *self.applied {
            // Only the relation ids count: the rows already follow these columns or later
            // ones.
            for message in transaction.messages {
                if let Message::Relation(relation) = message {
                    self.tables.describe(relation);
                }
            }
            return Ok(None);
        }
        let mut updates = Vec::new();
        for message in transaction.messages {
            self.tables.apply(message, &mut updates)?;
        }
        self.tables.end_transaction();
        self.report_column_changes();
        let changes = updates.len();
        if changes > 0 {
            self.runtime.apply(updates);
        }
        *self.applied = end_lsn;
        self.status.applied(end_lsn.to_string(), changes);
        self.checkpoints.applied(end_lsn, client, self.status);
        Ok(Some(transaction.commit_time_micros))
    }
}

impl Follower<'_> {
    /// Hands the column changes that break queries to the listener.
    fn report_column_changes(&mut self) {
        for (label, change) in self.tables.take_column_changes() {
            if let Some(message) = change.incompatibility() {
                (self.columns)(ColumnReport {
                    source_id: self.source_id.to_string(),
                    label: label.to_string(),
                    column: change.column().to_string(),
                    message,
                });
            }
        }
    }
}

/// Seconds from a PostgreSQL timestamp (µs since 2000-01-01) to now; 0 if it is ahead.
fn seconds_since(pg_micros: i64) -> f64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    ((now - PG_EPOCH_MICROS - pg_micros).max(0)) as f64 / 1e6
}
