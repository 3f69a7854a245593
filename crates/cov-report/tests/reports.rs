//! Data-driven expected-output tests for every report format.
//!
//! Each directory under `tests/reports/` is one case: `input.json` describes a replay run
//! (baselines, tests, path and glob options, timestamps) and `expected.{lcov,json,xml,txt}`
//! hold the exact reports. The test renders all four and fails on any difference, printing
//! the first differing line. After an intentional change, regenerate with
//! `UPDATE_EXPECT=1 cargo test -p cov-report --test reports` and review the diff.

mod support;

use cov_report as report;

#[test]
fn every_report_matches_its_expected_file() {
    let case_dirs = support::case_dirs();

    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case_dir in &case_dirs {
        let case = support::Case::load(&case_dir.join("input.json"));
        let view = case.aggregate().view();
        let rendered = [
            ("expected.lcov", report::lcov::render(&view)),
            (
                "expected.json",
                report::json::render(&view, &case.timestamp),
            ),
            (
                "expected.xml",
                report::cobertura::render(&view, &case.cobertura_options()),
            ),
            ("expected.txt", report::terminal::render(&view)),
        ];
        let mut written = Vec::new();
        report::lcov::write(&view, &mut written).expect("writing to a Vec cannot fail");
        assert_eq!(
            written,
            rendered[0].1.as_bytes(),
            "`write` and `render` agree"
        );
        for (file_name, actual) in rendered {
            let expected_path = case_dir.join(file_name);
            if update {
                std::fs::write(&expected_path, &actual).expect("write expected file");
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", expected_path.display()));
            if let Some(difference) = first_difference(&expected, &actual) {
                failures.push(format!("{}: {difference}", expected_path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "reports differ from their expected files (UPDATE_EXPECT=1 regenerates them):\n{}",
        failures.join("\n")
    );
}

/// `None` when equal, else where and how the two texts first differ.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let mut expected_lines = expected.split('\n');
    let mut actual_lines = actual.split('\n');
    for line_number in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (Some(want), Some(got)) if want == got => continue,
            (want, got) => {
                return Some(format!(
                    "line {line_number}: expected {want:?}, got {got:?}"
                ));
            }
        }
    }
    unreachable!("two different texts differ on some line")
}
