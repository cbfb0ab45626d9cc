//! One SSE reaction's ordered event stream: its queries merged in transaction order, a
//! bounded journal for clients that resume, and a bounded buffer per client.
//!
//! ```text
//!  query feeds ──▶ merge by (time, query index), released once every query's progress
//!                  has passed the time ──▶ journal (last `journal_size` events)
//!                                     └──▶ each client's buffer (try_send; full → dropped)
//! ```
//!
//! Releasing only what every query has finished makes the order total and final, so an
//! event id names exactly the events before it, and "everything after id X" is well defined
//! for `Last-Event-ID`. Registering a client and reading the journal happen under one lock
//! with releasing, so a resuming client sees every event after its id exactly once.
//!
//! Nothing here waits on a client: a client whose buffer is full is dropped (it can resume
//! with its last id), so one stalled browser never holds back the engine or anyone else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};
use ripple_dataflows::runtime::Time;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::format;
use super::position::Cursor;
use super::ReactionStats;
use crate::config::SseFormat;
use crate::queries::{unix_millis, QueryUpdate, ResultEvent};

/// How many events a client may have waiting before it is dropped.
pub const CLIENT_BUFFER: usize = 1024;

/// One change event of the reaction, in its final place in the order.
#[derive(Debug)]
pub struct Released {
    /// Its id.
    pub cursor: Cursor,
    /// The change, for rolling snapshots forward.
    pub event: Arc<ResultEvent>,
    /// The `data:` text, rendered once for every client.
    pub data: String,
}

/// A query the hub merges: its index in the reaction's `queries` (part of event ids) and id.
#[derive(Clone, Debug)]
pub struct Member {
    /// Index in the reaction's `queries`.
    pub index: usize,
    /// The query id.
    pub id: Arc<str>,
}

/// A connected client's view of the hub.
pub struct Subscription {
    /// Events after the client's id, already released (resumption only).
    pub backlog: Vec<Arc<Released>>,
    /// Every event released after subscribing, until the hub drops or closes the client.
    pub live: mpsc::Receiver<Arc<Released>>,
    /// Set when the client was dropped for falling behind.
    pub fell_behind: Arc<AtomicBool>,
}

struct Client {
    tx: mpsc::Sender<Arc<Released>>,
    fell_behind: Arc<AtomicBool>,
}

struct State {
    journal: VecDeque<Arc<Released>>,
    /// Events at or before it may have left the journal.
    floor: Cursor,
    clients: Vec<Client>,
    closed: bool,
}

/// The ordered stream of one SSE reaction.
pub struct Hub {
    reaction: String,
    epoch: u64,
    members: Vec<Member>,
    journal_size: usize,
    format: SseFormat,
    stats: Arc<ReactionStats>,
    state: Mutex<State>,
    /// Every event at or before this time has been released.
    released: watch::Sender<Time>,
}

impl Hub {
    /// A hub for `members` (the reaction's running queries), in `epoch`.
    pub fn new(
        reaction: String,
        epoch: u64,
        members: Vec<Member>,
        journal_size: usize,
        format: SseFormat,
        stats: Arc<ReactionStats>,
    ) -> Hub {
        // With nothing to merge, every time is trivially released.
        let released = if members.is_empty() { Time::MAX } else { 0 };
        Hub {
            reaction,
            epoch,
            members,
            journal_size: journal_size.max(1),
            format,
            stats,
            state: Mutex::new(State {
                journal: VecDeque::new(),
                floor: Cursor::after(epoch, 0),
                clients: Vec::new(),
                closed: false,
            }),
            released: watch::Sender::new(released),
        }
    }

