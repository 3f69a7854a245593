//! The command line of every task, declared once: the usage text, `--help` on every task,
//! the errors for unknown options and bad values all come from these definitions.
//!
//! clap's derive is used rather than a hand-written parser: it is the most used and best
//! kept argument parser of the ecosystem (already in our lock file through criterion), and
//! from one declaration the help text, the defaults and the checks cannot drift apart.
//! Adding a task is a variant of [`Task`] with a doc comment (its one-line help)
//! holding a struct of its options, and an arm in `main`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The project's tasks, run as `cargo xtask <task>`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) task: Task,
}

/// One task and its options.
#[derive(Debug, Subcommand)]
pub(crate) enum Task {
    /// Replay scripted tests against the instrumented demo service and write the reports.
    ///
    /// Builds examples/demo-service with coverage instrumentation, plays the Tusk CLI
    /// against it (baseline, one snapshot per test) and writes per-test coverage reports.
    Demo(Demo),
    /// Run the cargo-fuzz targets over the decoders for a bounded time each.
    ///
    /// The targets cover the mapping, the profile, the framing and the messages.
    Fuzz(Fuzz),
    /// LCOV for one run of an instrumented program, computed offline by cov-collector.
    ///
    /// The output is what `llvm-cov export -format=lcov` writes for the same run.
    Lcov(Lcov),
    /// List a raw profile (versions 9 to 11) as `llvm-profdata show --all-functions
    /// --counts` does.
    ///
    /// Byte-identical to llvm-profdata on this toolchain's profiles, with no LLVM tools;
    /// for when a profile "looks wrong".
    Profraw(Profraw),
    /// Regenerate crates/cov-proto/src/generated.rs from the .proto files.
    Proto(Proto),
    /// Measure the collector and the SDK against llvm-profdata + llvm-cov (minutes).
    ///
    /// Builds the demo service instrumented and measures both on identical inputs.
    Bench(Bench),
    /// The demo service under load with a snapshot every 10 ms, checked against llvm-cov.
    ///
    /// 8 clients for N seconds; baseline + deltas must never fall below llvm-cov and must
    /// equal it on every line no in-flight request can overstate.
    Soak(Soak),
    /// Provision what the tests need, check generated code, run every test.
    Test(Test),
}

/// `cargo xtask demo`.
#[derive(Debug, Args)]
pub(crate) struct Demo {
    /// Talk to the SDK over TCP on 127.0.0.1 instead of a unix socket.
    #[arg(long)]
    pub(crate) tcp: bool,
    /// Write the reports to DIR [default: target/cov-demo].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Only build the instrumented service; print its path on the last line.
    #[arg(long)]
    pub(crate) build_only: bool,
    /// Record the service with the SDK's recorder, replay the traces with the real Tusk
    /// CLI (`tusk drift run --show-coverage`) and check its coverage against our driver
    /// and llvm-cov. The CLI is `TUSK_CLI`, `tusk-cli` or `tusk` on PATH, or installed with
    /// `go install`.
    #[arg(long, conflicts_with_all = ["tcp", "build_only"])]
    pub(crate) tusk: bool,
}

/// `cargo xtask fuzz`.
#[derive(Debug, Args)]
pub(crate) struct Fuzz {
    /// Seconds per target.
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Run only this target (repeatable) [default: all].
    #[arg(
        long = "target",
        value_name = "NAME",
        value_parser = clap::builder::PossibleValuesParser::new(crate::fuzz::TARGETS)
    )]
    pub(crate) targets: Vec<String>,
}

/// `cargo xtask lcov`.
#[derive(Debug, Args)]
pub(crate) struct Lcov {
    /// The instrumented program.
    #[arg(long, value_name = "BIN")]
    pub(crate) binary: PathBuf,
    /// The raw profile one run of it wrote.
    #[arg(long, value_name = "FILE")]
    pub(crate) profraw: PathBuf,
    /// Write the LCOV to OUT instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
}

/// `cargo xtask profraw`.
#[derive(Debug, Args)]
pub(crate) struct Profraw {
    /// The raw profile.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// First print the format version and every header field.
    #[arg(long)]
    pub(crate) header: bool,
}

/// `cargo xtask proto`.
#[derive(Debug, Args)]
pub(crate) struct Proto {
    /// Fail if the committed file is stale instead of regenerating it.
    #[arg(long)]
    pub(crate) check: bool,
}

/// `cargo xtask bench`.
#[derive(Debug, Clone, PartialEq, Args)]
pub(crate) struct Bench {
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Snapshots per latency series (at least 1000 for the published figures).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = positive_usize)]
    pub(crate) deltas: usize,
    /// Interleaved rounds of the throughput comparison.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = positive_usize)]
    pub(crate) rounds: usize,
    /// Measured load per throughput trial, in seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = positive_seconds)]
    pub(crate) seconds: f64,
    /// Outbound calls per series: HTTP calls and PostgreSQL statements, each made directly
    /// and through the SDK recording and replaying (ten times as many with the SDK off).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = positive_usize)]
    pub(crate) calls: usize,
    /// Measure only the SDK's cost to the service; the other figures stay zero.
    #[arg(long, conflicts_with = "outbound_only")]
    pub(crate) sdk_only: bool,
    /// Measure only outbound calls (HTTP and PostgreSQL through the SDK); the other
    /// figures stay zero.
    #[arg(long)]
    pub(crate) outbound_only: bool,
}

