//! The SDK's settings, each resolved once, when [`crate::init`] runs, from its sources in
//! the one order the Tusk SDKs use: the [`Builder`](crate::Builder), then the environment,
//! then the project file (`.tusk/config.yaml`), then the default.
//!
//! [`first`] walks that order for every setting; a value a source gives but that is not
//! usable (a sampling rate outside `0.0..=1.0`, a number that does not parse) is skipped
//! with one warning naming the source, and the next source is asked. Nothing else in the
//! crate decides between sources.

use std::path::{Path, PathBuf};

use crate::builder::Builder;
use crate::env::{Environment, TUSK_RECORDING_SAMPLING_RATE, TUSK_TRACES_DIR};
use crate::gate::Gate;
use crate::handshake::UNKNOWN_SERVICE;
use crate::project_file::{self, ProjectFile};

/// Every request is recorded unless a source says otherwise.
pub(crate) const DEFAULT_SAMPLING_RATE: f64 = 1.0;
/// Where traces go when no source names a directory (relative to the working directory).
pub(crate) const DEFAULT_TRACES_DIR: &str = ".tusk/traces";

/// Where a setting came from, for the warning about a value that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A [`Builder`] option.
    Builder(&'static str),
    /// An environment variable.
    Environment(&'static str),
    /// A key of `.tusk/config.yaml`.
    ProjectFile(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builder(option) => write!(formatter, "the builder's {option}"),
            Source::Environment(variable) => write!(formatter, "{variable}"),
            Source::ProjectFile(key) => {
                write!(formatter, "{key} in {}", project_file::CONFIG_FILE)
            }
        }
    }
}

/// The first value among `candidates` (in the order given) that `check` accepts; a value
/// it refuses is skipped with a warning that names its source and the reason.
pub(crate) fn first<T: std::fmt::Debug>(
    setting: &str,
    candidates: impl IntoIterator<Item = (Source, Option<T>)>,
    check: impl Fn(&T) -> Result<(), String>,
) -> Option<T> {
    for (source, value) in candidates {
        let Some(value) = value else { continue };
        match check(&value) {
            Ok(()) => return Some(value),
            Err(reason) => tracing::warn!(
                setting,
                %source,
                value = ?value,
                %reason,
                "Tusk SDK ignores a setting it cannot use"
            ),
        }
    }
    None
}

fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

/// Everything the SDK runs with, resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Config {
    /// What the SDK does in this process.
    pub(crate) gate: Gate,
    /// The service id sent in the handshake.
    pub(crate) service_id: String,
    /// `RECORD` mode: where trace files go (absolute when the working directory is known).
    pub(crate) traces_dir: PathBuf,
    /// `RECORD` mode: the fraction of inbound requests recorded.
    pub(crate) sampling_rate: f64,
}

impl Config {
    /// Resolves every setting from `builder`, `environment` and the project file found
    /// from the working directory.
    pub(crate) fn resolve(builder: &Builder, environment: &Environment) -> Self {
        let working_dir = std::env::current_dir().ok();
        let project = match working_dir.as_deref().map(project_file::read_from) {
            Some(Ok(project)) => project.unwrap_or_default(),
            Some(Err(reason)) => {
                tracing::warn!(
                    file = project_file::CONFIG_FILE,
                    %reason,
                    "Tusk SDK ignores the Tusk project file"
                );
                ProjectFile::default()
            }
            None => ProjectFile::default(),
        };
        Self::from_sources(builder, environment, &project, working_dir.as_deref())
    }

    /// [`Config::resolve`] from sources already read.
    pub(crate) fn from_sources(
        builder: &Builder,
        environment: &Environment,
        project: &ProjectFile,
        working_dir: Option<&Path>,
    ) -> Self {
        let service_id = first(
            "service id",
            [
                (Source::Builder("service_id"), builder.service_id.clone()),
                (
                    Source::ProjectFile("service.id"),
                    project.service_id.clone(),
                ),
            ],
            any,
        )
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());

