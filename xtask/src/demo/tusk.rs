//! `cargo xtask demo --tusk`: the demo with the real Tusk CLI.
//!
//! 1. **Record.** The instrumented demo service runs with `TUSK_DRIFT_MODE=RECORD` under the
//!    demo's scripted requests; the SDK's recorder writes one trace file per request. The
//!    service is stopped with `SIGTERM`, so no request of ours that is not a test (such as
//!    `POST /shutdown`) is recorded.
//! 2. **Replay with the CLI.** `tusk drift run --print --output-format json --show-coverage`
//!    replays the traces twice, once writing `--coverage-output coverage.json` and once
//!    `coverage.lcov`, with `TUSK_REQUIRE_INBOUND_REPLAY_SPAN=1` as the official SDKs' own
//!    end-to-end suites run it. Tests recorded with a status of 300 or more are skipped by
//!    the CLI.
//! 3. **Check.** Our own driver replays the tests the CLI replayed, in the same order, and an
//!    idle run (baseline, then `SIGTERM`) measures what runs after the last snapshot. The
//!    CLI names files relative to the git root of the directory it runs in, or absolutely
//!    when that directory is outside any repository (an `--out` outside this one); both are
//!    read back to the same names before comparing. Then:
//!    every replayed test passed and their number is that of the 2xx traces; each test's
//!    covered lines in the CLI's JSON equal the lines our driver attributes to the same
//!    request; the CLI's aggregate LCOV plus the shutdown path equals `llvm-cov`'s counts of
//!    the service's whole run on every line; and its per-line branch totals equal
//!    `llvm-cov`'s number of `BRDA` entries on that line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use cov_driver::PortReservation;
use cov_driver::replay::{Stop, Test};
use cov_testkit::LcovTracefile;
use serde_json::Value;

use super::record::{OutboundSpans, outbound_spans};
use super::tusk_cli::{CliRun, CoverageExport, Project, ServiceLaunch, TuskCli};
use super::{
    DemoOptions, Outcome, Recording, record_with_dependencies, remove_if_present, service,
    service_oracle, shutdown_counts,
};
use crate::provision;

/// The step of the script whose trace the request never recorded is made from: a price in
/// euros, which asks the rates service for the euro.
const UNRECORDED_FROM: &str = "GET /products/1?currency=EUR";
/// The request never recorded: the same product in Swiss francs, a currency the recording
/// never asked the rates service for.
const UNRECORDED_TARGET: &str = "/products/1?currency=CHF";

/// The beginning of the error the SDK returns to the handler for the unrecorded request's
/// call to the rates service (cov-sdk's `ReplayError`: the call, then why it has no answer).
const UNMATCHED_CALL_ERROR: &str = "Tusk Drift replay: GET http://";

