//! Broken binaries: coverage sections stripped, an unknown coverage-mapping or profile
//! version patched into a copy, and the executable replaced on disk while it runs; and, to
//! the decoder alone, a binary through `llvm-strip`, one that is not instrumented and a file
//! that is not an object.
//!
//! A binary the SDK cannot read correctly must give a clear `success=false` to every
//! snapshot request, never numbers; the service keeps answering HTTP; the log says why.
//! A replaced executable changes nothing: the collector reads the mapping once, when it
//! is created at SDK start, through `/proc/self/exe`, which names the running image even
//! after the path was replaced or deleted (and Linux refuses to overwrite a running
//! executable in place, `ETXTBSY`), so the mapping always matches the counters.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cov_collector::MappingError;
use cov_collector::decode::mapping::CoverageMapping;
use cov_proto::CoverageSnapshotResponse;
use cov_reliability::peer::RawListener;
use cov_reliability::service::{Service, demo_binary, host_binary, replay_launch};
use cov_testkit::{llvm_tool, run_ok, workspace_root};
use object::{Object, ObjectSection, ObjectSymbol};

/// Starts `binary` against a raw peer and returns the service and its baseline and delta
/// replies.
fn snapshots_of(binary: &Path) -> (Service, CoverageSnapshotResponse, CoverageSnapshotResponse) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("tusk.sock");
    let listener = RawListener::bind(&socket);
    let service = Service::start(
        replay_launch(binary, &socket).current_dir(workspace_root().join("fixtures/host")),
    );
    let mut peer = listener.accept(Duration::from_secs(30));
    let baseline = peer.snapshot("baseline", true, Duration::from_secs(30));
    service.get_ok("/work/6");
    let delta = peer.snapshot("delta", false, Duration::from_secs(30));
    service.get_ok("/health");
    (service, baseline, delta)
}

/// Every snapshot fails with an error containing `expected`, and the service is fine.
fn assert_refused(case: &str, binary: &Path, expected: &str) {
    let (mut service, baseline, delta) = snapshots_of(binary);
    for reply in [&baseline, &delta] {
        assert!(
            !reply.success,
            "{case}: a snapshot succeeded with {} files",
            reply.coverage.len()
        );
        assert!(
            reply.coverage.is_empty(),
            "{case}: numbers sent with a failure"
        );
        assert!(
            reply.error.contains(expected),
            "{case}: the error {:?} does not mention {expected:?}",
            reply.error
        );
    }
    service.wait_for_log("cannot be collected", Duration::from_secs(5));
    assert!(service.is_running());
    service.assert_no_panic_except(&[]);
    println!("{case}: success=false, error: {}", baseline.error);
}

fn copy_of(binary: &Path, dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    std::fs::copy(binary, &copy).expect("copying the binary");
    copy
}

/// The file offset of `address` inside the section that holds it.
fn file_offset(file: &object::File<'_>, address: u64) -> u64 {
    for section in file.sections() {
        let (start, size) = (section.address(), section.size());
        if (start..start + size).contains(&address) {
            let (offset, _) = section.file_range().expect("a section with file contents");
            return offset + (address - start);
        }
    }
    panic!("no section holds address {address:#x}");
}

/// Writes `bytes` at `offset` of the file at `path`.
fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let mut contents = std::fs::read(path).expect("reading the copy");
    let offset = usize::try_from(offset).expect("an offset that fits");
    contents[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, contents).expect("writing the patched copy");
}

/// Patches the profile runtime's `__llvm_profile_raw_version` in the copy at `path` to
/// `version`, keeping its variant flags; returns the version it had.
fn patch_profile_version(path: &Path, version: u64) -> u64 {
    let contents = std::fs::read(path).expect("reading the copy");
    let file = object::File::parse(contents.as_slice()).expect("an ELF file");
    let symbol = file
        .symbols()
        .find(|symbol| symbol.name() == Ok("__llvm_profile_raw_version"))
        .expect("the runtime's version variable in the symbol table");
    let offset = file_offset(&file, symbol.address());
    let current = u64::from_le_bytes(
        contents[offset as usize..offset as usize + 8]
            .try_into()
            .expect("eight bytes"),
    );
    drop(file);
    patch(
        path,
        offset,
        &((current & !0xffff_ffff) | version).to_le_bytes(),
    );
    current
}

