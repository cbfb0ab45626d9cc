//! The replication session: where to start (saved state, a bootstrap or the slot's position),
//! the slot set-up, and the hand-off to the change stream.

use std::sync::Arc;
use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationClient};
use ripple_dataflows::runtime::Runtime;

use super::catalog::{SlotInfo, TableInfo};
use super::checkpoint::Checkpoints;
use super::follow::Follower;
use super::store::SourceStore;
use super::tables::Tables;
use super::{bootstrap, catalog, connect, feed, PgSourceError};
use crate::config::PostgresSourceConfig;
use crate::sources::{SourceLinks, SourceState, SourceStatus};
use crate::state::StateStore;

/// How long shutdown waits for the final acknowledgement to be sent (a little more than the
/// replication client's status interval).
const FINAL_ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long slot creation may wait for open transactions before it is reported.
const SLOT_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Which snapshot a bootstrap reads. Only the exported one meets the stream exactly; the other
/// exists so that a test can show the consistency checks catch a broken hand-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handoff {
    /// The snapshot the slot exported when it was created (postgres-cdc.md §B.3).
    Exported,
    /// A snapshot taken before the slot was created: changes committed in between are in
    /// neither the snapshot nor the stream.
    #[cfg(test)]
    SnapshotBeforeSlot,
}

/// One source's stream and everything that survives a reconnect.
pub(super) struct Stream {
    config: PostgresSourceConfig,
    runtime: Arc<Runtime>,
    status: Arc<SourceStatus>,
    /// Label claims and the column-change listener.
    links: SourceLinks,
    state: Option<StateStore>,
    handoff: Handoff,
    /// The rows and durable writes; set up on the first connection (they need the catalog).
    tables: Option<(Tables, Checkpoints)>,
    /// Whether the rows and `applied` continue the slot's stream (after a bootstrap, a
    /// restore from saved state, or attaching to a slot without bootstrap).
    positioned: bool,
    /// End LSN of the last transaction applied (or a later idle position).
    applied: Lsn,
    /// Whether the last `run` got as far as streaming (resets the reconnect backoff).
    reached_streaming: bool,
    client: Option<ReplicationClient>,
    /// Updates per part of the bootstrap's engine transaction.
    part_size: usize,
}

