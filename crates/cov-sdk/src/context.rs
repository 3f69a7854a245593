//! Which inbound request a piece of work belongs to, found without the application passing
//! anything.
//!
//! The inbound layer runs each followed request's handler inside a [`RequestContext`] (a
//! tokio task-local, set while the handler's future is polled and while the inner
//! service's `call` runs). Outbound calls made while it is set, in the handler or in
//! anything it awaits, belong to that request: in `RECORD` mode their spans join its
//! trace, in `REPLAY` mode the CLI is asked for the mocks of its test.
//!
//! A task-local does not cross `tokio::spawn`, `spawn_blocking` or a thread: work handed
//! there runs outside any request unless it carries the scope along, which
//! [`propagate`] (futures) and [`RequestScope::run`] (closures) do in one line:
//!
//! ```
//! # async fn handler() {
//! tokio::spawn(cov_sdk::propagate(async {
//!     // Outbound calls here belong to the request that spawned this task.
//! }));
//! let scope = cov_sdk::RequestScope::current();
//! tokio::task::spawn_blocking(move || scope.run(|| {
//!     // And here.
//! }));
//! # }
//! ```
//!
//! Outside record and replay there is never a context, and both helpers cost one branch.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use crate::outbound::OutboundSpans;

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// The inbound request being served: cheap to clone, shared by everything the request
/// runs.
#[derive(Clone, Debug)]
pub(crate) struct RequestContext(Arc<Request>);

/// What the work of an inbound request needs to know about it.
#[derive(Debug)]
pub(crate) struct Request {
    /// `RECORD`: the id of the trace the request is recorded as. `REPLAY`: the replayed
    /// test's id (the request's `x-td-trace-id`), which mock requests carry as `test_id`.
    pub(crate) trace_id: String,
    /// The inbound request's own span: the parent of its outbound spans.
    pub(crate) span_id: String,
    /// `RECORD`: where the request's outbound spans gather until its trace is written.
    pub(crate) outbound_spans: Option<Arc<OutboundSpans>>,
    /// The key that attributes database statements to this request, once it has one.
    #[cfg(feature = "postgres")]
    pub(crate) attribution_key: std::sync::OnceLock<u64>,
}

impl std::ops::Deref for RequestContext {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.0
    }
}

impl RequestContext {
    /// The context of a request with these ids.
    pub(crate) fn new(
        trace_id: String,
        span_id: String,
        outbound_spans: Option<Arc<OutboundSpans>>,
    ) -> Self {
        Self(Arc::new(Request {
            trace_id,
            span_id,
            outbound_spans,
            #[cfg(feature = "postgres")]
            attribution_key: std::sync::OnceLock::new(),
        }))
    }

    /// The context the current task or thread runs in, if any.
    pub(crate) fn current() -> Option<RequestContext> {
        CURRENT.try_with(RequestContext::clone).ok()
    }

    /// A weak reference, which lets the request end.
    #[cfg(feature = "postgres")]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Request> {
        Arc::downgrade(&self.0)
    }

    /// The context a weak reference points to, if the request is still running.
    #[cfg(feature = "postgres")]
    pub(crate) fn upgrade(weak: &std::sync::Weak<Request>) -> Option<RequestContext> {
        weak.upgrade().map(RequestContext)
    }

    /// Runs `work` in this context (the inner service's synchronous `call`).
    pub(crate) fn enter<R>(self, work: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, work)
    }

    /// `future`, polled in this context.
    pub(crate) fn attach<F: Future>(self, future: F) -> TaskLocalFuture<RequestContext, F> {
        CURRENT.scope(self, future)
    }
}

/// The inbound request of the code that created it, to carry into work that runs
/// elsewhere: a spawned task, a blocking task, a thread. See [`propagate`] for futures.
///
/// Empty (and free) outside a followed request or outside record and replay.
#[derive(Clone, Debug, Default)]
pub struct RequestScope {
    context: Option<RequestContext>,
}

impl RequestScope {
    /// The scope of the request the caller is serving, if any.
    pub fn current() -> Self {
        Self {
            context: RequestContext::current(),
        }
    }

    /// Runs `work` in this scope: outbound calls it makes belong to the request. For
    /// `tokio::task::spawn_blocking` and threads.
    pub fn run<R>(self, work: impl FnOnce() -> R) -> R {
        match self.context {
            Some(context) => context.enter(work),
            None => work(),
        }
    }

    /// `future`, polled in this scope. For `tokio::spawn` and executors of any kind.
    pub fn wrap<F: Future>(self, future: F) -> Scoped<F> {
        Scoped::new(self.context, future)
    }
}

