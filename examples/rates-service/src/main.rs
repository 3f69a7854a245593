//! The `rates-service` binary: serves [`rates_service::router`] on loopback.
//!
//! `rates-service [--port N]`, or `PORT`; default 8090, port 0 picks a free port. Once
//! listening it prints `listening on ADDR:PORT` on stdout (the one line it prints there) so
//! a driver can find it, and it stops gracefully on SIGTERM or ctrl-c.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// The port used when neither `--port` nor `PORT` gives one.
const DEFAULT_PORT: u16 = 8090;

fn main() -> anyhow::Result<()> {
    let port = port(std::env::args().skip(1), std::env::var("PORT").ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port))))
}

/// `--port N` or `--port=N`, then `PORT` (empty counts as unset), then [`DEFAULT_PORT`].
fn port(args: impl IntoIterator<Item = String>, env: Option<String>) -> anyhow::Result<u16> {
    let mut args = args.into_iter();
    let mut given = None;
    while let Some(arg) = args.next() {
        given = Some(match arg.split_once('=') {
            Some(("--port", value)) => value.to_owned(),
            None if arg == "--port" => args.next().context("--port needs a value")?,
            _ => bail!("unknown argument `{arg}` (usage: rates-service [--port N])"),
        });
    }
    match given.or(env.filter(|value| !value.is_empty())) {
        Some(text) => text
            .parse()
            .with_context(|| format!("invalid port `{text}`")),
        None => Ok(DEFAULT_PORT),
    }
}

async fn serve(address: SocketAddr) -> anyhow::Result<()> {
    // Signals are handled before the address is announced, so a driver that stops the
    // service right after reading it still gets a graceful shutdown.
    let stop = stop_signal()?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    axum::serve(listener, rates_service::router())
        .with_graceful_shutdown(stop)
        .await
        .context("server error")
}

/// Completes on SIGTERM or SIGINT (ctrl-c).
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on ctrl-c.
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> anyhow::Result<u16> {
        port(
            args.iter().map(|arg| (*arg).to_owned()),
            env.map(str::to_owned),
        )
    }

    #[test]
    fn flag_beats_environment_beats_default() {
        assert_eq!(parse(&[], None).unwrap(), DEFAULT_PORT);
        assert_eq!(parse(&[], Some("")).unwrap(), DEFAULT_PORT);
        assert_eq!(parse(&[], Some("9")).unwrap(), 9);
        assert_eq!(parse(&["--port", "0"], Some("9")).unwrap(), 0);
        assert_eq!(parse(&["--port=7"], None).unwrap(), 7);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["--port"], None).is_err());
        assert!(parse(&["--port", "70000"], None).is_err());
        assert!(parse(&["--verbose"], None).is_err());
    }
}
