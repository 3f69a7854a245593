//! Installs what the tests and tasks need when it is missing, so a fresh machine needs
//! nothing but cargo: LLVM's tools (the `llvm-cov` oracle) from rustup, and Debian
//! packages such as `lcov` (a real LCOV consumer) through apt.

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

/// Makes sure `llvm-cov` and `llvm-profdata` matching this rustc's LLVM are installed.
pub(crate) fn ensure_llvm_tools() -> anyhow::Result<PathBuf> {
    let dir = llvm_tools_dir()?;
    let present =
        |dir: &PathBuf| dir.join("llvm-cov").is_file() && dir.join("llvm-profdata").is_file();
    if !present(&dir) {
        eprintln!("provision: installing llvm-tools-preview with rustup (the llvm-cov oracle)");
        run(Command::new("rustup").args(["component", "add", "llvm-tools-preview"]))?;
        if !present(&dir) {
            bail!(
                "rustup installed llvm-tools-preview but {} has no llvm-cov",
                dir.display()
            );
        }
    }
    Ok(dir)
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
    eprintln!("provision: installing {} with apt-get", missing.join(" "));
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
    install.extend(&missing);
    apt(&install)
}

/// Whether `program` is found on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
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
