//! What both HTTP clients share: the span of a request, the record of a call in flight
//! ([`ClientCall`], which follows the request and response bodies as they stream), and a
//! recorded answer turned back into a response.
//!
//! A call's span is built from what the application's client handed over and what it got
//! back: the method, the absolute URL, the headers under the recorder's rules, the request
//! body; the status, reason, headers and body of the response, verbatim (the bytes the
//! client delivered, which replay delivers again with the headers they came with). The
//! span's input is built the same way in both modes, so its hashes match.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use cov_trace::OutboundSpan;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;

use super::{Recording, ReplayError, ReplayFailure, Replaying};
use crate::body_capture::{BodyCapture, Refusal};
use crate::mode::Mode;
use crate::tee::{Follow, Side};

/// `GET http://host/path?query`: how errors and logs name a call.
pub(crate) fn describe(method: &Method, uri: &Uri) -> String {
    format!("{method} {uri}")
}

/// The span of a request: its name, package and input.
pub(crate) fn request_span(
    mode: &Mode,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<OutboundSpan, String> {
    let headers = mode.rules.apply(headers);
    cov_trace::http::client_request(
        method.as_str(),
        &uri.to_string(),
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        body,
    )
    .map(cov_trace::http::ClientRequest::into_span)
    .map_err(|error| error.to_string())
}

/// Sets the output and status of `span` from a response: `body` is all of it, or, when
/// not `complete`, the part the application read.
pub(crate) fn set_response(
    span: &mut OutboundSpan,
    mode: &Mode,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    complete: bool,
) {
    let headers = mode.rules.apply(headers);
    let (mut output, span_status) = cov_trace::http::client_response(
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        body,
    );
    if !complete {
        cov_trace::http::mark_body_incomplete(&mut output);
    }
    span.output = Some(output);
    span.status = span_status;
}

/// Sets the output and status of `span` from a call that got no response.
pub(crate) fn set_transport_error(
    span: &mut OutboundSpan,
    error: &(dyn std::error::Error + 'static),
) {
    let (output, status) = cov_trace::http::transport_error(error_name(error), &error.to_string());
    span.output = Some(output);
    span.status = status;
}

/// A name for the kind of a transport error, as the Tusk SDKs record `errorName`.
fn error_name(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "ConnectionRefused",
                std::io::ErrorKind::ConnectionReset => "ConnectionReset",
                std::io::ErrorKind::TimedOut => "TimedOut",
                _ => "IoError",
            };
        }
        source = current.source();
    }
    "Error"
}

/// A recorded answer, ready to hand to the application.
#[derive(Debug)]
pub(crate) struct RecordedAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Whether `body` is all of it (else the part the application read when recorded).
    pub(crate) body_complete: bool,
}

impl RecordedAnswer {
    /// The body for the application, for the call `call` names.
    pub(crate) fn body(&self, call: &str) -> RecordedBody {
        RecordedBody {
            bytes: (!self.body.is_empty()).then(|| self.body.clone()),
            beyond: (!self.body_complete).then(|| {
                ReplayError::new(
                    call,
                    ReplayFailure::BodyNotRecorded {
                        recorded_bytes: self.body.len(),
                    },
                )
            }),
        }
    }
}

/// A recorded response body handed back: the recorded bytes, then, when the recording
/// holds only the part the application read, an error for whoever reads on (never bytes
/// that were not recorded).
#[derive(Debug)]
pub(crate) struct RecordedBody {
    bytes: Option<Bytes>,
    beyond: Option<ReplayError>,
}

impl http_body::Body for RecordedBody {
    type Data = Bytes;
    type Error = ReplayError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, ReplayError>>> {
        let frame = match self.bytes.take() {
            Some(bytes) => Some(Ok(http_body::Frame::data(bytes))),
            None => self.beyond.take().map(Err),
        };
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none() && self.beyond.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let recorded = self.bytes.as_ref().map_or(0, |bytes| bytes.len() as u64);
        if self.beyond.is_some() {
            let mut hint = http_body::SizeHint::new();
            hint.set_lower(recorded);
            hint
        } else {
            http_body::SizeHint::with_exact(recorded)
        }
    }
}

