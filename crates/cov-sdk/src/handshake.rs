//! What the SDK tells the CLI when it connects: the `ConnectRequest`.
//!
//! `runtime` is always `RUNTIME_UNSPECIFIED`: upstream has no Rust value, and
//! `RUNTIME_PYTHON` would make the CLI send a time-travel request before every test and
//! wait 5 s for each answer. `metadata` carries what helps to read a CLI log: the language,
//! the pid, and the compiler and linker that built the service. Those last two come from
//! the `.comment` section the toolchain writes into every ELF executable (`rustc version
//! 1.95.0 (…)`, `Linker: LLD 22.1.2 (…)`, the LLVM that links by default), read at run
//! time on the SDK thread: cheap, and free of a build script (which would itself be
//! instrumented under `-C instrument-coverage` and leave a `.profraw` in the crate's
//! directory).

use std::collections::BTreeMap;
use std::path::Path;

use cov_proto::prost_types::{Struct, Value, value::Kind};
use cov_proto::{ConnectRequest, Runtime};

/// This crate's version, sent as `sdk_version` (the CLI rejects versions below 0.1.0).
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The oldest Tusk CLI with the coverage snapshot channel this SDK answers.
pub(crate) const MIN_CLI_VERSION: &str = "0.1.0";

/// The service id when neither the builder nor `.tusk/config.yaml` gives one, as in the
/// Python SDK.
pub(crate) const UNKNOWN_SERVICE: &str = "unknown";

/// Builds the handshake request for `service_id`.
pub(crate) fn connect_request(service_id: &str, toolchain: &Toolchain) -> ConnectRequest {
    let mut fields = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        fields.insert(
            key.to_owned(),
            Value {
                kind: Some(Kind::StringValue(value.to_owned())),
            },
        );
    };
    put("language", "rust");
    put("pid", &std::process::id().to_string());
    if let Some(rustc) = &toolchain.rustc {
        put("rustc_version", rustc);
    }
    if let Some(linker) = &toolchain.linker {
        put("linker", linker);
    }
    ConnectRequest {
        service_id: service_id.to_owned(),
        sdk_version: SDK_VERSION.to_owned(),
        min_cli_version: MIN_CLI_VERSION.to_owned(),
        metadata: Some(Struct { fields }),
        runtime: Runtime::Unspecified as i32,
    }
}

/// The compiler and linker recorded in an executable's `.comment` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Toolchain {
    /// For example `1.95.0 (59807616e 2026-04-14)`.
    pub(crate) rustc: Option<String>,
    /// For example `LLD 22.1.2`.
    pub(crate) linker: Option<String>,
}

impl Toolchain {
    /// Reads the running executable's `.comment` section; empty when it cannot.
    pub(crate) fn of_current_exe() -> Self {
        std::env::current_exe()
            .ok()
            .and_then(|path| Self::of_executable(&path))
            .unwrap_or_default()
    }

    /// Reads `path`'s `.comment` section, reading only the headers and that section.
    pub(crate) fn of_executable(path: &Path) -> Option<Self> {
        use object::{Object, ObjectSection};

        let file = std::fs::File::open(path).ok()?;
        let cache = object::ReadCache::new(file);
        let executable = object::File::parse(&cache).ok()?;
        let comment = executable.section_by_name(".comment")?.data().ok()?;
        Some(Self::from_comment(comment))
    }

    /// Parses the NUL-separated strings of a `.comment` section.
    pub(crate) fn from_comment(comment: &[u8]) -> Self {
        let mut toolchain = Self::default();
        for entry in comment.split(|&byte| byte == 0) {
            let Ok(entry) = std::str::from_utf8(entry) else {
                continue;
            };
            if let Some(version) = entry.strip_prefix("rustc version ") {
                toolchain.rustc.get_or_insert_with(|| version.to_owned());
            } else if let Some(linker) = entry.strip_prefix("Linker: ") {
                // Drop the source path and commit in parentheses: the name and version
                // are what a reader needs.
                let linker = linker.split(" (").next().unwrap_or(linker).trim();
                toolchain.linker.get_or_insert_with(|| linker.to_owned());
            }
        }
        toolchain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_never_claims_python_and_carries_versions() {
        let toolchain = Toolchain {
            rustc: Some("1.95.0 (59807616e 2026-04-14)".to_owned()),
            linker: Some("LLD 22.1.2".to_owned()),
        };
        let request = connect_request("orders", &toolchain);
        assert_eq!(request.runtime, Runtime::Unspecified as i32);
        assert_eq!(request.service_id, "orders");
        assert_eq!(request.sdk_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(request.min_cli_version, "0.1.0");
        let fields = request.metadata.unwrap().fields;
        let text = |key: &str| match &fields[key].kind {
            Some(Kind::StringValue(text)) => text.clone(),
            other => panic!("{key} is {other:?}"),
        };
        assert_eq!(text("language"), "rust");
        assert_eq!(text("pid"), std::process::id().to_string());
        assert_eq!(text("rustc_version"), "1.95.0 (59807616e 2026-04-14)");
        assert_eq!(text("linker"), "LLD 22.1.2");
    }

    #[test]
    fn comment_sections_are_parsed_leniently() {
        let comment = b"\0rustc version 1.95.0 (59807616e 2026-04-14)\0Linker: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e38)\0GCC: (Debian 12.2.0-14) 12.2.0\0\xff\xfe\0";
        assert_eq!(
            Toolchain::from_comment(comment),
            Toolchain {
                rustc: Some("1.95.0 (59807616e 2026-04-14)".to_owned()),
                linker: Some("LLD 22.1.2".to_owned()),
            }
        );
        assert_eq!(Toolchain::from_comment(b""), Toolchain::default());
    }

    #[test]
    fn the_test_binary_names_the_compiler_that_built_it() {
        let toolchain = Toolchain::of_current_exe();
        let rustc = toolchain.rustc.expect("a .comment section naming rustc");
        assert!(rustc.starts_with("1."), "{rustc}");
    }
}
