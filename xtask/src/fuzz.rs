//! `cargo xtask fuzz [--seconds N] [--target NAME]...`: runs the cargo-fuzz targets in
//! `fuzz/`, each for a bounded time, and reports inputs tried and crashes found.
//!
//! The targets call the same checks as the property tests of `tests/reliability`
//! (`cov_reliability::checks`). Their seeds come from a real instrumented build (the
//! `workload` fixture's sections and profile, real protocol frames), written to
//! `fuzz/seeds/` by the `fuzz_seeds` example of cov-reliability; the growing corpus stays
//! in `fuzz/corpus/` and crashes in `fuzz/artifacts/` (both git-ignored). cargo-fuzz needs
//! nightly features (`-Z sanitizer`); `RUSTC_BOOTSTRAP=1` enables them on the stable
//! toolchain, whose rust-std ships the sanitizer runtimes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::provision;

/// The fuzz targets, by name (`fuzz/fuzz_targets/<name>.rs`): one per check of
/// `cov_reliability::checks` over bytes.
pub(crate) use cov_reliability::seeds::TARGETS;

/// One target's run.
struct Outcome {
    target: &'static str,
    executions: u64,
    corpus: usize,
    crashes: Vec<String>,
}

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Fuzz) -> anyhow::Result<()> {
    let seconds = flags.seconds;
    // The names were checked against `TARGETS` when the command line was parsed.
    let selected: Vec<&'static str> = if flags.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        TARGETS
            .into_iter()
            .filter(|target| flags.targets.iter().any(|selected| selected == target))
            .collect()
    };

    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    ensure_cargo_fuzz(&cargo)?;

    let seeds = root.join("fuzz/seeds");
    provision::run(
        Command::new(&cargo)
            .current_dir(&root)
            .args([
                "run",
                "--quiet",
                "--locked",
                "-p",
                "cov-reliability",
                "--example",
                "fuzz_seeds",
                "--",
            ])
            .arg(&seeds),
    )?;

    let mut outcomes = Vec::new();
    for target in selected {
        println!("fuzz: {target} for {seconds} s");
        outcomes.push(run_target(&cargo, &root, target, seconds)?);
    }

    println!(
        "\n{:<10} {:>14} {:>8} {:>8}",
        "target", "inputs tried", "corpus", "crashes"
    );
    let mut total = 0;
    for outcome in &outcomes {
        total += outcome.executions;
        println!(
            "{:<10} {:>14} {:>8} {:>8}",
            outcome.target,
            outcome.executions,
            outcome.corpus,
            outcome.crashes.len()
        );
    }
    println!("{:<10} {:>14}", "total", total);
    let crashes: Vec<&String> = outcomes
        .iter()
        .flat_map(|outcome| &outcome.crashes)
        .collect();
    if !crashes.is_empty() {
        bail!(
            "{} crash(es); reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>` \
             and add a regression test:\n{}",
            crashes.len(),
            crashes
                .iter()
                .map(|crash| format!("  {crash}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

/// Installs cargo-fuzz with cargo when it is missing.
fn ensure_cargo_fuzz(cargo: &str) -> anyhow::Result<()> {
    let present = Command::new(cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        eprintln!("provision: installing cargo-fuzz with cargo install");
        provision::run(Command::new(cargo).args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

fn run_target(
    cargo: &str,
    root: &Path,
    target: &'static str,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let corpus = root.join("fuzz/corpus").join(target);
    let seeds = root.join("fuzz/seeds").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;
    let crashes_before = list(&artifacts)?;
    let output = Command::new(cargo)
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir", "fuzz", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args([
            "-print_final_stats=1",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-max_len=65536",
        ])
        .output()
        .with_context(|| format!("starting cargo fuzz run {target}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let executions = log
        .lines()
        .filter_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
        .filter_map(|value| value.trim().parse::<u64>().ok())
        .sum();
    let crashes: Vec<String> = list(&artifacts)?
        .into_iter()
        .filter(|crash| !crashes_before.contains(crash))
        .collect();
    if !output.status.success() && crashes.is_empty() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "cargo fuzz run {target} failed with {} and left no artifact:\n{}",
            output.status,
            tail.join("\n")
        );
    }
    Ok(Outcome {
        target,
        executions,
        corpus: list(&corpus)?.len(),
        crashes,
    })
}

fn list(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        names.push(entry?.path().display().to_string());
    }
    names.sort();
    Ok(names)
}