/// Records the demo service, replays it with the real CLI and checks the CLI's coverage.
pub(crate) fn run(
    root: &Path,
    binary: &Path,
    rates_binary: &Path,
    out_dir: &Path,
) -> anyhow::Result<()> {
    let cli = TuskCli::locate(root)?;
    eprintln!("tusk: the Tusk CLI is {}", cli.path().display());
    provision::ensure_llvm_tools()?;
    // curl for the readiness check.
    provision::ensure_debian_programs(&[("curl", "curl")])?;
    let project_dir = out_dir.join("tusk");
    let traces_dir = project_dir.join(".tusk/traces");

    let recording =
        record_with_dependencies("tusk", root, binary, rates_binary, &traces_dir, out_dir)?;
    let spans = outbound_spans(&traces_dir)?;
    let mut problems = check_outbound_spans(&recording, &spans);
    let tests = recording.replayable();
    eprintln!(
        "tusk: the CLI replays the {} traces with a status below 300 and skips {}; the rates \
         service and PostgreSQL stay stopped",
        tests.len(),
        recording.tests.len() - tests.len(),
    );

    // Held until the runs are over: nobody else gets the port, and nothing answers on it
    // until the service the CLI starts listens there.
    let port = PortReservation::new().context("cannot reserve a port for the service")?;
    let mut runs = Vec::new();
    for output in ["coverage.json", "coverage.lcov"] {
        let profraw = out_dir.join(format!("tusk-{output}.profraw"));
        remove_if_present(&profraw)?;
        let project = Project::create(
            &project_dir,
            &service_launch(binary, root, port.port(), &profraw, &recording),
        )?;
        let coverage_output = out_dir.join(output);
        remove_if_present(&coverage_output)?;
        eprintln!("tusk: tusk drift run --show-coverage --coverage-output {output}");
        let run = cli.replay(
            &project,
            &coverage_output,
            &[("TUSK_REQUIRE_INBOUND_REPLAY_SPAN", "1")],
        )?;
        runs.push((run, coverage_output, profraw));
    }

    // A request the recording never saw, replayed by the real CLI among the recorded ones.
    let unrecorded_dir = out_dir.join("tusk-unrecorded");
    let unrecorded = unrecorded_trace(&recording, &unrecorded_dir.join(".tusk/traces"))?;
    let profraw = out_dir.join("tusk-unrecorded.profraw");
    let project = Project::create(
        &unrecorded_dir,
        &service_launch(binary, root, port.port(), &profraw, &recording),
    )?;
    eprintln!(
        "tusk: the same with one more trace, made by hand: GET {UNRECORDED_TARGET}, a request \
         the recording never saw"
    );
    let unrecorded_run = cli.replay(
        &project,
        &out_dir.join("coverage-unrecorded.json"),
        &[("TUSK_REQUIRE_INBOUND_REPLAY_SPAN", "1")],
    )?;
    drop(port);
    let unmatched = check_unrecorded_run(&unrecorded_run, &tests, &unrecorded);
    let unmatched_report = match &unmatched {
        Ok(report) => Some(report.clone()),
        Err(failures) => {
            problems.extend(failures.iter().cloned());
            None
        }
    };

    eprintln!("tusk: replaying the same tests with our own driver, then an idle run");
    let driver = driver_replay(
        root,
        binary,
        &out_dir.join("driver"),
        &recording,
        tests.clone(),
    )?;
    let idle = driver_replay(root, binary, &out_dir.join("idle"), &recording, Vec::new())?;

    let (json_run, json_path, _) = &runs[0];
    let (lcov_run, lcov_path, lcov_profraw) = &runs[1];
    for (run, name) in [(json_run, "JSON"), (lcov_run, "LCOV")] {
        problems.extend(check_results(run, &tests, name));
    }
    let cli_paths = CliPaths::of_project(&project_dir, root);
    let mut export = CoverageExport::read(json_path)?;
    export.per_test = export
        .per_test
        .into_iter()
        .map(|(test, files)| (test, cli_paths.rename(files)))
        .collect();
    problems.extend(check_per_test(&export, &driver, &tests));
    let mut cli_lcov = LcovTracefile::try_parse(
        &std::fs::read_to_string(lcov_path)
            .with_context(|| format!("the CLI wrote no LCOV at {}", lcov_path.display()))?,
    )
    .map_err(|error| anyhow::anyhow!("{}: {error}", lcov_path.display()))?;
    cli_lcov.files = cli_paths.rename(cli_lcov.files);
    let oracle = service_oracle(binary, root, lcov_profraw);
    let shutdown = shutdown_counts(binary, root, &idle)?;
    problems.extend(check_aggregate(&cli_lcov, &oracle, &shutdown));

    println!("\nThe Tusk CLI's own verdict: {}", json_run.verdict());
    println!("\nThe Tusk CLI's own coverage summary (--show-coverage):\n");
    println!("{}", json_run.coverage_summary());
    println!("\nOur report of the same tests (cargo xtask demo's driver):\n");
    print!("{}", cov_report::terminal::render(&driver.view));
    println!("\nThe CLI's reports:");
    println!("  {}", json_path.display());
    println!("  {}", lcov_path.display());
    if let Some(report) = &unmatched_report {
        println!("\nThe request the recording never saw, as the real CLI replayed it:\n");
        println!("{report}");
    }
    if !problems.is_empty() {
        bail!(
            "the real CLI and our side disagree in {} places:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!(
        "\nChecked: {} tests passed under the real CLI with the rates service and PostgreSQL \
         stopped ({}); every test's lines equal our driver's; its aggregate equals llvm-cov's \
         on {} lines of {} files, branches included; a request never recorded failed its \
         test with the SDK's error for the unmatched call.",
        tests.len(),
        spans.summary(),
        oracle.values().map(|file| file.lines.len()).sum::<usize>(),
        oracle.len(),
    );
    Ok(())
}

/// How the CLI starts the service: the database and rates URLs it was recorded with,
/// though nothing answers there any more.
fn service_launch<'a>(
    binary: &'a Path,
    root: &Path,
    port: u16,
    profraw: &'a Path,
    recording: &'a Recording,
) -> ServiceLaunch<'a> {
    ServiceLaunch {
        binary,
        working_dir: root.join("examples").join(service::PACKAGE),
        port,
        profraw,
        database_url: &recording.database_url,
        rates_url: &recording.rates_url,
    }
}

