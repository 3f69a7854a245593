//! Per-test coverage of a Rust service replayed by Tusk Drift: one line in `main`.
//!
//! ```no_run
//! let _coverage = cov_sdk::init(); // first line of `main`, kept alive until it returns
//! // ... start the service as usual ...
//! ```
//!
//! Build the service with `RUSTFLAGS="-C instrument-coverage"` and run it under
//! `tusk drift run --show-coverage`: the SDK connects to the CLI, completes the handshake and
//! answers its coverage snapshot requests (a baseline of every coverable line once, then
//! what each test executed), read in-process by [`cov_collector`] and filtered to the
//! service's own files by [`cov_core`]'s source filter.
//!
//! [`Coverage::layer`] is a `tower` layer for the service's HTTP stack: with
//! `TUSK_DRIFT_MODE=RECORD` it records each inbound request and its response as a Tusk
//! trace file ([`cov_trace`]'s dialect) that `tusk drift run` replays; in a replay it sends
//! the CLI the inbound replay span of each replayed request. [`Traffic`] is the same for
//! servers not built on `tower`. In any other mode the SDK does nothing at all.
//! `docs/sdk.md` walks through it; [`Builder`] lists the options and
//! `docs/environment-variables.md` the variables.
//!
//! The key design decision is isolation from the host application. The SDK runs on its
//! own thread with its own small current-thread tokio runtime, so it works the same in
//! plain and in async applications, never uses or blocks the application's runtime, and
//! does its slow work (decoding the coverage mapping) away from the caller: [`init`]
//! returns at once. Nothing it does can take the application down: the thread's body runs
//! under `catch_unwind`, every failure becomes a log line (`tracing`, quiet by default) or
//! a `success=false` answer to the CLI, and a CLI that is away or goes away is logged,
//! never fatal.
//!
//! Modules: `env` reads every variable (empty means unset), `gate` decides whether
//! the SDK runs, `handshake` builds the `ConnectRequest`, `wire` converts coverage
//! records to and from the protobuf types, `session` sets up the connection (service id,
//! source filter, connect with retry), `serve` answers the CLI's requests, and
//! `record` follows inbound traffic (the layer, sampling, header rules, the trace writer
//! thread, the replay span).

#![forbid(unsafe_code)]

mod builder;
mod env;
mod gate;
mod handshake;
mod own_crates;
mod record;
mod runner;
mod serve;
mod session;
#[cfg(test)]
mod session_tests;
mod tusk_config;

use std::sync::{Arc, Mutex, PoisonError, Weak};

pub use builder::{
    Builder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_WRITE_TIMEOUT,
};
pub use record::{
    DEFAULT_MAX_BODY_BYTES, Exchange, MASKED_VALUE, MAX_BODY_BYTES_CEILING, TRACE_ID_HEADER,
    Traffic, TuskBody, TuskLayer, TuskService,
};

use crate::env::Environment;
use crate::gate::Gate;
use crate::runner::Running;

/// Starts the coverage SDK with the default options: `cov_sdk::Builder::new().init()`.
///
/// Call it once, early in `main`, and keep the returned handle alive as long as the
/// service runs (`let _coverage = cov_sdk::init();`; note `let _ = …` would drop it at
/// once and stop the SDK). It returns immediately and never fails: what the SDK does is
/// decided by the environment the Tusk CLI sets (`TUSK_DRIFT_MODE`, `TUSK_COVERAGE`), and every problem is logged.
/// Calling it again while the SDK runs returns the running SDK's handle; no second
/// thread is started.
pub fn init() -> Coverage {
    Builder::new().init()
}

/// The handle of the coverage SDK, returned by [`init`] and [`Builder::init`].
///
/// The SDK runs until [`Coverage::shutdown`] is called on any handle or every handle is
/// dropped; then its thread stops and its socket closes.
#[derive(Clone, Debug)]
#[must_use = "the coverage SDK stops when its handle is dropped; bind it with `let _coverage = ...`"]
pub struct Coverage {
    running: Option<Arc<Running>>,
    traffic: Traffic,
}

impl Coverage {
    /// A `tower` layer for the service's HTTP stack: in `RECORD` mode it records every
    /// sampled inbound request and its response as a Tusk trace file, in `REPLAY` mode
    /// it tells the CLI which replayed request it answered (the inbound replay span),
    /// and otherwise it passes everything through untouched. See [`TuskLayer`].
    pub fn layer(&self) -> TuskLayer {
        TuskLayer::new(self.traffic.clone())
    }

    /// The framework-neutral core of [`Coverage::layer`], for servers that are not built
    /// on `tower`: see [`Traffic::start`].
    pub fn traffic(&self) -> Traffic {
        self.traffic.clone()
    }

    /// Whether this handle refers to a running SDK thread (false when the gate kept the
    /// SDK off, when the thread could not be started, or after a shutdown).
    pub fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|running| !running.is_finished())
    }

    /// Stops the SDK for every handle: closes the connection, ends the thread and waits
    /// for it briefly (see `runner::STOP_WAIT`); a thread still busy after that (for
    /// example decoding a very large mapping) is left to finish on its own and exits
    /// without touching the application.
    pub fn shutdown(self) {
        if let Some(running) = &self.running {
            running.stop();
        }
    }

    /// Whether two handles refer to the same running SDK (the same connection to the
    /// CLI, or the same recorder).
    pub fn same_as(&self, other: &Coverage) -> bool {
        match (&self.running, &other.running) {
            (Some(left), Some(right)) => Arc::ptr_eq(left, right),
            (None, None) => self.traffic.is_active() && self.traffic.same_as(&other.traffic),
            _ => false,
        }
    }
}

/// The running SDK, if any: a weak reference, so dropping the last handle stops it.
static RUNNING: Mutex<Weak<Running>> = Mutex::new(Weak::new());

fn start(builder: Builder) -> Coverage {
    let environment = builder
        .environment
        .clone()
        .unwrap_or_else(Environment::from_process);
    let collect = match Gate::from_environment(&environment) {
        Gate::Serve { collect } => collect,
        Gate::Record => {
            // Recording needs no coverage: the profile runtime of an instrumented build
            // would otherwise write `default_*.profraw` into the working directory at exit.
            let profile = cov_collector::suppress_profile_write();
            tracing::debug!(?profile, "Tusk SDK recording");
            return Coverage {
                running: None,
                traffic: record::recording(&builder.record, &environment),
            };
        }
        Gate::Off => {
            tracing::debug!("Tusk SDK off: not in Tusk record or replay mode");
            return Coverage {
                running: None,
                traffic: Traffic::default(),
            };
        }
    };
    let mut current = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(running) = current.upgrade().filter(|running| !running.is_stopping()) {
        tracing::debug!("coverage SDK already running; returning its handle");
        return Coverage {
            traffic: running.traffic().clone(),
            running: Some(running),
        };
    }
    match Running::spawn(builder, environment, collect) {
        Ok(running) => {
            let running = Arc::new(running);
            *current = Arc::downgrade(&running);
            Coverage {
                traffic: running.traffic().clone(),
                running: Some(running),
            }
        }
        Err(error) => {
            tracing::warn!(%error, "coverage SDK not started: cannot spawn its thread");
            Coverage {
                running: None,
                traffic: Traffic::default(),
            }
        }
    }
}
