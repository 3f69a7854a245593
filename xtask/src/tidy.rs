//! Tidy checks: the project rules that a compiler cannot see, run as tests.
//!
//! Every crate root (each `lib.rs` and `main.rs` of a workspace member) opens with a `//!`
//! doc comment saying what the crate provides, every crate but cov-collector forbids
//! `unsafe`, in cov-collector `unsafe` appears only in its `ffi` module, and nothing of the
//! reports is compiled into a service that links the SDK. These are the Architecture
//! Invariants of `docs/architecture.md` that a grep or `cargo tree` can check.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The one package allowed to contain `unsafe`, and where in it.
const UNSAFE_PACKAGE: &str = "cov-collector";
const UNSAFE_MODULE: &[&str] = &[
    "crates/cov-collector/src/ffi.rs",
    "crates/cov-collector/src/ffi/",
];

/// A crate root of a workspace member: its package name and source path.
struct CrateRoot {
    package: String,
    path: PathBuf,
}

/// The `lib` and `bin` targets of every workspace member, from `cargo metadata`.
fn crate_roots(root: &Path) -> Vec<CrateRoot> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut roots = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        for target in package["targets"].as_array().unwrap() {
            let kinds = target["kind"].as_array().unwrap();
            if kinds.iter().any(|kind| kind == "lib" || kind == "bin") {
                roots.push(CrateRoot {
                    package: package["name"].as_str().unwrap().to_owned(),
                    path: PathBuf::from(target["src_path"].as_str().unwrap()),
                });
            }
        }
    }
    roots
}

/// Every `.rs` file under `dir`, skipping `target` and hidden directories.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type().unwrap().is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// A line of Rust without its string literals and its `//` comment (a line-by-line
/// approximation: enough for the keyword search below).
fn code_of(line: &str) -> String {
    let mut code = String::with_capacity(line.len());
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '/' && chars.peek() == Some(&'/') {
            break;
        } else {
            code.push(c);
        }
    }
    code
}

/// Whether a line of Rust uses `unsafe` as a keyword outside strings and comments: a block,
/// function, impl, trait, extern block or `#[unsafe(..)]` attribute. Lint names such as
/// `unsafe_code` are not uses.
fn uses_unsafe(line: &str) -> bool {
    let code = code_of(line);
    let mut rest = code.as_str();
    while let Some(at) = rest.find("unsafe") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "unsafe".len()..];
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let next = after.trim_start();
        let keyword_use = ["{", "fn", "impl", "trait", "extern", "("]
            .iter()
            .any(|follower| next.starts_with(follower))
            && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if starts_word && keyword_use {
            return true;
        }
        rest = after;
    }
    false
}

/// Packages the SDK's normal dependency tree must not hold: the reports and what only they
/// use. `serde_json` is not among them: the recorder writes trace files with it (cov-trace),
/// by hand, without serde's derive.
const REPORT_ONLY_PACKAGES: &[&str] = &["cov-report", "serde", "serde_derive", "maud"];

#[test]
fn the_sdk_compiles_none_of_the_reports() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args([
            "tree",
            "--offline",
            "--package",
            "cov-sdk",
            "--edges",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"cov-core"),
        "cargo tree lists cov-sdk's dependencies: {tree}"
    );
    let found: Vec<&&str> = REPORT_ONLY_PACKAGES
        .iter()
        .filter(|package| names.contains(package))
        .collect();
    assert!(
        found.is_empty(),
        "cov-sdk's dependency tree holds {found:?}, which only the reports need \
         (`cargo tree -p cov-sdk -e normal -i <package>` shows the path)"
    );
}

#[test]
fn every_crate_root_opens_with_a_doc_comment() {
    let mut missing = Vec::new();
    for crate_root in crate_roots(&crate::workspace_root()) {
        let text = std::fs::read_to_string(&crate_root.path).unwrap();
        let first = text.lines().find(|line| !line.trim().is_empty());
        if !first.is_some_and(|line| line.starts_with("//!")) {
            missing.push(crate_root.path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "these crate roots must open with a `//!` comment saying what the crate provides:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_crate_but_the_collector_forbids_unsafe() {
    let mut missing = Vec::new();
    for crate_root in crate_roots(&crate::workspace_root()) {
        if crate_root.package == UNSAFE_PACKAGE {
            continue;
        }
        let text = std::fs::read_to_string(&crate_root.path).unwrap();
        if !text
            .lines()
            .any(|line| line.trim() == "#![forbid(unsafe_code)]")
        {
            missing.push(crate_root.path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "these crate roots lack `#![forbid(unsafe_code)]`:\n{}",
        missing.join("\n")
    );
}

#[test]
fn unsafe_appears_only_in_the_collectors_ffi_module() {
    let root = crate::workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if UNSAFE_MODULE.iter().any(|allowed| {
            relative == *allowed || (allowed.ends_with('/') && relative.starts_with(allowed))
        }) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (line_idx, line) in text.lines().enumerate() {
            if uses_unsafe(line) {
                offenders.push(format!("{relative}:{}: {}", line_idx + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "`unsafe` belongs only in cov-collector's ffi module:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn unsafe_detection_sees_keywords_not_lint_names() {
    for used in [
        "    unsafe { read(ptr) }",
        "pub unsafe fn begin() -> *const u64 {",
        "unsafe impl Send for Counters {}",
        "unsafe extern \"C\" {",
        "#[unsafe(no_mangle)]",
        "let value = unsafe{ *ptr };",
    ] {
        assert!(uses_unsafe(used), "{used}");
    }
    for not_used in [
        "#![forbid(unsafe_code)]",
        "unsafe_op_in_unsafe_fn = \"deny\"",
        "// SAFETY: unsafe { is fine here",
        "/// Never uses unsafe code.",
        "let not_unsafe = 1;",
        "let message = \"unsafe { in a string }\";",
        "    // Nothing unsafe here",
    ] {
        assert!(!uses_unsafe(not_used), "{not_used}");
    }
}
