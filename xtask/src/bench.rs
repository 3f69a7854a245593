//! `cargo xtask bench [--json FILE] [--deltas N] [--rounds N] [--seconds S]`: the
//! collector and the SDK against the llvm-cov pipeline, on identical inputs, in one run.
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
//!
//! Nothing here is a timed assertion: targets are printed next to the figures.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::flags::Bench as Options;
use crate::provision;

/// Keep-alive connections of the load generator.
const LOAD_CONNECTIONS: usize = 4;
/// How often snapshots are requested in the "snapshots" configuration.
const SNAPSHOT_PERIOD: Duration = Duration::from_millis(100);

/// Every figure of a run. The fields named in the issue come first; the rest break them
/// down.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct BenchResults {
    pub(crate) mapping_load_ms: f64,
    pub(crate) mapping_bytes: u64,
    pub(crate) mapping_sections_bytes: u64,
    pub(crate) baseline_ms: f64,
    pub(crate) delta_p50_ms: f64,
    pub(crate) delta_p99_ms: f64,
    pub(crate) delta_under_load_p50_ms: f64,
    pub(crate) pipeline_ms: f64,
    pub(crate) pipeline_ratio: f64,
    pub(crate) offline_ms: f64,
    pub(crate) offline_llvm_ms: f64,
    pub(crate) offline_ratio: f64,
    pub(crate) offline_identical: bool,
    /// `None` when the SDK could not be measured (the reason is in `sdk_note`).
    pub(crate) overhead_idle_pct: Option<f64>,
    pub(crate) overhead_snapshots_pct: Option<f64>,
    pub(crate) functions: u64,
    pub(crate) counters: u64,

    pub(crate) files_selected: u64,
    pub(crate) mapping_allocated_bytes: u64,
    pub(crate) baseline_p99_ms: f64,
    pub(crate) delta_samples: u64,
    pub(crate) delta_under_load_p99_ms: f64,
    pub(crate) delta_under_load_mean_files: f64,
    pub(crate) dump_ms: f64,
    /// The mapping load of the whole program (no file filter), uninstrumented, step by step.
    pub(crate) whole_read_ms: f64,
    pub(crate) whole_decode_ms: f64,
    pub(crate) whole_engine_ms: f64,
    pub(crate) whole_mapping_bytes: u64,
    pub(crate) whole_engine_bytes: u64,
    pub(crate) mapped_functions: u64,
    pub(crate) regions: u64,
    pub(crate) profdata_merge_ms: f64,
    pub(crate) llvm_cov_export_ms: f64,
    pub(crate) throughput_off_rps: Option<f64>,
    pub(crate) throughput_idle_rps: Option<f64>,
    pub(crate) throughput_snapshots_rps: Option<f64>,
    pub(crate) sdk_snapshot_p50_ms: Option<f64>,
    /// Every trial's requests per second: off, idle, snapshots (in round order).
    pub(crate) throughput_trials_rps: Option<[Vec<f64>; 3]>,
    /// The service's CPU time per request (median over rounds): off, idle, snapshots. On a
    /// shared machine this resolves the SDK's cost far better than throughput.
    pub(crate) cpu_us_per_request: Option<[f64; 3]>,
    pub(crate) overhead_idle_cpu_pct: Option<f64>,
    pub(crate) overhead_snapshots_cpu_pct: Option<f64>,
    /// CPU time of the SDK's own threads per request, as a percentage of the service's CPU
    /// time per request without the SDK: idle, and with a snapshot every 100 ms.
    pub(crate) sdk_threads_idle_pct: Option<f64>,
    pub(crate) sdk_threads_snapshots_pct: Option<f64>,
    pub(crate) sdk_note: Option<String>,
    pub(crate) machine: String,
    /// Only part 5 ran (`--sdk-only`).
    pub(crate) sdk_only: bool,
}

