//! [`TuskLayer`]: the recorder as a `tower` layer, for any HTTP stack built on `tower`
//! (axum's `Router::layer`, hyper through `hyper-util`'s tower adapter, tonic's
//! `Server::layer`).
//!
//! The layer wraps the request body and the response body in [`TuskBody`], which hands
//! every frame on unchanged the moment the inner body yields it and copies data frames
//! into the [`Exchange`] on the way. When the SDK is off the wrappers hold no exchange and
//! cost one branch per call and per frame. The exchange finishes when the response body
//! ends (its last frame, or `is_end_stream`, since hyper stops polling then); a body that
//! fails or is dropped early records nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use super::{Exchange, Traffic};
use crate::context::Scoped;

/// A `tower` layer that records inbound HTTP exchanges in `RECORD` mode and announces
/// replayed ones to the CLI in `REPLAY` mode; a pass-through otherwise. Get one from
/// [`crate::Coverage::layer`].
///
/// With axum: `let app = router.layer(coverage.layer());`. With any tower service:
///
/// ```
/// use tower_layer::Layer as _;
///
/// fn instrument<S>(coverage: &cov_sdk::Coverage, service: S) -> cov_sdk::TuskService<S> {
///     coverage.layer().layer(service)
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TuskLayer {
    traffic: Traffic,
}

impl TuskLayer {
    /// A layer over `traffic`.
    pub fn new(traffic: Traffic) -> Self {
        Self { traffic }
    }
}

impl<S> Layer<S> for TuskLayer {
    type Service = TuskService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TuskService {
            inner,
            traffic: self.traffic.clone(),
        }
    }
}

/// The service [`TuskLayer`] wraps around an HTTP service.
#[derive(Clone, Debug)]
pub struct TuskService<S> {
    inner: S,
    traffic: Traffic,
}

/// The exchange shared by the request body, the response future and the response body;
/// `None` once finished or abandoned.
type Shared = Arc<Mutex<Option<Exchange>>>;

fn with_exchange(shared: &Shared, work: impl FnOnce(&mut Exchange)) {
    if let Some(exchange) = shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        work(exchange);
    }
}

fn take_exchange(shared: &Shared) -> Option<Exchange> {
    shared.lock().unwrap_or_else(PoisonError::into_inner).take()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TuskService<S>
where
    S: Service<Request<TuskBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<TuskBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let exchange = self.traffic.start(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
        );
        let Some(mut exchange) = exchange else {
            return ResponseFuture {
                inner: Scoped::new(None, self.inner.call(request.map(TuskBody::plain))),
                shared: None,
            };
        };
        if request.body().is_end_stream() {
            exchange.request_body_end();
        }
        // The handler runs in the request's context: its outbound calls belong to it.
        let context = exchange.context();
        let shared: Shared = Arc::new(Mutex::new(Some(exchange)));
        let request = request.map(|body| TuskBody::teed(body, Arc::clone(&shared), Side::Request));
        let inner = context.clone().enter(|| self.inner.call(request));
        ResponseFuture {
            inner: Scoped::new(Some(context), inner),
            shared: Some(shared),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`TuskService`]: the inner service's, polled in the request's
    /// context when the request is followed.
    pub struct ResponseFuture<F: Future> {
        #[pin]
        inner: Scoped<F>,
        shared: Option<Shared>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<TuskBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => {
                // The application failed: nothing to record.
                this.shared.take();
                return Poll::Ready(Err(error));
            }
            Poll::Ready(Ok(response)) => response,
        };
        let Some(shared) = this.shared.take() else {
            return Poll::Ready(Ok(response.map(TuskBody::plain)));
        };
        with_exchange(&shared, |exchange| {
            exchange.response(response.status(), response.headers());
        });
        if response.body().is_end_stream() {
            if let Some(exchange) = take_exchange(&shared) {
                exchange.finish();
            }
            return Poll::Ready(Ok(response.map(TuskBody::plain)));
        }
        Poll::Ready(Ok(
            response.map(|body| TuskBody::teed(body, shared, Side::Response))
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

pin_project_lite::pin_project! {
    /// A request or response body passed through [`TuskService`]: the inner body's
    /// frames, unchanged and as soon as they come, copied on the way when the exchange is
    /// followed.
    pub struct TuskBody<B> {
        #[pin]
        inner: B,
        tee: Option<(Shared, Side)>,
    }
}

impl<B> TuskBody<B> {
    fn plain(inner: B) -> Self {
        Self { inner, tee: None }
    }

    fn teed(inner: B, shared: Shared, side: Side) -> Self {
        Self {
            inner,
            tee: Some((shared, side)),
        }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for TuskBody<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TuskBody")
            .field("inner", &self.inner)
            .field("followed", &self.tee.is_some())
            .finish()
    }
}

/// The body has ended: the request side marks the request read, the response side
/// finishes the exchange. Either way the body stops following it.
fn ended(tee: &mut Option<(Shared, Side)>) {
    match tee.take() {
        Some((shared, Side::Request)) => {
            with_exchange(&shared, Exchange::request_body_end);
        }
        Some((shared, Side::Response)) => {
            if let Some(exchange) = take_exchange(&shared) {
                exchange.finish();
            }
        }
        None => {}
    }
}

impl<B> Body for TuskBody<B>
where
    B: Body,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        let Some((shared, side)) = this.tee.as_ref() else {
            return polled;
        };
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    with_exchange(shared, |exchange| copy(exchange, *side, data));
                }
                if this.inner.is_end_stream() {
                    ended(this.tee);
                }
            }
            Poll::Ready(None) => ended(this.tee),
            Poll::Ready(Some(Err(_))) => {
                // A failed body is not a complete exchange: record nothing.
                take_exchange(shared);
                this.tee.take();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn copy(exchange: &mut Exchange, side: Side, data: &impl Buf) {
    let chunk = data.chunk();
    if chunk.len() != data.remaining() {
        // A buffer in several pieces (rare: hyper, axum and tonic use `Bytes`) cannot be
        // read without consuming it; such a body is not recorded.
        exchange.refuse(side == Side::Request);
        return;
    }
    match side {
        Side::Request => exchange.request_body(chunk),
        Side::Response => exchange.response_body(chunk),
    }
}
