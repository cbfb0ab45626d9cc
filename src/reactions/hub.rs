//! One SSE reaction's ordered event stream: its queries merged in transaction order, and one
//! shared journal that every client reads through a cursor of its own.
//!
//! ```text
//!  query feeds ──▶ merge by (time, query index), released once every query's progress
//!                  has passed the time ──▶ journal: Arc'd events, each rendered to its wire
//!                                          text once     ▲        ▲        ▲
//!                                                     each client's cursor (next event)
//! ```
//!
//! Releasing only what every query has finished makes the order total and final, so an
//! event id names exactly the events before it, and "everything after id X" is well defined
//! for `Last-Event-ID`. Registering a client, placing its cursor and releasing happen under
//! one lock, so a client sees every event after its starting point exactly once.
//!
//! Clients share the events: a client holds a cursor, not a copy, so a burst costs the same
//! for one client as for a thousand, and a client that reads as fast as it is sent data is
//! never dropped however large a burst is. The journal keeps the last `journal_size` events
//! for clients that resume, and beyond that whatever a connected client has yet to read. A
//! client is dropped when the events it has yet to read exceed `max_client_backlog_bytes`:
//! that bounds what a stalled client keeps in memory. It can reconnect with its last id and
//! gets exactly what it missed if the journal still holds it, else a `reset`.
//!
//! Nothing here waits on a client: one stalled browser never holds back the engine or anyone
//! else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use futures::stream::{self, StreamExt};
use ripple_dataflows::runtime::Time;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::format::ChangeEvent;
use super::position::Cursor;
use super::sse::frame::FrameWriter;
use super::ReactionStats;
use crate::config::SseFormat;
use crate::queries::{unix_millis, QueryUpdate, ResultEvent};

/// The most events a client takes from the journal at once, so that its cursor stays close
/// to what it has really written.
const TAKE_MAX: usize = 256;

/// One change event of the reaction, in its final place in the order.
#[derive(Debug)]
pub struct Released {
    /// Its id.
    pub cursor: Cursor,
    /// The change, for rolling snapshots forward.
    pub event: Arc<ResultEvent>,
    /// The event on the wire (`id:` and `data:` lines), rendered once for every client.
    pub frame: Bytes,
    /// Bytes of every event released up to and including this one.
    end: u64,
}

/// A query the hub merges: its index in the reaction's `queries` (part of event ids) and id.
#[derive(Clone, Debug)]
pub struct Member {
    /// Index in the reaction's `queries`.
    pub index: usize,
    /// The query id.
    pub id: Arc<str>,
}

/// How the hub is configured.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The reaction's id, for logs.
    pub reaction: String,
    /// The epoch of the ids.
    pub epoch: u64,
    /// Events kept for clients that resume.
    pub journal_size: usize,
    /// Bytes of events a client may have yet to read before it is dropped.
    pub max_client_backlog_bytes: u64,
    /// The events' format.
    pub format: SseFormat,
}

/// A client's place in the journal, shared by its stream and the hub. The hub forgets a
/// reader once the stream's handle is gone.
#[derive(Debug)]
struct Reader {
    /// Sequence number of the next event the client takes.
    next: AtomicU64,
    /// Set when the hub dropped the client for falling behind.
    dropped: AtomicBool,
}

struct State {
    /// Released events, numbered in release order from 0; `journal[0]` is number `first`.
    journal: VecDeque<Arc<Released>>,
    first: u64,
    /// Bytes of every event released so far.
    bytes: u64,
    /// Events at or before it may have left the journal.
    floor: Cursor,
    readers: Vec<Arc<Reader>>,
    closed: bool,
}

impl State {
    /// The number the next released event gets.
    fn head(&self) -> u64 {
        self.first + self.journal.len() as u64
    }

    /// Bytes released from event number `next` on.
    fn bytes_from(&self, next: u64) -> u64 {
        let held = next.checked_sub(self.first).and_then(|i| self.journal.get(i as usize));
        held.map_or(0, |released| self.bytes - (released.end - released.frame.len() as u64))
    }
}

/// What a client gets from the journal.
#[derive(Debug)]
pub enum Taken {
    /// The next events, in order (empty from [`Subscription::try_take`] if there is none yet).
    Events(Vec<Arc<Released>>),
    /// The client was dropped for falling behind; its stream should end.
    Dropped,
    /// The hub closed (shutdown) and the client has taken everything.
    Closed,
}

/// A connected client's place in the stream.
pub struct Subscription {
    hub: Arc<Hub>,
    reader: Arc<Reader>,
    /// Changes whenever events are released, a client is dropped or the hub closes.
    wake: watch::Receiver<u64>,
}

impl Subscription {
    /// The events released after the client's place, without waiting.
    pub fn try_take(&mut self) -> Taken {
        self.hub.take(&self.reader)
    }

