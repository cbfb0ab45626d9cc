//! The replication session: slot set-up, bootstrap hand-off and the change stream.

use std::sync::Arc;
use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationClient, ReplicationEvent};
use ripple_dataflows::runtime::Runtime;

use super::tables::Tables;
use super::{bootstrap, catalog, connect, pgoutput, PgSourceError};
use crate::config::PostgresSourceConfig;
use crate::sources::{SourceState, SourceStatus};

/// How long slot creation may wait for open transactions before it is reported.
const SLOT_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One source's stream and everything that survives a reconnect.
pub(super) struct Stream {
    config: PostgresSourceConfig,
    runtime: Arc<Runtime>,
    status: Arc<SourceStatus>,
    tables: Option<Tables>,
    /// Whether the in-memory rows reflect a snapshot taken from the current slot.
    bootstrapped: bool,
    /// End LSN of the last transaction applied and acknowledged.
    applied: Lsn,
    /// Whether the last `run` got as far as streaming (resets the reconnect backoff).
    reached_streaming: bool,
    client: Option<ReplicationClient>,
}

impl Stream {
    pub(super) fn new(
        config: PostgresSourceConfig,
        runtime: Arc<Runtime>,
        status: Arc<SourceStatus>,
    ) -> Stream {
        Stream {
            config,
            runtime,
            status,
            tables: None,
            bootstrapped: false,
            applied: Lsn::ZERO,
            reached_streaming: false,
            client: None,
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.config.id
    }

    pub(super) fn take_reached_streaming(&mut self) -> bool {
        std::mem::take(&mut self.reached_streaming)
    }

    /// Connects, bootstraps if needed, and follows the stream until an error.
    pub(super) async fn run(&mut self) -> Result<(), PgSourceError> {
        if let Some(mut old) = self.client.take() {
            old.abort();
        }
        connect::check_supported(&self.config)?;
        let mut sql = connect::sql(&self.config).await?;
        let infos = catalog::load(&sql, &self.config).await?;
        let tables = self.tables.get_or_insert_with(|| Tables::new(infos));
        let slot = catalog::slot(&sql, &self.config).await?;
        let client = if self.config.bootstrap && (!self.bootstrapped || slot.is_none()) {
            if let Some(slot) = slot {
                if let Some(pid) = slot.active_pid {
                    return Err(PgSourceError::Fatal(format!(
                        "replication slot '{}' is in use by another process (pid {pid}); stop it or choose another slot_name",
                        self.config.slot_name
                    )));
                }
                tracing::info!(
                    message = "Recreating the replication slot for a consistent bootstrap (ripple keeps no state between runs yet).",
                    source_id = %self.config.id,
                    slot = %self.config.slot_name
                );
                sql.execute("SELECT pg_drop_replication_slot($1)", &[&self.config.slot_name])
                    .await?;
            } else if self.bootstrapped {
                tracing::warn!(
                    message = "The replication slot is gone; bootstrapping again.",
                    source_id = %self.config.id,
                    slot = %self.config.slot_name
                );
            }
            self.status.set_state(SourceState::Bootstrapping);
            let mut client =
                ReplicationClient::connect_gated(connect::replication(&self.config, Lsn::ZERO))
                    .await?;
            let (consistent_point, snapshot) =
                create_slot(&mut client, &self.config, &sql, true).await?;
            let snapshot = snapshot
                .ok_or_else(|| PgSourceError::Transient("the slot exported no snapshot".into()))?;
            let (updates, rows) = bootstrap::read(&mut sql, &snapshot, tables).await?;
            self.runtime.apply(updates);
            self.status.bootstrapped(rows);
            tracing::info!(message = "Bootstrap loaded.", source_id = %self.config.id, rows, %consistent_point);
            self.bootstrapped = true;
            self.applied = consistent_point;
            client.start().await?;
            client
        } else if slot.is_none() {
            let mut client =
                ReplicationClient::connect_gated(connect::replication(&self.config, Lsn::ZERO))
                    .await?;
            create_slot(&mut client, &self.config, &sql, false).await?;
            client.start().await?;
            client
        } else {
            ReplicationClient::connect(connect::replication(&self.config, self.applied)).await?
        };
        let client = self.client.insert(client);
        client.wait_started().await?;
        self.status.set_state(SourceState::Streaming);
        self.reached_streaming = true;
        tracing::info!(message = "Streaming changes.", source_id = %self.config.id, from = %self.applied);
        follow(client, tables, &self.runtime, &self.status, &mut self.applied).await
    }

    /// Ends the replication session cleanly, so the server frees the slot at once.
    pub(super) async fn close(&mut self) {
        if let Some(mut client) = self.client.take() {
            if let Err(error) = client.shutdown().await {
                tracing::debug!(message = "Replication shutdown was not clean.", %error);
            }
        }
    }
}

/// Creates the slot; with `export`, also exports its snapshot and returns the snapshot name.
async fn create_slot(
    client: &mut ReplicationClient,
    config: &PostgresSourceConfig,
    sql: &tokio_postgres::Client,
    export: bool,
) -> Result<(Lsn, Option<String>), PgSourceError> {
    let mode = if export { "export" } else { "nothing" };
    let command = format!(
        "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput (SNAPSHOT '{mode}')",
        config.slot_name
    );
    let reply =
        match tokio::time::timeout(SLOT_CREATION_TIMEOUT, client.simple_query(&command)).await {
            Ok(reply) => reply?,
            Err(_) => {
                return Err(PgSourceError::Transient(format!(
                "creating replication slot '{}' waited {} s for open transactions to finish: {}",
                config.slot_name,
                SLOT_CREATION_TIMEOUT.as_secs(),
                catalog::open_transactions(sql).await
            )))
            }
        };
    // One row: slot_name, consistent_point, snapshot_name, output_plugin.
    let column = |i: usize| {
        reply
            .first()
            .and_then(|row| row.get(i))
            .and_then(|v| v.as_ref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let consistent_point = column(1).and_then(|s| Lsn::parse(&s).ok()).ok_or_else(|| {
        PgSourceError::Transient("CREATE_REPLICATION_SLOT returned no consistent point".into())
    })?;
    Ok((consistent_point, column(2)))
}

/// Applies committed transactions until the stream fails.
async fn follow(
    client: &mut ReplicationClient,
    tables: &mut Tables,
    runtime: &Runtime,
    status: &SourceStatus,
    applied: &mut Lsn,
) -> Result<(), PgSourceError> {
    let mut pending = Vec::new();
    // True inside a transaction the server re-sent after a reconnect: already applied.
    let mut replayed = false;
    loop {
        let Some(event) = client.recv().await? else {
            return Err(PgSourceError::Transient("the replication stream ended".into()));
        };
        match event {
            ReplicationEvent::Begin { final_lsn, .. } => {
                pending.clear();
                replayed = final_lsn < *applied;
            }
            ReplicationEvent::XLogData { data, .. } => {
                let message = pgoutput::decode(&data).map_err(|error| {
                    PgSourceError::Fatal(format!("could not decode pgoutput: {error}"))
                })?;
                let describes = matches!(
                    message,
                    pgoutput::Message::Relation(_) | pgoutput::Message::Type { .. }
                );
                if !replayed || describes {
                    tables.apply(message, &mut pending)?;
                }
            }
            ReplicationEvent::Commit { lsn, end_lsn, .. } => {
                if !replayed {
                    let changes = pending.len();
                    if changes > 0 {
                        runtime.apply(std::mem::take(&mut pending));
                    }
                    status.applied(lsn.to_string(), changes);
                    // Applied to the in-memory engine: acknowledging lets the server release WAL.
                    *applied = end_lsn;
                    client.update_applied_lsn(end_lsn);
                }
                replayed = false;
            }
            ReplicationEvent::KeepAlive { .. }
            | ReplicationEvent::Message { .. }
            | ReplicationEvent::StoppedAt { .. } => {}
        }
    }
}
