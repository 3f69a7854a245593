//! [`TuskBody`]: a request or response body passed through one of the SDK's layers, its
//! frames handed on unchanged the moment the inner body yields them and, when the exchange
//! is followed, copied on the way to whoever follows it ([`Follow`]: the inbound
//! [`Exchange`](crate::Exchange), an outbound call being recorded).
//!
//! When nothing follows the body, it holds `None` and costs one branch per frame. The
//! follower learns when the body ends (its last frame, or `is_end_stream`, since hyper stops
//! polling then) and when it fails; a body dropped early just stops being followed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

/// Which body of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The request's.
    Request,
    /// The response's.
    Response,
}

/// Whoever follows an exchange's bodies.
pub(crate) trait Follow: Send + Sync {
    /// A chunk of `side`'s body went past.
    fn chunk(&self, side: Side, chunk: &[u8]);
    /// `side`'s body came in a buffer that cannot be read without consuming it.
    fn fragmented(&self, side: Side);
    /// `side`'s body ended.
    fn ended(&self, side: Side);
    /// `side`'s body failed.
    fn failed(&self, side: Side);
}

pin_project_lite::pin_project! {
    /// A request or response body passed through the SDK's layers: the inner body's frames,
    /// unchanged and as soon as they come, copied on the way when the exchange is followed.
    pub struct TuskBody<B> {
        #[pin]
        inner: B,
        // Boxed, so that a body nobody follows is its inner body and one pointer: hyper
        // moves requests and responses by value several times per call.
        tee: Option<Box<Tee>>,
    }
}

/// Who follows a body, and as which side.
struct Tee {
    follower: Arc<dyn Follow>,
    side: Side,
}

impl<B> TuskBody<B> {
    /// `inner`, followed by nobody.
    pub(crate) fn plain(inner: B) -> Self {
        Self { inner, tee: None }
    }

    /// `inner`, followed by `follower` as the `side` body.
    pub(crate) fn teed(inner: B, follower: Arc<dyn Follow>, side: Side) -> Self {
        Self {
            inner,
            tee: Some(Box::new(Tee { follower, side })),
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
        let Some(tee) = this.tee.as_deref() else {
            return polled;
        };
        let (follower, side) = (&tee.follower, tee.side);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let chunk = data.chunk();
                    if chunk.len() == data.remaining() {
                        follower.chunk(side, chunk);
                    } else {
                        // A buffer in several pieces (rare: hyper, axum, reqwest and tonic
                        // use `Bytes`) cannot be read without consuming it.
                        follower.fragmented(side);
                    }
                }
                if this.inner.is_end_stream() {
                    follower.ended(side);
                    this.tee.take();
                }
            }
            Poll::Ready(None) => {
                follower.ended(side);
                this.tee.take();
            }
            Poll::Ready(Some(Err(_))) => {
                follower.failed(side);
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