    /// Waits until there are events, or the client was dropped, or the hub closed.
    /// Cancel-safe.
    pub async fn take(&mut self) -> Taken {
        loop {
            self.wake.borrow_and_update();
            match self.try_take() {
                Taken::Events(events) if events.is_empty() => {}
                taken => return taken,
            }
            if self.wake.changed().await.is_err() {
                return Taken::Closed;
            }
        }
    }
}

/// The ordered stream of one SSE reaction.
pub struct Hub {
    config: HubConfig,
    members: Vec<Member>,
    stats: Arc<ReactionStats>,
    state: RwLock<State>,
    /// Every event at or before this time has been released.
    released: watch::Sender<Time>,
    /// Wakes the clients: bumped on every release and on close.
    wake: watch::Sender<u64>,
}

impl Hub {
    /// A hub for `members` (the reaction's running queries).
    pub fn new(config: HubConfig, members: Vec<Member>, stats: Arc<ReactionStats>) -> Hub {
        // With nothing to merge, every time is trivially released.
        let released = if members.is_empty() { Time::MAX } else { 0 };
        let floor = Cursor::after(config.epoch, 0);
        Hub {
            config: HubConfig { journal_size: config.journal_size.max(1), ..config },
            members,
            stats,
            state: RwLock::new(State {
                journal: VecDeque::new(),
                first: 0,
                bytes: 0,
                floor,
                readers: Vec::new(),
                closed: false,
            }),
            released: watch::Sender::new(released),
            wake: watch::Sender::new(0),
        }
    }

    /// The queries merged, in reaction order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The epoch of the hub's ids.
    pub fn epoch(&self) -> u64 {
        self.config.epoch
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Merges `feeds` (one per member, same order) until they end.
    pub async fn run(self: Arc<Self>, feeds: Vec<mpsc::UnboundedReceiver<QueryUpdate>>) {
        let mut pending: Vec<VecDeque<Arc<ResultEvent>>> = vec![VecDeque::new(); feeds.len()];
        let mut upper: Vec<Time> = vec![0; feeds.len()];
        let mut frames = FrameWriter::default();
        let mut merged = stream::select_all(
            feeds
                .into_iter()
                .enumerate()
                .map(|(slot, feed)| UnboundedReceiverStream::new(feed).map(move |u| (slot, u))),
        );
        while let Some((slot, update)) = merged.next().await {
            match update {
                QueryUpdate::Changes(event) => pending[slot].push_back(event),
                QueryUpdate::Progress { upper: new } => upper[slot] = new,
            }
            let frontier = upper.iter().copied().min().unwrap_or(Time::MAX);
            self.release(&mut pending, frontier, &mut frames);
        }
    }

    /// Releases, in (time, index) order, every pending event before `frontier`.
    fn release(
        &self,
        pending: &mut [VecDeque<Arc<ResultEvent>>],
        frontier: Time,
        frames: &mut FrameWriter,
    ) {
        let mut ready = Vec::new();
        loop {
            let next = pending
                .iter()
                .enumerate()
                .filter_map(|(slot, queue)| {
                    let head = queue.front().filter(|event| event.time < frontier)?;
                    Some((head.time, self.members[slot].index, slot))
                })
                .min();
            let Some((time, index, slot)) = next else { break };
            let event = pending[slot].pop_front().expect("the head was just seen");
            let data = ChangeEvent::new(self.config.format, &event, unix_millis());
            let cursor = Cursor::event(self.config.epoch, time, index);
            let frame = frames.event(None, &cursor.to_string(), &data);
            ready.push((cursor, event, frame));
        }
        if !ready.is_empty() {
            self.publish(ready);
        }
        if frontier > 0 && frontier - 1 > *self.released.borrow() {
            self.released.send_replace(frontier - 1);
        }
    }

    /// Appends events to the journal, drops clients too far behind, evicts what nobody needs
    /// any more, and wakes the clients.
    fn publish(&self, ready: Vec<(Cursor, Arc<ResultEvent>, Bytes)>) {
        let mut state = self.write();
        if state.closed {
            return;
        }
        for (cursor, event, frame) in ready {
            state.bytes += frame.len() as u64;
            let end = state.bytes;
            state.journal.push_back(Arc::new(Released { cursor, event, frame, end }));
        }
        let mut oldest_needed = state.head();
        let mut readers = std::mem::take(&mut state.readers);
        readers.retain(|reader| {
            // The hub's handle is the last one: the client is gone.
            if Arc::strong_count(reader) == 1 {
                return false;
            }
            let next = reader.next.load(Ordering::Acquire);
            let behind = state.bytes_from(next);
            if behind > self.config.max_client_backlog_bytes {
                reader.dropped.store(true, Ordering::Release);
                self.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    message = "SSE client fell behind; dropping it (it can resume with Last-Event-ID).",
                    reaction = %self.config.reaction,
                    behind_bytes = behind,
                    max_client_backlog_bytes = self.config.max_client_backlog_bytes,
                );
                return false;
            }
            oldest_needed = oldest_needed.min(next);
            true
        });
        state.readers = readers;
        while state.journal.len() > self.config.journal_size && state.first < oldest_needed {
            let evicted = state.journal.pop_front().expect("the journal is not empty");
            state.first += 1;
            state.floor = evicted.cursor;
        }
        let head = state.head();
        drop(state);
        self.wake.send_replace(head);
    }

