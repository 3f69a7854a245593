//! Asking the CLI for mocks: the application's outbound calls in `REPLAY` mode get their
//! recorded answers over the SDK thread's one connection.
//!
//! A call site ([`MockClient::get`], from any task of any runtime) gives its
//! `GetMockRequest` an id of its own (`mock-<n>`), waits for the connection if it is still
//! being made, registers for the answer in [`Pending`] and writes the request through the
//! connection's single writer itself: a request the connection takes at once is written on
//! the caller's thread, with no hand-over to the SDK thread and no thread woken for it
//! (cov-transport's writer; the request of a replayed call is on the application's path).
//! The SDK thread's serving loop routes the CLI's answer back by `request_id`. Many
//! requests are in flight at once, and answers may come in any order. Each request has the
//! SDK's own deadline (the CLI puts none on a lookup), counted from the moment the call
//! site made it or, for a request made while the connection was still being made (a
//! service's start-up statements), from the moment it came up: how long the SDK takes to
//! connect is bounded by its own connect budget, after which waiting requests fail at once,
//! and is no part of the CLI's answering time. The SDK thread enforces the deadlines
//! ([`Deadlines`]): the call site needs no timer of the application's runtime. An answer
//! that comes after the deadline, or for an id nobody waits for, is dropped and counted. A
//! call never waits longer than the connect budget and its timeout (and one sweep period),
//! whatever the CLI or the connection does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use cov_proto::{GetMockRequest, GetMockResponse, MessageType, SdkMessage, sdk_message};
use cov_transport::sdk::SdkSender;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How many mock requests may wait for their answers at once.
pub(crate) const MOCK_QUEUE: usize = 4096;

/// The default time a mock request may take, the Python SDK's.
pub const DEFAULT_MOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a mock request got no answer from the CLI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MockFailure {
    /// The SDK is not connected to the CLI, and will not be (it gave up or was stopped).
    #[error("the SDK is not connected to the Tusk CLI")]
    NotConnected,
    /// The connection closed while the request waited for its answer.
    #[error("the connection to the Tusk CLI closed before it answered")]
    ConnectionLost,
    /// No answer within the SDK's deadline.
    #[error("the Tusk CLI did not answer within {0:?}")]
    Timeout(Duration),
    /// More requests are waiting than the SDK keeps.
    #[error("more than {MOCK_QUEUE} mock requests are waiting for the Tusk CLI")]
    Overloaded,
    /// The request could not be written (for example over the CLI's frame limit).
    #[error("the request could not be sent to the Tusk CLI: {0}")]
    Send(String),
}

/// The call sites' handle; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct MockClient {
    link: watch::Receiver<Link>,
    pending: Arc<Pending>,
    timeout: Duration,
    // Only the PostgreSQL replay server asks where the SDK thread serves.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    serving: Arc<ServingRuntime>,
}

impl MockClient {
    /// Asks the CLI for the mock of `request` and waits for its answer, at most the
    /// client's timeout.
    pub(crate) async fn get(
        &self,
        mut request: GetMockRequest,
    ) -> Result<GetMockResponse, MockFailure> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let asked = Instant::now();
        let (sender, waited) = connection(self.link.clone()).await?;
        let deadline = if waited { Instant::now() } else { asked } + self.timeout;
        let request_id = format!("mock-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        request.request_id.clone_from(&request_id);
        let answer = self.pending.expect(&request_id, deadline)?;
        let message = SdkMessage {
            r#type: MessageType::MockRequest as i32,
            request_id: request_id.clone(),
            payload: Some(sdk_message::Payload::GetMockRequest(request)),
        };
        if let Err(error) = sender.send(message).await {
            self.pending.forget(&request_id);
            return Err(if sender.is_closed() {
                MockFailure::ConnectionLost
            } else {
                MockFailure::Send(error.to_string())
            });
        }
        // Answered, timed out, or failed with the connection; a dropped waiter means the
        // connection went.
        answer.await.unwrap_or(Err(MockFailure::ConnectionLost))
    }

    /// The runtime of the SDK thread, which answers mock requests, while its session runs,
    /// for a server that is to live there; waits up to `wait` for the thread to start it.
    /// `None` when it does not run (not yet after `wait`, or no more). Once it has been
    /// handed out, the runtime outlives the session: what runs there keeps running (its
    /// mock requests failing at once, the CLI gone) until the SDK is stopped.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn serving_runtime(&self, wait: Duration) -> Option<tokio::runtime::Handle> {
        let handle = self.serving.wait(wait)?;
        self.serving.hosting.store(true, Ordering::Release);
        Some(handle)
    }
}

