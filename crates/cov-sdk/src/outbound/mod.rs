//! Outbound calls, whatever the client: recorded as CLIENT spans of the inbound request
//! that made them in `RECORD` mode, answered from the CLI's mocks in `REPLAY` mode (never
//! from the network), passed through otherwise.
//!
//! [`Outbound::plan`] decides per call, from the mode, the [`RequestContext`] and whether
//! the application is ready (the Tusk SDKs' rules, `tusk-outbound-facts.md` §7):
//!
//! | mode | in a request | before ready | after ready, outside any request |
//! |---|---|---|---|
//! | `RECORD` | a span in the request's trace | a pre-app-start span, a file of its own | passed through, not recorded (debug log) |
//! | `REPLAY` | the CLI's mock for the request's test | the CLI's pre-app-start mock | refused: [`ReplayError`] `OutsideRequest` |
//! | off | passed through | passed through | passed through |
//!
//! Client glue (the `reqwest` middleware, the `tower` layer, the PostgreSQL proxy) builds
//! the span's input, and either finishes a [`Recording`] with the output, or asks a
//! [`Replaying`] for the recorded output. Calls nested in another followed call (a client
//! layered on a client) pass through: one span per logical call.

#[cfg(feature = "http-client")]
pub(crate) mod http;
#[cfg(feature = "reqwest")]
pub(crate) mod reqwest;
#[cfg(all(test, feature = "reqwest", feature = "tower"))]
mod tests;
#[cfg(feature = "tower")]
pub(crate) mod tower;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use cov_proto::{GetMockRequest, MatchType};
use cov_trace::OutboundSpan;
use cov_wire::span::MockReplyError;
use serde_json::Value;

use crate::context::RequestContext;
use crate::mocks::{MockClient, MockFailure};
use crate::mode::{Mode, Role};
use crate::trace_writer::Trace;

#[cfg(feature = "http-client")]
tokio::task_local! {
    /// Set while a followed outbound call runs: calls made inside it pass through.
    static IN_CALL: ();
}

/// The outbound side of an SDK instance, for client glue; cheap to clone. The default is
/// off: every call passes through.
#[cfg(feature = "http-client")]
#[derive(Clone, Debug, Default)]
pub(crate) struct Outbound {
    mode: Option<Arc<Mode>>,
}

/// What to do with one outbound call.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Call out, record nothing.
    PassThrough,
    /// Call out and record the call.
    Record(Recording),
    /// Do not call out: answer from the recording.
    Replay(Replaying),
    /// Do not call out, and fail: there is no recording to answer from.
    Refuse(ReplayFailure),
}

#[cfg(feature = "http-client")]
impl Outbound {
    /// The outbound side of `mode` (`None`: off).
    pub(crate) fn new(mode: Option<Arc<Mode>>) -> Self {
        Self { mode }
    }

    /// Decides what to do with a call starting now, from the task's request context.
    pub(crate) fn plan(&self) -> Plan {
        let Some(mode) = &self.mode else {
            return Plan::PassThrough;
        };
        if IN_CALL.try_with(|()| ()).is_ok() {
            // Inside another followed call: that one is the logical call.
            return Plan::PassThrough;
        }
        let owner = match RequestContext::current() {
            Some(context) => Owner::Request(context),
            None if !mode.is_ready() => Owner::PreAppStart,
            None => Owner::Outside,
        };
        plan_for(mode, owner)
    }

    /// The mode calls are followed in (`None`: off).
    pub(crate) fn mode(&self) -> Option<&Mode> {
        self.mode.as_deref()
    }

    /// The mode, shared (`None`: off).
    #[cfg(feature = "tower")]
    pub(crate) fn mode_arc(&self) -> Option<Arc<Mode>> {
        self.mode.clone()
    }
}

/// Whom a call belongs to.
#[derive(Clone, Debug)]
pub(crate) enum Owner {
    /// The inbound request being served.
    Request(RequestContext),
    /// Nobody yet: the application is not ready (a pre-app-start call).
    PreAppStart,
    /// Nobody: the application is ready, and the call is outside any request.
    Outside,
}

