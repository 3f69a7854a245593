//! Each subcommand: read the inputs, compute, print.

use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

use crate::cli::{
    ChangeInput, Cli, Command, ImpactArgs, ImpactFormat, MergeArgs, PatchArgs, ReportArgs,
};
use crate::coverage_json::CoverageView;
use crate::diff::FileChange;
use crate::impact::Impact;
use crate::{Error, ci, coverage_json, diff, impact, patch, reports, setup};

/// How a subcommand that ran to its end came out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit code 0.
    Success,
    /// Exit code 1: the check the user asked for failed.
    CheckFailed,
}

pub(crate) fn run(cli: Cli) -> Result<Outcome, Error> {
    match cli.command {
        Command::Report(args) => report(&args),
        Command::Impact(args) => impact(&args),
        Command::Patch(args) => patch(&args),
        Command::Lcov(args) => {
            crate::offline_lcov(&args.binary, &args.profraw, args.output.as_deref())?;
            Ok(Outcome::Success)
        }
        Command::Profraw(args) => {
            crate::profile_listing(&args.profraw, args.header)?;
            Ok(Outcome::Success)
        }
        Command::Build(args) => {
            let executable = setup::build(&args)?;
            eprintln!(
                "drift-cov: built {} with coverage instrumentation{}",
                executable.display(),
                if args.branch {
                    " and branch regions"
                } else {
                    ""
                }
            );
            print(&format!("{}\n", executable.display()))?;
            Ok(Outcome::Success)
        }
        Command::Init(args) => {
            let (path, text) = setup::init(&args)?;
            match path {
                Some(path) => print(&format!(
                    "wrote {}; build the service with `drift-cov build`, then record and replay (docs/sdk.md)\n",
                    path.display()
                ))?,
                None => print(&text)?,
            }
            Ok(Outcome::Success)
        }
        Command::Check(args) => match ci::check(&args.path)? {
            Ok(usable) => {
                print(&ci::describe(&args.path, &usable))?;
                Ok(Outcome::Success)
            }
            Err(reason) => {
                eprintln!(
                    "drift-cov: no usable coverage in {}: {reason}",
                    args.path.display()
                );
                Ok(Outcome::CheckFailed)
            }
        },
        Command::Merge(args) => merge(&args),
    }
}

fn merge(args: &MergeArgs) -> Result<Outcome, Error> {
    let (view, timestamp, duplicates) = ci::merge(&args.inputs)?;
    for id in &duplicates {
        eprintln!("drift-cov: test {id} appears in more than one input; kept from the first");
    }
    reports::write_file(&args.output, &reports::json(&view, &timestamp))?;
    let mut out = reports::summary(&view);
    out.push_str("\nReports:\n");
    let _ = writeln!(out, "  {}", args.output.display());
    if let Some(path) = &args.lcov {
        reports::write_lcov(&view, path)?;
        let _ = writeln!(out, "  {}", path.display());
    }
    print(&out)?;
    Ok(Outcome::Success)
}

fn report(args: &ReportArgs) -> Result<Outcome, Error> {
    let view = match (&args.from, &args.binary, &args.profraw) {
        (Some(from), _, _) => coverage_json::read(from)?,
        (None, Some(binary), Some(profraw)) => coverage_json::from_profile(
            binary,
            profraw,
            &args.source_root,
            &args.include,
            &args.exclude,
        )?,
        // clap requires --from, or --binary with --profraw.
        _ => unreachable!("clap requires --from or --binary and --profraw"),
    };
    let mut out = reports::summary(&view);
    let mut written = Vec::new();
    if let Some(dir) = &args.html {
        let site = reports::write_html(&view, dir, &args.source_root)?;
        if !site.missing_sources.is_empty() {
            let _ = writeln!(
                out,
                "\n{} of {} source files not found under {} (their pages list the lines without text):",
                site.missing_sources.len(),
                view.files.len(),
                args.source_root.display(),
            );
            for path in &site.missing_sources {
                let _ = writeln!(out, "  {path}");
            }
        }
        written.push(format!("{} ({} pages)", site.index.display(), site.pages));
    }
    if let Some(path) = &args.lcov {
        reports::write_lcov(&view, path)?;
        written.push(path.display().to_string());
    }
    if let Some(path) = &args.cobertura {
        reports::write_cobertura(&view, path, &args.source_root)?;
        written.push(path.display().to_string());
    }
    if !written.is_empty() {
        out.push_str("\nReports:\n");
        for line in written {
            let _ = writeln!(out, "  {line}");
        }
    }
    print(&out)?;
    Ok(Outcome::Success)
}

/// Reads the coverage JSON and the change of `impact` and `patch`.
fn read_change(args: &ChangeInput) -> Result<(CoverageView, Vec<FileChange>), Error> {
    let view = coverage_json::read(&args.coverage.from)?;
    let changes = match (&args.source.diff, &args.source.patch) {
        (Some(range), _) => diff::from_git(&args.repo, range)?,
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            diff::parse(&String::from_utf8_lossy(&bytes)).map_err(|message| Error::Diff {
                source_name: path.display().to_string(),
                message,
            })?
        }
        // clap's argument group requires exactly one of the two.
        (None, None) => unreachable!("clap requires --diff or --patch"),
    };
    Ok((view, changes))
}

