//! Whether the SDK runs at all, and what it does: the Tusk SDKs' gate.
//!
//! | `TUSK_DRIFT_MODE`            | `TUSK_COVERAGE` | SDK                                               |
//! |------------------------------|-----------------|---------------------------------------------------|
//! | `REPLAY` (any case)          | set             | connects, collects, answers snapshots, sends inbound replay spans |
//! | `REPLAY` (any case)          | unset           | connects, answers snapshots "coverage is not enabled", sends inbound replay spans |
//! | `RECORD` (any case)          | any             | records inbound HTTP traffic as trace files (no thread until the first trace, no socket, no collector) |
//! | unset                        | set             | connects and collects (the Python SDK's backwards-compatible case) |
//! | unset                        | unset           | nothing at all                                    |
//! | anything else (`DISABLED`, …) | any            | nothing at all: no thread, no socket, no collector |
//!
//! "Set" means non-empty, as everywhere in [`crate::env`].

use crate::env::{Environment, TUSK_COVERAGE, TUSK_DRIFT_MODE};

/// What the SDK does in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Nothing: no thread, no socket, no collector.
    Off,
    /// Record inbound HTTP traffic as Tusk trace files; no socket, no collector.
    Record,
    /// Connect to the CLI and answer its requests; collect coverage when `collect`.
    Serve {
        /// Whether coverage is collected. When false, snapshot requests are answered with
        /// `success=false` and [`COVERAGE_NOT_ENABLED`].
        collect: bool,
    },
}

/// The error a snapshot request gets when the CLI did not enable coverage.
pub(crate) const COVERAGE_NOT_ENABLED: &str = "coverage is not enabled in this service: the Rust SDK \
     collects coverage only when TUSK_COVERAGE is set (the Tusk CLI sets it when coverage is on)";

impl Gate {
    /// Decides from the environment, as the Tusk SDKs do.
    pub(crate) fn from_environment(env: &Environment) -> Self {
        let coverage = env.get(TUSK_COVERAGE).is_some();
        match env.get(TUSK_DRIFT_MODE) {
            Some(mode) if mode.eq_ignore_ascii_case("REPLAY") => Gate::Serve { collect: coverage },
            Some(mode) if mode.eq_ignore_ascii_case("RECORD") => Gate::Record,
            Some(_) => Gate::Off,
            None if coverage => Gate::Serve { collect: true },
            None => Gate::Off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(mode: Option<&str>, coverage: Option<&str>) -> Gate {
        Gate::from_environment(&Environment::from_lookup(|name| match name {
            TUSK_DRIFT_MODE => mode.map(str::to_owned),
            TUSK_COVERAGE => coverage.map(str::to_owned),
            _ => None,
        }))
    }

    #[test]
    fn replay_in_any_case_serves_and_collects_only_with_coverage() {
        for mode in ["REPLAY", "replay", "Replay"] {
            assert_eq!(
                gate(Some(mode), Some("true")),
                Gate::Serve { collect: true }
            );
            assert_eq!(gate(Some(mode), None), Gate::Serve { collect: false });
            assert_eq!(gate(Some(mode), Some("")), Gate::Serve { collect: false });
        }
    }

    #[test]
    fn record_in_any_case_records_whatever_coverage_says() {
        for mode in ["RECORD", "record", "Record"] {
            assert_eq!(gate(Some(mode), Some("true")), Gate::Record, "{mode}");
            assert_eq!(gate(Some(mode), None), Gate::Record, "{mode}");
        }
    }

    #[test]
    fn disabled_and_unknown_modes_do_nothing_even_with_coverage() {
        for mode in ["DISABLED", "disable", "REPLAYX", " REPLAY", "RECORDING"] {
            assert_eq!(gate(Some(mode), Some("true")), Gate::Off, "{mode}");
            assert_eq!(gate(Some(mode), None), Gate::Off, "{mode}");
        }
    }

    #[test]
    fn unset_mode_follows_coverage_for_backwards_compatibility() {
        assert_eq!(gate(None, Some("true")), Gate::Serve { collect: true });
        assert_eq!(gate(Some(""), Some("1")), Gate::Serve { collect: true });
        assert_eq!(gate(None, None), Gate::Off);
        assert_eq!(gate(Some(""), Some("")), Gate::Off);
    }
}
