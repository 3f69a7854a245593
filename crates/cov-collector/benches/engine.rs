//! What the engine costs on the workload fixture (branch coverage build): building it from
//! the mapping and the records, one baseline of every file, and recomputing one file as a
//! delta does.
//!
//! Run with `cargo bench -p cov-collector --bench engine`; for a large program use the
//! `engine_timing` example on any instrumented binary and its profile.

#![allow(missing_docs)]

use cov_collector::Engine;
use cov_collector::mapping::CoverageMapping;
use cov_collector::profraw::RawProfile;
use cov_testkit::{BuildOptions, build_instrumented, run_instrumented};
use criterion::{Criterion, criterion_group, criterion_main};

fn engine(criterion: &mut Criterion) {
    let binary = build_instrumented(
        "workload",
        "workload",
        &BuildOptions {
            release: false,
            branch: true,
        },
    );
    let run = run_instrumented(&binary, &["all"]);
    let mapping = CoverageMapping::from_executable(&binary).expect("fixture mapping");
    let profile = RawProfile::read(run.profraw()).expect("fixture profile");
    let engine = Engine::new(&mapping, &profile.records);
    let files = engine.covered_files();
    let largest = *files
        .iter()
        .max_by_key(|&&file| engine.file_coverage(file, &profile.counters).lines.len())
        .expect("the fixture has files");

    let mut group = criterion.benchmark_group("engine");
    group.bench_function("decode mapping", |bench| {
        bench.iter(|| CoverageMapping::from_executable(std::hint::black_box(&binary)))
    });
    group.bench_function("build", |bench| {
        bench.iter(|| Engine::new(std::hint::black_box(&mapping), &profile.records))
    });
    group.bench_function("baseline of every file", |bench| {
        bench.iter(|| {
            files
                .iter()
                .map(|&file| engine.file_coverage(file, &profile.counters).lines.len())
                .sum::<usize>()
        })
    });
    group.bench_function("one file", |bench| {
        bench.iter(|| engine.file_coverage(std::hint::black_box(largest), &profile.counters))
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