/// What to do with a call of `owner` in `mode`.
pub(crate) fn plan_for(mode: &Arc<Mode>, owner: Owner) -> Plan {
    match &mode.role {
        Role::Record(_) => {
            if let Owner::Request(context) = &owner
                && context.outbound_spans.is_none()
            {
                return Plan::PassThrough;
            }
            if let Owner::Outside = owner {
                tracing::debug!(
                    "an outbound call outside any recorded request is passed through unrecorded"
                );
                return Plan::PassThrough;
            }
            Plan::Record(Recording {
                owner,
                mode: Arc::clone(mode),
                started: SystemTime::now(),
                clock: Instant::now(),
            })
        }
        Role::Replay(replayer) => {
            let (test_id, is_pre_app_start) = match owner {
                Owner::Request(context) => (context.trace_id.clone(), false),
                Owner::PreAppStart => (String::new(), true),
                Owner::Outside => return Plan::Refuse(ReplayFailure::OutsideRequest),
            };
            Plan::Replay(Replaying {
                mocks: replayer.mocks.clone(),
                test_id,
                is_pre_app_start,
            })
        }
    }
}

/// Runs `future` as a followed call: outbound calls it makes pass through.
#[cfg(feature = "reqwest")]
pub(crate) async fn in_call<F: std::future::Future>(future: F) -> F::Output {
    IN_CALL.scope((), future).await
}

/// The outbound spans of one inbound request, until its trace is written.
#[derive(Debug, Default)]
pub(crate) struct OutboundSpans {
    /// `None` once the trace is written: later spans have no file to go to.
    spans: Mutex<Option<Vec<OutboundSpan>>>,
    late: AtomicU64,
}

impl OutboundSpans {
    /// Adds a finished call's span; one that ends after its request's trace was written is
    /// dropped and counted.
    fn push(&self, span: OutboundSpan) {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        match spans.as_mut() {
            Some(spans) => spans.push(span),
            None => {
                let late = self.late.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    name = %span.name,
                    late,
                    "an outbound call ended after its request's trace was written; not recorded"
                );
            }
        }
    }

    /// The spans so far, closing the collection: the trace is being written.
    pub(crate) fn take(&self) -> Vec<OutboundSpan> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }

    /// An open collection.
    pub(crate) fn open() -> Arc<Self> {
        Arc::new(Self {
            spans: Mutex::new(Some(Vec::new())),
            late: AtomicU64::new(0),
        })
    }
}

/// A call being recorded.
#[derive(Debug)]
pub(crate) struct Recording {
    owner: Owner,
    /// The mode the call is recorded in: its header rules and body limit.
    pub(crate) mode: Arc<Mode>,
    // Only the HTTP clients time their calls here; statements come timed.
    #[cfg_attr(not(feature = "http-client"), allow(dead_code))]
    started: SystemTime,
    #[cfg_attr(not(feature = "http-client"), allow(dead_code))]
    clock: Instant,
}

impl Recording {
    /// Records the finished call: `span` holds its name, package, input, output and status;
    /// its start and duration are taken here.
    #[cfg(feature = "http-client")]
    pub(crate) fn finish(self, mut span: OutboundSpan) {
        span.started = self.started;
        span.duration = self.clock.elapsed();
        self.deliver(span);
    }

    /// Records the call with the start and duration `span` already has; its ids and the
    /// pre-app-start flag are filled in here.
    pub(crate) fn deliver(self, mut span: OutboundSpan) {
        span.span_id = format!("{:016x}", fastrand::u64(..));
        match self.owner {
            Owner::Request(context) => {
                let Some(spans) = &context.outbound_spans else {
                    return;
                };
                span.trace_id.clone_from(&context.trace_id);
                span.parent_span_id.clone_from(&context.span_id);
                spans.push(span);
            }
            Owner::PreAppStart => {
                let Role::Record(recorder) = &self.mode.role else {
                    return;
                };
                span.trace_id = format!("{:032x}", fastrand::u128(..));
                span.is_pre_app_start = true;
                recorder.write(Trace {
                    file_name: cov_trace::file_name(span.started, &span.trace_id),
                    outbound: vec![span],
                    root: None,
                });
            }
            // Not planned: an outside call passes through unrecorded.
            Owner::Outside => {}
        }
    }

    /// Gives up on recording the call named `name` (the client could not see what it
    /// needs); counted, with one warning per process.
    pub(crate) fn skip(self, name: &str, reason: &str) {
        if let Role::Record(recorder) = &self.mode.role {
            recorder.skip_call(name, reason);
        }
    }
}

/// A call being answered from the recording.
#[derive(Debug)]
pub(crate) struct Replaying {
    mocks: MockClient,
    test_id: String,
    is_pre_app_start: bool,
}