/// The trace files hold the outbound calls: statements before the start and in the trace
/// of every request answered with data, calls to the rates service and to nothing else,
/// among them those of the prices and quotes in other currencies, each in its own trace.
fn check_outbound_spans(recording: &Recording, spans: &OutboundSpans) -> Vec<String> {
    let mut problems = Vec::new();
    if spans.count("", "postgres") == 0 {
        problems.push("no start-up statement was recorded as a pre-app-start span".to_owned());
    }
    if spans.http_urls.is_empty() {
        problems.push("no call to the rates service was recorded".to_owned());
    }
    for url in &spans.http_urls {
        if !url.starts_with(&format!("{}/", recording.rates_url)) {
            problems.push(format!(
                "a recorded HTTP call to {url}, not the rates service"
            ));
        }
    }
    for test in &recording.tests {
        if test.target != "/health"
            && test.expect_status < 300
            && spans.count(&test.id, "postgres") == 0
        {
            problems.push(format!("the trace of {} holds no statement", test.name));
        }
    }
    for name in [UNRECORDED_FROM, "GET /orders/1/quote?currency=JPY"] {
        match recording.tests.iter().find(|test| test.name == name) {
            Some(test) if spans.count(&test.id, "http") > 0 => {}
            Some(_) => problems.push(format!(
                "the trace of {name} holds no call to the rates service"
            )),
            None => problems.push(format!("no trace of {name} was recorded")),
        }
    }
    problems
}

/// The request the recording never saw, made by hand: the root span of the trace of
/// [`UNRECORDED_FROM`] with the request's target changed to [`UNRECORDED_TARGET`] and a
/// trace id of its own, and none of the recorded calls (its statement is answered by the
/// same statement of another trace, as the CLI matches across the suite; its call to the
/// rates service by nothing). Written into `traces_dir` (emptied first) with a copy of every
/// recorded trace; returns its trace id.
fn unrecorded_trace(recording: &Recording, traces_dir: &Path) -> anyhow::Result<String> {
    if traces_dir.exists() {
        std::fs::remove_dir_all(traces_dir)
            .with_context(|| format!("cannot clear {}", traces_dir.display()))?;
    }
    std::fs::create_dir_all(traces_dir)
        .with_context(|| format!("cannot create {}", traces_dir.display()))?;
    let from = recording
        .tests
        .iter()
        .find(|test| test.name == UNRECORDED_FROM)
        .context("the script has the step the request is made from")?;
    let mut source = None;
    for path in cov_driver::traces::trace_files(&recording.traces_dir)? {
        let name = path.file_name().context("a trace file has a name")?;
        std::fs::copy(&path, traces_dir.join(name))
            .with_context(|| format!("copying {}", path.display()))?;
        if name.to_string_lossy().contains(&from.id) {
            source = Some(path);
        }
    }
    let source = source.context("the trace of the step the request is made from")?;
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("reading {}", source.display()))?;
    let root_line = text
        .lines()
        .find(|line| line.contains("\"isRootSpan\":true"))
        .context("the trace has a root span")?;
    let mut span: Value = serde_json::from_str(root_line)?;
    let trace_id = format!("{:032x}", u128::from(std::process::id()) << 64 | 0xc4f);
    span["traceId"] = Value::String(trace_id.clone());
    span["name"] = Value::String(format!("GET {UNRECORDED_TARGET}"));
    let input = span["inputValue"]
        .as_object_mut()
        .context("the root span has an input value")?;
    let recorded_target = input
        .get("target")
        .and_then(Value::as_str)
        .context("the root span has a target")?
        .to_owned();
    for value in input.values_mut() {
        if let Value::String(text) = value {
            *text = text.replace(&recorded_target, UNRECORDED_TARGET);
        }
    }
    let name = cov_trace::file_name(std::time::SystemTime::now(), &trace_id);
    std::fs::write(
        traces_dir.join(name),
        format!("{}\n", serde_json::to_string(&span)?),
    )?;
    Ok(trace_id)
}

