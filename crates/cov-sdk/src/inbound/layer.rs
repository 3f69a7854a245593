//! [`TuskLayer`]: the recorder as a `tower` layer, for any HTTP stack built on `tower`
//! (axum's `Router::layer`, hyper through `hyper-util`'s tower adapter, tonic's
//! `Server::layer`).
//!
//! The layer wraps the request body and the response body in [`TuskBody`], which hands
//! every frame on unchanged the moment the inner body yields it and copies data frames
//! into the [`Exchange`] on the way. When the SDK is off the wrappers hold no exchange and
//! cost one branch per call and per frame. The exchange finishes when the response body
//! ends; a body that fails or is dropped early records nothing. The handler runs in the
//! request's context ([`crate::context`]), so its outbound calls belong to the request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::{Exchange, Traffic};
use crate::context::Scoped;
use crate::tee::{Follow, Side, TuskBody};

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
#[derive(Debug)]
struct Shared(Mutex<Option<Exchange>>);

impl Shared {
    fn with(&self, work: impl FnOnce(&mut Exchange)) {
        if let Some(exchange) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            work(exchange);
        }
    }

    fn take(&self) -> Option<Exchange> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Follow for Shared {
    fn chunk(&self, side: Side, chunk: &[u8]) {
        self.with(|exchange| match side {
            Side::Request => exchange.request_body(chunk),
            Side::Response => exchange.response_body(chunk),
        });
    }

    fn fragmented(&self, side: Side) {
        self.with(|exchange| exchange.refuse(side == Side::Request));
    }

    fn ended(&self, side: Side) {
        match side {
            // The request has been read: the exchange goes on.
            Side::Request => self.with(Exchange::request_body_end),
            // The response has been sent: the exchange is complete.
            Side::Response => {
                if let Some(exchange) = self.take() {
                    exchange.finish();
                }
            }
        }
    }

    fn failed(&self, _side: Side) {
        // A failed body is not a complete exchange: record nothing.
        self.take();
    }
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
        let shared = Arc::new(Shared(Mutex::new(Some(exchange))));
        let request = request.map(|body| TuskBody::teed(body, shared.clone(), Side::Request));
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
        shared: Option<Arc<Shared>>,
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
        shared.with(|exchange| exchange.response(response.status(), response.headers()));
        if response.body().is_end_stream() {
            if let Some(exchange) = shared.take() {
                exchange.finish();
            }
            return Poll::Ready(Ok(response.map(TuskBody::plain)));
        }
        Poll::Ready(Ok(
            response.map(|body| TuskBody::teed(body, shared, Side::Response))
        ))
    }
}
