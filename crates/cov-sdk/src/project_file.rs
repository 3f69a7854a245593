//! What the SDK reads from the Tusk project file, `.tusk/config.yaml`: the service id, and
//! for `RECORD` mode the traces directory and the sampling rate.
//!
//! The Tusk CLI runs a service from its project directory, where `tusk init` wrote
//! `.tusk/config.yaml`; the Python SDK reads `service.id` from it for the handshake, and the
//! official SDKs read `traces.dir` and `recording.sampling.base_rate` /
//! `recording.sampling_rate` when they record. We look for the file in the current
//! directory and then in each parent (a service started from a sub-directory of its project
//! still finds it), read it once, and take only those keys; which source wins for each
//! setting is [`crate::config`]'s business.
//!
//! The file is parsed with `yaml-rust2`, a maintained, dependency-light, pure-Rust YAML 1.2
//! parser (the successor of `yaml-rust`; `serde_yaml` is archived). A line-based scan
//! for `id:` would misread quoting, comments, flow mappings and other keys named `id`; a
//! real parser costs little, and only these keys are interpreted. A file that is not YAML
//! is a reason, reported once by the caller; a key that is missing or of the wrong shape is
//! simply absent (logged at debug level). This never fails the SDK.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// Where the project file lives, relative to the project directory.
pub(crate) const CONFIG_FILE: &str = ".tusk/config.yaml";

/// The keys of the project file the SDK reads, as written (not yet validated).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProjectFile {
    /// `service.id`.
    pub(crate) service_id: Option<String>,
    /// `traces.dir` (relative paths are relative to the working directory).
    pub(crate) traces_dir: Option<String>,
    /// `recording.sampling.base_rate`, else `recording.sampling_rate`.
    pub(crate) sampling_rate: Option<f64>,
}

/// Finds `.tusk/config.yaml` in `start` or its nearest ancestor that has one.
pub(crate) fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|directory| directory.join(CONFIG_FILE))
        .find(|candidate| candidate.is_file())
}

/// Reads the project file found from `start`; `Ok(None)` when there is none, `Err` with
/// the file's path and the reason when it cannot be read or is not YAML.
pub(crate) fn read_from(start: &Path) -> Result<Option<ProjectFile>, String> {
    let Some(path) = find_config(start) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    parse(&text)
        .map(Some)
        .map_err(|reason| format!("{}: {reason}", path.display()))
}

/// The keys of the text of a project file.
pub(crate) fn parse(text: &str) -> Result<ProjectFile, String> {
    let document = document_of(text)?;
    let service_id = match service_id_in(&document) {
        Ok(id) => Some(id),
        Err(reason) => {
            tracing::debug!(file = CONFIG_FILE, %reason, "no service id in the Tusk project file");
            None
        }
    };
    let number = |value: &Yaml| match value {
        Yaml::Real(text) => text.parse::<f64>().ok(),
        Yaml::Integer(number) => Some(*number as f64),
        _ => None,
    };
    let recording = &document["recording"];
    let sampling_rate =
        number(&recording["sampling"]["base_rate"]).or_else(|| number(&recording["sampling_rate"]));
    let traces_dir = match &document["traces"]["dir"] {
        Yaml::String(dir) if !dir.trim().is_empty() => Some(dir.trim().to_owned()),
        _ => None,
    };
    Ok(ProjectFile {
        service_id,
        traces_dir,
        sampling_rate,
    })
}

/// The first YAML document of a project file.
fn document_of(text: &str) -> Result<Yaml, String> {
    let mut documents =
        YamlLoader::load_from_str(text).map_err(|error| format!("not valid YAML: {error}"))?;
    if documents.is_empty() {
        return Err("the file is empty".to_owned());
    }
    Ok(documents.swap_remove(0))
}