/// The recorded answer to the call of this request, asked of the CLI with the span the
/// call had when it was recorded.
pub(crate) async fn ask_recorded_answer(
    replaying: &Replaying,
    mode: &Mode,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RecordedAnswer, ReplayFailure> {
    let span =
        request_span(mode, method, uri, headers, body).map_err(ReplayFailure::UnreadableRequest)?;
    replaying.answer(&span).await.and_then(recorded_answer)
}

/// The recorded `outputValue` of an HTTP call, back as the response the application got;
/// a recorded transport error comes back as that error.
fn recorded_answer(output: Option<Value>) -> Result<RecordedAnswer, ReplayFailure> {
    let output = output.ok_or_else(|| {
        ReplayFailure::MalformedMock("the recorded call has no outputValue".to_owned())
    })?;
    match cov_trace::http::recorded_outcome(&output) {
        Ok(cov_trace::http::RecordedOutcome::Response(response)) => {
            let status = StatusCode::from_u16(response.status).map_err(|error| {
                ReplayFailure::MalformedMock(format!("statusCode {}: {error}", response.status))
            })?;
            let mut headers = HeaderMap::new();
            for (name, value) in &response.headers {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|error| {
                    ReplayFailure::MalformedMock(format!("header name {name:?}: {error}"))
                })?;
                let value = HeaderValue::from_str(value).map_err(|error| {
                    ReplayFailure::MalformedMock(format!("header {name}: {error}"))
                })?;
                headers.append(name, value);
            }
            Ok(RecordedAnswer {
                status,
                headers,
                body: Bytes::from(response.body),
                body_complete: response.body_complete,
            })
        }
        Ok(cov_trace::http::RecordedOutcome::TransportError { name, message }) => {
            Err(ReplayFailure::RecordedError { name, message })
        }
        Err(error) => Err(ReplayFailure::MalformedMock(error.to_string())),
    }
}

/// One HTTP call being recorded, from its request head to the end of its response body.
#[derive(Debug)]
pub(crate) struct ClientCall {
    recording: Recording,
    method: Method,
    uri: Uri,
    request_headers: HeaderMap,
    request_body: BodyCapture,
    request_ended: bool,
    response: Option<(StatusCode, HeaderMap)>,
    response_body: BodyCapture,
}

impl ClientCall {
    /// A call with this request head; its body follows as it is sent.
    pub(crate) fn new(recording: Recording, method: Method, uri: Uri, headers: HeaderMap) -> Self {
        Self {
            recording,
            method,
            uri,
            request_headers: headers,
            request_body: BodyCapture::verbatim(),
            request_ended: false,
            response: None,
            response_body: BodyCapture::verbatim(),
        }
    }

    /// A call whose whole request body is known already.
    #[cfg(feature = "reqwest")]
    pub(crate) fn with_body(
        recording: Recording,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut call = Self::new(recording, method, uri, headers);
        let limit = call.recording.mode.max_body_bytes;
        call.request_body.push(body, limit);
        call.request_ended = true;
        call
    }

    /// The request body has been sent to its end (or there is none).
    #[cfg(feature = "tower")]
    pub(crate) fn request_ended(&mut self) {
        self.request_ended = true;
    }

    /// The response head.
    pub(crate) fn response(&mut self, status: StatusCode, headers: HeaderMap) {
        self.response = Some((status, headers));
    }

    /// The call's span with its input, or why it cannot be recorded.
    fn span(&mut self) -> Result<OutboundSpan, String> {
        if !self.request_ended {
            return Err("its request body was not sent to its end".to_owned());
        }
        let body = std::mem::replace(&mut self.request_body, BodyCapture::verbatim());
        let (body, _) = body
            .finish()
            .map_err(|refusal| self.refusal_text(&refusal))?;
        request_span(
            &self.recording.mode,
            &self.method,
            &self.uri,
            &self.request_headers,
            &body,
        )
    }

    fn refusal_text(&self, refusal: &Refusal) -> String {
        match refusal {
            Refusal::TooLarge => format!(
                "a body is over the {}-byte limit",
                self.recording.mode.max_body_bytes
            ),
            Refusal::Fragmented => "a body came in non-contiguous buffers".to_owned(),
            other => format!("{other:?}"),
        }
    }

    /// The response body has ended: the call is recorded.
    pub(crate) fn finish(self) {
        self.record_response(true);
    }

    /// The application dropped the response body before its end: the call is recorded
    /// with the part of the body it read, marked as such, so that a replay hands back that
    /// part and an error for reading on, never bytes that were not recorded.
    fn finish_read_in_part(self) {
        self.record_response(false);
    }