/// The CLI's run with the request never recorded: every recorded test passed, and the
/// unrecorded one failed because the service answered 502 with the SDK's error for the
/// unmatched call. Returns what the CLI printed about it.
fn check_unrecorded_run(
    run: &CliRun,
    tests: &[Test],
    unrecorded: &str,
) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    for test in tests {
        match run.results.iter().find(|result| result.test_id == test.id) {
            Some(result) if result.passed => {}
            Some(result) => problems.push(format!(
                "with the unrecorded request added, the CLI failed {}: {:?} {:?}",
                test.name, result.error, result.deviations
            )),
            None => problems.push(format!(
                "with the unrecorded request added, the CLI did not run {}",
                test.name
            )),
        }
    }
    let Some(result) = run
        .results
        .iter()
        .find(|result| result.test_id == unrecorded)
    else {
        problems.push(format!(
            "the CLI did not run the unrecorded request (trace {unrecorded})"
        ));
        return Err(problems);
    };
    let deviations = serde_json::to_string_pretty(&result.deviations).unwrap_or_default();
    if result.passed {
        problems.push("the CLI passed the request the recording never saw".to_owned());
    }
    if !deviations.contains("502") || !deviations.contains(UNMATCHED_CALL_ERROR) {
        problems.push(format!(
            "the request the recording never saw did not fail with a 502 carrying the SDK's \
             error for the unmatched call (`{UNMATCHED_CALL_ERROR}`): {deviations}"
        ));
    }
    if run.success {
        problems.push("the CLI exited 0 although a test failed".to_owned());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(format!(
        "  the CLI: {}\n  test {unrecorded} (GET {UNRECORDED_TARGET}): passed = {}, deviations = \
         {deviations}\n  the other {} tests: passed",
        run.verdict(),
        result.passed,
        tests.len()
    ))
}

/// Our own driver over `tests`, stopped as the CLI stops the service, with the mocks of
/// `recording`.
fn driver_replay(
    root: &Path,
    binary: &Path,
    out_dir: &Path,
    recording: &Recording,
    tests: Vec<Test>,
) -> anyhow::Result<Outcome> {
    let outcome = super::replay(
        root,
        binary,
        &DemoOptions {
            out_dir: out_dir.to_path_buf(),
            tcp: false,
            progress: false,
            stop: Stop::Signal,
            require_inbound_spans: true,
        },
        recording,
        tests,
    )?;
    if !outcome.failures.is_empty() {
        bail!(
            "our driver's replay of the traces answered unexpected statuses:\n  {}",
            outcome.failures.join("\n  ")
        );
    }
    if let Some(problems) = outcome.mock_problems() {
        bail!("our driver's replay was not answered from the recording:\n  {problems}");
    }
    Ok(outcome)
}

/// Every test the CLI ran passed, and it ran exactly the replayable traces.
fn check_results(run: &CliRun, tests: &[Test], name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !run.success {
        problems.push(format!(
            "the {name} run exited with an error:\n{}",
            run.stderr
        ));
    }
    let ran: BTreeSet<&str> = run.results.iter().map(|r| r.test_id.as_str()).collect();
    let expected: BTreeSet<&str> = tests.iter().map(|test| test.id.as_str()).collect();
    if ran != expected || run.results.len() != tests.len() {
        problems.push(format!(
            "the {name} run ran {} tests {ran:?}, expected the {} replayable traces {expected:?}",
            run.results.len(),
            tests.len()
        ));
    }
    for result in run.results.iter().filter(|result| !result.passed) {
        problems.push(format!(
            "the {name} run failed test {}: {:?} {:?}",
            result.test_id, result.error, result.deviations
        ));
    }
    problems
}

