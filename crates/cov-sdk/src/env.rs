//! Every environment variable the SDK reads, read in one place.
//!
//! An empty value counts as unset everywhere (`TUSK_COVERAGE=` does not turn coverage
//! on, `TUSK_MOCK_HOST=` does not select TCP), the way the Tusk SDKs and cargo-llvm-cov
//! treat them. The variables are read once, when [`crate::init`] runs, into an
//! [`Environment`]; nothing else in the crate calls `std::env`. The table in
//! `docs/environment-variables.md` lists the same names; a test keeps the two in step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// Where the CLI listens: cov-transport resolves the endpoint from these, so it owns the
// names (`TUSK_MOCK_SOCKET`, `TUSK_MOCK_HOST`, `TUSK_MOCK_PORT`).
use cov_transport::{ENV_HOST, ENV_PORT, ENV_SOCKET};

/// The replay mode the Tusk CLI sets: `RECORD`, `REPLAY` or `DISABLED` (case-insensitive).
pub(crate) const TUSK_DRIFT_MODE: &str = "TUSK_DRIFT_MODE";
/// Set (to `true`) by the Tusk CLI when coverage is enabled for the run.
pub(crate) const TUSK_COVERAGE: &str = "TUSK_COVERAGE";
/// The fraction of inbound requests recorded in `RECORD` mode, `0.0` to `1.0`.
pub(crate) const TUSK_RECORDING_SAMPLING_RATE: &str = "TUSK_RECORDING_SAMPLING_RATE";
/// Where `RECORD` mode writes trace files (overrides `traces.dir` in `.tusk/config.yaml`).
pub(crate) const TUSK_TRACES_DIR: &str = "TUSK_TRACES_DIR";
/// Ours: a `tracing` filter (`EnvFilter` syntax, for example `debug` or `cov_sdk=trace`).
/// When set, the SDK thread writes its own log to standard error with that filter,
/// whatever subscriber the application installed.
pub(crate) const TUSK_COVERAGE_LOG: &str = "TUSK_COVERAGE_LOG";

/// Where cargo keeps the registry and git checkouts; their files are never the
/// service's own.
pub(crate) const CARGO_HOME: &str = "CARGO_HOME";
/// The home directory: cargo's home is `$HOME/.cargo` when `CARGO_HOME` is unset.
pub(crate) const HOME: &str = "HOME";

/// Every variable the SDK reads, in the order `docs/environment-variables.md` lists them.
pub(crate) const ALL: [&str; 10] = [
    TUSK_DRIFT_MODE,
    TUSK_COVERAGE,
    ENV_SOCKET,
    ENV_HOST,
    ENV_PORT,
    TUSK_RECORDING_SAMPLING_RATE,
    TUSK_TRACES_DIR,
    TUSK_COVERAGE_LOG,
    CARGO_HOME,
    HOME,
];

/// A snapshot of the SDK's environment variables, empty values already dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Environment {
    values: BTreeMap<&'static str, String>,
}

impl Environment {
    /// Reads the SDK's variables from the process environment. A value that is not
    /// valid Unicode counts as unset.
    pub(crate) fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the SDK's variables through `lookup` (tests pass a map).
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let values = ALL
            .into_iter()
            .filter_map(|name| {
                let value = lookup(name)?;
                (!value.is_empty()).then_some((name, value))
            })
            .collect();
        Self { values }
    }

    /// The value of `name`, `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Cargo's home as cargo finds it: `CARGO_HOME`, else `$HOME/.cargo`.
    pub(crate) fn cargo_home(&self) -> Option<PathBuf> {
        self.get(CARGO_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(HOME).map(|home| Path::new(home).join(".cargo")))
    }

    /// A lookup function over this snapshot, for APIs that take one (such as
    /// cov-transport's endpoint resolution).
    pub(crate) fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = environment(&[(TUSK_COVERAGE, ""), (TUSK_DRIFT_MODE, "REPLAY")]);
        assert_eq!(env.get(TUSK_COVERAGE), None);
        assert_eq!(env.get(TUSK_DRIFT_MODE), Some("REPLAY"));
        assert_eq!(env.lookup()(TUSK_COVERAGE), None);
    }

    #[test]
    fn only_the_sdk_variables_are_read() {
        let env = environment(&[("PATH", "/usr/bin"), (ENV_PORT, "9001")]);
        assert_eq!(env.get("PATH"), None);
        assert_eq!(env.get(ENV_PORT), Some("9001"));
    }

    #[test]
    fn cargo_home_defaults_to_dot_cargo_in_home() {
        let env = environment(&[(HOME, "/home/app")]);
        assert_eq!(env.cargo_home(), Some(PathBuf::from("/home/app/.cargo")));
        let env = environment(&[(HOME, "/home/app"), (CARGO_HOME, "/opt/cargo")]);
        assert_eq!(env.cargo_home(), Some(PathBuf::from("/opt/cargo")));
        let env = environment(&[(CARGO_HOME, "")]);
        assert_eq!(env.cargo_home(), None);
    }

    #[test]
    fn the_documentation_lists_every_variable() {
        let doc = include_str!("../../../docs/environment-variables.md");
        for name in ALL {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/environment-variables.md does not document {name}"
            );
        }
    }
}
