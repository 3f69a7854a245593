//! The recorder and the replay span through the tower layer, with hand-made services and
//! bodies (no server, no network): what is written, what is skipped, and that the
//! response reaches the client unchanged and unbuffered.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use cov_trace::read::{self, ReplayTest};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use serde_json::json;
use tower_layer::Layer as _;
use tower_service::Service;

use super::*;

/// A body of scripted chunks; `hold` pauses it (Pending) before the chunk of that index
/// until `release` is called.
#[derive(Debug, Default)]
struct Chunks {
    chunks: VecDeque<Result<Bytes, &'static str>>,
    hold: Option<usize>,
    sent: usize,
    gate: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Chunks {
    fn of(chunks: &[&[u8]]) -> Self {
        Self {
            chunks: chunks
                .iter()
                .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
                .collect(),
            ..Self::default()
        }
    }

    fn release(gate: &Arc<Mutex<(bool, Option<Waker>)>>) {
        let mut gate = gate.lock().unwrap();
        gate.0 = true;
        if let Some(waker) = gate.1.take() {
            waker.wake();
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        if self.hold == Some(self.sent) {
            let mut gate = self.gate.lock().unwrap();
            if !gate.0 {
                gate.1 = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        self.sent += 1;
        Poll::Ready(self.chunks.pop_front().map(|chunk| chunk.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.hold.is_none_or(|hold| hold < self.sent)
    }
}

/// Reads a whole body.
async fn collect<B: Body<Data = Bytes>>(body: B) -> Result<Vec<u8>, B::Error> {
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

type Reply = (StatusCode, Vec<(&'static str, &'static str)>, Chunks);

/// A service that reads the whole request body (unless `read_body` is false) and answers
/// with `reply`.
#[derive(Clone)]
struct Handler {
    read_body: bool,
    reply: Arc<Mutex<Option<Reply>>>,
    seen_body: Arc<Mutex<Vec<u8>>>,
}

impl Handler {
    fn new(status: StatusCode, headers: &[(&'static str, &'static str)], body: Chunks) -> Self {
        Self {
            read_body: true,
            reply: Arc::new(Mutex::new(Some((status, headers.to_vec(), body)))),
            seen_body: Arc::default(),
        }
    }
}

impl<B> Service<Request<B>> for Handler
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    type Response = Response<Chunks>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Chunks>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let handler = self.clone();
        Box::pin(async move {
            if handler.read_body {
                let body = collect(request.into_body()).await.expect("request body");
                *handler.seen_body.lock().unwrap() = body;
            }
            let (status, headers, body) = handler.reply.lock().unwrap().take().unwrap();
            let mut response = Response::new(body);
            *response.status_mut() = status;
            for (name, value) in headers {
                response
                    .headers_mut()
                    .append(name, HeaderValue::from_static(value));
            }
            Ok(response)
        })
    }
}

fn options(dir: &Path) -> crate::Builder {
    let mut builder = crate::Builder::new();
    builder.traces_dir(dir);
    builder
}

fn recorder(options: &crate::Builder) -> Traffic {
    let config = crate::config::Config::from_sources(
        options,
        &crate::env::Environment::default(),
        &crate::project_file::ProjectFile::default(),
        None,
    );
    let recorder = crate::recorder::Recorder::start(&config).expect("the writer starts");
    Traffic::new(Some(Arc::new(Mode::new(
        Role::Record(recorder),
        options.header_rules.clone(),
        options.max_body_bytes,
    ))))
}

fn replayer(sender: tokio::sync::mpsc::Sender<InboundSpan>) -> Traffic {
    let (mocks, _service) = crate::mocks::channel(crate::DEFAULT_MOCK_TIMEOUT);
    let replayer = crate::replayer::Replayer::new(sender, mocks);
    Traffic::new(Some(Arc::new(Mode::new(
        Role::Replay(replayer),
        crate::headers::HeaderRules::default(),
        crate::DEFAULT_MAX_BODY_BYTES,
    ))))
}

trait Flush {
    fn flush(&self);
    fn stats(&self) -> (&crate::trace_writer::WriterStats, u64);
}

impl Flush for Traffic {
    fn flush(&self) {
        self.recorder().expect("a recorder").flush();
    }

    fn stats(&self) -> (&crate::trace_writer::WriterStats, u64) {
        self.recorder().expect("a recorder").stats()
    }
}

fn make_request(
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: Chunks,
) -> Request<Chunks> {
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "localhost:3000");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).unwrap()
}

/// Sends `request` through the layer and reads the whole response.
async fn exchange(
    traffic: &Traffic,
    handler: Handler,
    request: Request<Chunks>,
) -> (StatusCode, Vec<u8>) {
    let mut service = TuskLayer::new(traffic.clone()).layer(handler);
    let response = service.call(request).await.unwrap();
    let status = response.status();
    (status, collect(response.into_body()).await.unwrap())
}

/// Every trace file in `dir`, parsed with the CLI's rules.
fn recorded(dir: &Path) -> Vec<ReplayTest> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut tests = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(".jsonl"), "stray file {name}");
        let text = std::fs::read(&path).unwrap();
        let spans = read::parse_spans(&text).unwrap();
        assert_eq!(spans.len(), 1);
        let test = read::replay_test(&spans).unwrap().unwrap();
        assert!(
            name.ends_with(&format!("_trace_{}.jsonl", test.trace_id)),
            "{name}"
        );
        tests.push(test);
    }
    tests
}