/// Runs the task.
pub(crate) fn run(options: &Options) -> anyhow::Result<()> {
    let tools_dir = provision::ensure_llvm_tools()?;
    let root = crate::workspace_root();
    let binaries = Binaries::build(&root)?;
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    // The demo service's own sources, which bench-service compiles in through `#[path]`
    // (so their mapped paths read `fixtures/bench-service/src/../../../examples/...`).
    let service_sources = "/examples/demo-service/src/";

    let mut results = BenchResults {
        machine: machine_description(),
        sdk_only: options.sdk_only,
        ..BenchResults::default()
    };
    if !options.sdk_only {
        in_process(
            &binaries,
            &tools_dir,
            service_sources,
            work.path(),
            options,
            &mut results,
        )?;
    }
    match sdk_overhead(&binaries, work.path(), options) {
        Ok(overhead) => overhead.record(&mut results),
        Err(error) => {
            eprintln!("bench: SDK overhead not measured: {error:#}");
            results.sdk_note = Some(format!("{error:#}"));
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

/// The three programs the benchmark runs.
struct Binaries {
    bench_service: PathBuf,
    demo_service: PathBuf,
    bench_tools: PathBuf,
    /// The offline path as `cargo xtask lcov` runs it, one fresh process per run.
    cov_lcov: PathBuf,
}

impl Binaries {
    /// Builds the instrumented release programs into `target/cov-fixtures/release` (the
    /// directory cov-testkit's release fixtures use, so the dependency graph is shared) and
    /// the uninstrumented tools into `target/release`.
    fn build(root: &Path) -> anyhow::Result<Binaries> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let instrumented_dir = root.join("target/cov-fixtures/release");
        eprintln!("bench: building demo-service and bench-service (release, instrumented)");
        provision::run(
            cargo_build(&cargo, root)
                .args(["--package", "demo-service", "--package", "bench-service"])
                .arg("--target-dir")
                .arg(&instrumented_dir)
                .env("RUSTFLAGS", "-C instrument-coverage"),
        )?;
        eprintln!("bench: building bench-tools (release)");
        provision::run(cargo_build(&cargo, root).args(["--package", "bench-tools"]))?;
        let binary = |dir: &Path, name: &str| -> anyhow::Result<PathBuf> {
            let path = dir
                .join("release")
                .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            anyhow::ensure!(
                path.is_file(),
                "cargo built {name} but {} is missing",
                path.display()
            );
            Ok(path)
        };
        Ok(Binaries {
            bench_service: binary(&instrumented_dir, "bench-service")?,
            demo_service: binary(&instrumented_dir, "demo-service")?,
            bench_tools: binary(&root.join("target"), "bench-tools")?,
            cov_lcov: binary(&root.join("target"), "cov-lcov")?,
        })
    }
}

fn cargo_build(cargo: &str, root: &Path) -> Command {
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--locked"])
        // An outer environment may carry flags; each build here says exactly what it wants.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_BOOTSTRAP")
        .env_remove("LLVM_PROFILE_FILE");
    command
}

/// Parts 1 to 4: everything measured inside, or on the profile of, `bench-service`.
fn in_process(
    binaries: &Binaries,
    tools_dir: &Path,
    service_sources: &str,
    work: &Path,
    options: &Options,
    results: &mut BenchResults,
) -> anyhow::Result<()> {
    let profraw = work.join("snapshot.profraw");
    let mut service = BenchService::start(
        &binaries.bench_service,
        service_sources,
        work,
        Some(&profraw),
    )?;

    eprintln!("bench: mapping load");
    let mapping = service.command("mapping 5")?;
    results.mapping_load_ms = median(&floats(&mapping["load_ms"])?);
    results.mapping_bytes = integer(&mapping["bytes"])?;
    results.mapping_allocated_bytes = integer(&mapping["allocated_bytes"])?;

    eprintln!("bench: baseline");
    let baseline = service.command("baseline 50")?;
    let baseline_us = floats(&baseline["samples_us"])?;
    results.baseline_ms = median(&baseline_us) / 1e3;
    results.baseline_p99_ms = percentile(&baseline_us, 99.0) / 1e3;
    results.files_selected = integer(&baseline["files"])?;

    eprintln!("bench: {} idle deltas", options.deltas);
    let idle = service.command(&format!("deltas {} 200", options.deltas))?;
    let idle_us = floats(&idle["samples_us"])?;
    results.delta_samples = idle_us.len() as u64;
    results.delta_p50_ms = percentile(&idle_us, 50.0) / 1e3;
    results.delta_p99_ms = percentile(&idle_us, 99.0) / 1e3;

    eprintln!("bench: {} deltas under request load", options.deltas);
    let load = LoadGenerator::start(&binaries.bench_tools, &service.address)?;
    std::thread::sleep(Duration::from_millis(500));
    let busy = service.command(&format!("deltas {} 2000", options.deltas))?;
    let report = load.finish()?;
    anyhow::ensure!(
        report.requests > 0 && report.errors == 0,
        "the load generator failed: {report:?}"
    );
    let busy_us = floats(&busy["samples_us"])?;
    results.delta_under_load_p50_ms = percentile(&busy_us, 50.0) / 1e3;
    results.delta_under_load_p99_ms = percentile(&busy_us, 99.0) / 1e3;
    let busy_files = floats(&busy["files"])?;
    results.delta_under_load_mean_files =
        busy_files.iter().sum::<f64>() / busy_files.len().max(1) as f64;

    // The counters as they are now (the load has stopped) are written at exit: the profile
    // a user without the collector would dump for this test, which every later step reads.
    eprintln!("bench: per-test snapshot through llvm-profdata and llvm-cov");
    let mut with_write = vec![service.quit()?];
    anyhow::ensure!(
        profraw.is_file(),
        "bench-service wrote no {}",
        profraw.display()
    );
    // How long that write takes: exit times with and without it, in fresh processes.
    let mut without_write = Vec::new();
    for run in 0..3 {
        let dump = work.join(format!("dump-{run}.profraw"));
        for profile in [Some(dump.as_path()), None] {
            let mut service =
                BenchService::start(&binaries.bench_service, service_sources, work, profile)?;
            service.command("mapping 1")?;
            let exit_ms = service.quit()?;
            match profile {
                Some(_) => with_write.push(exit_ms),
                None => without_write.push(exit_ms),
            }
        }
    }
    results.dump_ms = (median(&with_write) - median(&without_write)).max(0.0);
    let llvm = LlvmTools::new(tools_dir);

    eprintln!("bench: offline decoding");
    // Timed from the outside, one fresh process per run, exactly as llvm-profdata and
    // llvm-cov are below: start-up, reading, decoding and writing the file all count.
    let ours_lcov = work.join("ours.lcov");
    let mut offline_runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        provision::run(
            Command::new(&binaries.cov_lcov)
                .arg(&binaries.bench_service)
                .arg(&profraw)
                .arg(&ours_lcov),
        )?;
        offline_runs.push(millis(start.elapsed()));
    }
    results.offline_ms = median(&offline_runs);
    // The sizes of the inputs.
    let offline = capture_json(Command::new(&binaries.bench_tools).args([
        "offline".as_ref(),
        binaries.bench_service.as_os_str(),
        profraw.as_os_str(),
        work.join("sizes.lcov").as_os_str(),
        "1".as_ref(),
    ]))?;
    results.functions = integer(&offline["functions"])?;
    results.counters = integer(&offline["counters"])?;
    results.mapping_sections_bytes = integer(&offline["sections_bytes"])?;
    let ours = std::fs::read_to_string(&ours_lcov)?;
    let breakdown = capture_json(Command::new(&binaries.bench_tools).args([
        "breakdown".as_ref(),
        binaries.bench_service.as_os_str(),
        profraw.as_os_str(),
    ]))?;
    results.whole_read_ms = float(&breakdown["read_ms"])?;
    results.whole_decode_ms = float(&breakdown["decode_ms"])?;
    results.whole_engine_ms = float(&breakdown["engine_ms"])?;
    results.whole_mapping_bytes = integer(&breakdown["mapping_bytes"])?;
    results.whole_engine_bytes = integer(&breakdown["engine_bytes"])?;
    results.mapped_functions = integer(&breakdown["mapped_functions"])?;
    results.regions = integer(&breakdown["regions"])?;

    // The whole program, as `cargo xtask lcov` writes it.
    let llvm_lcov = work.join("llvm.lcov");
    let mut full_runs = Vec::new();
    for _ in 0..5 {
        full_runs.push(llvm.pipeline(&binaries.bench_service, &profraw, &llvm_lcov, &[], work)?);
    }
    results.offline_llvm_ms = median(&full_runs.iter().map(PipelineRun::total).collect::<Vec<_>>());
    let theirs = std::fs::read_to_string(&llvm_lcov)?;
    let diff = cov_testkit::diff_lcov(
        &cov_testkit::Lcov::try_parse(&theirs).map_err(anyhow::Error::msg)?,
        &cov_testkit::Lcov::try_parse(&ours).map_err(anyhow::Error::msg)?,
    );
    results.offline_identical = diff.lines_and_branches_agree();
    if !diff.is_empty() {
        eprintln!("bench: offline LCOV differs from llvm-cov's:\n{diff}");
    }

    // The per-test snapshot: only the service's sources, as the collector selected them.
    let sources: Vec<String> = ours
        .lines()
        .filter_map(|line| line.strip_prefix("SF:"))
        .filter(|path| path.contains(service_sources))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!sources.is_empty(), "no service source in our LCOV");
    let snapshot_lcov = work.join("snapshot.lcov");
    let mut snapshot_runs = Vec::new();
    for _ in 0..3 {
        snapshot_runs.push(llvm.pipeline(
            &binaries.bench_service,
            &profraw,
            &snapshot_lcov,
            &sources,
            work,
        )?);
    }
    results.profdata_merge_ms = median(
        &snapshot_runs
            .iter()
            .map(|run| run.merge_ms)
            .collect::<Vec<_>>(),
    );
    results.llvm_cov_export_ms = median(
        &snapshot_runs
            .iter()
            .map(|run| run.export_ms)
            .collect::<Vec<_>>(),
    );
    results.pipeline_ms = results.dump_ms
        + median(
            &snapshot_runs
                .iter()
                .map(PipelineRun::total)
                .collect::<Vec<_>>(),
        );
    results.pipeline_ratio = ratio(results.pipeline_ms, results.delta_under_load_p50_ms);
    results.offline_ratio = ratio(results.offline_llvm_ms, results.offline_ms);
    Ok(())
}

