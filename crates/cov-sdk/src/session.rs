//! Setting up the session with the CLI: the source filter, the collector started in the
//! background, and the connection (with a bounded retry); then
//! [`serve`](crate::serve) answers the CLI until it leaves or a stop is requested.

use std::sync::Arc;
use std::time::Duration;

use cov_core::filter::{RootOrigin, SourceFilter, SourceFilterBuilder};
use cov_transport::sdk::{SdkConnection, SdkOptions};
use cov_transport::{Endpoint, TransportError};
use tokio::sync::watch;

use crate::builder::Builder;
use crate::env::Environment;
use crate::handshake::{self, Toolchain};
use crate::mocks::{Link, MockService, Pending, ServingRuntime};
use crate::own_crates;
use crate::runner::{SdkLog, SdkThread};
use crate::serve::{self, ServeError, Snapshots, Source};

/// The SDK thread's whole life: set up, connect, serve until the CLI leaves or a stop is
/// requested.
pub(crate) async fn session(work: SdkThread, mut stop: watch::Receiver<bool>) {
    let SdkThread {
        builder,
        environment,
        config,
        collect,
        spans,
        mocks,
    } = work;
    let MockService {
        deadlines,
        link,
        pending,
        serving,
    } = mocks;
    // Mock requests wait for the connection from the start (their deadline counts from when
    // it is up); they fail at once when the session ends, however it ends.
    tokio::spawn(deadlines.run());
    serving.started();
    let _gone = LinkGone {
        link: &link,
        pending: &pending,
        serving: &serving,
    };
    #[cfg(test)]
    if builder.panic_on_start {
        panic!("injected by a test");
    }
    let endpoint = match &builder.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => match Endpoint::from_lookup(environment.lookup()) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                tracing::warn!(%error, "coverage SDK not connecting to the Tusk CLI");
                return;
            }
        },
    };
    // The collector (decoding the mapping can take seconds) is built on the blocking
    // thread while the handshake proceeds; the first snapshot request waits for it.
    let source = if collect {
        match source_filter(&builder, &environment) {
            Ok(filter) => start_collector(filter),
            Err(error) => {
                tracing::warn!(%error, "coverage is enabled but cannot be collected");
                Source::Unavailable(error)
            }
        }
    } else {
        Source::NotEnabled
    };
    let service_id = config.service_id;
    let request = handshake::connect_request(&service_id, &Toolchain::of_current_exe());
    let mut options = SdkOptions::default();
    options
        .handshake_timeout(builder.handshake_timeout)
        .write_timeout(builder.write_timeout);

    let connection = tokio::select! {
        connection = connect_with_retry(&endpoint, request, &mut options, builder.connect_timeout) => connection,
        _ = stop.wait_for(|&stopping| stopping) => return,
    };
    let Some(connection) = connection else { return };
    tracing::info!(
        %endpoint,
        service_id,
        coverage = collect,
        "coverage SDK connected to the Tusk CLI"
    );
    link.send_replace(Link::Connected(connection.sender().clone()));
    let max_frame_len = connection.max_frame_len();
    tokio::select! {
        () = serve::serve(connection, source, max_frame_len, spans, &pending) => {}
        _ = stop.wait_for(|&stopping| stopping) => {
            tracing::debug!("coverage SDK stopping on request");
        }
    }
}

/// Marks the link gone, fails the mock requests in flight and says the runtime no longer
/// serves when the session ends.
struct LinkGone<'a> {
    link: &'a watch::Sender<Link>,
    pending: &'a Pending,
    serving: &'a ServingRuntime,
}

impl Drop for LinkGone<'_> {
    fn drop(&mut self) {
        self.link.send_replace(Link::Gone);
        self.pending.fail_all();
        self.serving.ended();
    }
}

