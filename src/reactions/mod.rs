//! Reactions: where query changes go.
//!
//! * [`sse`]: a Server-Sent Events endpoint on its own listener (the tutorial's dashboard),
//!   with event ids, resumption and snapshots ([`hub`], [`position`], [`epoch`]).
//! * [`log`]: a templated line per changed row.
//!
//! [`registry`] starts and stops them, from the config file and over REST.
//!
//! Reactions never slow the engine: a reaction or client that falls behind misses events
//! (log) or is dropped and may resume (SSE), and says so.

pub mod epoch;
pub mod format;
pub mod hub;
pub mod log;
pub mod position;
pub mod registry;
pub mod rows;
pub mod sse;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// Live counters of one reaction, shown by the REST API and `/metrics`.
#[derive(Debug, Default)]
pub struct ReactionStats {
    /// SSE clients connected now.
    pub clients: AtomicU64,
    /// Events (SSE) or lines (log) delivered.
    pub events_sent: AtomicU64,
    /// Events missed because the reaction fell behind (log).
    pub events_missed: AtomicU64,
    /// SSE clients dropped because they fell behind.
    pub clients_dropped: AtomicU64,
}

/// A snapshot of [`ReactionStats`].
#[derive(Clone, Debug, Serialize)]
pub struct ReactionStatsView {
    /// SSE clients connected now.
    pub clients: u64,
    /// Events or lines delivered.
    pub events_sent: u64,
    /// Events missed.
    pub events_missed: u64,
    /// SSE clients dropped for falling behind.
    pub clients_dropped: u64,
}

impl ReactionStats {
    /// A copy of the counters.
    pub fn view(&self) -> ReactionStatsView {
        ReactionStatsView {
            clients: self.clients.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
            events_missed: self.events_missed.load(Ordering::Relaxed),
            clients_dropped: self.clients_dropped.load(Ordering::Relaxed),
        }
    }
}

/// A running reaction, for the REST API.
pub struct ReactionEntry {
    /// Its configuration.
    pub config: crate::config::ReactionConfig,
    /// Its counters.
    pub stats: Arc<ReactionStats>,
}
