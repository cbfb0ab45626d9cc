//! The running reactions: started from the config file at start-up and added or removed
//! over REST while data flows.
//!
//! Each reaction runs under its own cancellation token, a child of the server's: removing
//! it cancels the token and waits for its task, so an SSE reaction's port is free again
//! when [`Reactions::remove`] returns. Adding and removing are serialised by one async lock,
//! which also guards queries that reactions use ([`Reactions::unless_used`]), so a query
//! cannot disappear while a reaction that reads it is being added.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{log, sse, ReactionEntry, ReactionStats};
use crate::config::ReactionConfig;
use crate::queries::Queries;

/// Why a reaction could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// A reaction with that id exists.
    #[error("reaction '{0}' already exists")]
    AlreadyExists(String),
    /// No reaction with that id.
    #[error("reaction '{0}' does not exist")]
    NotFound(String),
    /// The reaction names a query that does not exist.
    #[error("reaction '{reaction}': unknown query '{query}'")]
    UnknownQuery {
        /// The reaction.
        reaction: String,
        /// The query it names.
        query: String,
    },
    /// The reaction's configuration is unusable (e.g. a template that does not parse).
    #[error("{0}")]
    Invalid(String),
    /// The reaction could not start (e.g. its port is taken).
    #[error("{0}")]
    Start(String),
}

/// A reaction's task and what stops it.
struct Task {
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// Every running reaction.
pub struct Reactions {
    queries: Arc<Queries>,
    shutdown: CancellationToken,
    entries: RwLock<BTreeMap<String, Arc<ReactionEntry>>>,
    tasks: Mutex<BTreeMap<String, Task>>,
    lifecycle: tokio::sync::Mutex<()>,
}

impl Reactions {
    /// No reactions yet; each one added stops when `shutdown` is cancelled.
    pub fn new(queries: Arc<Queries>, shutdown: CancellationToken) -> Reactions {
        Reactions {
            queries,
            shutdown,
            entries: RwLock::new(BTreeMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            lifecycle: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts a reaction: an SSE reaction's listener is bound when this returns; a log
    /// reaction has subscribed to its queries.
    pub async fn add(&self, config: ReactionConfig) -> Result<Arc<ReactionEntry>, ReactionError> {
        let _serial = self.lifecycle.lock().await;
        let id = config.id().to_string();
        if self.get(&id).is_some() {
            return Err(ReactionError::AlreadyExists(id));
        }
        if let Some(query) = config.queries().iter().find(|q| self.queries.get(q).is_none()) {
            return Err(ReactionError::UnknownQuery { reaction: id, query: query.clone() });
        }
        let stats = Arc::new(ReactionStats::default());
        let token = self.shutdown.child_token();
        let handle = match &config {
            ReactionConfig::Sse(sse) => {
                sse::start(sse.clone(), self.queries.clone(), stats.clone(), token.clone())
                    .await
                    .map_err(|e| ReactionError::Start(format!("{e:#}")))?
            }
            ReactionConfig::Log(log) => {
                let renderer =
                    log::LineRenderer::new(log.clone()).map_err(ReactionError::Invalid)?;
                log::start(renderer, &self.queries, stats.clone(), token.clone())
            }
        };
        let entry = Arc::new(ReactionEntry { config, stats });
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Task { token, handle });
        self.entries.write().unwrap_or_else(|p| p.into_inner()).insert(id, entry.clone());
        Ok(entry)
    }

    /// Stops a reaction and waits until it has stopped.
    pub async fn remove(&self, id: &str) -> Result<(), ReactionError> {
        let _serial = self.lifecycle.lock().await;
        let removed = self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(id);
        removed.ok_or_else(|| ReactionError::NotFound(id.to_string()))?;
        let task = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(task) = task {
            task.token.cancel();
            let _ = task.handle.await;
        }
        tracing::info!(message = "Reaction removed.", reaction = %id);
        Ok(())
    }

    /// Runs `change` on query `query` unless a reaction reads it; otherwise returns the ids
    /// of those reactions. No reaction can be added while `change` runs.
    pub async fn unless_used<T>(
        &self,
        query: &str,
        change: impl FnOnce() -> T,
    ) -> Result<T, Vec<String>> {
        let _serial = self.lifecycle.lock().await;
        let users: Vec<String> = self
            .all()
            .into_iter()
            .filter(|(_, entry)| entry.config.queries().iter().any(|q| q == query))
            .map(|(id, _)| id)
            .collect();
        if users.is_empty() {
            Ok(change())
        } else {
            Err(users)
        }
    }

    /// The reaction, if it runs.
    pub fn get(&self, id: &str) -> Option<Arc<ReactionEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// Every reaction, by id.
    pub fn all(&self) -> Vec<(String, Arc<ReactionEntry>)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.iter().map(|(id, entry)| (id.clone(), entry.clone())).collect()
    }

    /// Waits for every reaction's task; call after cancelling the server's token.
    pub async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, task) in tasks {
            let _ = task.handle.await;
        }
    }
}
