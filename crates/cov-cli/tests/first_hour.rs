//! A Rust team's first hour, from `docs/sdk.md`'s own text: the example service of its
//! section 2 (its `Cargo.toml`, with the path dependency pointed at this clone, and its
//! `src/main.rs`), plus the debug-build profile lines of section 3, written to a directory
//! outside this workspace; built with the doc's `drift-cov build`; run from another
//! directory than the one it was built in, under cov-transport's CLI side as `tusk drift
//! run` runs it; recorded. It must report exactly its own files, leave no `.profraw`
//! anywhere, and `drift-cov init` must write the project file the doc shows.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cov_core::SnapshotKind;
use cov_driver::{CliListener, HttpClient, ServiceProcess};
use cov_testkit::{clear_build_environment, workspace_root};
use cov_transport::{ENV_SOCKET, Endpoint};
use cov_wire::coverage as wire;
use support::expect_exit;

const WAIT: Duration = Duration::from_secs(120);

/// The fenced code blocks of a Markdown file: (info string, text).
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The one block of `info` whose text starts with `start`.
fn block(blocks: &[(String, String)], info: &str, start: &str) -> String {
    let found: Vec<&String> = blocks
        .iter()
        .filter(|(kind, text)| kind == info && text.starts_with(start))
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "docs/sdk.md has no single ```{info} block starting {start:?}"
    );
    found[0].clone()
}

fn sdk_md() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("docs/sdk.md")).expect("docs/sdk.md");
    code_blocks(&text)
}

/// The doc's dependency line, and what the test puts in its place.
const DOC_DEPENDENCY: &str = r#"cov-sdk = { path = "../rust-drift-coverage/crates/cov-sdk" }"#;

/// Writes the example service into `dir` from the doc's text.
fn write_example_service(dir: &Path) {
    let blocks = sdk_md();
    let manifest = block(&blocks, "toml", "[package]");
    assert!(manifest.contains(DOC_DEPENDENCY), "{manifest}");
    let sdk = workspace_root().join("crates/cov-sdk");
    let manifest = manifest.replace(
        DOC_DEPENDENCY,
        &format!("cov-sdk = {{ path = {:?} }}", sdk.display().to_string()),
    );
    let profiles = block(
        &blocks,
        "toml",
        "# In the application's (workspace root) Cargo.toml.",
    );
    let main = block(&blocks, "rust", "use axum::Router;");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("Cargo.toml"), format!("{manifest}\n{profiles}")).expect("write");
    std::fs::write(dir.join("src/main.rs"), main).expect("write");
    // The versions this workspace is tested with, so the build needs nothing new.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy");
}

/// Every `.profraw` file under `dir`, skipping the directories named in `skip`.
fn profraws(dir: &Path, skip: &[&Path]) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if skip.iter().any(|skipped| dir == *skipped) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "profraw")
            {
                found.insert(path);
            }
        }
    }
    found
}

/// `drift-cov` with `args` in `dir`, with none of the caller's build variables.
fn drift_cov(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drift-cov"));
    command.current_dir(dir).args(args);
    clear_build_environment(&mut command);
    command.output().expect("drift-cov starts")
}

/// The service, started in `cwd` with `variables`; its address.
fn start(
    binary: &Path,
    cwd: &Path,
    variables: &[(&str, String)],
) -> (ServiceProcess, std::net::SocketAddr) {
    let mut command = Command::new(binary);
    command
        .current_dir(cwd)
        .env("PORT", "0")
        .env_remove("LLVM_PROFILE_FILE")
        .env_remove("TUSK_DRIFT_MODE")
        .env_remove("TUSK_COVERAGE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in variables {
        command.env(name, value);
    }
    let mut process = ServiceProcess::spawn(&mut command).expect("the service starts");
    let address = process.wait_for_address(WAIT).expect("the service listens");
    (process, address)
}

fn stop(mut process: ServiceProcess) {
    process.terminate().expect("SIGTERM");
    let status = process
        .wait_for_exit(WAIT)
        .expect("waiting")
        .expect("the service stops on SIGTERM");
    assert!(
        status.success(),
        "the service exited with {status}: no graceful shutdown"
    );
}

