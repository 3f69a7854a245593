//! `cargo xtask demo`: the whole system in one command.
//!
//! It builds `examples/demo-service` (an axum service on PostgreSQL that calls the rates
//! service, and links the SDK) with `-C instrument-coverage` and branch coverage, and the
//! rates service (`examples/rates-service`) uninstrumented, then runs the loop a Tusk user
//! runs:
//!
//! 1. **Record**: a throwaway PostgreSQL and the rates service are started, the demo
//!    service runs with `TUSK_DRIFT_MODE=RECORD` under a scripted set of requests (each
//!    becomes a trace file, its statements and rates calls CLIENT spans of it, the
//!    start-up statements pre-app-start spans), it is stopped with `POST /shutdown`, and
//!    the rates service and PostgreSQL are stopped.
//! 2. **Replay**, with both stopped: our driver plays the Tusk CLI exactly as
//!    `tusk drift run --show-coverage` does. It listens on a unix socket (or TCP with
//!    `--tcp`), starts the service with `TUSK_COVERAGE=true TUSK_DRIFT_MODE=REPLAY
//!    TUSK_MOCK_SOCKET=…` and the database and rates URLs it was recorded with, answers
//!    every mock request from the trace files as the CLI matches them
//!    ([`cov_driver::TraceMocks`]), takes the baseline, replays every recorded test with
//!    its `x-td-trace-id` and a snapshot after each (the tests of status 300 and above,
//!    which the real CLI skips, too, so that the error paths show), stops the service,
//!    aggregates with cov-report and writes the reports: `coverage.lcov`,
//!    `coverage.json`, `cobertura.xml` and `html/index.html` under `target/cov-demo/` (or
//!    `--out DIR`), plus the terminal summary. It fails unless every outbound call and
//!    statement was answered by the recorded call of the same input.
//!
//! The service also writes its whole-run LLVM profile (`demo-service.profraw`) next to the
//! reports, so anyone can check the result against `llvm-cov`; the test at the bottom of
//! this file does exactly that.

mod record;
mod script;
mod service;
mod tusk;
mod tusk_cli;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use cov_driver::replay::{Listen, Replay, Stop, Test};
use cov_driver::{MockTally, TraceMocks};
use cov_report::html::HtmlReport;
use cov_report::{Aggregate, CoverageView, terminal};
use cov_testkit::{LcovTracefile, oracle_lcov_of};

use crate::provision;
pub(crate) use record::{Dependencies, Recording, build_rates};
pub(crate) use script::steps;

/// What one replay is run with.
#[derive(Clone, Debug)]
pub(crate) struct DemoOptions {
    /// Where the reports, the service's log and its profile go (created if missing).
    pub(crate) out_dir: PathBuf,
    /// TCP instead of a unix socket.
    pub(crate) tcp: bool,
    /// Print a line per step on stderr.
    pub(crate) progress: bool,
    /// How the service is stopped at the end: `POST /shutdown` (the demo's own way) or,
    /// as the Tusk CLI stops a service, `SIGTERM`.
    pub(crate) stop: Stop,
    /// Fail a step whose trace id (its `x-td-trace-id` header) gets no inbound replay span
    /// from the SDK, as the CLI does under `TUSK_REQUIRE_INBOUND_REPLAY_SPAN=1`.
    pub(crate) require_inbound_spans: bool,
}

/// The demo's own way to stop the service.
pub(crate) fn shutdown_request() -> Stop {
    Stop::Request {
        method: "POST".to_owned(),
        path: "/shutdown".to_owned(),
        expect_status: 202,
    }
}

/// What a replay produced.
pub(crate) struct Outcome {
    /// Everything the SDK reported, as the CLI collects it.
    pub(crate) aggregate: Aggregate,
    /// The merged result the reports are written from.
    pub(crate) view: CoverageView,
    /// The service's whole-run LLVM profile, written at its exit.
    pub(crate) profraw: PathBuf,
    /// The reports written, in the order listed to the user.
    pub(crate) reports: Vec<PathBuf>,
    /// Steps whose status was not the expected one, with what came back.
    pub(crate) failures: Vec<String>,
    /// How the service's outbound calls and statements were answered.
    pub(crate) mocks: MockTally,
}

