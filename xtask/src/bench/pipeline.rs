//! The llvm pipeline a user without the collector runs for each test: `llvm-profdata merge
//! -sparse` then `llvm-cov export -format=lcov`, on the very binary and profile the
//! collector was measured on, for the whole program and for the service's sources only.
//! Its LCOV is compared with ours (same `DA`/`BRDA` set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use super::Binaries;
use super::collector::CollectorRun;
use super::results::BenchResults;
use super::stats::{median, millis, ratio};
use crate::provision;

/// Measures the llvm pipeline on the collector run's profile and compares its LCOV with
/// ours; fills in the ratios of the two.
pub(super) fn measure(
    binaries: &Binaries,
    tools_dir: &Path,
    service_sources: &str,
    work: &Path,
    collector_run: &CollectorRun,
    results: &mut BenchResults,
) -> anyhow::Result<()> {
    let llvm = LlvmTools::new(tools_dir);
    let ours = std::fs::read_to_string(&collector_run.ours_lcov)?;
    let (binary, profraw) = (&binaries.bench_service, &collector_run.profraw);

    // The whole program, as `cargo xtask lcov` writes it.
    let llvm_lcov = work.join("llvm.lcov");
    let mut full_runs = Vec::new();
    for _ in 0..5 {
        full_runs.push(llvm.pipeline(binary, profraw, &llvm_lcov, &[], work)?);
    }
    results.offline_llvm_ms = median(&full_runs.iter().map(PipelineRun::total).collect::<Vec<_>>());
    let theirs = std::fs::read_to_string(&llvm_lcov)?;
    let diff = cov_testkit::diff_lcov(
        &cov_testkit::LcovTracefile::try_parse(&theirs).map_err(anyhow::Error::msg)?,
        &cov_testkit::LcovTracefile::try_parse(&ours).map_err(anyhow::Error::msg)?,
    );
    results.offline_identical = diff.lines_and_branches_agree();
    if !diff.is_empty() {
        eprintln!("bench: offline LCOV differs from llvm-cov's:\n{diff}");
    }

    // The per-test snapshot: only the service's sources, as the collector selected them.
    let sources: Vec<String> = ours
        .lines()
        .filter_map(|line| line.strip_prefix("SF:"))
        .filter(|path| path.contains(service_sources))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!sources.is_empty(), "no service source in our LCOV");
    let snapshot_lcov = work.join("snapshot.lcov");
    let mut snapshot_runs = Vec::new();
    for _ in 0..3 {
        snapshot_runs.push(llvm.pipeline(binary, profraw, &snapshot_lcov, &sources, work)?);
    }
    results.profdata_merge_ms = median(
        &snapshot_runs
            .iter()
            .map(|run| run.merge_ms)
            .collect::<Vec<_>>(),
    );
    results.llvm_cov_export_ms = median(
        &snapshot_runs
            .iter()
            .map(|run| run.export_ms)
            .collect::<Vec<_>>(),
    );
    results.pipeline_ms = results.dump_ms
        + median(
            &snapshot_runs
                .iter()
                .map(PipelineRun::total)
                .collect::<Vec<_>>(),
        );
    results.pipeline_ratio = ratio(results.pipeline_ms, results.delta_under_load_p50_ms);
    results.offline_ratio = ratio(results.offline_llvm_ms, results.offline_ms);
    Ok(())
}

/// One run of `llvm-profdata merge -sparse` then `llvm-cov export -format=lcov`.
#[derive(Debug, Clone, Copy)]
struct PipelineRun {
    merge_ms: f64,
    export_ms: f64,
}

impl PipelineRun {
    fn total(&self) -> f64 {
        self.merge_ms + self.export_ms
    }
}

struct LlvmTools {
    profdata: PathBuf,
    cov: PathBuf,
}

impl LlvmTools {
    fn new(dir: &Path) -> LlvmTools {
        LlvmTools {
            profdata: dir.join("llvm-profdata"),
            cov: dir.join("llvm-cov"),
        }
    }

    /// Merges `profraw` and exports LCOV of `binary` (restricted to `sources` unless empty)
    /// into `out`.
    fn pipeline(
        &self,
        binary: &Path,
        profraw: &Path,
        out: &Path,
        sources: &[String],
        work: &Path,
    ) -> anyhow::Result<PipelineRun> {
        let profdata = work.join("snapshot.profdata");
        let start = Instant::now();
        provision::run(
            Command::new(&self.profdata)
                .args(["merge", "-sparse"])
                .arg(profraw)
                .arg("-o")
                .arg(&profdata),
        )?;
        let merge_ms = millis(start.elapsed());
        let start = Instant::now();
        let lcov = std::fs::File::create(out)?;
        let status = Command::new(&self.cov)
            .args(["export", "-format=lcov", "-instr-profile"])
            .arg(&profdata)
            .arg(binary)
            .args(sources)
            .stdout(lcov)
            .status()
            .with_context(|| format!("running {}", self.cov.display()))?;
        anyhow::ensure!(status.success(), "llvm-cov export exited with {status}");
        let export_ms = millis(start.elapsed());
        Ok(PipelineRun {
            merge_ms,
            export_ms,
        })
    }
}
