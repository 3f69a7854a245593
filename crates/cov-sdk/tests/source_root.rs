//! Which files a baseline lists, whatever the directory the service runs in: the demo
//! service, built in this workspace (so every SDK crate's files are in its coverage
//! mapping, under the workspace root), started from the workspace root, from `crates/`
//! (which holds only the SDK's crates), and from a directory outside the workspace. Every
//! baseline must list exactly the demo service's own files, and no file of any crate
//! under `crates/`.
//!
//! The service runs in `REPLAY` mode: its start-up statements are answered from a
//! recording of its start-up, made first with its database and the rates service up.

mod demo;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cov_core::SnapshotKind;
use cov_driver::{CliListener, CliOptions, ServiceProcess, TraceMocks};
use cov_testkit::workspace_root;
use cov_transport::{ENV_HOST, ENV_PORT, ENV_SOCKET, Endpoint};
use cov_wire::coverage as wire;

const WAIT: Duration = Duration::from_secs(60);

/// The baseline's files of the demo service started in `cwd`, replayed from a recording
/// of its start-up against the database `database`.
fn baseline_files(cwd: &Path, database: &str) -> Vec<String> {
    let binary = demo::instrumented_service();
    let recorded = demo::record(database, &[]);
    assert!(recorded.tests.is_empty());
    let socket_dir = tempfile::tempdir().expect("temp dir");
    // The mock answers run on the worker thread while this one waits for the service.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let socket = socket_dir.path().join("tusk.sock");
    let mut options = CliOptions::default();
    options.mock_source(Arc::new(
        TraceMocks::load(&recorded.traces).expect("the recording loads"),
    ));
    let listener = runtime
        .block_on(CliListener::bind_with(&Endpoint::unix(&socket), options))
        .expect("bind");
    let profiles = tempfile::tempdir().expect("temp dir");
    let (database_url, rates_url) = recorded.urls();
    let mut command = Command::new(binary);
    command
        .args(["--port", "0"])
        .current_dir(cwd)
        .env("TUSK_DRIFT_MODE", "REPLAY")
        .env("TUSK_COVERAGE", "true")
        .env(ENV_SOCKET, &socket)
        .env_remove(ENV_HOST)
        .env_remove(ENV_PORT)
        .env("DATABASE_URL", database_url)
        .env("RATES_URL", rates_url)
        .env("LLVM_PROFILE_FILE", profiles.path().join("%p.profraw"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut service = ServiceProcess::spawn(&mut command).expect("the demo service starts");
    // The SDK connects first; its start-up statements are answered once it is accepted.
    let connection = runtime
        .block_on(listener.accept(WAIT))
        .expect("the SDK connects");
    service.wait_for_address(WAIT).expect("it listens");
    let response = runtime
        .block_on(connection.baseline(WAIT))
        .expect("a baseline");
    let record = wire::from_response(&response, SnapshotKind::Baseline).expect("decodes");
    service.terminate().expect("SIGTERM");
    record.files.into_keys().collect()
}

fn demo_files() -> Vec<String> {
    let dir = workspace_root()
        .join("examples/demo-service/src")
        .canonicalize()
        .expect("the demo's sources");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("listing")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .map(|path| path.display().to_string())
        .collect();
    files.sort();
    files
}

fn check(cwd: PathBuf, database: &str) {
    let files = baseline_files(&cwd, database);
    let crates = workspace_root()
        .join("crates")
        .canonicalize()
        .expect("crates/");
    let sdk_files: Vec<&String> = files
        .iter()
        .filter(|file| Path::new(file).starts_with(&crates))
        .collect();
    assert!(
        sdk_files.is_empty(),
        "run in {}: {sdk_files:?}",
        cwd.display()
    );
    assert_eq!(files, demo_files(), "run in {}", cwd.display());
}

#[test]
fn run_from_the_workspace_root_the_baseline_has_no_sdk_file() {
    check(
        workspace_root().canonicalize().expect("the workspace root"),
        "cov_sdk_source_root_workspace",
    );
}

#[test]
fn run_from_the_directory_of_the_sdks_crates_the_root_is_found_in_the_mapping() {
    check(
        workspace_root()
            .join("crates")
            .canonicalize()
            .expect("crates/"),
        "cov_sdk_source_root_crates",
    );
}

#[test]
fn run_from_outside_the_workspace_the_root_is_found_in_the_mapping() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    check(
        elsewhere.path().canonicalize().expect("canonical"),
        "cov_sdk_source_root_outside",
    );
}
