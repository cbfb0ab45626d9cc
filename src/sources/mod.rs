//! Sources: external change streams turned into engine transactions.
//!
//! A source owns its connection and its notion of position. It hands each source transaction
//! to the engine as one batch of node updates (one timestamp), and reports its state through a
//! [`SourceStatus`] that the REST API and readiness checks read.

pub mod postgres;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// A change to the columns of a table (PostgreSQL: ALTER TABLE) that breaks queries reading
/// the column. The server hands it to those queries, which report it in their status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnReport {
    /// The source that saw it.
    pub source_id: String,
    /// The table's node label.
    pub label: String,
    /// The column, by its name before the change.
    pub column: String,
    /// What happened and what queries see now.
    pub message: String,
}

/// Receives a source's [`ColumnReport`]s.
pub type ColumnListener = Arc<dyn Fn(ColumnReport) + Send + Sync>;

/// What a source shares with the rest of the server.
#[derive(Clone)]
pub struct SourceLinks {
    /// Hears of column changes that break queries.
    pub columns: ColumnListener,
    /// The node labels every source provides.
    pub labels: Arc<LabelClaims>,
}

/// Which source provides each node label. A PostgreSQL table's label is its bare name, which
/// is also the prefix of its element ids (`table:key`), so two sources providing one label
/// would mix their rows: the second to claim it is refused.
#[derive(Debug, Default)]
pub struct LabelClaims(Mutex<BTreeMap<String, String>>);

impl LabelClaims {
    /// Claims every label for `source_id`, or none: the error names a label another source
    /// has. Claiming again (after a reconnect) is fine.
    pub fn claim<'a>(
        &self,
        source_id: &str,
        labels: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), String> {
        let mut claims = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for label in labels.clone() {
            if let Some(owner) = claims.get(label).filter(|owner| *owner != source_id) {
                return Err(format!(
                    "source '{source_id}': table '{label}' gives the node label '{label}', which \
                     source '{owner}' already provides (labels and element ids are bare table \
                     names); list distinct tables under `tables` of one of them"
                ));
            }
        }
        for label in labels {
            claims.insert(label.to_string(), source_id.to_string());
        }
        Ok(())
    }
}

/// The phase a source is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Connecting for the first time.
    Starting,
    /// Loading the initial table contents.
    Bootstrapping,
    /// Following the change stream.
    Streaming,
    /// Lost the connection; retrying with backoff.
    Reconnecting,
    /// Gave up: the error needs an operator (missing publication, bad credentials, ...).
    Failed,
    /// Shut down.
    Stopped,
}

/// A snapshot of a source's status, as the REST API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceStatusView {
    /// Current phase.
    pub state: SourceState,
    /// The last error, kept after recovery so operators can see what happened.
    pub last_error: Option<String>,
    /// Position up to which changes are applied to the queries (PostgreSQL: the end LSN of
    /// the last applied transaction, or a later idle position the server reported, `X/Y`).
    pub position: Option<String>,
    /// Position up to which the state store holds the changes and the source server was told
    /// so (PostgreSQL: the slot's `confirmed_flush_lsn` follows it). Without a state store,
    /// the same as `position`.
    pub acknowledged: Option<String>,
    /// How far the source server's WAL is ahead of `position`, in bytes: the server's position
    /// is read every 250 ms (and taken from keep-alives), and the lag is updated on every
    /// applied transaction, so it falls as the source catches up.
    pub lag_bytes: Option<u64>,
    /// While behind: seconds since the commit of the last applied transaction; 0 when caught
    /// up.
    pub lag_seconds: Option<f64>,
    /// Source transactions applied.
    pub transactions: u64,
    /// Row changes applied.
    pub row_changes: u64,
    /// Rows loaded by the last bootstrap.
    pub bootstrap_rows: u64,
    /// Rows loaded from the state store at start-up, instead of a bootstrap.
    pub restored_rows: u64,
}

/// Shared, thread-safe status of one source.
#[derive(Debug)]
pub struct SourceStatus {
    view: Mutex<SourceStatusView>,
}

impl Default for SourceStatus {
    fn default() -> Self {
        SourceStatus {
            view: Mutex::new(SourceStatusView {
                state: SourceState::Starting,
                last_error: None,
                position: None,
                acknowledged: None,
                lag_bytes: None,
                lag_seconds: None,
                transactions: 0,
                row_changes: 0,
                bootstrap_rows: 0,
                restored_rows: 0,
            }),
        }
    }
}

impl SourceStatus {
    /// A copy of the current status.
    pub fn view(&self) -> SourceStatusView {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceStatusView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_state(&self, state: SourceState) {
        self.lock().state = state;
    }

    pub(crate) fn set_error(&self, state: SourceState, error: String) {
        let mut view = self.lock();
        view.state = state;
        view.last_error = Some(error);
    }

    pub(crate) fn bootstrapped(&self, rows: u64) {
        self.lock().bootstrap_rows = rows;
    }

    pub(crate) fn restored(&self, rows: u64, position: String) {
        let mut view = self.lock();
        view.restored_rows = rows;
        view.position = Some(position.clone());
        view.acknowledged = Some(position);
    }

    /// A transaction was applied; its changes reached the queries.
    pub(crate) fn applied(&self, position: String, row_changes: usize) {
        let mut view = self.lock();
        view.position = Some(position);
        view.transactions += 1;
        view.row_changes += row_changes as u64;
    }

    /// The position moved without a transaction (an idle stream, or a skipped transaction).
    pub(crate) fn moved(&self, position: String) {
        self.lock().position = Some(position);
    }

    pub(crate) fn acknowledged(&self, position: String) {
        self.lock().acknowledged = Some(position);
    }

    pub(crate) fn lag(&self, bytes: u64, seconds: f64) {
        let mut view = self.lock();
        view.lag_bytes = Some(bytes);
        view.lag_seconds = Some(seconds);
    }
}
