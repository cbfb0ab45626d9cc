//! API errors: one enum, one response shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::queries::ResultsError;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No component with that id.
    #[error("{kind} '{id}' does not exist")]
    NotFound {
        /// `query`, `source` or `reaction`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The query exists but does not run (stopped or failed to compile).
    #[error("{0}")]
    NotRunning(String),
    /// The server is not ready to serve (`/ready`): why.
    #[error("not ready: {}", .0.join("; "))]
    NotReady(Vec<String>),
    /// Something inside the server failed; logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::NotRunning(_) => StatusCode::CONFLICT,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Drasi's error codes, e.g. `QUERY_NOT_FOUND`.
    fn code(&self) -> String {
        match self {
            ApiError::NotFound { kind, .. } => format!("{}_NOT_FOUND", kind.to_uppercase()),
            ApiError::NotRunning(_) => "QUERY_NOT_RUNNING".into(),
            ApiError::NotReady(_) => "NOT_READY".into(),
            ApiError::Internal(_) => "INTERNAL_ERROR".into(),
        }
    }
}

impl From<ResultsError> for ApiError {
    fn from(error: ResultsError) -> Self {
        match error {
            ResultsError::NotFound(id) => ApiError::NotFound { kind: "query", id },
            ResultsError::NotRunning { .. } => ApiError::NotRunning(error.to_string()),
            ResultsError::Engine { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(message = "Request failed.", error = %detail);
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let body = json!({
            "success": false,
            "data": null,
            "error": { "code": self.code(), "message": message },
        });
        (self.status_code(), Json(body)).into_response()
    }
}
