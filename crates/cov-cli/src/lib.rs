//! `drift-cov`: our reports for every Tusk Drift user, from the coverage JSON the Tusk CLI
//! writes (`tusk drift run --coverage-output coverage.json`), whatever language the service
//! is in.
//!
//! - `drift-cov report` prints the summary and writes HTML (who covers what on every line),
//!   LCOV and Cobertura;
//! - `drift-cov impact` lists the tests that executed the lines a change touches, from
//!   coverage recorded before it, as text, JSON, trace ids or a `tusk drift run --filter`;
//! - `drift-cov patch` measures the coverage of a change's lines and can fail a CI job;
//! - `drift-cov lcov` decodes one run of an instrumented Rust program offline;
//! - `drift-cov profraw` lists a raw profile as `llvm-profdata show` does;
//! - `drift-cov build` builds a Rust service for coverage (the flags, its own target
//!   directory, nothing but the program instrumented) and prints the executable's path;
//! - `drift-cov init` writes the Tusk project file of a Rust service;
//! - `drift-cov check` fails a CI job when a replay produced no usable coverage, and
//!   `drift-cov merge` makes one coverage file of several replay shards'.
//!
//! The binary is `src/main.rs`, which calls [`main`]; `cargo xtask lcov` and
//! `cargo xtask profraw` call [`offline_lcov`] and [`profile_listing`]. The key design decision is that the Tusk CLI's JSON is read into the
//! same aggregate model our own runs produce (`coverage_json`), so every report and
//! analysis works the same on both; the diff is parsed by a small module of our own
//! (`diff`, whose documentation says why). docs/reports.md shows each subcommand.

#![forbid(unsafe_code)]

mod cargo;
mod ci;
mod cli;
mod commands;
mod coverage_json;
mod diff;
mod impact;
mod patch;
mod reports;
mod setup;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Why a subcommand failed (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A report or output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The coverage JSON is not what the Tusk CLI writes; the message names the field.
    #[error("{} is not the Tusk CLI's coverage JSON: {message}", path.display())]
    CoverageJson {
        /// The file.
        path: PathBuf,
        /// The field, by its path in the document, and what is wrong with it.
        message: String,
    },
    /// `git diff` could not run or failed.
    #[error("`git diff {range}` failed: {message}")]
    Git {
        /// The revision range.
        range: String,
        /// What git (or starting it) said.
        message: String,
    },
    /// A diff could not be parsed.
    #[error("cannot parse the diff of {source_name}: {message}")]
    Diff {
        /// Where the diff came from.
        source_name: String,
        /// The offending line.
        message: String,
    },
    /// `--html DIR` names a non-empty directory that does not hold a report of ours.
    #[error(
        "{} is not empty and holds no drift-cov report; choose another --html directory",
        .0.display()
    )]
    ForeignHtmlDir(PathBuf),
    /// Offline coverage could not be computed.
    #[error("cannot compute the coverage of {} from {}: {source}", binary.display(), profraw.display())]
    Offline {
        /// The instrumented executable.
        binary: PathBuf,
        /// The raw profile.
        profraw: PathBuf,
        /// What the decoder found.
        source: cov_collector::offline::OfflineError,
    },
    /// cargo, rustc or another tool `drift-cov` runs failed.
    #[error("`{tool}` failed: {message}")]
    Tool {
        /// The tool and its subcommand.
        tool: String,
        /// What went wrong.
        message: String,
    },
    /// An include or exclude glob does not parse.
    #[error("{0}")]
    Glob(String),
    /// A file `drift-cov` would write exists already.
    #[error("{} exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    /// A raw profile could not be listed.
    #[error("cannot list {}: {source}", path.display())]
    Profile {
        /// The raw profile.
        path: PathBuf,
        /// What the decoder found (or the error writing the listing).
        source: cov_collector::offline::OfflineError,
    },
}

/// Runs `drift-cov` with the process's arguments and returns its exit code: 0 on success,
/// 1 when `patch` measured less than `--fail-under` or `check` found no usable coverage, 2
/// on errors (clap's code for usage
/// errors too).
pub fn main() -> ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(commands::Outcome::Success) => ExitCode::SUCCESS,
        Ok(commands::Outcome::CheckFailed) => ExitCode::from(1),
        Err(error) => {
            eprintln!("drift-cov: error: {error}");
            ExitCode::from(2)
        }
    }
}

/// The offline coverage of one run of `binary` (its raw profile `profraw`).
fn load_offline(
    binary: &Path,
    profraw: &Path,
) -> Result<cov_collector::offline::OfflineCoverage, Error> {
    cov_collector::offline::OfflineCoverage::load(binary, profraw).map_err(|source| {
        Error::Offline {
            binary: binary.to_owned(),
            profraw: profraw.to_owned(),
            source,
        }
    })
}

/// Writes the LCOV of one run of `binary` (its raw profile `profraw`) to `output`, or to
/// standard output: cov-collector's offline decoder, in the form
/// `llvm-cov export -format=lcov` writes.
pub fn offline_lcov(binary: &Path, profraw: &Path, output: Option<&Path>) -> Result<(), Error> {
    use std::io::Write;
    let coverage = load_offline(binary, profraw)?;
    let (mut out, path): (Box<dyn Write>, PathBuf) = match output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| Error::Write {
                path: path.to_owned(),
                source,
            })?;
            (Box::new(std::io::BufWriter::new(file)), path.to_owned())
        }
        None => (
            Box::new(std::io::stdout().lock()),
            PathBuf::from("standard output"),
        ),
    };
    coverage
        .write_lcov(&mut out)
        .and_then(|()| out.flush())
        .map_err(|source| Error::Write { path, source })
}

/// Writes the listing of the raw profile at `profraw` (versions 9 to 11) to standard
/// output in the shape of `llvm-profdata show --all-functions --counts`, byte-identical to
/// it on this toolchain's profiles; with `header`, the format version and every header
/// field first.
pub fn profile_listing(profraw: &Path, header: bool) -> Result<(), Error> {
    use std::io::Write;

    use cov_collector::offline::OfflineError;
    let bytes = std::fs::read(profraw).map_err(|source| Error::Read {
        path: profraw.to_owned(),
        source,
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let listed = if header {
        cov_collector::offline::write_profile_header(&bytes, &mut out)
    } else {
        Ok(())
    }
    .and_then(|()| cov_collector::offline::write_profile_listing(&bytes, &mut out));
    // A reader that stops early (`| head`) is not an error of the profile's.
    let closed = |error: &std::io::Error| error.kind() == std::io::ErrorKind::BrokenPipe;
    match listed.and_then(|()| out.flush().map_err(OfflineError::Write)) {
        Err(OfflineError::Write(error)) if closed(&error) => Ok(()),
        Err(OfflineError::Write(source)) => Err(Error::Write {
            path: PathBuf::from("standard output"),
            source,
        }),
        Err(source) => Err(Error::Profile {
            path: profraw.to_owned(),
            source,
        }),
        Ok(()) => Ok(()),
    }
}
