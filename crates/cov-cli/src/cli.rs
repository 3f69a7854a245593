//! The command line, declared with clap's derive API: every subcommand and option has its
//! `--help` text here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, shown at the end of every `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the check failed: `patch` measured less than --fail-under, `check` found no usable coverage
  2  error: bad usage, unreadable or malformed input, git or cargo failed, a file could not be written";

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
    /// Print a summary and write HTML, LCOV and Cobertura reports from the coverage JSON
    /// (or from a Rust service's whole-run raw profile, with --binary and --profraw).
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
    /// Build a Rust service for coverage: `-C instrument-coverage` (and branch regions
    /// with --branch), in a target directory of its own, with nothing instrumented but the
    /// program itself; prints the executable's path as the last line.
    ///
    /// Runs `cargo build --target <host>` with the flags in CARGO_ENCODED_RUSTFLAGS (after
    /// your own RUSTFLAGS), so build scripts and proc macros are built normally and leave
    /// no default_*.profraw in any directory. Default target directory:
    /// <cargo's target directory>/coverage.
    #[command(after_help = EXIT_CODES)]
    Build(BuildArgs),
    /// Write .tusk/config.yaml for a Rust service: the start command of `drift-cov build`'s
    /// executable, a readiness check, coverage include globs and the replay settings the
    /// Rust SDK needs.
    ///
    /// Written at the workspace root; an existing file is kept unless --force.
    #[command(after_help = EXIT_CODES)]
    Init(InitArgs),
    /// Fail (exit 1, with the reason) when a coverage output of `tusk drift run
    /// --coverage-output` is missing, empty, lists no file or has no executed line.
    ///
    /// The Tusk CLI exits 0 even when it could take no coverage; run this after it in CI.
    /// Reads the CLI's JSON or LCOV.
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Merge the coverage JSON of several replay shards into one file (and reports), as the
    /// Tusk CLI merges the tests of one run.
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
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
    /// The coverage JSON written by `tusk drift run --coverage-output FILE.json`.
    #[arg(long, value_name = "FILE", required_unless_present = "profraw", conflicts_with_all = ["profraw", "binary"])]
    pub(crate) from: Option<PathBuf>,
    /// Instead of --from: the whole-run raw profile of an instrumented Rust service
    /// (`LLVM_PROFILE_FILE`), for the true aggregate, branches included; with --binary.
    #[arg(long, value_name = "FILE", requires = "binary")]
    pub(crate) profraw: Option<PathBuf>,
    /// The instrumented executable that wrote --profraw.
    #[arg(long, value_name = "BIN", requires = "profraw")]
    pub(crate) binary: Option<PathBuf>,
    /// With --profraw: report only files matching a glob (relative to --source-root; the
    /// Tusk CLI's `coverage.include`). Repeatable.
    #[arg(long, value_name = "GLOB", requires = "profraw")]
    pub(crate) include: Vec<String>,
    /// With --profraw: leave out files matching a glob (`coverage.exclude`). Repeatable.
    #[arg(long, value_name = "GLOB", requires = "profraw")]
    pub(crate) exclude: Vec<String>,
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
    /// Tusk CLI ran in); with --profraw, the service's files are those under it (dependencies,
    /// the standard library, target/, tests/ and benches/ left out, as the SDK does).
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

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The service's Cargo.toml (default: cargo's search from the current directory).
    #[arg(long, value_name = "PATH")]
    pub(crate) manifest_path: Option<PathBuf>,
    /// The service's package, in a workspace of several.
    #[arg(short, long, value_name = "SPEC")]
    pub(crate) package: Option<String>,
    /// The service's binary, when the package has several.
    #[arg(long, value_name = "NAME")]
    pub(crate) bin: Option<String>,
    /// Build optimized (`--release`).
    #[arg(long)]
    pub(crate) release: bool,
    /// Add branch regions (`-Z coverage-options=branch`, with RUSTC_BOOTSTRAP=1 on a stable
    /// toolchain).
    #[arg(long)]
    pub(crate) branch: bool,
    /// The target directory (default: <cargo's target directory>/coverage).
    #[arg(long, value_name = "DIR")]
    pub(crate) target_dir: Option<PathBuf>,
    /// More arguments for `cargo build`, after `--` (e.g. `-- --features tusk`).
    #[arg(last = true, value_name = "CARGO_ARGS")]
    pub(crate) cargo_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The service's Cargo.toml (default: cargo's search from the current directory).
    #[arg(long, value_name = "PATH")]
    pub(crate) manifest_path: Option<PathBuf>,
    /// The service's binary, when the workspace has several.
    #[arg(long, value_name = "NAME")]
    pub(crate) bin: Option<String>,
    /// The service id (default: the binary's name).
    #[arg(long, value_name = "ID")]
    pub(crate) service_id: Option<String>,
    /// The port the service listens on, where the CLI sends the replayed requests.
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub(crate) port: u16,
    /// The path the readiness check requests (it must answer 2xx when the service is ready).
    #[arg(long, value_name = "PATH", default_value = "/health")]
    pub(crate) health: String,
    /// The start command (default: the executable `drift-cov build` makes, relative to the
    /// workspace root).
    #[arg(long, value_name = "COMMAND")]
    pub(crate) command: Option<String>,
    /// Start the `--release` build.
    #[arg(long)]
    pub(crate) release: bool,
    /// Replace an existing .tusk/config.yaml.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the file instead of writing it.
    #[arg(long)]
    pub(crate) stdout: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The coverage output (`tusk drift run --coverage-output FILE`, JSON or LCOV).
    #[arg(value_name = "FILE")]
    pub(crate) path: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The shards' coverage JSON files (`--coverage-output shard-N.json`).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub(crate) inputs: Vec<PathBuf>,
    /// The merged coverage JSON (the Tusk CLI's layout, readable by every subcommand).
    #[arg(short, long = "output", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Also write the merged LCOV.
    #[arg(long, value_name = "FILE")]
    pub(crate) lcov: Option<PathBuf>,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Every `drift-cov` command line in the code blocks of the documentation: `(file,
    /// line number, arguments)`.
    fn documented_commands() -> Vec<(String, usize, Vec<String>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut commands = Vec::new();
        for doc in [
            "README.md",
            "docs/sdk.md",
            "docs/reports.md",
            "docs/environment-variables.md",
        ] {
            let text = std::fs::read_to_string(root.join(doc)).expect("the documentation");
            // The info string of the open code block, if any.
            let mut block: Option<String> = None;
            for (number, line) in text.lines().enumerate() {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    block = match block {
                        Some(_) => None,
                        None => Some(info.trim().to_owned()),
                    };
                    continue;
                }
                let line = match block.as_deref() {
                    None => continue,
                    // Transcripts: only the command lines, not the output.
                    Some("text") => match line.strip_prefix("$ ") {
                        Some(command) => command,
                        None => continue,
                    },
                    Some(_) => line,
                };
                let mut rest = line;
                while let Some(at) = rest.find("drift-cov ") {
                    let after = &rest[at + "drift-cov ".len()..];
                    let starts_a_command = rest[..at]
                        .chars()
                        .next_back()
                        .is_none_or(|before| before.is_whitespace() || before == '(');
                    if !starts_a_command {
                        rest = after;
                        continue;
                    }
                    let end = after.find(['|', ')', '#', ';', '`']).unwrap_or(after.len());
                    let words: Vec<String> = std::iter::once("drift-cov")
                        .chain(after[..end].split_whitespace())
                        .map(str::to_owned)
                        .collect();
                    commands.push((doc.to_owned(), number + 1, words));
                    rest = &after[end..];
                }
            }
        }
        commands
    }

    #[test]
    fn every_drift_cov_command_in_the_documentation_parses() {
        let commands = documented_commands();
        assert!(commands.len() >= 20, "{commands:?}");
        let mut subcommands = std::collections::BTreeSet::new();
        for (doc, line, words) in &commands {
            match Cli::try_parse_from(words) {
                Ok(cli) => {
                    subcommands.insert(
                        format!("{:?}", cli.command)
                            .split('(')
                            .next()
                            .map(str::to_owned),
                    );
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        clap::error::ErrorKind::DisplayHelp
                            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    ) => {}
                Err(error) => panic!("{doc}:{line}: `{}`: {error}", words.join(" ")),
            }
        }
        for subcommand in [
            "Build", "Init", "Check", "Merge", "Report", "Impact", "Patch", "Lcov", "Profraw",
        ] {
            assert!(
                subcommands.contains(&Some(subcommand.to_owned())),
                "no example of {subcommand} in the documentation: {subcommands:?}"
            );
        }
    }
}
