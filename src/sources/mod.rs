//! Sources: external change streams turned into engine transactions.
//!
//! A source owns its connection and its notion of position. It hands each source transaction
//! to the engine as one batch of node updates (one timestamp), and reports its state through a
//! [`SourceStatus`] that the REST API and readiness checks read.

pub mod postgres;

use std::sync::Mutex;

use serde::Serialize;

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
    /// Position of the last applied transaction (PostgreSQL: its commit LSN, `X/Y`).
    pub position: Option<String>,
    /// Source transactions applied.
    pub transactions: u64,
    /// Row changes applied.
    pub row_changes: u64,
    /// Rows loaded by the last bootstrap.
    pub bootstrap_rows: u64,
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
                transactions: 0,
                row_changes: 0,
                bootstrap_rows: 0,
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

    pub(crate) fn applied(&self, position: String, row_changes: usize) {
        let mut view = self.lock();
        view.position = Some(position);
        view.transactions += 1;
        view.row_changes += row_changes as u64;
    }
}
