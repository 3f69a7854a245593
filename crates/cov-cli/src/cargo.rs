//! What `drift-cov build` and `drift-cov init` ask cargo and rustc: the workspace (`cargo
//! metadata`), the host triple (`rustc -vV`), and an instrumented `cargo build` whose
//! executables are read from cargo's own JSON messages.
//!
//! The instrumented build passes `--target <host>`. With an explicit target, cargo applies
//! `RUSTFLAGS` to the target's code only, not to build scripts and proc macros (which run
//! on the host while cargo builds), so they are not instrumented and write no
//! `default_*.profraw` into the directories of the crates they belong to (an instrumented
//! proc macro writes one per compiler run that loads it). The program's own coverage is
//! the same: build scripts and proc macros never run in it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::Error;

/// The flag that instruments a build.
pub(crate) const INSTRUMENT: [&str; 2] = ["-C", "instrument-coverage"];
/// The flag that adds branch regions (unstable: needs `RUSTC_BOOTSTRAP=1` on stable).
pub(crate) const BRANCH: [&str; 2] = ["-Z", "coverage-options=branch"];

/// The parts of `cargo metadata` used here.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
    pub(crate) workspace_members: Vec<String>,
    pub(crate) workspace_root: PathBuf,
    pub(crate) target_directory: PathBuf,
}

/// A package of `cargo metadata`.
#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    pub(crate) id: String,
    pub(crate) manifest_path: PathBuf,
    pub(crate) targets: Vec<Target>,
}

/// A target of a package.
#[derive(Debug, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kind: Vec<String>,
}

impl Metadata {
    /// The workspace members' binaries: (package, binary name), in the members' order.
    pub(crate) fn binaries(&self) -> Vec<(&Package, &str)> {
        let mut binaries = Vec::new();
        for id in &self.workspace_members {
            let Some(package) = self.packages.iter().find(|package| &package.id == id) else {
                continue;
            };
            for target in &package.targets {
                if target.kind.iter().any(|kind| kind == "bin") {
                    binaries.push((package, target.name.as_str()));
                }
            }
        }
        binaries
    }
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo metadata --no-deps` of the workspace at `manifest_path` (or around `dir`).
pub(crate) fn metadata(dir: &Path, manifest_path: Option<&Path>) -> Result<Metadata, Error> {
    let mut command = Command::new(cargo());
    command
        .current_dir(dir)
        .args(["metadata", "--no-deps", "--format-version", "1"]);
    if let Some(manifest_path) = manifest_path {
        command.arg("--manifest-path").arg(manifest_path);
    }
    let output = run(&mut command, "cargo metadata")?;
    serde_json::from_slice(&output).map_err(|error| Error::Tool {
        tool: "cargo metadata".into(),
        message: format!("unexpected output: {error}"),
    })
}

/// The host's target triple, from `rustc -vV` run in `dir` (so a `rust-toolchain.toml`
/// there picks the same compiler cargo will).
pub(crate) fn host_triple(dir: &Path) -> Result<String, Error> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = run(Command::new(rustc).current_dir(dir).arg("-vV"), "rustc -vV")?;
    String::from_utf8_lossy(&output)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_owned())
        .ok_or_else(|| Error::Tool {
            tool: "rustc -vV".into(),
            message: "no `host:` line".into(),
        })
}

/// Runs a command to its end; its standard output, or an error with its standard error.
fn run(command: &mut Command, tool: &str) -> Result<Vec<u8>, Error> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Error::Tool {
            tool: tool.into(),
            message: format!("cannot start it: {error}"),
        })?;
    if !output.status.success() {
        return Err(Error::Tool {
            tool: tool.into(),
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(output.stdout)
}

/// The compiler flags of an instrumented build: the caller's own (`CARGO_ENCODED_RUSTFLAGS`,
/// else `RUSTFLAGS`), then ours. Given as `CARGO_ENCODED_RUSTFLAGS`, which cargo prefers
/// to every other source of flags, so nothing can silently drop the instrumentation.
pub(crate) fn encoded_rustflags(lookup: impl Fn(&str) -> Option<String>, branch: bool) -> String {
    let mut flags: Vec<String> = match lookup("CARGO_ENCODED_RUSTFLAGS") {
        Some(encoded) if !encoded.is_empty() => encoded.split('\x1f').map(str::to_owned).collect(),
        _ => lookup("RUSTFLAGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    flags.extend(INSTRUMENT.iter().map(|flag| (*flag).to_owned()));
    if branch {
        flags.extend(BRANCH.iter().map(|flag| (*flag).to_owned()));
    }
    flags.join("\x1f")
}

/// One line of `cargo build --message-format json`: only artifacts matter here.
#[derive(Debug, Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    executable: Option<PathBuf>,
}

/// The executables of the binaries an instrumented `cargo build` produced, from cargo's
/// JSON messages (`--message-format json-render-diagnostics`: compiler messages are
/// still printed as text on standard error).
pub(crate) fn built_executables(messages: &str) -> Vec<(String, PathBuf)> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|message| message.reason == "compiler-artifact")
        .filter_map(|message| {
            let target = message.target?;
            let executable = message.executable?;
            target
                .kind
                .iter()
                .any(|kind| kind == "bin")
                .then_some((target.name, executable))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_flags_come_first_and_ours_are_appended() {
        let none = |_: &str| None;
        assert_eq!(encoded_rustflags(none, false), "-C\x1finstrument-coverage");
        let plain =
            |name: &str| (name == "RUSTFLAGS").then(|| " -C  target-cpu=native ".to_owned());
        assert_eq!(
            encoded_rustflags(plain, true),
            "-C\x1ftarget-cpu=native\x1f-C\x1finstrument-coverage\x1f-Z\x1fcoverage-options=branch"
        );
        let encoded = |name: &str| match name {
            "CARGO_ENCODED_RUSTFLAGS" => Some("--cfg\x1ffoo bar".to_owned()),
            "RUSTFLAGS" => Some("-C ignored".to_owned()),
            _ => None,
        };
        assert_eq!(
            encoded_rustflags(encoded, false),
            "--cfg\x1ffoo bar\x1f-C\x1finstrument-coverage"
        );
    }

    #[test]
    fn executables_are_read_from_the_binaries_artifacts() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"serde","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"build-script-build","kind":["custom-build"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"orders","kind":["bin"]},"executable":"/w/target/coverage/x86_64-unknown-linux-gnu/debug/orders"}
{"reason":"build-finished","success":true}
not json"#;
        assert_eq!(
            built_executables(messages),
            [(
                "orders".to_owned(),
                PathBuf::from("/w/target/coverage/x86_64-unknown-linux-gnu/debug/orders")
            )]
        );
    }
}
