//! Responses: JSON bodies, and failures as `{"error": {code, message,
//! suggestion}}` with an HTTP status per error code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use memlayer::{ErrorCode, MemoryError};
use serde_json::json;

/// A failed request, ready to send.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code: the engine's (`validation`, `not_found`, ...) or the
    /// server's (`bad_json`, `unknown_field`, `payload_too_large`,
    /// `unauthorized`, `timeout`, `not_found_route`).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub suggestion: String,
}

impl ApiError {
    /// A 4xx/5xx with the given parts.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            suggestion: suggestion.into(),
        }
    }

    /// A request body or query that is not what the route takes (400).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            message,
            "fix the request as the message says; nothing was changed (see the README's REST section for the body shapes)",
        )
    }

    /// Missing or wrong API key (401).
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API key",
            "send the server's key as `Authorization: Bearer <key>`",
        )
    }
}

/// The status of an engine error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Validation => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Locked => StatusCode::LOCKED,
        ErrorCode::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<MemoryError> for ApiError {
    fn from(e: MemoryError) -> Self {
        let code = e.code();
        let status = status_of(code);
        if status.is_server_error() {
            tracing::error!(code = code.as_str(), error = %e.report(), "request failed");
        }
        ApiError::new(status, code.as_str(), e.report(), e.suggestion())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "suggestion": self.suggestion,
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_codes_map_to_statuses() {
        let e: ApiError = MemoryError::NotFound { id: "x".into() }.into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.code, "not_found");
        let e: ApiError = MemoryError::Validation {
            field: "limit".into(),
            reason: "must be in 1..=1000".into(),
        }
        .into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorCode::Locked), StatusCode::LOCKED);
    }
}
