//! The real Tusk CLI: finding it, giving it a project to run in, and running
//! `tusk drift run` headless with coverage.
//!
//! The CLI is a Go module, [`MODULE`] at [`VERSION`]. [`TuskCli::locate`] takes, in order,
//! the binary named by `TUSK_CLI`, `tusk-cli` or `tusk` on `PATH`, a copy installed earlier
//! under `target/tools/go/bin`, and otherwise installs it there with
//! `go install MODULE@VERSION` (the Go module proxy serves it and `go.sum` verifies it).
//!
//! A [`Project`] is the directory the CLI runs in: `.tusk/config.yaml` (the service's start
//! command, its port, a readiness check, the replay sandbox off) and `.tusk/traces/`.
//! [`TuskCli::replay`] runs `drift run --print --output-format json --show-coverage
//! --coverage-output FILE` there and reads back what the CLI printed and wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::provision;

/// The Tusk CLI's Go module.
pub(crate) const MODULE: &str = "github.com/Use-Tusk/tusk-cli";
/// The pinned version `cargo xtask demo --tusk` installs.
pub(crate) const VERSION: &str = "v0.2.15";

/// A Tusk CLI binary.
#[derive(Clone, Debug)]
pub(crate) struct TuskCli {
    path: PathBuf,
}

impl TuskCli {
    /// Finds the CLI, or installs it with `go install` when it is nowhere to be found.
    pub(crate) fn locate(root: &Path) -> anyhow::Result<Self> {
        if let Some(path) = std::env::var_os("TUSK_CLI").filter(|path| !path.is_empty()) {
            let path = PathBuf::from(path);
            if !path.is_file() {
                bail!("TUSK_CLI names {}, which is not a file", path.display());
            }
            return Ok(Self { path });
        }
        for name in ["tusk-cli", "tusk"] {
            if let Some(path) = provision::find_on_path(name) {
                return Ok(Self { path });
            }
        }
        let go_bin = root.join("target/tools/go/bin");
        let installed = go_bin.join("tusk-cli");
        if !installed.is_file() {
            install(&go_bin).with_context(|| {
                format!(
                    "the Tusk CLI is not installed and `go install {MODULE}@{VERSION}` failed; \
                     install it another way and put `tusk-cli` on PATH or name it in TUSK_CLI"
                )
            })?;
        }
        Ok(Self { path: installed })
    }

