//! `drift-cov report` on coverage JSON written by cov-core's writer: the reports equal what
//! the writers produce from the run itself, sources come from --source-root, a missing
//! source is shown as missing, malformed JSON names its field.

mod support;

use std::path::Path;

use support::{drift_cov, expect_exit, file, record, write_coverage_json, write_files};

use cov_core::SnapshotKind;
use cov_report::{Aggregate, CoverageView};

/// A run over `src/lib.rs` (its source is in the repository) and `src/gone.rs` (not).
fn view() -> CoverageView {
    let mut aggregate = Aggregate::new();
    aggregate.add_baseline(record(
        SnapshotKind::Baseline,
        &[
            (
                "src/lib.rs",
                file(&[(1, 1), (2, 0), (3, 0), (5, 0)], &[(2, 2, 0)]),
            ),
            ("src/gone.rs", file(&[(1, 0), (2, 0)], &[])),
        ],
    ));
    aggregate.add_test(
        "0a1b2c3d",
        "GET /users?sort=<name>&x",
        record(
            SnapshotKind::Delta,
            &[("src/lib.rs", file(&[(2, 2), (3, 1)], &[(2, 2, 1)]))],
        ),
    );
    aggregate.add_test(
        "9f8e7d6c",
        "",
        record(
            SnapshotKind::Delta,
            &[
                ("src/lib.rs", file(&[(2, 1)], &[(2, 2, 1)])),
                ("src/gone.rs", file(&[(2, 4)], &[])),
            ],
        ),
    );
    aggregate.view()
}

const LIB_RS: &str = "fn main() {\n    if ready() {\n        go();\n    }\n    done();\n}\n";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every page of the HTML site under `dir`, with its path relative to `dir`.
fn pages(dir: &Path) -> Vec<(String, String)> {
    let mut pages = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir");
                pages.push((relative.display().to_string(), read(&path)));
            }
        }
    }
    pages.sort();
    pages
}

#[test]
fn reports_from_the_json_equal_the_writers_output_for_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let view = view();
    write_files(root, &[("repo/src/lib.rs", LIB_RS)]);
    write_coverage_json(&root.join("coverage.json"), &view);

    let stdout = expect_exit(
        &drift_cov(
            root,
            &[
                "report",
                "--from",
                "coverage.json",
                "--source-root",
                "repo",
                "--html",
                "out/html",
                "--lcov",
                "out/coverage.lcov",
                "--cobertura",
                "out/cobertura.xml",
            ],
        ),
        0,
    );
    assert!(
        stdout.starts_with(&cov_report::terminal::render(&view)),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n1 of 2 source files not found under repo (their pages list the lines without text):\n  src/gone.rs\n"),
        "{stdout}"
    );
    assert!(stdout.contains("out/html/index.html (5 pages)"), "{stdout}");

    assert_eq!(
        read(&root.join("out/coverage.lcov")),
        cov_report::lcov::render(&view)
    );
    let cobertura = read(&root.join("out/cobertura.xml"));
    let source_root = root.join("repo").canonicalize().expect("canonical");
    assert!(
        cobertura.contains(&format!("<source>{}</source>", source_root.display())),
        "{cobertura}"
    );

    // The HTML site is what the writer renders from the run, with the sources of the
    // repository: the JSON lost nothing the pages show.
    let expected = cov_report::html::HtmlReport::new().render(&view, |path| {
        (path == "src/lib.rs").then(|| LIB_RS.to_owned())
    });
    let mut expected: Vec<(String, String)> = expected;
    expected.sort();
    let written = pages(&root.join("out/html"));
    assert_eq!(
        written
            .iter()
            .map(|(path, _)| path.as_str())
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(path, _)| path.as_str())
            .collect::<Vec<_>>()
    );
    assert!(
        written == expected,
        "the written pages differ from the writer's"
    );
    let all_pages: String = written.iter().map(|(_, text)| text.as_str()).collect();
    assert!(
        all_pages.contains("done();"),
        "the source of src/lib.rs is shown"
    );
    assert!(
        all_pages.contains("GET /users?sort=&lt;name&gt;&amp;x"),
        "test names are escaped"
    );
    assert!(
        all_pages.contains("9f8e7d6c"),
        "a test without a name shows its trace id"
    );
    assert!(
        all_pages.contains("The source of this file could not be read"),
        "the missing source is shown as missing"
    );

    // A second run replaces our report; a directory of something else is refused.
    expect_exit(
        &drift_cov(
            root,
            &["report", "--from", "coverage.json", "--html", "out/html"],
        ),
        0,
    );
    write_files(root, &[("notes/todo.txt", "mine")]);
    let output = drift_cov(
        root,
        &["report", "--from", "coverage.json", "--html", "notes"],
    );
    expect_exit(&output, 2);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("notes is not empty and holds no drift-cov report"),
        "{output:?}"
    );
    assert_eq!(read(&root.join("notes/todo.txt")), "mine");
}

#[test]
fn malformed_json_is_an_error_naming_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let view = view();
    let mut json: serde_json::Value =
        serde_json::from_str(&cov_report::json::render(&view, "2026-12-01T12:00:00Z"))
            .expect("the writer writes JSON");
    json["per_test"]["0a1b2c3d"]["src/lib.rs"]["covered_lines"][0] = "two".into();
    let text = json.to_string();
    write_files(
        root,
        &[("bad.json", &text), ("cut.json", "{\"summary\": {")],
    );

    let output = drift_cov(root, &["report", "--from", "bad.json"]);
    expect_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "drift-cov: error: bad.json is not the Tusk CLI's coverage JSON: \
             per_test.0a1b2c3d.src/lib.rs.covered_lines[0]: invalid type: string \"two\", expected u32"
        ),
        "{stderr}"
    );

    let output = drift_cov(root, &["report", "--from", "cut.json"]);
    expect_exit(&output, 2);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("EOF while parsing"),
        "{output:?}"
    );

    let output = drift_cov(root, &["report", "--from", "absent.json"]);
    expect_exit(&output, 2);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot read absent.json: "),
        "{output:?}"
    );
}
