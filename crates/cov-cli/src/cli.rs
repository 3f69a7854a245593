//! The command line, declared with clap's derive API: every subcommand and option has its
//! `--help` text here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, shown at the end of every `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the check failed: `patch` measured less than --fail-under
  2  error: bad usage, unreadable or malformed input, git failed, a report could not be written";

/// Coverage reports, tests affected by a change and patch coverage, from the coverage JSON
/// the Tusk CLI writes (`tusk drift run --coverage-output coverage.json`), for services in
/// any language.
#[derive(Debug, Parser)]
#[command(name = "drift-cov", version, after_help = EXIT_CODES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print a summary and write HTML, LCOV and Cobertura reports from the coverage JSON.
    ///
    /// The HTML report has a page per file (hit counts, branch outcomes and the tests that
    /// executed each line, with the source read under --source-root) and a page per test.
    /// A source file that cannot be read is shown as missing on its page.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// List the tests that executed the lines a change touches, from coverage recorded
    /// before the change.
    ///
    /// A test is affected when it executed a line the diff modifies or deletes, or, for
    /// lines inserted (or changed where the coverage lists no line), the nearest coverable
    /// line above or below them in the same file. Also lists the changed lines no test
    /// executed and the changed files the coverage does not list. docs/reports.md states the
    /// rule in full.
    #[command(after_help = EXIT_CODES)]
    Impact(ImpactArgs),
    /// Measure how much of a change the tests executed, from coverage recorded after it.
    ///
    /// The patch's lines are HEAD's added and modified lines that the coverage lists as
    /// coverable; covered ones have a non-zero count.
    #[command(after_help = EXIT_CODES)]
    Patch(PatchArgs),
    /// Write LCOV for one run of an instrumented Rust program, computed from its raw
    /// profile without llvm-profdata or llvm-cov (the same output as
    /// `llvm-cov export -format=lcov`).
    #[command(after_help = EXIT_CODES)]
    Lcov(LcovArgs),
    /// List a raw profile (versions 9 to 11, Rust 1.78 and later) as
    /// `llvm-profdata show --all-functions --counts` does, without LLVM's tools.
    ///
    /// For when a profile "looks wrong": every function with its hash and counters, and
    /// with --header the format version and every header field.
    #[command(after_help = EXIT_CODES)]
    Profraw(ProfrawArgs),
}

/// The coverage JSON every coverage subcommand reads.
#[derive(Debug, Args)]
pub(crate) struct CoverageInput {
    /// The coverage JSON written by `tusk drift run --coverage-output FILE.json`.
    #[arg(long, value_name = "FILE")]
    pub(crate) from: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) input: CoverageInput,
    /// Write the HTML report into DIR (created; an earlier drift-cov report there is
    /// replaced, any other non-empty directory is refused).
    #[arg(long, value_name = "DIR")]
    pub(crate) html: Option<PathBuf>,
    /// Write an LCOV tracefile.
    #[arg(long, value_name = "FILE")]
    pub(crate) lcov: Option<PathBuf>,
    /// Write a Cobertura XML report.
    #[arg(long, value_name = "FILE")]
    pub(crate) cobertura: Option<PathBuf>,
    /// The directory the coverage JSON's paths are relative to (the repository root the
    /// Tusk CLI ran in).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) source_root: PathBuf,
}

/// Where the change comes from: git, or a patch file.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct DiffSource {
    /// The change as a git revision range (`BASE..HEAD`, or anything `git diff` takes),
    /// diffed by git with --unified=0 --find-renames in --repo.
    #[arg(long, value_name = "BASE..HEAD")]
    pub(crate) diff: Option<String>,
    /// The change as a unified diff file (`git diff` output, with or without context).
    #[arg(long, value_name = "FILE")]
    pub(crate) patch: Option<PathBuf>,
}

/// The inputs of `impact` and `patch`: the coverage JSON and a change.
#[derive(Debug, Args)]
pub(crate) struct ChangeInput {
    #[command(flatten)]
    pub(crate) coverage: CoverageInput,
    #[command(flatten)]
    pub(crate) source: DiffSource,
    /// The git repository --diff runs in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) repo: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ImpactArgs {
    #[command(flatten)]
    pub(crate) change: ChangeInput,
    /// What to print.
    #[arg(long, value_enum, default_value_t = ImpactFormat::Human)]
    pub(crate) format: ImpactFormat,
    /// Print JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
}

/// The output of `impact`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ImpactFormat {
    /// Affected tests, changed lines no test executed, files without coverage.
    Human,
    /// Everything, machine-readable, with `trace_ids` and `tusk_filter`.
    Json,
    /// The affected tests' trace ids, one per line (nothing when none is affected).
    Ids,
    /// The `tusk drift run --filter` value selecting the affected tests (`id=^(a|b)$`;
    /// nothing when none is affected).
    Filter,
}

#[derive(Debug, Args)]
pub(crate) struct PatchArgs {
    #[command(flatten)]
    pub(crate) change: ChangeInput,
    /// Exit with 1 when patch coverage is below PCT percent (a patch without coverable
    /// lines passes).
    #[arg(long, value_name = "PCT", value_parser = percentage)]
    pub(crate) fail_under: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct LcovArgs {
    /// The instrumented executable (built with `-C instrument-coverage`).
    #[arg(long, value_name = "BIN")]
    pub(crate) binary: PathBuf,
    /// The raw profile one run of it wrote (`LLVM_PROFILE_FILE`).
    #[arg(long, value_name = "FILE")]
    pub(crate) profraw: PathBuf,
    /// Write to OUT instead of standard output.
    #[arg(short, long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ProfrawArgs {
    /// The raw profile (`.profraw`).
    #[arg(value_name = "FILE")]
    pub(crate) profraw: PathBuf,
    /// First print the format version and every header field.
    #[arg(long)]
    pub(crate) header: bool,
}

fn percentage(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 100"))
    }
}