impl Outcome {
    /// Why the replay did not answer every outbound call and statement with the recorded
    /// call of the same input, if it did not.
    pub(crate) fn mock_problems(&self) -> Option<String> {
        let MockTally {
            approximate,
            not_found,
            ..
        } = &self.mocks;
        if approximate.is_empty() && not_found.is_empty() {
            return None;
        }
        let lines: Vec<String> = not_found
            .iter()
            .map(|line| format!("no recorded answer: {line}"))
            .chain(
                approximate
                    .iter()
                    .map(|line| format!("answered by another input: {line}")),
            )
            .collect();
        Some(lines.join("\n  "))
    }
}

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Demo) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let out_dir = flags
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/cov-demo"));
    // Absolute, because the services run in other directories and write here.
    let out_dir = std::path::absolute(&out_dir)
        .with_context(|| format!("cannot resolve {}", out_dir.display()))?;
    eprintln!(
        "demo: building {} with RUSTFLAGS=\"{}\" RUSTC_BOOTSTRAP=1 into {}",
        service::PACKAGE,
        service::RUSTFLAGS,
        display_relative(&service::target_dir(&root), &root),
    );
    let binary = service::build(&root, false)?;
    if flags.build_only {
        println!("{}", binary.display());
        return Ok(());
    }
    provision::ensure_postgres()?;
    eprintln!(
        "demo: building rates-service, the service it calls (uninstrumented, no SDK: \
         somebody else's service), into target/cov-demo/rates"
    );
    let rates_binary = record::build_rates(&root)?;
    if flags.tusk {
        return tusk::run(&root, &binary, &rates_binary, &out_dir);
    }

    let recording = record_with_dependencies(
        "demo",
        &root,
        &binary,
        &rates_binary,
        &out_dir.join("traces"),
        &out_dir,
    )?;
    let skipped = recording.tests.len() - recording.replayable().len();
    eprintln!(
        "demo: REPLAY with our driver in the Tusk CLI's place, the rates service and \
         PostgreSQL stopped: every outbound call and statement must be answered from the \
         recording. All {} recorded tests are replayed, also the {skipped} the Tusk CLI \
         skips (status >= 300), so that the error paths show.",
        recording.tests.len(),
    );
    let options = DemoOptions {
        out_dir: out_dir.clone(),
        tcp: flags.tcp,
        progress: true,
        stop: shutdown_request(),
        require_inbound_spans: true,
    };
    let outcome = replay(
        &root,
        &binary,
        &options,
        &recording,
        recording.tests.clone(),
    )?;
    println!();
    print!("{}", terminal::render(&outcome.view));
    println!("\nReports:");
    for report in &outcome.reports {
        println!("  {}", display_relative(report, &root));
    }
    println!(
        "  {} (the service's whole-run LLVM profile, for llvm-cov)",
        display_relative(&outcome.profraw, &root)
    );
    println!(
        "  {} (the recording: one trace file per request)",
        display_relative(&recording.traces_dir, &root)
    );
    if !outcome.failures.is_empty() {
        bail!(
            "{} of {} tests did not answer as recorded:\n  {}",
            outcome.failures.len(),
            recording.tests.len(),
            outcome.failures.join("\n  ")
        );
    }
    if let Some(problems) = outcome.mock_problems() {
        bail!("the replay was not answered from the recording:\n  {problems}");
    }
    println!(
        "\nReplayed {} recorded tests ({skipped} of them with a status the Tusk CLI skips) with \
         the rates service and PostgreSQL stopped: each answered as recorded, and every \
         outbound call and statement was answered from the recording ({} mock requests: \
         statements, prepares and rates calls, each answered by the recorded one of the \
         same input).",
        recording.tests.len(),
        outcome.mocks.exact,
    );
    Ok(())
}