fn json_reply(body: &'static [u8]) -> Handler {
    Handler::new(
        StatusCode::CREATED,
        &[("content-type", "application/json"), ("set-cookie", "s=1")],
        Chunks::of(&[body]),
    )
}

#[tokio::test]
async fn a_recorded_exchange_is_a_trace_the_cli_replays() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = recorder(&options(dir.path()));
    let handler = json_reply(br#"{"id":7}"#);
    let seen = Arc::clone(&handler.seen_body);
    let body = Chunks::of(&[b"{\"sku\":", b"\"apple\"}"]);
    let request = make_request(
        Method::POST,
        "/orders?dry_run=1",
        &[
            ("content-type", "application/json"),
            ("accept-encoding", "gzip"),
            ("authorization", "Bearer t"),
        ],
        body,
    );
    let (status, body) = exchange(&traffic, handler, request).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::CREATED, &br#"{"id":7}"#[..])
    );
    assert_eq!(seen.lock().unwrap().as_slice(), br#"{"sku":"apple"}"#);
    traffic.flush();

    let tests = recorded(dir.path());
    assert_eq!(tests.len(), 1);
    let test = &tests[0];
    assert_eq!(test.method, "POST");
    assert_eq!(test.path, "/orders?dry_run=1");
    assert_eq!(test.body.as_deref(), Some(&br#"{"sku":"apple"}"#[..]));
    assert_eq!(test.status, 201);
    assert_eq!(test.expected_body, Some(json!({"id": 7})));
    assert_eq!(
        test.headers.get("authorization").map(String::as_str),
        Some("Bearer t")
    );
    assert!(!test.headers.contains_key("accept-encoding"));
    assert_eq!(test.trace_id.len(), 32);
}

#[tokio::test]
async fn header_rules_drop_and_mask_in_requests_and_responses() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    options
        .drop_header("x-api-key")
        .mask_header("authorization")
        .mask_header("set-cookie");
    let traffic = recorder(&options);
    let request = make_request(
        Method::GET,
        "/me",
        &[
            ("authorization", "Bearer secret"),
            ("x-api-key", "k"),
            ("x-ok", "1"),
        ],
        Chunks::default(),
    );
    exchange(&traffic, json_reply(b"{}"), request).await;
    traffic.flush();
    let test = &recorded(dir.path())[0];
    assert_eq!(test.headers["authorization"], crate::MASKED_VALUE);
    assert!(!test.headers.contains_key("x-api-key"));
    assert_eq!(test.headers["x-ok"], "1");
    let text = std::fs::read_to_string(
        std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(!text.contains("secret") && !text.contains("s=1"), "{text}");
}

#[tokio::test]
async fn sampling_zero_and_options_preflights_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    let preflight = recorder(&options);
    let request = make_request(Method::OPTIONS, "/orders", &[], Chunks::default());
    exchange(&preflight, json_reply(b"{}"), request).await;
    preflight.flush();
    options.sampling_rate(0.0);
    let unsampled = recorder(&options);
    for _ in 0..20 {
        let request = make_request(Method::GET, "/orders", &[], Chunks::default());
        exchange(&unsampled, json_reply(b"{}"), request).await;
    }
    unsampled.flush();
    assert!(recorded(dir.path()).is_empty());
}

#[tokio::test]
async fn bodies_over_the_limit_are_served_whole_but_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    options.max_body_bytes(16);
    let traffic = recorder(&options);
    let big: &'static [u8] = br#"{"items":[1,2,3,4,5,6,7,8,9]}"#;
    // Over the limit in the response...
    let (_, body) = exchange(
        &traffic,
        json_reply(big),
        make_request(Method::GET, "/a", &[], Chunks::default()),
    )
    .await;
    assert_eq!(body, big);
    // ... and in the request.
    let request = make_request(
        Method::POST,
        "/b",
        &[],
        Chunks::of(&[b"0123456789", b"0123456789"]),
    );
    exchange(&traffic, json_reply(b"{}"), request).await;
    // Exactly at the limit is recorded.
    let request = make_request(Method::POST, "/c", &[], Chunks::of(&[b"0123456789abcdef"]));
    exchange(&traffic, json_reply(b"{}"), request).await;
    traffic.flush();
    let tests = recorded(dir.path());
    assert_eq!(
        tests
            .iter()
            .map(|test| test.path.as_str())
            .collect::<Vec<_>>(),
        ["/c"]
    );
    let (stats, skipped) = traffic.stats();
    assert_eq!((stats.written.load(Ordering::Relaxed), skipped), (1, 2));
}

