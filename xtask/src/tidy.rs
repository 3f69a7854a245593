//! Tidy checks: the project rules that a compiler cannot see, run as tests.
//!
//! Every crate root (each `lib.rs` and `main.rs` of a workspace member) opens with a `//!`
//! doc comment saying what the crate provides, every crate but cov-collector forbids
//! `unsafe`, in cov-collector `unsafe` appears only in its `ffi` module, nothing of the
//! reports is compiled into a service that links the SDK, sockets are opened only where
//! `docs/architecture.md` lists, and the crate graph drawn there is cargo's. These are the
//! Architecture Invariants of `docs/architecture.md` that a grep, `cargo tree` or
//! `cargo metadata` can check; the last two read their data from the document itself, so
//! a new crate or a new socket is one line of it.

use std::collections::{BTreeMap, BTreeSet};
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

/// `cargo metadata` of the workspace members (their declared dependencies included).
fn workspace_metadata(root: &Path) -> serde_json::Value {
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
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The `lib` and `bin` targets of every workspace member, from `cargo metadata`.
fn crate_roots(root: &Path) -> Vec<CrateRoot> {
    let metadata = workspace_metadata(root);
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
/// The workspace's Rust files (outside `target/` and hidden directories), each with its
/// path relative to the workspace root, `/`-separated.
fn workspace_rust_files() -> Vec<(PathBuf, String)> {
    let root = crate::workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (file, relative)
        })
        .collect()
}

