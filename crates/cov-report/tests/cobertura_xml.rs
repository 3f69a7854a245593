//! The Cobertura report is well-formed XML (read back with quick-xml, a real XML parser),
//! says what the aggregate says, and validates against Cobertura's `coverage-04.dtd` with
//! `xmllint --dtdvalid` (Debian package `libxml2-utils`, installed by `cargo xtask test`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cov_report::cobertura;
use quick_xml::events::Event;

fn cases() -> Vec<PathBuf> {
    support::case_dirs()
        .into_iter()
        .map(|case_dir| case_dir.join("input.json"))
        .collect()
}

/// What the parsed document claims, summed from its elements.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    lines_valid: u64,
    lines_covered: u64,
    branches_valid: u64,
    branches_covered: u64,
    n_classes: usize,
}

fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &str) -> String {
    let attribute = element
        .try_get_attribute(name)
        .expect("well-formed attributes")
        .unwrap_or_else(|| {
            panic!(
                "<{}> lacks `{name}`",
                String::from_utf8_lossy(element.name().as_ref())
            )
        });
    attribute
        .unescape_value()
        .expect("attribute value unescapes")
        .into_owned()
}

/// Parses the whole document with quick-xml (end tags checked against start tags) and
/// returns the root's totals and the totals summed over `<line>` elements.
fn parse(xml: &str) -> (Parsed, Parsed) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut root = Parsed::default();
    let mut summed = Parsed::default();
    let mut saw_doctype = false;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::DocType(doctype)) => {
                saw_doctype = true;
                let text = String::from_utf8_lossy(doctype.as_ref()).into_owned();
                assert!(text.contains("coverage-04.dtd"), "DOCTYPE {text}");
            }
            Ok(Event::Start(element) | Event::Empty(element)) => match element.name().as_ref() {
                b"coverage" => {
                    let number = |name| attribute(&element, name).parse::<u64>().expect(name);
                    root = Parsed {
                        lines_valid: number("lines-valid"),
                        lines_covered: number("lines-covered"),
                        branches_valid: number("branches-valid"),
                        branches_covered: number("branches-covered"),
                        n_classes: 0,
                    };
                }
                b"class" => {
                    summed.n_classes += 1;
                    attribute(&element, "filename");
                }
                b"line" => {
                    summed.lines_valid += 1;
                    let hits: u64 = attribute(&element, "hits").parse().expect("hits");
                    summed.lines_covered += u64::from(hits > 0);
                    if attribute(&element, "branch") == "true" {
                        let coverage = attribute(&element, "condition-coverage");
                        let ratio = coverage
                            .split_once('(')
                            .and_then(|(_, rest)| rest.strip_suffix(')'))
                            .expect("`P% (c/t)`");
                        let (covered, total) = ratio.split_once('/').expect("c/t");
                        summed.branches_covered += covered.parse::<u64>().expect("c");
                        summed.branches_valid += total.parse::<u64>().expect("t");
                    }
                }
                _ => {}
            },
            Ok(_) => {}
            Err(error) => panic!(
                "not well-formed XML at byte {}: {error}\n{xml}",
                reader.error_position()
            ),
        }
    }
    assert!(saw_doctype, "no DOCTYPE");
    (root, summed)
}

#[test]
fn the_report_is_well_formed_and_says_what_the_aggregate_says() {
    for input in cases() {
        let case = support::Case::load(&input);
        let view = case.aggregate().view();
        let xml = cobertura::render(&view, &case.cobertura_options());
        let (mut root, summed) = parse(&xml);
        root.n_classes = view.files.len();
        let totals = view.totals();
        assert_eq!(root.lines_valid, totals.lines as u64, "{}", input.display());
        assert_eq!(root.lines_covered, totals.covered_lines as u64);
        assert_eq!(root.branches_valid, totals.branches);
        assert_eq!(root.branches_covered, totals.covered_branches);
        assert_eq!(
            summed,
            root,
            "{}: elements disagree with the totals",
            input.display()
        );
    }
}

/// Runs `xmllint --dtdvalid` on `xml`; `Err` carries xmllint's complaint.
fn xmllint_validate(xml: &str) -> Result<(), String> {
    let dtd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cobertura/coverage-04.dtd");
    let dir = tempfile::tempdir().expect("temp dir");
    let document = dir.path().join("coverage.xml");
    std::fs::write(&document, xml).expect("write report");
    let output = Command::new(cov_testkit::debian_program("xmllint", "libxml2-utils"))
        .arg("--noout")
        .arg("--nonet")
        .arg("--dtdvalid")
        .arg(&dtd)
        .arg(&document)
        .output()
        .unwrap_or_else(|error| panic!("cannot run xmllint: {error}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_report_validates_against_the_cobertura_dtd() {
    for input in cases() {
        let case = support::Case::load(&input);
        let xml = cobertura::render(&case.aggregate().view(), &case.cobertura_options());
        if let Err(complaint) = xmllint_validate(&xml) {
            panic!(
                "{}: invalid Cobertura XML:\n{complaint}\n{xml}",
                input.display()
            );
        }
    }
}

#[test]
fn the_dtd_check_rejects_a_document_missing_a_required_attribute() {
    let case = support::Case::load(&cases()[0]);
    let xml = cobertura::render(&case.aggregate().view(), &case.cobertura_options());
    let broken = xml.replacen(" complexity=\"0\"", "", 1);
    assert_ne!(broken, xml);
    assert!(
        xmllint_validate(&broken).is_err(),
        "xmllint accepted a <coverage> without `complexity`"
    );
}
