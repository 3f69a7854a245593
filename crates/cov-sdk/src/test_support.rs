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
    let handler = Arc::new(std::sync::Mutex::new(Some(handler)));
    let service = tower_service_fn(move |_request: Request<crate::TuskBody<Full<Bytes>>>| {
        let handler = handler.lock().unwrap().take().expect("one request");
        async move {
            let body = handler().await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
        }
    });
    let mut service = coverage.layer().layer(service);
    let request = Request::get(target)
        .header("host", "localhost:3000")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
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
