//! Raw profile versions 9 (LLVM 18) and 11 (LLVM 23), which no toolchain on this machine
//! writes: real version-10 profiles of the workload and demo fixtures, re-laid by
//! `cov_testkit::relayout` (written from LLVM's source), decode to the same records and
//! counters as the original, and give LCOV byte-identical to `llvm-cov`'s oracle of the
//! original, line for line and branch for branch.
//!
//! The demo service is run as a user would run it, against a database of its own on the
//! tests' PostgreSQL server and the rates service (uninstrumented). `llvm-cov` (LLVM 22)
//! crashes on one file of the SDK it links ([`LLVM_COV_CRASHES_ON`]): its LCOV is taken of
//! every other file, and ours is compared with it on exactly those files.

use std::path::{Path, PathBuf};

use cov_collector::RawProfile;
use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::offline::OfflineCoverage;
use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{
    BuildOptions, LcovTracefile, build_instrumented, diff_lcov, oracle_lcov, oracle_lcov_of,
    run_instrumented, workspace_root,
};

/// The files of the demo service's build that `llvm-cov export` of LLVM 21.1.4 and later
/// cannot process with branch coverage: it crashes (SIGSEGV in
/// `CoverageMapping::getInstantiationGroups`) on this `async_trait` implementation
/// (rust-lang/rust#157358, llvm/llvm-project#220574), relative to the workspace root.
const LLVM_COV_CRASHES_ON: &[&str] = &["crates/cov-sdk/src/outbound/reqwest.rs"];

/// Every re-laying the tests check: plain and padded, versions 9 to 11.
fn relayouts() -> Vec<Relayout> {
    [9, 10, 11]
        .into_iter()
        .flat_map(|version| [Relayout::plain(version), Relayout::padded(version)])
        .collect()
}

/// Decodes each re-laid version of `binary`'s profile `profraw` and compares it with the
/// original and with the oracle: on every file, or, when `llvm-cov` cannot process some
/// (`excluded`, relative to the workspace root), on every other file it can find on disk.
fn check_every_version(binary: &Path, profraw: &Path, excluded: &[&str]) {
    let original_bytes = std::fs::read(profraw).expect("reading the profile");
    let original = RawProfile::decode(&original_bytes).expect("decoding the original");
    assert_eq!(
        original.header.format_version(),
        10,
        "this toolchain writes version 10"
    );
    assert_eq!(
        relayout_profile(&original_bytes, &Relayout::plain(10)),
        original_bytes,
        "the encoder re-lays a version-10 profile as itself"
    );
    let mapping = CoverageMapping::from_executable(binary).expect("decoding the mapping");
    let expected_text = if excluded.is_empty() {
        oracle_lcov(binary, &[profraw])
    } else {
        let excluded: Vec<PathBuf> = excluded
            .iter()
            .map(|path| workspace_root().join(path))
            .collect();
        for path in &excluded {
            assert!(
                mapping.files.iter().any(|file| Path::new(file) == path),
                "{} is not in the mapping: nothing to leave out",
                path.display()
            );
        }
        // In the order of a whole export, the names' byte order (llvm-cov lists the files
        // it is given in the order given).
        let mut names: Vec<&String> = mapping
            .files
            .iter()
            .filter(|file| {
                let file = Path::new(file);
                file.is_file() && !excluded.iter().any(|path| path == file)
            })
            .collect();
        names.sort();
        names.dedup();
        let sources: Vec<&Path> = names.into_iter().map(Path::new).collect();
        oracle_lcov_of(binary, &[profraw], &sources)
    };
    let expected = LcovTracefile::parse(&expected_text);
    for options in relayouts() {
        let bytes = relayout_profile(&original_bytes, &options);
        let profile =
            RawProfile::decode(&bytes).unwrap_or_else(|error| panic!("{options:?}: {error}"));
        assert_eq!(profile.header.format_version(), options.version);
        assert_eq!(profile.functions, original.functions, "{options:?}");
        assert_eq!(profile.counters, original.counters, "{options:?}");
        assert_eq!(profile.names_blob, original.names_blob, "{options:?}");
        assert_eq!(profile.binary_ids, original.binary_ids, "{options:?}");
        if options.uniform_counters {
            assert!(!profile.uniform_counters.is_empty(), "{options:?}");
            assert_ne!(profile.header.padding_after_uniform_counters, 0);
        }
        if options.extra_padding != [0; 4] {
            assert_ne!(profile.header.padding_before_counters, 0);
            assert_ne!(profile.header.padding_after_counters, 0);
            assert_ne!(profile.header.padding_after_bitmap, 0);
        }
        let mut ours_text = OfflineCoverage::from_parts(mapping.clone(), profile).to_lcov();
        if !excluded.is_empty() {
            ours_text = records_of(&ours_text, &expected);
        }
        let diff = diff_lcov(&expected, &LcovTracefile::parse(&ours_text));
        assert!(
            diff.is_empty(),
            "{options:?}: differs from llvm-cov:\n{diff}"
        );
        assert_eq!(
            expected_text, ours_text,
            "{options:?}: not byte-identical to llvm-cov"
        );
    }
}

