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
//! [`writer`], replay spans through a bounded channel to the SDK thread, and either drops
//! what does not fit); every problem is at most one warning per kind per process.

mod headers;
mod layer;
pub(crate) mod sampling;
#[cfg(test)]
mod tests;
pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Instant, SystemTime};

use cov_trace::{HttpRequest, HttpResponse, InboundSpan, Unrecordable, classify_body};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

pub(crate) use headers::HeaderRules;
pub use headers::MASKED_VALUE;
pub use layer::{TuskBody, TuskLayer, TuskService};

use crate::env::{Environment, TUSK_TRACES_DIR};
use crate::tusk_config;
use writer::{Trace, TraceWriter};

/// The request header the Tusk CLI sends with every replayed request: the trace id.
pub const TRACE_ID_HEADER: &str = "x-td-trace-id";

/// The default limit on each recorded body: a trace of two full bodies (base64) stays
/// well under the CLI's 15 MiB line limit and its 10 MiB frame limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest body limit accepted: two bodies in base64 still fit one 15 MiB line.
pub const MAX_BODY_BYTES_CEILING: usize = 5 * 1024 * 1024;

/// How many inbound replay spans may wait for the SDK thread.
pub(crate) const REPLAY_QUEUE: usize = 1024;

/// The recorder's options, set through [`crate::Builder`].
#[derive(Clone, Debug)]
pub(crate) struct RecordOptions {
    pub(crate) sampling_rate: Option<f64>,
    pub(crate) traces_dir: Option<PathBuf>,
    pub(crate) rules: HeaderRules,
    pub(crate) max_body_bytes: usize,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            sampling_rate: None,
            traces_dir: None,
            rules: HeaderRules::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The recorder of this process, if any: a weak reference, so it stops (after writing
/// what is queued) when the last handle and layer are dropped.
static RECORDING: Mutex<Weak<Mode>> = Mutex::new(Weak::new());

/// The process's recorder: the running one, or a new one.
pub(crate) fn recording(options: &RecordOptions, environment: &Environment) -> Traffic {
    let mut current = RECORDING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(mode) = current.upgrade() {
        return Traffic { mode: Some(mode) };
    }
    let traffic = Traffic::record(options, environment).unwrap_or_default();
    if let Some(mode) = &traffic.mode {
        *current = Arc::downgrade(mode);
    }
    traffic
}

/// What happens to inbound traffic in this process; cheap to clone. The default is off:
/// [`Traffic::start`] returns `None` and costs a branch.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    mode: Option<Arc<Mode>>,
}

#[derive(Debug)]
enum Mode {
    Record(Recorder),
    Replay(ReplaySpans),
}

/// `RECORD` mode: sampled exchanges become trace files.
#[derive(Debug)]
struct Recorder {
    writer: TraceWriter,
    sampling_rate: f64,
    rules: HeaderRules,
    max_body_bytes: usize,
    skipped: AtomicU64,
    warned_too_large: AtomicBool,
    warned_unrecordable: AtomicBool,
}

/// `REPLAY` mode: every exchange with a trace id becomes an inbound replay span for the
/// SDK thread to send.
#[derive(Debug)]
struct ReplaySpans {
    sender: tokio::sync::mpsc::Sender<InboundSpan>,
    rules: HeaderRules,
    max_body_bytes: usize,
    dropped: AtomicU64,
}

impl Traffic {
    /// Records into trace files, configured from the options, the environment and the
    /// project file; `None` (with a warning) when the writer thread cannot start.
    pub(crate) fn record(options: &RecordOptions, environment: &Environment) -> Option<Self> {
        let working_dir = std::env::current_dir().ok();
        let project = match working_dir.as_deref().map(tusk_config::recording_from) {
            Some(Ok(project)) => project.unwrap_or_default(),
            Some(Err(reason)) => {
                tracing::warn!(
                    file = tusk_config::CONFIG_FILE,
                    %reason,
                    "Tusk recorder ignores the Tusk project file"
                );
                tusk_config::RecordingConfig::default()
            }
            None => tusk_config::RecordingConfig::default(),
        };
        let dir = traces_dir(
            options.traces_dir.as_deref(),
            environment,
            project.traces_dir.as_deref(),
            working_dir.as_deref(),
        );
        let sampling_rate =
            sampling::resolve(options.sampling_rate, environment, project.sampling_rate);
        let writer =
            match TraceWriter::start(dir.clone(), writer::QUEUE_TRACES, writer::QUEUE_BYTES) {
                Ok(writer) => writer,
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "Tusk recorder not started: cannot spawn its writer thread"
                    );
                    return None;
                }
            };
        tracing::info!(dir = %dir.display(), sampling_rate, "Tusk recorder writing traces");
        Some(Self::from_mode(Mode::Record(Recorder {
            writer,
            sampling_rate,
            rules: options.rules.clone(),
            max_body_bytes: options.max_body_bytes,
            skipped: AtomicU64::new(0),
            warned_too_large: AtomicBool::new(false),
            warned_unrecordable: AtomicBool::new(false),
        })))
    }

    /// Hands inbound replay spans to the SDK thread through `sender`.
    pub(crate) fn replay(
        options: &RecordOptions,
        sender: tokio::sync::mpsc::Sender<InboundSpan>,
    ) -> Self {
        Self::from_mode(Mode::Replay(ReplaySpans {
            sender,
            rules: options.rules.clone(),
            max_body_bytes: options.max_body_bytes,
            dropped: AtomicU64::new(0),
        }))
    }

    fn from_mode(mode: Mode) -> Self {
        Self {
            mode: Some(Arc::new(mode)),
        }
    }

    /// Whether inbound traffic is recorded or announced at all in this process.
    pub fn is_active(&self) -> bool {
        self.mode.is_some()
    }

    /// Whether `self` and `other` share one recorder or replay channel.
    pub(crate) fn same_as(&self, other: &Traffic) -> bool {
        match (&self.mode, &other.mode) {
            (Some(left), Some(right)) => Arc::ptr_eq(left, right),
            (None, None) => true,
            _ => false,
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
        let (trace_id, rules, max_body_bytes) = match &**mode {
            Mode::Record(recorder) => {
                if method == Method::OPTIONS || !sampling::sampled(recorder.sampling_rate) {
                    return None;
                }
                (
                    format!("{:032x}", fastrand::u128(..)),
                    &recorder.rules,
                    recorder.max_body_bytes,
                )
            }
            Mode::Replay(replay) => {
                let trace_id = headers.get(TRACE_ID_HEADER)?.to_str().ok()?.trim();
                if trace_id.is_empty() {
                    return None;
                }
                (trace_id.to_owned(), &replay.rules, replay.max_body_bytes)
            }
        };
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
        Some(Exchange {
            mode: Arc::clone(mode),
            span: InboundSpan {
                trace_id,
                span_id: format!("{:016x}", fastrand::u64(..)),
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
        })
    }

    /// The counters of the recorder (tests).
    #[cfg(test)]
    pub(crate) fn record_stats(&self) -> Option<(&writer::WriterStats, u64)> {
        match self.mode.as_deref()? {
            Mode::Record(recorder) => Some((
                recorder.writer.stats(),
                recorder.skipped.load(Ordering::Relaxed),
            )),
            Mode::Replay(_) => None,
        }
    }

    /// Stops the recorder's writer after writing what is queued (tests).
    #[cfg(test)]
    pub(crate) fn flush(&self) {
        if let Some(Mode::Record(recorder)) = self.mode.as_deref() {
            recorder
                .writer
                .flush_and_stop(std::time::Duration::from_secs(10));
        }
    }
}

/// Where traces go: the builder's directory, then `TUSK_TRACES_DIR`, then `traces.dir`
/// from `.tusk/config.yaml`, else `.tusk/traces`; relative paths are relative to the
/// working directory.
fn traces_dir(
    configured: Option<&Path>,
    environment: &Environment,
    project: Option<&str>,
    working_dir: Option<&Path>,
) -> PathBuf {
    let dir = configured
        .map(Path::to_path_buf)
        .or_else(|| environment.get(TUSK_TRACES_DIR).map(PathBuf::from))
        .or_else(|| project.map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".tusk/traces"));
    match working_dir {
        Some(working_dir) if dir.is_relative() => working_dir.join(dir),
        _ => dir,
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

/// The bytes of one body, copied up to the limit, or why they will not be recorded.
#[derive(Debug)]
struct BodyCapture {
    bytes: Vec<u8>,
    /// Bytes that went past, copied or not.
    seen: usize,
    content_type: Option<String>,
    content_encoding: Option<String>,
    refused: Option<Refusal>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// Over the body limit.
    TooLarge,
    /// Binary or compressed.
    Unrecordable(Unrecordable),
    /// The application answered without reading the request body to its end.
    RequestNotRead,
    /// A body came in buffers the layer cannot read without consuming them.
    Fragmented,
}

impl Recorder {
    /// Counts a trace that is not recorded; one warning per kind of reason per process.
    fn skip(&self, span: &InboundSpan, refusal: &Refusal) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        let name = span.name();
        let (warned, reason) = match refusal {
            Refusal::TooLarge => (
                &self.warned_too_large,
                format!("a body is over the {}-byte limit", self.max_body_bytes),
            ),
            Refusal::Unrecordable(why) => (&self.warned_unrecordable, why.to_string()),
            Refusal::Fragmented => (
                &self.warned_unrecordable,
                "a body came in non-contiguous buffers".to_owned(),
            ),
            Refusal::RequestNotRead => {
                tracing::debug!(request = %name, "not recorded: the request body was not read to its end");
                return;
            }
        };
        if warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(request = %name, %reason, "not recorded");
        } else {
            tracing::warn!(
                request = %name,
                %reason,
                "Tusk recorder skips requests it cannot replay (this is the only warning of \
                 this kind; the service is unaffected)"
            );
        }
    }
}