    fn record_response(mut self, complete: bool) {
        let name = describe(&self.method, &self.uri);
        let mut span = match self.span() {
            Ok(span) => span,
            Err(reason) => return self.recording.skip(&name, &reason),
        };
        let Some((status, headers)) = self.response.take() else {
            return self.recording.skip(&name, "it has no response");
        };
        let body = std::mem::replace(&mut self.response_body, BodyCapture::verbatim());
        let body = match body.finish() {
            Ok((body, _)) => body,
            Err(refusal) => {
                let reason = self.refusal_text(&refusal);
                return self.recording.skip(&name, &reason);
            }
        };
        set_response(
            &mut span,
            &self.recording.mode,
            status,
            &headers,
            &body,
            complete,
        );
        self.recording.finish(span);
    }

    /// The call failed before a response: it is recorded with its error.
    pub(crate) fn fail(mut self, error: &(dyn std::error::Error + 'static)) {
        let name = describe(&self.method, &self.uri);
        // A request cut short by the error is recorded with what it had to send: the
        // replayed request sends the same body.
        self.request_ended = true;
        match self.span() {
            Ok(mut span) => {
                set_transport_error(&mut span, error);
                self.recording.finish(span);
            }
            Err(reason) => self.recording.skip(&name, &reason),
        }
    }
}

/// A call shared by its bodies and its response future; `None` once finished or given up.
#[derive(Debug)]
pub(crate) struct SharedCall(Mutex<Option<ClientCall>>);

impl SharedCall {
    /// Shares `call`.
    pub(crate) fn new(call: ClientCall) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(call))))
    }

    /// Works on the call, if it is still being followed.
    pub(crate) fn with(&self, work: impl FnOnce(&mut ClientCall)) {
        if let Some(call) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            work(call);
        }
    }

    /// Takes the call out: nobody follows it after this.
    pub(crate) fn take(&self) -> Option<ClientCall> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Drop for SharedCall {
    fn drop(&mut self) {
        // Still followed when the last body and future let go: the application dropped the
        // response body before its end (or the response future before the response came).
        if let Some(call) = self.take() {
            if call.response.is_some() {
                call.finish_read_in_part();
            } else {
                let name = describe(&call.method, &call.uri);
                call.recording
                    .skip(&name, "it was dropped before its response came");
            }
        }
    }
}

impl Follow for SharedCall {
    fn chunk(&self, side: Side, chunk: &[u8]) {
        self.with(|call| {
            let limit = call.recording.mode.max_body_bytes;
            match side {
                Side::Request => call.request_body.push(chunk, limit),
                Side::Response => call.response_body.push(chunk, limit),
            }
        });
    }

    fn fragmented(&self, side: Side) {
        self.with(|call| match side {
            Side::Request => call.request_body.refuse_fragmented(),
            Side::Response => call.response_body.refuse_fragmented(),
        });
    }

    fn ended(&self, side: Side) {
        match side {
            Side::Request => self.with(|call| call.request_ended = true),
            Side::Response => {
                if let Some(call) = self.take() {
                    call.finish();
                }
            }
        }
    }

    fn failed(&self, side: Side) {
        // A response body that fails was not delivered whole: nothing to replay it with.
        if let Some(call) = self.take() {
            let name = describe(&call.method, &call.uri);
            let which = match side {
                Side::Request => "its request body failed",
                Side::Response => "its response body failed",
            };
            call.recording.skip(&name, which);
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;
    use http_body_util::BodyExt as _;

    use super::*;

    fn answer(body: &'static [u8], complete: bool) -> RecordedAnswer {
        RecordedAnswer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
            body_complete: complete,
        }
    }

    #[tokio::test]
    async fn a_recorded_body_gives_its_bytes_then_an_error_if_it_was_read_in_part() {
        let mut whole = answer(b"hello", true).body("GET http://rates/x");
        assert_eq!(whole.size_hint().exact(), Some(5));
        let frame = whole.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hello");
        assert!(whole.is_end_stream());
        assert!(whole.frame().await.is_none());

        let mut part = answer(b"hel", false).body("GET http://rates/x");
        assert_eq!(
            (part.size_hint().lower(), part.size_hint().upper()),
            (3, None)
        );
        let frame = part.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hel");
        assert!(!part.is_end_stream());
        let error = part.frame().await.unwrap().unwrap_err();
        assert_eq!(error.call(), "GET http://rates/x");
        assert_eq!(
            error.reason(),
            &ReplayFailure::BodyNotRecorded { recorded_bytes: 3 }
        );
        assert!(part.is_end_stream());
        assert!(part.frame().await.is_none());

        // Nothing read at all: no data, the error at once.
        let mut unread = answer(b"", false).body("GET http://rates/x");
        assert!(unread.frame().await.unwrap().is_err());
    }
}
