//! `cargo xtask bench`: the collector and the SDK against the llvm-cov pipeline, on
//! identical inputs, in one run. One module per thing measured: `collector` (inside, and
//! on the profile of, `bench-service`), `pipeline` (llvm-profdata + llvm-cov on the same
//! binary and profile), `sdk_cost` (the SDK's cost to the demo service), `outbound` (an
//! application's outbound HTTP calls and PostgreSQL statements through the SDK off,
//! recording and replaying, against the same calls made directly); `stats` and `results`
//! (the JSON and the table) serve them all.
//!
//! What runs where, and why:
//! - `fixtures/bench-service` (built `--release` with `-C instrument-coverage`, like every
//!   crate of its graph) is the demo service's routes on axum/hyper/tokio plus an in-process
//!   `Collector`. It times the mapping load, counts the bytes the collector holds (counting
//!   allocator), times `baseline()` and `delta()` idle and while our load generator drives
//!   the routes, and dumps the raw profile of its counters at the moment of a snapshot, as a
//!   user without the collector would for each test.
//! - `fixtures/bench-tools` (built `--release`, uninstrumented) runs the offline decoder on
//!   that profile as `cargo xtask lcov` does, and is the keep-alive HTTP load generator: both
//!   must be optimized, and this xtask is a debug build.
//! - `llvm-profdata merge -sparse` + `llvm-cov export -format=lcov` run on the very same
//!   binary and profile; their LCOV is compared with ours (same `DA`/`BRDA` set).
//! - `examples/demo-service` itself (same instrumented build) measures the SDK's cost: its
//!   request throughput with the SDK off (`TUSK_DRIFT_MODE` unset), on but idle, and on with
//!   a snapshot every 100 ms requested over the real Tusk protocol by this xtask playing the
//!   CLI. Configurations are interleaved round by round so that drift of a shared machine
//!   hits all of them alike; each figure is the median over rounds.
//! - `fixtures/bench-outbound` (built `--release`, uninstrumented: services record in their
//!   ordinary builds) is an application whose inbound requests go through the SDK's layer
//!   and make their calls both directly and through the SDK, side by side, to a local HTTP
//!   server and to PostgreSQL; in a replay its SDK asks `bench-outbound mock-cli`, which
//!   plays the CLI with cov-driver's `TraceMocks`, over the unix socket.
//!
//! Nothing here is a timed assertion: targets are printed next to the figures.

mod collector;
mod outbound;
mod pipeline;
mod results;
mod sdk_cost;
mod stats;

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use cov_driver::ServiceProcess;

use self::results::{BenchResults, render_table, to_json};
use crate::flags::Bench as Options;
use crate::provision;

/// Keep-alive connections of the load generator.
const LOAD_CONNECTIONS: usize = 4;

/// Runs the task.
pub(crate) fn run(options: &Options) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let target_dir = target_dir(&root);
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    // The demo service's own sources, which bench-service compiles in through `#[path]`
    // (so their mapped paths read `fixtures/bench-service/src/../../../examples/...`).
    let service_sources = "/examples/demo-service/src/";

    let mut results = BenchResults {
        machine: machine_description(),
        sdk_only: options.sdk_only,
        outbound_only: options.outbound_only,
        ..BenchResults::default()
    };
    if !options.outbound_only {
        let tools_dir = provision::ensure_llvm_tools()?;
        let binaries = Binaries::build(&target_dir)?;
        if !options.sdk_only {
            let collector_run = collector::measure(
                &binaries,
                service_sources,
                work.path(),
                options,
                &mut results,
            )?;
            pipeline::measure(
                &binaries,
                &tools_dir,
                service_sources,
                work.path(),
                &collector_run,
                &mut results,
            )?;
        }
        match sdk_cost::measure(&binaries, work.path(), options) {
            Ok(overhead) => overhead.record(&mut results),
            Err(error) => {
                eprintln!("bench: SDK overhead not measured: {error:#}");
                results.sdk_note = Some(format!("{error:#}"));
            }
        }
    }
    if !options.sdk_only {
        let measured = outbound::build(&target_dir)
            .and_then(|binary| outbound::measure(&binary, work.path(), options.calls));
        match measured {
            Ok(figures) => results.outbound = Some(figures),
            Err(error) => {
                eprintln!("bench: outbound calls not measured: {error:#}");
                results.outbound_note = Some(format!("{error:#}"));
            }
        }
    }

    println!("{}", render_table(&results));
    if let Some(path) = &options.json {
        std::fs::write(path, to_json(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// Where the bench builds its programs: `CARGO_TARGET_DIR` when set (relative to the
/// current directory, as cargo reads it), else the workspace's `target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir)),
        None => root.join("target"),
    }
}

/// The programs the collector and SDK-cost parts run.
pub(super) struct Binaries {
    pub(super) bench_service: PathBuf,
    pub(super) demo_service: PathBuf,
    pub(super) bench_tools: PathBuf,
    /// The offline path as `cargo xtask lcov` runs it, one fresh process per run.
    pub(super) cov_lcov: PathBuf,
}

impl Binaries {
    /// Builds the instrumented release programs into `<target>/cov-fixtures/release` (the
    /// directory cov-testkit's release fixtures use when the target directory is the
    /// workspace's, so the dependency graph is shared) and the uninstrumented tools into
    /// `<target>/release`.
    fn build(target_dir: &Path) -> anyhow::Result<Binaries> {
        let instrumented_dir = target_dir.join("cov-fixtures/release");
        eprintln!("bench: building demo-service and bench-service (release, instrumented)");
        provision::run(
            cargo_build(&instrumented_dir)
                .args(["--package", "demo-service", "--package", "bench-service"])
                .env("RUSTFLAGS", "-C instrument-coverage"),
        )?;
        eprintln!("bench: building bench-tools (release)");
        provision::run(cargo_build(target_dir).args(["--package", "bench-tools"]))?;
        Ok(Binaries {
            bench_service: release_binary(&instrumented_dir, "bench-service")?,
            demo_service: release_binary(&instrumented_dir, "demo-service")?,
            bench_tools: release_binary(target_dir, "bench-tools")?,
            cov_lcov: release_binary(target_dir, "cov-lcov")?,
        })
    }
}

/// The release binary `name` that cargo built into `target_dir`.
fn release_binary(target_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = target_dir
        .join("release")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        path.is_file(),
        "cargo built {name} but {} is missing",
        path.display()
    );
    Ok(path)
}

