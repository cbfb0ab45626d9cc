//! One client's stream: where it starts, then every released event until it is dropped or
//! the server shuts down.
//!
//! A full-results event (`reset` or `snapshot`) must show every query at one transaction
//! and continue exactly after it. The client subscribes first, so every later event waits
//! for it in the journal; then each query's result is read (each at the engine's latest
//! time), the older ones are rolled forward to the newest time with the events since, and
//! the stream continues with the first event after that time.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use super::frame::{self, FrameWriter};
use super::Context;
use crate::queries::QueryResults;
use crate::reactions::format::FullResults;
use crate::reactions::hub::{Released, Subscription, Taken};
use crate::reactions::position::Cursor;
use crate::reactions::{rows, ReactionStats};

/// The stream of wire text of a client. `requested` is its `Last-Event-ID` or `since`.
pub(super) async fn open(
    context: &Context,
    requested: Option<String>,
    snapshot: bool,
) -> BoxStream<'static, Bytes> {
    let reaction = &context.config.id;
    let start = match requested {
        Some(text) => match resume(context, &text).await {
            Some(subscription) => Ok(Start { head: None, carry: Vec::new(), subscription }),
            None => {
                tracing::info!(message = "SSE client's id is not in the journal; sending a reset.", %reaction, id = %text);
                full_results(context, "reset").await
            }
        },
        None if snapshot => full_results(context, "snapshot").await,
        None => Ok(Start { head: None, carry: Vec::new(), subscription: context.hub.subscribe() }),
    };
    match start {
        Ok(start) => {
            let heartbeat = Duration::from_millis(context.config.heartbeat_interval_ms.max(1));
            feed(start, heartbeat, context.stats.clone())
        }
        Err(error) => {
            tracing::warn!(message = "SSE client could not be started; closing its stream.", %reaction, %error);
            stream::iter([frame::comment(&format!("closed: {error}"))]).boxed()
        }
    }
}

/// Where a client's stream starts.
struct Start {
    /// A full-results event to send first.
    head: Option<Bytes>,
    /// Events already taken from the journal, to send before the next ones.
    carry: Vec<Arc<Released>>,
    subscription: Subscription,
}

/// Continues after `text`, if it is an id of this process that the journal covers.
async fn resume(context: &Context, text: &str) -> Option<Subscription> {
    let cursor = Cursor::parse(text)?;
    if cursor.epoch != context.hub.epoch() || cursor.time > context.queries.last_time() {
        return None;
    }
    // A REST position may be ahead of what the hub has released so far.
    tokio::select! {
        () = context.hub.wait_released(cursor.time) => {}
        () = context.shutdown.cancelled() => return None,
    }
    context.hub.resume(cursor)
}

/// A `name` event with every query's full result at one transaction, and the subscription
/// that continues after it.
async fn full_results(context: &Context, name: &'static str) -> Result<Start, String> {
    let mut subscription = context.hub.subscribe();
    let mut results: Vec<(Arc<str>, QueryResults)> = Vec::new();
    for member in context.hub.members() {
        let read = context.queries.results(&member.id).await.map_err(|e| e.to_string())?;
        results.push((member.id.clone(), read));
    }
    let target = results.iter().map(|(_, read)| read.time).max().unwrap_or(0);
    tokio::select! {
        () = context.hub.wait_released(target) => {}
        () = context.shutdown.cancelled() => return Err("the server is shutting down".into()),
    }
    // Every event up to `target` is released: roll the older results forward with them, and
    // keep the first ones after it for the stream.
    let mut carry = Vec::new();
    while carry.is_empty() {
        let events = match subscription.try_take() {
            Taken::Events(events) if !events.is_empty() => events,
            Taken::Events(_) | Taken::Closed => break,
            Taken::Dropped => return Err("fell behind while the results were read".into()),
        };
        for released in events {
            if released.event.time > target {
                carry.push(released);
                continue;
            }
            let query = results.iter_mut().find(|(id, _)| *id == released.event.query_id);
            if let Some((_, read)) = query {
                if released.event.time > read.time {
                    rows::apply(&mut read.rows, &released.event);
                }
            }
        }
    }
    let position = Cursor::after(context.hub.epoch(), target);
    let data = FullResults { position, results: &results };
    let head = FrameWriter::default().event(Some(name), &position.to_string(), &data);
    Ok(Start { head: Some(head), carry, subscription })
}

/// What a client's stream has yet to send.
struct Feed {
    queue: VecDeque<Arc<Released>>,
    subscription: Subscription,
    heartbeat: Duration,
    guard: ClientGuard,
    ended: bool,
}

impl Feed {
    /// The next piece of wire text: an event, a heartbeat when idle, and last a comment saying
    /// why the stream ended; `None` after that.
    async fn next(&mut self) -> Option<Bytes> {
        while !self.ended {
            if let Some(released) = self.queue.pop_front() {
                self.guard.stats.events_sent.fetch_add(1, Ordering::Relaxed);
                return Some(released.frame.clone());
            }
            let taken = tokio::select! {
                taken = self.subscription.take() => taken,
                () = tokio::time::sleep(self.heartbeat) => return Some(frame::comment("heartbeat")),
            };
            match taken {
                Taken::Events(events) => self.queue.extend(events),
                Taken::Dropped => {
                    self.ended = true;
                    return Some(frame::comment(
                        "dropped: too far behind; reconnect with Last-Event-ID",
                    ));
                }
                Taken::Closed => {
                    self.ended = true;
                    return Some(frame::comment("server shutting down"));
                }
            }
        }
        None
    }
}

/// `head`, the carried events, then events from the journal as they are released.
fn feed(start: Start, heartbeat: Duration, stats: Arc<ReactionStats>) -> BoxStream<'static, Bytes> {
    let Start { head, carry, subscription } = start;
    let feed = Feed {
        queue: carry.into(),
        subscription,
        heartbeat,
        guard: ClientGuard::new(stats),
        ended: false,
    };
    let events = stream::unfold(feed, |mut feed| async move {
        let next = feed.next().await?;
        Some((next, feed))
    });
    stream::iter(head).chain(events).boxed()
}

/// Counts a connected client for as long as its stream lives.
struct ClientGuard {
    stats: Arc<ReactionStats>,
}

impl ClientGuard {
    fn new(stats: Arc<ReactionStats>) -> ClientGuard {
        stats.clients.fetch_add(1, Ordering::Relaxed);
        ClientGuard { stats }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.stats.clients.fetch_sub(1, Ordering::Relaxed);
    }
}