/// `bench-service`, driven over its standard input.
struct BenchService {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    address: String,
}

impl BenchService {
    /// Starts `bench-service` in `work`, writing its profile at exit to `profile` if given
    /// (and nowhere otherwise).
    fn start(
        binary: &Path,
        service_sources: &str,
        work: &Path,
        profile: Option<&Path>,
    ) -> anyhow::Result<BenchService> {
        let mut command = Command::new(binary);
        command.env_remove("LLVM_PROFILE_FILE");
        match profile {
            Some(profile) => command.env("LLVM_PROFILE_FILE", profile),
            // The runtime notes on stderr that the collector suppressed its write.
            None => command.stderr(Stdio::null()),
        };
        let mut child = command
            .args(["--select", service_sources])
            .current_dir(work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let address = read_listening_line(&mut stdout)?;
        Ok(BenchService {
            child,
            stdin,
            stdout,
            address,
        })
    }

    fn command(&mut self, command: &str) -> anyhow::Result<serde_json::Value> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("bench-service exited during `{command}`");
        }
        let answer: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("bench-service answered `{command}` with {line:?}"))?;
        if let Some(error) = answer.get("error") {
            bail!("bench-service failed `{command}`: {error}");
        }
        Ok(answer)
    }

    /// Sends `quit` and waits for the exit: how long it took, in milliseconds (the
    /// profile runtime's write at exit included, when it writes).
    fn quit(mut self) -> anyhow::Result<f64> {
        let start = Instant::now();
        writeln!(self.stdin, "quit")?;
        self.stdin.flush()?;
        let status = self.child.wait()?;
        let elapsed = millis(start.elapsed());
        anyhow::ensure!(status.success(), "bench-service exited with {status}");
        Ok(elapsed)
    }
}

