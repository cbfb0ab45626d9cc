//! One engine transaction fed in parts as its updates are produced, with bounded memory.
//!
//! A bootstrap produces more updates than ripple should hold at once, yet they must reach the
//! engine as one transaction. [`Feed`] collects updates into parts of a fixed size and hands
//! each full part to the engine's [`Transaction`]; before handing over a part it waits until
//! worker 0 has taken the one before, so at most two parts are ever queued however fast the
//! producer is, and producing the next part overlaps with the engine taking the last.

use std::mem;

use ripple_dataflows::runtime::{Time, Transaction};
use tokio::sync::oneshot;

use super::tables::Update;

/// How many updates a part holds by default: large enough that the per-part cost (a channel
/// send and a wake-up of worker 0) is negligible, small enough to be a rounding error in
/// memory (a few hundred KiB of updates).
pub(super) const PART_SIZE: usize = 8192;

/// An open engine transaction and the part being filled.
pub(super) struct Feed<'r> {
    /// Always `Some` until the transaction is committed (by [`Feed::commit`] or on drop).
    transaction: Option<Transaction<'r>>,
    part: Vec<Update>,
    size: usize,
    /// Fires when worker 0 has taken the last part handed over.
    queued: Option<oneshot::Receiver<()>>,
}

impl<'r> Feed<'r> {
    /// Feeds `transaction` in parts of `size` updates.
    pub(super) fn new(transaction: Transaction<'r>, size: usize) -> Feed<'r> {
        let size = size.max(1);
        Feed { transaction: Some(transaction), part: Vec::with_capacity(size), size, queued: None }
    }

    /// The part being filled, to append updates to; follow with [`Feed::hand_over_if_full`].
    pub(super) fn part(&mut self) -> &mut Vec<Update> {
        &mut self.part
    }

    /// Hands the part over once it holds at least the part size.
    pub(super) async fn hand_over_if_full(&mut self) {
        if self.part.len() >= self.size {
            self.hand_over().await;
        }
    }

    /// Adds every update of `updates`, handing parts over as they fill.
    pub(super) async fn extend(&mut self, updates: impl Iterator<Item = Update>) {
        for update in updates {
            self.part.push(update);
            self.hand_over_if_full().await;
        }
    }

    /// Commits the transaction with what is left in the part; returns its timestamp.
    pub(super) fn commit(mut self) -> Time {
        self.finish()
    }

    async fn hand_over(&mut self) {
        let part = mem::replace(&mut self.part, Vec::with_capacity(self.size));
        let (taken, queued) = oneshot::channel();
        let transaction = self.transaction.as_mut().expect("open until committed");
        transaction.feed(
            part,
            Box::new(move || {
                let _ = taken.send(());
            }),
        );
        if let Some(previous) = self.queued.replace(queued) {
            // An error means the engine is gone (shutting down): nothing left to wait for.
            let _ = previous.await;
        }
    }

    fn finish(&mut self) -> Time {
        let transaction = self.transaction.take().expect("committed once");
        transaction.commit_with(mem::take(&mut self.part))
    }
}

impl Drop for Feed<'_> {
    /// A feed abandoned half way (an error, or the source stopping) still commits what it was
    /// given: parts handed over cannot be recalled, and committing the rest as well keeps the
    /// engine equal to the rows the source now holds, which the next bootstrap retracts.
    fn drop(&mut self) {
        if self.transaction.is_some() {
            self.finish();
        }
    }
}