/// Each test's covered lines in the CLI's JSON equal those our driver attributes to it.
fn check_per_test(export: &CoverageExport, driver: &Outcome, tests: &[Test]) -> Vec<String> {
    let mut problems = Vec::new();
    for test in tests {
        let cli: BTreeMap<&str, &[u32]> = export
            .per_test
            .get(&test.id)
            .map(|files| {
                files
                    .iter()
                    .map(|(path, file)| (path.as_str(), file.covered_lines.as_slice()))
                    .collect()
            })
            .unwrap_or_default();
        let ours: BTreeMap<&str, &[u32]> = driver
            .view
            .tests
            .iter()
            .find(|coverage| coverage.id == test.id)
            .map(|coverage| {
                coverage
                    .files
                    .iter()
                    .map(|(path, file)| (path.as_str(), file.covered_lines.as_slice()))
                    .collect()
            })
            .unwrap_or_default();
        if cli != ours {
            problems.push(format!(
                "{} ({}): the CLI's per-test lines {cli:?} differ from our driver's {ours:?}",
                test.name, test.id
            ));
        }
        if ours.is_empty() {
            problems.push(format!("{} ({}) covered no line", test.name, test.id));
        }
    }
    problems
}

/// The CLI's aggregate plus what ran after the last snapshot equals llvm-cov's whole run,
/// line for line, and its branch totals equal llvm-cov's branch count per line.
fn check_aggregate(
    cli: &LcovTracefile,
    oracle: &BTreeMap<String, cov_testkit::LcovFile>,
    shutdown: &BTreeMap<String, BTreeMap<u32, u64>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let cli_files: BTreeSet<&String> = cli.files.keys().collect();
    let oracle_files: BTreeSet<&String> = oracle.keys().collect();
    if cli_files != oracle_files {
        problems.push(format!(
            "the CLI reports files {cli_files:?}, llvm-cov {oracle_files:?}"
        ));
    }
    for (path, expected) in oracle {
        let Some(file) = cli.files.get(path) else {
            continue;
        };
        let lines: BTreeSet<u32> = expected
            .lines
            .keys()
            .chain(file.lines.keys())
            .copied()
            .collect();
        for line in lines {
            let after_last_snapshot = shutdown
                .get(path)
                .and_then(|lines| lines.get(&line))
                .copied()
                .unwrap_or(0);
            let ours = file
                .lines
                .get(&line)
                .map(|count| count + after_last_snapshot);
            let theirs = expected.lines.get(&line).copied();
            if ours != theirs {
                problems.push(format!(
                    "{path}:{line}: llvm-cov {theirs:?}, the CLI's aggregate {:?} + {after_last_snapshot} after the last snapshot",
                    file.lines.get(&line)
                ));
            }
        }
        let per_line = |branches: &BTreeMap<(u32, u32, u32), Option<u64>>| {
            let mut totals = BTreeMap::<u32, usize>::new();
            for &(line, _, _) in branches.keys() {
                *totals.entry(line).or_default() += 1;
            }
            totals
        };
        let (cli_branches, oracle_branches) =
            (per_line(&file.branches), per_line(&expected.branches));
        if cli_branches != oracle_branches {
            problems.push(format!(
                "{path}: branch totals per line: the CLI {cli_branches:?}, llvm-cov {oracle_branches:?}"
            ));
        }
    }
    problems
}

/// How the Tusk CLI names the files of its reports, read back to the names our side uses
/// (paths relative to the workspace root).
///
/// The CLI makes each absolute path relative to `git rev-parse --show-toplevel` run where
/// it runs (the project directory), falling back to that directory itself outside a
/// repository, and keeps it absolute when it lies outside that base (`filepath.Rel` giving
/// `..`). So a relative name is read against the same base, and both kinds are then made
/// relative to the workspace root: the names compare equal however the CLI wrote them.
#[derive(Debug)]
struct CliPaths {
    /// What the CLI's relative names are relative to.
    base: PathBuf,
    /// The workspace root, canonicalized as the SDK reports paths.
    root: PathBuf,
}

