//! Golden files for the HTML report, one directory per case.
//!
//! Every case under `tests/reports/` (its `input.json`, and the sources of its files under
//! `source/` where it has them) is rendered, and each page must equal its golden file under
//! the case's `html/` directory (`html/index.html`, `html/files/*.html`, `html/tests/*.html`),
//! checked with `expect_file!`. After an intentional change, regenerate them with
//! `UPDATE_EXPECT=1 cargo test -p cov-report --test html_report` and review the diff. The
//! stylesheet and the script are files of the crate itself (`src/html/`), so they are not
//! copied into the golden directories.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use expect_test::expect_file;

/// The golden files under `dir`, as paths relative to it with `/` separators.
fn golden_files(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under the golden directory");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

#[test]
fn every_page_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    for case_dir in support::case_dirs() {
        let case = support::Case::load(&case_dir.join("input.json"));
        let golden_dir = case_dir.join("html");
        let pages: Vec<(String, String)> = case
            .html(&case_dir)
            .into_iter()
            .filter(|(name, _)| name.ends_with(".html"))
            .collect();
        if update {
            for (name, _) in &pages {
                let parent = golden_dir.join(name);
                let parent = parent.parent().expect("a page lives in a directory");
                std::fs::create_dir_all(parent).expect("create the golden directory");
            }
        }
        let names: BTreeSet<String> = pages.iter().map(|(name, _)| name.clone()).collect();
        let golden = golden_files(&golden_dir);
        let stale: Vec<&String> = golden.difference(&names).collect();
        assert!(
            stale.is_empty(),
            "{}: golden files of pages the report no longer writes: {stale:?}",
            golden_dir.display()
        );
        let missing: Vec<&String> = names.difference(&golden).collect();
        assert!(
            update || missing.is_empty(),
            "{}: pages without a golden file: {missing:?} (UPDATE_EXPECT=1 writes them)",
            golden_dir.display()
        );
        for (name, contents) in &pages {
            expect_file![golden_dir.join(name)].assert_eq(contents);
        }
    }
}

#[test]
fn the_stylesheet_and_the_script_come_with_the_pages() {
    let case_dir = &support::case_dirs()[0];
    let case = support::Case::load(&case_dir.join("input.json"));
    let files = case.html(case_dir);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[0], "index.html");
    assert_eq!(names[names.len() - 2..], ["report.css", "report.js"]);
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, source) in [
        ("report.css", "src/html/report.css"),
        ("report.js", "src/html/report.js"),
    ] {
        let written = &files
            .iter()
            .find(|(file, _)| file == name)
            .expect("written")
            .1;
        let on_disk = std::fs::read_to_string(crate_dir.join(source)).expect("readable");
        assert_eq!(written, &on_disk, "{name} is {source} as it is");
    }
}

#[test]
fn text_from_outside_is_escaped_wherever_it_appears() {
    let case_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reports/shop");
    let case = support::Case::load(&case_dir.join("input.json"));
    let files = case.html(&case_dir);
    let page = |name: &str| &files.iter().find(|(file, _)| file == name).expect(name).1;
    let markup_name = "GET /price?&lt;b&gt;&amp;&quot;x&quot;";
    assert!(page("index.html").contains("<title>Shop &lt;coverage&gt;</title>"));
    assert!(page("index.html").contains(markup_name));
    assert!(page("tests/t1.html").contains(markup_name));
    // The hover title of a line's test list holds every name, one a line.
    assert!(page("files/src_shop.rs.html").contains(&format!("title=\"{markup_name}\ntrace-2\"")));
    assert!(page("files/src_shop.rs.html").contains("parse(&quot;&lt;10&gt;&quot;)"));
    for (name, contents) in &files {
        assert!(
            !contents.contains("<b>"),
            "{name} lets markup from a test name through"
        );
        assert!(
            !contents.contains("<coverage>"),
            "{name} lets markup from the title through"
        );
        assert!(
            !contents.contains("<10>"),
            "{name} lets markup from the source through"
        );
    }
}
