//! [`TuskClientLayer`]: outbound calls of any `tower::Service<http::Request<B>>` client
//! (hyper-util's legacy client through its tower adapter, tonic's `Channel`, or your own).
//!
//! ```
//! use tower_layer::Layer as _;
//!
//! fn instrument<S>(coverage: &cov_sdk::Coverage, client: S) -> cov_sdk::TuskClientService<S> {
//!     coverage.http_client_layer().layer(client)
//! }
//! ```
//!
//! In `RECORD` mode the request is sent and recorded, both bodies copied as they stream;
//! in `REPLAY` mode the inner service is never called (nor polled for readiness): the
//! request body is read, the CLI is asked for the recorded response, and the response is
//! that one, or the call fails with a [`ReplayError`]. The service's error type is tower's
//! `BoxError`, as for tower's own timeout and buffer layers; the response body is
//! [`ClientBody`], which yields the inner body's frames or the recorded bytes. A layer
//! below another one of its kind passes the request through: one span per logical call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use super::http::{ClientCall, RecordedBody, SharedCall, ask_recorded_answer, describe};
use super::{Outbound, Plan, ReplayError, ReplayFailure};
use crate::mode::Role;
use crate::tee::{Side, TuskBody};

/// The error type of [`TuskClientService`]: any error, boxed (tower's `BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request already followed by a layer of this kind: the layers below pass it through.
#[derive(Clone, Copy, Debug)]
struct Followed;

/// The SDK's layer for HTTP clients built on `tower`; get it from
/// [`crate::Coverage::http_client_layer`]. Outside record and replay it passes every call
/// through and costs one branch.
#[derive(Clone, Debug, Default)]
pub struct TuskClientLayer {
    outbound: Outbound,
}

impl TuskClientLayer {
    /// The layer of `outbound`.
    pub(crate) fn new(outbound: Outbound) -> Self {
        Self { outbound }
    }
}

impl<S> Layer<S> for TuskClientLayer {
    type Service = TuskClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TuskClientService {
            inner,
            outbound: self.outbound.clone(),
        }
    }
}

/// The client service [`TuskClientLayer`] wraps around an HTTP client.
#[derive(Clone, Debug)]
pub struct TuskClientService<S> {
    inner: S,
    outbound: Outbound,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TuskClientService<S>
where
    S: Service<Request<TuskBody<ReqBody>>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ClientBody<ResBody>>;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.replays() {
            // The inner client is never called in replay: do not reserve anything in it.
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let plan = if request.extensions().get::<Followed>().is_some() {
            Plan::PassThrough
        } else {
            self.outbound.plan()
        };
        match plan {
            Plan::PassThrough => {
                ClientFuture::forward(self.inner.call(request.map(TuskBody::plain)), None)
            }
            Plan::Refuse(reason) => ClientFuture::refused(ReplayError::new(
                describe(request.method(), request.uri()),
                reason,
            )),
            Plan::Replay(replaying) => {
                let Some(mode) = self.outbound.mode_arc() else {
                    return ClientFuture::forward(
                        self.inner.call(request.map(TuskBody::plain)),
                        None,
                    );
                };
                let (parts, body) = request.into_parts();
                ClientFuture::replay(Box::pin(async move {
                    let name = describe(&parts.method, &parts.uri);
                    let fail = |reason| ReplayError::new(name.clone(), reason);
                    let body = collect(body).await.map_err(|error| {
                        fail(ReplayFailure::UnreadableRequest(error.to_string()))
                    })?;
                    let answer = ask_recorded_answer(
                        &replaying,
                        &mode,
                        &parts.method,
                        &parts.uri,
                        &parts.headers,
                        &body,
                    )
                    .await
                    .map_err(fail)?;
                    let body = answer.body(&name);
                    Ok(Replayed {
                        status: answer.status,
                        headers: answer.headers,
                        body,
                    })
                }))
            }
            Plan::Record(recording) => {
                request.extensions_mut().insert(Followed);
                let end_stream = request.body().is_end_stream();
                let call = ClientCall::new(
                    recording,
                    request.method().clone(),
                    request.uri().clone(),
                    request.headers().clone(),
                );
                let shared = SharedCall::new(call);
                if end_stream {
                    shared.with(|call| call.request_ended());
                }
                let request =
                    request.map(|body| TuskBody::teed(body, shared.clone(), Side::Request));
                ClientFuture::forward(self.inner.call(request), Some(shared))
            }
        }
    }
}

impl<S> TuskClientService<S> {
    /// Whether this service answers from mocks (and never calls the inner client).
    fn replays(&self) -> bool {
        self.outbound
            .mode()
            .is_some_and(|mode| matches!(mode.role, Role::Replay(_)))
    }
}

