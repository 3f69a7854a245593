//! `demo-service`: a small shop API built on axum, the service `cargo xtask demo` measures.
//!
//! It links the SDK with one line in `main` (`let coverage = cov_sdk::init();`) and one
//! layer on its router (`.layer(coverage.layer())`): run normally, the SDK stays off and
//! the layer passes everything through; with `TUSK_DRIFT_MODE=RECORD` every request but
//! `POST /shutdown` is recorded as a Tusk trace file (in `TUSK_TRACES_DIR`, `traces.dir` of
//! `.tusk/config.yaml`, or `.tusk/traces`); run by the Tusk CLI (or the demo driver) with
//! `TUSK_DRIFT_MODE=REPLAY` it sends an inbound replay span for every replayed request, and
//! with `TUSK_COVERAGE=true` and built with `-C instrument-coverage` it answers coverage
//! snapshot requests. Its routes hold real branching logic (validation,
//! pagination, discounts, stock reservation) split across modules, so different tests cover
//! different code.
//!
//! # Usage
//!
//! `demo-service [--port N] [--host ADDR]`, or `PORT`/`HOST`; defaults `127.0.0.1:8080`.
//! Port 0 picks a free port. Once listening it prints `listening on ADDR:PORT` on stdout
//! (the one line it prints there) so a driver can find it. It shuts down gracefully on
//! SIGTERM, ctrl-c or `POST /shutdown`, and then exits normally, which writes the LLVM
//! profile of an instrumented build.
//!
//! # Routes (stable: the SDK's end-to-end tests and the demo drive them)
//!
//! | route | answers |
//! |---|---|
//! | `GET /health` | `ok` |
//! | `GET /products?category=&in_stock=true&page=&per_page=` | a page `{items, page, per_page, total, has_more}`; 422 for `page=0` or `per_page` outside 1..=50 |
//! | `GET /products/{id}` | the product, 404 if unknown |
//! | `POST /products` `{name, category, price_cents, stock?}` | 201 with the product; 422 on invalid fields; 409 on a duplicate name |
//! | `POST /products/{id}/restock` `{quantity}` | the product; 422 unless 1..=1000; 404 |
//! | `POST /orders` `{customer, items: [{product_id, quantity}], discount_code?}` | 201 with the order and its quote; 422 on invalid input or discount code; 404 unknown product; 409 short stock |
//! | `GET /orders/{id}` | the order, 404 if unknown |
//! | `POST /orders/{id}/cancel` | the cancelled order (stock restored); 409 if already cancelled |
//! | `POST /shutdown` | 202, then a graceful shutdown |
//!
//! Errors are JSON: `{"error": "invalid" | "not_found" | "conflict", "message": "..."}`.
//! Discount codes: `SAVE10` (10 % off), `FLAT5` (5.00 off from 20.00), `FREESHIP`; lines of
//! 10 units or more get 5 % off; shipping is free from 50.00.
//!
//! The seeded catalogue: 1 espresso beans (coffee, 24.50, 40 in stock), 2 filter papers
//! (coffee, 3.99, 200), 3 pour-over kettle (equipment, 59.00, 5), 4 burr grinder
//! (equipment, 129.00, 2), 5 ceramic mug (kitchen, 12.00, out of stock).

#![forbid(unsafe_code)]

mod config;
mod error;
mod inventory;
mod orders;
mod pricing;
mod routes;
mod store;

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

use crate::store::{AppState, Store};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let coverage = cov_sdk::init();

    let address =
        config::listen_address(std::env::args().skip(1), |name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(address, coverage.layer()))
    // `coverage` is dropped here, after the server: the recorder writes what it still
    // holds (for up to 2 s) before the process exits.
}

async fn serve(address: std::net::SocketAddr, tusk: cov_sdk::TuskLayer) -> anyhow::Result<()> {
    // Listen for signals before announcing the address, so a driver that sends SIGTERM
    // right after reading it still gets a graceful shutdown.
    let signals = ShutdownSignals::install()?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr()?;
    // Everything is set up before the address is announced, so the start-up code has run
    // by the time a driver (or the Tusk CLI) sees it and takes its baseline.
    let state = AppState::new(Store::seeded());
    let over_http = state.shutdown.clone();
    let router = routes::router(state, |api| api.layer(tusk));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()?;
    drop(stdout);

    axum::serve(listener, router)
        .with_graceful_shutdown(signals.wait(over_http))
        .await
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// The signals that stop the service gracefully: SIGTERM and SIGINT (ctrl-c).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    #[cfg(unix)]
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> anyhow::Result<Self> {
        Ok(Self {})
    }

    /// Completes on SIGTERM, SIGINT or `POST /shutdown`, whichever comes first.
    #[cfg(unix)]
    async fn wait(mut self, over_http: Arc<Notify>) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
            () = over_http.notified() => {}
        }
    }

    /// Completes on ctrl-c or `POST /shutdown`, whichever comes first.
    #[cfg(not(unix))]
    async fn wait(self, over_http: Arc<Notify>) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("ctrl-c received"),
            () = over_http.notified() => {}
        }
    }
}