/// `service.id` of a project file's document, or why there is none.
fn service_id_in(document: &Yaml) -> Result<String, String> {
    let id = match &document["service"]["id"] {
        Yaml::String(id) => id.trim().to_owned(),
        Yaml::Integer(id) => id.to_string(),
        Yaml::Real(id) => id.clone(),
        Yaml::BadValue | Yaml::Null => return Err("no service.id".to_owned()),
        _ => return Err("service.id is not a scalar".to_owned()),
    };
    if id.is_empty() {
        return Err("service.id is empty".to_owned());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service_id_of(text: &str) -> Result<String, String> {
        service_id_in(&document_of(text)?)
    }

    fn service_id_from(start: &Path) -> Result<Option<String>, String> {
        Ok(read_from(start)?.and_then(|project| project.service_id))
    }

    #[test]
    fn reads_service_id_in_its_usual_shapes() {
        let plain = "service:\n  id: 7c1f3a2e-0b6d\n  name: orders\n";
        assert_eq!(service_id_of(plain).unwrap(), "7c1f3a2e-0b6d");

        let quoted = "# Tusk project\nservice:\n  name: \"orders\" # the name\n  id: \"abc # not a comment\"\n";
        assert_eq!(service_id_of(quoted).unwrap(), "abc # not a comment");

        let flow = "traces: {id: wrong}\nservice: {name: orders, id: 'flow-id'}\n";
        assert_eq!(service_id_of(flow).unwrap(), "flow-id");

        let numeric = "service:\n  id: 12345\n";
        assert_eq!(service_id_of(numeric).unwrap(), "12345");
    }

    #[test]
    fn other_keys_named_id_are_not_the_service_id() {
        let text = "recording:\n  id: nope\nservice:\n  name: orders\n";
        assert_eq!(service_id_of(text).unwrap_err(), "no service.id");
    }

    #[test]
    fn broken_or_empty_files_are_reasons_not_panics() {
        assert_eq!(service_id_of("").unwrap_err(), "the file is empty");
        assert!(
            service_id_of("service: [unclosed")
                .unwrap_err()
                .starts_with("not valid YAML")
        );
        assert_eq!(
            service_id_of("service:\n  id: ''\n").unwrap_err(),
            "service.id is empty"
        );
        assert_eq!(
            service_id_of("service:\n  id: [1, 2]\n").unwrap_err(),
            "service.id is not a scalar"
        );
        assert_eq!(service_id_of("- a\n- b\n").unwrap_err(), "no service.id");
    }

    #[test]
    fn recording_keys_prefer_the_base_rate_and_read_the_traces_dir() {
        let both = "recording:\n  sampling_rate: 0.5\n  sampling:\n    mode: fixed\n    base_rate: 0.25\ntraces:\n  dir: recorded/traces\n";
        assert_eq!(
            parse(both).unwrap(),
            ProjectFile {
                service_id: None,
                sampling_rate: Some(0.25),
                traces_dir: Some("recorded/traces".to_owned()),
            }
        );
        let legacy = "recording:\n  sampling_rate: 1\n";
        assert_eq!(parse(legacy).unwrap().sampling_rate, Some(1.0));
        let none = "service:\n  id: x\nrecording:\n  sampling_rate: often\n";
        assert_eq!(
            parse(none).unwrap(),
            ProjectFile {
                service_id: Some("x".to_owned()),
                ..ProjectFile::default()
            }
        );
        assert!(parse("recording: [").is_err());
        // A service id of the wrong shape does not hide the other keys.
        let odd = "service:\n  id: [1]\ntraces:\n  dir: t\n";
        assert_eq!(parse(odd).unwrap().traces_dir.as_deref(), Some("t"));
    }

    #[test]
    fn the_nearest_project_file_upwards_is_used() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("crates/service/src");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(service_id_from(&nested).unwrap(), None);

        std::fs::create_dir_all(root.path().join(".tusk")).unwrap();
        std::fs::write(root.path().join(CONFIG_FILE), "service:\n  id: outer\n").unwrap();
        assert_eq!(service_id_from(&nested).unwrap().as_deref(), Some("outer"));

        let inner = root.path().join("crates/service");
        std::fs::create_dir_all(inner.join(".tusk")).unwrap();
        std::fs::write(inner.join(CONFIG_FILE), "service:\n  id: inner\n").unwrap();
        assert_eq!(service_id_from(&nested).unwrap().as_deref(), Some("inner"));

        std::fs::write(inner.join(CONFIG_FILE), "service: {").unwrap();
        let reason = read_from(&nested).unwrap_err();
        assert!(
            reason.contains("crates/service/.tusk/config.yaml"),
            "{reason}"
        );
    }
}
