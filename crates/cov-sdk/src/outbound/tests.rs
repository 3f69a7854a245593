//! Outbound HTTP calls in `RECORD` mode, through both clients, against a real HTTP server
//! on loopback: what a request's trace holds, which calls are left out, and that the
//! application gets exactly what the server sent.
//!
//! The inbound side is driven through the layer without a network (as in
//! `inbound/tests.rs`); every outbound call goes over TCP to the upstream server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use bytes::Bytes;
use cov_trace::read;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};
use tower_layer::Layer as _;
use tower_service::Service as _;

use crate::Coverage;
use crate::instance::Registry;
use crate::test_support::{
    ReplayCli, flush, recorded_requests, recording, serve, serve_test, traces,
};

/// A small rates service: the dependency the application calls.
struct Upstream {
    address: SocketAddr,
    /// Every request it received.
    served: Arc<std::sync::atomic::AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Self {
        let router = axum::Router::new()
            .route(
                "/rates",
                get(|query: axum::extract::RawQuery| async move {
                    let currency = query.0.unwrap_or_default();
                    axum::Json(json!({"query": currency, "rate": 1.25}))
                }),
            )
            .route("/echo", post(|body: Bytes| async move { body }))
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "no such thing") }),
            );
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        let router = router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                next.run(request)
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            address,
            served,
            _server: server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    crate::TuskBody<Full<Bytes>>,
>;

/// Both clients of the application, instrumented.
#[derive(Clone)]
struct Clients {
    reqwest: reqwest_middleware::ClientWithMiddleware,
    tower: crate::TuskClientService<HyperClient>,
}

impl Clients {
    fn of(coverage: &Coverage) -> Self {
        let reqwest = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(coverage.reqwest_middleware())
            .build();
        let hyper: HyperClient =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self {
            reqwest,
            tower: coverage.http_client_layer().layer(hyper),
        }
    }

    async fn get(&self, url: &str) -> Result<(u16, String), String> {
        let response = self
            .reqwest
            .get(url)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        Ok((
            status,
            response.text().await.map_err(|error| error.to_string())?,
        ))
    }

    async fn post(&self, url: &str, body: &str) -> Result<(u16, String), String> {
        let request = Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let mut tower = self.tower.clone();
        std::future::poll_fn(|cx| tower.poll_ready(cx))
            .await
            .map_err(|error| error.to_string())?;
        let response = tower
            .call(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?;
        Ok((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    }
}

fn input<'a>(span: &'a read::Span, key: &str) -> &'a Value {
    &span.input_value.as_ref().unwrap()[key]
}

fn output<'a>(span: &'a read::Span, key: &str) -> &'a Value {
    &span.output_value.as_ref().unwrap()[key]
}