    /// The events after `reader`'s place (at most [`TAKE_MAX`]), moving it past them.
    fn take(&self, reader: &Reader) -> Taken {
        let state = self.read();
        let next = reader.next.load(Ordering::Acquire);
        // A reader the hub keeps is never behind `first`: eviction waits for it.
        if reader.dropped.load(Ordering::Acquire) || next < state.first {
            return Taken::Dropped;
        }
        let start = (next - state.first) as usize;
        let end = state.journal.len().min(start + TAKE_MAX);
        if start == end && state.closed {
            return Taken::Closed;
        }
        let events: Vec<_> = state.journal.range(start..end).cloned().collect();
        reader.next.store(state.first + end as u64, Ordering::Release);
        Taken::Events(events)
    }

    /// Waits until every event at or before `time` has been released.
    pub async fn wait_released(&self, time: Time) {
        let mut released = self.released.subscribe();
        // The sender lives in `self`, so the wait only ends by reaching `time`.
        let _ = released.wait_for(|released| *released >= time).await;
    }

    /// Subscribes from now on.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        let mut state = self.write();
        let head = state.head();
        self.register(&mut state, head)
    }

    /// Subscribes with every event after `cursor`, if the journal still holds all of them;
    /// `None` if it does not, or if `cursor` is from another epoch or not released yet.
    pub fn resume(self: &Arc<Self>, cursor: Cursor) -> Option<Subscription> {
        let mut state = self.write();
        let known = cursor.epoch == self.config.epoch
            && cursor >= state.floor
            && cursor.time <= *self.released.borrow();
        if !known {
            return None;
        }
        let start = state.journal.partition_point(|released| released.cursor <= cursor);
        let next = state.first + start as u64;
        Some(self.register(&mut state, next))
    }

    fn register(self: &Arc<Self>, state: &mut State, next: u64) -> Subscription {
        let reader =
            Arc::new(Reader { next: AtomicU64::new(next), dropped: AtomicBool::new(false) });
        state.readers.push(reader.clone());
        Subscription { hub: self.clone(), reader, wake: self.wake.subscribe() }
    }

    /// Releases nothing more: every client's stream ends once it has taken what was released.
    pub fn close(&self) {
        self.write().closed = true;
        self.wake.send_modify(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_with(journal_size: usize, max_client_backlog_bytes: u64) -> Arc<Hub> {
        let members =
            vec![Member { index: 0, id: Arc::from("a") }, Member { index: 1, id: Arc::from("b") }];
        let stats = Arc::new(ReactionStats::default());
        let config = HubConfig {
            reaction: "r".into(),
            epoch: 5,
            journal_size,
            max_client_backlog_bytes,
            format: SseFormat::Tutorial,
        };
        Arc::new(Hub::new(config, members, stats))
    }

    fn hub(journal_size: usize) -> Arc<Hub> {
        hub_with(journal_size, u64::MAX)
    }

    fn changes(query: &str, time: Time) -> QueryUpdate {
        QueryUpdate::Changes(Arc::new(ResultEvent {
            query_id: Arc::from(query),
            time,
            columns: Arc::from([]),
            changes: Default::default(),
        }))
    }

    /// Feeds `updates` (slot, update) to a running hub and waits until `through` is released.
    async fn feed(hub: &Arc<Hub>, updates: Vec<(usize, QueryUpdate)>, through: Time) {
        let (a, ra) = mpsc::unbounded_channel();
        let (b, rb) = mpsc::unbounded_channel();
        tokio::spawn(hub.clone().run(vec![ra, rb]));
        for (slot, update) in updates {
            [&a, &b][slot].send(update).unwrap();
        }
        hub.wait_released(through).await;
    }

    /// Query a changes at 1..=count, then both queries' progress past them.
    fn a_changes(count: Time) -> Vec<(usize, QueryUpdate)> {
        let mut updates: Vec<_> = (1..=count).map(|time| (0, changes("a", time))).collect();
        updates.push((0, QueryUpdate::Progress { upper: count + 1 }));
        updates.push((1, QueryUpdate::Progress { upper: count + 1 }));
        updates
    }

    fn ids(events: &[Arc<Released>]) -> Vec<String> {
        events.iter().map(|e| e.cursor.to_string()).collect()
    }

    /// Everything the subscription can take now.
    fn drain(subscription: &mut Subscription) -> Vec<Arc<Released>> {
        let mut all = Vec::new();
        while let Taken::Events(events) = subscription.try_take() {
            if events.is_empty() {
                break;
            }
            all.extend(events);
        }
        all
    }

    #[tokio::test]
    async fn merges_in_transaction_then_query_order_once_both_progressed() {
        let hub = hub(100);
        let mut subscription = hub.subscribe();
        let updates = vec![
            (1, changes("b", 1)),
            (1, changes("b", 2)),
            (1, QueryUpdate::Progress { upper: 3 }),
            (0, changes("a", 2)),
            (0, QueryUpdate::Progress { upper: 3 }),
        ];
        feed(&hub, updates, 2).await;
        assert_eq!(ids(&drain(&mut subscription)), ["5.1.1", "5.2.0", "5.2.1"]);
    }

    #[tokio::test]
    async fn resumes_exactly_after_an_id_or_refuses() {
        let hub = hub(2);
        feed(&hub, a_changes(3), 3).await;
        let resumed =
            |text: &str| hub.resume(Cursor::parse(text).unwrap()).map(|mut s| ids(&drain(&mut s)));
        assert_eq!(resumed("5.2.0"), Some(vec!["5.3.0".to_string()]));
        assert_eq!(resumed("5.1"), Some(vec!["5.2.0".to_string(), "5.3.0".to_string()]));
        assert_eq!(resumed("5.3"), Some(vec![]));
        // Evicted, another epoch, not yet released.
        assert_eq!(resumed("5.0"), None);
        assert_eq!(resumed("4.3"), None);
        assert_eq!(resumed("5.4"), None);
    }

    #[tokio::test]
    async fn a_burst_larger_than_the_journal_reaches_a_connected_client_whole() {
        let hub = hub(10);
        let mut subscription = hub.subscribe();
        feed(&hub, a_changes(5000), 5000).await;
        let events = drain(&mut subscription);
        let times: Vec<Time> = events.iter().map(|e| e.event.time).collect();
        assert_eq!(times, (1..=5000).collect::<Vec<_>>());
        assert_eq!(hub.stats.clients_dropped.load(Ordering::Relaxed), 0);
        // Once read, the journal is back to its size.
        let next = vec![
            (0, changes("a", 5001)),
            (0, QueryUpdate::Progress { upper: 5002 }),
            (1, QueryUpdate::Progress { upper: 5002 }),
        ];
        feed(&hub, next, 5001).await;
        assert_eq!(hub.read().journal.len(), 10);
    }

    #[tokio::test]
    async fn a_client_too_far_behind_is_dropped_and_can_resume_exactly() {
        let hub = hub_with(1000, 2000);
        let mut stalled = hub.subscribe();
        let mut reader = hub.subscribe();
        let (a, ra) = mpsc::unbounded_channel();
        let (b, rb) = mpsc::unbounded_channel::<QueryUpdate>();
        tokio::spawn(hub.clone().run(vec![ra, rb]));
        b.send(QueryUpdate::Progress { upper: Time::MAX }).unwrap();
        let mut last_read = None;
        for time in 1..=100 {
            a.send(changes("a", time)).unwrap();
            a.send(QueryUpdate::Progress { upper: time + 1 }).unwrap();
            hub.wait_released(time).await;
            let Taken::Events(events) = reader.take().await else {
                panic!("the reader is dropped")
            };
            assert_eq!(events.iter().map(|e| e.event.time).collect::<Vec<_>>(), [time]);
            if time == 1 {
                let Taken::Events(first) = stalled.try_take() else { panic!("dropped at once") };
                last_read = first.last().map(|e| e.cursor);
            }
        }
        assert!(matches!(stalled.try_take(), Taken::Dropped));
        assert_eq!(hub.stats.clients_dropped.load(Ordering::Relaxed), 1);
        // The journal still holds its next event: it resumes exactly.
        let mut resumed = hub.resume(last_read.expect("read one event")).expect("resumable");
        let times: Vec<Time> = drain(&mut resumed).iter().map(|e| e.event.time).collect();
        assert_eq!(times, (2..=100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn closing_ends_every_stream_after_what_was_released() {
        let hub = hub(10);
        let mut subscription = hub.subscribe();
        feed(&hub, a_changes(3), 3).await;
        hub.close();
        let Taken::Events(events) = subscription.take().await else { panic!("events first") };
        assert_eq!(events.len(), 3);
        assert!(matches!(subscription.take().await, Taken::Closed));
        assert!(matches!(hub.subscribe().take().await, Taken::Closed));
    }
}
