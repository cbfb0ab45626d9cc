//! Durable writes of the source's state, and the acknowledgements they allow.
//!
//! PostgreSQL releases WAL up to the position the consumer acknowledges, and after a restart
//! resends only what follows it. So the position may be acknowledged only once the rows that
//! reflect it are durable: then a crash at any moment loses nothing, and re-applies nothing
//! (transactions before the stored position are skipped on resume).
//!
//! Writes are batched (at most one every [`INTERVAL`], one redb transaction each) and run on a
//! blocking thread while the stream goes on; a write in flight and the rows changed since it
//! was started are all that is ever outstanding. Without a state store there is nothing to
//! make durable, and each position is acknowledged as soon as it is applied.

use std::mem;
use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationClient};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::store::{RowChange, SourceStore};
use super::tables::Tables;
use super::PgSourceError;
use crate::sources::SourceStatus;

/// The longest time an applied change waits for its durable write to start.
const INTERVAL: Duration = Duration::from_millis(100);

/// How many rows travel to the writing thread together when every row is written.
const WRITE_PART: usize = 8192;

/// A write that has started and what it will make durable.
type Write = JoinHandle<Result<Lsn, PgSourceError>>;

/// The durable side of one source.
pub(super) struct Checkpoints {
    store: Option<SourceStore>,
    in_flight: Option<Write>,
    /// The position of the newest state handed to a write.
    written: Lsn,
    /// The position the state store holds for certain, and so the one acknowledged.
    durable: Lsn,
    /// When the last write started.
    last_start: Instant,
}

impl Checkpoints {
    pub(super) fn new(store: Option<SourceStore>) -> Checkpoints {
        Checkpoints {
            store,
            in_flight: None,
            written: Lsn::ZERO,
            durable: Lsn::ZERO,
            last_start: Instant::now(),
        }
    }

    /// The position the server may treat as flushed.
    pub(super) fn durable(&self) -> Lsn {
        self.durable
    }

    /// Records state that was loaded from the store: it is durable already.
    pub(super) fn restored(&mut self, position: Lsn) {
        self.written = position;
        self.durable = position;
    }

    /// Replaces the stored rows with every current row (after a bootstrap) and waits until
    /// that is durable. Without a store, just moves the acknowledged position.
    ///
    /// The rows go to the writing thread in parts of [`WRITE_PART`] through a channel of one,
    /// all into one store transaction: besides the rows themselves, at most three parts of
    /// them exist at a time (being filled, queued, being written), however many there are.
    pub(super) async fn write_all(
        &mut self,
        tables: &mut Tables,
        position: Lsn,
    ) -> Result<(), PgSourceError> {
        self.settle().await?;
        if let Some(store) = self.store_following(tables) {
            let (parts, mut received) = mpsc::channel::<Vec<RowChange>>(1);
            let mut write = tokio::task::spawn_blocking(move || {
                let rows = std::iter::from_fn(|| received.blocking_recv()).flatten();
                store.write(true, rows, position)
            });
            let mut part = Vec::with_capacity(WRITE_PART);
            for row in tables.all_rows() {
                part.push(row);
                // A send fails only if the write stopped early; `join` reports why.
                if part.len() == WRITE_PART && parts.send(mem::take(&mut part)).await.is_err() {
                    break;
                }
            }
            if !part.is_empty() {
                let _ = parts.send(part).await;
            }
            drop(parts);
            join(&mut write).await?;
        }
        self.written = position;
        self.durable = position;
        Ok(())
    }

    /// Called after the state moved to `position` (a transaction or an idle position):
    /// without a store, acknowledges it at once.
    pub(super) fn applied(
        &mut self,
        position: Lsn,
        client: &ReplicationClient,
        status: &SourceStatus,
    ) {
        if self.store.is_none() {
            self.written = position;
            self.acknowledge(position, client, status);
        }
    }

    /// Waits for the next thing to do, given that the state is at `position`: the write in
    /// flight finished (`Some`: the position it made durable, to [`acknowledge`]), or a new
    /// write is due (`None`: [`start`] it). Never returns when there is nothing to do (no
    /// store, or nothing new). Cancel-safe.
    ///
    /// [`acknowledge`]: Checkpoints::acknowledge
    /// [`start`]: Checkpoints::start
    pub(super) async fn next(&mut self, position: Lsn) -> Result<Option<Lsn>, PgSourceError> {
        if let Some(write) = self.in_flight.as_mut() {
            let result = join(write).await;
            self.in_flight = None;
            return result.map(Some);
        }
        if self.store.is_none() || position <= self.written {
            return std::future::pending().await;
        }
        tokio::time::sleep_until(self.last_start + INTERVAL).await;
        Ok(None)
    }

    /// Starts writing the rows changed since the last write, with `position`.
    pub(super) fn start(&mut self, tables: &mut Tables, position: Lsn) {
        let Some(store) = self.store_following(tables) else { return };
        let changes = tables.take_changes();
        self.last_start = Instant::now();
        self.written = position;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            store.write(false, changes, position).map(|()| position)
        }));
    }

    /// Makes everything applied up to `position` durable (on shutdown), and returns the
    /// position to acknowledge.
    pub(super) async fn flush(
        &mut self,
        tables: &mut Tables,
        position: Lsn,
    ) -> Result<Lsn, PgSourceError> {
        self.settle().await?;
        if self.store.is_some() && position > self.written {
            self.start(tables, position);
            self.settle().await?;
        }
        Ok(self.durable)
    }

    /// The store, told the layout `tables`' rows now follow, for a write of them.
    fn store_following(&mut self, tables: &Tables) -> Option<SourceStore> {
        let store = self.store.as_mut()?;
        store.follow_layout(tables.layout());
        Some(store.clone())
    }

    /// Waits for the write in flight, if any.
    async fn settle(&mut self) -> Result<(), PgSourceError> {
        if let Some(mut write) = self.in_flight.take() {
            self.durable = self.durable.max(join(&mut write).await?);
        }
        Ok(())
    }

    /// Tells the server (and the status) that everything up to `position` is durable.
    pub(super) fn acknowledge(
        &mut self,
        position: Lsn,
        client: &ReplicationClient,
        status: &SourceStatus,
    ) {
        self.durable = self.durable.max(position);
        client.update_applied_lsn(self.durable);
        status.acknowledged(self.durable.to_string());
    }
}

async fn join<T>(handle: &mut JoinHandle<Result<T, PgSourceError>>) -> Result<T, PgSourceError> {
    handle
        .await
        .map_err(|error| PgSourceError::Fatal(format!("state store write failed: {error}")))?
}
