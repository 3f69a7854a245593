//! Installs what the tests and tasks need when it is missing, so a fresh machine needs
//! nothing but cargo: LLVM's tools (the `llvm-cov` oracle) from rustup, or from Debian's
//! package of the same LLVM where rustup cannot add them, and Debian packages such as
//! `lcov` (a real LCOV consumer) through apt.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The directory where rustup's `llvm-tools-preview` puts `llvm-cov` and `llvm-profdata`.
pub(crate) fn llvm_tools_dir() -> anyhow::Result<PathBuf> {
    let sysroot = capture(Command::new("rustc").args(["--print", "sysroot"]))?;
    let host = capture(Command::new("rustc").args(["--print", "host-tuple"]))?;
    Ok(PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin"))
}

/// Makes sure `llvm-cov` and `llvm-profdata` matching this rustc's LLVM are installed and
/// returns their directory: rustup's `llvm-tools-preview` where rustup can add it, and
/// otherwise Debian's package of the same LLVM major (`llvm-22` for rustc 1.95), whose
/// `/usr/lib/llvm-22/bin` holds the same tools under the same names.
pub(crate) fn ensure_llvm_tools() -> anyhow::Result<PathBuf> {
    let dir = llvm_tools_dir()?;
    let present =
        |dir: &PathBuf| dir.join("llvm-cov").is_file() && dir.join("llvm-profdata").is_file();
    if present(&dir) {
        return Ok(dir);
    }
    eprintln!("provision: installing llvm-tools-preview with rustup (the llvm-cov oracle)");
    let rustup = run(Command::new("rustup").args(["component", "add", "llvm-tools-preview"]));
    if rustup.is_ok() && present(&dir) {
        return Ok(dir);
    }
    let major = rustc_llvm_major()?;
    let debian = PathBuf::from(format!("/usr/lib/llvm-{major}/bin"));
    if !present(&debian) {
        eprintln!(
            "provision: rustup could not add llvm-tools-preview ({}); installing Debian's \
             llvm-{major} instead",
            match &rustup {
                Ok(()) => "it installed no llvm-cov".to_owned(),
                Err(error) => format!("{error:#}"),
            }
        );
        apt_install(&[&format!("llvm-{major}")])?;
    }
    if !present(&debian) {
        bail!("neither rustup's llvm-tools-preview nor Debian's llvm-{major} gave llvm-cov");
    }
    Ok(debian)
}

/// The LLVM major version this rustc was built with (`rustc -vV`'s `LLVM version:` line).
fn rustc_llvm_major() -> anyhow::Result<u32> {
    let version = capture(Command::new("rustc").arg("-vV"))?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .and_then(|llvm| llvm.split('.').next())
        .and_then(|major| major.trim().parse().ok())
        .context("`rustc -vV` names no LLVM version")
}

/// Makes sure each `(program, debian_package)` pair is available, installing the packages
/// of the missing programs with apt-get.
pub(crate) fn ensure_debian_programs(wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|&(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// Makes sure Debian's PostgreSQL server binaries (`/usr/lib/postgresql/*/bin`) are
/// installed, for the throwaway server of cov-postgres's tests.
pub(crate) fn ensure_postgres() -> anyhow::Result<()> {
    if cov_testkit::postgres_bin_dir().is_some() {
        return Ok(());
    }
    apt_install(&["postgresql"])?;
    if cov_testkit::postgres_bin_dir().is_none() {
        bail!("Debian's postgresql package installed no /usr/lib/postgresql/*/bin/initdb");
    }
    Ok(())
}

/// Installs Debian packages with apt-get (through sudo when not root).
fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    eprintln!("provision: installing {} with apt-get", packages.join(" "));
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        // `env` rather than `Command::env`: sudo resets the environment it is given.
        let mut command = if sudo {
            let mut command = Command::new("sudo");
            command.arg("env");
            command
        } else {
            Command::new("env")
        };
        command.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        // Another `cargo xtask test` (or any apt run) may hold the dpkg and list locks:
        // wait for them instead of failing.
        command.args(["-o", "DPkg::Lock::Timeout=600"]);
        command.args(args);
        run(&mut command)
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(packages);
    apt(&install)
}

/// Whether `program` is found on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// Where `program` is found on `PATH`, if it is.
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    capture(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// Runs a command, failing with its name when it fails.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its standard output.
pub(crate) fn capture(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}
