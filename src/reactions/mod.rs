//! Reactions: where query changes go.
//!
//! * [`sse`]: a Server-Sent Events endpoint on its own listener (the tutorial's dashboard).
//! * [`log`]: a templated line per changed row.
//!
//! Reactions subscribe to their queries' broadcast of [`ResultEvent`]s and never slow the
//! engine: a reaction that falls behind misses events and says so.

pub mod log;
pub mod sse;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::queries::ResultEvent;

/// Live counters of one reaction, shown by the REST API.
#[derive(Debug, Default)]
pub struct ReactionStats {
    /// SSE clients connected now.
    pub clients: AtomicU64,
    /// Events (SSE) or lines (log) delivered.
    pub events_sent: AtomicU64,
    /// Events missed because the reaction or a client fell behind.
    pub events_missed: AtomicU64,
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
}

impl ReactionStats {
    /// A copy of the counters.
    pub fn view(&self) -> ReactionStatsView {
        ReactionStatsView {
            clients: self.clients.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
            events_missed: self.events_missed.load(Ordering::Relaxed),
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

/// The tutorial's event format (drasi-compat.md §3):
/// `{"queryId", "added": [{"after"}], "updated": [{"before", "after"}], "deleted": [{"before"}]}`.
pub fn change_event_json(event: &ResultEvent) -> Json {
    json!({
        "queryId": &*event.query_id,
        "added": event.added.iter().map(|row| json!({ "after": row })).collect::<Vec<_>>(),
        "updated": event
            .updated
            .iter()
            .map(|(before, after)| json!({ "before": before, "after": after }))
            .collect::<Vec<_>>(),
        "deleted": event.deleted.iter().map(|row| json!({ "before": row })).collect::<Vec<_>>(),
    })
}
