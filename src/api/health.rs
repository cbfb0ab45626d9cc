//! `/health` (the process answers) and `/ready` (it serves current results and streams
//! changes), for load balancers and orchestrators.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value as JsonValue};

use super::{ApiError, AppState};
use crate::config::SourceConfig;
use crate::queries::QueryStatus;
use crate::sources::SourceState;

/// Alive: always 200 while the API answers.
pub(super) async fn health(State(state): State<AppState>) -> Json<JsonValue> {
    Json(json!({ "status": "ok", "id": &*state.server_id }))
}

/// 200 once every auto-started source streams (so its bootstrap is done) and every
/// auto-started query runs; 503 with every reason otherwise.
pub(super) async fn ready(State(state): State<AppState>) -> Result<Json<JsonValue>, ApiError> {
    let mut reasons = Vec::new();
    for (id, source) in state.sources.iter() {
        let auto_start = match &source.config {
            SourceConfig::Postgres(pg) => pg.auto_start,
        };
        let view = source.status.view();
        if auto_start && view.state != SourceState::Streaming {
            let state = serde_json::to_value(view.state).unwrap_or_default();
            let state = state.as_str().unwrap_or("unknown");
            reasons.push(format!("source '{id}' is {state}, not streaming"));
        }
    }
    for query in state.queries.all() {
        if !query.config.auto_start {
            continue;
        }
        match &query.status {
            QueryStatus::Running => {}
            QueryStatus::Stopped => reasons.push(format!("query '{}' is stopped", query.config.id)),
            QueryStatus::Failed { .. } => {
                reasons.push(format!("query '{}' failed to compile", query.config.id))
            }
        }
    }
    if reasons.is_empty() {
        Ok(Json(json!({ "status": "ready", "id": &*state.server_id })))
    } else {
        Err(ApiError::NotReady(reasons))
    }
}