/// Starts the demo's dependencies (a throwaway PostgreSQL, the rates service), records the
/// service under the script into `traces_dir`, and stops the dependencies again, saying so
/// on stderr with `tag` in front.
pub(crate) fn record_with_dependencies(
    tag: &str,
    root: &Path,
    binary: &Path,
    rates_binary: &Path,
    traces_dir: &Path,
    out_dir: &Path,
) -> anyhow::Result<Recording> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let dependencies = record::Dependencies::start(rates_binary, out_dir)?;
    eprintln!(
        "{tag}: RECORD: PostgreSQL at {} (a throwaway server), the rates service at {}",
        dependencies.database_url(),
        dependencies.rates_url(),
    );
    eprintln!(
        "{tag}: recording the demo service (TUSK_DRIFT_MODE=RECORD) under the script's {} requests",
        steps().len()
    );
    let recording = record::record(root, binary, &dependencies, traces_dir, out_dir);
    let stopped = dependencies.stop();
    let recording = recording?;
    stopped?;
    let spans = record::outbound_spans(traces_dir)?;
    eprintln!(
        "{tag}: recorded {} traces in {}: {}",
        recording.tests.len(),
        display_relative(traces_dir, root),
        spans.summary()
    );
    eprintln!(
        "{tag}: stopped the rates service and PostgreSQL: nothing answers at {} or {} any more",
        recording.rates_url, recording.database_url
    );
    Ok(recording)
}

/// Plays the Tusk CLI against the instrumented `binary` with cov-driver's replay
/// (handshake, mocks from `recording`, baseline, one snapshot per test, stop), then writes
/// the reports into `options.out_dir`.
pub(crate) fn replay(
    root: &Path,
    binary: &Path,
    options: &DemoOptions,
    recording: &Recording,
    tests: Vec<Test>,
) -> anyhow::Result<Outcome> {
    // Absolute, because the service runs in another directory and writes its profile here.
    let out_dir = &std::path::absolute(&options.out_dir)
        .with_context(|| format!("cannot resolve {}", options.out_dir.display()))?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let profraw = out_dir.join("demo-service.profraw");
    remove_if_present(&profraw)?;
    let log = out_dir.join("service.log");
    let mocks = Arc::new(TraceMocks::load(&recording.traces_dir)?);

    let mut replay = Replay::new(
        service::launch(
            root,
            binary,
            &profraw,
            &log,
            &recording.database_url,
            &recording.rates_url,
        ),
        tests,
    );
    replay
        .listen(if options.tcp {
            Listen::Tcp
        } else {
            Listen::Unix
        })
        .stop(options.stop.clone())
        .readiness_path("/health")
        .require_inbound_spans(options.require_inbound_spans)
        .relative_to(root)
        .mock_source(Arc::clone(&mocks) as Arc<dyn cov_driver::MockSource>);
    if options.progress {
        replay.progress(|text| eprintln!("demo: {text}"));
    }
    let outcome = replay
        .run()
        .with_context(|| format!("the service's log is in {}", log.display()))?;
    if !outcome.exit.success() {
        bail!(
            "the service exited with {}; its log is in {}",
            outcome.exit,
            log.display()
        );
    }
    if !profraw.is_file() {
        bail!(
            "the service exited but wrote no profile at {}",
            profraw.display()
        );
    }

    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let reports = cov_driver::reports::write_report_dir(
        &outcome.view,
        out_dir,
        HtmlReport::new().title("demo-service coverage"),
        &canonical_root,
    )?
    .paths()
    .map(Path::to_path_buf)
    .to_vec();
    Ok(Outcome {
        aggregate: outcome.aggregate,
        view: outcome.view,
        profraw,
        reports,
        failures: outcome.failures,
        mocks: mocks.tally(),
    })
}

/// Where the service's own files are, relative to the workspace root.
const SERVICE_PREFIX: &str = "examples/demo-service/src/";

/// What ran after the last snapshot, per line: an idle run's whole-run counts minus its
/// baseline.
fn shutdown_counts(
    binary: &Path,
    root: &Path,
    idle: &Outcome,
) -> anyhow::Result<BTreeMap<String, BTreeMap<u32, u64>>> {
    let oracle = service_oracle(binary, root, &idle.profraw);
    let baseline = idle
        .aggregate
        .baseline()
        .context("the idle run got no baseline")?;
    let mut after = BTreeMap::new();
    for (path, file) in oracle {
        let mut lines = BTreeMap::new();
        for (line, count) in file.lines {
            let before = baseline
                .get(&path)
                .and_then(|record| record.lines.get(&line))
                .copied()
                .unwrap_or(0);
            let Some(difference) = count.checked_sub(before) else {
                bail!("{path}:{line}: the idle baseline ({before}) exceeds llvm-cov ({count})");
            };
            if difference > 0 {
                lines.insert(line, difference);
            }
        }
        after.insert(path, lines);
    }
    Ok(after)
}

