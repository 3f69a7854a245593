//! Building the demo service with coverage instrumentation, and running it as the Tusk CLI
//! runs a service: a child process with the CLI's environment, stopped at the end.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The package and binary `cargo xtask demo` measures.
pub(crate) const PACKAGE: &str = "demo-service";

/// The RUSTFLAGS of the instrumented build: LLVM source-based coverage plus branch regions.
/// `-Zcoverage-options=branch` is unstable, hence `RUSTC_BOOTSTRAP=1` next to it.
pub(crate) const RUSTFLAGS: &str = "-C instrument-coverage -Z coverage-options=branch";

/// Where the instrumented build goes: a target directory of its own, so it never
/// invalidates the normal build and later runs reuse it.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    root.join("target/cov-demo/build")
}

/// Builds the demo service with [`RUSTFLAGS`] and returns the executable's path. Cargo's
/// own progress goes to this process's stderr; `--quiet` silences it.
pub(crate) fn build(root: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let target_dir = target_dir(root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--package", PACKAGE, "--bin", PACKAGE])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", RUSTFLAGS)
        .env("RUSTC_BOOTSTRAP", "1")
        // An outer build (cargo-llvm-cov, a CI wrapper) may set these; ours must win.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        // Build scripts and proc macros are instrumented too and write a profile when
        // they exit: keep those inside the target directory, not the workspace root.
        .env(
            "LLVM_PROFILE_FILE",
            target_dir.join("build-profiles/%m-%p.profraw"),
        );
    if quiet {
        command
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .with_context(|| format!("cannot start {command:?}"))?;
        if !output.status.success() {
            bail!(
                "building the instrumented {PACKAGE} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    } else {
        let status = command
            .status()
            .with_context(|| format!("cannot start {command:?}"))?;
        if !status.success() {
            bail!("building the instrumented {PACKAGE} failed ({status})");
        }
    }
    let binary = target_dir
        .join("debug")
        .join(format!("{PACKAGE}{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        bail!("cargo built {PACKAGE} but {} is missing", binary.display());
    }
    Ok(binary)
}

/// A running demo service.
pub(crate) struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Service {
    /// Starts `binary` on a free port in `dir` with `env` added to this process's
    /// environment; its stderr goes to `log`.
    pub(crate) fn start(
        binary: &Path,
        dir: &Path,
        env: &[(&str, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .args(["--port", "0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            // The service's own settings must not leak in from the caller's environment.
            .env_remove("PORT")
            .env_remove("HOST")
            .env_remove("TUSK_MOCK_HOST")
            .env_remove("TUSK_MOCK_PORT")
            .env_remove("TUSK_MOCK_SOCKET");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// Waits for the `listening on ADDR` line and returns `ADDR`.
    pub(crate) fn wait_for_address(&mut self, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        return Ok(address.trim().to_owned());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the service did not print `listening on ADDR` within {timeout:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!("the service exited ({status}) before it listened");
                }
            }
        }
    }

    /// Asks the service to stop with `SIGTERM`, as the Tusk CLI does.
    pub(crate) fn terminate(&mut self) -> anyhow::Result<()> {
        // `kill` rather than a signal crate: this is the one signal the tasks send.
        crate::provision::run(
            Command::new("kill")
                .args(["-s", "TERM"])
                .arg(self.child.id().to_string()),
        )
    }

    /// The exit status, if the service has exited.
    pub(crate) fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the service to exit (after it was asked to stop); kills it when
    /// it does not and returns an error then.
    pub(crate) fn wait_for_exit(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the service did not exit within {timeout:?} of being asked to stop; killed it")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A driver that failed half-way must not leave the service running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
