//! `demo-service`: a small shop API built on axum, the service `cargo xtask demo` measures.
//!
//! It keeps its data in PostgreSQL (sqlx) and converts prices with another HTTP service,
//! the rates service (`examples/rates-service`, through reqwest), so that recording and
//! replaying it exercise everything a real service does. It links the SDK as a user's
//! service would: `cov_sdk::init()` in `main`, `coverage.layer()` on its router,
//! `coverage.postgres_url(..)` for the database URL and `coverage.postgres_marker()` in the
//! pool's `before_acquire` and `after_connect` hooks, `coverage.reqwest_middleware()` on its
//! HTTP client, and `coverage.mark_ready()` once the schema is in place.
//!
//! Run normally, the SDK stays off and all of that passes through. With
//! `TUSK_DRIFT_MODE=RECORD` every request but `POST /shutdown` is recorded as a Tusk trace
//! file (in `TUSK_TRACES_DIR`, `traces.dir` of `.tusk/config.yaml`, or `.tusk/traces`), its
//! SQL statements and its calls to the rates service as CLIENT spans of that trace, and the
//! start-up statements (schema and seed) as pre-app-start spans. Run by the Tusk CLI (or
//! the demo driver) with `TUSK_DRIFT_MODE=REPLAY`, neither PostgreSQL nor the rates service
//! is contacted: the SDK answers every statement and call from the recording, and it sends
//! an inbound replay span for every replayed request; with `TUSK_COVERAGE=true` and built
//! with `-C instrument-coverage` it answers coverage snapshot requests. Its routes hold real
//! branching logic (validation, pagination, discounts, stock reservation in transactions,
//! currency conversion) split across modules, so different tests cover different code.
//!
//! # Usage
//!
//! `demo-service [--port N] [--host ADDR] [--database-url URL] [--rates-url URL]`, or
//! `PORT`, `HOST`, `DATABASE_URL`, `RATES_URL`; an empty variable counts as unset.
//!
//! - `--port`/`PORT`, `--host`/`HOST`: where to listen; default `127.0.0.1:8080`, port 0
//!   picks a free port.
//! - `--database-url`/`DATABASE_URL` (required): a `postgres://` URL of a database the
//!   service owns. At every start it drops and recreates its three tables (`products`,
//!   `orders`, `order_lines`) and seeds the catalogue, so every run begins from the same
//!   state, ids counted from 1.
//! - `--rates-url`/`RATES_URL` (required): the rates service's base URL, e.g.
//!   `http://127.0.0.1:8090`. In a replay the service need not run, but give the URL the
//!   recording was made with: a call is matched first on its exact recorded input, URL
//!   included (the CLI's fallback also matches another port, by shape).
//!
//! A missing or malformed setting, or a database that cannot be reached or set up, stops
//! the service at start with a message saying what to set. Once listening (the schema in
//! place) it prints `listening on ADDR:PORT` on stdout (the one line it prints there) so a
//! driver can find it. It shuts down gracefully on SIGTERM, ctrl-c or `POST /shutdown`, and
//! then exits normally, which writes the LLVM profile of an instrumented build.
//!
//! # Routes (stable: the SDK's end-to-end tests and the demo drive them)
//!
//! | route | answers |
//! |---|---|
//! | `GET /health` | `ok` (liveness: no database, no rates service) |
//! | `GET /products?category=&in_stock=true&page=&per_page=` | a page `{items, page, per_page, total, has_more}`; 422 for `page=0` or `per_page` outside 1..=50 |
//! | `GET /products/{id}` | the product, 404 if unknown |
//! | `GET /products/{id}?currency=C` | the product and `converted: {currency, rate_micros, decimals, price_minor}` (the price in C's minor unit, from the rates service; `USD` needs no call); 404 unknown product, 422 if C is not three letters or the rates service does not know it, 502 if it cannot be reached |
//! | `POST /products` `{name, category, price_cents, stock?}` | 201 with the product; 422 on invalid fields (`price_cents` 1..=100000000); 409 on a duplicate name (any case) |
//! | `POST /products/{id}/restock` `{quantity}` | the product; 422 unless 1..=1000; 404 |
//! | `POST /orders` `{customer, items: [{product_id, quantity}], discount_code?}` | 201 with the order and its quote; 422 on invalid input or discount code; 404 unknown product; 409 short stock (one transaction: nothing is reserved unless all is) |
//! | `GET /orders/{id}` | the order, 404 if unknown |
//! | `GET /orders/{id}/quote?currency=C` | `{order_id, currency, rate_micros, decimals, subtotal, discount, shipping, total, applied}` in C's minor unit; 422 without C or for a currency not known; 404 unknown order; 409 cancelled order; 502 rates service unreachable |
//! | `POST /orders/{id}/cancel` | the cancelled order (stock restored); 409 if already cancelled |
//! | `POST /shutdown` | 202, then a graceful shutdown |
//!
//! Errors are JSON: `{"error": "invalid" | "not_found" | "conflict" | "upstream" |
//! "internal", "message": "..."}` (`upstream`: 502, the rates service; `internal`: 500, the
//! database, its error in the message). Discount codes: `SAVE10` (10 % off), `FLAT5` (5.00
//! off from 20.00), `FREESHIP`; lines of 10 units or more get 5 % off; shipping is free from
//! 50.00. Amounts are US cents.
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
mod rates;
mod routes;
mod store;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use tokio::sync::Notify;

