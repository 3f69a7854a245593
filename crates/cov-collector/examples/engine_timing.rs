//! Times each step of the offline pipeline on any instrumented binary and a profile it
//! wrote: `cargo run --release -p cov-collector --example engine_timing -- BIN PROFRAW`.
//!
//! Prints, best of `ROUNDS` (default 5): reading the sections, decoding the filename
//! tables, the names and the whole mapping, decoding the profile, building the engine,
//! evaluating every function, reading every file's report off the counts, and writing
//! the LCOV text, plus the sizes involved. `cargo xtask bench` measures the whole path
//! against llvm-cov; this says where its time goes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cov_collector::decode::covmap::decode_covmap;
use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::names::NameTable;
use cov_collector::decode::profraw::RawProfile;
use cov_collector::decode::sections::CoverageSections;
use cov_collector::offline::OfflineCoverage;
use cov_collector::{Engine, Threads};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(binary), Some(profraw)) = (args.next(), args.next()) else {
        return Err("usage: engine_timing BIN PROFRAW".into());
    };
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut steps: Vec<(&str, Duration)> = Vec::new();
    let mut record =
        |name: &'static str, took: Duration| match steps.iter_mut().find(|(step, _)| *step == name)
        {
            Some((_, best)) => *best = (*best).min(took),
            None => steps.push((name, took)),
        };
    let mut summary = String::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let sections = CoverageSections::read(&binary)?;
        record("read sections", started.elapsed());

        let started = Instant::now();
        let tables = decode_covmap(&sections.covmap)?;
        record("  filename tables", started.elapsed());
        let started = Instant::now();
        let names = NameTable::decode(&sections.names)?;
        record("  names", started.elapsed());
        let started = Instant::now();
        let mapping = CoverageMapping::decode(&sections)?;
        record("decode mapping (all of it)", started.elapsed());

        let started = Instant::now();
        let profile = RawProfile::read(&profraw)?;
        record("decode profile", started.elapsed());

        let owned = mapping.clone();
        let started = Instant::now();
        let engine = Engine::new(owned, &profile.functions, Threads::All);
        record("build engine", started.elapsed());

        let started = Instant::now();
        let counts = engine.evaluate(&profile.counters);
        record("evaluate", started.elapsed());
        let started = Instant::now();
        let mut lines = 0;
        for file in engine.covered_files() {
            lines += engine.file_report(file, &counts).coverage.lines.len();
        }
        record("file reports", started.elapsed());

        let (owned, owned_profile) = (mapping.clone(), profile.clone());
        let started = Instant::now();
        let offline = OfflineCoverage::from_parts(owned, owned_profile);
        record("from_parts (engine to reports)", started.elapsed());
        let started = Instant::now();
        let lcov = offline.to_lcov();
        record("to_lcov", started.elapsed());

        let started = Instant::now();
        let whole = OfflineCoverage::load(&binary, &profraw)?;
        let text = whole.to_lcov();
        record("whole: load + to_lcov", started.elapsed());
        assert_eq!(text, lcov);

        summary = format!(
            "{} filename tables, {} names, {} functions, {} records, {} counters, {} files, {} mapped lines, {} bytes of LCOV",
            tables.len(),
            names.len(),
            mapping.num_functions(),
            profile.functions.len(),
            profile.counters.len(),
            engine.covered_files().len(),
            lines,
            lcov.len()
        );
    }
    println!("{summary}");
    for (step, best) in steps {
        println!("{step:32} {:8.2} ms", best.as_secs_f64() * 1e3);
    }
    Ok(())
}
