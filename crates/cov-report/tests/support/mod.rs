//! Test cases described as JSON: a replay run's records and the options to aggregate and
//! render them. Shared by the report, HTML, browser, LCOV-consumer and Cobertura tests.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use cov_core::WireSnapshot;
use cov_core::filter::PathPatterns;
use cov_report::Aggregate;
use cov_report::cobertura::CoberturaOptions;
use cov_report::html::HtmlReport;
use cov_report::paths::PathNormalizer;

/// One test of a run as the case file spells it.
#[derive(serde::Deserialize)]
pub struct CaseTest {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub coverage: WireSnapshot,
}

/// A replay run and how to report it.
#[derive(serde::Deserialize)]
pub struct Case {
    #[serde(default)]
    pub strip_prefix: String,
    #[serde(default)]
    pub relative_to: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub timestamp: String,
    pub timestamp_millis: u64,
    #[serde(default)]
    pub sources: Vec<String>,
    /// The HTML report's title (its default when absent).
    #[serde(default)]
    pub html_title: Option<String>,
    #[serde(default)]
    pub baselines: Vec<WireSnapshot>,
    #[serde(default)]
    pub tests: Vec<CaseTest>,
}

/// The case directories under `tests/reports`, in name order.
pub fn case_dirs() -> Vec<PathBuf> {
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reports");
    let mut case_dirs: Vec<_> = std::fs::read_dir(&cases_dir)
        .expect("tests/reports exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.is_dir())
        .collect();
    case_dirs.sort();
    assert!(!case_dirs.is_empty(), "no cases in {}", cases_dir.display());
    case_dirs
}

impl Case {
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not a valid case: {error}", path.display()))
    }

    /// Feeds the run into an aggregate configured as the case says.
    pub fn aggregate(&self) -> Aggregate {
        let mut normalizer = PathNormalizer::new();
        normalizer
            .strip_prefix(self.strip_prefix.clone())
            .relative_to(self.relative_to.clone());
        let mut aggregate = Aggregate::new();
        aggregate
            .set_path_normalizer(normalizer)
            .set_patterns(PathPatterns::new(&self.include, &self.exclude).expect("valid globs"));
        for baseline in &self.baselines {
            aggregate.add_baseline(baseline.clone());
        }
        for test in &self.tests {
            aggregate.add_test(test.id.clone(), test.name.clone(), test.coverage.clone());
        }
        aggregate
    }

    /// The HTML report of the case: its pages, stylesheet and script, with the sources
    /// read from the case's `source/` directory (by the paths the view holds).
    pub fn html(&self, case_dir: &Path) -> Vec<(String, String)> {
        let mut report = HtmlReport::new();
        if let Some(title) = &self.html_title {
            report.title(title.clone());
        }
        let source_dir = case_dir.join("source");
        report.render(&self.aggregate().view(), |path| {
            std::fs::read_to_string(source_dir.join(path)).ok()
        })
    }

    pub fn cobertura_options(&self) -> CoberturaOptions {
        CoberturaOptions {
            timestamp_millis: self.timestamp_millis,
            sources: self.sources.clone(),
        }
    }
}
