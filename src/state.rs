//! Durable state: one redb file (`state_store: {kind: redb, path}`) shared by the components
//! that must survive a restart.
//!
//! Each component defines its own tables (redb `TableDefinition`s) next to the code that
//! uses them, and writes through [`StateStore::db`]. Keeping one file means one fsync domain:
//! a component that needs two facts to move together writes them in one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open state file.
#[derive(Clone)]
pub struct StateStore {
    db: Arc<redb::Database>,
    path: PathBuf,
}

/// Why the state file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {source}")]
pub struct StateError {
    path: String,
    source: redb::DatabaseError,
}

impl StateStore {
    /// Opens (or creates) the file at `path`, creating missing parent directories.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let error = |source| StateError { path: path.display().to_string(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| error(redb::DatabaseError::Storage(redb::StorageError::Io(e))))?;
        }
        let db = redb::Database::create(path).map_err(error)?;
        Ok(StateStore { db: Arc::new(db), path: path.to_path_buf() })
    }

    /// The database, for components' own tables.
    pub fn db(&self) -> &redb::Database {
        &self.db
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use super::*;

    const T: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("t");

    #[test]
    fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.redb");
        {
            let store = StateStore::open(&path).unwrap();
            let tx = store.db().begin_write().unwrap();
            tx.open_table(T).unwrap().insert("k", 7).unwrap();
            tx.commit().unwrap();
        }
        let store = StateStore::open(&path).unwrap();
        let tx = store.db().begin_read().unwrap();
        assert_eq!(tx.open_table(T).unwrap().get("k").unwrap().map(|v| v.value()), Some(7));
    }
}
