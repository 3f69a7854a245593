//! The SDK thread: its runtime, its log, and the guarantee that nothing escapes it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::builder::Builder;
use crate::config::Config;
use crate::env::{Environment, TUSK_COVERAGE_LOG};
use crate::mocks::MockService;

/// How long [`Running::stop`] waits for the thread to finish.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(2);

/// Everything the SDK thread runs with.
#[derive(Debug)]
pub(crate) struct SdkThread {
    pub(crate) builder: Builder,
    pub(crate) environment: Environment,
    pub(crate) config: Config,
    /// Whether coverage is collected.
    pub(crate) collect: bool,
    /// The inbound replay spans the request path hands over.
    pub(crate) spans: tokio::sync::mpsc::Receiver<cov_trace::InboundSpan>,
    /// The mock requests of outbound calls.
    pub(crate) mocks: MockService,
}

/// A started SDK thread.
#[derive(Debug)]
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    finished: Arc<AtomicBool>,
    exited: Mutex<Option<(mpsc::Receiver<()>, JoinHandle<()>)>>,
}

impl Running {
    /// Starts the SDK thread. Only spawning can fail here; everything after runs on the
    /// thread.
    pub(crate) fn spawn(work: SdkThread) -> std::io::Result<Self> {
        let (stop, stop_signal) = watch::channel(false);
        let finished = Arc::new(AtomicBool::new(false));
        let (exit_sender, exited) = mpsc::channel();
        let thread_finished = Arc::clone(&finished);
        let thread = std::thread::Builder::new()
            .name("cov-sdk".to_owned())
            .spawn(move || {
                // Nothing may unwind into the application: the thread's whole body runs
                // under catch_unwind, and a panic becomes one log line.
                let outcome = catch_unwind(AssertUnwindSafe(|| run_thread(work, stop_signal)));
                if outcome.is_err() {
                    tracing::error!(
                        "coverage SDK stopped after an internal panic; the service is unaffected"
                    );
                }
                thread_finished.store(true, Ordering::Release);
                let _ = exit_sender.send(());
            })?;
        Ok(Self {
            stop,
            finished,
            exited: Mutex::new(Some((exited, thread))),
        })
    }

    /// Whether the thread has finished.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Whether a stop was requested.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Asks the thread to stop and waits up to [`STOP_WAIT`] for it. Idempotent.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
        let exited = self
            .exited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((exited, thread)) = exited else {
            return;
        };
        match exited.recv_timeout(STOP_WAIT) {
            // The thread said it is done; joining returns at once.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::debug!(
                    "coverage SDK thread still busy after {STOP_WAIT:?}; leaving it to finish"
                );
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's body: its own log (when asked for), its own runtime, the session.
fn run_thread(work: SdkThread, stop_signal: watch::Receiver<bool>) {
    let _log = work
        .environment
        .get(TUSK_COVERAGE_LOG)
        .and_then(install_thread_log);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .thread_name("cov-sdk-blocking")
        // Snapshots and the mapping decode run here, one at a time, off the thread
        // that reads the socket.
        .max_blocking_threads(1)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "coverage SDK not started: cannot build its runtime");
            work.mocks.serving.ended();
            return;
        }
    };
    let serving = Arc::clone(&work.mocks.serving);
    let mut stopped = stop_signal.clone();
    runtime.block_on(crate::session::session(work, stop_signal));
    if serving.is_hosting() {
        // A PostgreSQL replay server lives on this runtime: with the CLI gone it answers
        // every statement with an error naming it (its connections are the application's)
        // until the SDK is stopped.
        runtime.block_on(async {
            let _ = stopped.wait_for(|&stopping| stopping).await;
        });
    }
    // A snapshot still running on the blocking thread finishes on its own; the SDK
    // thread does not wait for it.
    runtime.shutdown_background();
}

/// With `TUSK_COVERAGE_LOG` set, the SDK thread logs to standard error with that filter,
/// whatever subscriber the application installed (or none). The guard keeps it in place
/// for the thread's lifetime; blocking tasks get it through [`SdkLog::current`].
fn install_thread_log(filter: &str) -> Option<tracing::subscriber::DefaultGuard> {
    let filter = match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(filter) => filter,
        Err(error) => {
            tracing::warn!(
                variable = TUSK_COVERAGE_LOG,
                filter,
                %error,
                "ignoring an invalid log filter"
            );
            return None;
        }
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_thread_names(true)
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    SDK_LOG.with(|log| *log.borrow_mut() = Some(dispatch.clone()));
    Some(tracing::dispatcher::set_default(&dispatch))
}

thread_local! {
    /// The SDK thread's own log, when `TUSK_COVERAGE_LOG` asked for one.
    static SDK_LOG: std::cell::RefCell<Option<tracing::Dispatch>> = const { std::cell::RefCell::new(None) };
}

/// The SDK's own log, carried from the SDK thread into its blocking tasks. Without
/// `TUSK_COVERAGE_LOG` it is empty and events go to the application's global subscriber,
/// whenever the application installs it.
#[derive(Clone, Default)]
pub(crate) struct SdkLog(Option<tracing::Dispatch>);

impl SdkLog {
    /// The log of the current (SDK) thread.
    pub(crate) fn current() -> Self {
        SdkLog(SDK_LOG.with(|log| log.borrow().clone()))
    }

    /// Runs `work` with this log as the default.
    pub(crate) fn scope<T>(&self, work: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, work),
            None => work(),
        }
    }
}