    /// The queries merged, in reaction order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The epoch of the hub's ids.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Merges `feeds` (one per member, same order) until they end.
    pub async fn run(self: Arc<Self>, feeds: Vec<mpsc::UnboundedReceiver<QueryUpdate>>) {
        let mut pending: Vec<VecDeque<Arc<ResultEvent>>> = vec![VecDeque::new(); feeds.len()];
        let mut upper: Vec<Time> = vec![0; feeds.len()];
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
            self.release(&mut pending, frontier);
        }
    }

    /// Releases, in (time, index) order, every pending event before `frontier`.
    fn release(&self, pending: &mut [VecDeque<Arc<ResultEvent>>], frontier: Time) {
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
            let data = format::change_event(self.format, &event, unix_millis());
            let cursor = Cursor::event(self.epoch, time, index);
            ready.push(Arc::new(Released { cursor, event, data }));
        }
        if !ready.is_empty() {
            let mut state = self.lock();
            for released in ready {
                self.distribute(&mut state, &released);
                state.journal.push_back(released);
                if state.journal.len() > self.journal_size {
                    if let Some(evicted) = state.journal.pop_front() {
                        state.floor = evicted.cursor;
                    }
                }
            }
        }
        if frontier > 0 && frontier - 1 > *self.released.borrow() {
            self.released.send_replace(frontier - 1);
        }
    }

    /// Hands `released` to every client, dropping those whose buffer is full.
    fn distribute(&self, state: &mut State, released: &Arc<Released>) {
        state.clients.retain(|client| match client.tx.try_send(released.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                client.fell_behind.store(true, Ordering::Relaxed);
                self.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    message = "SSE client fell behind; dropping it (it can resume with Last-Event-ID).",
                    reaction = %self.reaction,
                    buffered = CLIENT_BUFFER,
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Waits until every event at or before `time` has been released.
    pub async fn wait_released(&self, time: Time) {
        let mut released = self.released.subscribe();
        // The sender lives in `self`, so the wait only ends by reaching `time`.
        let _ = released.wait_for(|released| *released >= time).await;
    }

    /// Subscribes from now on.
    pub fn subscribe(&self) -> Subscription {
        self.register(&mut self.lock(), Vec::new())
    }

    /// Subscribes with every event after `cursor`, if the journal still holds all of them;
    /// `None` if it does not, or if `cursor` is from another epoch or not released yet.
    pub fn resume(&self, cursor: Cursor) -> Option<Subscription> {
        let mut state = self.lock();
        let known = cursor.epoch == self.epoch
            && cursor >= state.floor
            && cursor.time <= *self.released.borrow();
        if !known {
            return None;
        }
        let start = state.journal.partition_point(|released| released.cursor <= cursor);
        let backlog = state.journal.range(start..).cloned().collect();
        Some(self.register(&mut state, backlog))
    }

    fn register(&self, state: &mut State, backlog: Vec<Arc<Released>>) -> Subscription {
        let (tx, live) = mpsc::channel(CLIENT_BUFFER);
        let fell_behind = Arc::new(AtomicBool::new(false));
        if !state.closed {
            state.clients.push(Client { tx, fell_behind: fell_behind.clone() });
        }
        Subscription { backlog, live, fell_behind }
    }

    /// Ends every client's stream once it has sent what it holds; later subscribers get an
    /// empty stream.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(journal_size: usize) -> Arc<Hub> {
        let members =
            vec![Member { index: 0, id: Arc::from("a") }, Member { index: 1, id: Arc::from("b") }];
        let stats = Arc::new(ReactionStats::default());
        Arc::new(Hub::new("r".into(), 5, members, journal_size, SseFormat::Tutorial, stats))
    }

    fn changes(query: &str, time: Time) -> QueryUpdate {
        QueryUpdate::Changes(Arc::new(ResultEvent {
            query_id: Arc::from(query),
            time,
            added: vec![],
            updated: vec![],
            deleted: vec![],
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

    fn ids(events: &[Arc<Released>]) -> Vec<String> {
        events.iter().map(|e| e.cursor.to_string()).collect()
    }

    fn drain(live: &mut mpsc::Receiver<Arc<Released>>) -> Vec<Arc<Released>> {
        std::iter::from_fn(|| live.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn merges_in_transaction_then_query_order_once_both_progressed() {
        let hub = hub(100);
        let mut live = hub.subscribe().live;
        let updates = vec![
            (1, changes("b", 1)),
            (1, changes("b", 2)),
            (1, QueryUpdate::Progress { upper: 3 }),
            (0, changes("a", 2)),
            (0, QueryUpdate::Progress { upper: 3 }),
        ];
        feed(&hub, updates, 2).await;
        assert_eq!(ids(&drain(&mut live)), ["5.1.1", "5.2.0", "5.2.1"]);
    }

    #[tokio::test]
    async fn resumes_exactly_after_an_id_or_refuses() {
        let hub = hub(2);
        let updates = vec![
            (0, changes("a", 1)),
            (0, changes("a", 2)),
            (0, changes("a", 3)),
            (0, QueryUpdate::Progress { upper: 4 }),
            (1, QueryUpdate::Progress { upper: 4 }),
        ];
        feed(&hub, updates, 3).await;
        let resumed =
            |text: &str| hub.resume(Cursor::parse(text).unwrap()).map(|s| ids(&s.backlog));
        assert_eq!(resumed("5.2.0"), Some(vec!["5.3.0".to_string()]));
        assert_eq!(resumed("5.1"), Some(vec!["5.2.0".to_string(), "5.3.0".to_string()]));
        assert_eq!(resumed("5.3"), Some(vec![]));
        // Evicted, another epoch, not yet released.
        assert_eq!(resumed("5.0"), None);
        assert_eq!(resumed("4.3"), None);
        assert_eq!(resumed("5.4"), None);
    }

    #[tokio::test]
    async fn a_full_client_is_dropped_and_others_keep_everything() {
        let hub = hub(10);
        let stalled = hub.subscribe();
        let mut reader = hub.subscribe().live;
        let (a, ra) = mpsc::unbounded_channel();
        let (b, rb) = mpsc::unbounded_channel::<QueryUpdate>();
        tokio::spawn(hub.clone().run(vec![ra, rb]));
        let total = CLIENT_BUFFER as Time + 10;
        let mut received = 0;
        for time in 1..=total {
            a.send(changes("a", time)).unwrap();
            a.send(QueryUpdate::Progress { upper: time + 1 }).unwrap();
        }
        // Query b has no changes; its progress releases everything.
        b.send(QueryUpdate::Progress { upper: total + 1 }).unwrap();
        while received < total {
            let event = reader.recv().await.expect("the reader stays subscribed");
            received += 1;
            assert_eq!(event.event.time, received);
        }
        assert!(stalled.fell_behind.load(Ordering::Relaxed));
        assert_eq!(hub.stats.clients_dropped.load(Ordering::Relaxed), 1);
    }
}