#[tokio::test]
async fn binary_and_compressed_bodies_are_served_but_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = recorder(&options(dir.path()));
    let png: &'static [u8] = b"\x89PNG\r\n\x1a\n";
    let handler = Handler::new(
        StatusCode::OK,
        &[("content-type", "image/png")],
        Chunks::of(&[png]),
    );
    let (_, body) = exchange(
        &traffic,
        handler,
        make_request(Method::GET, "/logo.png", &[], Chunks::default()),
    )
    .await;
    assert_eq!(body, png);
    let handler = Handler::new(StatusCode::OK, &[], Chunks::of(&[b"\xff\xfe\x00"]));
    exchange(
        &traffic,
        handler,
        make_request(Method::GET, "/raw", &[], Chunks::default()),
    )
    .await;
    let handler = Handler::new(
        StatusCode::OK,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        Chunks::of(&[b"\x1f\x8b\x08"]),
    );
    exchange(
        &traffic,
        handler,
        make_request(Method::GET, "/gz", &[], Chunks::default()),
    )
    .await;
    // A binary type with an empty body is fine: nothing to compare.
    let handler = Handler::new(
        StatusCode::NO_CONTENT,
        &[("content-type", "image/png")],
        Chunks::default(),
    );
    exchange(
        &traffic,
        handler,
        make_request(Method::DELETE, "/logo.png", &[], Chunks::default()),
    )
    .await;
    traffic.flush();
    let tests = recorded(dir.path());
    assert_eq!(
        tests
            .iter()
            .map(|test| test.method.as_str())
            .collect::<Vec<_>>(),
        ["DELETE"]
    );
    assert_eq!(traffic.stats().1, 3);
}

#[tokio::test]
async fn a_request_body_the_handler_did_not_read_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = recorder(&options(dir.path()));
    let mut handler = json_reply(b"{}");
    handler.read_body = false;
    let request = make_request(Method::POST, "/ignored", &[], Chunks::of(&[b"payload"]));
    exchange(&traffic, handler, request).await;
    traffic.flush();
    assert!(recorded(dir.path()).is_empty());
}

