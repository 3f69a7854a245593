//! Building the demo service with coverage instrumentation, and running it as the Tusk CLI
//! runs a service: a child process with the CLI's environment, stopped at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use cov_driver::ServiceProcess;

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

/// The demo service as the tests build it: cov-testkit's branch build, whose flags are
/// exactly [`RUSTFLAGS`] (checked here) and which the SDK's end-to-end tests share, so the
/// workspace's tests build the service once.
#[cfg(test)]
pub(crate) fn build_for_tests() -> PathBuf {
    let options = cov_testkit::BuildOptions {
        release: false,
        branch: true,
    };
    assert_eq!(options.rustflags(), RUSTFLAGS);
    cov_testkit::build_instrumented(PACKAGE, PACKAGE, &options)
}

/// Builds the demo service with [`RUSTFLAGS`] and returns the executable's path. Cargo's
/// own progress goes to this process's stderr; `--quiet` silences it.
pub(crate) fn build(root: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let target_dir = target_dir(root);
    let mut command = cov_testkit::cargo_build(&target_dir);
    command
        .args(["--package", PACKAGE, "--bin", PACKAGE])
        .env("RUSTFLAGS", RUSTFLAGS)
        .env("RUSTC_BOOTSTRAP", "1");
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

/// A running demo service; killed when dropped, so a driver that failed half-way never
/// leaves it running.
pub(crate) struct Service {
    process: ServiceProcess,
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
            .env_remove(cov_transport::ENV_HOST)
            .env_remove(cov_transport::ENV_PORT)
            .env_remove(cov_transport::ENV_SOCKET);
        for (name, value) in env {
            command.env(name, value);
        }
        let process = ServiceProcess::spawn(&mut command)
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Self { process })
    }

    /// Waits for the `listening on ADDR` line and returns `ADDR`.
    pub(crate) fn wait_for_address(&mut self, timeout: Duration) -> anyhow::Result<SocketAddr> {
        self.process.wait_for_address(timeout).with_context(|| {
            match self.process.try_exit_status() {
                Some(status) => format!("the service exited ({status}) before it listened"),
                None => "the service did not print `listening on ADDR`".to_owned(),
            }
        })
    }

    /// Asks the service to stop with `SIGTERM`, as the Tusk CLI does.
    pub(crate) fn terminate(&mut self) -> anyhow::Result<()> {
        self.process
            .terminate()
            .context("asking the service to stop")
    }

    /// The exit status, if the service has exited.
    pub(crate) fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_exit_status()
    }

    /// Waits up to `timeout` for the service to exit (after it was asked to stop); kills it when
    /// it does not and returns an error then.
    pub(crate) fn wait_for_exit(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        match self.process.wait_for_exit(timeout)? {
            Some(status) => Ok(status),
            None => {
                self.process.kill()?;
                bail!(
                    "the service did not exit within {timeout:?} of being asked to stop; killed it"
                )
            }
        }
    }
}
