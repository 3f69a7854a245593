//! Raw profile versions 9 (LLVM 18) and 11 (LLVM 23), which no toolchain on this machine
//! writes: real version-10 profiles of the workload and demo fixtures, re-laid by
//! `cov_testkit::relayout` (written from LLVM's source), decode to the same records and
//! counters as the original, and give LCOV byte-identical to `llvm-cov`'s oracle of the
//! original, line for line and branch for branch.
//!
//! The demo service is run as a user would run it, against a database of its own on the
//! tests' PostgreSQL server and the rates service (uninstrumented), and compared on every
//! file of its mapping, the SDK's and the dependencies' included.

use std::path::Path;

use cov_collector::RawProfile;
use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::offline::OfflineCoverage;
use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{
    BuildOptions, LcovTracefile, build_instrumented, diff_lcov, oracle_lcov, run_instrumented,
};

/// Every re-laying the tests check: plain and padded, versions 9 to 11.
fn relayouts() -> Vec<Relayout> {
    [9, 10, 11]
        .into_iter()
        .flat_map(|version| [Relayout::plain(version), Relayout::padded(version)])
        .collect()
}

/// Decodes each re-laid version of `binary`'s profile `profraw` and compares it with the
/// original and with the oracle, on every file.
fn check_every_version(binary: &Path, profraw: &Path) {
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
    let expected_text = oracle_lcov(binary, &[profraw]);
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
        let ours_text = OfflineCoverage::from_parts(mapping.clone(), profile).to_lcov();
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
    check_every_version(&binary, run.profraw());
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
    check_every_version(&binary, &profraw);
}
