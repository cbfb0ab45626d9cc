//! The SSE reaction: its own HTTP listener streaming change events to browsers.
//!
//! Each client gets one event per query per source transaction that changed the query's
//! result, in the reaction's `format`, each with an `id:` (see [`super::position`]), and a
//! `: heartbeat` comment every `heartbeat_interval_ms` (a comment, so pages that
//! `JSON.parse` every message are not disturbed). CORS allows any origin: the dashboard is
//! served from another port.
//!
//! Where a stream starts ([`client`]): after `Last-Event-ID` (or `?since=`) when the journal
//! covers it, else with one `reset` event holding the full results; with `?snapshot=true`
//! and no id, with one `snapshot` event; otherwise from now on, as Drasi does. Every client
//! reads the reaction's one journal of events rendered once ([`frame`], [`super::hub`]).
//!
//! On shutdown the listener stops accepting, every event of the transactions applied so
//! far is released, and each stream ends after what it holds with a final comment. Clients
//! that do not read are cut off after [`SHUTDOWN_GRACE`].

mod client;
pub mod frame;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;

use super::hub::{Hub, HubConfig, Member};
use super::ReactionStats;
use crate::config::SseReactionConfig;
use crate::listen;
use crate::queries::{Queries, QueryStatus};

/// How long shutdown waits for the engine's last events to reach the streams.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for clients to take their last events before closing anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What a client's stream needs.
struct Context {
    config: SseReactionConfig,
    queries: Arc<Queries>,
    hub: Arc<Hub>,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
}

/// The query string of the stream's URL.
#[derive(Debug, Deserialize)]
struct StreamParams {
    /// A position or event id to continue after, for clients that cannot set
    /// `Last-Event-ID` on their first request (browsers' `EventSource`).
    since: Option<String>,
    /// Start with a `snapshot` event holding the full results (when there is no id).
    #[serde(default)]
    snapshot: bool,
}

/// Serves the reaction until `shutdown`; returns once the listener is bound (or failed to).
pub async fn start(
    config: SseReactionConfig,
    queries: Arc<Queries>,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let address = format!("{}:{}", config.host, config.port);
    let listener = listen::bind(&address).await.map_err(|e| {
        anyhow::anyhow!("SSE reaction '{}': cannot listen on {address}: {e}", config.id)
    })?;
    tracing::info!(message = "SSE reaction listening.", reaction = %config.id, %address, path = %config.sse_path);
    let (members, feeds) = config
        .queries
        .iter()
        .enumerate()
        .filter_map(|(index, id)| {
            let query = queries.get(id).filter(|q| q.status == QueryStatus::Running)?;
            Some((Member { index, id: Arc::from(id.as_str()) }, query.feed()))
        })
        .unzip();
    let hub_config = HubConfig {
        reaction: config.id.clone(),
        epoch: queries.epoch(),
        journal_size: config.journal_size,
        max_client_backlog_bytes: config.max_client_backlog_bytes,
        format: config.format,
    };
    let hub = Arc::new(Hub::new(hub_config, members, stats.clone()));
    tokio::spawn(hub.clone().run(feeds));
    let context = Arc::new(Context { config, queries, hub, stats, shutdown: shutdown.clone() });
    let closing = {
        let context = context.clone();
        async move {
            context.shutdown.cancelled().await;
            let last = context.queries.last_time();
            if tokio::time::timeout(FLUSH_TIMEOUT, context.hub.wait_released(last)).await.is_err() {
                tracing::warn!(message = "SSE reaction closing before the engine's last events arrived.", reaction = %context.config.id);
            }
            context.hub.close();
        }
    };
    let app = router(context);
    Ok(tokio::spawn(async move {
        let served = listen::serve(listener, app).with_graceful_shutdown(closing);
        tokio::select! {
            served = served => {
                if let Err(error) = served {
                    tracing::error!(message = "SSE reaction stopped.", %error);
                }
            }
            () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                tracing::warn!(message = "SSE clients did not take their last events in time; closing their connections.");
            }
        }
    }))
}

fn router(context: Arc<Context>) -> Router {
    let path = context.config.sse_path.clone();
    Router::new()
        .route(
            &path,
            get(move |headers: HeaderMap, Query(params): Query<StreamParams>| {
                let context = context.clone();
                async move {
                    let last_event_id = headers
                        .get("last-event-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    // A reconnecting browser sends its latest id; `since` is from the first
                    // connect, so the header wins.
                    let requested = last_event_id.or(params.since);
                    let stream = client::open(&context, requested, params.snapshot).await;
                    let headers = [
                        (header::CONTENT_TYPE, "text/event-stream"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ];
                    (headers, Body::from_stream(stream.map(Ok::<_, Infallible>))).into_response()
                }
            }),
        )
        .layer(CorsLayer::very_permissive())
}
