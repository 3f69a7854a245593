//! Raw profile versions 9 (LLVM 18) and 11 (LLVM 23), which no toolchain on this machine
//! writes: real version-10 profiles of the workload and demo fixtures, re-laid by
//! `cov_testkit::relayout` (written from LLVM's source), decode to the same records and
//! counters as the original, and give LCOV byte-identical to `llvm-cov`'s oracle of the
//! original, line for line and branch for branch.

use std::path::Path;

use cov_collector::RawProfile;
use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::offline::OfflineCoverage;
use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{
    BuildOptions, Lcov, build_instrumented, diff_lcov, oracle_lcov, run_instrumented,
};

/// Every re-laying the tests check: plain and padded, versions 9 to 11.
fn relayouts() -> Vec<Relayout> {
    [9, 10, 11]
        .into_iter()
        .flat_map(|version| [Relayout::plain(version), Relayout::padded(version)])
        .collect()
}

/// Decodes each re-laid version of `binary`'s profile `profraw` and compares it with the
/// original and with the oracle.
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
    let expected_text = oracle_lcov(binary, &[profraw]);
    let expected = Lcov::parse(&expected_text);
    let mapping = CoverageMapping::from_executable(binary).expect("decoding the mapping");
    for options in relayouts() {
        let bytes = relayout_profile(&original_bytes, &options);
        let profile =
            RawProfile::decode(&bytes).unwrap_or_else(|error| panic!("{options:?}: {error}"));
        assert_eq!(profile.header.format_version(), options.version);
        assert_eq!(profile.records, original.records, "{options:?}");
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
        let diff = diff_lcov(&expected, &Lcov::parse(&ours_text));
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
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let options = BuildOptions {
        release: false,
        branch: true,
    };
    let binary = build_instrumented("demo-service", "demo-service", &options);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let profraw = dir.path().join("demo.profraw");
    let mut child = Command::new(&binary)
        .args(["--port", "0"])
        .current_dir(cov_testkit::workspace_root().join("examples/demo-service"))
        .env("LLVM_PROFILE_FILE", &profraw)
        .env_remove("TUSK_DRIFT_MODE")
        .env_remove("PORT")
        .env_remove("HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the demo service");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reading the service's address");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    for request in [
        "GET /health",
        "GET /products",
        "GET /products/1",
        "POST /shutdown",
    ] {
        let mut stream = std::net::TcpStream::connect(&address).expect("connecting");
        write!(
            stream,
            "{request} HTTP/1.1\r\nHost: demo\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("sending a request");
        let mut response = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut response);
    }
    let status = child.wait().expect("waiting for the service");
    assert!(status.success(), "the demo service exited with {status}");
    check_every_version(&binary, &profraw);
}
