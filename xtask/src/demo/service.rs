//! Building the demo service with coverage instrumentation, and how it is launched.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use cov_driver::Launch;

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

/// How the demo service is started: on a free port, in its own package directory (the
/// SDK's default source root, so the report holds the service's files and nothing else),
/// with its database and rates service URLs, writing its whole-run profile to `profraw`
/// and its log to `log`.
pub(crate) fn launch(
    root: &Path,
    binary: &Path,
    profraw: &Path,
    log: &Path,
    database_url: &str,
    rates_url: &str,
) -> Launch {
    let mut launch = Launch::new(binary);
    launch
        .args(["--port", "0"])
        .current_dir(root.join("examples").join(PACKAGE))
        // The service's own settings must not leak in from the caller's environment.
        .env_remove("PORT")
        .env_remove("HOST")
        .env("DATABASE_URL", database_url)
        .env("RATES_URL", rates_url)
        .env("LLVM_PROFILE_FILE", profraw)
        .log(log);
    launch
}
