//! `drift-cov build` and `drift-cov init`: a Rust service built for coverage the one right
//! way, and a Tusk project file that starts that build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;
use crate::cargo::{self, Metadata};
use crate::cli::{BuildArgs, InitArgs};

/// The target directory of instrumented builds, under cargo's own.
pub(crate) const COVERAGE_TARGET_SUBDIR: &str = "coverage";

/// Builds the service instrumented and returns the executable (checked to carry a
/// coverage mapping). Cargo's progress and errors go to standard error as usual.
pub(crate) fn build(args: &BuildArgs) -> Result<PathBuf, Error> {
    let cwd = current_dir()?;
    let metadata = cargo::metadata(&cwd, args.manifest_path.as_deref())?;
    let host = cargo::host_triple(&metadata.workspace_root)?;
    let target_dir = match &args.target_dir {
        Some(dir) => cwd.join(dir),
        None => metadata.target_directory.join(COVERAGE_TARGET_SUBDIR),
    };
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(&cwd)
        .args([
            "build",
            "--message-format",
            "json-render-diagnostics",
            "--target",
        ])
        .arg(&host)
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(manifest_path) = &args.manifest_path {
        command.arg("--manifest-path").arg(manifest_path);
    }
    if let Some(package) = &args.package {
        command.args(["--package", package]);
    }
    if let Some(bin) = &args.bin {
        command.args(["--bin", bin]);
    }
    if args.release {
        command.arg("--release");
    }
    command.args(&args.cargo_args);
    let lookup = |name: &str| std::env::var(name).ok();
    command
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            cargo::encoded_rustflags(lookup, args.branch),
        )
        .env_remove("RUSTFLAGS")
        // Nothing instrumented runs during the build (see `cargo`), but should something
        // be (a wrapper, a config that instruments host code), its profile goes here.
        .env(
            "LLVM_PROFILE_FILE",
            target_dir.join("build-profiles/%m-%p.profraw"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if args.branch {
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    let output = command.output().map_err(|error| Error::Tool {
        tool: "cargo build".into(),
        message: format!("cannot start it: {error}"),
    })?;
    if !output.status.success() {
        return Err(Error::Tool {
            tool: "cargo build".into(),
            message: format!("{} (its errors are above)", output.status),
        });
    }
    let mut executables = cargo::built_executables(&String::from_utf8_lossy(&output.stdout));
    if let Some(bin) = &args.bin {
        executables.retain(|(name, _)| name == bin);
    }
    executables.dedup();
    let executable = match executables.as_slice() {
        [(_, executable)] => executable.clone(),
        [] => {
            return Err(Error::Tool {
                tool: "cargo build".into(),
                message: "it built no binary: choose the service's package with --package or its binary with --bin".into(),
            });
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(name, _)| name.as_str()).collect();
            return Err(Error::Tool {
                tool: "cargo build".into(),
                message: format!(
                    "it built {} binaries ({}): choose the service's with --bin",
                    several.len(),
                    names.join(", ")
                ),
            });
        }
    };
    if let Err(error) = cov_collector::offline::check_instrumented(&executable) {
        return Err(Error::Tool {
            tool: "cargo build".into(),
            message: format!(
                "{} is not instrumented ({error}); something replaced the compiler flags",
                executable.display()
            ),
        });
    }
    Ok(executable)
}

/// Writes (or, with `--stdout`, prints) `.tusk/config.yaml` for the workspace's service.
/// Returns the path written, if any, and the text.
pub(crate) fn init(args: &InitArgs) -> Result<(Option<PathBuf>, String), Error> {
    let cwd = current_dir()?;
    let metadata = cargo::metadata(&cwd, args.manifest_path.as_deref())?;
    let bin = choose_binary(&metadata, args.bin.as_deref())?;
    let root = &metadata.workspace_root;
    let command = match &args.command {
        Some(command) => command.clone(),
        None => {
            let host = cargo::host_triple(root)?;
            let profile = if args.release { "release" } else { "debug" };
            let executable = metadata
                .target_directory
                .join(COVERAGE_TARGET_SUBDIR)
                .join(host)
                .join(profile)
                .join(&bin);
            match executable.strip_prefix(root) {
                Ok(relative) => format!("./{}", relative.display()),
                Err(_) => executable.display().to_string(),
            }
        }
    };
    let git_root = git_toplevel(root).unwrap_or_else(|| root.clone());
    let include = include_globs(&metadata, &git_root);
    let service_id = args.service_id.clone().unwrap_or_else(|| bin.clone());
    let text = config_text(&ConfigValues {
        service_id: &service_id,
        port: args.port,
        command: &command,
        health: &args.health,
        include: &include,
        build_hint: &build_hint(args, &bin),
    });
    if args.stdout {
        return Ok((None, text));
    }
    let path = root.join(".tusk/config.yaml");
    if path.exists() && !args.force {
        return Err(Error::Exists(path));
    }
    crate::reports::write_file(&path, &text)?;
    Ok((Some(path), text))
}

fn current_dir() -> Result<PathBuf, Error> {
    std::env::current_dir().map_err(|source| Error::Read {
        path: PathBuf::from("."),
        source,
    })
}

/// The service's binary: `--bin`, else the workspace's only binary.
fn choose_binary(metadata: &Metadata, bin: Option<&str>) -> Result<String, Error> {
    let binaries = metadata.binaries();
    let chosen: Vec<_> = binaries
        .iter()
        .filter(|(_, name)| bin.is_none_or(|bin| bin == *name))
        .collect();
    match chosen.as_slice() {
        [(_, name)] => Ok((*name).to_owned()),
        [] => Err(Error::Tool {
            tool: "cargo metadata".into(),
            message: match bin {
                Some(bin) => format!("the workspace has no binary named `{bin}`"),
                None => "the workspace has no binary".into(),
            },
        }),
        several => Err(Error::Tool {
            tool: "cargo metadata".into(),
            message: format!(
                "the workspace has {} binaries ({}): choose the service's with --bin",
                several.len(),
                several
                    .iter()
                    .map(|(_, name)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// `<member>/src/**` for every workspace member, relative to the git root the Tusk CLI
/// makes coverage paths relative to.
fn include_globs(metadata: &Metadata, git_root: &Path) -> Vec<String> {
    let git_root = git_root
        .canonicalize()
        .unwrap_or_else(|_| git_root.to_owned());
    let mut globs: Vec<String> = metadata
        .workspace_members
        .iter()
        .filter_map(|id| metadata.packages.iter().find(|package| &package.id == id))
        .filter_map(|package| {
            let dir = package.manifest_path.parent()?;
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
            let relative = dir.strip_prefix(&git_root).ok()?;
            let relative = relative.to_string_lossy().replace('\\', "/");
            Some(if relative.is_empty() {
                "src/**".to_owned()
            } else {
                format!("{relative}/src/**")
            })
        })
        .collect();
    globs.sort();
    globs.dedup();
    globs
}

fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// The `drift-cov build` command line that makes the start command's executable.
fn build_hint(args: &InitArgs, bin: &str) -> String {
    let mut hint = format!("drift-cov build --bin {bin}");
    if args.release {
        hint.push_str(" --release");
    }
    hint
}

struct ConfigValues<'a> {
    service_id: &'a str,
    port: u16,
    command: &'a str,
    health: &'a str,
    include: &'a [String],
    build_hint: &'a str,
}

/// The project file: every key is one the Tusk CLI reads (`internal/config/config.go`).
fn config_text(values: &ConfigValues<'_>) -> String {
    let ConfigValues {
        service_id,
        port,
        command,
        health,
        include,
        build_hint,
    } = values;
    let include = include
        .iter()
        .map(|glob| yaml_string(glob))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = String::new();
    let _ = write!(
        text,
        r#"# The Tusk Drift project file of a Rust service, written by `drift-cov init`.
service:
  id: {id}
  name: {id}
  port: {port}                          # where the CLI sends the replayed requests
  start:
    # The instrumented build of `{build_hint}` (run it first). The CLI runs this
    # with /bin/sh -c in the directory it was started in: run `tusk drift run` here.
    command: {command}
  readiness_check:                    # without one the CLI waits 10 s
    command: {readiness}
    timeout: 60s
    interval: 500ms
traces:
  dir: .tusk/traces                   # where RECORD mode writes and the CLI reads
recording:
  sampling_rate: 1.0
coverage:
  include: [{include}]   # the CLI's paths: relative to the git root
  exclude: []
  # strip_path_prefix: /app           # when the service runs in a container with the repository at /app
replay:
  sandbox:
    mode: "off"                       # see "The replay sandbox" in docs/sdk.md
"#,
        id = yaml_string(service_id),
        command = yaml_string(command),
        readiness = yaml_string(&format!(
            "curl -fsS -o /dev/null http://127.0.0.1:{port}{health}"
        )),
    );
    text
}

/// A YAML scalar: plain when that reads back as the same string, else double-quoted.
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ./_-:@%=+,".contains(c))
        && !text.starts_with([' ', '-', ':', '@', '%', ','])
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(',')
        && !["true", "false", "null", "yes", "no", "on", "off", "~"]
            .contains(&text.to_ascii_lowercase().as_str())
        && text.parse::<f64>().is_err();
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_strings_are_quoted_only_when_needed() {
        assert_eq!(yaml_string("orders"), "orders");
        assert_eq!(
            yaml_string("./target/coverage/x86_64-unknown-linux-gnu/debug/orders --port 8080"),
            "./target/coverage/x86_64-unknown-linux-gnu/debug/orders --port 8080"
        );
        assert_eq!(yaml_string("src/**"), "\"src/**\"");
        assert_eq!(yaml_string("off"), "\"off\"");
        assert_eq!(yaml_string("8080"), "\"8080\"");
        assert_eq!(yaml_string("a: b"), "\"a: b\"");
        assert_eq!(yaml_string("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