/// `future`, polled in the scope of the request the caller is serving:
/// `tokio::spawn(cov_sdk::propagate(async move { ... }))` keeps the spawned task's
/// outbound calls in the request that spawned it. Outside a request it is `future` itself.
pub fn propagate<F: Future>(future: F) -> Scoped<F> {
    RequestScope::current().wrap(future)
}

pin_project_lite::pin_project! {
    /// A future polled in the scope of an inbound request: see [`propagate`].
    pub struct Scoped<F: Future> {
        #[pin]
        inner: ScopedInner<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = ScopedProjection]
    enum ScopedInner<F: Future> {
        InRequest { #[pin] future: TaskLocalFuture<RequestContext, F> },
        Plain { #[pin] future: F },
    }
}

impl<F: Future> Scoped<F> {
    /// `future` in `context`, or as it is.
    pub(crate) fn new(context: Option<RequestContext>, future: F) -> Self {
        let inner = match context {
            Some(context) => ScopedInner::InRequest {
                future: context.attach(future),
            },
            None => ScopedInner::Plain { future },
        };
        Self { inner }
    }

    /// Whether the future runs in a request's scope.
    pub(crate) fn is_in_request(&self) -> bool {
        matches!(self.inner, ScopedInner::InRequest { .. })
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.project() {
            ScopedProjection::InRequest { future } => future.poll(cx),
            ScopedProjection::Plain { future } => future.poll(cx),
        }
    }
}

impl<F: Future> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Scoped")
            .field("in_request", &self.is_in_request())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(trace_id: &str) -> RequestContext {
        RequestContext::new(trace_id.to_owned(), "00f067aa0ba902b7".to_owned(), None)
    }

    fn current_trace() -> Option<String> {
        RequestContext::current().map(|context| context.trace_id.clone())
    }

    #[tokio::test]
    async fn a_request_s_context_reaches_what_it_awaits_and_nothing_else() {
        assert_eq!(current_trace(), None);
        let seen = context("t1")
            .attach(async {
                tokio::task::yield_now().await;
                current_trace()
            })
            .await;
        assert_eq!(seen.as_deref(), Some("t1"));
        assert_eq!(current_trace(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_work_keeps_the_request_only_when_propagated() {
        let (plain, propagated, blocking) = context("t2")
            .attach(async {
                let plain = tokio::spawn(async { current_trace() });
                let propagated = tokio::spawn(propagate(async {
                    tokio::task::yield_now().await;
                    current_trace()
                }));
                let scope = RequestScope::current();
                let blocking = tokio::task::spawn_blocking(move || scope.run(current_trace));
                (
                    plain.await.unwrap(),
                    propagated.await.unwrap(),
                    blocking.await.unwrap(),
                )
            })
            .await;
        assert_eq!(
            plain, None,
            "a task-local does not cross tokio::spawn by itself"
        );
        assert_eq!(propagated.as_deref(), Some("t2"));
        assert_eq!(blocking.as_deref(), Some("t2"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_whose_work_interleaves_each_keep_their_own() {
        // Each request hands its turn to the next through a channel, so their polls
        // interleave on the same workers in a fixed order.
        let requests = 8;
        let mut turns = Vec::new();
        let (first_sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
        for _ in 0..requests {
            let (sender, next) = tokio::sync::mpsc::channel::<()>(1);
            turns.push((receiver, sender));
            receiver = next;
        }
        let mut handles = Vec::new();
        for (index, (mut my_turn, next)) in turns.into_iter().enumerate() {
            let trace = format!("trace-{index}");
            handles.push(tokio::spawn(context(&trace).attach(async move {
                let before = current_trace();
                my_turn.recv().await;
                let spawned = tokio::spawn(propagate(async { current_trace() }))
                    .await
                    .unwrap();
                next.send(()).await.unwrap();
                (trace, before, spawned, current_trace())
            })));
        }
        first_sender.send(()).await.unwrap();
        for handle in handles {
            let (trace, before, spawned, after) = handle.await.unwrap();
            assert_eq!(before.as_deref(), Some(trace.as_str()));
            assert_eq!(spawned.as_deref(), Some(trace.as_str()));
            assert_eq!(after.as_deref(), Some(trace.as_str()));
        }
        drop(receiver);
    }

    #[test]
    fn outside_a_request_the_helpers_pass_work_through() {
        assert_eq!(RequestScope::current().run(current_trace), None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(propagate(async { 5 })), 5);
        assert!(!propagate(async {}).is_in_request());
    }
}
