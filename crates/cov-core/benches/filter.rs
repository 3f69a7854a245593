//! How much one `SourceFilter::matches` call costs, for the three kinds of path a coverage
//! mapping names: a file of the application (resolved with one `canonicalize`), a registry
//! file outside the root, and a path that does not exist here (cleaned lexically).
//!
//! Run with `cargo bench -p cov-core --bench filter`. criterion gives the statistics.

#![allow(missing_docs)]

use cov_core::filter::SourceFilter;
use criterion::{Criterion, criterion_group, criterion_main};

fn matches(criterion: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("src/handlers/user.rs");
    std::fs::create_dir_all(source.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&source, "fn handler() {}\n").expect("write");
    let filter = SourceFilter::builder()
        .root(dir.path())
        .cargo_home("/home/user/.cargo")
        .include("src/**")
        .exclude("**/generated/**")
        .build()
        .expect("valid filter");
    let application_file = source.to_str().expect("UTF-8").to_owned();
    let registry_file = "/home/user/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.228/src/de/mod.rs";
    let absent_file = format!("{}/src/remapped/gone.rs", dir.path().display());

    let mut group = criterion.benchmark_group("SourceFilter::matches");
    group.bench_function("application file", |bench| {
        bench.iter(|| filter.matches(std::hint::black_box(&application_file)))
    });
    group.bench_function("registry file", |bench| {
        bench.iter(|| filter.matches(std::hint::black_box(registry_file)))
    });
    group.bench_function("absent file", |bench| {
        bench.iter(|| filter.matches(std::hint::black_box(&absent_file)))
    });
    group.finish();
}

criterion_group!(benches, matches);
criterion_main!(benches);
