//! Measures the offline pipeline on any instrumented binary and a profile it wrote:
//! `cargo run --release -p cov-collector --example engine_timing -- BIN PROFRAW`.
//!
//! Prints the time to decode the mapping, decode the profile, build the engine, and
//! compute a baseline of every file (what `Collector::baseline` does after reading the
//! live counters), plus the sizes involved.

use std::path::PathBuf;
use std::time::Instant;

use cov_collector::Engine;
use cov_collector::mapping::CoverageMapping;
use cov_collector::profraw::RawProfile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(binary), Some(profraw)) = (args.next(), args.next()) else {
        return Err("usage: engine_timing BIN PROFRAW".into());
    };
    let started = Instant::now();
    let mapping = CoverageMapping::from_executable(&binary)?;
    let decoded_mapping = started.elapsed();
    let profile = RawProfile::read(&profraw)?;
    let decoded_profile = started.elapsed() - decoded_mapping;
    let started_engine = Instant::now();
    let engine = Engine::new(&mapping, &profile.records);
    let built = started_engine.elapsed();
    let files = engine.covered_files();
    let mut best = None;
    let mut lines = 0;
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    for _ in 0..rounds {
        let started_baseline = Instant::now();
        lines = 0;
        for &file in &files {
            lines += engine.file_coverage(file, &profile.counters).lines.len();
        }
        let took = started_baseline.elapsed();
        best = Some(best.map_or(took, |best: std::time::Duration| best.min(took)));
    }
    println!(
        "{} functions, {} records, {} counters, {} files, {} mapped lines",
        mapping.functions.len(),
        profile.records.len(),
        profile.counters.len(),
        files.len(),
        lines
    );
    println!("decode mapping: {decoded_mapping:?}");
    println!("decode profile: {decoded_profile:?}");
    println!("build engine:   {built:?}");
    println!(
        "baseline (all files, best of {rounds}): {:?}",
        best.unwrap_or_default()
    );
    Ok(())
}