/// `llvm-cov`'s LCOV of the service's own files for the run that wrote `profraw`, keyed by
/// their path relative to `root`. Only those files are exported, as only they are
/// compared.
fn service_oracle(
    binary: &Path,
    root: &Path,
    profraw: &Path,
) -> BTreeMap<String, cov_testkit::LcovFile> {
    let sources = root.join(SERVICE_PREFIX);
    service_files(
        &LcovTracefile::parse(&oracle_lcov_of(binary, &[profraw], &[&sources])),
        root,
    )
}

/// The service's own files of an `llvm-cov` LCOV, keyed by their path relative to `root`
/// (as the CLI and our driver name them).
fn service_files(lcov: &LcovTracefile, root: &Path) -> BTreeMap<String, cov_testkit::LcovFile> {
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    lcov.files
        .iter()
        .filter_map(|(path, file)| {
            let relative = Path::new(path)
                .strip_prefix(&canonical_root)
                .ok()?
                .display()
                .to_string();
            relative
                .starts_with(SERVICE_PREFIX)
                .then(|| (relative, file.clone()))
        })
        .collect()
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn display_relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The demo end to end, checked against `llvm-cov`.
    ///
    /// The service's profile is written at exit, so it also holds what ran after the last
    /// snapshot (the `POST /shutdown` handler and the shutdown path). A second, idle run
    /// (baseline, then straight to shutdown, over TCP this time) measures exactly that
    /// remainder: its oracle minus its baseline. So for every line of every service file:
    ///
    /// `oracle(full run) = baseline + sum of per-test deltas + (oracle(idle) − baseline(idle))`
    #[test]
    fn demo_run_agrees_with_the_llvm_cov_oracle_and_its_reports_parse() {
        let root = crate::workspace_root();
        let binary = service::build_for_tests();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let recording = record::record_for_tests(
            &root,
            &binary,
            "xtask_demo_oracle",
            &dir.path().join("record"),
        );
        assert_eq!(recording.tests.len(), steps().len());

        // The database and the rates service are stopped: the replays are answered from
        // the recording alone.
        let full = replay(
            &root,
            &binary,
            &DemoOptions {
                out_dir: dir.path().join("full"),
                tcp: false,
                progress: false,
                stop: shutdown_request(),
                require_inbound_spans: true,
            },
            &recording,
            recording.tests.clone(),
        )
        .expect("the demo runs over a unix socket");
        assert!(full.failures.is_empty(), "{:#?}", full.failures);
        assert_eq!(full.mock_problems(), None);
        assert!(full.mocks.exact > recording.tests.len(), "{:?}", full.mocks);
        let idle = replay(
            &root,
            &binary,
            &DemoOptions {
                out_dir: dir.path().join("idle"),
                tcp: true,
                progress: false,
                stop: shutdown_request(),
                require_inbound_spans: true,
            },
            &recording,
            Vec::new(),
        )
        .expect("the demo runs over TCP");
        assert_eq!(idle.mock_problems(), None);

        let service_prefix = SERVICE_PREFIX;
        let oracle_full: BTreeMap<String, BTreeMap<u32, u64>> =
            service_oracle(&binary, &root, &full.profraw)
                .into_iter()
                .map(|(path, file)| (path, file.lines))
                .collect();
        let shutdown = shutdown_counts(&binary, &root, &idle)
            .expect("the idle run's baseline never exceeds its oracle");
        let baseline_full = full.aggregate.baseline().expect("a baseline arrived");

        let our_files: BTreeSet<&String> = full.view.files.keys().collect();
        let oracle_files: BTreeSet<&String> = oracle_full.keys().collect();
        assert_eq!(
            our_files, oracle_files,
            "the SDK reports exactly the service's own files"
        );
        assert!(our_files.len() >= 5, "{our_files:?}");

        let mut mismatches = Vec::new();
        for (path, oracle_lines) in &oracle_full {
            let mut ours: BTreeMap<u32, u64> = baseline_full[path].lines.clone();
            for test in full.aggregate.tests() {
                if let Some(file) = test.coverage.files.get(path) {
                    for (line, count) in &file.lines {
                        *ours.entry(*line).or_default() += count;
                    }
                }
            }
            for (line, &after_last_snapshot) in shutdown.get(path).into_iter().flatten() {
                *ours.entry(*line).or_default() += after_last_snapshot;
            }
            let lines: BTreeSet<u32> = oracle_lines.keys().chain(ours.keys()).copied().collect();
            for line in lines {
                let expected = oracle_lines.get(&line);
                let actual = ours.get(&line);
                if expected != actual {
                    mismatches.push(format!(
                        "{path}:{line}: llvm-cov {expected:?}, baseline + tests + shutdown {actual:?}"
                    ));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} lines differ from the oracle:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );

        // Different tests cover different code (a test of the view is named after its step
        // of the script; its id is its trace id).
        let test_files = |id: &str| -> BTreeSet<String> {
            let step = steps().into_iter().find(|step| step.id == id).expect(id);
            let test = full
                .view
                .tests
                .iter()
                .find(|test| test.name == step.name)
                .expect(id);
            test.files.keys().cloned().collect()
        };
        let pricing = format!("{service_prefix}pricing.rs");
        let orders = format!("{service_prefix}orders.rs");
        assert!(test_files("order-save10").contains(&pricing));
        assert!(!test_files("health").contains(&orders));
        assert!(!test_files("list-coffee").contains(&pricing));
        // The replay's error paths: answers the real CLI would skip.
        let error = format!("{service_prefix}error.rs");
        assert!(test_files("create-duplicate-product").contains(&error));
        assert!(test_files("get-product-eur").contains(&format!("{service_prefix}rates.rs")));

        check_reports(&full);
    }

    /// The four reports parse and say what the view says.
    fn check_reports(run: &Outcome) {
        let out_dir = run
            .profraw
            .parent()
            .expect("the profile is in the output directory");
        let read = |name: &str| {
            std::fs::read_to_string(out_dir.join(name))
                .unwrap_or_else(|error| panic!("reading {name}: {error}"))
        };
        let totals = run.view.totals();

        let lcov = LcovTracefile::parse(&read("coverage.lcov"));
        let lcov_lines: BTreeMap<&String, &BTreeMap<u32, u64>> = lcov
            .files
            .iter()
            .map(|(path, file)| (path, &file.lines))
            .collect();
        let view_lines: BTreeMap<&String, &BTreeMap<u32, u64>> = run
            .view
            .files
            .iter()
            .map(|(path, file)| (path, &file.lines))
            .collect();
        assert_eq!(lcov_lines, view_lines);

        let json: serde_json::Value =
            serde_json::from_str(&read("coverage.json")).expect("coverage.json parses");
        let aggregate = &json["summary"]["aggregate"];
        assert_eq!(aggregate["total_covered_lines"], totals.covered_lines);
        assert_eq!(aggregate["total_coverable_lines"], totals.lines);
        assert_eq!(aggregate["covered_branches"], totals.covered_branches);
        assert_eq!(
            json["summary"]["per_test"].as_array().map(Vec::len),
            Some(steps().len())
        );

        let cobertura = read("cobertura.xml");
        let mut reader = quick_xml::Reader::from_str(&cobertura);
        let mut lines_covered = None;
        loop {
            match reader.read_event().expect("cobertura.xml is well-formed") {
                quick_xml::events::Event::Start(element)
                    if element.name().as_ref() == b"coverage" =>
                {
                    let value = element
                        .try_get_attribute("lines-covered")
                        .expect("attributes parse")
                        .expect("lines-covered is present");
                    lines_covered = Some(String::from_utf8_lossy(&value.value).into_owned());
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(lines_covered, Some(totals.covered_lines.to_string()));

        let index = read("html/index.html");
        for path in run.view.files.keys() {
            assert!(index.contains(path.as_str()), "the index lists {path}");
        }
        let pages = std::fs::read_dir(out_dir.join("html/files"))
            .expect("html/files exists")
            .count();
        assert_eq!(pages, run.view.files.len());
    }
}
