//! Wiring: the runtime, queries, reactions, sources and the REST API, started in that order
//! so that queries exist before any data arrives and every change reaches them.
//!
//! Shutdown (Ctrl-C, SIGTERM or the caller's token) stops sources first, then listeners,
//! then the workers.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use ripple_dataflows::runtime::{Communication, Runtime, RuntimeConfig};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, SourceEntry};
use crate::config::{Config, SourceConfig};
use crate::listen;
use crate::queries::Queries;
use crate::reactions::{self, registry::Reactions};
use crate::sources::{self, SourceStatus};
use crate::state::StateStore;

/// Options that come from the command line rather than the config file.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Timely worker threads (in each process of a cluster).
    pub workers: usize,
    /// Threads of one process, or process 0 of a cluster.
    pub communication: Communication,
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Communication::Cluster { addresses, .. } = &options.communication {
        tracing::info!(
            message = "Waiting for every cluster process to connect.",
            processes = addresses.len()
        );
    }
    let config_workers = RuntimeConfig { workers: options.workers };
    let communication = options.communication.clone();
    // Connecting a cluster blocks until every process is there.
    let runtime =
        tokio::task::spawn_blocking(move || Runtime::start_with(config_workers, communication))
            .await?
            .context("starting the dataflow runtime")?;
    let runtime = Arc::new(runtime);
    tracing::info!(message = "Dataflow runtime started.", workers = options.workers);

    let store = match &config.state_store {
        Some(store) => Some(StateStore::open(&store.path)?),
        None => None,
    };
    let epoch = reactions::epoch::next(store.as_ref())?;
    let queries = Arc::new(Queries::new(runtime.clone(), epoch));
    for query in &config.queries {
        queries.add(query.clone());
    }

    let reactions = Arc::new(Reactions::new(queries.clone(), shutdown.clone()));
    for reaction in &config.reactions {
        reactions.add(reaction.clone()).await?;
    }

    let mut tasks = Vec::new();
    let mut source_entries = BTreeMap::new();
    let labels = Arc::new(sources::LabelClaims::default());
    for source in &config.sources {
        let status = Arc::new(SourceStatus::default());
        match source {
            SourceConfig::Postgres(pg) if pg.auto_start => {
                let queries = queries.clone();
                let links = sources::SourceLinks {
                    columns: Arc::new(move |report| queries.column_changed(&report)),
                    labels: labels.clone(),
                };
                tasks.push(tokio::spawn(sources::postgres::run(
                    pg.clone(),
                    runtime.clone(),
                    status.clone(),
                    links,
                    store.clone(),
                    shutdown.clone(),
                )));
            }
            SourceConfig::Postgres(_) => status.set_state(sources::SourceState::Stopped),
        }
        source_entries
            .insert(source.id().to_string(), SourceEntry { config: source.clone(), status });
    }

    let state = AppState {
        server_id: Arc::from(config.id.as_str()),
        queries,
        sources: Arc::new(source_entries),
        reactions: reactions.clone(),
    };
    let address = format!("{}:{}", config.host, config.port);
    let listener = listen::bind(&address)
        .await
        .with_context(|| format!("REST API: cannot listen on {address}"))?;
    tracing::info!(message = "REST API listening.", %address);
    let api = listen::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = api.await.context("REST API failed");

    shutdown.cancel();
    for task in tasks {
        let _ = task.await;
    }
    reactions.stopped().await;
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await?
        .context("stopping the dataflow runtime")?;
    tracing::info!(message = "Shut down.");
    served
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!(message = "Shutting down.");
    token.cancel();
}