        let traces_dir = first(
            "traces directory",
            [
                (Source::Builder("traces_dir"), builder.traces_dir.clone()),
                (
                    Source::Environment(TUSK_TRACES_DIR),
                    environment.get(TUSK_TRACES_DIR).map(PathBuf::from),
                ),
                (
                    Source::ProjectFile("traces.dir"),
                    project.traces_dir.as_deref().map(PathBuf::from),
                ),
            ],
            any,
        )
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TRACES_DIR));
        let traces_dir = match working_dir {
            Some(working_dir) if traces_dir.is_relative() => working_dir.join(traces_dir),
            _ => traces_dir,
        };

        let rate_from_environment = environment
            .get(TUSK_RECORDING_SAMPLING_RATE)
            .map(|text| text.trim().parse::<f64>().map_err(|_| text.to_owned()));
        let sampling_rate = first(
            "sampling rate",
            [
                (
                    Source::Builder("sampling_rate"),
                    builder.sampling_rate.map(Ok),
                ),
                (
                    Source::Environment(TUSK_RECORDING_SAMPLING_RATE),
                    rate_from_environment,
                ),
                (
                    Source::ProjectFile("recording.sampling.base_rate or recording.sampling_rate"),
                    project.sampling_rate.map(Ok),
                ),
            ],
            |rate: &Result<f64, String>| match rate {
                Ok(rate) if (0.0..=1.0).contains(rate) => Ok(()),
                Ok(_) => Err("outside 0.0 to 1.0".to_owned()),
                Err(_) => Err("not a number".to_owned()),
            },
        )
        .and_then(Result::ok)
        .unwrap_or(DEFAULT_SAMPLING_RATE);

        Config {
            gate: Gate::from_environment(environment),
            service_id,
            traces_dir,
            sampling_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::TUSK_DRIFT_MODE;

    fn environment(pairs: &[(&'static str, &str)]) -> Environment {
        Environment::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn project(
        service_id: Option<&str>,
        traces_dir: Option<&str>,
        rate: Option<f64>,
    ) -> ProjectFile {
        ProjectFile {
            service_id: service_id.map(str::to_owned),
            traces_dir: traces_dir.map(str::to_owned),
            sampling_rate: rate,
        }
    }

    fn config(builder: &Builder, environment: &Environment, project: &ProjectFile) -> Config {
        Config::from_sources(builder, environment, project, Some(Path::new("/srv/app")))
    }

    #[test]
    fn every_setting_takes_the_builder_then_the_environment_then_the_project_file() {
        let mut builder = Builder::new();
        builder
            .service_id("built")
            .traces_dir("/x")
            .sampling_rate(0.1);
        let env = environment(&[
            (TUSK_TRACES_DIR, "/y"),
            (TUSK_RECORDING_SAMPLING_RATE, "0.2"),
        ]);
        let file = project(Some("from-file"), Some("z"), Some(0.3));

        let all = config(&builder, &env, &file);
        assert_eq!(
            (
                all.service_id.as_str(),
                all.traces_dir.as_path(),
                all.sampling_rate
            ),
            ("built", Path::new("/x"), 0.1)
        );
        let no_builder = config(&Builder::new(), &env, &file);
        assert_eq!(
            (
                no_builder.service_id.as_str(),
                no_builder.traces_dir.as_path(),
                no_builder.sampling_rate
            ),
            ("from-file", Path::new("/y"), 0.2)
        );
        let file_only = config(&Builder::new(), &Environment::default(), &file);
        assert_eq!(file_only.traces_dir, Path::new("/srv/app/z"));
        assert_eq!(file_only.sampling_rate, 0.3);
        let defaults = config(
            &Builder::new(),
            &Environment::default(),
            &ProjectFile::default(),
        );
        assert_eq!(
            (
                defaults.service_id.as_str(),
                defaults.traces_dir.as_path(),
                defaults.sampling_rate
            ),
            ("unknown", Path::new("/srv/app/.tusk/traces"), 1.0)
        );
    }

    #[test]
    fn unusable_values_fall_through_to_the_next_source() {
        let mut builder = Builder::new();
        builder.sampling_rate(1.5);
        let file = project(None, None, Some(0.25));
        for text in ["-0.1", "2", "half", "NaN"] {
            let env = environment(&[(TUSK_RECORDING_SAMPLING_RATE, text)]);
            assert_eq!(config(&builder, &env, &file).sampling_rate, 0.25, "{text}");
        }
        let env = environment(&[(TUSK_RECORDING_SAMPLING_RATE, " 0.5 ")]);
        assert_eq!(config(&builder, &env, &file).sampling_rate, 0.5);
        let file = project(None, None, Some(7.0));
        let env = environment(&[(TUSK_RECORDING_SAMPLING_RATE, "")]);
        assert_eq!(config(&builder, &env, &file).sampling_rate, 1.0);
    }

    #[test]
    fn the_gate_comes_from_the_environment() {
        let env = environment(&[(TUSK_DRIFT_MODE, "record")]);
        let resolved = config(&Builder::new(), &env, &ProjectFile::default());
        assert_eq!(resolved.gate, Gate::Record);
    }
}
