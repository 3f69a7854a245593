//! The tests a trace directory holds, as the Tusk CLI loads and replays them.
//!
//! The CLI walks the directory in lexical order (Go's `filepath.Walk`), loads every
//! `*.jsonl` file as one trace, makes a test of the trace's root span, skips tests whose
//! recorded status is 300 or more, and sends each request with `x-td-trace-id`, then
//! `Content-Type: application/json` when there is a body, then the recorded headers
//! (which override both). Go's client writes `Host`, `Content-Length`,
//! `Transfer-Encoding` and `Trailer` itself, whatever the header map says.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::Value;

use super::Step;

/// The headers Go's HTTP client never takes from a request's header map.
const WRITTEN_BY_THE_CLIENT: &[&str] = &["host", "content-length", "transfer-encoding", "trailer"];

/// The trace files under `dir`, in the order the CLI walks them.
pub(crate) fn trace_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The tests the CLI replays from `dir`, in its order, with their requests as it sends
/// them.
pub(crate) fn replayable(dir: &Path) -> anyhow::Result<Vec<Step>> {
    let mut tests = Vec::new();
    for path in trace_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let test = test_of(&text).with_context(|| format!("in {}", path.display()))?;
        if let Some(test) = test.filter(|test| test.expect_status < 300) {
            tests.push(test);
        }
    }
    Ok(tests)
}

/// The test of one trace file: its root span's request and recorded status; `None` when it
/// has no root span.
fn test_of(text: &str) -> anyhow::Result<Option<Step>> {
    for (line_idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let span: Value = serde_json::from_str(line)
            .with_context(|| format!("line {} is not JSON", line_idx + 1))?;
        if span["isRootSpan"] != Value::Bool(true) {
            continue;
        }
        let field = |value: &Value, name: &str| -> anyhow::Result<String> {
            value
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("line {}: `{name}` is not a string", line_idx + 1))
        };
        let trace_id = field(&span["traceId"], "traceId")?;
        let input = &span["inputValue"];
        let body = match &input["body"] {
            Value::Null => None,
            Value::String(encoded) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .with_context(|| format!("line {}: the body is not base64", line_idx + 1))?,
            ),
            other => bail!("line {}: the body is {other}, not a string", line_idx + 1),
        };
        let mut headers = vec![("x-td-trace-id".to_owned(), trace_id.clone())];
        if body.is_some() {
            set_header(&mut headers, "Content-Type", "application/json");
        }
        if let Some(recorded) = input["headers"].as_object() {
            for (name, value) in recorded {
                // The CLI takes string values only.
                if let Some(value) = value.as_str() {
                    set_header(&mut headers, name, value);
                }
            }
        }
        headers.retain(|(name, _)| {
            !WRITTEN_BY_THE_CLIENT
                .iter()
                .any(|written| name.eq_ignore_ascii_case(written))
        });
        let status = span["outputValue"]["statusCode"]
            .as_u64()
            .and_then(|status| u16::try_from(status).ok())
            .with_context(|| format!("line {}: no `outputValue.statusCode`", line_idx + 1))?;
        return Ok(Some(Step {
            name: span["name"].as_str().unwrap_or(&trace_id).to_owned(),
            id: trace_id,
            method: field(&input["method"], "inputValue.method")?,
            target: field(&input["target"], "inputValue.target")?,
            headers,
            body,
            expect_status: status,
        }));
    }
    Ok(None)
}

/// Sets a header as Go's `Header.Set` does: replacing any of the same name, whatever its
/// case.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_span_becomes_the_request_the_cli_sends() {
        let trace = concat!(
            r#"{"traceId":"t1","isRootSpan":false,"name":"child"}"#,
            "\n",
            r#"{"traceId":"t1","isRootSpan":true,"name":"POST /orders","inputValue":{"method":"POST","target":"/orders?x=1","headers":{"content-type":"application/json; charset=utf-8","host":"localhost:1","x-n":["not a string"]},"body":"eyJhIjoxfQ=="},"outputValue":{"statusCode":201}}"#,
            "\n"
        );
        let step = test_of(trace).expect("parses").expect("has a root span");
        assert_eq!(step.id, "t1");
        assert_eq!(step.name, "POST /orders");
        assert_eq!(step.method, "POST");
        assert_eq!(step.target, "/orders?x=1");
        assert_eq!(step.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(step.expect_status, 201);
        assert_eq!(
            step.headers,
            vec![
                ("x-td-trace-id".to_owned(), "t1".to_owned()),
                (
                    "content-type".to_owned(),
                    "application/json; charset=utf-8".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn files_are_walked_in_lexical_order_and_redirects_are_skipped() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let span = |id: &str, status: u16| {
            format!(
                r#"{{"traceId":"{id}","isRootSpan":true,"inputValue":{{"method":"GET","target":"/"}},"outputValue":{{"statusCode":{status}}}}}"#
            )
        };
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("b_trace_b.jsonl"), span("b", 200)).expect("write");
        std::fs::write(dir.path().join("a_trace_a.jsonl"), span("a", 404)).expect("write");
        std::fs::write(dir.path().join("sub/c_trace_c.jsonl"), span("c", 204)).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a trace").expect("write");
        let ids: Vec<String> = replayable(dir.path())
            .expect("loads")
            .into_iter()
            .map(|step| step.id)
            .collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(trace_files(dir.path()).expect("walks").len(), 3);
        std::fs::write(dir.path().join("d_trace_d.jsonl"), "{not json").expect("write");
        assert!(replayable(dir.path()).is_err());
    }
}