/// `cargo xtask soak`.
#[derive(Debug, Args)]
pub(crate) struct Soak {
    /// Seconds of load.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) seconds: u64,
    /// Also flood the service with N real snapshot requests (100000 is the full flood).
    #[arg(long, value_name = "N")]
    pub(crate) flood: Option<u64>,
}

/// `cargo xtask test`.
#[derive(Debug, Args)]
pub(crate) struct Test {
    /// Passed on to `cargo test` (for example a test name filter or `--no-fail-fast`).
    #[arg(allow_hyphen_values = true, value_name = "CARGO_TEST_ARGS")]
    pub(crate) cargo_test_args: Vec<String>,
    /// Passed on to the test binaries, after `--` (for example `--nocapture`).
    #[arg(last = true, value_name = "TEST_BINARY_ARGS")]
    pub(crate) test_binary_args: Vec<String>,
}

impl Test {
    /// The arguments for `cargo test`, as they were written after `cargo xtask test`.
    pub(crate) fn cargo_test_command_line(&self) -> Vec<&str> {
        let mut line: Vec<&str> = self.cargo_test_args.iter().map(String::as_str).collect();
        if !self.test_binary_args.is_empty() {
            line.push("--");
            line.extend(self.test_binary_args.iter().map(String::as_str));
        }
        line
    }
}

/// A count that must be at least one.
fn positive_usize(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}

/// A duration in seconds that must be positive and finite.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        Ok(_) => Err("must be a positive number of seconds".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(line: &str) -> Result<Task, clap::Error> {
        Xtask::try_parse_from(std::iter::once("xtask").chain(line.split_whitespace()))
            .map(|xtask| xtask.task)
    }

    #[test]
    fn the_definitions_are_consistent() {
        // clap's own check: no duplicate names, defaults that parse, and so on.
        Xtask::command().debug_assert();
    }

    #[test]
    fn every_task_answers_help() {
        for task in Xtask::command().get_subcommands() {
            let name = task.get_name();
            let error = parse(&format!("{name} --help")).expect_err("--help is not a task run");
            assert_eq!(error.kind(), ErrorKind::DisplayHelp, "{name} --help");
            assert!(
                error.to_string().contains("Usage: cargo xtask"),
                "{name} --help printed:\n{error}"
            );
        }
    }

    #[test]
    fn unknown_options_are_errors_on_every_task_but_test() {
        for task in Xtask::command().get_subcommands() {
            let name = task.get_name();
            let result = parse(&format!("{name} --no-such-option"));
            if name == "test" {
                // Everything after `test` belongs to `cargo test`.
                let Ok(Task::Test(test)) = result else {
                    panic!("test did not pass its arguments on: {result:?}");
                };
                assert_eq!(test.cargo_test_command_line(), ["--no-such-option"]);
            } else {
                let error = result.expect_err(name);
                assert_eq!(error.kind(), ErrorKind::UnknownArgument, "{name}");
            }
        }
    }

    #[test]
    fn bench_options_parse_and_reject_non_positive_counts() {
        let Ok(Task::Bench(bench)) = parse("bench --json out.json --deltas 1000 --rounds 3") else {
            panic!("bench options did not parse");
        };
        assert_eq!(
            bench,
            Bench {
                json: Some(PathBuf::from("out.json")),
                deltas: 1000,
                rounds: 3,
                seconds: 5.0,
                calls: 2000,
                sdk_only: false,
                outbound_only: false,
            }
        );
        let Ok(Task::Bench(bench)) = parse("bench --outbound-only --calls 300") else {
            panic!("bench --outbound-only did not parse");
        };
        assert!(bench.outbound_only && !bench.sdk_only && bench.calls == 300);
        for bad in [
            "--rounds 0",
            "--deltas 0",
            "--seconds 0",
            "--seconds -1",
            "--calls 0",
            "--sdk-only --outbound-only",
            "--json",
        ] {
            assert!(parse(&format!("bench {bad}")).is_err(), "bench {bad}");
        }
    }

    #[test]
    fn fuzz_targets_are_checked_against_the_list() {
        let Ok(Task::Fuzz(fuzz)) = parse("fuzz --target covmap --target frames --seconds 5") else {
            panic!("fuzz options did not parse");
        };
        assert_eq!(
            (fuzz.targets.as_slice(), fuzz.seconds),
            (&["covmap".to_owned(), "frames".to_owned()][..], 5)
        );
        let error = parse("fuzz --target nope").expect_err("an unknown target");
        assert_eq!(error.kind(), ErrorKind::InvalidValue);
    }

    #[test]
    fn test_passes_its_command_line_on_to_cargo_test_unchanged() {
        for line in [
            "",
            "-- --nocapture",
            "foo -- --nocapture",
            "--no-fail-fast foo",
            "--no-fail-fast -- --nocapture --test-threads 1",
        ] {
            let Ok(Task::Test(test)) = parse(&format!("test {line}")) else {
                panic!("test {line} did not parse");
            };
            assert_eq!(test.cargo_test_command_line().join(" "), line);
        }
    }

    #[test]
    fn lcov_needs_its_binary_and_profile() {
        let error = parse("lcov --binary a").expect_err("no --profraw");
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        let Ok(Task::Lcov(lcov)) = parse("lcov --binary a --profraw b -o c") else {
            panic!("lcov options did not parse");
        };
        assert_eq!(lcov.output, Some(PathBuf::from("c")));
    }
}
