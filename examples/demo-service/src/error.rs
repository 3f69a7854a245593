//! The API's error type and how it becomes an HTTP response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything a request can fail with. Each variant maps to one status code; the body is
/// `{"error": "<kind>", "message": "<text>"}`.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request is well-formed but its values are not acceptable (422).
    Invalid(String),
    /// The addressed resource does not exist (404).
    NotFound(String),
    /// The request conflicts with the current state (409).
    Conflict(String),
    /// The rates service could not be reached or gave an answer we cannot use (502).
    Upstream(String),
    /// The database failed (500). The message carries the driver's error, so that a
    /// statement the replay cannot answer is named in the failing test's response.
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
            ApiError::Invalid(message) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, "not_found", message),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, "conflict", message),
            ApiError::Upstream(message) => (StatusCode::BAD_GATEWAY, "upstream", message),
            ApiError::Internal(message) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error");
        ApiError::Internal(format!("database error: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = self.parts();
        let body = serde_json::json!({ "error": kind, "message": message });
        (status, Json(body)).into_response()
    }
}
