//! A service under test: an instrumented program that links the SDK, launched with
//! cov-driver's [`Launch`] and the Tusk variables, its log captured, its memory measured
//! from `/proc`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use cov_driver::{HttpClient, Launch, ServiceProcess};
use cov_testkit::{BuildOptions, build_instrumented};

/// The log filter every service under test runs with: the SDK and the transport at debug
/// level, so each case's log says what happened.
pub const LOG_FILTER: &str = "info,cov_sdk=debug,cov_transport=debug,cov_collector=debug";

/// The instrumented build variant of the services under test: the branch-coverage debug
/// build the SDK's end-to-end tests and the demo's test use too, so that the services and
/// their whole dependency graph are built instrumented once for all of them.
const SERVICE_BUILD: BuildOptions = BuildOptions {
    release: false,
    branch: true,
};

/// The instrumented `reliability-host` fixture.
pub fn host_binary() -> PathBuf {
    build_instrumented("reliability-host", "reliability-host", &SERVICE_BUILD)
}

/// The instrumented `demo-service`.
pub fn demo_binary() -> PathBuf {
    build_instrumented("demo-service", "demo-service", &SERVICE_BUILD)
}

/// A running service; killed when dropped.
#[derive(Debug)]
pub struct Service {
    process: ServiceProcess,
    address: SocketAddr,
    dir: Option<tempfile::TempDir>,
    log: PathBuf,
    name: String,
}

/// A service after it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// The raw profile it wrote at exit, if any.
    pub profraw: Option<PathBuf>,
    /// Its whole log.
    pub log: String,
    /// Holds the profile and the log.
    pub dir: tempfile::TempDir,
}

/// A launch of `binary` in Tusk replay mode with coverage on, connecting to the unix
/// socket `socket`, logging the SDK and the transport at debug level ([`LOG_FILTER`]).
pub fn replay_launch(binary: &Path, socket: &Path) -> Launch {
    let mut launch = Launch::new(binary);
    launch
        .env("TUSK_DRIFT_MODE", "REPLAY")
        .env("TUSK_COVERAGE", "true")
        .channel(&cov_transport::Endpoint::unix(socket))
        .env("RUST_LOG", LOG_FILTER);
    launch
}

impl Service {
    /// Starts the service `launch` describes on a free port (`PORT=0`), its profile and its
    /// log in a temporary directory of its own, and waits (up to a minute) until it prints
    /// its address.
    pub fn start(launch: &Launch) -> Service {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let log = dir.path().join("service.log");
        let mut launch = launch.clone();
        launch
            .env("PORT", "0")
            .env("LLVM_PROFILE_FILE", dir.path().join("service.profraw"))
            .log(&log);
        let name = launch
            .program()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut process = launch
            .start()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        let address = process
            .wait_for_address(Duration::from_secs(60))
            .unwrap_or_else(|error| {
                panic!(
                    "{name} did not announce its address ({error}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Service {
            process,
            address,
            dir: Some(dir),
            log,
            name,
        }
    }

    /// The HTTP address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// A fresh keep-alive HTTP client of this service; each request times out after 10 s.
    pub fn client(&self) -> HttpClient {
        HttpClient::new(self.address, Duration::from_secs(10))
    }

    /// `GET path` on a new connection; panics unless the service answers 200 within 5 s.
    pub fn get_ok(&self, path: &str) -> String {
        let started = Instant::now();
        let (status, body) = self
            .client()
            .get(path)
            .unwrap_or_else(|error| panic!("GET {path} on {}: {error}", self.name));
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "GET {path} took {:?}: the application was blocked",
            started.elapsed()
        );
        body
    }

    /// Resident memory in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("reading the service's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`; panics with the log after `timeout`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not log {text:?} within {timeout:?}; its log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The names of the service's threads the SDK started (`cov-sdk`, and
    /// `cov-sdk-blocking` for its blocking pool, of which the kernel keeps 15 characters).
    pub fn sdk_threads(&self) -> Vec<String> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return Vec::new();
        };
        tasks
            .filter_map(|task| {
                // A thread can end between listing and reading: it no longer counts.
                let comm = std::fs::read_to_string(task.ok()?.path().join("comm")).ok()?;
                let name = comm.trim_end().to_owned();
                name.starts_with("cov-sdk").then_some(name)
            })
            .collect()
    }

    /// Waits until no thread of the SDK is left in the service (after it gave up or
    /// stopped): from then on nothing of the SDK runs, so nothing more of it can be logged.
    /// Panics with the log after `timeout`.
    pub fn wait_until_the_sdk_has_stopped(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let threads = self.sdk_threads();
            if threads.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s SDK threads {threads:?} still run after {timeout:?}; its log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.try_exit_status().is_none()
    }

    /// Asserts that the log holds no panic: nothing escaped from the SDK, and the only
    /// panics allowed are the ones `allowed` names (a handler panicking on purpose).
    pub fn assert_no_panic_except(&self, allowed: &[&str]) {
        let log = self.log();
        for line in log.lines().filter(|line| line.contains("panicked")) {
            assert!(
                allowed.iter().any(|allowed| line.contains(allowed)),
                "{} panicked: {line}\nits log:\n{log}",
                self.name
            );
        }
    }

    /// Stops the service with SIGTERM (or SIGKILL after 10 s).
    pub fn stop(mut self) -> Stopped {
        let _ = self.process.terminate();
        let status = match self.process.wait_for_exit(Duration::from_secs(10)) {
            Ok(Some(status)) => status,
            _ => self.process.kill().expect("waiting for the killed service"),
        };
        let dir = self.dir.take().expect("the directory lives until stop");
        let profraw = dir.path().join("service.profraw");
        Stopped {
            status,
            profraw: profraw.is_file().then_some(profraw),
            log: std::fs::read_to_string(&self.log).unwrap_or_default(),
            dir,
        }
    }
}
