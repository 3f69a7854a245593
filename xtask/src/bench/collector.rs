//! The collector: what `bench-service` (the demo's routes with an in-process `Collector`)
//! measures of itself (mapping load and memory, `baseline()`, `delta()` idle and under
//! request load), the cost of dumping its counters as a raw profile, and our offline path
//! (`cov-lcov`, timed from outside as the llvm tools are) on that profile.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cov_driver::{Launch, ServiceProcess};

use super::results::BenchResults;
use super::stats::{median, millis, percentile};
use super::{Binaries, LoadGenerator, capture_json, float, floats, integer, read_listening_line};
use crate::flags::Bench as Options;
use crate::provision;

/// What the collector's measurements leave for the llvm pipeline's.
pub(super) struct CollectorRun {
    /// The raw profile `bench-service` wrote at the moment of a snapshot.
    pub(super) profraw: PathBuf,
    /// Our offline LCOV of the whole program from that profile.
    pub(super) ours_lcov: PathBuf,
}

/// Measures the collector inside, and on the profile of, `bench-service`.
pub(super) fn measure(
    binaries: &Binaries,
    service_sources: &str,
    work: &Path,
    options: &Options,
    results: &mut BenchResults,
) -> anyhow::Result<CollectorRun> {
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
    let load = LoadGenerator::start(&binaries.bench_tools, service.address)?;
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

    Ok(CollectorRun { profraw, ours_lcov })
}

/// `bench-service`, driven over its standard input.
struct BenchService {
    process: ServiceProcess,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    address: SocketAddr,
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
        let mut launch = Launch::new(binary);
        launch.args(["--select", service_sources]).current_dir(work);
        if let Some(profile) = profile {
            launch.env("LLVM_PROFILE_FILE", profile);
        }
        // Driven over its standard input, unlike a service the driver replays against.
        let mut command = launch.command();
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        if profile.is_none() {
            // The runtime notes on stderr that the collector suppressed its write.
            command.stderr(Stdio::null());
        }
        let mut process = ServiceProcess::spawn(&mut command)
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = process.child_mut().stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(process.child_mut().stdout.take().context("no stdout")?);
        let address = read_listening_line(&mut stdout)?;
        Ok(BenchService {
            process,
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
        let status = self.process.wait()?;
        let elapsed = millis(start.elapsed());
        anyhow::ensure!(status.success(), "bench-service exited with {status}");
        Ok(elapsed)
    }
}