impl Drop for BenchService {
    fn drop(&mut self) {
        // Only reached with the child still running when a step failed.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `listening on ADDR` (the first line both services print).
fn read_listening_line(stdout: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_owned)
        .with_context(|| format!("expected `listening on ADDR`, got {line:?}"))
}

/// What `bench-tools load` reported.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LoadReport {
    requests: u64,
    seconds: f64,
    errors: u64,
}

impl LoadReport {
    fn from_json(value: &serde_json::Value) -> anyhow::Result<LoadReport> {
        Ok(LoadReport {
            requests: integer(&value["requests"])?,
            seconds: float(&value["seconds"])?,
            errors: integer(&value["errors"])?,
        })
    }

    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// `bench-tools load` running until [`LoadGenerator::finish`].
struct LoadGenerator {
    child: Child,
}

impl LoadGenerator {
    fn start(tools: &Path, address: &str) -> anyhow::Result<LoadGenerator> {
        let child = Command::new(tools)
            .args(["load", address, &LOAD_CONNECTIONS.to_string(), "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", tools.display()))?;
        Ok(LoadGenerator { child })
    }

    fn finish(mut self) -> anyhow::Result<LoadReport> {
        drop(self.child.stdin.take());
        let output =
            std::mem::replace(&mut self.child, Command::new("true").spawn()?).wait_with_output()?;
        anyhow::ensure!(
            output.status.success(),
            "bench-tools load exited with {}",
            output.status
        );
        LoadReport::from_json(&serde_json::from_slice(&output.stdout)?)
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One run of `llvm-profdata merge -sparse` then `llvm-cov export -format=lcov`.
#[derive(Debug, Clone, Copy)]
struct PipelineRun {
    merge_ms: f64,
    export_ms: f64,
}

impl PipelineRun {
    fn total(&self) -> f64 {
        self.merge_ms + self.export_ms
    }
}

struct LlvmTools {
    profdata: PathBuf,
    cov: PathBuf,
}

impl LlvmTools {
    fn new(dir: &Path) -> LlvmTools {
        LlvmTools {
            profdata: dir.join("llvm-profdata"),
            cov: dir.join("llvm-cov"),
        }
    }

    /// Merges `profraw` and exports LCOV of `binary` (restricted to `sources` unless empty)
    /// into `out`.
    fn pipeline(
        &self,
        binary: &Path,
        profraw: &Path,
        out: &Path,
        sources: &[String],
        work: &Path,
    ) -> anyhow::Result<PipelineRun> {
        let profdata = work.join("snapshot.profdata");
        let start = Instant::now();
        provision::run(
            Command::new(&self.profdata)
                .args(["merge", "-sparse"])
                .arg(profraw)
                .arg("-o")
                .arg(&profdata),
        )?;
        let merge_ms = millis(start.elapsed());
        let start = Instant::now();
        let lcov = std::fs::File::create(out)?;
        let status = Command::new(&self.cov)
            .args(["export", "-format=lcov", "-instr-profile"])
            .arg(&profdata)
            .arg(binary)
            .args(sources)
            .stdout(lcov)
            .status()
            .with_context(|| format!("running {}", self.cov.display()))?;
        anyhow::ensure!(status.success(), "llvm-cov export exited with {status}");
        let export_ms = millis(start.elapsed());
        Ok(PipelineRun {
            merge_ms,
            export_ms,
        })
    }
}

/// Runs `command` and parses its standard output as one JSON value.
fn capture_json(command: &mut Command) -> anyhow::Result<serde_json::Value> {
    let output = provision::capture(command)?;
    serde_json::from_str(&output).with_context(|| format!("expected JSON, got {output:?}"))
}

/// The SDK configurations of the throughput comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SdkConfig {
    Off,
    Idle,
    Snapshots,
}

const SDK_CONFIGS: [SdkConfig; 3] = [SdkConfig::Off, SdkConfig::Idle, SdkConfig::Snapshots];

/// Throughput per configuration (medians over rounds), and the SDK's snapshot round trips.
#[derive(Debug, Default)]
struct Overhead {
    off_rps: f64,
    idle_rps: f64,
    snapshots_rps: f64,
    snapshot_ms: Vec<f64>,
    trials: [Vec<f64>; 3],
    /// Median CPU µs per request: off, idle, snapshots.
    cpu_us_per_request: [f64; 3],
    /// Median CPU µs per request of the SDK's own threads: off (none), idle, snapshots.
    sdk_cpu_us_per_request: [f64; 3],
}

impl Overhead {
    fn record(&self, results: &mut BenchResults) {
        results.throughput_off_rps = Some(self.off_rps);
        results.throughput_idle_rps = Some(self.idle_rps);
        results.throughput_snapshots_rps = Some(self.snapshots_rps);
        results.overhead_idle_pct = Some(overhead_pct(self.off_rps, self.idle_rps));
        results.overhead_snapshots_pct = Some(overhead_pct(self.off_rps, self.snapshots_rps));
        results.sdk_snapshot_p50_ms = Some(percentile(&self.snapshot_ms, 50.0));
        results.throughput_trials_rps = Some(self.trials.clone());
        let [off, idle, snapshots] = self.cpu_us_per_request;
        results.cpu_us_per_request = Some(self.cpu_us_per_request);
        results.overhead_idle_cpu_pct = Some((idle / off - 1.0) * 100.0);
        results.overhead_snapshots_cpu_pct = Some((snapshots / off - 1.0) * 100.0);
        let [_, sdk_idle, sdk_snapshots] = self.sdk_cpu_us_per_request;
        results.sdk_threads_idle_pct = Some(sdk_idle / off * 100.0);
        results.sdk_threads_snapshots_pct = Some(sdk_snapshots / off * 100.0);
    }
}

/// Part 5: the demo service's throughput with the SDK off, idle, and snapshotting.
fn sdk_overhead(binaries: &Binaries, work: &Path, options: &Options) -> anyhow::Result<Overhead> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut samples: [Vec<f64>; 3] = Default::default();
    let mut cpu_samples: [Vec<f64>; 3] = Default::default();
    let mut sdk_cpu_samples: [Vec<f64>; 3] = Default::default();
    let mut snapshot_ms = Vec::new();
    for round in 0..options.rounds {
        // Rotate the order so that no configuration always runs first or last.
        for offset in 0..SDK_CONFIGS.len() {
            let config_idx = (round + offset) % SDK_CONFIGS.len();
            let config = SDK_CONFIGS[config_idx];
            eprintln!(
                "bench: throughput round {}/{}: SDK {config:?}",
                round + 1,
                options.rounds
            );
            let socket = work.join(format!("tusk-{round}-{offset}.sock"));
            let trial =
                runtime.block_on(throughput_trial(binaries, config, &socket, work, options))?;
            eprintln!(
                "bench:   {:.0} req/s, {:.1} µs CPU per request",
                trial.requests_per_second, trial.cpu_us_per_request
            );
            samples[config_idx].push(trial.requests_per_second);
            cpu_samples[config_idx].push(trial.cpu_us_per_request);
            sdk_cpu_samples[config_idx].push(trial.sdk_cpu_us_per_request);
            snapshot_ms.extend(trial.snapshot_ms);
        }
    }
    Ok(Overhead {
        off_rps: median(&samples[0]),
        idle_rps: median(&samples[1]),
        snapshots_rps: median(&samples[2]),
        snapshot_ms,
        trials: samples,
        cpu_us_per_request: cpu_samples.each_ref().map(|samples| median(samples)),
        sdk_cpu_us_per_request: sdk_cpu_samples.each_ref().map(|samples| median(samples)),
    })
}

struct Trial {
    requests_per_second: f64,
    /// CPU time the service (all its threads, the SDK's included) spent per request.
    cpu_us_per_request: f64,
    /// CPU time the SDK's own threads (`cov-sdk*`) spent per request.
    sdk_cpu_us_per_request: f64,
    snapshot_ms: Vec<f64>,
}

async fn throughput_trial(
    binaries: &Binaries,
    config: SdkConfig,
    socket: &Path,
    work: &Path,
    options: &Options,
) -> anyhow::Result<Trial> {
    use cov_transport::Endpoint;
    use cov_transport::cli::CliListener;

    let listener = match config {
        SdkConfig::Off => None,
        SdkConfig::Idle | SdkConfig::Snapshots => {
            Some(CliListener::bind(&Endpoint::unix(socket)).await?)
        }
    };
    let mut command = Command::new(&binaries.demo_service);
    command
        .args(["--port", "0"])
        .env_remove("TUSK_DRIFT_MODE")
        .env_remove("TUSK_COVERAGE")
        .env_remove("TUSK_MOCK_HOST")
        .env_remove("TUSK_MOCK_PORT")
        .env_remove("RUST_LOG")
        .env("TUSK_MOCK_SOCKET", socket)
        .env("LLVM_PROFILE_FILE", work.join("demo-service-%p.profraw"))
        .stdout(Stdio::piped());
    if listener.is_some() {
        command
            .env("TUSK_DRIFT_MODE", "REPLAY")
            .env("TUSK_COVERAGE", "true");
    }
    let mut service = KillOnDrop(command.spawn().context("starting demo-service")?);
    let mut stdout = BufReader::new(service.0.stdout.take().context("no stdout")?);
    let address = read_listening_line(&mut stdout)?;
    let connection = match &listener {
        Some(listener) => {
            let connection = listener
                .accept(Duration::from_secs(10))
                .await
                .context("demo-service's SDK did not connect (does it call cov_sdk::init()?)")?;
            connection
                .snapshot(true, Duration::from_secs(60))
                .await
                .context("baseline snapshot")?;
            Some(connection)
        }
        None => None,
    };

    // Let every configuration settle alike (the SDK's start-up work is done by now), warm
    // up (connections, allocator, caches), then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tools = binaries.bench_tools.clone();
    let warm_up = load_for(tools.clone(), address.clone(), 1.0);
    tokio::task::spawn_blocking(warm_up).await??;
    let pid = service.0.id();
    let cpu_before = process_cpu_seconds(pid)?;
    let sdk_cpu_before = sdk_threads_cpu_seconds(pid)?;
    let measured = tokio::task::spawn_blocking(load_for(tools, address, options.seconds));
    tokio::pin!(measured);
    let mut snapshot_ms = Vec::new();
    let report = match (&connection, config) {
        (Some(connection), SdkConfig::Snapshots) => {
            let mut ticks = tokio::time::interval(SNAPSHOT_PERIOD);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    report = &mut measured => break report??,
                    _ = ticks.tick() => {
                        let start = Instant::now();
                        connection.snapshot(false, Duration::from_secs(60)).await.context("delta snapshot")?;
                        snapshot_ms.push(millis(start.elapsed()));
                    }
                }
            }
        }
        _ => measured.await??,
    };
    let cpu_seconds = process_cpu_seconds(pid)? - cpu_before;
    let sdk_cpu_seconds = sdk_threads_cpu_seconds(pid)? - sdk_cpu_before;
    anyhow::ensure!(report.errors == 0, "the load generator failed: {report:?}");
    drop(service);
    let per_request = |seconds: f64| seconds * 1e6 / report.requests.max(1) as f64;
    Ok(Trial {
        requests_per_second: report.per_second(),
        cpu_us_per_request: per_request(cpu_seconds),
        sdk_cpu_us_per_request: per_request(sdk_cpu_seconds),
        snapshot_ms,
    })
}