impl CliPaths {
    /// How the CLI running in `project_dir` names the files of the workspace at `root`.
    fn of_project(project_dir: &Path, root: &Path) -> CliPaths {
        let git_root = Command::new("git")
            .args(["rev-parse", "--show-toplevel"])
            .current_dir(project_dir)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
        CliPaths::new(&git_root.unwrap_or_else(|| project_dir.to_path_buf()), root)
    }

    fn new(base: &Path, root: &Path) -> CliPaths {
        let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        CliPaths {
            base: canonical(base),
            root: canonical(root),
        }
    }

    /// Our name of the file the CLI calls `name`.
    fn ours(&self, name: &str) -> String {
        let path = Path::new(name);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        };
        absolute
            .strip_prefix(&self.root)
            .unwrap_or(&absolute)
            .display()
            .to_string()
    }

    /// `files` keyed by our names.
    fn rename<V>(&self, files: BTreeMap<String, V>) -> BTreeMap<String, V> {
        files
            .into_iter()
            .map(|(name, value)| (self.ours(&name), value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cov_driver::traces;

    use super::*;
    use crate::demo::steps;

    /// What `cargo xtask test` can check of the record-and-replay loop without the real
    /// CLI (which the Go module proxy does not serve on every machine): the recorder's
    /// traces, read and replayed with the CLI's rules by our own driver, reproduce the
    /// script, with the database and the rates service stopped. Every file parses line by
    /// line, one root span per request with its statements and rates calls beside it; the
    /// replayable tests are the script's 2xx requests, in order, method, target and body
    /// unchanged; each replayed request answers its recorded status and gets an inbound
    /// replay span, every outbound call and statement answered by the recorded one of the
    /// same input; and each covers exactly the lines the same scripted request covers.
    /// Then the request the recording never saw: its call to the rates service gets the
    /// SDK's error, the service answers 502, and nothing is called.
    #[test]
    fn recorded_traces_replay_to_the_coverage_of_the_script() {
        let root = crate::workspace_root();
        let binary = service::build_for_tests();
        // Outside the repository, and not there yet: `--out` anywhere works.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out_dir = dir.path().join("not/yet/there");
        let recording = super::super::record::record_for_tests(
            &root,
            &binary,
            "xtask_demo_recorded_traces",
            &out_dir,
        );
        assert_eq!(recording.tests.len(), steps().len());
        assert!(out_dir.join("record.log").is_file());
        let mut roots = 0;
        for path in traces::trace_files(&recording.traces_dir).expect("trace files") {
            let text = std::fs::read(&path).expect("a trace file reads");
            let spans = cov_trace::read::parse_spans(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let root_spans = spans.iter().filter(|span| span.is_root_span).count();
            assert!(root_spans <= 1, "{}: one request per trace", path.display());
            roots += root_spans;
            let trace = &spans[0].trace_id;
            assert!(
                spans.iter().all(|span| &span.trace_id == trace),
                "{}: one trace per file",
                path.display()
            );
        }
        assert_eq!(roots, steps().len());
        let spans = outbound_spans(&recording.traces_dir).expect("the traces read");
        assert_eq!(
            check_outbound_spans(&recording, &spans),
            Vec::<String>::new()
        );

        let tests = traces::replayable(&recording.traces_dir).expect("the traces load");
        let scripted: Vec<Test> = steps()
            .into_iter()
            .filter(|step| step.expect_status < 300)
            .collect();
        assert_eq!(tests.len(), scripted.len());
        for (test, step) in tests.iter().zip(&scripted) {
            assert_eq!(
                (&test.method, &test.target, &test.body, test.expect_status),
                (&step.method, &step.target, &step.body, step.expect_status),
                "the trace of {}",
                step.name
            );
        }

        // `driver_replay` fails on any unexpected status, missing inbound span, or call or
        // statement not answered by the recorded one of the same input.
        let from_traces = driver_replay(
            &root,
            &binary,
            &out_dir.join("from-traces"),
            &recording,
            tests.clone(),
        )
        .expect("the traces replay");
        // The script's own requests, with nothing of the traces but the trace id a replayed
        // request needs to be answered from its trace.
        let with_trace_ids: Vec<Test> = scripted
            .iter()
            .zip(&tests)
            .map(|(step, test)| {
                let mut step = step.clone();
                step.id.clone_from(&test.id);
                step.headers
                    .push(("x-td-trace-id".to_owned(), test.id.clone()));
                step
            })
            .collect();
        let from_script = driver_replay(
            &root,
            &binary,
            &out_dir.join("from-script"),
            &recording,
            with_trace_ids,
        )
        .expect("the script replays");
        let lines = |outcome: &Outcome| -> Vec<BTreeMap<String, Vec<u32>>> {
            outcome
                .view
                .tests
                .iter()
                .map(|test| {
                    test.files
                        .iter()
                        .map(|(path, file)| (path.clone(), file.covered_lines.clone()))
                        .collect()
                })
                .collect()
        };
        let (traced, script) = (lines(&from_traces), lines(&from_script));
        assert_eq!(traced.len(), scripted.len());
        for ((traced, script), step) in traced.iter().zip(&script).zip(&scripted) {
            assert!(!script.is_empty(), "{} covers lines", step.name);
            assert_eq!(traced, script, "{}", step.name);
        }

        // A request the recording never saw, replayed by our driver as the CLI would.
        let unrecorded_dir = out_dir.join("unrecorded");
        let unrecorded = unrecorded_trace(&recording, &unrecorded_dir.join("traces"))
            .expect("the hand-made trace is written");
        let all = traces::recorded(&unrecorded_dir.join("traces")).expect("the traces load");
        assert_eq!(all.len(), recording.tests.len() + 1);
        let test = all
            .into_iter()
            .find(|test| test.id == unrecorded)
            .expect("the hand-made trace is a test");
        assert_eq!(test.target, UNRECORDED_TARGET);
        let unrecorded_recording = Recording {
            traces_dir: unrecorded_dir.join("traces"),
            ..recording.clone()
        };
        let outcome = super::super::replay(
            &root,
            &binary,
            &DemoOptions {
                out_dir: unrecorded_dir.join("replay"),
                tcp: false,
                progress: false,
                stop: Stop::Signal,
                require_inbound_spans: true,
            },
            &unrecorded_recording,
            vec![test],
        )
        .expect("the replay runs");
        assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
        let failure = &outcome.failures[0];
        assert!(
            failure.contains("expected 200, got 502")
                && failure.contains(UNMATCHED_CALL_ERROR)
                && failure.contains("/rates/USD/CHF was not called"),
            "{failure}"
        );
        // The product's statement was answered (from another trace, by its exact input);
        // the call to the rates service by nothing.
        assert_eq!(outcome.mocks.approximate, Vec::<String>::new());
        assert_eq!(outcome.mocks.not_found.len(), 1, "{:?}", outcome.mocks);
        assert!(
            outcome.mocks.not_found[0].contains("/rates/USD/CHF"),
            "{:?}",
            outcome.mocks
        );
    }

    #[test]
    fn the_clis_relative_and_absolute_names_are_read_back_to_the_same_names() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("repo");
        let outside = dir.path().join("elsewhere/tusk");
        for path in [&root.join("examples/svc/src"), &outside] {
            std::fs::create_dir_all(path).expect("mkdir");
        }
        let ours = "examples/svc/src/main.rs";
        let absolute = root
            .canonicalize()
            .unwrap()
            .join(ours)
            .display()
            .to_string();
        // Run inside the repository, the CLI names the file relative to its git root.
        let inside = CliPaths::new(&root, &root);
        assert_eq!(inside.ours(ours), ours);
        // Run outside, it keeps the absolute path.
        let outside = CliPaths::new(&outside, &root);
        assert_eq!(outside.ours(&absolute), ours);
        // Relative to a base below the root (a CLI run in a sub-repository).
        let below = CliPaths::new(&root.join("examples"), &root);
        assert_eq!(below.ours("svc/src/main.rs"), ours);
        // A file outside the workspace keeps its absolute name.
        assert_eq!(inside.ours("/usr/src/lib.rs"), "/usr/src/lib.rs");
        let renamed = outside.rename(BTreeMap::from([(absolute, 1)]));
        assert_eq!(renamed, BTreeMap::from([(ours.to_owned(), 1)]));
    }
}