    /// The binary's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Replays the traces of `project` with coverage on, writing the coverage to
    /// `coverage_output` (LCOV, or JSON when the name ends in `.json`), and returns what the
    /// CLI printed. Extra environment variables go to the CLI (and so to the service).
    pub(crate) fn replay(
        &self,
        project: &Project,
        coverage_output: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<CliRun> {
        let mut command = Command::new(&self.path);
        command
            .current_dir(&project.dir)
            .args(["drift", "run", "--print", "--output-format", "json"])
            .args(["--show-coverage", "--coverage-output"])
            .arg(coverage_output)
            .env("TUSK_ANALYTICS_DISABLED", "1")
            // Ours, from the environment we were started in, must not reach the service:
            // the CLI sets the replay's own.
            .env_remove("TUSK_DRIFT_MODE")
            .env_remove("TUSK_COVERAGE")
            .env_remove(cov_transport::ENV_SOCKET)
            .env_remove(cov_transport::ENV_HOST)
            .env_remove(cov_transport::ENV_PORT)
            .env_remove("TUSK_TRACES_DIR");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command
            .output()
            .with_context(|| format!("cannot start {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let results = parse_results(&stdout).with_context(|| {
            format!("the CLI's output is not what --print --output-format json prints:\n{stdout}")
        })?;
        Ok(CliRun {
            success: output.status.success(),
            results,
            stderr,
        })
    }
}

/// Installs the CLI into `go_bin` with `go install`.
fn install(go_bin: &Path) -> anyhow::Result<()> {
    if provision::find_on_path("go").is_none() {
        bail!("`go` is not on PATH (the Tusk CLI is a Go module)");
    }
    std::fs::create_dir_all(go_bin)
        .with_context(|| format!("cannot create {}", go_bin.display()))?;
    eprintln!("provision: installing the Tusk CLI with `go install {MODULE}@{VERSION}`");
    provision::run(
        Command::new("go")
            .arg("install")
            .arg(format!("{MODULE}@{VERSION}"))
            .env("GOBIN", go_bin)
            .env("GOFLAGS", "-buildvcs=false"),
    )
}

/// What one `tusk drift run` printed.
#[derive(Debug)]
pub(crate) struct CliRun {
    /// Whether it exited 0 (it does when no test was found, too: count the results).
    pub(crate) success: bool,
    /// One result per test run, in the order printed.
    pub(crate) results: Vec<TestResult>,
    /// Its progress and the coverage summary.
    pub(crate) stderr: String,
}

impl CliRun {
    /// The CLI's own verdict: its `Tests: N total, …` line and its `Error: …` line, if any.
    pub(crate) fn verdict(&self) -> String {
        self.stderr
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("Tests:") || line.starts_with("Error:"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The CLI's own coverage summary: the lines of its standard error from
    /// "Coverage:" to the end of the per-test table.
    pub(crate) fn coverage_summary(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let Some(start) = lines.iter().position(|line| line.contains("Coverage:")) else {
            return String::new();
        };
        let end = lines[start..]
            .iter()
            .position(|line| line.contains("Coverage written to"))
            .map_or(lines.len(), |offset| start + offset);
        let mut summary = lines[start..end].join("\n");
        summary.truncate(summary.trim_end().len());
        summary
    }
}

/// One test's result, as `--print --output-format json` prints it.
#[derive(Debug, Deserialize)]
pub(crate) struct TestResult {
    /// The trace id.
    pub(crate) test_id: String,
    /// Whether the replayed response matched the recorded one.
    pub(crate) passed: bool,
    /// What differed, when it did not.
    #[serde(default)]
    pub(crate) deviations: Vec<serde_json::Value>,
    /// Why the test could not run, when it could not.
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Reads the pretty-printed JSON objects out of the CLI's standard output, which also
/// holds progress lines of its own.
fn parse_results(stdout: &str) -> anyhow::Result<Vec<TestResult>> {
    let mut results = Vec::new();
    let mut object: Option<String> = None;
    for line in stdout.lines() {
        match (&mut object, line) {
            (None, "{") => object = Some(String::from("{\n")),
            (Some(text), "}") => {
                text.push('}');
                results.push(serde_json::from_str(text)?);
                object = None;
            }
            (Some(text), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    if object.is_some() {
        bail!("a result object is not closed");
    }
    Ok(results)
}

/// What the checks read of the coverage JSON the CLI writes with
/// `--coverage-output FILE.json`: per test, the lines it covered (paths relative to the git
/// root). The aggregate is checked in the LCOV the CLI writes.
#[derive(Debug, Deserialize)]
pub(crate) struct CoverageExport {
    /// Trace id → path → what that test covered.
    pub(crate) per_test: BTreeMap<String, BTreeMap<String, TestFile>>,
}

/// One file of one test.
#[derive(Debug, Deserialize)]
pub(crate) struct TestFile {
    /// The lines the test executed.
    pub(crate) covered_lines: Vec<u32>,
}

impl CoverageExport {
    /// Reads the file the CLI wrote.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("the CLI wrote no coverage JSON at {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} does not parse", path.display()))
    }
}

/// The directory the CLI runs in.
#[derive(Debug)]
pub(crate) struct Project {
    dir: PathBuf,
}

/// How the CLI starts the service.
#[derive(Debug)]
pub(crate) struct ServiceLaunch<'a> {
    /// The instrumented executable.
    pub(crate) binary: &'a Path,
    /// Its working directory (the SDK's default source root).
    pub(crate) working_dir: PathBuf,
    /// The port it listens on (the CLI sends the tests there).
    pub(crate) port: u16,
    /// Where it writes its whole-run LLVM profile at exit.
    pub(crate) profraw: &'a Path,
    /// Its `DATABASE_URL`.
    pub(crate) database_url: &'a str,
    /// Its `RATES_URL`.
    pub(crate) rates_url: &'a str,
}

impl Project {
    /// Writes `dir/.tusk/config.yaml` for `service` and creates `dir/.tusk/traces`.
    pub(crate) fn create(dir: &Path, service: &ServiceLaunch<'_>) -> anyhow::Result<Self> {
        let tusk = dir.join(".tusk");
        std::fs::create_dir_all(tusk.join("traces"))
            .with_context(|| format!("cannot create {}", tusk.display()))?;
        let config = config_yaml(service)?;
        let path = tusk.join("config.yaml");
        std::fs::write(&path, config)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

/// The project's `.tusk/config.yaml`.
///
/// The start command runs under `/bin/sh -c` in the project directory; it changes to the
/// service's own directory (the SDK's default source root), gives it the database and rates
/// URLs it was recorded with (nothing answers there during the replay: the SDK answers its
/// statements and calls from the CLI's mocks) and sets `LLVM_PROFILE_FILE` so the service's
/// whole run can be checked against `llvm-cov`. The readiness check asks `GET /health`, as
/// the demo's own driver does before its baseline. The replay sandbox is off: under the
/// strict sandbox the CLI's `SIGTERM` tears the sandbox down before the service has
/// written its whole-run profile, the `llvm-cov` oracle of the check (docs/sdk.md); the
/// SDK makes no outbound connection in replay for it to block anyway.
fn config_yaml(service: &ServiceLaunch<'_>) -> anyhow::Result<String> {
    let quote_text = |text: &str| -> anyhow::Result<String> {
        if text.contains('\'') {
            bail!("{text}: a value with a single quote cannot go into a shell command");
        }
        Ok(format!("'{text}'"))
    };
    let quote = |path: &Path| quote_text(&path.display().to_string());
    let port = service.port;
    Ok(format!(
        "\
service:
  name: demo-service
  port: {port}
  start:
    command: cd {dir} && DATABASE_URL={database_url} RATES_URL={rates_url} LLVM_PROFILE_FILE={profraw} exec {binary} --port {port}
  readiness_check:
    command: curl -fsS -o /dev/null http://127.0.0.1:{port}/health
    timeout: 60s
    interval: 200ms
replay:
  sandbox:
    mode: \"off\"
",
        dir = quote(&service.working_dir)?,
        database_url = quote_text(service.database_url)?,
        rates_url = quote_text(service.rates_url)?,
        profraw = quote(service.profraw)?,
        binary = quote(service.binary)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_between_progress_lines() {
        let stdout = "  ↳ Loaded 2 suite spans\n{\n  \"test_id\": \"a1\",\n  \"passed\": true,\n  \
                      \"cancelled\": false,\n  \"duration\": 1\n}\n  ↳ coverage: 3 lines\n{\n  \
                      \"test_id\": \"b2\",\n  \"passed\": false,\n  \"deviations\": [{\"field\": \
                      \"response.status\"}],\n  \"duration\": 4\n}\n";
        let results = parse_results(stdout).expect("parses");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].test_id, "a1");
        assert!(results[0].passed);
        assert_eq!(results[1].test_id, "b2");
        assert!(!results[1].passed);
        assert_eq!(results[1].deviations.len(), 1);
        assert!(parse_results("{\n  \"test_id\": \"a\",\n").is_err());
    }

    #[test]
    fn the_verdict_is_read_out_of_the_progress() {
        let run = CliRun {
            success: false,
            results: Vec::new(),
            stderr: "➤ Running 12 tests\n\nTests: 12 total, 11 passed, 1 failed\nTotal elapsed: \
                     0.3s\nError: 1 tests with deviations, 0 crashed server\n"
                .to_owned(),
        };
        assert_eq!(
            run.verdict(),
            "Tests: 12 total, 11 passed, 1 failed; Error: 1 tests with deviations, 0 crashed server"
        );
    }

    #[test]
    fn the_summary_is_cut_out_of_the_progress() {
        let run = CliRun {
            success: true,
            results: Vec::new(),
            stderr: "➤ Processing coverage data...\n📊 Coverage: 50.0% lines (1/2) across 1 \
                     files\n\n  Per-test:\n    GET /health  1 lines\n\n📄 Coverage written to x\n"
                .to_owned(),
        };
        assert_eq!(
            run.coverage_summary(),
            "📊 Coverage: 50.0% lines (1/2) across 1 files\n\n  Per-test:\n    GET /health  1 lines"
        );
    }

    #[test]
    fn the_config_quotes_paths_and_refuses_a_quote() {
        let launch = ServiceLaunch {
            binary: Path::new("/t/demo service"),
            working_dir: PathBuf::from("/w"),
            port: 18080,
            profraw: Path::new("/o/x.profraw"),
            database_url: "postgres://postgres@127.0.0.1:5/postgres",
            rates_url: "http://127.0.0.1:7",
        };
        let yaml = config_yaml(&launch).expect("writes");
        assert!(
            yaml.contains(
                "command: cd '/w' && DATABASE_URL='postgres://postgres@127.0.0.1:5/postgres' \
                 RATES_URL='http://127.0.0.1:7' LLVM_PROFILE_FILE='/o/x.profraw' exec \
                 '/t/demo service' --port 18080"
            ),
            "{yaml}"
        );
        assert!(yaml.contains("port: 18080"));
        let quoted = ServiceLaunch {
            binary: Path::new("/t/it's"),
            working_dir: launch.working_dir.clone(),
            ..launch
        };
        assert!(config_yaml(&quoted).is_err());
        let quoted = ServiceLaunch {
            rates_url: "http://it's",
            working_dir: launch.working_dir.clone(),
            ..launch
        };
        assert!(config_yaml(&quoted).is_err());
    }
}
