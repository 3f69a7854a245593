//! What the Tusk layer costs a request when the SDK is off (every mode but `RECORD` and
//! `REPLAY`): a small JSON request and response through a tower service, called directly
//! and through the pass-through layer, both bodies read to their end.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{Future as _, Ready};
use std::task::{Context, Poll};

use bytes::Buf as _;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer as _;
use tower_service::Service;

const REQUEST: &str = r#"{"customer":"ann","items":[{"product_id":1,"quantity":2}]}"#;
const RESPONSE: &str = r#"{"id":1,"total_cents":4909,"status":"placed"}"#;

#[derive(Clone)]
struct Echo;

impl<B> Service<Request<B>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok(Response::new(RESPONSE.to_owned())))
    }
}

/// Drives one request through `service` and reads both bodies to their end, as a server
/// and a handler would.
fn round_trip<S, B>(service: &mut S) -> usize
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let request = Request::builder()
        .method("POST")
        .uri("/orders")
        .header("content-type", "application/json")
        .body(REQUEST.to_owned())
        .unwrap();
    let mut future = std::pin::pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        unreachable!("the echo service answers at once")
    };
    let mut body = std::pin::pin!(response.into_body());
    let mut read = 0;
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.unwrap().into_data() {
            read += data.remaining();
        }
    }
    read
}

fn layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("tusk_layer");
    let mut direct = Echo;
    group.bench_function("no layer", |b| b.iter(|| round_trip(&mut direct)));
    let mut off = cov_sdk::TuskLayer::default().layer(Echo);
    group.bench_function("layer, SDK off", |b| b.iter(|| round_trip(&mut off)));
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
