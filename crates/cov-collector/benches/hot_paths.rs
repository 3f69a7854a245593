//! Criterion micro-benchmarks of the collector's hot paths, on a real instrumented program:
//!
//! - `decode/*`: reading the coverage sections and decoding them into a `CoverageMapping`,
//!   then building the `Engine` (what `Collector::build` does once per process);
//! - `delta/*`: what `Collector::delta` does per snapshot, with the public API: compare
//!   every function's counters with the previous reading, mark the files of the functions
//!   that changed, and evaluate those files (`Engine::evaluate_files`, then
//!   `Engine::file_coverage` per file); plus evaluating
//!   every file (the work of a baseline).
//!
//! The program is the `workload` fixture (built `--release` with `-C instrument-coverage`
//! through cov-testkit and run once for its profile), or any program given by
//! `COV_BENCH_BINARY` with one of its profiles in `COV_BENCH_PROFRAW` (for example the
//! bench-service of `cargo xtask bench`, with its whole dependency graph).
//!
//! Run with `cargo bench -p cov-collector` (needs the llvm tools only to build the fixture,
//! not at all with the two variables set).

use std::hint::black_box;
use std::path::PathBuf;

use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::profraw::RawProfile;
use cov_collector::decode::sections::CoverageSections;
use cov_collector::engine::{Engine, FileId, Threads};
use criterion::{Criterion, criterion_main};

/// The program and profile the benchmarks read.
struct Input {
    binary: PathBuf,
    profile: RawProfile,
    /// Kept so a fixture run's profile outlives the benchmarks.
    _run: Option<cov_testkit::ProfileRun>,
}

fn input() -> Input {
    if let (Some(binary), Some(profraw)) = (
        std::env::var_os("COV_BENCH_BINARY"),
        std::env::var_os("COV_BENCH_PROFRAW"),
    ) {
        let profile = RawProfile::read(profraw.as_ref()).expect("reading COV_BENCH_PROFRAW");
        return Input {
            binary: binary.into(),
            profile,
            _run: None,
        };
    }
    let options = cov_testkit::BuildOptions {
        release: true,
        branch: false,
    };
    let binary = cov_testkit::build_instrumented("workload", "workload", &options);
    let run = cov_testkit::run_instrumented(&binary, &["all"]);
    let profile = RawProfile::read(run.profraw()).expect("reading the workload's profile");
    Input {
        binary,
        profile,
        _run: Some(run),
    }
}

fn benchmarks(criterion: &mut Criterion) {
    let input = input();
    let sections = CoverageSections::read(&input.binary).expect("reading the coverage sections");
    let mapping = CoverageMapping::decode(&sections).expect("decoding the mapping");
    let engine = Engine::new(mapping.clone(), &input.profile.functions, Threads::One);
    let counters = &input.profile.counters;

    let mut decode = criterion.benchmark_group("decode");
    decode.bench_function("read_sections", |bench| {
        bench.iter(|| CoverageSections::read(black_box(&input.binary)).unwrap())
    });
    decode.bench_function("decode_mapping", |bench| {
        bench.iter(|| CoverageMapping::decode(black_box(&sections)).unwrap())
    });
    decode.bench_function("build_engine", |bench| {
        // The engine takes the mapping over, so each build copies it (as docs/performance.md's
        // figures were measured).
        bench.iter(|| {
            Engine::new(
                black_box(&mapping).clone(),
                black_box(&input.profile.functions),
                Threads::One,
            )
        })
    });
    decode.finish();

    let all_files = engine.covered_files();
    // The previous reading: the same counters with every function's first counter one
    // lower, where it is positive, in every other function: half the functions changed.
    let mut previous = counters.clone();
    for record in (0..engine.num_records()).step_by(2) {
        if let Some(first) = engine.record_counters(record).next() {
            previous[first] = previous[first].saturating_sub(1);
        }
    }
    let mut delta = criterion.benchmark_group("delta");
    delta.bench_function("nothing_changed", |bench| {
        bench.iter(|| changed_files_coverage(&engine, black_box(counters), counters))
    });
    delta.bench_function("half_the_functions_changed", |bench| {
        bench.iter(|| changed_files_coverage(&engine, black_box(counters), &previous))
    });
    delta.bench_function("every_file", |bench| {
        bench.iter(|| {
            let counts = engine.evaluate_files(&all_files, black_box(counters));
            all_files
                .iter()
                .map(|&file| engine.file_coverage(file, &counts).lines.len())
                .sum::<usize>()
        })
    });
    delta.finish();
}

/// The per-snapshot work of `Collector::delta`: find the files of the functions whose
/// counters differ from `previous`, and evaluate them.
fn changed_files_coverage(engine: &Engine, current: &[u64], previous: &[u64]) -> usize {
    let mut is_changed = vec![false; engine.files().len()];
    let mut changed: Vec<FileId> = Vec::new();
    for record in 0..engine.num_records() {
        let range = engine.record_counters(record);
        if current[range.clone()] != previous[range] {
            for &file in engine.record_files(record) {
                if !is_changed[file.index()] {
                    is_changed[file.index()] = true;
                    changed.push(file);
                }
            }
        }
    }
    let counts = engine.evaluate_files(&changed, current);
    changed
        .into_iter()
        .map(|file| engine.file_coverage(file, &counts).lines.len())
        .sum()
}

// The macro defines an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(hot_paths, super::benchmarks);
}
criterion_main!(group::hot_paths);
