//! Adding and removing queries and reactions while data flows (drasi-compat.md §4):
//! `POST /api/v1/queries`, `DELETE /api/v1/queries/{id}`, `POST /api/v1/queries/{id}/start`
//! and `/stop`, `POST /api/v1/reactions`, `DELETE /api/v1/reactions/{id}`.
//!
//! Bodies carry the config file's fields for one query or reaction, as JSON or YAML. A body
//! that does not decode, a query that does not compile or names an unknown source, and a
//! reaction that names an unknown query are refused with 400 and every located problem;
//! nothing else changes. A query that a reaction reads cannot be deleted or stopped (409):
//! the reaction's stream would silently end or skip changes. Delete the reaction first.

use axum::extract::{Path, State};

use super::{ok, query_json, reaction_json, ApiError, ApiResult, AppState};
use crate::config::{QueryConfig, ReactionConfig};

/// How a request body is named in error messages: `request:2:8: query: ...`.
const BODY: &str = "request";

pub(super) async fn create_query(State(state): State<AppState>, body: String) -> ApiResult {
    let invalid = |message: String| ApiError::Invalid { kind: "query", message };
    let config = QueryConfig::parse(&body, BODY).map_err(|e| invalid(e.to_string()))?;
    let unknown: Vec<String> = config
        .sources
        .iter()
        .filter(|s| !state.sources.contains_key(&s.source_id))
        .map(|s| format!("unknown source '{}'", s.source_id))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(format!("query '{}': {}", config.id, unknown.join("; "))));
    }
    let entry = state.queries.create(config)?;
    ok(query_json(&entry))
}

pub(super) async fn delete_query(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let queries = state.queries.clone();
    unless_used(&state, &id, || queries.remove(&id)).await??;
    ok(serde_json::json!({ "id": id }))
}

pub(super) async fn start_query(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let entry = state.queries.start(&id)?;
    ok(query_json(&entry))
}

pub(super) async fn stop_query(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let queries = state.queries.clone();
    let entry = unless_used(&state, &id, || queries.stop(&id)).await??;
    ok(query_json(&entry))
}

/// Runs `change` on query `id` unless a reaction reads it.
async fn unless_used<T>(
    state: &AppState,
    id: &str,
    change: impl FnOnce() -> T,
) -> Result<T, ApiError> {
    state.reactions.unless_used(id, change).await.map_err(|users| ApiError::Conflict {
        kind: "query",
        message: format!(
            "query '{id}' is used by reaction(s) {}; delete them first",
            users.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", ")
        ),
    })
}

pub(super) async fn create_reaction(State(state): State<AppState>, body: String) -> ApiResult {
    let config = ReactionConfig::parse(&body, BODY)
        .map_err(|e| ApiError::Invalid { kind: "reaction", message: e.to_string() })?;
    let id = config.id().to_string();
    let entry = state.reactions.add(config).await?;
    tracing::info!(message = "Reaction added.", reaction = %id);
    ok(reaction_json(&id, &entry))
}

pub(super) async fn delete_reaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    state.reactions.remove(&id).await?;
    ok(serde_json::json!({ "id": id }))
}
