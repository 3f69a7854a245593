//! The programs the tests run: locating LLVM's tools (`llvm-profdata`, `llvm-cov`) that
//! match this rustc's LLVM and Debian programs such as `chromium`, and running a program
//! that must succeed.

use std::path::PathBuf;
use std::process::Command;

/// The directory holding `llvm-cov` and `llvm-profdata`.
///
/// `COV_LLVM_TOOLS` (set by `cargo xtask test`) wins; otherwise rustup's
/// `llvm-tools-preview` location, `$(rustc --print sysroot)/lib/rustlib/<host>/bin`.
pub fn llvm_tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("COV_LLVM_TOOLS").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = rustc_print(&rustc, "sysroot");
    let host = rustc_print(&rustc, "host-tuple");
    PathBuf::from(sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin")
}

/// The path of one LLVM tool, such as `"llvm-cov"`.
///
/// # Panics
///
/// When the tool is missing: the test fails with a message saying to run
/// `cargo xtask test`, which installs it.
pub fn llvm_tool(name: &str) -> PathBuf {
    let path = llvm_tools_dir().join(name);
    assert!(
        path.is_file(),
        "{name} not found at {}: run `cargo xtask test`, which installs llvm-tools-preview \
         (or `rustup component add llvm-tools-preview`), or point COV_LLVM_TOOLS at a \
         directory holding LLVM 22's tools",
        path.display()
    );
    path
}

fn rustc_print(rustc: &str, what: &str) -> String {
    run_ok(Command::new(rustc).args(["--print", what]))
        .trim()
        .to_owned()
}

/// Runs `command` to completion and returns its standard output.
///
/// # Panics
///
/// When it cannot start, exits unsuccessfully (the message shows the command, its status
/// and its standard error) or prints something other than UTF-8.
pub fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed with {}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap_or_else(|error| panic!("{command:?} printed something other than UTF-8: {error}"))
}

/// The path of a program the tests need from a Debian package, found on `PATH`.
///
/// # Panics
///
/// When it is not on `PATH`: the test fails with a message saying to run
/// `cargo xtask test`, which installs `package`.
pub fn debian_program(program: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{program} is not installed (Debian package `{package}`): run `cargo xtask test`, \
                 which installs it"
            )
        })
}