/// User plus system CPU time so far of the threads of process `pid` that the SDK started
/// (named `cov-sdk`, and `cov-sdk-blocking` for its blocking pool; the kernel keeps 15
/// characters of a name). Unlike the whole process's time, other load on the machine does
/// not inflate it: it is the SDK's own work, directly.
fn sdk_threads_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?.path();
        // A thread can end between listing and reading: it no longer counts.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        if name.trim_end().starts_with("cov-sdk") {
            total += cpu_seconds_from_stat(&stat)
                .with_context(|| format!("unexpected {}: {stat}", task.display()))?;
        }
    }
    Ok(total)
}

/// User plus system CPU time of process `pid` so far, from `/proc/PID/stat` (in clock
/// ticks of 1/100 s, the value Linux uses for `USER_HZ` on every architecture we run on).
fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    cpu_seconds_from_stat(&stat).with_context(|| format!("unexpected /proc/{pid}/stat: {stat}"))
}

fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is parenthesized and may contain spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line are 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A blocking load run of `seconds` against `address`.
fn load_for(
    tools: PathBuf,
    address: String,
    seconds: f64,
) -> impl FnOnce() -> anyhow::Result<LoadReport> {
    move || {
        let value = capture_json(Command::new(tools).args([
            "load",
            &address,
            &LOAD_CONNECTIONS.to_string(),
            &seconds.to_string(),
        ]))?;
        LoadReport::from_json(&value)
    }
}

