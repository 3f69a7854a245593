//! The SDK's cost to the service: `examples/demo-service` (instrumented) under our load
//! generator with the SDK off (`TUSK_DRIFT_MODE` unset), on but idle, and on with a
//! snapshot every 100 ms requested over the real Tusk protocol by this xtask playing the
//! CLI: throughput, the service's CPU time per request, and the CPU time of the SDK's own
//! threads. Configurations are interleaved round by round so that drift of a shared
//! machine hits all of them alike; each figure is the median over rounds.
//!
//! The load is `bench-tools load`'s `local` mix: the health check and validation errors,
//! requests whose handlers read no database and call no other service. The demo service
//! keeps its data in PostgreSQL and calls the rates service, and in `REPLAY` mode every
//! statement and call would be a mock request to this xtask (a debug build) and back, whose
//! cost is not the SDK's coverage cost (the outbound benchmarks measure it on its own): with
//! the local mix the three configurations run the same handlers, and what differs is the
//! SDK. The service still needs its database at start: the run starts a throwaway
//! PostgreSQL and the rates service, records the mix once (which also checks that none of
//! its requests made an outbound call), and with the SDK on answers the start-up statements
//! from that recording as the Tusk CLI would (cov-driver's `TraceMocks`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cov_driver::{HttpClient, Launch, TraceMocks};

use super::results::BenchResults;
use super::stats::{median, millis, overhead_pct, percentile};
use super::{Binaries, capture_json, load_for};
use crate::flags::Bench as Options;

