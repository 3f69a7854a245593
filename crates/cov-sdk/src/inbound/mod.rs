//! The service's inbound HTTP traffic, as the Tusk mode wants it: recorded as trace files
//! in `RECORD` mode, announced to the CLI as inbound replay spans in `REPLAY` mode,
//! untouched otherwise.
//!
//! [`Traffic`] is the framework-neutral core: a server calls [`Traffic::start`] with the
//! request head, feeds the [`Exchange`] the request and response body bytes as they pass,
//! and calls [`Exchange::finish`] when the response body has ended. [`TuskLayer`] does
//! exactly that for any `tower` HTTP stack (axum, hyper through tower, tonic).
//!
//! Nothing here may hurt a request. Bodies are copied as they stream, up to a limit; the
//! request path never waits for a file or a socket (traces go through the bounded queue of
//! the trace writer, replay spans through a bounded channel to the SDK thread, and either
//! drops what does not fit); every problem is at most one warning per kind per process.

mod layer;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cov_trace::{HttpRequest, HttpResponse, InboundSpan};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

pub use layer::{TuskLayer, TuskService};

use crate::body_capture::{BodyCapture, Refusal};
use crate::context::RequestContext;
use crate::mode::{Mode, Role};
use crate::outbound::OutboundSpans;
use crate::trace_writer::Trace;

/// The request header the Tusk CLI sends with every replayed request: the trace id.
pub const TRACE_ID_HEADER: &str = "x-td-trace-id";

/// What happens to inbound traffic in this process; cheap to clone. The default is off:
/// [`Traffic::start`] returns `None` and costs a branch.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    mode: Option<Arc<Mode>>,
}

impl Traffic {
    /// The traffic of an SDK instance in `mode` (`None`: off).
    pub(crate) fn new(mode: Option<Arc<Mode>>) -> Self {
        Self { mode }
    }

    /// Whether inbound traffic is recorded or announced at all in this process.
    pub fn is_active(&self) -> bool {
        self.mode.is_some()
    }

    /// The recorder (tests).
    #[cfg(test)]
    pub(crate) fn recorder(&self) -> Option<&crate::recorder::Recorder> {
        match &self.mode.as_deref()?.role {
            Role::Record(recorder) => Some(recorder),
            Role::Replay(_) => None,
        }
    }

    /// Starts following one inbound request, or `None` when nothing is to be done with
    /// it: the SDK is off, the request was not sampled or is an `OPTIONS` preflight
    /// (`RECORD`), or it carries no `x-td-trace-id` (`REPLAY`).
    pub fn start(
        &self,
        method: &Method,
        uri: &Uri,
        version: Version,
        headers: &HeaderMap,
    ) -> Option<Exchange> {
        let mode = self.mode.as_ref()?;
        mode.mark_ready();
        let trace_id = match &mode.role {
            Role::Record(recorder) => {
                if method == Method::OPTIONS || !recorder.sampled() {
                    return None;
                }
                format!("{:032x}", fastrand::u128(..))
            }
            Role::Replay(_) => {
                let trace_id = headers.get(TRACE_ID_HEADER)?.to_str().ok()?.trim();
                if trace_id.is_empty() {
                    return None;
                }
                trace_id.to_owned()
            }
        };
        let rules = &mode.rules;
        let max_body_bytes = mode.max_body_bytes;
        let target = uri.path_and_query().map_or_else(
            || uri.path().to_owned(),
            |target| target.as_str().to_owned(),
        );
        let host = headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| uri.authority().map(|authority| authority.as_str()))
            .unwrap_or("localhost");
        let mut request =
            HttpRequest::new(method.as_str(), &format!("http://{host}{target}"), &target);
        request.http_version = http_version(version).to_owned();
        request.headers = rules.apply(headers);
        let content_type = header_text(headers, CONTENT_TYPE.as_str());
        let content_encoding = header_text(headers, CONTENT_ENCODING.as_str());
        let span_id = format!("{:016x}", fastrand::u64(..));
        let outbound_spans = matches!(mode.role, Role::Record(_)).then(OutboundSpans::open);
        let context =
            RequestContext::new(trace_id.clone(), span_id.clone(), outbound_spans.clone());
        #[cfg(feature = "postgres")]
        mode.postgres.request_started(&context);
        Some(Exchange {
            mode: Arc::clone(mode),
            span: InboundSpan {
                trace_id,
                span_id,
                request,
                started: SystemTime::now(),
                ..InboundSpan::default()
            },
            started: Instant::now(),
            max_body_bytes,
            request_body: BodyCapture::new(content_type, content_encoding),
            response_body: BodyCapture::new(None, None),
            request_ended: false,
            responded: false,
            outbound_spans,
            context,
        })
    }
}

