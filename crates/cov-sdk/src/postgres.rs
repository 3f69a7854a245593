//! PostgreSQL, whatever the driver: [`Coverage::postgres_url`](crate::Coverage::postgres_url)
//! points the application at a loopback server the SDK runs (cov-postgres): in `RECORD`
//! mode a proxy in front of the real server, whose statements become CLIENT spans of the
//! request that ran them; in `REPLAY` mode a PostgreSQL-protocol server that answers every
//! statement from the CLI's mocks, exact matches only, with no database running.
//!
//! **Attribution.** The proxy sees connections, not requests. A connection belongs to the
//! request whose marker ([`Coverage::postgres_marker`](crate::Coverage::postgres_marker))
//! it carried last, which the application sends when its pool hands a connection to a
//! request (sqlx's `before_acquire`, deadpool's hooks; `docs/sdk.md` shows each). A
//! connection that never carried a marker belongs to the one request in flight when there
//! is exactly one (so a service recorded or replayed one request at a time needs no marker
//! at all), and before the application is ready to nobody (pool warm-up, migrations: a
//! pre-app-start statement). Otherwise a statement belongs to nobody: in `RECORD` mode it
//! is not recorded, in `REPLAY` mode it fails.
//!
//! Neither runs on the application's runtime. The proxy runs on a thread of the SDK's own
//! with a current-thread runtime, started by the first `postgres_url`. The replay server runs
//! on the SDK thread, which owns the connection to the CLI and answers mock requests: a
//! statement's lookup and its answer then cross no other thread (on its own thread it cost
//! two more wake-ups per statement, about a fifth of a replayed statement's time in `cargo
//! xtask bench`). It outlives the SDK thread's session: with the CLI gone it answers every
//! statement with an error naming it, as it does on that other thread when the SDK thread
//! does not run, until the SDK is stopped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use cov_postgres::record::{RecorderConfig, Statement, StatementSink};
use cov_postgres::replay::{Lookup, ReplayConfig, Unmatched};
use cov_trace::{OutboundSpan, Payload, Status};
use serde_json::Value;

use crate::context::{Request, RequestContext};
use crate::mode::{Mode, Role};
use crate::outbound::{self, Owner, Plan};

/// The attribution key of "no request": connections taken outside any request carry it, so
/// they do not keep the last request's key.
const NO_REQUEST: u64 = 0;

/// How long `postgres_url` waits in `REPLAY` mode for the SDK thread to run (it starts with
/// the SDK, so this is only ever waited for on a machine too busy to schedule it).
const SDK_THREAD_WAIT: Duration = Duration::from_secs(2);

/// Why [`Coverage::postgres_url`](crate::Coverage::postgres_url) cannot give a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The URL is not one the SDK can read (a `postgres://` or `postgresql://` URL; not a
    /// keyword/value string, not several hosts): what is wrong with it.
    #[error("unusable PostgreSQL URL: {0}")]
    Url(String),
    /// The SDK's PostgreSQL thread, proxy or replay server could not start.
    #[error("the Tusk SDK cannot start its PostgreSQL {what}: {source}")]
    Start {
        /// What did not start.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The PostgreSQL side of one SDK instance.
#[derive(Debug, Default)]
pub(crate) struct Postgres {
    /// The thread the proxies and replay servers run on, started on first use.
    thread: OnceLock<Result<PostgresThread, String>>,
    /// The URL handed out for each real URL: one proxy or server per real URL.
    urls: Mutex<HashMap<String, String>>,
    /// Which request each attribution key stands for.
    keys: Mutex<HashMap<u64, Weak<Request>>>,
    next_key: AtomicU64,
    /// The requests being served, for the one-request-in-flight rule.
    live: Mutex<Vec<Weak<Request>>>,
    /// The proxies and replay servers, stopped with the instance.
    servers: Mutex<Vec<Server>>,
}

/// A running proxy or replay server; dropping it stops accepting connections.
#[derive(Debug)]
enum Server {
    Proxy(cov_postgres::proxy::RecordingProxy),
    Replay(cov_postgres::server::ReplayServer),
}

impl Server {
    fn local_addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Proxy(proxy) => proxy.local_addr(),
            Server::Replay(server) => server.local_addr(),
        }
    }
}

