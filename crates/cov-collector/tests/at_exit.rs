//! Once a collector has been built the profile runtime writes no `default_*.profraw` into
//! the working directory, unless `LLVM_PROFILE_FILE` asks for a profile.

mod common;

use std::process::Command;

use cov_testkit::{BuildOptions, run_ok};

fn profraws_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("reading the run directory")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".profraw"))
        .collect()
}

#[test]
fn no_default_profraw_is_written_while_a_collector_exists() {
    let binary = common::inprocess_binary(&BuildOptions::default());
    let dir = tempfile::tempdir().expect("temporary directory");
    run_ok(
        Command::new(&binary)
            .args(["quiet", "."])
            .current_dir(dir.path())
            .env_remove("LLVM_PROFILE_FILE"),
    );
    assert!(dir.path().join("snapshots.txt").is_file());
    assert_eq!(profraws_in(dir.path()), Vec::<String>::new());

    // Without a collector the same binary does write one: the check above can fail.
    let output = Command::new(&binary)
        .args(["run-a", "."])
        .current_dir(dir.path())
        .env_remove("LLVM_PROFILE_FILE")
        .output()
        .expect("running the fixture");
    assert!(output.status.success());
    assert_eq!(
        profraws_in(dir.path()).len(),
        1,
        "the runtime's default profile"
    );
}

#[test]
fn the_default_profile_stays_suppressed_after_the_collector_is_dropped() {
    let binary = common::inprocess_binary(&BuildOptions::default());
    let dir = tempfile::tempdir().expect("temporary directory");
    run_ok(
        Command::new(&binary)
            .args(["dropped", "."])
            .current_dir(dir.path())
            .env_remove("LLVM_PROFILE_FILE"),
    );
    assert_eq!(
        profraws_in(dir.path()),
        Vec::<String>::new(),
        "an application that dropped its collector (the SDK does when the CLI leaves) \
         still must not litter its directory"
    );
}

#[test]
fn an_explicit_llvm_profile_file_is_still_written() {
    let binary = common::inprocess_binary(&BuildOptions::default());
    let run = cov_testkit::run_instrumented(&binary, &["quiet", "."]);
    assert!(run.profraw().is_file());
}