impl Stream {
    pub(super) fn new(
        config: PostgresSourceConfig,
        runtime: Arc<Runtime>,
        status: Arc<SourceStatus>,
        links: SourceLinks,
        state: Option<StateStore>,
        handoff: Handoff,
    ) -> Stream {
        Stream {
            config,
            runtime,
            status,
            links,
            state,
            handoff,
            tables: None,
            positioned: false,
            applied: Lsn::ZERO,
            reached_streaming: false,
            client: None,
            part_size: feed::PART_SIZE,
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.config.id
    }

    pub(super) fn take_reached_streaming(&mut self) -> bool {
        std::mem::take(&mut self.reached_streaming)
    }

    /// Makes bootstraps feed the engine in parts of `size` updates, so that tests need few
    /// rows to span many parts.
    #[cfg(test)]
    pub(super) fn set_part_size(&mut self, size: usize) {
        self.part_size = size;
    }

    /// The current rows (tests compare them with the tables).
    #[cfg(test)]
    pub(super) fn tables(&self) -> Option<&Tables> {
        self.tables.as_ref().map(|(tables, _)| tables)
    }

    /// Connects, restores or bootstraps if needed, and follows the stream until an error.
    pub(super) async fn run(&mut self) -> Result<(), PgSourceError> {
        if let Some(mut old) = self.client.take() {
            old.abort();
        }
        let mut sql = connect::sql(&self.config).await?;
        let infos = catalog::load(&sql, &self.config).await?;
        let labels = infos.iter().map(|info| info.name.as_str());
        self.links.labels.claim(&self.config.id, labels).map_err(PgSourceError::Fatal)?;
        let slot = catalog::slot(&sql, &self.config).await?;
        if let Some(pid) = slot.as_ref().and_then(|s| s.active_pid) {
            // Also the case for a moment after ripple itself was killed, until the server
            // notices: so retry rather than give up.
            return Err(PgSourceError::Transient(format!(
                "replication slot '{}' is in use by another process (pid {pid}); waiting for it to be released",
                self.config.slot_name
            )));
        }
        if self.tables.is_none() {
            self.start_up(infos, slot.as_ref()).await?;
        }
        let resumes = match &slot {
            Some(slot) => slot.resumes(self.applied),
            None => Err("the replication slot does not exist".to_string()),
        };
        let client = match resumes {
            Ok(()) if self.positioned => {
                ReplicationClient::connect(connect::replication(
                    &self.config,
                    self.applied,
                    self.checkpoints().durable(),
                ))
                .await?
            }
            _ if self.config.bootstrap => {
                if self.positioned {
                    let reason = resumes.err().unwrap_or_default();
                    tracing::warn!(
                        message = "The replication slot cannot continue the current state; bootstrapping again.",
                        source_id = %self.config.id,
                        slot = %self.config.slot_name,
                        %reason
                    );
                }
                self.bootstrap(&mut sql, slot.is_some()).await?
            }
            _ => self.attach(&sql, slot, resumes).await?,
        };
        let client = self.client.insert(client);
        client.wait_started().await?;
        self.status.set_state(SourceState::Streaming);
        self.reached_streaming = true;
        tracing::info!(message = "Streaming changes.", source_id = %self.config.id, from = %self.applied);
        let (tables, checkpoints) = self.tables.as_mut().expect("set up by start_up");
        Follower {
            source_id: &self.config.id,
            runtime: &self.runtime,
            columns: &self.links.columns,
            status: &self.status,
            tables,
            checkpoints,
            applied: &mut self.applied,
        }
        .run(client, &sql)
        .await
    }

    fn checkpoints(&self) -> &Checkpoints {
        &self.tables.as_ref().expect("set up by start_up").1
    }

    /// Sets up the rows and, with a state store, loads the saved state if the slot can
    /// continue it.
    async fn start_up(
        &mut self,
        infos: Vec<TableInfo>,
        slot: Option<&SlotInfo>,
    ) -> Result<(), PgSourceError> {
        let mut tables = Tables::new(infos)?;
        let store =
            self.state.clone().map(|state| SourceStore::new(state, &self.config, tables.layout()));
        if store.is_some() {
            tables.track_changes();
        }
        let mut checkpoints = Checkpoints::new(store.clone());
        if let Some(store) = store {
            let saved = tokio::task::spawn_blocking(move || store.load())
                .await
                .map_err(|error| PgSourceError::Fatal(format!("state store: {error}")))??;
            let usable = saved.and_then(|saved| match slot {
                Some(slot) => slot.resumes(saved.position).map(|()| saved),
                None => Err("the replication slot does not exist".into()),
            });
            let restored = usable.and_then(|saved| {
                tables.restore(saved.rows).map(|updates| (saved.position, updates))
            });
            match restored {
                Ok((position, updates)) => {
                    let rows = updates.len();
                    self.runtime.apply(updates);
                    checkpoints.restored(position);
                    self.applied = position;
                    self.positioned = true;
                    self.status.restored(rows as u64, position.to_string());
                    tracing::info!(
                        message = "Restored the saved state; resuming the replication slot.",
                        source_id = %self.config.id,
                        rows,
                        position = %position
                    );
                }
                Err(reason) => tracing::info!(
                    message = "No saved state to resume from; starting afresh.",
                    source_id = %self.config.id,
                    %reason
                ),
            }
        }
        self.tables = Some((tables, checkpoints));
        Ok(())
    }

    /// Creates the slot with an exported snapshot, reads the tables in it, makes the result
    /// durable, and starts streaming from the slot's consistent point.
    async fn bootstrap(
        &mut self,
        sql: &mut tokio_postgres::Client,
        slot_exists: bool,
    ) -> Result<ReplicationClient, PgSourceError> {
        if slot_exists {
            tracing::info!(
                message = "Recreating the replication slot for a consistent bootstrap.",
                source_id = %self.config.id,
                slot = %self.config.slot_name
            );
            sql.execute("SELECT pg_drop_replication_slot($1)", &[&self.config.slot_name]).await?;
        }
        self.status.set_state(SourceState::Bootstrapping);
        let early: Option<(tokio_postgres::Client, String)> = match self.handoff {
            Handoff::Exported => None,
            #[cfg(test)]
            Handoff::SnapshotBeforeSlot => Some(snapshot_before_slot(&self.config).await?),
        };
        let mut client = ReplicationClient::connect_gated(connect::replication(
            &self.config,
            Lsn::ZERO,
            Lsn::ZERO,
        ))
        .await?;
        let (consistent_point, snapshot) =
            create_slot(&mut client, &self.config, sql, true).await?;
        let snapshot = snapshot
            .ok_or_else(|| PgSourceError::Transient("the slot exported no snapshot".into()))?;
        let snapshot = match &early {
            Some((_, name)) => name.clone(),
            None => snapshot,
        };
        let (tables, checkpoints) = self.tables.as_mut().expect("set up by start_up");
        let rows = bootstrap::read(sql, &snapshot, tables, &self.runtime, self.part_size).await?;
        self.status.bootstrapped(rows);
        self.status.applied(consistent_point.to_string(), 0);
        self.applied = consistent_point;
        self.positioned = true;
        checkpoints.write_all(tables, consistent_point).await?;
        self.status.acknowledged(consistent_point.to_string());
        tracing::info!(message = "Bootstrap loaded.", source_id = %self.config.id, rows, %consistent_point);
        client.start().await?;
        Ok(client)
    }

    /// Without a bootstrap: streams from the slot (created if missing, recreated if lost),
    /// keeping whatever rows the source holds.
    async fn attach(
        &mut self,
        sql: &tokio_postgres::Client,
        slot: Option<SlotInfo>,
        resumes: Result<(), String>,
    ) -> Result<ReplicationClient, PgSourceError> {
        match slot {
            Some(slot) if !slot.lost => {
                if let (true, Err(reason)) = (self.positioned, &resumes) {
                    tracing::warn!(
                        message = "Continuing from the replication slot's position; changes before it were not seen.",
                        source_id = %self.config.id,
                        %reason
                    );
                }
                self.applied = self.applied.max(slot.confirmed_flush);
                self.positioned = true;
                Ok(ReplicationClient::connect(connect::replication(
                    &self.config,
                    self.applied,
                    self.checkpoints().durable(),
                ))
                .await?)
            }
            slot => {
                if slot.is_some() {
                    tracing::warn!(
                        message = "The replication slot was invalidated; recreating it. Changes in between were not seen.",
                        source_id = %self.config.id,
                        slot = %self.config.slot_name
                    );
                    sql.execute("SELECT pg_drop_replication_slot($1)", &[&self.config.slot_name])
                        .await?;
                }
                let mut client = ReplicationClient::connect_gated(connect::replication(
                    &self.config,
                    Lsn::ZERO,
                    Lsn::ZERO,
                ))
                .await?;
                let (consistent_point, _) =
                    create_slot(&mut client, &self.config, sql, false).await?;
                self.applied = self.applied.max(consistent_point);
                self.positioned = true;
                client.start().await?;
                Ok(client)
            }
        }
    }

    /// Makes what was applied durable, acknowledges it, and ends the replication session
    /// cleanly, so the server frees the slot at once.
    pub(super) async fn close(&mut self) {
        if let Some((tables, checkpoints)) = self.tables.as_mut() {
            match checkpoints.flush(tables, self.applied).await {
                Ok(durable) => {
                    if let Some(client) = &self.client {
                        client.update_applied_lsn(durable);
                        if !reported(client, durable).await {
                            tracing::warn!(
                                message = "Could not acknowledge the final position before closing the replication stream.",
                                source_id = %self.config.id,
                                position = %durable
                            );
                        }
                    }
                }
                Err(error) => tracing::error!(
                    message = "Could not save the source's state on shutdown.",
                    source_id = %self.config.id,
                    %error
                ),
            }
        }
        if let Some(mut client) = self.client.take() {
            if let Err(error) = client.shutdown().await {
                tracing::debug!(message = "Replication shutdown was not clean.", %error);
            }
        }
    }
}

/// Waits until `client` has sent `position` to the server as flushed, so that the slot's
/// `confirmed_flush_lsn` reaches it before the stream is closed: the client sends a raised
/// position only once its status interval has passed since its previous update, and closing
/// does not send one. `false` if that did not happen within [`FINAL_ACK_TIMEOUT`] or the
/// stream already ended.
async fn reported(client: &ReplicationClient, position: Lsn) -> bool {
    let metrics = client.metrics();
    let sent = async {
        while metrics.last_applied_lsn() < position && client.is_running() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(FINAL_ACK_TIMEOUT, sent).await.is_ok()
        && metrics.last_applied_lsn() >= position
}

/// The broken hand-off for tests: a snapshot exported by a transaction that starts before the
/// slot, held open (with its connection) until the bootstrap has read it.
#[cfg(test)]
async fn snapshot_before_slot(
    config: &PostgresSourceConfig,
) -> Result<(tokio_postgres::Client, String), PgSourceError> {
    let client = connect::sql(config).await?;
    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let name: String = client.query_one("SELECT pg_export_snapshot()", &[]).await?.get(0);
    // Give concurrent writers time to commit between the snapshot and the slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok((client, name))
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
