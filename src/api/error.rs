//! API errors: one enum, one response shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::queries::{LifecycleError, ResultsError};
use crate::reactions::registry::ReactionError;

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
    /// A request body that does not describe a valid component: the located problems.
    #[error("{message}")]
    Invalid {
        /// `query` or `reaction`.
        kind: &'static str,
        /// Every problem, each with line:column in the body.
        message: String,
    },
    /// A component with that id exists already.
    #[error("{kind} '{id}' already exists")]
    AlreadyExists {
        /// `query` or `reaction`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// The request conflicts with the server's state (e.g. a query that reactions read).
    #[error("{message}")]
    Conflict {
        /// `query` or `reaction`.
        kind: &'static str,
        /// Why.
        message: String,
    },
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
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Drasi's error codes, e.g. `QUERY_NOT_FOUND`.
    fn code(&self) -> String {
        match self {
            ApiError::NotFound { kind, .. } => format!("{}_NOT_FOUND", kind.to_uppercase()),
            ApiError::NotRunning(_) => "QUERY_NOT_RUNNING".into(),
            ApiError::Invalid { kind, .. } => format!("INVALID_{}", kind.to_uppercase()),
            ApiError::AlreadyExists { kind, .. } => {
                format!("{}_ALREADY_EXISTS", kind.to_uppercase())
            }
            ApiError::Conflict { kind, .. } => format!("{}_CONFLICT", kind.to_uppercase()),
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

impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::AlreadyExists(id) => ApiError::AlreadyExists { kind: "query", id },
            LifecycleError::NotFound(id) => ApiError::NotFound { kind: "query", id },
            LifecycleError::Compile { .. } => {
                ApiError::Invalid { kind: "query", message: error.to_string() }
            }
            LifecycleError::Engine(_) => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<ReactionError> for ApiError {
    fn from(error: ReactionError) -> Self {
        let kind = "reaction";
        match error {
            ReactionError::AlreadyExists(id) => ApiError::AlreadyExists { kind, id },
            ReactionError::NotFound(id) => ApiError::NotFound { kind, id },
            ReactionError::UnknownQuery { .. } | ReactionError::Invalid(_) => {
                ApiError::Invalid { kind, message: error.to_string() }
            }
            ReactionError::Start(_) => ApiError::Conflict { kind, message: error.to_string() },
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
