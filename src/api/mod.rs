//! The REST API (drasi-compat.md §4): `/api/v1/{queries,sources,reactions}` (adding and
//! removing queries and reactions at runtime is in [`lifecycle`]), and the
//! operational endpoints `/health`, `/ready` and `/metrics` ([`health`], [`metrics`]).
//!
//! Successful responses use Drasi's envelope `{"success": true, "data": ..., "error": null}`;
//! failures are [`ApiError`]s. CORS allows any origin, since the dashboard is served from
//! another port.

mod error;
mod health;
mod lifecycle;
mod metrics;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value as JsonValue};
use tower_http::cors::CorsLayer;

pub use error::ApiError;

use crate::config::SourceConfig;
use crate::queries::{Queries, QueryEntry};
use crate::reactions::format;
use crate::reactions::position::Cursor;
use crate::reactions::registry::Reactions;
use crate::reactions::ReactionEntry;
use crate::sources::SourceStatus;

/// A source as the API shows it.
pub struct SourceEntry {
    /// Its configuration (the password is never serialised).
    pub config: SourceConfig,
    /// Its live status.
    pub status: Arc<SourceStatus>,
}

/// What handlers read.
#[derive(Clone)]
pub struct AppState {
    /// The server's id from the config.
    pub server_id: Arc<str>,
    /// Queries.
    pub queries: Arc<Queries>,
    /// Sources by id.
    pub sources: Arc<BTreeMap<String, SourceEntry>>,
    /// Reactions.
    pub reactions: Arc<Reactions>,
}

type ApiResult<T = JsonValue> = Result<Json<Envelope<T>>, ApiError>;

/// The envelope around a successful response. Serialised straight into the response body,
/// so `data` may be a view (such as a result's rows) rather than a JSON tree.
#[derive(Serialize)]
struct Envelope<T> {
    success: bool,
    data: T,
    error: Option<()>,
}

fn ok<T: Serialize>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope { success: true, data, error: None }))
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/queries", get(list_queries).post(lifecycle::create_query))
        .route("/api/v1/queries/{id}", get(get_query).delete(lifecycle::delete_query))
        .route("/api/v1/queries/{id}/results", get(query_results))
        .route("/api/v1/queries/{id}/start", post(lifecycle::start_query))
        .route("/api/v1/queries/{id}/stop", post(lifecycle::stop_query))
        .route("/api/v1/sources", get(list_sources))
        .route("/api/v1/sources/{id}", get(get_source))
        .route("/api/v1/reactions", get(list_reactions).post(lifecycle::create_reaction))
        .route("/api/v1/reactions/{id}", get(get_reaction).delete(lifecycle::delete_reaction))
        .layer(CorsLayer::very_permissive())
        .with_state(state)
}

fn query_json(entry: &QueryEntry) -> JsonValue {
    let mut value = json!({
        "id": entry.config.id,
        "query": entry.config.query,
        "columns": entry.columns.iter().map(|c| &**c).collect::<Vec<_>>(),
        "sources": entry.config.sources,
        "autoStart": entry.config.auto_start,
        "last_error": entry.stats.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    });
    let status = serde_json::to_value(&entry.status).unwrap_or(JsonValue::Null);
    if let (Some(obj), Some(status)) = (value.as_object_mut(), status.as_object()) {
        obj.extend(status.clone());
    }
    value
}

async fn list_queries(State(state): State<AppState>) -> ApiResult<Vec<JsonValue>> {
    ok(state.queries.all().iter().map(|q| query_json(q)).collect::<Vec<_>>())
}

async fn get_query(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let entry = state.queries.get(&id).ok_or(ApiError::NotFound { kind: "query", id })?;
    ok(query_json(&entry))
}

/// A query's rows and the position they reflect: a stream opened with it as `Last-Event-ID`
/// or `?since=` continues exactly after them.
#[derive(Serialize)]
struct Results<R> {
    count: usize,
    results: R,
    position: String,
}

async fn query_results(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let read = state.queries.results(&id).await?;
    let position = Cursor::after(state.queries.epoch(), read.time).to_string();
    let count = read.rows.len();
    // The body borrows the rows: it is written here, while they are alive.
    let response = ok(Results { count, results: format::rows(&read), position })?;
    Ok(response.into_response())
}

fn source_json(id: &str, entry: &SourceEntry) -> JsonValue {
    let kind = match entry.config {
        SourceConfig::Postgres(_) => "postgres",
    };
    json!({ "id": id, "kind": kind, "status": entry.status.view() })
}

async fn list_sources(State(state): State<AppState>) -> ApiResult<Vec<JsonValue>> {
    ok(state.sources.iter().map(|(id, s)| source_json(id, s)).collect::<Vec<_>>())
}

async fn get_source(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let entry = state
        .sources
        .get(&id)
        .ok_or_else(|| ApiError::NotFound { kind: "source", id: id.clone() })?;
    ok(source_json(&id, entry))
}

fn reaction_json(id: &str, entry: &ReactionEntry) -> JsonValue {
    json!({
        "id": id,
        "config": entry.config,
        "status": "running",
        "stats": entry.stats.view(),
    })
}

async fn list_reactions(State(state): State<AppState>) -> ApiResult<Vec<JsonValue>> {
    ok(state.reactions.all().iter().map(|(id, r)| reaction_json(id, r)).collect::<Vec<_>>())
}

async fn get_reaction(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let entry = state
        .reactions
        .get(&id)
        .ok_or_else(|| ApiError::NotFound { kind: "reaction", id: id.clone() })?;
    ok(reaction_json(&id, &entry))
}