/// Where the SDK thread answers mock requests: its runtime, while its session runs. Work
/// that asks for mocks (the PostgreSQL replay server) runs there, so that a request and its
/// answer cross no thread but the connection to the CLI.
#[derive(Debug, Default)]
pub(crate) struct ServingRuntime {
    state: Mutex<Serving>,
    changed: Condvar,
    /// Whether the runtime was handed out to host something.
    hosting: AtomicBool,
}

#[derive(Debug, Default)]
enum Serving {
    /// The SDK thread has not started its session yet.
    #[default]
    Starting,
    /// The session runs on this runtime.
    On(#[cfg_attr(not(feature = "postgres"), allow(dead_code))] tokio::runtime::Handle),
    /// The session has ended (or never started): the runtime is going or gone.
    Gone,
}

impl ServingRuntime {
    fn set(&self, serving: Serving) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = serving;
        self.changed.notify_all();
    }

    /// The session runs on the current runtime (the SDK thread's).
    pub(crate) fn started(&self) {
        self.set(Serving::On(tokio::runtime::Handle::current()));
    }

    /// The session has ended, or will never start.
    pub(crate) fn ended(&self) {
        self.set(Serving::Gone);
    }

    /// Whether something was placed on the runtime, which must then keep running after the
    /// session.
    pub(crate) fn is_hosting(&self) -> bool {
        self.hosting.load(Ordering::Acquire)
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn wait(&self, wait: Duration) -> Option<tokio::runtime::Handle> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, _) = self
            .changed
            .wait_timeout_while(state, wait, |state| matches!(state, Serving::Starting))
            .unwrap_or_else(PoisonError::into_inner);
        match &*state {
            Serving::On(handle) => Some(handle.clone()),
            Serving::Starting | Serving::Gone => None,
        }
    }
}

/// Where the SDK thread's connection is.
#[derive(Clone, Debug)]
pub(crate) enum Link {
    /// Still being made: requests wait for it (their deadline counts from when it is up).
    Connecting,
    /// Up: requests are written through it.
    Connected(SdkSender),
    /// Gone for good: requests fail at once.
    Gone,
}

/// The answers awaited, by request id; shared by the call sites, the serving loop, which
/// routes the CLI's answers, and [`Deadlines`].
#[derive(Debug, Default)]
pub(crate) struct Pending {
    waiters: Mutex<Waiters>,
    /// Answers nobody waited for (late, or an id never sent).
    unclaimed: AtomicU64,
}

#[derive(Debug, Default)]
struct Waiters {
    by_id: HashMap<String, Waiter>,
    /// The connection is gone for good: nobody may wait any more.
    closed: bool,
}

/// A call site waiting for an answer.
#[derive(Debug)]
struct Waiter {
    reply: oneshot::Sender<Result<GetMockResponse, MockFailure>>,
    deadline: Instant,
}

/// Where a call site's answer comes.
type Answer = oneshot::Receiver<Result<GetMockResponse, MockFailure>>;

impl Pending {
    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a call site for the answer to `request_id`, which it must have by
    /// `deadline`.
    fn expect(&self, request_id: &str, deadline: Instant) -> Result<Answer, MockFailure> {
        let mut waiters = self.waiters();
        if waiters.closed {
            return Err(MockFailure::NotConnected);
        }
        if waiters.by_id.len() >= MOCK_QUEUE {
            return Err(MockFailure::Overloaded);
        }
        let (reply, answer) = oneshot::channel();
        waiters
            .by_id
            .insert(request_id.to_owned(), Waiter { reply, deadline });
        Ok(answer)
    }

    /// Stops waiting for `request_id`'s answer: its request was never sent.
    fn forget(&self, request_id: &str) {
        self.waiters().by_id.remove(request_id);
    }

    /// Routes the CLI's answer to its request; an answer nobody waits for is dropped and
    /// counted.
    pub(crate) fn answer(&self, request_id: &str, response: GetMockResponse) {
        let waiter = self.waiters().by_id.remove(request_id);
        match waiter {
            Some(waiter) => {
                // The caller may have given up meanwhile (its future was dropped).
                if waiter.reply.send(Ok(response)).is_err() {
                    self.unclaimed.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                let unclaimed = self.unclaimed.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    request_id,
                    unclaimed,
                    "dropping a mock answer nobody waits for (late, or never asked)"
                );
            }
        }
    }

