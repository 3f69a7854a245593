//! `report` and `impact` on coverage JSON written by the real Tusk CLI
//! (`tests/fixtures/tusk-cli`, whose README says how it was made).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{drift_cov, expect_exit, git};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tusk-cli")
        .join(name)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn fixture_json() -> Value {
    let text = std::fs::read_to_string(fixture("coverage.json")).expect("the fixture");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

#[test]
fn report_writes_the_clis_own_lcov_from_the_clis_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = fixture("coverage.json").display().to_string();
    let source_root = workspace_root().display().to_string();
    let stdout = expect_exit(
        &drift_cov(
            dir.path(),
            &[
                "report",
                "--from",
                &from,
                "--source-root",
                &source_root,
                "--lcov",
                "ours.lcov",
                "--html",
                "html",
            ],
        ),
        0,
    );
    // The LCOV the CLI wrote for the same tests, byte for byte.
    let ours = std::fs::read_to_string(dir.path().join("ours.lcov")).expect("written");
    let theirs = std::fs::read_to_string(fixture("coverage.lcov")).expect("the fixture");
    assert!(
        ours == theirs,
        "drift-cov's LCOV differs from the Tusk CLI's"
    );

    // The CLI's own summary numbers, and every test by name.
    let summary = &fixture_json()["summary"]["aggregate"];
    let headline = format!(
        "({}/{})",
        summary["total_covered_lines"], summary["total_coverable_lines"]
    );
    assert!(
        stdout.starts_with("Coverage: ") && stdout.contains(&headline),
        "{stdout}"
    );
    let tests = fixture_json()["summary"]["per_test"]
        .as_array()
        .expect("the CLI's per-test summary")
        .clone();
    assert!(!tests.is_empty());
    for test in &tests {
        let name = test["test_name"].as_str().expect("a test name");
        assert!(stdout.contains(name), "{name}: {stdout}");
    }
    assert!(
        !stdout.contains("not found under"),
        "every source is in the repository: {stdout}"
    );
    let n_files = fixture_json()["aggregate"]
        .as_object()
        .expect("files")
        .len();
    let n_file_pages = std::fs::read_dir(dir.path().join("html/files"))
        .expect("file pages")
        .count();
    assert_eq!(n_file_pages, n_files);
}

/// Per line of the fixture's files, the trace ids the CLI recorded as executing it.
fn covered_by(json: &Value) -> BTreeMap<(String, u64), Vec<String>> {
    let mut covered_by: BTreeMap<(String, u64), Vec<String>> = BTreeMap::new();
    for (trace_id, files) in json["per_test"].as_object().expect("per_test") {
        for (path, detail) in files.as_object().expect("files") {
            for line in detail["covered_lines"].as_array().expect("lines") {
                let line = line.as_u64().expect("a line number");
                covered_by
                    .entry((path.clone(), line))
                    .or_default()
                    .push(trace_id.clone());
            }
        }
    }
    covered_by
}

#[test]
fn impact_of_a_real_edit_selects_the_tests_the_cli_saw_run_it() {
    let json = fixture_json();
    let covered_by = covered_by(&json);
    // A line exactly one test executed, and a coverable line no test executed.
    let ((tested_path, tested_line), tests) = covered_by
        .iter()
        .find(|(_, tests)| tests.len() == 1)
        .expect("a line only one test ran");
    let (untested_path, untested_line) = json["aggregate"]
        .as_object()
        .expect("files")
        .iter()
        .filter(|(path, _)| *path != tested_path)
        .find_map(|(path, file)| {
            let lines = file["lines"].as_object().expect("lines");
            let line = lines.keys().find_map(|line| {
                let line: u64 = line.parse().expect("a line number");
                (!covered_by.contains_key(&(path.clone(), line))).then_some(line)
            })?;
            Some((path.clone(), line))
        })
        .expect("a line no test ran");

    // BASE: the service's sources as the repository has them; HEAD: both lines edited.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    git(root, &["init", "-q"]);
    for path in [tested_path, &untested_path] {
        let text = std::fs::read_to_string(workspace_root().join(path)).expect("a source");
        std::fs::create_dir_all(root.join(path).parent().expect("a parent")).expect("mkdir");
        std::fs::write(root.join(path), text).expect("copy");
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    for (path, line) in [(tested_path, *tested_line), (&untested_path, untested_line)] {
        let text = std::fs::read_to_string(root.join(path)).expect("read");
        let edited: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(idx, text)| {
                if idx as u64 + 1 == line {
                    format!("{text} // edited")
                } else {
                    text.to_owned()
                }
            })
            .collect();
        std::fs::write(root.join(path), edited.join("\n") + "\n").expect("edit");
    }

    let from = fixture("coverage.json").display().to_string();
    let answer: Value = serde_json::from_str(&expect_exit(
        &drift_cov(
            root,
            &["impact", "--from", &from, "--diff", "HEAD", "--json"],
        ),
        0,
    ))
    .expect("JSON");
    assert_eq!(answer["trace_ids"], serde_json::json!(tests));
    let names: BTreeMap<&str, &str> = json["summary"]["per_test"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|test| {
            (
                test["test_id"].as_str().expect("id"),
                test["test_name"].as_str().expect("name"),
            )
        })
        .collect();
    assert_eq!(answer["tests"][0]["name"], names[tests[0].as_str()]);
    assert_eq!(
        answer["unexecuted"],
        serde_json::json!([{
            "path": untested_path, "head_path": untested_path,
            "lines": [untested_line], "insertions": []
        }])
    );
}