fn impact(args: &ImpactArgs) -> Result<Outcome, Error> {
    let (view, changes) = read_change(&args.change)?;
    let impact = impact::compute(&view, &changes);
    let format = if args.json {
        ImpactFormat::Json
    } else {
        args.format
    };
    let out = match format {
        ImpactFormat::Human => impact_text(&impact, view.tests.len()),
        ImpactFormat::Json => impact_json(&impact),
        ImpactFormat::Ids => impact.trace_ids().map(|id| format!("{id}\n")).collect(),
        ImpactFormat::Filter => impact
            .tusk_filter()
            .map(|filter| format!("{filter}\n"))
            .unwrap_or_default(),
    };
    print(&out)?;
    Ok(Outcome::Success)
}

fn impact_json(impact: &Impact) -> String {
    #[derive(Serialize)]
    struct Answer<'a> {
        trace_ids: Vec<&'a str>,
        tusk_filter: Option<String>,
        #[serde(flatten)]
        impact: &'a Impact,
    }
    let answer = Answer {
        trace_ids: impact.trace_ids().collect(),
        tusk_filter: impact.tusk_filter(),
        impact,
    };
    // Plain structs, string-keyed maps and numbers always serialise.
    let mut text = serde_json::to_string_pretty(&answer).expect("the answer serialises");
    text.push('\n');
    text
}

fn impact_text(impact: &Impact, n_tests: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} of {n_tests} tests executed lines this change touches",
        impact.tests.len()
    );
    for test in &impact.tests {
        let mut why: Vec<String> = Vec::new();
        for (path, lines) in &test.changed_lines {
            why.push(format!("{path}:{}", line_ranges(lines)));
        }
        for (path, lines) in &test.neighbour_lines {
            why.push(format!(
                "{path}:{} (next to an insertion)",
                line_ranges(lines)
            ));
        }
        let name = if test.name.is_empty() {
            String::new()
        } else {
            format!("  {}", test.name)
        };
        let _ = writeln!(out, "  {}{name}\n      {}", test.trace_id, why.join(", "));
    }
    if !impact.unexecuted.is_empty() {
        out.push_str("\nChanged lines no test executed (lines of the coverage's version):\n");
        for file in &impact.unexecuted {
            let mut parts = Vec::new();
            if !file.lines.is_empty() {
                let noun = if file.lines.len() == 1 {
                    "line"
                } else {
                    "lines"
                };
                parts.push(format!("{noun} {}", line_ranges(&file.lines)));
            }
            for insertion in &file.insertions {
                let [first, last] = insertion.head_lines;
                parts.push(format!(
                    "{} new after line {} (new {})",
                    plural(last - first + 1, "line", "lines"),
                    insertion.after_line,
                    line_ranges(&(first..=last).collect::<Vec<_>>()),
                ));
            }
            let _ = writeln!(out, "  {}: {}", file.path, parts.join("; "));
        }
    }
    if !impact.files_without_coverage.is_empty() {
        out.push_str("\nChanged files the coverage does not list (new, or without code):\n");
        for file in &impact.files_without_coverage {
            let _ = writeln!(out, "  {} ({})", file.path, file.status);
        }
    }
    out
}

fn patch(args: &PatchArgs) -> Result<Outcome, Error> {
    let (view, changes) = read_change(&args.change)?;
    let patch = patch::compute(&view, &changes);
    let (covered, coverable) = patch.totals();
    let mut out = String::new();
    match patch.percent() {
        Some(percent) => {
            let _ = writeln!(
                out,
                "Patch coverage: {percent:.1}% ({covered}/{coverable} changed coverable lines executed) in {}",
                plural(patch.files.len() as u32, "file", "files"),
            );
        }
        None => out.push_str("Patch coverage: no changed line is coverable\n"),
    }
    let width = patch.files.keys().map(String::len).max().unwrap_or(0);
    for (path, lines) in &patch.files {
        let file_covered = lines.iter().filter(|(_, covered)| *covered).count();
        let missed: Vec<u32> = lines
            .iter()
            .filter(|(_, covered)| !covered)
            .map(|&(line, _)| line)
            .collect();
        let ratio = format!("{file_covered}/{}", lines.len());
        let _ = write!(out, "  {path:<width$}  {ratio:>9}");
        if !missed.is_empty() {
            let _ = write!(out, "  not executed: {}", line_ranges(&missed));
        }
        out.push('\n');
    }
    if patch.not_coverable > 0 {
        let _ = writeln!(
            out,
            "  ({} added or modified lines are not coverable: not code, or files the coverage does not list)",
            patch.not_coverable
        );
    }
    print(&out)?;
    match (args.fail_under, patch.percent()) {
        (Some(threshold), Some(percent)) if percent < threshold => {
            eprintln!("drift-cov: patch coverage {percent:.1}% is under --fail-under {threshold}%");
            Ok(Outcome::CheckFailed)
        }
        _ => Ok(Outcome::Success),
    }
}

/// `12-14, 20` for lines 12, 13, 14 and 20 (ascending input).
fn line_ranges(lines: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &line in lines {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == line => *last = line,
            _ => runs.push((line, line)),
        }
    }
    runs.iter()
        .map(|&(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Prints to standard output; a closed pipe (`drift-cov ... | head`) is not an error.
fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "standard output".into(),
            source: error,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges_join_consecutive_lines() {
        assert_eq!(line_ranges(&[3, 4, 5, 9, 11, 12]), "3-5, 9, 11-12");
        assert_eq!(line_ranges(&[]), "");
    }
}
