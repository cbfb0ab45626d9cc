//! One client's stream: where it starts, then every released event until it is dropped or
//! the server shuts down.
//!
//! A full-results event (`reset` or `snapshot`) must show every query at one transaction
//! and continue exactly after it. The client subscribes first, so every later event is
//! buffered for it; then each query's result is read (each at the engine's latest time),
//! the older ones are rolled forward to the newest time with the buffered events, and the
//! stream continues with the first buffered event after that time.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::stream::{self, BoxStream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;

use super::Context;
use crate::queries::JsonRow;
use crate::reactions::format;
use crate::reactions::hub::{Released, Subscription};
use crate::reactions::position::Cursor;
use crate::reactions::{rows, ReactionStats};

/// The client's stream. `requested` is its `Last-Event-ID` or `since`.
pub(super) async fn open(
    context: &Context,
    requested: Option<String>,
    snapshot: bool,
) -> BoxStream<'static, Result<Event, Infallible>> {
    let reaction = &context.config.id;
    let start = match requested {
        Some(text) => match resume(context, &text).await {
            Some(subscription) => Ok((None, subscription)),
            None => {
                tracing::info!(message = "SSE client's id is not in the journal; sending a reset.", %reaction, id = %text);
                full_results(context, "reset").await
            }
        },
        None if snapshot => full_results(context, "snapshot").await,
        None => Ok((None, context.hub.subscribe())),
    };
    match start {
        Ok((head, subscription)) => stream(head, subscription, context.stats.clone()),
        Err(error) => {
            tracing::warn!(message = "SSE client could not be started; closing its stream.", %reaction, %error);
            stream::iter([Ok(Event::default().comment(format!("closed: {error}")))]).boxed()
        }
    }
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
async fn full_results(
    context: &Context,
    name: &'static str,
) -> Result<(Option<Event>, Subscription), String> {
    let mut subscription = context.hub.subscribe();
    let mut results: Vec<(Arc<str>, u64, Vec<JsonRow>)> = Vec::new();
    for member in context.hub.members() {
        let (time, rows) = context.queries.results(&member.id).await.map_err(|e| e.to_string())?;
        results.push((member.id.clone(), time, rows));
    }
    let target = results.iter().map(|(_, time, _)| *time).max().unwrap_or(0);
    tokio::select! {
        () = context.hub.wait_released(target) => {}
        () = context.shutdown.cancelled() => return Err("the server is shutting down".into()),
    }
    let mut carry = None;
    while let Ok(released) = subscription.live.try_recv() {
        if released.event.time > target {
            carry = Some(released);
            break;
        }
        let query = results.iter_mut().find(|(id, _, _)| *id == released.event.query_id);
        if let Some((_, read_at, rows)) = query {
            if released.event.time > *read_at {
                rows::apply(rows, &released.event);
            }
        }
    }
    if subscription.fell_behind.load(Ordering::Relaxed) {
        return Err("fell behind while the results were read".into());
    }
    subscription.backlog.extend(carry);
    let position = Cursor::after(context.hub.epoch(), target);
    let results: Vec<(Arc<str>, Vec<JsonRow>)> =
        results.into_iter().map(|(id, _, rows)| (id, rows)).collect();
    let data = format::full_results(position, &results);
    Ok((Some(Event::default().event(name).id(position.to_string()).data(data)), subscription))
}

/// `head`, the backlog, then live events, then a final comment saying why the stream ended.
fn stream(
    head: Option<Event>,
    subscription: Subscription,
    stats: Arc<ReactionStats>,
) -> BoxStream<'static, Result<Event, Infallible>> {
    let Subscription { backlog, live, fell_behind } = subscription;
    let guard = ClientGuard::new(stats);
    let events = stream::iter(backlog).chain(ReceiverStream::new(live)).map(move |released| {
        guard.stats.events_sent.fetch_add(1, Ordering::Relaxed);
        change_event(&released)
    });
    let last = stream::once(async move {
        if fell_behind.load(Ordering::Relaxed) {
            Event::default().comment("dropped: too far behind; reconnect with Last-Event-ID")
        } else {
            Event::default().comment("server shutting down")
        }
    });
    stream::iter(head).chain(events).chain(last).map(Ok).boxed()
}

fn change_event(released: &Released) -> Event {
    Event::default().id(released.cursor.to_string()).data(&released.data)
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
