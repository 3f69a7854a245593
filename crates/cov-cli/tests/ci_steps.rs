//! `drift-cov check` and `drift-cov merge`, the CI steps around `tusk drift run`: check on
//! real output of the Tusk CLI and on every way a coverage output can be unusable; merge
//! of shards against the aggregate of the same tests in one run.

mod support;

use support::{FileLines, TestLines, drift_cov, expect_exit, run, write_coverage_json};

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tusk-cli")
}

#[test]
fn check_passes_the_tusk_clis_output_and_fails_unusable_ones_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (file, expected) in [
        (
            "coverage.json",
            "8 files, 333 of 410 coverable lines executed, 8 tests\n",
        ),
        (
            "coverage.lcov",
            "8 files, 333 of 410 coverable lines executed\n",
        ),
    ] {
        let path = fixture().join(file);
        let out = expect_exit(
            &drift_cov(dir.path(), &["check", path.to_str().unwrap()]),
            0,
        );
        assert_eq!(out, format!("{}: {expected}", path.display()));
    }

    std::fs::write(dir.path().join("empty.json"), "\n").unwrap();
    let no_files = run(&[], &[]);
    write_coverage_json(&dir.path().join("no-files.json"), &no_files);
    std::fs::write(dir.path().join("no-files.lcov"), "TN:\n").unwrap();
    let nothing_run = run(&[("src/main.rs", &[1, 2, 3])], &[]);
    write_coverage_json(&dir.path().join("nothing-run.json"), &nothing_run);
    for (file, reason) in [
        (
            "missing.json",
            "it does not exist: the Tusk CLI wrote no coverage",
        ),
        ("empty.json", "it is empty"),
        ("no-files.json", "it lists no source file"),
        ("no-files.lcov", "it lists no source file"),
        (
            "nothing-run.json",
            "no line of its 1 files (3 coverable lines) was executed",
        ),
    ] {
        let output = drift_cov(dir.path(), &["check", file]);
        let stdout = expect_exit(&output, 1);
        assert_eq!(stdout, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "drift-cov: no usable coverage in {file}: {reason}"
            )),
            "{file}: {stderr}"
        );
    }

    std::fs::write(dir.path().join("bad.json"), "{\"summary\": 1}").unwrap();
    let output = drift_cov(dir.path(), &["check", "bad.json"]);
    expect_exit(&output, 2);
}

/// The examples of `drift-cov check` in docs/reports.md, run as written: each `$ ` line
/// from the repository root, its output and exit code as shown.
#[test]
fn the_check_examples_of_the_documentation_hold() {
    let root = cov_testkit::workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/reports.md")).expect("docs/reports.md");
    let start = doc
        .find("$ drift-cov check ")
        .expect("docs/reports.md shows drift-cov check");
    let example = &doc[start
        ..doc[start..]
            .find("```")
            .map(|end| start + end)
            .expect("a block end")];
    let mut ran = 0;
    let mut lines = example.lines().peekable();
    while let Some(line) = lines.next() {
        let command = line.strip_prefix("$ drift-cov ").expect("a command line");
        let mut expected = String::new();
        let mut code = None;
        while let Some(next) = lines.next_if(|next| !next.starts_with("$ ")) {
            match next
                .strip_prefix("[exit ")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                Some(exit) => code = Some(exit.parse::<i32>().expect("an exit code")),
                None => {
                    expected.push_str(next);
                    expected.push('\n');
                }
            }
        }
        let args: Vec<&str> = command.split_whitespace().collect();
        let output = drift_cov(&root, &args);
        let stdout = expect_exit(&output, code.expect("[exit N] after the output"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            format!("{stdout}{stderr}"),
            expected,
            "$ drift-cov {command}"
        );
        ran += 1;
    }
    assert_eq!(ran, 2);
}

#[test]
fn merged_shards_equal_one_run_of_all_their_tests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let baseline: &[FileLines<'_>] = &[("src/a.rs", &[1, 2, 3, 4]), ("src/b.rs", &[10, 11])];
    let first: &[TestLines<'_>] = &[
        ("t1", "GET /a", &[("src/a.rs", &[1, 2])]),
        ("t2", "GET /b", &[("src/b.rs", &[10])]),
    ];
    let second: &[TestLines<'_>] = &[
        ("t3", "POST /a", &[("src/a.rs", &[2, 3])]),
        ("t1", "GET /a", &[("src/a.rs", &[1, 2])]),
    ];
    write_coverage_json(&dir.path().join("shard-1.json"), &run(baseline, first));
    write_coverage_json(&dir.path().join("shard-2.json"), &run(baseline, second));
    let output = drift_cov(
        dir.path(),
        &[
            "merge",
            "shard-1.json",
            "shard-2.json",
            "-o",
            "merged.json",
            "--lcov",
            "merged.lcov",
        ],
    );
    let stdout = expect_exit(&output, 0);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("test t1 appears in more than one input; kept from the first"),
        "{output:?}"
    );
    assert!(
        stdout.starts_with("Coverage: 66.7% lines (4/6)"),
        "{stdout}"
    );
    // One run of the distinct tests, in the shards' order.
    let all: &[TestLines<'_>] = &[first[0], first[1], second[0]];
    let mut expected = run(baseline, all);
    // t1 ran in both shards: its lines were executed twice in all.
    for (line, count) in expected.files.get_mut("src/a.rs").unwrap().lines.iter_mut() {
        if *line == 1 || *line == 2 {
            *count += 1;
        }
    }
    let merged = std::fs::read_to_string(dir.path().join("merged.json")).unwrap();
    assert_eq!(
        merged,
        cov_report::json::render(&expected, "2026-12-01T12:00:00Z")
    );
    let lcov = std::fs::read_to_string(dir.path().join("merged.lcov")).unwrap();
    assert_eq!(lcov, cov_report::lcov::render(&expected));
    let check = expect_exit(&drift_cov(dir.path(), &["check", "merged.json"]), 0);
    assert_eq!(
        check,
        "merged.json: 2 files, 4 of 6 coverable lines executed, 3 tests\n"
    );
}
