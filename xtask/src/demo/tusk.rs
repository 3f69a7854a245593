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
use std::time::Duration;

use anyhow::{Context, bail};
use cov_driver::replay::{Stop, Test};
use cov_driver::{HttpClient, PortReservation, traces};
use cov_testkit::LcovTracefile;
use cov_testkit::oracle_lcov;

use super::tusk_cli::{CoverageExport, Project, ServiceLaunch, TuskCli};
use super::{
    DemoOptions, Outcome, remove_if_present, service, service_files, shutdown_counts, steps,
};
use crate::provision;

/// Records the demo service, replays it with the real CLI and checks the CLI's coverage.
pub(crate) fn run(root: &Path, binary: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let cli = TuskCli::locate(root)?;
    eprintln!("tusk: the Tusk CLI is {}", cli.path().display());
    provision::ensure_llvm_tools()?;
    // curl for the readiness check.
    provision::ensure_debian_programs(&[("curl", "curl")])?;
    let out_dir = std::path::absolute(out_dir)
        .with_context(|| format!("cannot resolve {}", out_dir.display()))?;
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let service_dir = root.join("examples").join(service::PACKAGE);
    let project_dir = out_dir.join("tusk");
    let traces_dir = project_dir.join(".tusk/traces");
    if traces_dir.exists() {
        std::fs::remove_dir_all(&traces_dir)
            .with_context(|| format!("cannot clear {}", traces_dir.display()))?;
    }

    let recorded = record(root, binary, &traces_dir, &out_dir)?;
    let tests = traces::replayable(&traces_dir)?;
    eprintln!(
        "tusk: recorded {} traces in {}; the CLI replays the {} with a status below 300 \
         and skips {}",
        recorded,
        traces_dir.display(),
        tests.len(),
        recorded - tests.len(),
    );

    // Held until both runs are over: nobody else gets the port, and nothing answers on it
    // until the service the CLI starts listens there.
    let port = PortReservation::new().context("cannot reserve a port for the service")?;
    let mut runs = Vec::new();
    for output in ["coverage.json", "coverage.lcov"] {
        let profraw = out_dir.join(format!("tusk-{output}.profraw"));
        remove_if_present(&profraw)?;
        let project = Project::create(
            &project_dir,
            &ServiceLaunch {
                binary,
                working_dir: &service_dir,
                port: port.port(),
                profraw: &profraw,
            },
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
    drop(port);

    eprintln!("tusk: replaying the same tests with our own driver, then an idle run");
    let driver = driver_replay(root, binary, &out_dir.join("driver"), tests.clone())?;
    let idle = driver_replay(root, binary, &out_dir.join("idle"), Vec::new())?;

    let (json_run, json_path, _) = &runs[0];
    let (lcov_run, lcov_path, lcov_profraw) = &runs[1];
    let mut problems = Vec::new();
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
    let oracle = service_files(
        &LcovTracefile::parse(&oracle_lcov(binary, &[lcov_profraw])),
        root,
    );
    let shutdown = shutdown_counts(binary, root, &idle)?;
    problems.extend(check_aggregate(&cli_lcov, &oracle, &shutdown));

    println!("\nThe Tusk CLI's own coverage summary (--show-coverage):\n");
    println!("{}", json_run.coverage_summary());
    println!("\nOur report of the same tests (cargo xtask demo's driver):\n");
    print!("{}", cov_report::terminal::render(&driver.view));
    println!("\nThe CLI's reports:");
    println!("  {}", json_path.display());
    println!("  {}", lcov_path.display());
    if !problems.is_empty() {
        bail!(
            "the real CLI and our side disagree in {} places:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!(
        "\nChecked: {} tests passed under the real CLI; every test's lines equal our driver's; \
         its aggregate equals llvm-cov's on {} lines of {} files, branches included.",
        tests.len(),
        oracle.values().map(|file| file.lines.len()).sum::<usize>(),
        oracle.len(),
    );
    Ok(())
}

/// Runs the service in record mode under the demo's script and returns how many trace
/// files it wrote; its log and profile go to `out_dir`, created if missing.
fn record(root: &Path, binary: &Path, traces_dir: &Path, out_dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let log = out_dir.join("record.log");
    // The recording run's profile is of no interest; keep it out of the service's
    // directory.
    let mut launch = service::launch(root, binary, &out_dir.join("record.profraw"), &log);
    launch
        .env("TUSK_DRIFT_MODE", "RECORD")
        .env("TUSK_TRACES_DIR", traces_dir);
    eprintln!("tusk: recording the demo service (TUSK_DRIFT_MODE=RECORD)");
    let mut service = launch.start()?;
    let address = service
        .wait_for_address(Duration::from_secs(30))
        .with_context(|| {
            format!(
                "the recording service did not listen; its log is in {}",
                log.display()
            )
        })?;
    let client = HttpClient::new(address, Duration::from_secs(10));
    let script = steps();
    for step in &script {
        let (status, body) = step
            .send(&client)
            .with_context(|| format!("{} {}", step.method, step.target))?;
        if status != step.expect_status {
            bail!(
                "recording {}: expected {}, got {status}: {body}",
                step.name,
                step.expect_status
            );
        }
    }
    service
        .terminate()
        .context("asking the recording service to stop")?;
    let Some(exit) = service.wait_for_exit(Duration::from_secs(30))? else {
        service.kill()?;
        bail!("the recording service did not exit within 30 s of SIGTERM; killed it");
    };
    if !exit.success() {
        bail!(
            "the recording service exited with {exit}; its log is in {}",
            log.display()
        );
    }
    let written = traces::trace_files(traces_dir)?.len();
    if written != script.len() {
        bail!(
            "the recorder wrote {written} trace files for {} requests; the service's log is in {}",
            script.len(),
            log.display()
        );
    }
    Ok(written)
}

/// Our own driver over `tests`, stopped as the CLI stops the service.
fn driver_replay(
    root: &Path,
    binary: &Path,
    out_dir: &Path,
    tests: Vec<Test>,
) -> anyhow::Result<Outcome> {
    let outcome = super::replay(
        root,
        binary,
        &DemoOptions {
            out_dir: out_dir.to_path_buf(),
            tcp: false,
            steps: tests,
            progress: false,
            stop: Stop::Signal,
            require_inbound_spans: true,
        },
    )?;
    if !outcome.failures.is_empty() {
        bail!(
            "our driver's replay of the traces answered unexpected statuses:\n  {}",
            outcome.failures.join("\n  ")
        );
    }
    Ok(outcome)
}

/// Every test the CLI ran passed, and it ran exactly the replayable traces.
fn check_results(run: &super::tusk_cli::CliRun, tests: &[Test], name: &str) -> Vec<String> {
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
    use super::*;

    /// What `cargo xtask test` can check of the record-and-replay loop without the real
    /// CLI (which the Go module proxy does not serve on every machine): the recorder's
    /// traces, read and replayed with the CLI's rules by our own driver, reproduce the
    /// script. Every file parses line by line; the replayable tests are the script's 2xx
    /// requests, in order, method, target and body unchanged; each replayed request
    /// answers its recorded status and gets an inbound replay span; and each covers
    /// exactly the lines the same scripted request covers.
    #[test]
    fn recorded_traces_replay_to_the_coverage_of_the_script() {
        let root = crate::workspace_root();
        let binary = service::build_for_tests();
        // Outside the repository, and not there yet: `--out` anywhere works.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out_dir = dir.path().join("not/yet/there");
        let traces_dir = out_dir.join("tusk/.tusk/traces");

        let recorded =
            record(&root, &binary, &traces_dir, &out_dir).expect("the service records the script");
        assert_eq!(recorded, steps().len());
        assert!(out_dir.join("record.log").is_file());
        for path in traces::trace_files(&traces_dir).expect("trace files") {
            let text = std::fs::read(&path).expect("a trace file reads");
            let spans = cov_trace::read::parse_spans(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(spans.len(), 1, "{}: one span per trace", path.display());
        }

        let tests = traces::replayable(&traces_dir).expect("the traces load");
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

        // `driver_replay` fails on any unexpected status or missing inbound span.
        let from_traces = driver_replay(&root, &binary, &out_dir.join("from-traces"), tests)
            .expect("the traces replay");
        let from_script = super::super::replay(
            &root,
            &binary,
            &DemoOptions {
                out_dir: out_dir.join("from-script"),
                tcp: false,
                steps: scripted.clone(),
                progress: false,
                stop: Stop::Signal,
                require_inbound_spans: false,
            },
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