#[test]
fn coverage_sections_removed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for section in ["__llvm_covfun", "__llvm_covmap"] {
        let stripped = dir.path().join(format!("host-without{section}"));
        run_ok(
            Command::new("objcopy")
                .args(["--remove-section", section])
                .arg(host_binary())
                .arg(&stripped),
        );
        assert_refused(&format!("{section} removed"), &stripped, section);
    }
}

#[test]
fn strip_all_keeps_the_coverage_sections_and_the_exact_numbers() {
    // `strip --strip-all` removes symbols and debug sections. The coverage sections are
    // neither, so coverage stays exact: the same baseline and delta as the unstripped build.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stripped = dir.path().join("host-stripped");
    run_ok(
        Command::new("strip")
            .arg("--strip-all")
            .arg(host_binary())
            .arg("-o")
            .arg(&stripped),
    );
    let (_service, stripped_baseline, stripped_delta) = snapshots_of(&stripped);
    let (_reference, baseline, delta) = snapshots_of(&host_binary());
    assert!(baseline.success && delta.success);
    assert!(stripped_baseline.success, "{}", stripped_baseline.error);
    assert!(stripped_delta.success, "{}", stripped_delta.error);
    assert_eq!(stripped_baseline.coverage, baseline.coverage);
    assert_eq!(stripped_delta.coverage, delta.coverage);
    println!(
        "strip --strip-all: coverage sections kept, baseline and delta identical to the \
         unstripped build ({} files)",
        baseline.coverage.len()
    );
}