#[test]
fn workload_profiles_of_every_version_match_llvm_cov() {
    let options = BuildOptions {
        release: false,
        branch: true,
    };
    let binary = build_instrumented("workload", "workload", &options);
    let run = run_instrumented(&binary, &["all"]);
    check_every_version(&binary, run.profraw(), &[]);
}

/// The records of `lcov` (in its order) of the files `of` has. A record ends at a line that
/// is `end_of_record` (function names can end so too).
fn records_of(lcov: &str, of: &LcovTracefile) -> String {
    let mut kept = String::new();
    let mut record = String::new();
    for line in lcov.split_inclusive('\n') {
        record.push_str(line);
        if line.trim_end_matches('\n') == "end_of_record" {
            let file = record.lines().find_map(|line| line.strip_prefix("SF:"));
            if file.is_some_and(|file| of.files.contains_key(file)) {
                kept.push_str(&record);
            }
            record.clear();
        }
    }
    kept.push_str(&record);
    kept
}

#[test]
fn demo_service_profiles_of_every_version_match_llvm_cov() {
    use std::time::Duration;

    use cov_driver::{HttpClient, Launch};

    let options = BuildOptions {
        release: false,
        branch: true,
    };
    let binary = build_instrumented("demo-service", "demo-service", &options);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = cov_testkit::fresh_database("cov_collector_profile_versions");
    let mut rates = Launch::new(cov_testkit::build_plain("rates-service", "rates-service"));
    rates.args(["--port", "0"]).env_remove("PORT");
    let mut rates = rates.start().expect("starting the rates service");
    let rates_url = format!(
        "http://{}",
        rates
            .wait_for_address(Duration::from_secs(60))
            .expect("the rates service's address")
    );
    let profraw = dir.path().join("demo.profraw");
    let mut launch = Launch::new(&binary);
    launch
        .args(["--port", "0"])
        .current_dir(cov_testkit::workspace_root().join("examples/demo-service"))
        .env("LLVM_PROFILE_FILE", &profraw)
        .env("DATABASE_URL", &database_url)
        .env("RATES_URL", &rates_url)
        .env_remove("PORT")
        .env_remove("HOST");
    let mut service = launch.start().expect("starting the demo service");
    let address = service
        .wait_for_address(Duration::from_secs(60))
        .expect("the service's address");
    let client = HttpClient::new(address, Duration::from_secs(30));
    for (method, path, status) in [
        ("GET", "/health", 200),
        ("GET", "/products", 200),
        ("GET", "/products/1", 200),
        ("GET", "/products/1?currency=EUR", 200),
        ("POST", "/shutdown", 202),
    ] {
        let (answered, body) = client
            .send(method, path, &[], None)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        assert_eq!(answered, status, "{method} {path}: {body}");
    }
    let status = service.wait().expect("waiting for the service");
    assert!(status.success(), "the demo service exited with {status}");
    rates.kill().expect("stopping the rates service");
    check_every_version(&binary, &profraw, LLVM_COV_CRASHES_ON);
}