    /// Fails every request in flight, and every later one: the connection is gone.
    pub(crate) fn fail_all(&self) {
        let mut waiters = self.waiters();
        waiters.closed = true;
        waiters.by_id.clear();
    }

    /// Fails the requests whose deadline is past `now` (they had `timeout`); `false` once
    /// the connection is gone (nothing will wait any more).
    fn expire(&self, now: Instant, timeout: Duration) -> bool {
        let (expired, open): (Vec<Waiter>, bool) = {
            let mut waiters = self.waiters();
            let expired = waiters
                .by_id
                .extract_if(|_, waiter| waiter.deadline <= now)
                .map(|(_, waiter)| waiter)
                .collect();
            (expired, !waiters.closed)
        };
        for waiter in expired {
            let _ = waiter.reply.send(Err(MockFailure::Timeout(timeout)));
        }
        open
    }

    /// How many answers were dropped because nobody waited for them (tests).
    #[cfg(test)]
    pub(crate) fn unclaimed(&self) -> u64 {
        self.unclaimed.load(Ordering::Relaxed)
    }
}

/// The SDK thread's enforcement of the requests' deadlines: a sweep of [`Pending`] every
/// twentieth of the requests' timeout (from 1 ms to 100 ms), so that a call site needs no
/// timer and no request wakes the SDK thread when it is made.
#[derive(Debug)]
pub(crate) struct Deadlines {
    pending: Arc<Pending>,
    timeout: Duration,
}

impl Deadlines {
    /// Sweeps until the connection is gone for good.
    pub(crate) async fn run(self) {
        let period =
            (self.timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(100));
        let mut sweeps = tokio::time::interval(period);
        sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            sweeps.tick().await;
            if !self.pending.expire(Instant::now(), self.timeout) {
                break;
            }
        }
    }
}

/// The SDK thread's half of the mock channel: the deadlines to enforce, the link the
/// session keeps up to date, the answers the serving loop routes, and where it all runs.
#[derive(Debug)]
pub(crate) struct MockService {
    pub(crate) deadlines: Deadlines,
    pub(crate) link: watch::Sender<Link>,
    pub(crate) pending: Arc<Pending>,
    pub(crate) serving: Arc<ServingRuntime>,
}

/// A client for call sites, with requests that may take `timeout`, and the service the SDK
/// thread runs for it.
pub(crate) fn channel(timeout: Duration) -> (MockClient, MockService) {
    let (link_sender, link) = watch::channel(Link::Connecting);
    let pending = Arc::new(Pending::default());
    let serving = Arc::new(ServingRuntime::default());
    (
        MockClient {
            link,
            pending: Arc::clone(&pending),
            timeout,
            serving: Arc::clone(&serving),
        },
        MockService {
            deadlines: Deadlines {
                pending: Arc::clone(&pending),
                timeout,
            },
            link: link_sender,
            pending,
            serving,
        },
    )
}

