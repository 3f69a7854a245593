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
//!
//! Outbound calls are recorded and replayed too, so a service that calls other services or
//! keeps its state in PostgreSQL replays with none of them running: HTTP clients through
//! `Coverage::reqwest_middleware` (feature `reqwest`) or `Coverage::http_client_layer`
//! (feature `tower`), PostgreSQL through `Coverage::postgres_url` (feature `postgres`),
//! whatever the driver. In `RECORD` mode each call made while a request is served is a
//! CLIENT span in that request's trace; in `REPLAY` mode it never reaches the network and
//! gets its recorded answer from the CLI, or a [`ReplayError`] naming it. A handler's calls
//! find their request by themselves; [`propagate`] carries it into spawned work.
//!
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
//! Modules, one concept each: `env` reads every variable (empty means unset),
//! `project_file` reads `.tusk/config.yaml`, `config` resolves every setting from the
//! builder, the environment and the project file in one order, `gate` decides what the SDK
//! does, `instance` keeps the process's running SDK, `runner` is the SDK thread,
//! `handshake` builds the `ConnectRequest`, `session` sets up the connection (source
//! filter, collector, connect with retry), `serve` answers the CLI's requests; `mode` is
//! what the request path shares with the SDK (`recorder` in `RECORD` mode with its
//! `trace_writer` thread, `replayer` in `REPLAY` mode), `inbound` follows inbound traffic
//! (the layer, `Exchange`), with `headers` (which headers a trace holds) and
//! `body_capture` (bodies copied as they pass).

#![forbid(unsafe_code)]
// Without a client feature the outbound plumbing (request context, mock channel, spans of
// calls) has no caller; with one, every item is used.
#![cfg_attr(
    not(any(feature = "http-client", feature = "postgres")),
    allow(dead_code)
)]

mod body_capture;
mod builder;
mod config;
mod context;
mod env;
mod gate;
mod handshake;
mod headers;
mod inbound;
mod instance;
mod mocks;
mod mode;
mod outbound;
mod own_crates;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(test, feature = "postgres"))]
mod postgres_tests;
mod project_file;
mod recorder;
mod replayer;
mod runner;
mod serve;
mod session;
#[cfg(test)]
mod session_tests;
mod tee;
#[cfg(test)]
mod test_support;
mod trace_writer;

use std::sync::Arc;

pub use builder::{
    Builder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_WRITE_TIMEOUT, MAX_BODY_BYTES_CEILING,
};
pub use context::{RequestScope, Scoped, propagate};
pub use headers::MASKED_VALUE;
pub use inbound::{Exchange, TRACE_ID_HEADER, Traffic, TuskLayer, TuskService};
pub use mocks::DEFAULT_MOCK_TIMEOUT;
#[cfg(feature = "reqwest")]
pub use outbound::reqwest::TuskMiddleware;
#[cfg(feature = "tower")]
pub use outbound::tower::{BoxError, ClientBody, ClientFuture, TuskClientLayer, TuskClientService};
pub use outbound::{ReplayError, ReplayFailure};
#[cfg(feature = "postgres")]
pub use postgres::PostgresError;
pub use tee::TuskBody;

use crate::instance::Instance;

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
    instance: Option<Arc<Instance>>,
}

impl Coverage {
    /// The handle of an SDK that does nothing.
    pub(crate) fn off() -> Self {
        Self { instance: None }
    }

    /// The handle of a started SDK.
    pub(crate) fn of(instance: Arc<Instance>) -> Self {
        Self {
            instance: Some(instance),
        }
    }

    /// A `tower` layer for the service's HTTP stack: in `RECORD` mode it records every
    /// sampled inbound request and its response as a Tusk trace file, in `REPLAY` mode
    /// it tells the CLI which replayed request it answered (the inbound replay span),
    /// and otherwise it passes everything through untouched. See [`TuskLayer`].
    pub fn layer(&self) -> TuskLayer {
        TuskLayer::new(self.traffic())
    }

    /// The framework-neutral core of [`Coverage::layer`], for servers that are not built
    /// on `tower`: see [`Traffic::start`].
    pub fn traffic(&self) -> Traffic {
        Traffic::new(
            self.instance
                .as_ref()
                .map(|instance| Arc::clone(&instance.mode)),
        )
    }

