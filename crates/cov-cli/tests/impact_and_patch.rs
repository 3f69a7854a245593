//! `drift-cov impact` and `drift-cov patch` on real `git` diffs: a repository made by the
//! test, with several hunks in one file, a rename with an edit, a deletion, a new file and a
//! file without code, and coverage JSON written by cov-core's writer.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{drift_cov, expect_exit, git, run, write_coverage_json, write_files};

const LIB_BASE: &str = "\
fn a() {
    one();
    two();
}

fn b() {
    three();
}

fn c() {
    four();
}
";

/// `two()` modified (line 3), a line inserted after `three();` (old 7), `four()` modified
/// (old 11, new 12).
const LIB_HEAD: &str = "\
fn a() {
    one();
    two(2);
}

fn b() {
    three();
    three_and_a_half();
}

fn c() {
    four(4);
}
";

const ROUTES_BASE: &str = "\
fn route() {
    let x = 1;
    let y = 2;
    let z = 3;
    let w = 4;
    let v = 5;
    let u = 6;
    let t = 7;
    done(x, y, z, w, v, u, t);
}
";

/// A repository with BASE and HEAD commits; returns (dir, BASE sha, HEAD sha).
fn repository() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    git(root, &["init", "-q"]);
    write_files(
        root,
        &[
            ("src/lib.rs", LIB_BASE),
            ("src/routes.rs", ROUTES_BASE),
            ("src/removed.rs", "fn gone() {\n    bye();\n}\n"),
            ("README.md", "# app\n"),
        ],
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    let base = git(root, &["rev-parse", "HEAD"]).trim().to_owned();

    write_files(
        root,
        &[
            ("src/lib.rs", LIB_HEAD),
            (
                "src/handlers.rs",
                &ROUTES_BASE.replace("let y = 2;", "let y = 20;"),
            ),
            ("src/added.rs", "fn new() {\n    hello();\n}\n"),
            ("README.md", "# app\n\nNow with more.\n"),
        ],
    );
    std::fs::remove_file(root.join("src/routes.rs")).expect("rm");
    std::fs::remove_file(root.join("src/removed.rs")).expect("rm");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "head"]);
    let head = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
    (dir, base, head)
}

/// Coverage recorded at BASE: t-a ran `a`, t-b ran `b`, t-c ran line 3 of routes.rs, t-d
/// ran removed.rs, t-e ran only line 1 of `c`; nobody ran line 11 (`four();`).
fn base_coverage(path: &Path) {
    let view = run(
        &[
            ("src/lib.rs", &[1, 2, 3, 4, 6, 7, 8, 10, 11, 12]),
            ("src/routes.rs", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            ("src/removed.rs", &[1, 2, 3]),
        ],
        &[
            ("t-a", "GET /a", &[("src/lib.rs", &[1, 2, 3, 4])]),
            ("t-b", "GET /b", &[("src/lib.rs", &[6, 7, 8])]),
            ("t-c", "", &[("src/routes.rs", &[1, 3])]),
            ("t-d", "DELETE /gone", &[("src/removed.rs", &[1, 2, 3])]),
            ("t-e", "GET /c", &[("src/lib.rs", &[10])]),
            ("t-f", "GET /routes", &[("src/routes.rs", &[1, 2])]),
        ],
    );
    write_coverage_json(path, &view);
}

/// `drift-cov impact --from coverage.json ARGS` in `root`, which must succeed.
fn impact(root: &Path, args: &[&str]) -> String {
    let args = [&["impact", "--from", "coverage.json"][..], args].concat();
    expect_exit(&drift_cov(root, &args), 0)
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|error| panic!("{error}:\n{stdout}"))
}

#[test]
fn impact_of_a_git_range_follows_the_rule() {
    let (dir, base, head) = repository();
    let root = dir.path();
    base_coverage(&root.join("coverage.json"));
    let range = format!("{base}..{head}");
    let answer = json(&impact(root, &["--diff", &range, "--json"]));

    // Modified line 3 → t-a; insertion after line 7 → neighbours 7 and 8 → t-b; renamed
    // routes.rs, line 3 modified → t-c (t-f ran lines 1 and 2 only); removed.rs → t-d.
    assert_eq!(
        answer["trace_ids"],
        serde_json::json!(["t-a", "t-b", "t-c", "t-d"])
    );
    assert_eq!(answer["tusk_filter"], "id=^(t-a|t-b|t-c|t-d)$");
    let tests = answer["tests"].as_array().expect("tests");
    assert_eq!(tests[0]["name"], "GET /a");
    assert_eq!(
        tests[0]["changed_lines"],
        serde_json::json!({"src/lib.rs": [3]})
    );
    assert_eq!(
        tests[1]["neighbour_lines"],
        serde_json::json!({"src/lib.rs": [7, 8]})
    );
    assert_eq!(
        tests[2]["changed_lines"],
        serde_json::json!({"src/routes.rs": [3]})
    );
    assert_eq!(
        tests[3]["changed_lines"],
        serde_json::json!({"src/removed.rs": [1, 2, 3]})
    );

    assert_eq!(
        answer["unexecuted"],
        serde_json::json!([{
            "path": "src/lib.rs", "head_path": "src/lib.rs", "lines": [11], "insertions": []
        }])
    );
    assert_eq!(
        answer["files_without_coverage"],
        serde_json::json!([
            {"path": "README.md", "status": "modified"},
            {"path": "src/added.rs", "status": "added"},
        ])
    );

    // The same change as a patch file with context lines gives the same answer.
    let patch = git(root, &["diff", "-M", &base, &head]);
    std::fs::write(root.join("change.patch"), patch).expect("write patch");
    let from_patch = json(&impact(root, &["--patch", "change.patch", "--json"]));
    assert_eq!(from_patch, answer);

    // The forms a CI step reads.
    let ids = impact(root, &["--diff", &range, "--format", "ids"]);
    assert_eq!(ids, "t-a\nt-b\nt-c\nt-d\n");
    let filter = impact(root, &["--diff", &range, "--format", "filter"]);
    assert_eq!(filter, "id=^(t-a|t-b|t-c|t-d)$\n");
    let text = impact(root, &["--diff", &range]);
    assert!(
        text.starts_with("4 of 6 tests executed lines this change touches\n"),
        "{text}"
    );
    assert!(
        text.contains("  t-b  GET /b\n      src/lib.rs:7-8 (next to an insertion)\n"),
        "{text}"
    );
    assert!(text.contains("  src/lib.rs: line 11\n"), "{text}");
    assert!(text.contains("  src/added.rs (added)\n"), "{text}");
}