/// A child process killed (not waited for gracefully: no profile is written) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

// ---- Statistics ---------------------------------------------------------------------

/// The nearest-rank percentile `p` (0..=100) of `samples`; NaN when there are none.
pub(crate) fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// `numerator / denominator`, NaN when the denominator is not positive.
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

/// How much lower `measured` throughput is than `reference`, in percent.
fn overhead_pct(reference: f64, measured: f64) -> f64 {
    (reference - measured) / reference * 100.0
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn float(value: &serde_json::Value) -> anyhow::Result<f64> {
    value
        .as_f64()
        .with_context(|| format!("expected a number, got {value}"))
}

fn integer(value: &serde_json::Value) -> anyhow::Result<u64> {
    value
        .as_u64()
        .with_context(|| format!("expected an integer, got {value}"))
}

fn floats(value: &serde_json::Value) -> anyhow::Result<Vec<f64>> {
    value
        .as_array()
        .with_context(|| format!("expected an array, got {value}"))?
        .iter()
        .map(float)
        .collect()
}

// ---- Output ---------------------------------------------------------------------------

/// The results as pretty JSON (NaN, which JSON lacks, becomes `null`).
pub(crate) fn to_json(results: &BenchResults) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(results)? + "\n")
}

/// One row of the table.
struct Row {
    measure: String,
    ours: String,
    alternative: String,
    ratio: String,
    target: &'static str,
    met: Option<bool>,
}

