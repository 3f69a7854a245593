//! Where mock serving lands: the handler a connection calls for every `MOCK_REQUEST`.
//!
//! In `REPLAY` mode an SDK asks the CLI, for each outbound call its service makes, for the
//! recorded answer: an `SDKMessage` of type `MOCK_REQUEST` (2) carrying a
//! `GetMockRequest`, answered by a `CLIMessage` of the same type and `request_id` carrying a
//! `GetMockResponse`. The Tusk CLI answers each such request in a goroutine of its own, so
//! one slow match never holds up another request, a snapshot or an inbound span; a
//! [`CliConnection`](crate::CliConnection) does the same with a tokio task per request.
//!
//! What answers is a [`MockSource`], given to the connection in
//! [`CliOptions::mock_source`](crate::CliOptions::mock_source). It receives the raw
//! `SdkMessage` and returns the reply, so the connection stays independent of the mock
//! payload types and of how mocks are matched (the CLI's rules, from recorded trace files).

use std::future::Future;
use std::pin::Pin;

use std::path::Path;

use cov_proto::{
    CliMessage, GetMockRequest, GetMockResponse, MessageType, SdkMessage, cli_message, sdk_message,
};
use cov_trace::matching::{Matcher, TraceFile};
use cov_trace::read;
use cov_wire::span::{mock_request, mock_response};

use crate::traces::TraceError;

/// The future a [`MockSource`] returns: the reply to send, if any.
pub type MockReply = Pin<Box<dyn Future<Output = Option<CliMessage>> + Send + 'static>>;

/// Answers the SDK's `MOCK_REQUEST` messages.
///
/// The connection calls [`MockSource::answer`] once for every SDK message whose `type` is
/// `MESSAGE_TYPE_MOCK_REQUEST`, each in a task of its own, so answers may be computed
/// concurrently and may arrive in any order (the SDK matches them by `request_id`). The
/// reply is sent with the request's `request_id`, whatever the returned message says;
/// `None` sends nothing (the SDK's own timeout then applies). Without a source, such
/// messages are logged and dropped.
///
/// ```
/// use std::sync::Arc;
/// use cov_driver::{CliOptions, MockReply, MockSource};
/// use cov_proto::{CliMessage, MessageType, SdkMessage};
///
/// /// Answers every mock request with a message of the same type and no payload.
/// #[derive(Debug)]
/// struct Empty;
///
/// impl MockSource for Empty {
///     fn answer(&self, request: SdkMessage) -> MockReply {
///         Box::pin(async move {
///             Some(CliMessage { r#type: MessageType::MockRequest as i32, request_id: request.request_id, payload: None })
///         })
///     }
/// }
///
/// let mut options = CliOptions::default();
/// options.mock_source(Arc::new(Empty));
/// ```
pub trait MockSource: Send + Sync + std::fmt::Debug + 'static {
    /// The reply to `request`, an SDK message of type `MOCK_REQUEST`.
    fn answer(&self, request: SdkMessage) -> MockReply;

    /// The replay is about to send test `test_id`: mock requests without a test id belong
    /// to it until [`MockSource::test_finished`] (the CLI's "current test").
    fn test_started(&self, _test_id: &str) {}

    /// Test `test_id` has been answered and its snapshot taken.
    fn test_finished(&self, _test_id: &str) {}
}

/// Mocks from a directory of recorded trace files, matched exactly as the Tusk CLI matches
/// them (cov-trace's [`Matcher`], the CLI's own priorities, guards and ranking): the mock
/// source of a replay that plays the real CLI's part.
#[derive(Debug)]
pub struct TraceMocks {
    matcher: Matcher,
}

impl TraceMocks {
    /// Loads every trace file under `dir` (recursively, in the CLI's order), as the CLI
    /// loads them before it starts the service.
    pub fn load(dir: &Path) -> Result<TraceMocks, TraceError> {
        let mut files = Vec::new();
        for path in crate::traces::trace_files(dir)? {
            let text = std::fs::read(&path).map_err(|source| TraceError::Read {
                path: path.clone(),
                source,
            })?;
            let spans = read::parse_spans(&text).map_err(|source| TraceError::Parse {
                path: path.clone(),
                source,
            })?;
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.push(TraceFile {
                path: relative,
                spans,
            });
        }
        Ok(TraceMocks {
            matcher: Matcher::new(files),
        })
    }

    /// The answer to one `GetMockRequest`, as the CLI gives it (its `request_id` is the
    /// request's).
    pub fn find(&self, request: &GetMockRequest) -> GetMockResponse {
        match mock_request(request) {
            Ok(matched) => mock_response(&self.matcher.find(&matched), &request.request_id),
            Err(error) => GetMockResponse {
                request_id: request.request_id.clone(),
                found: false,
                error: error.to_string(),
                ..GetMockResponse::default()
            },
        }
    }
}

impl MockSource for TraceMocks {
    fn answer(&self, request: SdkMessage) -> MockReply {
        let reply = match request.payload {
            Some(sdk_message::Payload::GetMockRequest(mock)) => {
                let mut response = self.find(&mock);
                response.request_id.clone_from(&request.request_id);
                Some(CliMessage {
                    r#type: MessageType::MockRequest as i32,
                    request_id: request.request_id,
                    payload: Some(cli_message::Payload::GetMockResponse(response)),
                })
            }
            _ => {
                tracing::debug!(request_id = %request.request_id, "MOCK_REQUEST without a GetMockRequest");
                None
            }
        };
        Box::pin(std::future::ready(reply))
    }

    fn test_started(&self, test_id: &str) {
        self.matcher.start_test(test_id);
    }

    fn test_finished(&self, test_id: &str) {
        self.matcher.finish_test(test_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_the_cli_would_refuse_is_an_error_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a_trace_1.jsonl"), "{\"traceId\": \"1\"}\n").unwrap();
        std::fs::write(dir.path().join("b_trace_2.jsonl"), "{not json\n").unwrap();
        let error = TraceMocks::load(dir.path()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("b_trace_2.jsonl"), "{text}");
        assert!(matches!(error, TraceError::Parse { .. }), "{error:?}");
    }

    #[test]
    fn a_request_without_a_span_is_answered_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let mocks = TraceMocks::load(dir.path()).unwrap();
        let response = mocks.find(&GetMockRequest {
            request_id: "r1".to_owned(),
            ..GetMockRequest::default()
        });
        assert!(!response.found);
        assert_eq!(response.request_id, "r1");
        assert!(
            response.error.contains("no outbound span"),
            "{}",
            response.error
        );
    }
}
