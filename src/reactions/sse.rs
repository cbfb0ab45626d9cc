//! The SSE reaction: its own HTTP listener streaming change events to browsers.
//!
//! Each client gets one `data:` event per query per source transaction that changed the
//! query's result, in the tutorial's format ([`super::change_event_json`]), and a `: heartbeat`
//! comment every `heartbeat_interval_ms` (a comment, so pages that `JSON.parse` every message
//! are not disturbed). CORS allows any origin: the dashboard is served from another port.
//! A client that falls more than [`crate::queries::EVENT_BUFFER`] events behind is
//! disconnected; browsers reconnect on their own.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;

use super::{change_event_json, ReactionStats};
use crate::config::SseReactionConfig;
use crate::queries::{Queries, ResultEvent};

/// Serves the reaction until `shutdown`; returns once the listener is bound (or failed to).
pub async fn start(
    config: SseReactionConfig,
    queries: Arc<Queries>,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let address = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        anyhow::anyhow!("SSE reaction '{}': cannot listen on {address}: {e}", config.id)
    })?;
    tracing::info!(message = "SSE reaction listening.", reaction = %config.id, %address, path = %config.sse_path);
    let app = router(config, queries, stats, shutdown.clone());
    Ok(tokio::spawn(async move {
        let served =
            axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(message = "SSE reaction stopped.", %error);
        }
    }))
}

fn router(
    config: SseReactionConfig,
    queries: Arc<Queries>,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
) -> Router {
    let path = config.sse_path.clone();
    let config = Arc::new(config);
    Router::new()
        .route(
            &path,
            get(move || {
                let stream = client_stream(&config, &queries, stats.clone(), shutdown.clone());
                let keep_alive = KeepAlive::new()
                    .interval(Duration::from_millis(config.heartbeat_interval_ms.max(1)))
                    .text("heartbeat");
                async move { Sse::new(stream).keep_alive(keep_alive) }
            }),
        )
        .layer(CorsLayer::very_permissive())
}

/// One client's events: its reaction's queries merged, ending on lag or shutdown.
fn client_stream(
    config: &SseReactionConfig,
    queries: &Queries,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let receivers: Vec<_> = config
        .queries
        .iter()
        .filter_map(|id| queries.get(id))
        .map(|q| BroadcastStream::new(q.subscribe()))
        .collect();
    let guard = ClientGuard::new(stats.clone(), config.id.clone());
    stream::select_all(receivers)
        .take_until(shutdown.cancelled_owned())
        .scan(guard, move |guard, item: Result<Arc<ResultEvent>, BroadcastStreamRecvError>| {
            let next = match item {
                Ok(event) => {
                    guard.stats.events_sent.fetch_add(1, Ordering::Relaxed);
                    Some(Ok(Event::default().data(change_event_json(&event).to_string())))
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    guard.stats.events_missed.fetch_add(missed, Ordering::Relaxed);
                    tracing::warn!(message = "SSE client fell behind; disconnecting it.", reaction = %guard.reaction, missed);
                    None
                }
            };
            std::future::ready(next)
        })
}

/// Counts a connected client for as long as its stream lives.
struct ClientGuard {
    stats: Arc<ReactionStats>,
    reaction: String,
}

impl ClientGuard {
    fn new(stats: Arc<ReactionStats>, reaction: String) -> ClientGuard {
        stats.clients.fetch_add(1, Ordering::Relaxed);
        ClientGuard { stats, reaction }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.stats.clients.fetch_sub(1, Ordering::Relaxed);
    }
}
