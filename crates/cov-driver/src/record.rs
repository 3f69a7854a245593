//! Recording a service under a script, as a user records one before any replay: start it
//! with `TUSK_DRIFT_MODE=RECORD` and a traces directory, send it each [`Test`]'s request,
//! stop it gracefully (so its SDK writes what it still holds), and read back the tests its
//! trace files hold, as the Tusk CLI will load them.
//!
//! Whatever the service depends on (a database, other services) must run meanwhile: a
//! recording is made against the real thing. The caller starts those and gives their
//! addresses to the [`Launch`].

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::http::HttpClient;
use crate::launch::{Launch, LaunchError};
use crate::replay::{Stop, Test};
use crate::traces::{self, TraceError};

/// How long the service may take to print its address and to exit, and a request to be
/// answered (a debug build, instrumented, on a loaded machine).
const WAIT: Duration = Duration::from_secs(60);

/// Why a recording could not be made. A request answering an unexpected status is not an
/// error: it is listed in [`Recording::failures`].
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The service could not be started.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The service exited before it listened.
    #[error("the service exited ({0}) before it listened")]
    Exited(ExitStatus),
    /// The service did not print `listening on ADDR`.
    #[error("the service did not print `listening on ADDR`: {0}")]
    NoAddress(std::io::Error),
    /// A request could not be sent or got no answer.
    #[error("{request}: {source}")]
    Http {
        /// The request, `METHOD target`.
        request: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The stop request did not answer the expected status.
    #[error("{request} answered {status}, not {expected}")]
    StopRefused {
        /// The request, `METHOD path`.
        request: String,
        /// What it answered.
        status: u16,
        /// What it had to answer.
        expected: u16,
    },
    /// `SIGTERM` could not be sent, or the exit not waited for.
    #[error("cannot stop the service: {0}")]
    Stop(std::io::Error),
    /// The service did not exit after it was asked to stop; it was killed.
    #[error("the service did not exit within {0:?} of being asked to stop; killed it")]
    NoExit(Duration),
    /// The service exited with a failure.
    #[error("the service exited with {0}")]
    Failed(ExitStatus),
    /// The traces directory holds a file the CLI would refuse.
    #[error(transparent)]
    Traces(#[from] TraceError),
}

/// What a recording produced.
#[derive(Debug)]
pub struct Recording {
    /// The traces directory.
    pub traces_dir: PathBuf,
    /// Every test its trace files hold, whatever its status, in the CLI's order
    /// ([`traces::recorded`]): each with its trace id, `x-td-trace-id` among its headers.
    pub tests: Vec<Test>,
    /// Requests whose status was not the expected one, with what came back.
    pub failures: Vec<String>,
}

/// Starts the service `launch` describes with `TUSK_DRIFT_MODE=RECORD` and
/// `TUSK_TRACES_DIR=traces_dir` (created if missing), waits for its `listening on ADDR`
/// line, sends `tests` in order, stops it as `stop` says and waits for its exit; then reads
/// the tests of `traces_dir`.
pub fn record(
    launch: &Launch,
    traces_dir: &Path,
    tests: &[Test],
    stop: &Stop,
) -> Result<Recording, RecordError> {
    std::fs::create_dir_all(traces_dir).map_err(|source| TraceError::Read {
        path: traces_dir.to_path_buf(),
        source,
    })?;
    let mut launch = launch.clone();
    launch
        .env("TUSK_DRIFT_MODE", "RECORD")
        .env("TUSK_TRACES_DIR", traces_dir);
    let mut service = launch.start()?;
    let address =
        service
            .wait_for_address(WAIT)
            .map_err(|error| match service.try_exit_status() {
                Some(status) => RecordError::Exited(status),
                None => RecordError::NoAddress(error),
            })?;
    let client = HttpClient::new(address, WAIT);
    let mut failures = Vec::new();
    for test in tests {
        let (status, body) = test.send(&client).map_err(|source| RecordError::Http {
            request: format!("{} {}", test.method, test.target),
            source,
        })?;
        if status != test.expect_status {
            failures.push(format!(
                "{}: expected {}, got {status}: {body}",
                test.name, test.expect_status
            ));
        }
    }
    match stop {
        Stop::Request {
            method,
            path,
            expect_status,
        } => {
            let request = format!("{method} {path}");
            let (status, _) =
                client
                    .send(method, path, &[], None)
                    .map_err(|source| RecordError::Http {
                        request: request.clone(),
                        source,
                    })?;
            if status != *expect_status {
                return Err(RecordError::StopRefused {
                    request,
                    status,
                    expected: *expect_status,
                });
            }
        }
        Stop::Signal => service.terminate().map_err(RecordError::Stop)?,
    }
    let exit = match service.wait_for_exit(WAIT).map_err(RecordError::Stop)? {
        Some(exit) => exit,
        None => {
            service.kill().map_err(RecordError::Stop)?;
            return Err(RecordError::NoExit(WAIT));
        }
    };
    if !exit.success() {
        return Err(RecordError::Failed(exit));
    }
    Ok(Recording {
        traces_dir: traces_dir.to_path_buf(),
        tests: traces::recorded(traces_dir)?,
        failures,
    })
}
