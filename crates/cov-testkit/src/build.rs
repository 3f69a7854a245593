//! Building workspace fixtures with `-C instrument-coverage` and running them with a
//! profile file of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// How to build an instrumented fixture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BuildOptions {
    /// Build with `--release` (optimized, inlined code) instead of the dev profile.
    pub release: bool,
    /// Add branch regions: `RUSTC_BOOTSTRAP=1` and `-Zcoverage-options=branch`.
    pub branch: bool,
}

impl BuildOptions {
    /// The name of this variant's target directory under `target/cov-fixtures/`.
    pub fn variant(&self) -> &'static str {
        match (self.release, self.branch) {
            (false, false) => "debug",
            (true, false) => "release",
            (false, true) => "branch-debug",
            (true, true) => "branch-release",
        }
    }

    /// The RUSTFLAGS of this variant.
    pub fn rustflags(&self) -> String {
        let mut flags = String::from("-C instrument-coverage");
        if self.branch {
            flags.push_str(" -Z coverage-options=branch");
        }
        flags
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("cov-testkit lives in <workspace>/crates/cov-testkit")
        .to_path_buf()
}

/// The variables through which the caller's environment (cargo-llvm-cov, a CI wrapper, an
/// outer `cargo` run, a shared target directory) would add compiler flags, a profile path
/// or another target directory to a build; every build here says exactly what it wants
/// instead. `CARGO_TARGET_<triple>_RUSTFLAGS` is matched by its shape in [`cargo_build`].
const INHERITED_BUILD_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_BOOTSTRAP",
    "LLVM_PROFILE_FILE",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
];

/// `cargo build --target-dir <target_dir>` in the workspace root, with none of the
/// caller's `RUSTFLAGS` (in any of their spellings), `RUSTC_BOOTSTRAP` or
/// `LLVM_PROFILE_FILE`; the caller adds the packages and its own `RUSTFLAGS`.
///
/// `LLVM_PROFILE_FILE` points at `<target_dir>/build-profiles/%m-%p.profraw`: with
/// `-C instrument-coverage` in `RUSTFLAGS`, build scripts and proc macros are instrumented
/// too and write a profile when they exit, which would otherwise land as `default_*.profraw`
/// in the workspace root.
pub fn cargo_build(target_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .arg("build")
        .arg("--target-dir")
        .arg(target_dir);
    clear_build_environment(&mut command);
    command.env(
        "LLVM_PROFILE_FILE",
        target_dir.join("build-profiles/%m-%p.profraw"),
    );
    command
}

/// Removes from `command` the caller's `RUSTFLAGS` (in every spelling), `RUSTC_BOOTSTRAP`,
/// `LLVM_PROFILE_FILE` and target directory (`CARGO_TARGET_DIR`): for a build tool under
/// test (`drift-cov build`) that must set them itself, and builds where the docs say.
pub fn clear_build_environment(command: &mut Command) {
    for name in INHERITED_BUILD_VARIABLES {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_TARGET_") && name.ends_with("_RUSTFLAGS") {
            command.env_remove(&*name);
        }
    }
}

/// Builds binary `bin` of workspace member `package` with `-C instrument-coverage` into
/// `<workspace>/target/cov-fixtures/<variant>` and returns the executable's path.
///
/// Each variant has its own target directory, so the instrumented build never
/// invalidates the normal one, and later calls reuse it (cargo's own lock makes
/// concurrent callers from parallel tests safe).
///
/// # Panics
///
/// When cargo fails; the message includes cargo's output.
pub fn build_instrumented(package: &str, bin: &str, options: &BuildOptions) -> PathBuf {
    let target_dir = workspace_root()
        .join("target/cov-fixtures")
        .join(options.variant());
    let mut command = cargo_build(&target_dir);
    command
        .args(["--quiet", "--package", package, "--bin", bin])
        .env("RUSTFLAGS", options.rustflags());
    if options.release {
        command.arg("--release");
    }
    if options.branch {
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    assert!(
        output.status.success(),
        "building instrumented fixture {package}/{bin} ({}) failed:\n{}",
        options.variant(),
        String::from_utf8_lossy(&output.stderr)
    );
    let profile = if options.release { "release" } else { "debug" };
    built_binary(&target_dir, profile, package, bin)
}

/// The executable cargo built for `package`/`bin` in `target_dir`'s `profile` directory.
///
/// # Panics
///
/// When it is not there.
fn built_binary(target_dir: &Path, profile: &str, package: &str, bin: &str) -> PathBuf {
    let binary = target_dir
        .join(profile)
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "cargo built {package}/{bin} but {} is missing",
        binary.display()
    );
    binary
}

/// Builds binary `bin` of workspace member `package` the usual way, without
/// instrumentation, into `<workspace>/target/cov-fixtures/plain` and returns the
/// executable's path: a service's uninstrumented build, or a dependency it calls (the rates
/// service of the demo).
///
/// # Panics
///
/// When cargo fails; the message includes cargo's output.
pub fn build_plain(package: &str, bin: &str) -> PathBuf {
    let target_dir = workspace_root().join("target/cov-fixtures/plain");
    let mut command = cargo_build(&target_dir);
    command.args(["--quiet", "--package", package, "--bin", bin]);
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    assert!(
        output.status.success(),
        "building {package}/{bin} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built_binary(&target_dir, "debug", package, bin)
}

/// One run of an instrumented program, with its profile in a temporary directory that
/// lives as long as this value.
#[derive(Debug)]
pub struct ProfileRun {
    dir: tempfile::TempDir,
    profraw: PathBuf,
    output: Output,
}

impl ProfileRun {
    /// The raw profile the run wrote at exit.
    pub fn profraw(&self) -> &Path {
        &self.profraw
    }

    /// The temporary directory holding the profile; other files may be put there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The program's standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// The program's standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs an instrumented program with `args` and `LLVM_PROFILE_FILE` pointing into a fresh
/// temporary directory, and returns the run with its profile.
///
/// # Panics
///
/// When the program fails or writes no profile.
pub fn run_instrumented(binary: &Path, args: &[&str]) -> ProfileRun {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let profraw = dir.path().join("run.profraw");
    let output = Command::new(binary)
        .args(args)
        .current_dir(dir.path())
        .env("LLVM_PROFILE_FILE", &profraw)
        .output()
        .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed with {}:\n{}",
        binary.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        profraw.is_file(),
        "{} {args:?} wrote no profile at {}",
        binary.display(),
        profraw.display()
    );
    ProfileRun {
        dir,
        profraw,
        output,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn cargo_build_drops_the_callers_flags_and_keeps_build_profiles_in_the_target_dir() {
        let target_dir = Path::new("/tmp/some-target");
        let command = cargo_build(target_dir);
        let envs: Vec<_> = command.get_envs().collect();
        for name in INHERITED_BUILD_VARIABLES
            .iter()
            .filter(|name| **name != "LLVM_PROFILE_FILE")
        {
            assert!(
                envs.contains(&(OsStr::new(name), None)),
                "{name} is not removed: {envs:?}"
            );
        }
        let profile = target_dir.join("build-profiles/%m-%p.profraw");
        assert!(
            envs.contains(&(OsStr::new("LLVM_PROFILE_FILE"), Some(profile.as_os_str()))),
            "{envs:?}"
        );
        assert_eq!(command.get_current_dir(), Some(workspace_root().as_path()));
    }
}
