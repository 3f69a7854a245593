//! What the crate's tests share: an SDK in `RECORD` mode over a directory, one inbound
//! request served through the layer, the trace files it left.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use cov_trace::read;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use tower_layer::Layer as _;
use tower_service::Service as _;

use crate::env::{Environment, TUSK_DRIFT_MODE, TUSK_TRACES_DIR};
use crate::{Builder, Coverage};

/// A builder of an SDK in `RECORD` mode writing into `traces`.
pub(crate) fn recording(traces: &Path) -> Builder {
    let dir = traces.display().to_string();
    let mut builder = Builder::new();
    builder.environment(Environment::from_lookup(move |name| match name {
        TUSK_DRIFT_MODE => Some("RECORD".to_owned()),
        TUSK_TRACES_DIR => Some(dir.clone()),
        _ => None,
    }));
    builder
}

/// Sends one inbound request through the layer, `handler` serving it; returns its body.
pub(crate) async fn serve<F, Fut>(coverage: &Coverage, target: &str, handler: F) -> String
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    serve_test(coverage, target, None, handler).await
}

/// [`serve`] as the CLI replays a recorded request: with its `x-td-trace-id`.
pub(crate) async fn serve_test<F, Fut>(
    coverage: &Coverage,
    target: &str,
    trace_id: Option<&str>,
    handler: F,
) -> String
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let handler = Arc::new(std::sync::Mutex::new(Some(handler)));
    let service = tower_service_fn(move |_request: Request<crate::TuskBody<Full<Bytes>>>| {
        let handler = handler.lock().unwrap().take().expect("one request");
        async move {
            let body = handler().await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
        }
    });
    let mut service = coverage.layer().layer(service);
    let mut request = Request::get(target).header("host", "localhost:3000");
    if let Some(trace_id) = trace_id {
        request = request.header(crate::TRACE_ID_HEADER, trace_id);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let response = service.call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The CLI's side of a replay over the trace files in `traces`: a listener that answers
/// mock requests as the Tusk CLI matches them, and the SDK in `REPLAY` mode connected to it.
pub(crate) struct ReplayCli {
    pub(crate) coverage: Coverage,
    /// The connection, kept open for the test's length.
    _connection: cov_driver::CliConnection,
    _dir: tempfile::TempDir,
}

impl ReplayCli {
    /// Starts the SDK in `REPLAY` mode (its own registry) against a CLI side serving the
    /// mocks of `traces`, with `configure` applied to the builder.
    pub(crate) async fn start(traces: &Path, configure: impl FnOnce(&mut Builder)) -> Self {
        let mocks = cov_driver::TraceMocks::load(traces).expect("the recorded traces load");
        Self::with_source(Arc::new(mocks), configure).await
    }

    /// [`ReplayCli::start`] with mocks from `source`.
    pub(crate) async fn with_source(
        source: Arc<dyn cov_driver::MockSource>,
        configure: impl FnOnce(&mut Builder),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = cov_driver::CliOptions::default();
        options.mock_source(source);
        let endpoint = cov_transport::Endpoint::unix(dir.path().join("tusk.sock"));
        let listener = cov_driver::CliListener::bind_with(&endpoint, options)
            .await
            .unwrap();
        let mut builder = Builder::new();
        builder
            .environment(Environment::from_lookup(|name| {
                (name == TUSK_DRIFT_MODE).then(|| "REPLAY".to_owned())
            }))
            .endpoint(listener.local_endpoint().clone())
            .service_id("replay-tests");
        configure(&mut builder);
        let coverage = builder.init_in(&crate::instance::Registry::new());
        let connection = listener
            .accept(std::time::Duration::from_secs(30))
            .await
            .expect("the SDK connects");
        Self {
            coverage,
            _connection: connection,
            _dir: dir,
        }
    }

    /// The CLI leaves: its connection closes, and the SDK goes on without it.
    pub(crate) fn leave(self) -> Coverage {
        self.coverage
    }
}

/// The recorded requests of `dir`: each root span's target and trace id, in target order.
pub(crate) fn recorded_requests(dir: &Path) -> Vec<(String, String)> {
    let mut requests: Vec<(String, String)> = traces(dir)
        .into_values()
        .filter_map(|spans| {
            let root = spans.into_iter().find(|span| span.is_root_span)?;
            let target = root.input_value.as_ref()?["target"].as_str()?.to_owned();
            Some((target, root.trace_id))
        })
        .collect();
    requests.sort();
    requests
}

/// Every trace file in `dir`: its spans, by file name.
pub(crate) fn traces(dir: &Path) -> BTreeMap<String, Vec<read::Span>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.ends_with(".jsonl"), "stray file {name}");
            let spans = read::parse_spans(&std::fs::read(&path).unwrap()).unwrap();
            (name, spans)
        })
        .collect()
}

pub(crate) fn flush(coverage: &Coverage) {
    coverage.traffic().recorder().expect("recording").flush();
}

/// A tower service from an async function (tower's `service_fn` without tower).
pub(crate) fn tower_service_fn<F, Request, Fut, Response, Error>(
    handler: F,
) -> impl tower_service::Service<Request, Response = Response, Error = Error, Future = Fut> + Clone
where
    F: Fn(Request) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<Response, Error>>,
{
    #[derive(Clone)]
    struct ServiceFn<F>(F);
    impl<F, Request, Fut, Response, Error> tower_service::Service<Request> for ServiceFn<F>
    where
        F: Fn(Request) -> Fut,
        Fut: std::future::Future<Output = Result<Response, Error>>,
    {
        type Response = Response;
        type Error = Error;
        type Future = Fut;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request) -> Fut {
            (self.0)(request)
        }
    }
    ServiceFn(handler)
}