fn http_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// One inbound request being followed, from its head to the end of its response body.
/// Dropping it without [`Exchange::finish`] (the client went away, the body failed)
/// records nothing.
#[derive(Debug)]
pub struct Exchange {
    mode: Arc<Mode>,
    span: InboundSpan,
    started: Instant,
    max_body_bytes: usize,
    request_body: BodyCapture,
    response_body: BodyCapture,
    request_ended: bool,
    responded: bool,
    /// `RECORD`: the outbound calls the request makes, written with its trace.
    outbound_spans: Option<Arc<OutboundSpans>>,
    /// What the request's work finds in its task.
    context: RequestContext,
}

impl Exchange {
    /// The context the request's handler runs in.
    pub(crate) fn context(&self) -> RequestContext {
        self.context.clone()
    }

    /// A chunk of the request body, as the application reads it.
    pub fn request_body(&mut self, chunk: &[u8]) {
        self.request_body.push(chunk, self.max_body_bytes);
    }

    /// The request body has been read to its end (call it for a request without one
    /// too). A request whose body the application did not read to the end is not
    /// recorded: its replay would send a different body.
    pub fn request_body_end(&mut self) {
        self.request_ended = true;
    }

    /// The response head.
    pub fn response(&mut self, status: StatusCode, headers: &HeaderMap) {
        let rules = &self.mode.rules;
        self.span.response = HttpResponse {
            status: status.as_u16(),
            status_message: status.canonical_reason().unwrap_or_default().to_owned(),
            headers: rules.apply(headers),
            ..HttpResponse::default()
        };
        self.response_body = BodyCapture::new(
            header_text(headers, CONTENT_TYPE.as_str()),
            header_text(headers, CONTENT_ENCODING.as_str()),
        );
        self.responded = true;
    }

    /// Gives up on recording the request (`request`) or response body: it cannot be read.
    pub(crate) fn refuse(&mut self, request: bool) {
        let capture = if request {
            &mut self.request_body
        } else {
            &mut self.response_body
        };
        capture.refuse_fragmented();
    }

    /// A chunk of the response body, as it is sent.
    pub fn response_body(&mut self, chunk: &[u8]) {
        self.response_body.push(chunk, self.max_body_bytes);
    }

    /// The response body has ended: the exchange becomes a trace file (`RECORD`) or an
    /// inbound replay span (`REPLAY`). Returns at once; the work happens on other
    /// threads.
    pub fn finish(mut self) {
        self.span.duration = self.started.elapsed();
        if !self.responded {
            tracing::debug!(trace_id = %self.span.trace_id, "exchange finished without a response");
            return;
        }
        let request = std::mem::replace(&mut self.request_body, BodyCapture::new(None, None));
        let response = std::mem::replace(&mut self.response_body, BodyCapture::new(None, None));
        let bodies = if self.request_ended {
            request
                .finish()
                .and_then(|request| Ok((request, response.finish()?)))
        } else {
            Err(Refusal::RequestNotRead)
        };
        let mut span = self.span;
        match &self.mode.role {
            Role::Record(recorder) => match bodies {
                Ok(((request, request_type), (response, response_type))) => {
                    span.request.body = request;
                    span.request.body_type = request_type;
                    span.response.body = response;
                    span.response.body_type = response_type;
                    let outbound = self
                        .outbound_spans
                        .as_ref()
                        .map(|spans| spans.take())
                        .unwrap_or_default();
                    recorder.write(Trace {
                        file_name: cov_trace::file_name(span.started, &span.trace_id),
                        outbound,
                        root: Some(span),
                    });
                }
                Err(refusal) => {
                    if let Some(spans) = &self.outbound_spans {
                        spans.take();
                    }
                    recorder.skip(&span.name(), &refusal, self.max_body_bytes);
                }
            },
            Role::Replay(replayer) => {
                // The CLI needs the trace id; bodies are sent when they fit.
                if let Ok(((request, request_type), (response, response_type))) = bodies {
                    span.request.body = request;
                    span.request.body_type = request_type;
                    span.response.body = response;
                    span.response.body_type = response_type;
                }
                replayer.send_inbound_span(span);
            }
        }
    }
}
