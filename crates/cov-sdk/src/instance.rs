//! The running SDK of a process: started by the first [`crate::init`], shared by every
//! handle and layer after it, stopped when the last handle is gone.
//!
//! This is the crate's one global: a [`Registry`] holding a weak reference to the running
//! [`Instance`]. The process has one ([`PROCESS`]); tests make their own, so that they can
//! start and stop SDKs side by side instead of one at a time.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::Coverage;
use crate::builder::Builder;
use crate::config::Config;
use crate::env::Environment;
use crate::gate::Gate;
use crate::mocks;
use crate::mode::{Mode, Role};
use crate::recorder::Recorder;
use crate::replayer::{self, Replayer};
use crate::runner::{Running, SdkThread};

/// The process's registry, used by [`crate::init`] and [`Builder::init`].
pub(crate) static PROCESS: Registry = Registry::new();

/// Where the running SDK is found: a weak reference, so dropping the last handle stops it.
#[derive(Debug)]
pub(crate) struct Registry {
    current: Mutex<Weak<Instance>>,
}

/// One started SDK: its mode's state, and in `REPLAY` mode the thread that talks to the
/// CLI (stopped when the instance is dropped).
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) mode: Arc<Mode>,
    pub(crate) running: Option<Running>,
}

impl Instance {
    /// Whether a stop of its thread was requested.
    fn is_stopping(&self) -> bool {
        self.running.as_ref().is_some_and(Running::is_stopping)
    }
}

impl Registry {
    /// An empty registry.
    pub(crate) const fn new() -> Self {
        Self {
            current: Mutex::new(Weak::new()),
        }
    }

    /// Starts an SDK configured by `builder`, or returns the running one's handle. Never
    /// fails: what cannot start is logged and the handle is inert.
    pub(crate) fn start(&self, builder: Builder) -> Coverage {
        let environment = builder
            .environment
            .clone()
            .unwrap_or_else(Environment::from_process);
        let config = Config::resolve(&builder, &environment);
        if config.gate == Gate::Off {
            tracing::debug!("Tusk SDK off: not in Tusk record or replay mode");
            return Coverage::off();
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(instance) = current.upgrade().filter(|instance| !instance.is_stopping()) {
            tracing::debug!("Tusk SDK already running; returning its handle");
            return Coverage::of(instance);
        }
        let instance = match config.gate {
            Gate::Off => None,
            Gate::Record => {
                // Recording needs no coverage: the profile runtime of an instrumented build
                // would otherwise write `default_*.profraw` into the working directory at exit.
                let profile = cov_collector::suppress_profile_write();
                tracing::debug!(?profile, "Tusk SDK recording");
                Recorder::start(&config).map(|recorder| Instance {
                    mode: Arc::new(Mode::new(
                        Role::Record(recorder),
                        builder.header_rules.clone(),
                        builder.max_body_bytes,
                    )),
                    running: None,
                })
            }
            Gate::Serve { collect } => {
                // Requests hand replay spans to the SDK thread through a bounded channel
                // and never wait: a full channel drops the span.
                let (span_sender, spans) = tokio::sync::mpsc::channel(replayer::SPAN_QUEUE);
                let (mock_client, mocks) = mocks::channel(builder.mock_timeout);
                let mode = Mode::new(
                    Role::Replay(Replayer::new(span_sender, mock_client)),
                    builder.header_rules.clone(),
                    builder.max_body_bytes,
                );
                let thread = SdkThread {
                    builder,
                    environment,
                    config,
                    collect,
                    spans,
                    mocks,
                };
                match Running::spawn(thread) {
                    Ok(running) => Some(Instance {
                        mode: Arc::new(mode),
                        running: Some(running),
                    }),
                    Err(error) => {
                        tracing::warn!(%error, "Tusk SDK not started: cannot spawn its thread");
                        None
                    }
                }
            }
        };
        let Some(instance) = instance else {
            return Coverage::off();
        };
        let instance = Arc::new(instance);
        *current = Arc::downgrade(&instance);
        Coverage::of(instance)
    }
}
