//! What the engine costs on the workload fixture (branch coverage build): building it from
//! the mapping and the records, one baseline of every file, and recomputing one file as a
//! delta does.
//!
//! Run with `cargo bench -p cov-collector --bench engine`; for a large program use the
//! `engine_timing` example on any instrumented binary and its profile.

#![allow(missing_docs)]

use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::profraw::RawProfile;
use cov_collector::{Engine, Threads};
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
    let engine = Engine::new(mapping.clone(), &profile.functions, Threads::One);
    let files = engine.covered_files();
    let counts = engine.evaluate(&profile.counters);
    let largest = *files
        .iter()
        .max_by_key(|&&file| engine.file_coverage(file, &counts).lines.len())
        .expect("the fixture has files");

    let mut group = criterion.benchmark_group("engine");
    group.bench_function("decode mapping", |bench| {
        bench.iter(|| CoverageMapping::from_executable(std::hint::black_box(&binary)))
    });
    group.bench_function("build", |bench| {
        // The engine takes the mapping over, so each build copies it.
        bench.iter(|| {
            Engine::new(
                std::hint::black_box(&mapping).clone(),
                &profile.functions,
                Threads::One,
            )
        })
    });
    group.bench_function("baseline of every file", |bench| {
        // Each file evaluated on its own (`delta/every_file` of hot_paths evaluates them
        // together, as the collector does).
        bench.iter(|| {
            files
                .iter()
                .map(|&file| {
                    let counts = engine.evaluate_files(&[file], &profile.counters);
                    engine.file_coverage(file, &counts).lines.len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("one file", |bench| {
        bench.iter(|| {
            let counts = engine.evaluate_files(&[largest], std::hint::black_box(&profile.counters));
            engine.file_coverage(largest, &counts)
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