impl ReplaySpans {
    /// Hands `span` to the SDK thread; never blocks. A full channel drops it.
    fn send(&self, span: InboundSpan) {
        if let Err(error) = self.sender.try_send(span) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(dropped, %error, "inbound replay span not sent");
        }
    }
}

impl BodyCapture {
    fn new(content_type: Option<String>, content_encoding: Option<String>) -> Self {
        let mut capture = Self {
            bytes: Vec::new(),
            seen: 0,
            content_type,
            content_encoding,
            refused: None,
        };
        // Known from the headers already: do not even copy the bytes.
        capture.refused = capture.classify(b"x").err().map(Refusal::Unrecordable);
        capture
    }

    fn classify(&self, bytes: &[u8]) -> Result<Option<cov_trace::DecodedType>, Unrecordable> {
        classify_body(
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
            bytes,
        )
    }

    fn push(&mut self, chunk: &[u8], max_bytes: usize) {
        self.seen += chunk.len();
        if self.refused.is_some() || chunk.is_empty() {
            return;
        }
        if self.bytes.len() + chunk.len() > max_bytes {
            self.refused = Some(Refusal::TooLarge);
            self.bytes = Vec::new();
            return;
        }
        self.bytes.extend_from_slice(chunk);
    }

    /// The body and its type, or why it is refused.
    fn finish(self) -> Result<(Vec<u8>, Option<cov_trace::DecodedType>), Refusal> {
        if let Some(refusal) = self.refused {
            if self.seen == 0 && matches!(refusal, Refusal::Unrecordable(_)) {
                // Refused by its headers, but empty after all: nothing to refuse.
                return Ok((Vec::new(), None));
            }
            return Err(refusal);
        }
        let body_type = self.classify(&self.bytes).map_err(Refusal::Unrecordable)?;
        Ok((self.bytes, body_type))
    }
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
}

impl Exchange {
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
        let rules = match &*self.mode {
            Mode::Record(recorder) => &recorder.rules,
            Mode::Replay(replay) => &replay.rules,
        };
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
        capture.bytes = Vec::new();
        capture.refused = Some(Refusal::Fragmented);
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
        match &*self.mode {
            Mode::Record(recorder) => match bodies {
                Ok(((request, request_type), (response, response_type))) => {
                    span.request.body = request;
                    span.request.body_type = request_type;
                    span.response.body = response;
                    span.response.body_type = response_type;
                    recorder.writer.submit(Trace {
                        file_name: cov_trace::file_name(span.started, &span.trace_id),
                        text: span.to_json_line() + "\n",
                    });
                }
                Err(refusal) => recorder.skip(&span, &refusal),
            },
            Mode::Replay(replay) => {
                // The CLI needs the trace id; bodies are sent when they fit.
                if let Ok(((request, request_type), (response, response_type))) = bodies {
                    span.request.body = request;
                    span.request.body_type = request_type;
                    span.response.body = response;
                    span.response.body_type = response_type;
                }
                replay.send(span);
            }
        }
    }
}
