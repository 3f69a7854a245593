//! The tests a trace directory holds, as the Tusk CLI loads and replays them.
//!
//! The CLI walks the directory in lexical order (Go's `filepath.Walk`) and loads every
//! `*.jsonl` file as one trace with the rules `cov_trace::read` mirrors; it skips tests
//! whose recorded status is 300 or more, and sends each request with `x-td-trace-id`, then
//! `Content-Type: application/json` when there is a body, then the recorded headers (which
//! override both). Go's client writes `Host`, `Content-Length`, `Transfer-Encoding` and
//! `Trailer` itself, whatever the header map says.

use std::path::{Path, PathBuf};

use cov_trace::read::{self, ParseError};

use crate::replay::Test;

/// Why a trace directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A directory or file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A trace file is one the Tusk CLI would refuse.
    #[error("in {}: {source}", path.display())]
    Parse {
        /// The trace file.
        path: PathBuf,
        /// What the CLI's rules found.
        source: ParseError,
    },
}

/// The headers Go's HTTP client never takes from a request's header map.
const WRITTEN_BY_THE_CLIENT: &[&str] = &["host", "content-length", "transfer-encoding", "trailer"];

/// The trace files under `dir`, in the order the CLI walks them.
pub fn trace_files(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), TraceError> {
    let read_error = |source| TraceError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
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
/// them: [`recorded`] without the tests of status 300 and above, which the CLI skips.
pub fn replayable(dir: &Path) -> Result<Vec<Test>, TraceError> {
    let mut tests = recorded(dir)?;
    tests.retain(|test| test.expect_status < 300);
    Ok(tests)
}

/// Every test recorded in `dir` (each trace file with a root span; pre-app-start files
/// have none), whatever its status, in the CLI's order, with its request as the CLI sends
/// it.
pub fn recorded(dir: &Path) -> Result<Vec<Test>, TraceError> {
    let mut tests = Vec::new();
    for path in trace_files(dir)? {
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(source) => return Err(TraceError::Read { path, source }),
        };
        let test = match test_of(&text) {
            Ok(test) => test,
            Err(source) => return Err(TraceError::Parse { path, source }),
        };
        if let Some(test) = test {
            tests.push(test);
        }
    }
    Ok(tests)
}

/// The test of one trace file; `None` when it has no root span.
fn test_of(text: &[u8]) -> Result<Option<Test>, ParseError> {
    let spans = read::parse_spans(text)?;
    let Some(test) = read::replay_test(&spans)? else {
        return Ok(None);
    };
    let name = spans
        .iter()
        .find(|span| span.is_root_span)
        .map(|span| span.name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| test.trace_id.clone());
    let mut headers = vec![("x-td-trace-id".to_owned(), test.trace_id.clone())];
    if test.body.is_some() {
        set_header(&mut headers, "Content-Type", "application/json");
    }
    for (name, value) in &test.headers {
        set_header(&mut headers, name, value);
    }
    headers.retain(|(name, _)| {
        !WRITTEN_BY_THE_CLIENT
            .iter()
            .any(|written| name.eq_ignore_ascii_case(written))
    });
    Ok(Some(Test {
        id: test.trace_id,
        name,
        method: test.method,
        target: test.path,
        headers,
        body: test.body,
        expect_status: test.status,
    }))
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
            r#"{"traceId":"t1","isRootSpan":false,"name":"child","kind":3}"#,
            "\n",
            r#"{"traceId":"t1","isRootSpan":true,"name":"POST /orders","kind":2,"packageType":1,"inputValue":{"method":"POST","target":"/orders?x=1","headers":{"content-type":"application/json; charset=utf-8","host":"localhost:1","x-n":["not a string"]},"body":"eyJhIjoxfQ=="},"outputValue":{"statusCode":201}}"#,
            "\n"
        );
        let step = test_of(trace.as_bytes())
            .expect("parses")
            .expect("has a root span");
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
                r#"{{"traceId":"{id}","isRootSpan":true,"kind":2,"packageType":1,"inputValue":{{"method":"GET","target":"/"}},"outputValue":{{"statusCode":{status}}}}}"#
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
        let ids: Vec<String> = recorded(dir.path())
            .expect("loads")
            .into_iter()
            .map(|step| step.id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(trace_files(dir.path()).expect("walks").len(), 3);
        std::fs::write(dir.path().join("d_trace_d.jsonl"), "{not json").expect("write");
        assert!(replayable(dir.path()).is_err());
    }
}