/// How often snapshots are requested in the "snapshots" configuration.
const SNAPSHOT_PERIOD: Duration = Duration::from_millis(100);

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
pub(super) struct Overhead {
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
    pub(super) fn record(&self, results: &mut BenchResults) {
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

/// Measures the demo service's throughput and CPU time per request with the SDK off,
/// idle, and snapshotting, configurations interleaved round by round.
pub(super) fn measure(
    binaries: &Binaries,
    work: &Path,
    options: &Options,
) -> anyhow::Result<Overhead> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut samples: [Vec<f64>; 3] = Default::default();
    let mut cpu_samples: [Vec<f64>; 3] = Default::default();
    let mut sdk_cpu_samples: [Vec<f64>; 3] = Default::default();
    let mut snapshot_ms = Vec::new();
    crate::provision::ensure_postgres()?;
    let rates_binary = crate::demo::build_rates(&crate::workspace_root())?;
    let dependencies = crate::demo::Dependencies::start(&rates_binary, work)?;
    let recording = record_mix(binaries, &dependencies, work)?;
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
            let trial = runtime.block_on(throughput_trial(
                binaries, config, &socket, work, options, &recording,
            ))?;
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
    dependencies.stop()?;
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

/// The load's mix, recorded: where its traces are (the start-up statements a replayed
/// service asks for) and the URLs the service uses.
struct MixRecording {
    traces: PathBuf,
    database_url: String,
    rates_url: String,
}

/// The requests of the load (`bench-tools load`'s mix).
const MIX: &str = "local";

/// Records the load's mix once (`bench-tools load ADDR 1 once local`) with the demo service
/// in `RECORD` mode against `dependencies`, into `work/traces`, and checks that none of its
/// requests made an outbound call.
fn record_mix(
    binaries: &Binaries,
    dependencies: &crate::demo::Dependencies,
    work: &Path,
) -> anyhow::Result<MixRecording> {
    let traces = work.join("traces");
    let mut launch = Launch::new(&binaries.demo_service);
    launch
        .args(["--port", "0"])
        .env_remove("RUST_LOG")
        .env("TUSK_DRIFT_MODE", "RECORD")
        .env("TUSK_TRACES_DIR", &traces)
        .env("DATABASE_URL", dependencies.database_url())
        .env("RATES_URL", dependencies.rates_url())
        .env("LLVM_PROFILE_FILE", work.join("record-%p.profraw"));
    eprintln!("bench: recording the load's mix (demo-service in RECORD mode)");
    let mut service = launch.start().context("starting demo-service")?;
    let address = service.wait_for_address(Duration::from_secs(60))?;
    let sent = capture_json(std::process::Command::new(&binaries.bench_tools).args([
        "load",
        &address.to_string(),
        "1",
        "once",
        MIX,
    ]))?;
    let (status, _) = HttpClient::new(address, Duration::from_secs(10)).post("/shutdown", "")?;
    anyhow::ensure!(status == 202, "POST /shutdown answered {status}");
    let exit = service.wait_for_exit(Duration::from_secs(60))?;
    anyhow::ensure!(
        exit.is_some_and(|exit| exit.success()),
        "the recording service did not exit cleanly: {exit:?}"
    );
    let tests = cov_driver::traces::recorded(&traces)?;
    anyhow::ensure!(
        Some(tests.len() as u64) == sent["requests"].as_u64(),
        "{} traces recorded for the mix's {} requests",
        tests.len(),
        sent["requests"]
    );
    for path in cov_driver::traces::trace_files(&traces)? {
        let spans = cov_trace::read::parse_spans(&std::fs::read(&path)?)?;
        let outbound = spans
            .iter()
            .filter(|span| !span.is_root_span && !span.is_pre_app_start)
            .count();
        anyhow::ensure!(
            outbound == 0,
            "{}: a request of the `{MIX}` mix made {outbound} outbound calls",
            path.display()
        );
    }
    Ok(MixRecording {
        traces,
        database_url: dependencies.database_url().to_owned(),
        rates_url: dependencies.rates_url().to_owned(),
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
    recording: &MixRecording,
) -> anyhow::Result<Trial> {
    use cov_driver::{CliListener, CliOptions};
    use cov_transport::Endpoint;

    let mocks = Arc::new(TraceMocks::load(&recording.traces)?);
    let listener = match config {
        SdkConfig::Off => None,
        SdkConfig::Idle | SdkConfig::Snapshots => {
            let mut cli = CliOptions::default();
            cli.mock_source(Arc::clone(&mocks) as Arc<dyn cov_driver::MockSource>);
            Some(CliListener::bind_with(&Endpoint::unix(socket), cli).await?)
        }
    };
    let mut launch = Launch::new(&binaries.demo_service);
    launch
        .args(["--port", "0"])
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", &recording.database_url)
        .env("RATES_URL", &recording.rates_url)
        .env("LLVM_PROFILE_FILE", work.join("demo-service-%p.profraw"));
    if let Some(listener) = &listener {
        launch
            .channel(listener.local_endpoint())
            .env("TUSK_DRIFT_MODE", "REPLAY")
            .env("TUSK_COVERAGE", "true");
    }
    // Killed (not stopped gracefully: no profile is written) when dropped.
    let service = launch.start().context("starting demo-service")?;
    // In REPLAY mode the SDK connects first and its start-up statements are answered over
    // that connection before it listens: the accept runs while the address is awaited.
    let listening = tokio::task::spawn_blocking(move || {
        let mut service = service;
        let address = service.wait_for_address(Duration::from_secs(60));
        (service, address)
    });
    let connection = match &listener {
        Some(listener) => Some(
            listener
                .accept(Duration::from_secs(30))
                .await
                .context("demo-service's SDK did not connect (does it call cov_sdk::init()?)")?,
        ),
        None => None,
    };
    let (service, address) = listening.await?;
    let address = address?;
    if let Some(connection) = &connection {
        connection
            .baseline(Duration::from_secs(60))
            .await
            .context("baseline snapshot")?;
    }

    // Let every configuration settle alike (the SDK's start-up work is done by now), warm
    // up (connections, allocator, caches), then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tools = binaries.bench_tools.clone();
    let warm_up = load_for(tools.clone(), address, 1.0, MIX);
    tokio::task::spawn_blocking(warm_up).await??;
    let pid = service.id();
    let cpu_before = process_cpu_seconds(pid)?;
    let sdk_cpu_before = sdk_threads_cpu_seconds(pid)?;
    let measured = tokio::task::spawn_blocking(load_for(tools, address, options.seconds, MIX));
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
                        connection.delta(Duration::from_secs(60)).await.context("delta snapshot")?;
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
    let tally = mocks.tally();
    anyhow::ensure!(
        tally.not_found.is_empty() && tally.approximate.is_empty(),
        "the replayed service's start was not answered from the recording: {tally:?}"
    );
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_parenthesized_name() {
        let stat = "4242 (demo (x) svc) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 37 0 0 20 0 3";
        assert_eq!(cpu_seconds_from_stat(stat), Some(2.87));
        assert_eq!(cpu_seconds_from_stat("4242 (demo) S 1"), None);
    }

    /// Spins a thread named `name` until `seconds_of` (read for this process) has grown by
    /// 0.05 s; false when it has not after 20 s of wall time.
    fn spinning_shows_in(name: &str, seconds_of: fn(u32) -> anyhow::Result<f64>) -> bool {
        let pid = std::process::id();
        let before = seconds_of(pid).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let spinner = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                }
            })
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut grew = false;
        while !grew && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            grew = seconds_of(pid).unwrap() - before >= 0.05;
        }
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        grew
    }

    #[test]
    fn process_cpu_time_grows_while_the_process_works() {
        assert!(spinning_shows_in("busy", process_cpu_seconds));
    }

    #[test]
    fn sdk_cpu_time_counts_the_threads_named_after_the_sdk_and_no_others() {
        // No other test starts a `cov-sdk*` thread: until this one does, the SDK's share
        // is exactly zero however busy the process is.
        assert!(spinning_shows_in("busy-too", process_cpu_seconds));
        assert_eq!(sdk_threads_cpu_seconds(std::process::id()).unwrap(), 0.0);
        assert!(spinning_shows_in("cov-sdk-test", sdk_threads_cpu_seconds));
    }
}
