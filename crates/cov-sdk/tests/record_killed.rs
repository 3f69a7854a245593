//! A recording process killed mid-write never leaves a trace file the Tusk CLI would
//! refuse: every `*.jsonl` in the traces directory parses line by line with the CLI's
//! rules, whenever the process dies.
//!
//! The test runs this same test binary as the recording child (selected by an
//! environment variable), lets it write large traces as fast as it can, kills it with
//! SIGKILL at a moment it cannot choose, and reads what is left. Several rounds share one
//! directory, so later rounds also run next to the leftovers of earlier ones.
//!
//! Each round's moment is drawn from a seeded generator: the seed is printed first (shown
//! with the output of a failing test) and `COV_TEST_SEED=<seed>` draws the same moments
//! again.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};

/// Set in the child: the traces directory to record into.
const CHILD_DIR: &str = "COV_SDK_RECORD_KILLED_CHILD";
/// Set to repeat a run: the seed of the kill moments.
const SEED: &str = "COV_TEST_SEED";
const ROUNDS: usize = 4;
/// At most this many traces per child (about 440 MB).
const CHILD_MAX_TRACES: usize = 40;

#[test]
fn a_killed_recorder_leaves_only_whole_trace_files() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        record_until_killed(Path::new(&dir));
        return;
    }
    let seed = match std::env::var(SEED) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{SEED}={text:?} is not a number")),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("kill moments drawn with {SEED}={seed}");
    let mut moments = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut jsonl_seen = 0;
    for round in 0..ROUNDS {
        let mut child = KillOnDrop(spawn_child(dir.path()));
        // Wait for this round's first new trace, then kill at a moment that varies.
        let started = Instant::now();
        while count(dir.path(), ".jsonl") <= jsonl_seen {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: the child wrote no trace"
            );
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "the child exited early"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(moments.u64(0..40)));
        kill(&mut child.0);
        jsonl_seen = count(dir.path(), ".jsonl");
    }

    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".jsonl") {
            assert!(
                name.starts_with('.') && name.ends_with(".tmp"),
                "unexpected file {name}"
            );
            continue;
        }
        let text = std::fs::read(&path).unwrap();
        assert!(
            text.ends_with(b"\n"),
            "{name} does not end with a line break"
        );
        let spans = cov_trace::read::parse_spans(&text)
            .unwrap_or_else(|error| panic!("the CLI would refuse {name}: {error}"));
        assert_eq!(spans.len(), 1, "{name}");
        let test = cov_trace::read::replay_test(&spans).unwrap().unwrap();
        assert_eq!(
            test.expected_body.as_ref().map(|body| body.is_string()),
            Some(true)
        );
        checked += 1;
    }
    assert!(checked >= ROUNDS, "only {checked} traces were written");
    eprintln!(
        "{checked} whole traces, {} temporary files left by kills",
        count(dir.path(), ".tmp")
    );
}

fn spawn_child(dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_recorder_leaves_only_whole_trace_files",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env("TUSK_DRIFT_MODE", "RECORD")
        .env("TUSK_TRACES_DIR", dir)
        .env_remove("TUSK_RECORDING_SAMPLING_RATE")
        .spawn()
        .unwrap()
}

/// Kills the child however the parent leaves the round, a failed assertion included, so
/// no recorder outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no chance to finish.
    child.kill().unwrap();
    child.wait().unwrap();
}

fn count(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|entry| {
                    entry
                        .as_ref()
                        .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(suffix))
                })
                .count()
        })
        .unwrap_or(0)
}

/// The child: records 4 MiB exchanges (lines of about 11 MB) as fast as the writer keeps
/// up, and gives up by itself after [`CHILD_MAX_TRACES`] or 20 s, so that a parent that
/// never kills it cannot fill the disk.
fn record_until_killed(dir: &Path) {
    let coverage = cov_sdk::Builder::new()
        .traces_dir(dir)
        .max_body_bytes(cov_sdk::MAX_BODY_BYTES_CEILING)
        .init();
    let traffic = coverage.traffic();
    assert!(traffic.is_active(), "RECORD mode must record");
    let body = "x".repeat(4 * 1024 * 1024);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    let uri: Uri = "/big".parse().unwrap();
    let started = Instant::now();
    let mut recorded = 0;
    while started.elapsed() < Duration::from_secs(20) && recorded < CHILD_MAX_TRACES {
        let Some(mut exchange) =
            traffic.start(&Method::GET, &uri, Version::HTTP_11, &HeaderMap::new())
        else {
            continue;
        };
        exchange.request_body_end();
        exchange.response(StatusCode::OK, &headers);
        for chunk in body.as_bytes().chunks(64 * 1024) {
            exchange.response_body(chunk);
        }
        exchange.finish();
        recorded += 1;
        // Let the writer keep up rather than dropping most traces.
        std::thread::sleep(Duration::from_millis(5));
    }
}