/// Whether the relative path `relative` is `place`, or lies under it when `place` is a
/// directory (ends with `/`).
fn is_within(relative: &str, place: &str) -> bool {
    relative == place || (place.ends_with('/') && relative.starts_with(place))
}

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
    let mut offenders = Vec::new();
    for (file, relative) in workspace_rust_files() {
        if UNSAFE_MODULE
            .iter()
            .any(|allowed| is_within(&relative, allowed))
        {
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

/// The lines of the fenced block of `doc` opened with ```` ```info ````, without blank lines
/// and `#` comments.
fn fenced_block<'a>(doc: &'a str, info: &str) -> Vec<&'a str> {
    let opening = format!("```{info}");
    let mut lines = doc.lines();
    assert!(
        lines.any(|line| line.trim() == opening),
        "docs/architecture.md has no ```{info} block"
    );
    lines
        .take_while(|line| line.trim() != "```")
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

fn architecture_doc() -> String {
    let path = crate::workspace_root().join("docs/architecture.md");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The types whose constructors open a socket, and the constructors (std, tokio and
/// socket2 spell them alike).
const SOCKET_TYPES: &[&str] = &[
    "TcpListener",
    "TcpStream",
    "TcpSocket",
    "UdpSocket",
    "UnixListener",
    "UnixStream",
    "UnixDatagram",
    "Socket",
];
const SOCKET_CONSTRUCTORS: &[&str] = &[
    "bind",
    "connect",
    "connect_timeout",
    "new",
    "new_v4",
    "new_v6",
    "pair",
    "unbound",
];

/// The socket constructor a line of Rust calls outside strings and comments, if any:
/// `TcpListener::bind`, `tokio::net::UnixStream::connect`, `TcpSocket::new_v4`, ...
fn socket_constructor(line: &str) -> Option<String> {
    let code = code_of(line);
    for type_name in SOCKET_TYPES {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(type_name) {
            let before = rest[..at].chars().next_back();
            let after = &rest[at + type_name.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(call) = after.strip_prefix("::") else {
                continue;
            };
            let method: String = call
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if SOCKET_CONSTRUCTORS.contains(&method.as_str()) {
                return Some(format!("{type_name}::{method}"));
            }
        }
    }
    None
}

/// Where the architecture allows sockets: each line of its ```` ```sockets ```` block is a
/// file, or a directory ending in `/`, then what its sockets are for.
fn socket_places() -> Vec<(String, String)> {
    fenced_block(&architecture_doc(), "sockets")
        .into_iter()
        .map(|line| {
            let (place, purpose) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            assert!(
                !purpose.trim().is_empty(),
                "docs/architecture.md's sockets block: `{place}` says not what its sockets are for"
            );
            (place.to_owned(), purpose.trim().to_owned())
        })
        .collect()
}

#[test]
fn sockets_are_opened_only_where_the_architecture_says() {
    let places = socket_places();
    let mut offenders = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (file, relative) in workspace_rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line_idx, line) in text.lines().enumerate() {
            let Some(constructor) = socket_constructor(line) else {
                continue;
            };
            let place = places.iter().find(|(place, _)| is_within(&relative, place));
            match place {
                Some((place, _)) => {
                    used.insert(place);
                }
                None => offenders.push(format!("{relative}:{}: {constructor}", line_idx + 1)),
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these open sockets where docs/architecture.md's sockets block does not allow it \
         (use cov-driver or cov-transport, or add the place to the block, saying why):\n{}",
        offenders.join("\n")
    );
    let stale: Vec<&str> = places
        .iter()
        .map(|(place, _)| place.as_str())
        .filter(|place| !used.contains(place))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md's sockets block lists places that open no socket (any more): \
         {stale:?}"
    );
}

#[test]
fn socket_detection_sees_constructors_not_names() {
    for used in [
        "let listener = tokio::net::TcpListener::bind(address).await?;",
        "UnixListener::bind(path)",
        "match std::os::unix::net::UnixStream::connect(path) {",
        "std::net::TcpStream::connect_timeout(&address, timeout)",
        "let socket = TcpSocket::new_v4()?;",
        "let (a, b) = UnixStream::pair()?;",
    ] {
        assert!(socket_constructor(used).is_some(), "{used}");
    }
    for not_used in [
        "use tokio::net::{TcpListener, UnixListener};",
        "    Tcp(TcpListener),",
        "// TcpListener::bind(address) in a comment",
        "let text = \"UnixStream::connect\";",
        "let listener = MyTcpListener::bind(x);",
        "stream.set_nodelay(true)",
        "TcpListener::local_addr(&listener)",
    ] {
        assert!(socket_constructor(not_used).is_none(), "{not_used}");
    }
}

/// The crate graph of the ```` ```crate-graph ```` block of docs/architecture.md: each line
/// `crate: dependency, dependency`.
fn documented_crate_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for line in fenced_block(&architecture_doc(), "crate-graph") {
        let (name, dependencies) = line.split_once(':').unwrap_or_else(|| {
            panic!("docs/architecture.md's crate-graph block: `{line}` is not `crate: deps`")
        });
        let dependencies = dependencies
            .split(',')
            .map(str::trim)
            .filter(|dependency| !dependency.is_empty())
            .map(str::to_owned)
            .collect();
        let previous = graph.insert(name.trim().to_owned(), dependencies);
        assert!(previous.is_none(), "`{name}` is drawn twice");
    }
    graph
}

/// The crates under `crates/` and their normal dependencies among the workspace's
/// members, from `cargo metadata`.
fn cargo_crate_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = crate::workspace_root();
    let metadata = workspace_metadata(&root);
    let packages = metadata["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages
        .iter()
        .map(|package| package["name"].as_str().unwrap())
        .collect();
    let crates_dir = root.join("crates");
    let canonical_crates_dir = crates_dir.canonicalize().unwrap_or(crates_dir);
    packages
        .iter()
        .filter(|package| {
            Path::new(package["manifest_path"].as_str().unwrap()).starts_with(&canonical_crates_dir)
        })
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| dependency["kind"].is_null())
                .map(|dependency| dependency["name"].as_str().unwrap())
                .filter(|name| members.contains(name))
                .map(str::to_owned)
                .collect();
            (package["name"].as_str().unwrap().to_owned(), dependencies)
        })
        .collect()
}

#[test]
fn the_crate_graph_in_the_architecture_doc_is_cargos() {
    let documented = documented_crate_graph();
    let actual = cargo_crate_graph();
    if documented == actual {
        return;
    }
    let mut differences = Vec::new();
    for name in documented
        .keys()
        .chain(actual.keys())
        .collect::<BTreeSet<_>>()
    {
        match (documented.get(name), actual.get(name)) {
            (Some(drawn), Some(real)) if drawn != real => {
                differences.push(format!("{name}: drawn with {drawn:?}, cargo says {real:?}"))
            }
            (Some(_), None) => {
                differences.push(format!("{name}: drawn, but no such crate in crates/"))
            }
            (None, Some(real)) => differences.push(format!("{name}: missing, cargo says {real:?}")),
            _ => {}
        }
    }
    let block: Vec<String> = actual
        .iter()
        .map(|(name, dependencies)| {
            let dependencies: Vec<&str> = dependencies.iter().map(String::as_str).collect();
            format!("{name}: {}", dependencies.join(", "))
        })
        .collect();
    panic!(
        "docs/architecture.md's crate-graph block differs from cargo metadata (normal \
         dependencies among the workspace's crates):\n  {}\ncargo's graph, one line per crate:\n{}",
        differences.join("\n  "),
        block.join("\n")
    );
}