impl Postgres {
    /// A request started: while it is the only one, unmarked statements are its.
    pub(crate) fn request_started(&self, context: &RequestContext) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|request| request.strong_count() > 0);
        live.push(context.downgrade());
    }

    /// The marker of the current request (or of "no request"), for the application to send
    /// on a connection it takes.
    pub(crate) fn marker(&self) -> String {
        let key = match RequestContext::current() {
            Some(context) => *context.attribution_key.get_or_init(|| {
                let key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
                let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
                keys.retain(|_, request| request.strong_count() > 0);
                keys.insert(key, context.downgrade());
                key
            }),
            None => NO_REQUEST,
        };
        cov_postgres::sql::marker(key)
    }

    /// Whom a statement under attribution `key` belongs to.
    fn owner(&self, key: Option<u64>, ready: bool) -> Owner {
        let request = match key {
            Some(NO_REQUEST) => None,
            Some(key) => self
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .and_then(RequestContext::upgrade),
            None => {
                let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
                let mut running = live.iter().filter_map(RequestContext::upgrade);
                match (running.next(), running.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        };
        match request {
            Some(context) => Owner::Request(context),
            None if !ready => Owner::PreAppStart,
            None => Owner::Outside,
        }
    }
}

/// The thread of the SDK's PostgreSQL servers: a current-thread runtime that runs until the
/// SDK instance is dropped.
#[derive(Debug)]
struct PostgresThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl PostgresThread {
    fn start() -> std::io::Result<Self> {
        let (handle_sender, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("cov-sdk-postgres".to_owned())
            .spawn(move || {
                // Nothing may unwind into the application (see `runner`).
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build();
                    let runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = handle_sender.send(Err(error));
                            return;
                        }
                    };
                    let _ = handle_sender.send(Ok(runtime.handle().clone()));
                    // Runs the servers until the instance goes (the sender is dropped).
                    let _ = runtime.block_on(stopped);
                    runtime.shutdown_background();
                }));
                if outcome.is_err() {
                    tracing::error!(
                        "the Tusk SDK's PostgreSQL thread stopped after an internal panic"
                    );
                }
            })?;
        let handle = handle
            .recv()
            .map_err(|_| std::io::Error::other("the PostgreSQL thread ended at start"))??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// The URL the application should connect with instead of `real_url`, in `mode`.
pub(crate) fn url(mode: &Arc<Mode>, real_url: &str) -> Result<String, PostgresError> {
    let postgres = &mode.postgres;
    let mut urls = postgres.urls.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(url) = urls.get(real_url) {
        return Ok(url.clone());
    }
    let upstream = cov_postgres::url::Upstream::from_url(real_url).map_err(url_error)?;
    let thread = || {
        postgres
            .thread
            .get_or_init(|| PostgresThread::start().map_err(|error| error.to_string()))
            .as_ref()
            .map_err(|error| PostgresError::Start {
                what: "thread",
                source: std::io::Error::other(error.clone()),
            })
    };
    let weak = Arc::downgrade(mode);
    let (what, started) = match &mode.role {
        Role::Record(_) => (
            "recording proxy",
            run_on(&thread()?.handle, async move {
                let sink = Arc::new(SpanSink { mode: weak });
                cov_postgres::proxy::RecordingProxy::start(
                    upstream,
                    sink,
                    RecorderConfig::default(),
                )
                .await
                .map(Server::Proxy)
            }),
        ),
        Role::Replay(replayer) => {
            let start = || {
                let source = Arc::new(MockAnswers { mode: weak.clone() });
                async move {
                    cov_postgres::server::ReplayServer::start(source, ReplayConfig::default())
                        .await
                        .map(Server::Replay)
                }
            };
            // On the SDK thread, which answers mock requests: a statement's lookup then
            // crosses no thread on its way to the CLI and back (two fewer wake-ups per
            // statement, see docs/performance.md). Its own thread when the SDK thread does
            // not run.
            let on_sdk_thread = replayer
                .mocks
                .serving_runtime(SDK_THREAD_WAIT)
                .map(|handle| run_on(&handle, start()));
            let started = match on_sdk_thread {
                Some(Ok(server)) => Ok(server),
                Some(Err(_)) | None => run_on(&thread()?.handle, start()),
            };
            ("replay server", started)
        }
    };
    let server = started.map_err(|source| PostgresError::Start { what, source })?;
    let address = server.local_addr();
    let url = cov_postgres::url::local_url(real_url, address).map_err(url_error)?;
    postgres
        .servers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(server);
    tracing::info!(%address, what, "Tusk SDK serves the application's PostgreSQL connections");
    urls.insert(real_url.to_owned(), url.clone());
    Ok(url)
}