#[test]
fn impact_without_affected_tests_prints_nothing_for_ci() {
    let (dir, _, head) = repository();
    let root = dir.path();
    base_coverage(&root.join("coverage.json"));
    // Only README.md changes between HEAD and the working tree.
    write_files(root, &[("README.md", "# app\n\nChanged again.\n")]);
    for format in ["ids", "filter"] {
        let out = impact(root, &["--diff", &head, "--format", format]);
        assert_eq!(out, "", "--format {format}");
    }
    let answer = json(&impact(root, &["--diff", &head, "--json"]));
    assert_eq!(answer["trace_ids"], serde_json::json!([]));
    assert_eq!(answer["tusk_filter"], Value::Null);
}

#[test]
fn patch_coverage_counts_heads_changed_coverable_lines_and_fails_under_the_threshold() {
    let (dir, base, head) = repository();
    let root = dir.path();
    // Coverage recorded at HEAD. Changed lines at HEAD: lib.rs 3, 8, 12; handlers.rs 3;
    // added.rs 1-3; README.md 2-3. Coverable and executed: lib.rs 3, handlers.rs 3,
    // added.rs 1 and 2; coverable, not executed: lib.rs 8 and 12, added.rs 3.
    let view = run(
        &[
            ("src/lib.rs", &[1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13]),
            ("src/handlers.rs", &[1, 2, 3, 9, 10]),
            ("src/added.rs", &[1, 2, 3]),
        ],
        &[
            ("t-a", "GET /a", &[("src/lib.rs", &[1, 2, 3, 4])]),
            ("t-h", "GET /h", &[("src/handlers.rs", &[1, 2, 3])]),
            ("t-n", "GET /new", &[("src/added.rs", &[1, 2])]),
        ],
    );
    write_coverage_json(&root.join("coverage.json"), &view);
    let range = format!("{base}..{head}");
    let args = ["patch", "--from", "coverage.json", "--diff", &range];

    let out = expect_exit(&drift_cov(root, &args), 0);
    assert!(
        out.starts_with(
            "Patch coverage: 57.1% (4/7 changed coverable lines executed) in 3 files\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("  src/lib.rs             1/3  not executed: 8, 12\n"),
        "{out}"
    );
    assert!(
        out.contains("(2 added or modified lines are not coverable"),
        "{out}"
    );

    let under = drift_cov(root, &[&args[..], &["--fail-under", "60"]].concat());
    expect_exit(&under, 1);
    assert!(
        String::from_utf8_lossy(&under.stderr)
            .contains("patch coverage 57.1% is under --fail-under 60%"),
        "{under:?}"
    );
    expect_exit(
        &drift_cov(root, &[&args[..], &["--fail-under", "57"]].concat()),
        0,
    );
    let bad = drift_cov(root, &[&args[..], &["--fail-under", "120"]].concat());
    expect_exit(&bad, 2);
}

#[test]
fn git_failures_and_bad_patches_are_errors() {
    let (dir, _, _) = repository();
    let root = dir.path();
    base_coverage(&root.join("coverage.json"));
    let output = drift_cov(
        root,
        &["impact", "--from", "coverage.json", "--diff", "nope..HEAD"],
    );
    expect_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`git diff nope..HEAD` failed: "),
        "{stderr}"
    );

    write_files(
        root,
        &[("cut.patch", "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n")],
    );
    let output = drift_cov(
        root,
        &["patch", "--from", "coverage.json", "--patch", "cut.patch"],
    );
    expect_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot parse the diff of cut.patch: line 3: the hunk ends early"),
        "{stderr}"
    );
}

#[test]
fn paths_git_quotes_are_read_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let path = "src/tëst \"quoted\"\tfile.rs";
    git(root, &["init", "-q"]);
    write_files(root, &[(path, "fn a() {\n    one();\n}\n")]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    write_files(root, &[(path, "fn a() {\n    two();\n}\n")]);
    let view = run(&[(path, &[1, 2, 3])], &[("t-q", "GET /q", &[(path, &[2])])]);
    write_coverage_json(&root.join("coverage.json"), &view);
    let ids = impact(root, &["--diff", "HEAD", "--format", "ids"]);
    assert_eq!(ids, "t-q\n");
}
