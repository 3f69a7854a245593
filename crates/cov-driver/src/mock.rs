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
use std::sync::{Mutex, PoisonError};

use cov_proto::{
    CliMessage, GetMockRequest, GetMockResponse, MessageType, SdkMessage, cli_message, sdk_message,
};
use cov_trace::matching::{MatchType, Matcher, TraceFile};
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
    tally: Mutex<MockTally>,
}

/// What a [`TraceMocks`] has answered so far: how many requests an exact match of their
/// recorded input answered (the CLI's value hash), and, one line each, those answered by a
/// looser match and those it found nothing for (the CLI's words).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockTally {
    /// Requests answered by the recorded call of the same input (`INPUT_VALUE_HASH`).
    pub exact: usize,
    /// Requests answered by a recorded call of another input (a reduced hash or the
    /// input's shape): the call, its test and how it was matched.
    pub approximate: Vec<String>,
    /// Requests nothing answered: the CLI's error text, with the test.
    pub not_found: Vec<String>,
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
            tally: Mutex::new(MockTally::default()),
        })
    }

    /// The answer to one `GetMockRequest`, as the CLI gives it (its `request_id` is the
    /// request's). Each answer is counted in [`TraceMocks::tally`].
    pub fn find(&self, request: &GetMockRequest) -> GetMockResponse {
        let test = if request.test_id.is_empty() {
            "no test id".to_owned()
        } else {
            format!("test {}", request.test_id)
        };
        let (response, outcome) = match mock_request(request) {
            Ok(matched) => {
                let found = self.matcher.find(&matched);
                let outcome = match &found.match_level {
                    Some(level) if level.match_type == MatchType::InputValueHash => None,
                    Some(level) => Some(Ok(format!(
                        "{} {} ({test}): {}",
                        matched.package_name, matched.name, level.description
                    ))),
                    None => Some(Err(format!("{} ({test})", found.error))),
                };
                (mock_response(found, &request.request_id), outcome)
            }
            Err(error) => {
                let response = GetMockResponse {
                    request_id: request.request_id.clone(),
                    found: false,
                    error: error.to_string(),
                    ..GetMockResponse::default()
                };
                (response, Some(Err(format!("{error} ({test})"))))
            }
        };
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            None => tally.exact += 1,
            Some(Ok(approximate)) => tally.approximate.push(approximate),
            Some(Err(not_found)) => tally.not_found.push(not_found),
        }
        response
    }

    /// What has been answered so far.
    pub fn tally(&self) -> MockTally {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
    use std::time::{Duration, UNIX_EPOCH};

    use cov_trace::{OutboundSpan, Payload};
    use cov_wire::span::get_mock_request;
    use serde_json::json;

    use super::*;

    /// A recorded `GET http://rates/<path>` of trace `trace_id`, answered 200.
    fn call(trace_id: &str, span_id: &str, path: &str) -> OutboundSpan {
        let value = |value: serde_json::Value| Payload {
            value: value.as_object().cloned().unwrap_or_default(),
            ..Payload::default()
        };
        OutboundSpan {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            parent_span_id: "00f067aa0ba902b7".to_owned(),
            name: format!("GET {path}"),
            package_name: "http".to_owned(),
            instrumentation_name: "RustHttpClientInstrumentation".to_owned(),
            submodule_name: "GET".to_owned(),
            package_type: cov_trace::PACKAGE_TYPE_HTTP,
            input: value(json!({
                "method": "GET",
                "url": format!("http://rates{path}"),
                "hostname": "rates",
                "path": path,
                "headers": {"accept": "application/json"},
            })),
            output: Some(value(
                json!({"statusCode": 200, "headers": {}, "bodySize": 0}),
            )),
            started: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            ..OutboundSpan::default()
        }
    }

    #[test]
    fn answers_are_tallied_as_exact_approximate_or_not_found() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let recorded = call("t1", "a1", "/rates/USD/EUR");
        std::fs::write(
            dir.path().join("1_trace_t1.jsonl"),
            format!("{}\n", recorded.to_json_line()),
        )
        .expect("write");
        let mocks = TraceMocks::load(dir.path()).expect("loads");
        assert_eq!(mocks.tally(), MockTally::default());

        let exact = mocks.find(&get_mock_request("r1", "t1", &recorded));
        assert!(exact.found, "{exact:?}");
        // Another path: no span of the test has its input or its HTTP shape.
        let other = mocks.find(&get_mock_request(
            "r2",
            "t1",
            &call("t1", "b1", "/rates/USD/CHF"),
        ));
        assert!(!other.found, "{other:?}");
        // The same call with another header value: matched by its schema and HTTP shape
        // alone, which is not its recorded input.
        let mut shaped = call("t1", "c1", "/rates/USD/EUR");
        shaped
            .input
            .value
            .insert("headers".to_owned(), json!({"accept": "text/plain"}));
        let shaped = mocks.find(&get_mock_request("r3", "t1", &shaped));
        assert!(shaped.found, "{shaped:?}");
        let tally = mocks.tally();
        assert_eq!(tally.exact, 1, "{tally:?}");
        assert_eq!(tally.not_found.len(), 1, "{tally:?}");
        assert!(
            tally.not_found[0].contains("GET /rates/USD/CHF")
                && tally.not_found[0].contains("test t1"),
            "{tally:?}"
        );
        assert_eq!(tally.approximate.len(), 1, "{tally:?}");
        assert!(
            tally.approximate[0].contains("http GET /rates/USD/EUR (test t1)"),
            "{tally:?}"
        );
    }

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