#[tokio::test]
async fn a_failing_response_body_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = recorder(&options(dir.path()));
    let mut body = Chunks::of(&[b"{\"partial\":"]);
    body.chunks.push_back(Err("connection reset"));
    let handler = Handler::new(StatusCode::OK, &[], body);
    let mut service = TuskLayer::new(traffic.clone()).layer(handler);
    let response = service
        .call(make_request(Method::GET, "/", &[], Chunks::default()))
        .await
        .unwrap();
    assert_eq!(collect(response.into_body()).await, Err("connection reset"));
    traffic.flush();
    assert!(recorded(dir.path()).is_empty());
}

/// The response streams: the first chunk is delivered while the handler's body has not
/// ended, and the trace is written only when it has.
#[tokio::test]
async fn the_response_streams_unbuffered_and_is_recorded_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = recorder(&options(dir.path()));
    let mut body = Chunks::of(&[b"first ", b"second"]);
    body.hold = Some(1);
    let gate = Arc::clone(&body.gate);
    let handler = Handler::new(StatusCode::OK, &[("content-type", "text/plain")], body);
    let mut service = TuskLayer::new(traffic.clone()).layer(handler);
    let response = service
        .call(make_request(Method::GET, "/stream", &[], Chunks::default()))
        .await
        .unwrap();
    let mut body = std::pin::pin!(response.into_body());

    let first = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
    assert_eq!(first.unwrap().unwrap().into_data().unwrap(), "first ");
    // The inner body is now held: polling again is Pending, nothing is recorded yet.
    let pending = std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
    assert!(pending.is_pending());
    assert!(!body.is_end_stream());

    Chunks::release(&gate);
    let rest = collect(body).await.unwrap();
    assert_eq!(rest, b"second");
    traffic.flush();
    let tests = recorded(dir.path());
    assert_eq!(tests[0].expected_body, Some(json!("first second")));
}

#[tokio::test]
async fn off_is_a_pass_through() {
    let traffic = Traffic::default();
    assert!(!traffic.is_active());
    let handler = json_reply(b"{\"x\":1}");
    let seen = Arc::clone(&handler.seen_body);
    let request = make_request(Method::POST, "/x", &[], Chunks::of(&[b"abc", b"def"]));
    let (status, body) = exchange(&traffic, handler, request).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::CREATED, &b"{\"x\":1}"[..])
    );
    assert_eq!(seen.lock().unwrap().as_slice(), b"abcdef");
}

#[tokio::test]
async fn replay_sends_one_span_per_replayed_request_after_its_response() {
    let (sender, mut spans) = tokio::sync::mpsc::channel(8);
    let traffic = replayer(sender);
    let request = make_request(
        Method::POST,
        "/orders",
        &[(TRACE_ID_HEADER, "recorded-trace-1")],
        Chunks::of(&[b"{}"]),
    );
    exchange(&traffic, json_reply(b"{\"id\":1}"), request).await;
    let span = spans.try_recv().expect("a span after the response");
    assert_eq!(span.trace_id, "recorded-trace-1");
    assert_eq!(span.response.status, 201);
    assert_eq!(span.response.body, b"{\"id\":1}");
    assert_eq!(span.request.body, b"{}");

    // A request the CLI did not send (no trace id) is not announced; sampling does not
    // apply in replay.
    exchange(&traffic, json_reply(b"{}"), request_without_trace()).await;
    assert!(spans.try_recv().is_err());
}

fn request_without_trace() -> Request<Chunks> {
    make_request(Method::GET, "/health", &[], Chunks::default())
}

#[tokio::test]
async fn a_full_replay_channel_drops_spans_without_blocking() {
    let (sender, mut spans) = tokio::sync::mpsc::channel(1);
    let traffic = replayer(sender);
    for index in 0..3 {
        let trace = format!("trace-{index}");
        let mut request = request_without_trace();
        request
            .headers_mut()
            .insert(TRACE_ID_HEADER, HeaderValue::from_str(&trace).unwrap());
        exchange(&traffic, json_reply(b"{}"), request).await;
    }
    assert_eq!(spans.try_recv().unwrap().trace_id, "trace-0");
    assert!(spans.try_recv().is_err());
}