fn url_error(error: cov_postgres::url::UrlError) -> PostgresError {
    PostgresError::Url(error.problem)
}

/// Runs `work` on the runtime of `handle` (the PostgreSQL thread's or the SDK thread's) and
/// waits for its result (starting a listener takes microseconds; the caller may be on any
/// thread, in any runtime or none). A runtime that has shut down answers at once, with an
/// error.
fn run_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    work: impl Future<Output = std::io::Result<T>> + Send + 'static,
) -> std::io::Result<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = sender.send(work.await);
    });
    receiver
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| std::io::Error::other("the SDK's runtime did not answer"))?
}

/// `RECORD`: statements become spans of their owners.
struct SpanSink {
    mode: Weak<Mode>,
}

impl StatementSink for SpanSink {
    fn statement(&self, key: Option<u64>, statement: Statement) {
        let Some(mode) = self.mode.upgrade() else {
            return;
        };
        let owner = mode.postgres.owner(key, mode.is_ready());
        let Plan::Record(recording) = outbound::plan_for(&mode, owner) else {
            tracing::debug!(
                name = statement.kind.name(),
                "a statement outside any recorded request is not recorded"
            );
            return;
        };
        let output = match statement.kind.output_value() {
            Ok(Value::Object(output)) => output,
            Ok(_) | Err(_) => {
                recording.skip(
                    statement.kind.name(),
                    "its result cannot be written as a span",
                );
                return;
            }
        };
        let mut span = span_of(
            statement.kind.name(),
            statement.kind.submodule_name(),
            statement.kind.input_value(),
        );
        span.output = Some(Payload {
            value: output,
            merges: Default::default(),
        });
        span.status = statement
            .kind
            .error_message()
            .map_or(Status::Ok, Status::Error);
        span.started = statement.started;
        span.duration = statement
            .finished
            .duration_since(statement.started)
            .unwrap_or_default();
        recording.deliver(span);
    }
}

/// The span of a statement or describe, its input set.
fn span_of(name: &str, submodule_name: &str, input: Value) -> OutboundSpan {
    let value = match input {
        Value::Object(value) => value,
        other => [("value".to_owned(), other)].into_iter().collect(),
    };
    OutboundSpan {
        name: name.to_owned(),
        package_name: cov_postgres::span::PACKAGE_NAME.to_owned(),
        instrumentation_name: cov_postgres::span::INSTRUMENTATION_NAME.to_owned(),
        submodule_name: submodule_name.to_owned(),
        package_type: cov_postgres::span::PACKAGE_TYPE,
        input: Payload {
            value,
            merges: Default::default(),
        },
        ..OutboundSpan::default()
    }
}

/// `REPLAY`: statements are answered from the CLI's mocks.
struct MockAnswers {
    mode: Weak<Mode>,
}

impl cov_postgres::server::MockSource for MockAnswers {
    async fn lookup(&self, key: Option<u64>, lookup: Lookup) -> Result<Value, Unmatched> {
        let unmatched = |reason: String| Unmatched { reason };
        let mode = self
            .mode
            .upgrade()
            .ok_or_else(|| unmatched("the Tusk SDK has stopped".to_owned()))?;
        let owner = mode.postgres.owner(key, mode.is_ready());
        let replaying = match outbound::plan_for(&mode, owner) {
            Plan::Replay(replaying) => replaying,
            Plan::Refuse(reason) => return Err(unmatched(reason.to_string())),
            Plan::PassThrough | Plan::Record(_) => {
                return Err(unmatched("the Tusk SDK is not replaying".to_owned()));
            }
        };
        let span = span_of(lookup.name(), lookup.submodule_name(), lookup.input_value());
        match replaying.answer(&span).await {
            Ok(Some(output)) => Ok(output),
            Ok(None) => Err(unmatched("the recorded statement has no result".to_owned())),
            Err(reason) => Err(unmatched(reason.to_string())),
        }
    }
}