fn decoded_body(value: &Value) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_s_calls_through_both_clients_are_client_spans_of_its_trace() {
    let upstream = Upstream::start().await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let clients = Clients::of(&coverage);
    let (rates, echo) = (
        upstream.url("/rates?currency=EUR&day=1"),
        upstream.url("/echo"),
    );
    let body = serve(&coverage, "/quote", move || async move {
        let rate = clients.get(&rates).await.unwrap();
        let echoed = clients.post(&echo, r#"{"amount":3}"#).await.unwrap();
        format!("{} {} | {} {}", rate.0, rate.1, echoed.0, echoed.1)
    })
    .await;
    // The application got exactly what the upstream sent.
    assert_eq!(
        body,
        r#"200 {"query":"currency=EUR&day=1","rate":1.25} | 200 {"amount":3}"#
    );
    flush(&coverage);

    let traces = traces(traces_dir.path());
    assert_eq!(traces.len(), 1, "{traces:?}");
    let spans = traces.into_values().next().unwrap();
    assert_eq!(spans.len(), 3);
    let root = spans.last().unwrap();
    assert!(root.is_root_span);
    let (get, post) = (&spans[0], &spans[1]);
    for span in [get, post] {
        assert_eq!(span.trace_id, root.trace_id);
        assert_eq!(span.parent_span_id, root.span_id);
        assert_ne!(span.span_id, root.span_id);
        assert_eq!((span.kind, span.package_type), (3, 1));
        assert!(!span.is_root_span && !span.is_pre_app_start);
        assert_eq!(span.package_name, "http");
        assert_eq!(span.instrumentation_name, "RustHttpClientInstrumentation");
        assert_eq!(input(span, "hostname"), "127.0.0.1");
        assert_eq!(input(span, "port"), upstream.address.port());
        assert_eq!(output(span, "statusCode"), 200);
        assert_eq!(span.status_code, Some(1));
        // The hashes in the file are the ones the SDK would ask the CLI with.
        let recomputed = cov_trace::schema::object_hashes(
            span.input_value.as_ref().unwrap(),
            &read_merges(span),
        );
        assert_eq!(span.input_value_hash, recomputed.value_hash);
        assert_eq!(span.input_schema_hash, recomputed.schema_hash);
    }
    assert_eq!(
        (get.name.as_str(), get.submodule_name.as_str()),
        ("GET /rates", "GET")
    );
    assert_eq!(input(get, "query"), &json!({"currency": "EUR", "day": "1"}));
    assert_eq!(
        decoded_body(output(get, "body")),
        r#"{"query":"currency=EUR&day=1","rate":1.25}"#
    );
    assert_eq!(post.name, "POST /echo");
    assert_eq!(decoded_body(input(post, "body")), r#"{"amount":3}"#);
    assert_eq!(input(post, "bodySize"), 12);
    assert_eq!(decoded_body(output(post, "body")), r#"{"amount":3}"#);
    assert_eq!(
        input(post, "headers")["content-type"],
        "application/json",
        "request headers are recorded"
    );
}

/// The merges the recorder used, read back from the file's schema: what the CLI's matcher
/// and our recomputation need.
fn read_merges(span: &read::Span) -> cov_trace::schema::Merges {
    let schema = span.input_schema.as_ref().unwrap();
    schema
        .properties
        .iter()
        .filter(|(_, node)| {
            node.encoding.is_some()
                || node.decoded_type.is_some()
                || node.match_importance.is_some()
        })
        .map(|(key, node)| {
            (
                key.clone(),
                cov_trace::schema::Merge {
                    encoding: node.encoding,
                    decoded_type: node.decoded_type,
                    match_importance: node.match_importance,
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_whose_calls_interleave_each_record_their_own() {
    let upstream = Arc::new(Upstream::start().await);
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let clients = Clients::of(&coverage);
    // Every request waits at a barrier between its two calls, so their calls interleave.
    let requests = 6;
    let barrier = Arc::new(tokio::sync::Barrier::new(requests));
    let mut handles = Vec::new();
    for index in 0..requests {
        let (coverage, clients, upstream, barrier) = (
            coverage.clone(),
            clients.clone(),
            Arc::clone(&upstream),
            Arc::clone(&barrier),
        );
        handles.push(tokio::spawn(async move {
            serve(&coverage, &format!("/r{index}"), move || async move {
                clients
                    .get(&upstream.url(&format!("/rates?currency=C{index}")))
                    .await
                    .unwrap();
                barrier.wait().await;
                clients
                    .post(&upstream.url("/echo"), &format!(r#"{{"request":{index}}}"#))
                    .await
                    .unwrap();
                index.to_string()
            })
            .await
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    flush(&coverage);
    let traces = traces(traces_dir.path());
    assert_eq!(traces.len(), requests);
    for spans in traces.values() {
        let root = spans.last().unwrap();
        let index: usize = root.input_value.as_ref().unwrap()["target"]
            .as_str()
            .unwrap()
            .trim_start_matches("/r")
            .parse()
            .unwrap();
        assert_eq!(spans.len(), 3, "two calls and the root");
        assert_eq!(input(&spans[0], "query")["currency"], format!("C{index}"));
        assert_eq!(
            decoded_body(input(&spans[1], "body")),
            format!(r#"{{"request":{index}}}"#)
        );
        assert!(spans[..2].iter().all(|span| span.trace_id == root.trace_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_work_records_its_calls_only_when_it_carries_the_request() {
    let upstream = Upstream::start().await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let clients = Clients::of(&coverage);
    let (carried, lost) = (
        upstream.url("/rates?currency=CARRIED"),
        upstream.url("/rates?currency=LOST"),
    );
    serve(&coverage, "/spawns", move || async move {
        let with_scope = tokio::spawn(crate::propagate({
            let clients = clients.clone();
            async move { clients.get(&carried).await }
        }));
        let without = tokio::spawn(async move { clients.get(&lost).await });
        // Both calls work; only one belongs to the request.
        assert_eq!(with_scope.await.unwrap().unwrap().0, 200);
        assert_eq!(without.await.unwrap().unwrap().0, 200);
        String::new()
    })
    .await;
    flush(&coverage);
    let traces = traces(traces_dir.path());
    let spans = traces.values().next().unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(spans.len(), 2);
    assert_eq!(input(&spans[0], "query")["currency"], "CARRIED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_before_ready_are_pre_app_start_spans_and_calls_outside_requests_are_not_recorded() {
    let upstream = Upstream::start().await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let clients = Clients::of(&coverage);
    clients
        .get(&upstream.url("/rates?currency=STARTUP"))
        .await
        .unwrap();
    coverage.mark_ready();
    clients
        .get(&upstream.url("/rates?currency=BACKGROUND"))
        .await
        .unwrap();
    flush(&coverage);
    let traces = traces(traces_dir.path());
    assert_eq!(
        traces.len(),
        1,
        "the background call is not recorded: {traces:?}"
    );
    let (name, spans) = traces.into_iter().next().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert!(span.is_pre_app_start && !span.is_root_span);
    assert_eq!(span.parent_span_id, "");
    assert!(name.ends_with(&format!("_trace_{}.jsonl", span.trace_id)));
    assert_eq!(input(span, "query")["currency"], "STARTUP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_masks_limits_and_statuses_are_recorded_as_the_rules_say() {
    let upstream = Upstream::start().await;
    // A port nobody listens on: bind one, note it, close it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let traces_dir = tempfile::tempdir().unwrap();
    let mut builder = recording(traces_dir.path());
    builder.mask_header("authorization").max_body_bytes(64);
    let coverage = builder.init_in(&Registry::new());
    let clients = Clients::of(&coverage);
    let (unreachable, missing, echo, secret) = (
        format!("http://{closed}/rates"),
        upstream.url("/missing"),
        upstream.url("/echo"),
        upstream.url("/rates?currency=SECRET"),
    );
    serve(&coverage, "/mixed", move || async move {
        let refused = clients.get(&unreachable).await.unwrap_err();
        assert!(refused.contains("error sending request"), "{refused}");
        assert_eq!(
            clients.get(&missing).await.unwrap(),
            (404, "no such thing".to_owned())
        );
        // Over the body limit: served, not recorded.
        let large = format!(r#"{{"padding":"{}"}}"#, "x".repeat(100));
        assert_eq!(clients.post(&echo, &large).await.unwrap().1, large);
        let response = clients
            .reqwest
            .get(&secret)
            .header("authorization", "Bearer hunter2")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("SECRET"));
        // A response whose body the application drops unread is recorded with no body,
        // marked as read in part.
        let unread = clients.reqwest.get(&secret).send().await.unwrap();
        assert_eq!(unread.status(), 200);
        drop(unread);
        String::new()
    })
    .await;
    flush(&coverage);
    let traces = traces(traces_dir.path());
    let spans = traces.values().next().unwrap();
    let names: Vec<_> = spans.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "GET /rates",
            "GET /missing",
            "GET /rates",
            "GET /rates",
            "GET /mixed"
        ]
    );
    let refused = &spans[0];
    assert_eq!(refused.status_code, Some(2));
    assert_eq!(output(refused, "errorName"), "ConnectionRefused");
    assert!(
        output(refused, "errorMessage")
            .as_str()
            .unwrap()
            .contains("error sending request")
    );
    assert_eq!(output(&spans[1], "statusCode"), 404);
    assert_eq!(spans[1].status_code, Some(2), "HTTP 404 is an error status");
    assert_eq!(
        input(&spans[2], "headers")["authorization"],
        crate::MASKED_VALUE
    );
    assert!(
        spans[2]
            .output_value
            .as_ref()
            .unwrap()
            .get("bodyIncomplete")
            .is_none()
    );
    assert_eq!(output(&spans[3], "statusCode"), 200);
    assert_eq!(output(&spans[3], "bodyIncomplete"), true);
    assert_eq!(output(&spans[3], "bodySize"), 0);
}

/// A response whose body the application never read (it looked at the status only) is
/// recorded with that status and no body; replayed, the application gets the same status,
/// and reading the body is an error naming the call, never bytes that were not recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_whose_body_was_not_read_replays_without_inventing_one() {
    let upstream = Upstream::start().await;
    let rates = upstream.url("/rates?currency=CHF");
    let traces_dir = tempfile::tempdir().unwrap();
    {
        let coverage = recording(traces_dir.path()).init_in(&Registry::new());
        let clients = Clients::of(&coverage);
        let url = rates.clone();
        let body = serve(&coverage, "/status", move || async move {
            let response = clients.reqwest.get(&url).send().await.unwrap();
            response.status().as_u16().to_string()
        })
        .await;
        assert_eq!(body, "200");
        flush(&coverage);
    }
    let served = upstream.served.load(std::sync::atomic::Ordering::SeqCst);

    let cli = ReplayCli::start(traces_dir.path(), |_| {}).await;
    let clients = Clients::of(&cli.coverage);
    let (target, trace_id) = recorded_requests(traces_dir.path()).remove(0);
    let body = serve_test(
        &cli.coverage,
        &target,
        Some(&trace_id),
        move || async move {
            // As recorded: the status only.
            let response = clients.reqwest.get(&rates).send().await.unwrap();
            let status = response.status().as_u16();
            drop(response);
            // The same call, now reading the body the recording does not hold.
            let response = clients.reqwest.get(&rates).send().await.unwrap();
            let error = response.text().await.unwrap_err();
            let mut reasons = vec![error.to_string()];
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reasons.push(cause.to_string());
                source = cause.source();
            }
            format!("{status} {}", reasons.join(": "))
        },
    )
    .await;
    assert!(body.starts_with("200 "), "{body}");
    assert!(
        body.contains("GET http://") && body.contains("recorded only as far as"),
        "{body}"
    );
    assert_eq!(
        upstream.served.load(std::sync::atomic::Ordering::SeqCst),
        served,
        "a replayed call reached the network"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_layered_twice_records_one_span_per_call() {
    let upstream = Upstream::start().await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let hyper: hyper_util::client::legacy::Client<
        _,
        crate::TuskBody<crate::TuskBody<Full<Bytes>>>,
    > = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let layer = coverage.http_client_layer();
    let twice = layer.layer(layer.layer(hyper));
    let url = upstream.url("/echo");
    serve(&coverage, "/twice", move || async move {
        let mut client = twice;
        std::future::poll_fn(|cx| client.poll_ready(cx))
            .await
            .unwrap();
        let request = Request::post(url.as_str())
            .body(Full::new(Bytes::from_static(b"once")))
            .unwrap();
        let response = client.call(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    })
    .await;
    flush(&coverage);
    let traces = traces(traces_dir.path());
    let spans = traces.values().next().unwrap();
    let names: Vec<_> = spans.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(names, ["POST /echo", "GET /twice"]);
}

/// What a handler of the record/replay tests does: two calls, whose answers it returns.
async fn quote(clients: Clients, rates: String, echo: String) -> String {
    let rate = clients.get(&rates).await;
    let echoed = clients.post(&echo, r#"{"amount":3}"#).await;
    format!("{rate:?} | {echoed:?}")
}

/// Recorded with the upstream up, replayed with it gone: every call is answered from the
/// recording, as the Tusk CLI matches it, and the application sees the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_calls_never_reach_the_network_and_get_the_recorded_answers() {
    let upstream = Upstream::start().await;
    let (rates, echo, missing) = (
        upstream.url("/rates?currency=EUR"),
        upstream.url("/echo"),
        upstream.url("/missing"),
    );
    let traces_dir = tempfile::tempdir().unwrap();
    let recorded = {
        let coverage = recording(traces_dir.path()).init_in(&Registry::new());
        let clients = Clients::of(&coverage);
        let startup = clients.get(&missing).await.unwrap();
        let mut bodies = Vec::new();
        for target in ["/quote/1", "/quote/2"] {
            let (clients, rates, echo) = (clients.clone(), rates.clone(), echo.clone());
            bodies.push(serve(&coverage, target, move || quote(clients, rates, echo)).await);
        }
        flush(&coverage);
        (startup, bodies)
    };
    assert!(recorded.1[0].contains("rate"), "{recorded:?}");
    // From here on, the upstream must see nothing.
    let served = upstream.served.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(served, 5);

    let cli = ReplayCli::start(traces_dir.path(), |_| {}).await;
    let clients = Clients::of(&cli.coverage);
    // Before the first request: answered from the pre-app-start recording.
    assert_eq!(clients.get(&missing).await.unwrap(), recorded.0);
    let requests = recorded_requests(traces_dir.path());
    assert_eq!(requests.len(), 2);
    for ((target, trace_id), expected) in requests.iter().zip(&recorded.1) {
        let (clients, rates, echo) = (clients.clone(), rates.clone(), echo.clone());
        let body = serve_test(&cli.coverage, target, Some(trace_id), move || {
            quote(clients, rates, echo)
        })
        .await;
        assert_eq!(&body, expected, "{target}");
    }

    // A call the recording never saw (another path: the CLI's HTTP shape guard refuses
    // every recorded call as a stand-in) fails, naming the call, and does not go out.
    // (A call of the same shape with other values would get the nearest recorded answer,
    // as the Tusk CLI serves HTTP mocks.)
    let (clients_again, unseen) = (clients.clone(), rates.replace("/rates?", "/unseen?"));
    let trace_id = requests[0].1.clone();
    let error = serve_test(
        &cli.coverage,
        "/quote/1",
        Some(&trace_id),
        move || async move { clients_again.get(&unseen).await.unwrap_err() },
    )
    .await;
    assert!(
        error.contains("Tusk Drift replay: GET http://") && error.contains("/unseen?currency=EUR"),
        "{error}"
    );
    assert!(error.contains("no recorded call matches it"), "{error}");
    // Outside any request, once the application is ready, calls are refused.
    let outside = clients.get(&rates).await.unwrap_err();
    assert!(
        outside.contains("outside any replayed request"),
        "{outside}"
    );
    assert_eq!(
        upstream.served.load(std::sync::atomic::Ordering::SeqCst),
        served,
        "a replayed call reached the network"
    );
}

/// A CLI that answers every mock request the same way (`None`: never).
#[derive(Debug)]
struct Scripted(Option<cov_proto::GetMockResponse>);

impl cov_driver::MockSource for Scripted {
    fn answer(&self, request: cov_proto::SdkMessage) -> cov_driver::MockReply {
        let reply = self.0.clone().map(|mut response| {
            response.request_id.clone_from(&request.request_id);
            cov_proto::CliMessage {
                r#type: cov_proto::MessageType::MockRequest as i32,
                request_id: request.request_id,
                payload: Some(cov_proto::cli_message::Payload::GetMockResponse(response)),
            }
        });
        Box::pin(std::future::ready(reply))
    }
}

/// The `GetMockResponse` serving `output` as the recorded outputValue.
fn serving(output: serde_json::Value) -> cov_proto::GetMockResponse {
    let data = json!({"response": {"response": {"body": output}}});
    let serde_json::Value::Object(data) = data else {
        unreachable!()
    };
    cov_proto::GetMockResponse {
        found: true,
        response_data: Some(cov_wire::span::to_struct(data)),
        ..cov_proto::GetMockResponse::default()
    }
}

/// Bad answers from the CLI are errors that name the call and the reason; the service
/// (and its SDK) goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_missing_answers_are_errors_naming_the_call() {
    let cases = [
        (
            Some(serving(json!({"statusCode": 200, "body": "not base64!"}))),
            "the recorded answer is malformed: the recorded body is not valid base64",
        ),
        (
            Some(serving(json!("a string"))),
            "the recorded answer is malformed",
        ),
        (
            Some(serving(json!({"statusCode": 9999}))),
            "the recorded answer is malformed",
        ),
        (
            Some(serving(
                json!({"errorName": "ConnectionRefused", "errorMessage": "refused"}),
            )),
            "when it was recorded it failed without a response: ConnectionRefused: refused",
        ),
        (
            Some(cov_proto::GetMockResponse {
                found: true,
                ..cov_proto::GetMockResponse::default()
            }),
            "the recorded answer is malformed",
        ),
        (None, "the Tusk CLI did not answer within 200ms"),
    ];
    for (answer, expected) in cases {
        let cli = ReplayCli::with_source(Arc::new(Scripted(answer)), |builder| {
            builder.mock_timeout(Duration::from_millis(200));
        })
        .await;
        let clients = Clients::of(&cli.coverage);
        let error = serve_test(&cli.coverage, "/t", Some("trace-1"), move || async move {
            clients
                .get("http://rates.invalid/rates?currency=EUR")
                .await
                .unwrap_err()
        })
        .await;
        assert!(
            error.contains("Tusk Drift replay: GET http://rates.invalid/rates?currency=EUR"),
            "{error}"
        );
        assert!(error.contains(expected), "expected {expected:?} in {error}");
        // The SDK still serves: the next call gets its answer (or its error) too.
        assert!(cli.coverage.is_running());
    }
}