#[test]
fn a_service_outside_the_workspace_built_run_elsewhere_and_recorded_as_the_docs_say() {
    let project = tempfile::tempdir().expect("temp dir");
    let project_dir = project.path().join("orders");
    write_example_service(&project_dir);
    let project_dir = project_dir.canonicalize().expect("canonical");
    let workspace = workspace_root();
    let target_dir = workspace.join("target/cov-fixtures/first-hour");
    let registry = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .expect("a cargo home")
        .join("registry/src");
    let workspace_target = workspace.join("target");
    let before = profraws(&workspace, &[&workspace_target]);
    let registry_before = profraws(&registry, &[]);

    // Section 3's one command, as the doc gives it (the shared target directory only makes
    // later runs incremental).
    let blocks = sdk_md();
    let build_line = block(&blocks, "sh", "drift-cov build ");
    let build_args: Vec<&str> = build_line
        .lines()
        .next()
        .and_then(|line| line.split('#').next())
        .expect("a command")
        .split_whitespace()
        .skip(1)
        .collect();
    assert_eq!(build_args, ["build"], "{build_line}");
    let target = target_dir.display().to_string();
    let output = drift_cov(&project_dir, &["build", "--target-dir", &target]);
    let stdout = expect_exit(&output, 0);
    let binary = PathBuf::from(stdout.lines().last().expect("the executable's path"));
    assert!(binary.is_file(), "{}", binary.display());
    assert!(binary.starts_with(&target_dir), "{}", binary.display());

    // Run from another directory than the one it was built in.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let socket = elsewhere.path().join("tusk.sock");
    let listener = runtime
        .block_on(CliListener::bind(&Endpoint::unix(&socket)))
        .expect("bind");
    // The whole-run profile goes elsewhere, where it is asked for (section 5).
    let profiles = tempfile::tempdir().expect("temp dir");
    let whole_run = profiles.path().join("replay.profraw");
    let (service, address) = start(
        &binary,
        elsewhere.path(),
        &[
            ("TUSK_DRIFT_MODE", "REPLAY".to_owned()),
            ("TUSK_COVERAGE", "true".to_owned()),
            (ENV_SOCKET, socket.display().to_string()),
            ("LLVM_PROFILE_FILE", whole_run.display().to_string()),
        ],
    );
    let connection = runtime
        .block_on(listener.accept(WAIT))
        .expect("the SDK connects");
    let baseline = runtime
        .block_on(connection.baseline(WAIT))
        .expect("a baseline");
    let baseline = wire::from_response(&baseline, SnapshotKind::Baseline).expect("decodes");
    let main_rs = project_dir.join("src/main.rs").display().to_string();
    assert_eq!(
        baseline.files.keys().collect::<Vec<_>>(),
        [&main_rs],
        "exactly the service's own files, none of the SDK's"
    );
    let (status, body) = HttpClient::new(address, WAIT)
        .request("GET", "/orders/2", None)
        .expect("GET /orders/2");
    assert_eq!((status, body.as_str()), (200, "order 2: shipped"));
    let delta = runtime.block_on(connection.delta(WAIT)).expect("a delta");
    let delta = wire::from_response(&delta, SnapshotKind::Delta).expect("decodes");
    let shipped_line = std::fs::read_to_string(&main_rs)
        .expect("main.rs")
        .lines()
        .position(|line| line.contains("format!(\"order {id}: shipped\")"))
        .expect("the shipped line") as u32
        + 1;
    assert_eq!(delta.files.keys().collect::<Vec<_>>(), [&main_rs]);
    assert!(
        delta.files[&main_rs]
            .lines
            .get(&shipped_line)
            .is_some_and(|&count| count > 0),
        "line {shipped_line} ran: {:?}",
        delta.files[&main_rs].lines
    );
    drop(connection);
    stop(service);

    // The true aggregate of that run, as section 5 and docs/reports.md give the command.
    let report = expect_exit(
        &drift_cov(
            &project_dir,
            &[
                "report",
                "--binary",
                binary.to_str().expect("UTF-8"),
                "--profraw",
                whole_run.to_str().expect("UTF-8"),
            ],
        ),
        0,
    );
    assert!(
        report.starts_with("Coverage: ") && report.contains("across 1 files"),
        "{report}"
    );
    assert!(report.contains("\n    src/main.rs "), "{report}");

    // Record, from the other directory too.
    let (service, address) = start(
        &binary,
        elsewhere.path(),
        &[("TUSK_DRIFT_MODE", "RECORD".to_owned())],
    );
    let (status, _) = HttpClient::new(address, WAIT)
        .request("GET", "/orders/3", None)
        .expect("GET /orders/3");
    assert_eq!(status, 200);
    stop(service);
    let traces: Vec<_> = std::fs::read_dir(elsewhere.path().join(".tusk/traces"))
        .expect("a traces directory")
        .flatten()
        .collect();
    assert_eq!(traces.len(), 1, "{traces:?}");

    // No profile anywhere: not from the build (build scripts and proc macros of the
    // service, of its dependencies and of the SDK's path dependency), not from the runs.
    for dir in [&project_dir, elsewhere.path(), &target_dir] {
        let left = profraws(dir, &[]);
        assert!(
            left.is_empty(),
            "profiles left in {}: {left:?}",
            dir.display()
        );
    }
    let new_in_workspace: Vec<_> = profraws(&workspace, &[&workspace_target])
        .difference(&before)
        .cloned()
        .collect();
    assert!(new_in_workspace.is_empty(), "{new_in_workspace:?}");
    let new_in_registry: Vec<_> = profraws(&registry, &[])
        .difference(&registry_before)
        .cloned()
        .collect();
    assert!(new_in_registry.is_empty(), "{new_in_registry:?}");

    // Section 5's project file is what `drift-cov init` writes for this service.
    let documented = block(&blocks, "yaml", "# The Tusk Drift project file");
    let written = expect_exit(&drift_cov(&project_dir, &["init", "--stdout"]), 0);
    let host = std::env::consts::ARCH;
    assert_eq!(
        written.replace(
            &format!("/{host}-unknown-linux-gnu/"),
            "/x86_64-unknown-linux-gnu/"
        ),
        documented
    );
    expect_exit(&drift_cov(&project_dir, &["init"]), 0);
    assert_eq!(
        std::fs::read_to_string(project_dir.join(".tusk/config.yaml")).expect("written"),
        written
    );
    let again = drift_cov(&project_dir, &["init"]);
    expect_exit(&again, 2);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("pass --force to replace it"),
        "{again:?}"
    );
}
