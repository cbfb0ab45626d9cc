//! The PostgreSQL source: a consistent snapshot, then the pgoutput logical replication stream.
//!
//! ```text
//!  tokio-postgres ── catalog (publication, primary keys, column types)
//!                └── snapshot read (SET TRANSACTION SNAPSHOT exported by the slot) ─┐
//!                      COPY … TO STDOUT ─▶ COPY text decode ─▶ Tables ─▶ one        │
//!                      engine Transaction, fed in parts as the data arrives         │
//!  pgwire-replication ── CREATE_REPLICATION_SLOT … (SNAPSHOT 'export') ──────────────┤
//!                    └── START_REPLICATION ─▶ pgoutput decode ─▶ Tables ─▶ Runtime::apply
//! ```
//!
//! Guarantees:
//! * The snapshot and the stream meet exactly at the slot's consistent point, so every
//!   committed change is in one of them, never both (postgres-cdc.md §A.6.2).
//! * Each source transaction becomes one engine transaction (one timestamp).
//! * Transactions are applied whole, in commit order; a dropped connection resumes from the
//!   last acknowledged commit and skips anything already applied, so no transaction is
//!   applied twice or skipped.
//! * With a state store, the rows and the position are written durably in batches, and only
//!   durable positions are acknowledged: WAL is released while ripple runs, and a restart
//!   (even after `kill -9`) loads the rows and resumes the slot where the state left off. A
//!   missing or invalidated slot means a fresh bootstrap, logged with its reason.
//! * Without a state store, state lives in memory: on start-up with `bootstrap_provider` set,
//!   an existing slot is dropped and recreated so that the snapshot and stream meet again.

mod bootstrap;
#[cfg(test)]
mod bootstrap_tests;
mod catalog;
mod checkpoint;
mod connect;
mod copy_text;
mod feed;
mod follow;
#[cfg(test)]
mod handoff_tests;
/// The integration tests' throwaway PostgreSQL, for the source's tests that run in-process.
#[cfg(test)]
#[path = "../../../tests/support/pg.rs"]
#[allow(dead_code)]
mod pg;
mod pgoutput;
mod replication;
mod schema;
mod store;
mod tables;
#[cfg(test)]
mod testing;
mod text;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::PostgresSourceConfig;
use crate::sources::{SourceLinks, SourceState, SourceStatus};
use crate::state::StateStore;
use ripple_dataflows::runtime::Runtime;

pub use tables::Tables;

/// The shortest and longest wait between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

/// Errors of the PostgreSQL source.
#[derive(Debug, thiserror::Error)]
pub enum PgSourceError {
    /// A problem only the operator can fix; retrying will not help.
    #[error("{0}")]
    Fatal(String),
    /// A connection or server problem that may go away.
    #[error("{0}")]
    Transient(String),
}

impl From<tokio_postgres::Error> for PgSourceError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            // Authentication, missing database or objects: no point in retrying.
            Some(db)
                if matches!(db.code().code(), "28P01" | "28000" | "3D000" | "42P01" | "42501") =>
            {
                PgSourceError::Fatal(db.to_string())
            }
            _ => PgSourceError::Transient(error.to_string()),
        }
    }
}

impl From<copy_text::CopyTextError> for PgSourceError {
    fn from(error: copy_text::CopyTextError) -> Self {
        match error {
            // The connection's encoding is UTF-8: reading again would give the same bytes.
            copy_text::CopyTextError::NotUtf8 => PgSourceError::Fatal(error.to_string()),
            copy_text::CopyTextError::Truncated => PgSourceError::Transient(error.to_string()),
        }
    }
}

impl From<pgwire_replication::PgWireError> for PgSourceError {
    fn from(error: pgwire_replication::PgWireError) -> Self {
        match error {
            pgwire_replication::PgWireError::Auth(_) => PgSourceError::Fatal(error.to_string()),
            // `ssl_mode: require` against a server without TLS (the SQL connection, made
            // first, normally reports this with the source's details).
            pgwire_replication::PgWireError::Tls(ref message)
                if message.contains("does not support TLS") =>
            {
                PgSourceError::Fatal(format!("ssl_mode is 'require' but the {message}"))
            }
            other => PgSourceError::Transient(other.to_string()),
        }
    }
}

/// Runs the source until `shutdown` fires or a fatal error occurs. With `state`, the source
/// keeps its rows and position there and resumes from them after a restart. `links` take its
/// node labels and hear of ALTER TABLE changes that break queries reading a column.
pub async fn run(
    config: PostgresSourceConfig,
    runtime: Arc<Runtime>,
    status: Arc<SourceStatus>,
    links: SourceLinks,
    state: Option<StateStore>,
    shutdown: CancellationToken,
) {
    let mut stream = replication::Stream::new(
        config,
        runtime,
        status.clone(),
        links,
        state,
        replication::Handoff::Exported,
    );
    let mut backoff = BACKOFF.0;
    loop {
        let result = tokio::select! {
            result = stream.run() => result,
            () = shutdown.cancelled() => break,
        };
        match result {
            Ok(()) => break,
            Err(PgSourceError::Fatal(error)) => {
                tracing::error!(message = "PostgreSQL source failed.", source_id = %stream.id(), %error);
                status.set_error(SourceState::Failed, error);
                return;
            }
            Err(PgSourceError::Transient(error)) => {
                if stream.take_reached_streaming() {
                    backoff = BACKOFF.0;
                }
                tracing::warn!(
                    message = "PostgreSQL source disconnected; reconnecting.",
                    source_id = %stream.id(),
                    %error,
                    retry_in_ms = backoff.as_millis() as u64
                );
                status.set_error(SourceState::Reconnecting, error);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
    stream.close().await;
    status.set_state(SourceState::Stopped);
}