/// The connection's sender once the link is up, and whether the request had to wait for
/// it. The wait ends when the session connects or gives up (its connect budget), or when
/// the SDK thread goes.
async fn connection(mut link: watch::Receiver<Link>) -> Result<(SdkSender, bool), MockFailure> {
    let mut waited = false;
    loop {
        let current = link.borrow_and_update().clone();
        match current {
            Link::Connected(sender) => return Ok((sender, waited)),
            Link::Gone => return Err(MockFailure::NotConnected),
            Link::Connecting => {
                waited = true;
                if link.changed().await.is_err() {
                    return Err(MockFailure::NotConnected);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cov_proto::{CliMessage, Span, cli_message};
    use cov_transport::Endpoint;
    use cov_transport::frame::CliCodec;
    use cov_transport::sdk::{self, SdkOptions};
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_util::codec::Framed;

    use super::*;

    /// The CLI's end of a connection: reads the SDK's messages, writes answers.
    type CliEnd = Framed<tokio::io::DuplexStream, CliCodec>;

    /// A connected SDK end serving `service` (answers routed as `serve` routes them) and the
    /// CLI's end, past the handshake.
    async fn connected(service: MockService) -> CliEnd {
        let MockService {
            deadlines,
            link,
            pending,
            serving: _,
        } = service;
        tokio::spawn(deadlines.run());
        link_up(link, pending).await
    }

    /// Connects the SDK end whose deadlines are enforced already, as the session does once the
    /// handshake is through; the CLI's end.
    async fn link_up(link: watch::Sender<Link>, pending: Arc<Pending>) -> CliEnd {
        let (sdk_stream, cli_stream) = tokio::io::duplex(64 * 1024);
        let mut cli: CliEnd = Framed::new(cli_stream, CliCodec::default());
        let handshake = tokio::spawn(async move {
            sdk::handshake(
                sdk_stream,
                Endpoint::unix("/test"),
                cov_proto::ConnectRequest::default(),
                &SdkOptions::default(),
            )
            .await
        });
        let hello = cli.next().await.unwrap().unwrap();
        cli.send(CliMessage {
            r#type: MessageType::SdkConnect as i32,
            request_id: hello.request_id,
            payload: Some(cli_message::Payload::ConnectResponse(
                cov_proto::ConnectResponse {
                    success: true,
                    error: String::new(),
                },
            )),
        })
        .await
        .unwrap();
        let connection = handshake.await.unwrap().unwrap();
        let (sender, mut receiver) = connection.into_split();
        link.send_replace(Link::Connected(sender));
        tokio::spawn(async move {
            while let Ok(Some(message)) = receiver.recv().await {
                if let Some(cli_message::Payload::GetMockResponse(response)) = message.payload {
                    pending.answer(&message.request_id, response);
                }
            }
            link.send_replace(Link::Gone);
            pending.fail_all();
        });
        cli
    }

    fn request(name: &str) -> GetMockRequest {
        GetMockRequest {
            test_id: "test-1".to_owned(),
            outbound_span: Some(Span {
                name: name.to_owned(),
                ..Span::default()
            }),
            ..GetMockRequest::default()
        }
    }

    /// `client`'s call for the span `name`, made in a task of its own.
    fn ask(
        client: &MockClient,
        name: &'static str,
    ) -> tokio::task::JoinHandle<Result<GetMockResponse, MockFailure>> {
        let client = client.clone();
        tokio::spawn(async move { client.get(request(name)).await })
    }

    /// The next mock request the CLI reads: its envelope id and its span's name.
    async fn next_request(cli: &mut CliEnd) -> (String, String) {
        let message = cli.next().await.unwrap().unwrap();
        assert_eq!(message.r#type, MessageType::MockRequest as i32);
        let Some(sdk_message::Payload::GetMockRequest(request)) = message.payload else {
            panic!("not a mock request: {message:?}");
        };
        assert_eq!(
            request.request_id, message.request_id,
            "both ids are the same"
        );
        assert_eq!(request.test_id, "test-1");
        (message.request_id, request.outbound_span.unwrap().name)
    }

    async fn answer(cli: &mut CliEnd, request_id: &str, error: &str) {
        cli.send(CliMessage {
            r#type: MessageType::MockRequest as i32,
            request_id: request_id.to_owned(),
            payload: Some(cli_message::Payload::GetMockResponse(GetMockResponse {
                request_id: request_id.to_owned(),
                found: false,
                error: error.to_owned(),
                ..GetMockResponse::default()
            })),
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn answers_that_come_in_any_order_reach_their_own_callers() {
        let (client, service) = channel(Duration::from_secs(60));
        let mut cli = connected(service).await;
        let calls: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| ask(&client, name))
            .collect();
        let mut asked = Vec::new();
        for _ in 0..3 {
            asked.push(next_request(&mut cli).await);
        }
        let ids: std::collections::BTreeSet<_> = asked.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids.len(), 3, "every request has an id of its own");
        for (request_id, name) in asked.iter().rev() {
            answer(&mut cli, request_id, &format!("answer to {name}")).await;
        }
        for (call, name) in calls.into_iter().zip(["a", "b", "c"]) {
            let response = call.await.unwrap().unwrap();
            assert_eq!(response.error, format!("answer to {name}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_the_cli_never_answers_times_out_and_a_late_answer_is_dropped() {
        let (client, service) = channel(Duration::from_secs(10));
        let pending = Arc::clone(&service.pending);
        let mut cli = connected(service).await;
        let call = ask(&client, "slow");
        let (request_id, _) = next_request(&mut cli).await;
        assert_eq!(
            call.await.unwrap(),
            Err(MockFailure::Timeout(Duration::from_secs(10)))
        );
        answer(&mut cli, &request_id, "too late").await;
        answer(&mut cli, "mock-never-asked", "unknown").await;
        // The connection still works after both.
        let next = ask(&client, "next");
        let (next_id, name) = next_request(&mut cli).await;
        assert_eq!(name, "next");
        answer(&mut cli, &next_id, "fine").await;
        assert_eq!(next.await.unwrap().unwrap().error, "fine");
        assert_eq!(pending.unclaimed(), 2);
    }

    #[tokio::test]
    async fn requests_wait_for_the_connection_and_fail_when_it_goes() {
        let (client, service) = channel(Duration::from_secs(60));
        let link = service.link.clone();
        let early = ask(&client, "early");
        // Still connecting: the request waits, then goes out once the link is up.
        tokio::task::yield_now().await;
        let mut cli = connected(service).await;
        let (request_id, name) = next_request(&mut cli).await;
        assert_eq!(name, "early");
        answer(&mut cli, &request_id, "served").await;
        assert_eq!(early.await.unwrap().unwrap().error, "served");

        // The CLI goes away with a request in flight.
        let in_flight = ask(&client, "orphan");
        let _ = next_request(&mut cli).await;
        drop(cli);
        assert_eq!(in_flight.await.unwrap(), Err(MockFailure::ConnectionLost));
        // And later requests fail at once.
        link.send_replace(Link::Gone);
        assert_eq!(
            client.get(request("after")).await,
            Err(MockFailure::NotConnected)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_made_while_connecting_has_its_whole_timeout_once_connected() {
        let timeout = Duration::from_millis(200);
        let (client, service) = channel(timeout);
        let MockService {
            deadlines,
            link,
            pending,
            serving: _,
        } = service;
        tokio::spawn(deadlines.run());
        let early = ask(&client, "early");
        // The SDK takes ten times the request's timeout to connect (a slow start).
        tokio::time::sleep(timeout * 10).await;
        assert!(
            !early.is_finished(),
            "a request failed while the SDK was still connecting"
        );
        let mut cli = link_up(link, pending).await;
        let (request_id, name) = next_request(&mut cli).await;
        assert_eq!(name, "early");
        tokio::time::sleep(timeout / 2).await;
        answer(&mut cli, &request_id, "served").await;
        assert_eq!(early.await.unwrap().unwrap().error, "served");

        // On a live connection the timeout counts from the call.
        let late = ask(&client, "late");
        let _ = next_request(&mut cli).await;
        assert_eq!(late.await.unwrap(), Err(MockFailure::Timeout(timeout)));
    }

    #[test]
    fn a_call_site_on_a_runtime_without_timers_gets_its_answer_or_its_timeout() {
        // The SDK thread's runtime, and an application's that has neither timers nor I/O:
        // the call writes its request itself and awaits the answer, the SDK thread routes
        // the answer and enforces the deadline.
        let sdk_thread = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let timeout = Duration::from_millis(200);
        let (client, service) = channel(timeout);
        let mut cli = sdk_thread.block_on(connected(service));
        let application = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        let call = |name: &'static str| {
            let (client, application) = (client.clone(), Arc::clone(&application));
            std::thread::spawn(move || application.block_on(client.get(request(name))))
        };
        let answered = call("answered");
        let (request_id, name) = sdk_thread.block_on(next_request(&mut cli));
        assert_eq!(name, "answered");
        sdk_thread.block_on(answer(&mut cli, &request_id, "served"));
        assert_eq!(answered.join().unwrap().unwrap().error, "served");
        let unanswered = call("unanswered");
        let (_, name) = sdk_thread.block_on(next_request(&mut cli));
        assert_eq!(name, "unanswered");
        assert_eq!(
            unanswered.join().unwrap(),
            Err(MockFailure::Timeout(timeout))
        );
    }

    #[tokio::test]
    async fn a_stopped_sdk_thread_fails_requests_at_once() {
        let (client, service) = channel(Duration::from_secs(60));
        drop(service);
        assert_eq!(
            client.get(request("nobody")).await,
            Err(MockFailure::NotConnected)
        );
    }

    #[test]
    fn the_serving_runtime_is_the_sdk_thread_s_while_its_session_runs() {
        let (client, service) = channel(Duration::from_secs(1));
        // Not started: nothing after the wait.
        assert!(client.serving_runtime(Duration::ZERO).is_none());
        // A waiter is woken by the start, whenever it comes.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let waiter = std::thread::spawn({
            let client = client.clone();
            move || client.serving_runtime(Duration::from_secs(60))
        });
        runtime.block_on(async { service.serving.started() });
        let handle = waiter.join().unwrap().expect("the runtime, once started");
        assert_eq!(handle.id(), runtime.handle().id());
        // Ended: none, at once.
        service.serving.ended();
        assert!(client.serving_runtime(Duration::from_secs(60)).is_none());
    }
}