    /// A `tower` layer for the service's HTTP clients (any `tower::Service<http::Request<B>>`:
    /// hyper-util's client, tonic's channel): in `RECORD` mode every call made while a
    /// request is served is recorded in that request's trace, in `REPLAY` mode every call
    /// is answered from the recording and never reaches the network, and otherwise calls
    /// pass through untouched. See [`TuskClientLayer`].
    #[cfg(feature = "tower")]
    pub fn http_client_layer(&self) -> TuskClientLayer {
        TuskClientLayer::new(self.outbound())
    }

    /// A `reqwest-middleware` middleware for the service's `reqwest` clients, with the same
    /// behaviour as `Coverage::http_client_layer`. See [`TuskMiddleware`].
    #[cfg(feature = "reqwest")]
    pub fn reqwest_middleware(&self) -> TuskMiddleware {
        TuskMiddleware::new(self.outbound())
    }

    /// The database URL the application should connect with, in place of `real_url` (a
    /// `postgres://` or `postgresql://` URL): `real_url` itself outside record and replay; in
    /// `RECORD` mode the URL of a loopback proxy in front of the real server, which records
    /// every statement as a span of the request that ran it; in `REPLAY` mode the URL of a
    /// loopback PostgreSQL-protocol server that answers every statement from the
    /// recording, with no database running. The same real URL always gives the same URL.
    ///
    /// Statements are attributed to requests as the module `postgres` of the crate says;
    /// with a pool, send [`Coverage::postgres_marker`] when a connection is taken.
    #[cfg(feature = "postgres")]
    pub fn postgres_url(&self, real_url: &str) -> Result<String, PostgresError> {
        match &self.instance {
            Some(instance) => postgres::url(&instance.mode, real_url),
            None => Ok(real_url.to_owned()),
        }
    }

    /// The statement to send (with the simple protocol, e.g. `sqlx::raw_sql`) on a pooled
    /// connection when the application takes it for a request, so that the statements it
    /// then runs are attributed to that request: sqlx's `before_acquire`, deadpool's
    /// `post_recycle`. `None` outside record and replay (send nothing). The SDK's proxy and
    /// replay server answer it themselves; the real server never sees it.
    #[cfg(feature = "postgres")]
    pub fn postgres_marker(&self) -> Option<String> {
        self.instance
            .as_ref()
            .map(|instance| instance.mode.postgres.marker())
    }

    /// Says the application is ready: it serves requests. Outbound calls before this (or
    /// before the first inbound request reaches [`Coverage::layer`], whichever comes first)
    /// are pre-app-start calls: recorded in files of their own and replayed from them, as
    /// the Tusk SDKs' `markAppAsReady` does. Calls after it belong to the request being
    /// served; outside any request they are not recorded, and in replay they fail.
    pub fn mark_ready(&self) {
        if let Some(instance) = &self.instance {
            instance.mode.mark_ready();
        }
    }

    /// The outbound side of this SDK, for the client glue.
    #[cfg(feature = "http-client")]
    fn outbound(&self) -> outbound::Outbound {
        outbound::Outbound::new(
            self.instance
                .as_ref()
                .map(|instance| Arc::clone(&instance.mode)),
        )
    }

    /// Whether this handle refers to a running SDK thread, the one that talks to the CLI
    /// in `REPLAY` mode (false in `RECORD` mode, when the gate kept the SDK off, when the
    /// thread could not be started, or after a shutdown).
    pub fn is_running(&self) -> bool {
        self.instance
            .as_ref()
            .and_then(|instance| instance.running.as_ref())
            .is_some_and(|running| !running.is_finished())
    }

    /// Stops the SDK for every handle: closes the connection, ends the thread and waits
    /// for it briefly (see `runner::STOP_WAIT`); a thread still busy after that (for
    /// example decoding a very large mapping) is left to finish on its own and exits
    /// without touching the application.
    pub fn shutdown(self) {
        if let Some(running) = self
            .instance
            .as_ref()
            .and_then(|instance| instance.running.as_ref())
        {
            running.stop();
        }
    }

    /// Whether two handles refer to the same started SDK (tests).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Coverage) -> bool {
        match (&self.instance, &other.instance) {
            (Some(left), Some(right)) => Arc::ptr_eq(left, right),
            (None, None) => true,
            _ => false,
        }
    }
}