/// A locked release build into `target_dir` that sees none of the caller's flags, and whose
/// instrumented build scripts write their profiles there too.
fn cargo_build(target_dir: &Path) -> Command {
    let mut command = cov_testkit::cargo_build(target_dir);
    command.args(["--release", "--locked"]);
    command
}

/// Reads `listening on ADDR` (the first line both services print) from `stdout`, which the
/// caller keeps reading: bench-service answers its commands there.
pub(super) fn read_listening_line(stdout: &mut impl BufRead) -> anyhow::Result<SocketAddr> {
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    Ok(cov_driver::parse_listening_line(&line)?)
}

/// What `bench-tools load` reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LoadReport {
    pub(super) requests: u64,
    pub(super) seconds: f64,
    pub(super) errors: u64,
}

impl LoadReport {
    fn from_json(value: &serde_json::Value) -> anyhow::Result<LoadReport> {
        Ok(LoadReport {
            requests: integer(&value["requests"])?,
            seconds: float(&value["seconds"])?,
            errors: integer(&value["errors"])?,
        })
    }

    pub(super) fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// `bench-tools load` running until [`LoadGenerator::finish`].
/// Killed when dropped before it finished.
pub(super) struct LoadGenerator {
    process: ServiceProcess,
}

impl LoadGenerator {
    pub(super) fn start(tools: &Path, address: SocketAddr) -> anyhow::Result<LoadGenerator> {
        let process = ServiceProcess::spawn(
            Command::new(tools)
                .args([
                    "load",
                    &address.to_string(),
                    &LOAD_CONNECTIONS.to_string(),
                    "0",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )
        .with_context(|| format!("starting {}", tools.display()))?;
        Ok(LoadGenerator { process })
    }

    /// Closes the generator's standard input (its signal to stop) and reads its report.
    pub(super) fn finish(mut self) -> anyhow::Result<LoadReport> {
        drop(self.process.child_mut().stdin.take());
        let mut stdout = Vec::new();
        self.process
            .child_mut()
            .stdout
            .take()
            .context("no stdout")?
            .read_to_end(&mut stdout)?;
        let status = self.process.wait()?;
        anyhow::ensure!(status.success(), "bench-tools load exited with {status}");
        LoadReport::from_json(&serde_json::from_slice(&stdout)?)
    }
}

/// A blocking load run of `seconds` against `address` with the requests of `mix`
/// (`bench-tools load`'s `all` or `local`).
pub(super) fn load_for(
    tools: PathBuf,
    address: SocketAddr,
    seconds: f64,
    mix: &'static str,
) -> impl FnOnce() -> anyhow::Result<LoadReport> {
    move || {
        let value = capture_json(Command::new(tools).args([
            "load",
            &address.to_string(),
            &LOAD_CONNECTIONS.to_string(),
            &seconds.to_string(),
            mix,
        ]))?;
        LoadReport::from_json(&value)
    }
}

/// Runs `command` and parses its standard output as one JSON value.
pub(super) fn capture_json(command: &mut Command) -> anyhow::Result<serde_json::Value> {
    let output = provision::capture(command)?;
    serde_json::from_str(&output).with_context(|| format!("expected JSON, got {output:?}"))
}

/// A JSON number.
pub(super) fn float(value: &serde_json::Value) -> anyhow::Result<f64> {
    value
        .as_f64()
        .with_context(|| format!("expected a number, got {value}"))
}

/// A JSON non-negative integer.
pub(super) fn integer(value: &serde_json::Value) -> anyhow::Result<u64> {
    value
        .as_u64()
        .with_context(|| format!("expected an integer, got {value}"))
}

/// A JSON array of numbers.
pub(super) fn floats(value: &serde_json::Value) -> anyhow::Result<Vec<f64>> {
    value
        .as_array()
        .with_context(|| format!("expected an array, got {value}"))?
        .iter()
        .map(float)
        .collect()
}

/// CPU model, cores and memory, from `/proc`.
fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {memory_gib:.1} GiB RAM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listening_line() {
        let mut input = &b"listening on 127.0.0.1:4321\n"[..];
        assert_eq!(
            read_listening_line(&mut input).unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 4321))
        );
        let mut input = &b"hello\n"[..];
        assert!(read_listening_line(&mut input).is_err());
    }
}