/// `llvm-strip` (unlike GNU `strip --strip-all`) removes the coverage sections, which are not
/// loaded: the decoder names the first one missing and the flags that put it there.
#[test]
fn a_binary_through_llvm_strip_names_the_missing_section() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stripped = dir.path().join("host-llvm-stripped");
    run_ok(
        Command::new(llvm_tool("llvm-strip"))
            .arg("-o")
            .arg(&stripped)
            .arg(host_binary()),
    );
    let error = CoverageMapping::from_executable(&stripped).expect_err("no coverage sections");
    assert!(
        matches!(
            error,
            MappingError::MissingSection {
                section: "__llvm_covmap",
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("__llvm_covmap") && message.contains("-C instrument-coverage"),
        "{message}"
    );
}

#[test]
fn an_uninstrumented_binary_names_the_missing_section() {
    // This test's own executable is built without instrumentation.
    let me = std::env::current_exe().expect("the test's executable");
    let error = CoverageMapping::from_executable(&me).expect_err("not instrumented");
    assert!(
        matches!(error, MappingError::MissingSection { .. }),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_an_object_or_not_there_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = dir.path().join("text");
    std::fs::write(&text, "hello").expect("writing a text file");
    let error = CoverageMapping::from_executable(&text).expect_err("not an object");
    assert!(matches!(error, MappingError::Object { .. }), "{error}");
    let missing = dir.path().join("missing");
    let error = CoverageMapping::from_executable(&missing).expect_err("no such file");
    assert!(matches!(error, MappingError::Io { .. }), "{error}");
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn unknown_coverage_mapping_version() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = copy_of(&host_binary(), dir.path(), "host-mapping-v8");
    let contents = std::fs::read(&copy).expect("reading the copy");
    let file = object::File::parse(contents.as_slice()).expect("an ELF file");
    let covmap = file
        .section_by_name("__llvm_covmap")
        .expect("a covmap section");
    let (offset, _) = covmap.file_range().expect("covmap contents");
    // The first header's fourth u32 is the encoded version (6 = LLVM's Version7).
    let version_offset = offset + 12;
    let current = u32::from_le_bytes(
        contents[version_offset as usize..version_offset as usize + 4]
            .try_into()
            .expect("four bytes"),
    );
    assert_eq!(current, 6, "the fixture's covmap is not Version7");
    drop(file);
    patch(&copy, version_offset, &7_u32.to_le_bytes());
    assert_refused("coverage mapping version 8", &copy, "version");
}

#[test]
fn unknown_profile_version() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = copy_of(&host_binary(), dir.path(), "host-profile-v12");
    // Version 12, which no LLVM writes yet (11 is LLVM 23's, read), the variant flags kept.
    let original = patch_profile_version(&copy, 12);
    assert_eq!(
        original & 0xffff_ffff,
        10,
        "the fixture's profile is not version 10"
    );
    assert_refused(
        "profile version 12",
        &copy,
        "raw profile version 12 (the LLVM profile runtime reports",
    );
}

#[test]
fn a_running_program_with_version_9_records_gives_the_same_snapshots() {
    // LLVM 18's records (raw profile version 9) in a running program: the host's
    // `__llvm_prf_data` re-laid in place by the test encoder (version 9 records have the
    // size of version 10's) and the runtime's version variable patched to 9, so the live
    // collector decodes the running program's records with the version-9 layout.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = copy_of(&host_binary(), dir.path(), "host-profile-v9");
    let contents = std::fs::read(&copy).expect("reading the copy");
    let file = object::File::parse(contents.as_slice()).expect("an ELF file");
    let data = file
        .section_by_name("__llvm_prf_data")
        .expect("a data records section");
    let (data_offset, data_len) = data.file_range().expect("data records in the file");
    let records = &contents[data_offset as usize..(data_offset + data_len) as usize];
    let relaid =
        cov_testkit::relayout::relayout_live_records(records, data.address(), data.address(), 9);
    assert_eq!(
        relaid.len(),
        records.len(),
        "version 9 records are 64 bytes too"
    );
    drop(file);
    patch(&copy, data_offset, &relaid);
    patch_profile_version(&copy, 9);
    let (_service, baseline_v9, delta_v9) = snapshots_of(&copy);
    let (_reference, baseline, delta) = snapshots_of(&host_binary());
    assert!(baseline.success && delta.success);
    assert!(baseline_v9.success, "{}", baseline_v9.error);
    assert!(delta_v9.success, "{}", delta_v9.error);
    assert!(!baseline.coverage.is_empty());
    assert_eq!(baseline_v9.coverage, baseline.coverage);
    assert_eq!(delta_v9.coverage, delta.coverage);
}

#[test]
fn executable_replaced_on_disk_while_running() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_reference, reference_baseline, _) = snapshots_of(&host_binary());
    assert!(reference_baseline.success);
    // Built before any service starts: building it can take minutes on a fresh clone,
    // longer than the SDK waits for an answer to its handshake.
    let replacement = demo_binary();

    for when in ["at once", "after the collector is ready"] {
        let copy = copy_of(&host_binary(), dir.path(), "host-replaced");
        let socket = dir.path().join("tusk.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = RawListener::bind(&socket);
        let mut service = Service::start(
            replay_launch(&copy, &socket).current_dir(workspace_root().join("fixtures/host")),
        );
        // Another program takes the path (rename over it, as installers do).
        let replace = || {
            let other = copy_of(&replacement, dir.path(), "other");
            std::fs::rename(&other, &copy).expect("replacing the executable");
        };
        if when == "at once" {
            replace();
        }
        // The handshake first: the SDK does not wait for its collector to shake hands, and
        // gives up a handshake nobody answers, so the CLI side must accept right away.
        let mut peer = listener.accept(Duration::from_secs(30));
        if when != "at once" {
            service.wait_for_log("coverage collector ready", Duration::from_secs(30));
            replace();
        }
        let baseline = peer.snapshot("baseline", true, Duration::from_secs(30));
        assert!(baseline.success, "{when}: {}", baseline.error);
        assert_eq!(
            baseline.coverage, reference_baseline.coverage,
            "{when}: the baseline differs from the original executable's"
        );
        service.get_ok("/work/6");
        let delta = peer.snapshot("delta", false, Duration::from_secs(30));
        assert!(delta.success, "{when}: {}", delta.error);
        assert!(!delta.coverage.is_empty(), "{when}: empty delta");
        assert!(service.is_running());
        service.assert_no_panic_except(&[]);
        println!("executable replaced {when}: baseline identical to the original's, delta counted");
    }
}