/// Builds the collector for the files `filter` selects, on the blocking thread.
fn start_collector(filter: SourceFilterBuilder) -> Source {
    let log = SdkLog::current();
    Source::Pending(tokio::task::spawn_blocking(move || {
        log.scope(|| {
            let started = std::time::Instant::now();
            let filter = select_files(&filter)?;
            let built = cov_collector::Collector::builder()
                .file_filter(move |path: &str| filter.matches(path))
                .build();
            match built {
                Ok(collector) => {
                    tracing::debug!(elapsed = ?started.elapsed(), "coverage collector ready");
                    Ok(Arc::new(collector) as Arc<dyn Snapshots>)
                }
                Err(error) => {
                    tracing::warn!(%error, "coverage is enabled but cannot be collected");
                    Err(ServeError::Collector(Arc::new(error)))
                }
            }
        })
    }))
}

/// The source filter for this program's coverage mapping: the root found in the mapping when
/// the current directory holds none of the program's files, and an error (logged as a
/// warning) naming the root, the current directory and where the files are when nothing is
/// selected. An executable without a mapping gets the plain filter, and the collector says
/// what is wrong with it.
fn select_files(filter: &SourceFilterBuilder) -> Result<SourceFilter, ServeError> {
    let filter_error = |error| ServeError::Filter(Arc::new(error));
    let Ok(units) = cov_collector::compilation_units() else {
        return filter.build().map_err(filter_error);
    };
    let selection = filter.build_for(&units).map_err(filter_error)?;
    if let Some(none) = selection.no_files(&units) {
        tracing::warn!(error = %none, "coverage is enabled but no source file is selected");
        return Err(ServeError::NoSourceFiles(Arc::new(none)));
    }
    if let RootOrigin::CompilationDir { current_dir } = &selection.origin {
        tracing::info!(
            root = %selection.filter.root().display(),
            current_dir = %current_dir.display(),
            "source root taken from the coverage mapping: the current directory holds none of the program's files"
        );
    }
    Ok(selection.filter)
}

/// The filter of the service's own files: the builder's root and globs, cargo's home from
/// `CARGO_HOME` or `HOME`, and the SDK's own crates left out by their directories.
fn source_filter(
    builder: &Builder,
    environment: &Environment,
) -> Result<SourceFilterBuilder, ServeError> {
    let mut filter = SourceFilter::builder();
    for (_, dir) in own_crates::source_dirs() {
        filter.omit_dir(dir);
    }
    if let Some(root) = &builder.source_root {
        filter.root(root);
    }
    if let Some(cargo_home) = environment.cargo_home() {
        filter.cargo_home(cargo_home);
    }
    for pattern in &builder.include {
        filter.include(pattern);
    }
    for pattern in &builder.exclude {
        filter.exclude(pattern);
    }
    // Invalid globs are reported at once; the root is chosen with the mapping.
    filter
        .build()
        .map_err(|error| ServeError::Filter(Arc::new(error)))?;
    Ok(filter)
}

/// Connects within `budget`, retrying with a growing pause; one warning when it gives up.
/// A rejection by the CLI is final at once: retrying would be rejected again.
async fn connect_with_retry(
    endpoint: &Endpoint,
    request: cov_proto::ConnectRequest,
    options: &mut SdkOptions,
    budget: Duration,
) -> Option<SdkConnection> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut pause = Duration::from_millis(50);
    let mut attempts = 0_u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        options.connect_timeout(remaining.max(Duration::from_millis(100)));
        let error = match cov_transport::sdk::connect(endpoint, request.clone(), options).await {
            Ok(connection) => return Some(connection),
            Err(error) => error,
        };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if matches!(error, TransportError::Rejected { .. }) || remaining.is_zero() {
            tracing::warn!(
                attempts,
                ?budget,
                %error,
                "coverage SDK gave up reaching the Tusk CLI; the service runs on without coverage"
            );
            return None;
        }
        // The attempt number stays in the message too: tests/reliability's faults test
        // reads the log as text to see the retries.
        tracing::debug!(
            attempts,
            %error,
            "coverage SDK cannot reach the Tusk CLI yet (attempt {attempts})"
        );
        tokio::time::sleep(pause.min(remaining)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