use crate::config::Config;
use crate::rates::Rates;
use crate::store::AppState;

/// Connections of the database pool.
const MAX_CONNECTIONS: u32 = 8;
/// How long a request (or the start) waits for a database connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call to the rates service may take.
const RATES_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let coverage = cov_sdk::init();

    let config = config::read(std::env::args().skip(1), |name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(config, &coverage))
    // `coverage` is dropped here, after the server: the recorder writes what it still
    // holds (for up to 2 s) before the process exits.
}

async fn serve(config: Config, coverage: &cov_sdk::Coverage) -> anyhow::Result<()> {
    // Listen for signals before announcing the address, so a driver that sends SIGTERM
    // right after reading it still gets a graceful shutdown.
    let signals = ShutdownSignals::install()?;
    let listener = tokio::net::TcpListener::bind(config.address)
        .await
        .with_context(|| format!("cannot listen on {}", config.address))?;
    let local = listener.local_addr()?;

    // The database: in RECORD mode through the SDK's recording proxy, in REPLAY mode its
    // replay server, otherwise the URL itself.
    let database_url = coverage
        .postgres_url(&config.database_url)
        .context("DATABASE_URL")?;
    let db = connect(coverage, &database_url).await.with_context(|| {
        format!(
            "cannot connect to PostgreSQL at {}",
            redacted(&config.database_url)
        )
    })?;
    store::reset(&db)
        .await
        .context("cannot create the schema and seed the catalogue")?;
    let http = reqwest::Client::builder()
        .timeout(RATES_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let http = reqwest_middleware::ClientBuilder::new(http)
        .with(coverage.reqwest_middleware())
        .build();
    let state = AppState::new(db.clone(), Rates::new(http, config.rates_url));
    let over_http = state.shutdown.clone();
    let router = routes::router(state, |api| api.layer(coverage.layer()));
    // Everything is set up before the address is announced, so the start-up code has run
    // (and its statements are pre-app-start ones) by the time a driver (or the Tusk CLI)
    // sees it and takes its baseline.
    coverage.mark_ready();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()?;
    drop(stdout);

    axum::serve(listener, router)
        .with_graceful_shutdown(signals.wait(over_http))
        .await
        .context("server error")?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The database pool. Each connection carries the SDK's attribution marker of the request
/// it is taken for (sent when an idle connection is handed out and when a new one is
/// opened, both in the acquiring task), so that in RECORD and REPLAY mode its statements
/// belong to that request; outside them there is no marker and nothing is sent.
///
/// One connection is opened on its own first: a pool that cannot connect says only that it
/// timed out, the driver says why (refused, unknown database, authentication).
///
/// Then every connection of the pool is opened at start and kept open (no idle timeout, no
/// maximum lifetime), so a request always gets an idle connection (or waits for one) and
/// never opens one. Otherwise which hook ran for a request, `before_acquire` or
/// `after_connect`, would depend on whether the previous request's connection was back in
/// the pool yet (sqlx returns it from a task of its own), and so would the request's
/// coverage: two replays of the same tests would differ in those lines.
async fn connect(coverage: &cov_sdk::Coverage, url: &str) -> Result<PgPool, sqlx::Error> {
    use sqlx::Connection;
    let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect(url))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    probe.close().await?;
    let on_acquire = coverage.clone();
    let on_connect = coverage.clone();
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .before_acquire(move |connection, _| {
            let marker = on_acquire.postgres_marker();
            Box::pin(async move { send_marker(connection, marker).await.map(|()| true) })
        })
        .after_connect(move |connection, _| {
            let marker = on_connect.postgres_marker();
            Box::pin(send_marker(connection, marker))
        })
        .connect(url)
        .await?;
    let mut opened = Vec::with_capacity(MAX_CONNECTIONS as usize);
    for _ in 0..MAX_CONNECTIONS {
        opened.push(pool.acquire().await?);
    }
    drop(opened);
    Ok(pool)
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "DATABASE_URL (not a URL)".to_owned(),
    }
}

/// Sends the SDK's attribution marker, if any, with the simple protocol.
async fn send_marker(
    connection: &mut PgConnection,
    marker: Option<String>,
) -> Result<(), sqlx::Error> {
    if let Some(marker) = marker {
        sqlx::raw_sql(AssertSqlSafe(marker))
            .execute(&mut *connection)
            .await?;
    }
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
