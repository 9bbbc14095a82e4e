//! A debug page that cannot answer says why, with the status that fits.
//! memscope never turns its own failure into the service's `Err`.

use http::StatusCode;
use http::header::RETRY_AFTER;

use super::profiling::hint_text;
use crate::model::allocator::{ProfilingState, SamplingRefused};
use crate::model::{ModelError, ModelErrorKind};

/// Why a debug page could not be served.
#[derive(Debug, Clone)]
pub(crate) struct PageError {
    status: StatusCode,
    message: String,
    /// Extra headers, such as `Allow` on a 405 or `Retry-After` on a 429.
    headers: Vec<(http::HeaderName, String)>,
}

impl PageError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub(crate) fn method_not_allowed(allowed: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("this page answers {allowed} only"),
        )
        .with_header(http::header::ALLOW, allowed)
    }

    pub(crate) fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn headers(&self) -> &[(http::HeaderName, String)] {
        &self.headers
    }
}

impl From<ModelError> for PageError {
    /// Heap profiling missing is a conflict with how the program was
    /// started (409, with what to add); a busy one-at-a-time resource is a
    /// 409 with `Retry-After`; anything else failed on memscope's side.
    fn from(error: ModelError) -> Self {
        match error.kind() {
            ModelErrorKind::ProfilingUnavailable => {
                let hint = ProfilingState::read().hint().map_or("", hint_text);
                Self::new(
                    StatusCode::CONFLICT,
                    format!(
                        "{}: {hint} Meanwhile `group=size` works without profiling.",
                        error.message()
                    ),
                )
            }
            ModelErrorKind::Busy(remaining) => {
                let retry = retry_after_seconds(*remaining);
                Self::new(
                    StatusCode::CONFLICT,
                    format!("{}; it ends in {retry} s", error.message()),
                )
                .with_header(RETRY_AFTER, retry.to_string())
            }
            ModelErrorKind::Absent => Self::not_found(error.message()),
            ModelErrorKind::NotYet(wait) => {
                let retry = retry_after_seconds(*wait);
                Self::new(StatusCode::SERVICE_UNAVAILABLE, error.message())
                    .with_header(RETRY_AFTER, retry.to_string())
            }
            _ => Self::internal(error.message()),
        }
    }
}

impl From<SamplingRefused> for PageError {
    /// Sampling that cannot be switched conflicts with how the program was
    /// started: a 409 that says what to add, or what jemalloc said.
    fn from(refused: SamplingRefused) -> Self {
        let message = match refused {
            SamplingRefused::Unavailable(hint) => hint_text(hint).to_owned(),
            SamplingRefused::Refused(error) => {
                format!("jemalloc refused to set prof.active: {error}")
            }
        };
        Self::new(StatusCode::CONFLICT, message)
    }
}

/// Whole seconds to wait, at least one.
pub(crate) fn retry_after_seconds(remaining: std::time::Duration) -> u64 {
    remaining
        .max(std::time::Duration::from_secs(1))
        .as_secs_f64()
        .ceil() as u64
}