impl Replaying {
    /// The recorded `outputValue` of the call `span` describes (its name, package and
    /// input), as the CLI matched it; `None` when the recorded call has no output.
    pub(crate) async fn answer(&self, span: &OutboundSpan) -> Result<Option<Value>, ReplayFailure> {
        let mut outbound_span = cov_wire::span::outbound_span(span);
        outbound_span.is_pre_app_start = self.is_pre_app_start;
        let request = GetMockRequest {
            test_id: self.test_id.clone(),
            outbound_span: Some(outbound_span),
            operation: span.submodule_name.clone(),
            ..GetMockRequest::default()
        };
        let response = self.mocks.get(request).await.map_err(ReplayFailure::from)?;
        if response.found
            && self.requires_exact_match(span)
            && response
                .match_level
                .as_ref()
                .is_none_or(|level| level.match_type != MatchType::InputValueHash as i32)
        {
            let how = response.match_level.as_ref().map_or_else(
                || "an unstated match".to_owned(),
                |level| {
                    format!(
                        "match type {} ({})",
                        level.match_type, level.match_description
                    )
                },
            );
            return Err(ReplayFailure::InexactMatch { how });
        }
        match cov_wire::span::mock_output(&response) {
            Ok(output) => Ok(output.map(Value::Object)),
            Err(MockReplyError::NotFound(cli_error)) => {
                Err(ReplayFailure::NotRecorded { cli_error })
            }
            Err(malformed) => Err(ReplayFailure::MalformedMock(malformed.to_string())),
        }
    }

    /// Whether only an exact value-hash match may answer: statements of a database are,
    /// where any other match is someone else's rows.
    fn requires_exact_match(&self, span: &OutboundSpan) -> bool {
        span.package_type == cov_trace::PACKAGE_TYPE_PG
    }
}

/// Why a replayed call got no recorded answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayFailure {
    /// The CLI found no recorded call that matches.
    #[error("no recorded call matches it ({cli_error})")]
    NotRecorded {
        /// The CLI's words.
        cli_error: String,
    },
    /// The CLI matched a recorded call only approximately, which is refused for calls
    /// whose answers must be exact (database statements).
    #[error("the CLI matched it only by {how}, and only an exact match is used")]
    InexactMatch {
        /// How the CLI matched.
        how: String,
    },
    /// The CLI cannot be asked (not connected, gone, overloaded, the request not sent).
    #[error("the Tusk CLI could not be asked: {0}")]
    Unavailable(String),
    /// The CLI did not answer in time.
    #[error("the Tusk CLI did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The recorded answer does not have the shape of this call's answers.
    #[error("the recorded answer is malformed: {0}")]
    MalformedMock(String),
    /// The call was made after the application was ready, outside any replayed request:
    /// nothing was recorded for it (in `RECORD` mode such calls pass through unrecorded).
    #[error(
        "it was made outside any replayed request, so nothing was recorded for it (carry the \
         request into spawned work with cov_sdk::propagate)"
    )]
    OutsideRequest,
    /// The request's body could not be read to compute what to ask for.
    #[error("its request body could not be read: {0}")]
    UnreadableRequest(String),
    /// The recorded call failed without a response; the replay fails the same way.
    #[error("when it was recorded it failed without a response: {name}: {message}")]
    RecordedError {
        /// The recorded `errorName`.
        name: String,
        /// The recorded `errorMessage`.
        message: String,
    },
    /// The application reads further into the response body than it did when the call was
    /// recorded: the recording holds only the bytes it read then.
    #[error(
        "its response body was recorded only as far as the application read it then \
         ({recorded_bytes} bytes): it stopped reading before the end"
    )]
    BodyNotRecorded {
        /// How many bytes of the body the recording holds.
        recorded_bytes: usize,
    },
}

impl From<MockFailure> for ReplayFailure {
    fn from(failure: MockFailure) -> Self {
        match failure {
            MockFailure::Timeout(timeout) => ReplayFailure::Timeout(timeout),
            other => ReplayFailure::Unavailable(other.to_string()),
        }
    }
}

/// The error an application gets for an outbound call in `REPLAY` mode that has no
/// recorded answer: it names the call and says why. The call never reached the network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Tusk Drift replay: {call} was not called, and {reason}")]
pub struct ReplayError {
    call: String,
    reason: ReplayFailure,
}

impl ReplayError {
    /// An error for the call described by `call` (`GET http://host/path`).
    #[cfg(feature = "http-client")]
    pub(crate) fn new(call: impl Into<String>, reason: ReplayFailure) -> Self {
        Self {
            call: call.into(),
            reason,
        }
    }

    /// The call: its method and URL, or its statement.
    pub fn call(&self) -> &str {
        &self.call
    }

    /// Why it has no recorded answer.
    pub fn reason(&self) -> &ReplayFailure {
        &self.reason
    }
}