/// Reads a whole request body.
async fn collect<B>(body: B) -> Result<Vec<u8>, BoxError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(mut data) = frame.map_err(Into::into)?.into_data() {
            while data.has_remaining() {
                let chunk = data.chunk();
                bytes.extend_from_slice(chunk);
                let len = chunk.len();
                data.advance(len);
            }
        }
    }
    Ok(bytes)
}

/// The recorded answer's future.
type Answer = Pin<Box<dyn Future<Output = Result<Replayed, ReplayError>> + Send>>;

/// A recorded answer as the application gets it.
struct Replayed {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: RecordedBody,
}

pin_project_lite::pin_project! {
    /// The response future of [`TuskClientService`].
    pub struct ClientFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Forward { #[pin] inner: F, call: Option<Arc<SharedCall>> },
        Replay { answer: Answer },
        // Boxed (as the caller gets it): the future is moved to its caller by value, and
        // a pass-through should move no more than the inner client's future.
        Refused { error: Option<BoxError> },
    }
}

impl<F> ClientFuture<F> {
    fn forward(inner: F, call: Option<Arc<SharedCall>>) -> Self {
        Self {
            state: State::Forward { inner, call },
        }
    }

    fn replay(answer: Answer) -> Self {
        Self {
            state: State::Replay { answer },
        }
    }

    fn refused(error: ReplayError) -> Self {
        Self {
            state: State::Refused {
                error: Some(Box::new(error)),
            },
        }
    }
}

impl<F> std::fmt::Debug for ClientFuture<F> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Forward { call: None, .. } => "pass-through",
            State::Forward { call: Some(_), .. } => "recording",
            State::Replay { .. } => "replaying",
            State::Refused { .. } => "refused",
        };
        formatter
            .debug_struct("ClientFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, ResBody, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: Into<BoxError>,
    ResBody: Body,
{
    type Output = Result<Response<ClientBody<ResBody>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Forward { inner, call } => {
                let outcome = std::task::ready!(inner.poll(cx));
                let Some(shared) = call.take() else {
                    return Poll::Ready(
                        outcome
                            .map(|response| response.map(ClientBody::live_plain))
                            .map_err(Into::into),
                    );
                };
                match outcome {
                    Err(error) => {
                        let error: BoxError = error.into();
                        if let Some(call) = shared.take() {
                            call.fail(&*error);
                        }
                        Poll::Ready(Err(error))
                    }
                    Ok(response) => {
                        shared.with(|call| {
                            call.response(response.status(), response.headers().clone());
                        });
                        if response.body().is_end_stream() {
                            if let Some(call) = shared.take() {
                                call.finish();
                            }
                            return Poll::Ready(Ok(response.map(ClientBody::live_plain)));
                        }
                        Poll::Ready(Ok(response.map(|body| ClientBody::live(body, shared))))
                    }
                }
            }
            StateProjection::Replay { answer } => {
                let answer = std::task::ready!(answer.as_mut().poll(cx))?;
                let mut response = Response::new(ClientBody::recorded(answer.body));
                *response.status_mut() = answer.status;
                *response.headers_mut() = answer.headers;
                Poll::Ready(Ok(response))
            }
            StateProjection::Refused { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "the refused call was polled again".into()))),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`TuskClientService`]: the inner client's (copied on the way
    /// when the call is recorded), or the recorded bytes in replay.
    pub struct ClientBody<B> {
        #[pin]
        inner: BodyState<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = BodyStateProjection]
    enum BodyState<B> {
        Live { #[pin] body: TuskBody<B> },
        // Boxed: a response is moved by value, and a live one should be no larger than the
        // inner client's.
        Recorded { body: Box<RecordedBody> },
    }
}

impl<B> ClientBody<B> {
    fn live_plain(body: B) -> Self {
        Self {
            inner: BodyState::Live {
                body: TuskBody::plain(body),
            },
        }
    }

    fn live(body: B, call: Arc<SharedCall>) -> Self {
        Self {
            inner: BodyState::Live {
                body: TuskBody::teed(body, call, Side::Response),
            },
        }
    }

    fn recorded(body: RecordedBody) -> Self {
        Self {
            inner: BodyState::Recorded {
                body: Box::new(body),
            },
        }
    }
}

impl<B> std::fmt::Debug for ClientBody<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.inner {
            BodyState::Live { .. } => "live",
            BodyState::Recorded { .. } => "recorded",
        };
        formatter
            .debug_struct("ClientBody")
            .field("kind", &kind)
            .finish()
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().inner.project() {
            BodyStateProjection::Live { body } => body.poll_frame(cx).map(|frame| {
                frame.map(|frame| {
                    frame
                        .map(|frame| {
                            frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                        })
                        .map_err(Into::into)
                })
            }),
            BodyStateProjection::Recorded { body } => Pin::new(&mut **body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            BodyState::Live { body } => body.is_end_stream(),
            BodyState::Recorded { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            BodyState::Live { body } => body.size_hint(),
            BodyState::Recorded { body } => body.size_hint(),
        }
    }
}