/// The readable table: each figure, what it is compared with, the ratio, the target and
/// whether it is met.
pub(crate) fn render_table(results: &BenchResults) -> String {
    let r = results;
    let ms = |value: f64| format!("{value:.3} ms");
    let times = |value: f64| format!("{value:.1}×");
    let mib = |bytes: u64| format!("{:.2} MiB", bytes as f64 / 1024.0 / 1024.0);
    let memory_ratio = ratio(r.mapping_bytes as f64, r.mapping_sections_bytes as f64);
    let mut rows = vec![
        Row {
            measure: "mapping load (Collector::build)".into(),
            ours: ms(r.mapping_load_ms),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 200 ms",
            met: Some(r.mapping_load_ms <= 200.0),
        },
        Row {
            measure: "mapping memory vs covmap+covfun".into(),
            ours: mib(r.mapping_bytes),
            alternative: mib(r.mapping_sections_bytes),
            ratio: times(memory_ratio),
            target: "≤ 3×",
            met: Some(memory_ratio <= 3.0),
        },
        Row {
            measure: "whole program: read+decode+engine".into(),
            ours: format!(
                "{} ({:.0}+{:.0}+{:.0})",
                ms(r.whole_read_ms + r.whole_decode_ms + r.whole_engine_ms),
                r.whole_read_ms,
                r.whole_decode_ms,
                r.whole_engine_ms
            ),
            alternative: format!(
                "{} + {} held",
                mib(r.whole_mapping_bytes),
                mib(r.whole_engine_bytes)
            ),
            ratio: String::new(),
            target: "(no filter)",
            met: None,
        },
        Row {
            measure: "baseline() p50 / p99".into(),
            ours: format!("{} / {}", ms(r.baseline_ms), ms(r.baseline_p99_ms)),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 50 ms",
            met: Some(r.baseline_ms <= 50.0),
        },
        Row {
            measure: format!("delta() idle p50 / p99 ({} snapshots)", r.delta_samples),
            ours: format!("{} / {}", ms(r.delta_p50_ms), ms(r.delta_p99_ms)),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 1 / 5 ms",
            met: Some(r.delta_p50_ms <= 1.0 && r.delta_p99_ms <= 5.0),
        },
        Row {
            measure: "delta() under load p50 / p99".into(),
            ours: format!(
                "{} / {}",
                ms(r.delta_under_load_p50_ms),
                ms(r.delta_under_load_p99_ms)
            ),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 1 / 5 ms",
            met: Some(r.delta_under_load_p50_ms <= 1.0 && r.delta_under_load_p99_ms <= 5.0),
        },
        Row {
            measure: "per-test snapshot vs dump+merge+export".into(),
            ours: ms(r.delta_under_load_p50_ms),
            alternative: format!(
                "{} ({:.1}+{:.1}+{:.1})",
                ms(r.pipeline_ms),
                r.dump_ms,
                r.profdata_merge_ms,
                r.llvm_cov_export_ms
            ),
            ratio: times(r.pipeline_ratio),
            target: "≥ 100×",
            met: Some(r.pipeline_ratio >= 100.0),
        },
        Row {
            measure: "offline LCOV vs llvm-profdata+llvm-cov".into(),
            ours: ms(r.offline_ms),
            alternative: ms(r.offline_llvm_ms),
            ratio: times(r.offline_ratio),
            target: "≥ 10×",
            met: Some(r.offline_ratio >= 10.0),
        },
        Row {
            measure: "offline LCOV identical (DA, BRDA)".into(),
            ours: if r.offline_identical { "yes" } else { "NO" }.into(),
            alternative: String::new(),
            ratio: String::new(),
            target: "identical",
            met: Some(r.offline_identical),
        },
    ];
    if r.sdk_only {
        // Parts 1 to 4 did not run: no row for them rather than zeros marked "MISSED".
        rows.clear();
    }
    let rps =
        |value: Option<f64>| value.map_or("-".to_owned(), |value| format!("{value:.0} req/s"));
    let pct = |value: Option<f64>| {
        value.map_or("not measured".to_owned(), |value| format!("{value:+.1} %"))
    };
    rows.push(Row {
        measure: "SDK overhead, idle".into(),
        ours: pct(r.overhead_idle_pct),
        alternative: format!(
            "{} vs off {}",
            rps(r.throughput_idle_rps),
            rps(r.throughput_off_rps)
        ),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.overhead_idle_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK overhead, snapshot every 100 ms".into(),
        ours: pct(r.overhead_snapshots_pct),
        alternative: format!(
            "{} (snapshot p50 {})",
            rps(r.throughput_snapshots_rps),
            r.sdk_snapshot_p50_ms.map_or("-".to_owned(), ms)
        ),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.overhead_snapshots_pct.map(|value| value <= 5.0),
    });

    let cpu = |value: Option<[f64; 3]>, idx: usize| {
        value.map_or("-".to_owned(), |values| {
            format!("{:.1} µs/req", values[idx])
        })
    };
    rows.push(Row {
        measure: "SDK CPU per request, idle".into(),
        ours: pct(r.overhead_idle_cpu_pct),
        alternative: format!(
            "{} vs off {}",
            cpu(r.cpu_us_per_request, 1),
            cpu(r.cpu_us_per_request, 0)
        ),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.overhead_idle_cpu_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK CPU per request, snapshot every 100 ms".into(),
        ours: pct(r.overhead_snapshots_cpu_pct),
        alternative: cpu(r.cpu_us_per_request, 2),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.overhead_snapshots_cpu_pct.map(|value| value <= 5.0),
    });
    let share = |value: Option<f64>| {
        value.map_or("not measured".to_owned(), |value| format!("{value:.2} %"))
    };
    rows.push(Row {
        measure: "SDK threads' own CPU, idle".into(),
        ours: share(r.sdk_threads_idle_pct),
        alternative: "of the CPU per request without the SDK".into(),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.sdk_threads_idle_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK threads' own CPU, snapshot every 100 ms".into(),
        ours: share(r.sdk_threads_snapshots_pct),
        alternative: "of the CPU per request without the SDK".into(),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.sdk_threads_snapshots_pct.map(|value| value <= 5.0),
    });

    let headers = ["measure", "ours", "alternative", "ratio", "target", ""];
    let cells: Vec<[String; 6]> = rows
        .into_iter()
        .map(|row| {
            let verdict = match row.met {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "-",
            };
            [
                row.measure,
                row.ours,
                row.alternative,
                row.ratio,
                row.target.into(),
                verdict.into(),
            ]
        })
        .collect();
    let mut widths = headers.map(|header| header.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if r.sdk_only {
        let _ = writeln!(out, "SDK overhead only; {}", r.machine);
    } else {
        let _ = writeln!(
            out,
            "{} functions with counters ({} mapped, {} regions), {} counters, {} service files selected; {}",
            r.functions, r.mapped_functions, r.regions, r.counters, r.files_selected, r.machine
        );
    }
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let pad = width - cell.chars().count();
            text.push_str(cell);
            text.push_str(&" ".repeat(pad + 2));
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&headers.map(str::to_owned));
    line(&widths.map(|width| "-".repeat(width)));
    for row in &cells {
        line(row);
    }
    if let Some(note) = &r.sdk_note {
        let _ = writeln!(out, "SDK overhead not measured: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BenchResults {
        BenchResults {
            mapping_load_ms: 40.0,
            mapping_bytes: 6 * 1024 * 1024,
            mapping_sections_bytes: 4 * 1024 * 1024,
            baseline_ms: 3.0,
            delta_p50_ms: 0.2,
            delta_p99_ms: 0.9,
            delta_under_load_p50_ms: 0.5,
            delta_under_load_p99_ms: 7.0,
            pipeline_ms: 500.0,
            pipeline_ratio: 1000.0,
            offline_ms: 50.0,
            offline_llvm_ms: 400.0,
            offline_ratio: 8.0,
            offline_identical: true,
            overhead_idle_pct: Some(0.4),
            sdk_threads_snapshots_pct: Some(0.8125),
            overhead_snapshots_pct: None,
            functions: 12_000,
            counters: 40_000,
            delta_samples: 1000,
            sdk_note: Some("no SDK".into()),
            machine: "test CPU, 2 cores, 4.0 GiB RAM".into(),
            ..BenchResults::default()
        }
    }

    #[test]
    fn json_has_every_field_the_issue_names() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&sample()).unwrap()).unwrap();
        for field in [
            "mapping_load_ms",
            "mapping_bytes",
            "mapping_sections_bytes",
            "baseline_ms",
            "delta_p50_ms",
            "delta_p99_ms",
            "delta_under_load_p50_ms",
            "pipeline_ms",
            "pipeline_ratio",
            "offline_ms",
            "offline_llvm_ms",
            "offline_ratio",
            "overhead_idle_pct",
            "overhead_snapshots_pct",
            "functions",
            "counters",
        ] {
            assert!(
                json[field].is_number() || json[field].is_null(),
                "{field}: {}",
                json[field]
            );
        }
        assert_eq!(json["offline_identical"], serde_json::Value::Bool(true));
        assert_eq!(json["mapping_bytes"], 6 * 1024 * 1024);
        assert_eq!(json["overhead_idle_pct"], 0.4);
        assert!(json["overhead_snapshots_pct"].is_null());
    }

    #[test]
    fn table_shows_ratios_targets_and_misses() {
        let table = render_table(&sample());
        assert!(
            table
                .starts_with("12000 functions with counters (0 mapped, 0 regions), 40000 counters"),
            "{table}"
        );
        let row = |measure: &str| {
            table
                .lines()
                .find(|line| line.starts_with(measure))
                .unwrap_or_else(|| panic!("no row {measure} in\n{table}"))
                .to_owned()
        };
        let memory = row("mapping memory");
        assert!(
            memory.contains("6.00 MiB") && memory.contains("4.00 MiB"),
            "{memory}"
        );
        assert!(
            memory.contains("1.5×") && memory.ends_with("ok"),
            "{memory}"
        );
        // p99 under load is above 5 ms: missed.
        assert!(row("delta() under load").ends_with("MISSED"), "{table}");
        assert!(row("per-test snapshot").contains("1000.0×"), "{table}");
        let offline = row("offline LCOV vs");
        assert!(
            offline.contains("8.0×") && offline.ends_with("MISSED"),
            "{offline}"
        );
        assert!(row("SDK overhead, idle").contains("+0.4 %"), "{table}");
        let own = row("SDK threads' own CPU, snapshot");
        assert!(own.contains("0.81 %") && own.ends_with("ok"), "{own}");
        assert!(
            row("SDK threads' own CPU, idle").contains("not measured"),
            "{table}"
        );
        assert!(
            row("SDK overhead, snapshot").contains("not measured"),
            "{table}"
        );
        assert!(
            table.contains("SDK overhead not measured: no SDK"),
            "{table}"
        );
        // Columns line up: every data row starts its second column at the same place.
        let header = row("measure");
        let ours_column = header.find("ours").unwrap();
        assert_eq!(memory.chars().nth(ours_column - 1), Some(' '), "{table}");
    }

    #[test]
    fn an_sdk_only_table_has_no_rows_for_the_parts_that_did_not_run() {
        let table = render_table(&BenchResults {
            sdk_only: true,
            ..sample()
        });
        assert!(table.starts_with("SDK overhead only; "), "{table}");
        assert!(!table.contains("mapping load"), "{table}");
        assert!(!table.contains("offline LCOV"), "{table}");
        assert!(table.contains("SDK overhead, idle"), "{table}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 500.0);
        assert_eq!(percentile(&samples, 99.0), 990.0);
        assert_eq!(percentile(&samples, 100.0), 1000.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn cpu_time_is_read_after_the_parenthesized_name() {
        let stat = "4242 (demo (x) svc) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 37 0 0 20 0 3";
        assert_eq!(cpu_seconds_from_stat(stat), Some(2.87));
        assert_eq!(cpu_seconds_from_stat("4242 (demo) S 1"), None);
        let own = process_cpu_seconds(std::process::id()).unwrap();
        assert!(own >= 0.0, "{own}");
    }

    #[test]
    fn overhead_is_the_relative_loss_of_throughput() {
        assert_eq!(overhead_pct(1000.0, 990.0), 1.0);
        assert_eq!(overhead_pct(1000.0, 1010.0), -1.0);
    }

    #[test]
    fn reads_the_listening_line() {
        let mut input = &b"listening on 127.0.0.1:4321\n"[..];
        assert_eq!(read_listening_line(&mut input).unwrap(), "127.0.0.1:4321");
        let mut input = &b"hello\n"[..];
        assert!(read_listening_line(&mut input).is_err());
    }
}
