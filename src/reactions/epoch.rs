//! The epoch of this process: the first part of every position (see [`super::position`]).
//!
//! It must grow with every start, so that ids stay monotonic although engine times restart
//! at 1. With a state store it is a counter kept there, and never below the wall clock in
//! milliseconds (so a store added later, or replaced, still continues upwards); without
//! one it is the wall clock in milliseconds, which grows as long as the clock does.

use redb::{ReadableDatabase, TableDefinition};

use crate::queries::unix_millis;
use crate::state::StateStore;

/// `"epoch"` → the last epoch handed out.
const EPOCH: TableDefinition<&str, u64> = TableDefinition::new("reactions_epoch");

/// Why the epoch could not be read or stored.
#[derive(Debug, thiserror::Error)]
#[error("state store {path}: reading or writing the reaction epoch: {reason}")]
pub struct EpochError {
    path: String,
    reason: String,
}

/// A new epoch, greater than every earlier one this store handed out.
pub fn next(store: Option<&StateStore>) -> Result<u64, EpochError> {
    let now = unix_millis();
    let Some(store) = store else { return Ok(now) };
    let error = |e: &dyn std::fmt::Display| EpochError {
        path: store.path().display().to_string(),
        reason: e.to_string(),
    };
    let last = {
        let read = store.db().begin_read().map_err(|e| error(&e))?;
        match read.open_table(EPOCH) {
            Ok(table) => table.get("epoch").map_err(|e| error(&e))?.map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(error(&e)),
        }
    };
    let epoch = last.map_or(now, |last| now.max(last + 1));
    let write = store.db().begin_write().map_err(|e| error(&e))?;
    write
        .open_table(EPOCH)
        .map_err(|e| error(&e))?
        .insert("epoch", epoch)
        .map_err(|e| error(&e))?;
    write.commit().map_err(|e| error(&e))?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_grow_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let first = next(Some(&StateStore::open(&path).unwrap())).unwrap();
        let second = next(Some(&StateStore::open(&path).unwrap())).unwrap();
        let third = next(Some(&StateStore::open(&path).unwrap())).unwrap();
        assert!(first < second && second < third, "{first} {second} {third}");
    }

    #[test]
    fn without_a_store_the_clock_is_the_epoch() {
        let before = unix_millis();
        assert!(next(None).unwrap() >= before);
    }
}
