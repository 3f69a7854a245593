//! The replay server's protocol state machine, without I/O.
//!
//! A [`ReplaySession`] is one client connection. It reads the client's bytes, answers the
//! start-up itself (no TLS, no password: `AuthenticationOk`), and answers every statement and
//! every describe of a prepared statement from the recording: when it needs one it stops
//! with [`Poll::Lookup`], the I/O layer asks the mock source, and [`ReplaySession::resume`]
//! carries on with the answer. Results are re-encoded exactly as recorded: the same field
//! descriptions, the same bytes per column, the same command tag, the same transaction status.
//!
//! Statement and portal names never reach a lookup: a statement is found by its text and
//! parameters only, so a replay may prepare statements under other names, on other
//! connections, and open more or fewer connections than the recording did.
//!
//! Answered locally, without a lookup:
//! - `Parse`, `Bind`, `Close`, `Sync`, `Flush`: their answers (`ParseComplete`,
//!   `BindComplete`, `CloseComplete`, `ReadyForQuery`) carry nothing the recording knows
//!   better; a statement that failed to parse in the recording fails at its describe or
//!   execution, as the recorded error.
//! - The attribution marker: its answer is fixed (`RowDescription` of no field, `SELECT 0`,
//!   the transaction status unchanged; in a failed transaction the server's own `25P02`
//!   error), and it changes which request later statements belong to.
//! - A `SET` of a parameter the server does not report (`sql::plain_set`) when the recording
//!   has no answer for it: its whole visible answer is `CommandComplete("SET")`, and whatever
//!   it changes in the server only shapes later results, which come from the recording.
//!   `SET LOCAL` only inside a transaction block, and nothing in a failed transaction.
//!
//! An unmatched statement gets an `ErrorResponse` (SQLSTATE `58000`, "system error": the
//! failure is outside PostgreSQL) naming the statement, so the driver returns an error; in
//! the extended protocol the session then skips to `Sync`, as a server does.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use crate::message::{
    Authentication, Backend, FieldDescription, Framed, Framer, Frontend, MAX_MESSAGE_LEN,
    ProtocolError,
};
use crate::span::{
    DescribeInput, DescribeOutput, End, ExecuteInput, ExecuteOutput, Param, error_fields_bytes,
};
use crate::sql;

/// What the replay server asks the recording for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A statement's execution.
    Execute(ExecuteInput),
    /// A prepared statement's describe.
    Describe(DescribeInput),
}

impl Lookup {
    /// The span's `inputValue` to match (by its hash, exactly).
    pub fn input_value(&self) -> Value {
        match self {
            Lookup::Execute(input) => input.to_value(),
            Lookup::Describe(input) => input.to_value(),
        }
    }

    /// The span's `submoduleName`.
    pub fn submodule_name(&self) -> &'static str {
        match self {
            Lookup::Execute(_) => crate::span::QUERY_SUBMODULE,
            Lookup::Describe(_) => crate::span::DESCRIBE_SUBMODULE,
        }
    }

    /// The span's `name`.
    pub fn name(&self) -> &'static str {
        match self {
            Lookup::Execute(_) => crate::span::QUERY_NAME,
            Lookup::Describe(_) => crate::span::DESCRIBE_NAME,
        }
    }

    /// The statement's text.
    pub fn text(&self) -> &str {
        match self {
            Lookup::Execute(input) => &input.text,
            Lookup::Describe(input) => &input.text,
        }
    }
}

/// No recorded answer: why (shown to the application in the error message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unmatched {
    /// Why, e.g. "no mock found" or the mock source's own error.
    pub reason: String,
}

/// The SQLSTATE of every error the replay server makes up itself.
pub const UNMATCHED_SQLSTATE: &str = "58000";

/// Settings of the replay server's sessions.
#[derive(Debug, Clone, Default)]
pub struct ReplayConfig {
    /// `ParameterStatus` values sent at start-up, replacing the defaults by name.
    pub parameters: Vec<(String, String)>,
}

/// The `ParameterStatus` values a PostgreSQL 15 sends at start-up, as drivers read them;
/// `application_name`, `session_authorization`, `TimeZone`, `DateStyle` and `IntervalStyle`
/// follow the client's start-up parameters when it gives them.
fn default_parameters() -> Vec<(&'static str, String)> {
    vec![
        ("application_name", String::new()),
        ("client_encoding", "UTF8".into()),
        ("DateStyle", "ISO, MDY".into()),
        ("default_transaction_read_only", "off".into()),
        ("in_hot_standby", "off".into()),
        ("integer_datetimes", "on".into()),
        ("IntervalStyle", "postgres".into()),
        ("is_superuser", "off".into()),
        ("server_encoding", "UTF8".into()),
        ("server_version", "15.0".into()),
        ("session_authorization", String::new()),
        ("standard_conforming_strings", "on".into()),
        ("TimeZone", "UTC".into()),
    ]
}

/// What the session needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Everything received so far is answered (write the output, read more).
    NeedInput,
    /// Look this up (under this attribution key), then call [`ReplaySession::resume`].
    Lookup {
        /// The attribution key in force on this connection.
        key: Option<u64>,
        /// What to look up.
        lookup: Lookup,
    },
    /// Close the connection after writing the output (`Terminate`, a cancel request, a
    /// fatal error).
    Close,
}

#[derive(Debug)]
struct Statement {
    text: Option<String>,
    given_types: Vec<u32>,
    described: Option<(Vec<u32>, Option<Vec<FieldDescription>>)>,
    marker: Option<u64>,
}

#[derive(Debug)]
struct Portal {
    statement: Arc<Statement>,
    input: Option<ExecuteInput>,
    /// A result looked up for `Describe` of the portal, served by its next `Execute`.
    result: Option<ExecuteOutput>,
}

#[derive(Debug)]
enum Waiting {
    Bind { portal: Bytes },
    DescribeStatement { name: Bytes },
    DescribePortal { name: Bytes },
    Execute,
    QueryStatement,
}

#[derive(Debug)]
struct QueryProgress {
    statements: Vec<String>,
    next: usize,
}

/// One replayed client connection.
#[derive(Debug)]
pub struct ReplaySession {
    config: Arc<ReplayConfig>,
    process_id: i32,
    framer: Framer,
    started: bool,
    statements: HashMap<Bytes, Arc<Statement>>,
    portals: HashMap<Bytes, Portal>,
    key: Option<u64>,
    status: u8,
    skipping_to_sync: bool,
    waiting: Option<Waiting>,
    query: Option<QueryProgress>,
    closing: bool,
}

impl ReplaySession {
    /// A session for a new connection; `process_id` goes into its `BackendKeyData`.
    pub fn new(config: Arc<ReplayConfig>, process_id: i32) -> ReplaySession {
        ReplaySession {
            config,
            process_id,
            framer: Framer::new(true, MAX_MESSAGE_LEN),
            started: false,
            statements: HashMap::new(),
            portals: HashMap::new(),
            key: None,
            status: b'I',
            skipping_to_sync: false,
            waiting: None,
            query: None,
            closing: false,
        }
    }

    /// The attribution key in force.
    pub fn key(&self) -> Option<u64> {
        self.key
    }

    /// Bytes from the client.
    pub fn client_bytes(&mut self, chunk: Bytes) {
        self.framer.push(chunk);
    }

    /// Answers what can be answered, appending to `out`, until a lookup is needed or the
    /// input is used up.
    pub fn poll(&mut self, out: &mut BytesMut) -> Poll {
        if self.closing {
            return Poll::Close;
        }
        if let Some(waiting) = &self.waiting {
            // The caller must resume first; asking again is harmless.
            tracing::debug!(?waiting, "poll while a lookup is outstanding");
            return Poll::NeedInput;
        }
        loop {
            if let Some(poll) = self.next_query_statement(out) {
                return poll;
            }
            let framed = match self.framer.next_frame() {
                Ok(Some(framed)) => framed,
                Ok(None) => return Poll::NeedInput,
                Err(error) => return self.fatal(out, &error),
            };
            let Framed::Message(frame) = framed else {
                // Never: the framer's limit is the protocol's maximum.
                continue;
            };
            let message = match Frontend::decode_frame(frame) {
                Ok(message) => message,
                Err(error) => return self.fatal(out, &error),
            };
            if let Some(poll) = self.message(message, out) {
                return poll;
            }
        }
    }

    fn fatal(&mut self, out: &mut BytesMut, error: &ProtocolError) -> Poll {
        tracing::warn!(%error, "replay server: malformed message from the client; closing");
        encode(
            out,
            &Backend::ErrorResponse(fields(
                "FATAL",
                "08P01",
                &format!("invalid message: {error}"),
            )),
        );
        self.closing = true;
        Poll::Close
    }

    fn message(&mut self, message: Frontend, out: &mut BytesMut) -> Option<Poll> {
        if !self.started {
            return self.startup(message, out);
        }
        if self.skipping_to_sync && !matches!(message, Frontend::Sync | Frontend::Terminate) {
            return None;
        }
        match message {
            Frontend::Query(query) => self.simple_query(&query, out),
            Frontend::Parse(parse) => {
                let text = std::str::from_utf8(&parse.query).ok().map(str::to_owned);
                let marker = sql::parse_marker(&parse.query);
                self.statements.insert(
                    parse.name,
                    Arc::new(Statement {
                        text,
                        given_types: parse.param_types,
                        described: None,
                        marker,
                    }),
                );
                encode(out, &Backend::ParseComplete);
                None
            }
            Frontend::Bind(bind) => {
                let Some(statement) = self.statements.get(&bind.statement) else {
                    let message = format!(
                        "prepared statement \"{}\" does not exist",
                        String::from_utf8_lossy(&bind.statement)
                    );
                    self.extended_error(out, fields("ERROR", "26000", &message));
                    return None;
                };
                let statement = Arc::clone(statement);
                let input = statement.text.as_ref().map(|text| ExecuteInput {
                    text: text.clone(),
                    param_types: match &statement.described {
                        Some((types, _)) => types.clone(),
                        None => statement.given_types.clone(),
                    },
                    params: bind
                        .params
                        .iter()
                        .enumerate()
                        .map(|(i, value)| Param {
                            format: format_of(&bind.param_formats, i),
                            value: value.clone(),
                        })
                        .collect(),
                    result_formats: bind.result_formats.clone(),
                });
                let marker = statement.marker.is_some();
                self.portals.insert(
                    bind.portal.clone(),
                    Portal {
                        statement,
                        input: input.clone(),
                        result: None,
                    },
                );
                if marker {
                    encode(out, &Backend::BindComplete);
                    return None;
                }
                // The execution is looked up now: a recorded Bind can fail (a value its
                // type rejects, an error while planning), and the answer to the Bind must
                // say so.
                let Some(input) = input else {
                    self.portals.remove(&bind.portal);
                    self.extended_error(
                        out,
                        unmatched_fields("a statement that is not UTF-8", "no recording"),
                    );
                    return None;
                };
                self.waiting = Some(Waiting::Bind {
                    portal: bind.portal,
                });
                Some(Poll::Lookup {
                    key: self.key,
                    lookup: Lookup::Execute(input),
                })
            }
            Frontend::Describe { target, name } => match target {
                crate::message::Target::Statement => self.describe_statement(name, out),
                crate::message::Target::Portal => self.describe_portal(name, out),
            },
            Frontend::Execute { portal, .. } => self.execute(portal, out),
            Frontend::Close { target, name } => {
                match target {
                    crate::message::Target::Statement => self.statements.remove(&name),
                    crate::message::Target::Portal => {
                        self.portals.remove(&name);
                        None
                    }
                };
                encode(out, &Backend::CloseComplete);
                None
            }
            Frontend::Sync => {
                self.skipping_to_sync = false;
                self.ready(out);
                None
            }
            Frontend::Flush
            | Frontend::CopyData(_)
            | Frontend::CopyDone
            | Frontend::CopyFail(_) => None,
            Frontend::Terminate => {
                self.closing = true;
                Some(Poll::Close)
            }
            Frontend::FunctionCall(_) => {
                encode(
                    out,
                    &Backend::ErrorResponse(fields(
                        "ERROR",
                        UNMATCHED_SQLSTATE,
                        "tusk drift replay: function calls (the fast-path interface) are not replayed",
                    )),
                );
                self.ready(out);
                None
            }
            Frontend::Password(_)
            | Frontend::Startup(_)
            | Frontend::SslRequest
            | Frontend::GssEncRequest
            | Frontend::CancelRequest { .. } => Some(self.fatal(
                out,
                &ProtocolError::Invalid {
                    message: "client message",
                    problem: "a start-up message after the start-up".to_owned(),
                },
            )),
        }
    }

    fn startup(&mut self, message: Frontend, out: &mut BytesMut) -> Option<Poll> {
        match message {
            Frontend::SslRequest | Frontend::GssEncRequest => {
                // No TLS, no GSS encryption: the client goes on in the clear.
                out.extend_from_slice(b"N");
                None
            }
            Frontend::CancelRequest { .. } => {
                // Nothing runs long enough here to cancel.
                self.closing = true;
                Some(Poll::Close)
            }
            Frontend::Startup(startup) => {
                self.framer.set_untyped(false);
                self.started = true;
                let unsupported: Vec<Bytes> = startup
                    .params
                    .iter()
                    .filter(|(name, _)| name.starts_with(b"_pq_."))
                    .map(|(name, _)| name.clone())
                    .collect();
                if startup.version != crate::message::PROTOCOL_VERSION_3_0
                    || !unsupported.is_empty()
                {
                    encode(
                        out,
                        &Backend::NegotiateProtocolVersion {
                            newest_minor: 0,
                            options: unsupported,
                        },
                    );
                }
                encode(out, &Backend::Authentication(Authentication::Ok));
                let from_client = |name: &str| {
                    startup
                        .params
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name.as_bytes()))
                        .and_then(|(_, value)| std::str::from_utf8(value).ok())
                        .map(str::to_owned)
                };
                for (name, default) in default_parameters() {
                    let configured = self
                        .config
                        .parameters
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, value)| value.clone());
                    let echoed = match name {
                        "application_name" | "TimeZone" | "DateStyle" | "IntervalStyle" => {
                            from_client(name)
                        }
                        "session_authorization" => from_client("user"),
                        _ => None,
                    };
                    let value = echoed.or(configured).unwrap_or(default);
                    encode(
                        out,
                        &Backend::ParameterStatus {
                            name: Bytes::from_static(name.as_bytes()),
                            value: Bytes::from(value),
                        },
                    );
                }
                encode(
                    out,
                    &Backend::BackendKeyData {
                        process_id: self.process_id,
                        secret_key: Bytes::copy_from_slice(&self.process_id.to_be_bytes()),
                    },
                );
                self.ready(out);
                None
            }
            other => Some(self.fatal(
                out,
                &ProtocolError::Invalid {
                    message: "client message",
                    problem: format!("expected a start-up message, got {other:?}"),
                },
            )),
        }
    }

    fn ready(&mut self, out: &mut BytesMut) {
        encode(out, &Backend::ReadyForQuery(self.status));
    }

    /// An error in the extended protocol: the transaction fails, the rest up to `Sync` is
    /// skipped.
    fn extended_error(&mut self, out: &mut BytesMut, fields: Vec<(u8, Bytes)>) {
        encode(out, &Backend::ErrorResponse(fields));
        if self.status == b'T' {
            self.status = b'E';
        }
        self.skipping_to_sync = true;
    }

    fn simple_query(&mut self, query: &Bytes, out: &mut BytesMut) -> Option<Poll> {
        if let Some(key) = sql::parse_marker(query) {
            self.answer_marker(key, out);
            self.ready(out);
            return None;
        }
        let Ok(text) = std::str::from_utf8(query) else {
            encode(
                out,
                &Backend::ErrorResponse(fields(
                    "ERROR",
                    "22021",
                    "tusk drift replay: a query that is not UTF-8",
                )),
            );
            self.ready(out);
            return None;
        };
        let statements: Vec<String> = sql::split_statements(text)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if statements.is_empty() && text.trim().is_empty() {
            encode(out, &Backend::EmptyQueryResponse);
            self.ready(out);
            return None;
        }
        let statements = if statements.is_empty() {
            vec![text.trim().to_owned()]
        } else {
            statements
        };
        self.query = Some(QueryProgress {
            statements,
            next: 0,
        });
        None
    }

    fn answer_marker(&mut self, key: u64, out: &mut BytesMut) {
        if self.status == b'E' {
            encode(out, &Backend::ErrorResponse(aborted_fields()));
            return;
        }
        self.key = Some(key);
        encode(out, &Backend::RowDescription(Vec::new()));
        encode(
            out,
            &Backend::CommandComplete(Bytes::from_static(b"SELECT 0")),
        );
    }

    /// Issues the lookup of the next statement of a simple query, or finishes it.
    fn next_query_statement(&mut self, out: &mut BytesMut) -> Option<Poll> {
        let progress = self.query.as_mut()?;
        let Some(text) = progress.statements.get(progress.next).cloned() else {
            self.query = None;
            self.ready(out);
            return None;
        };
        progress.next += 1;
        self.waiting = Some(Waiting::QueryStatement);
        Some(Poll::Lookup {
            key: self.key,
            lookup: Lookup::Execute(ExecuteInput {
                text,
                param_types: Vec::new(),
                params: Vec::new(),
                result_formats: Vec::new(),
            }),
        })
    }

    fn describe_statement(&mut self, name: Bytes, out: &mut BytesMut) -> Option<Poll> {
        let Some(statement) = self.statements.get(&name) else {
            let message = format!(
                "prepared statement \"{}\" does not exist",
                String::from_utf8_lossy(&name)
            );
            self.extended_error(out, fields("ERROR", "26000", &message));
            return None;
        };
        if statement.marker.is_some() {
            encode(out, &Backend::ParameterDescription(Vec::new()));
            encode(out, &Backend::RowDescription(Vec::new()));
            return None;
        }
        let Some(text) = statement.text.clone() else {
            self.extended_error(
                out,
                unmatched_fields("a statement that is not UTF-8", "no recording"),
            );
            return None;
        };
        let lookup = Lookup::Describe(DescribeInput {
            text,
            param_types: statement.given_types.clone(),
        });
        self.waiting = Some(Waiting::DescribeStatement { name });
        Some(Poll::Lookup {
            key: self.key,
            lookup,
        })
    }

    fn describe_portal(&mut self, name: Bytes, out: &mut BytesMut) -> Option<Poll> {
        let Some(portal) = self.portals.get(&name) else {
            let message = format!(
                "portal \"{}\" does not exist",
                String::from_utf8_lossy(&name)
            );
            self.extended_error(out, fields("ERROR", "34000", &message));
            return None;
        };
        if portal.statement.marker.is_some() {
            encode(out, &Backend::RowDescription(Vec::new()));
            return None;
        }
        if let Some(result) = &portal.result {
            encode(
                out,
                &match &result.fields {
                    Some(fields) => Backend::RowDescription(fields.clone()),
                    None => Backend::NoData,
                },
            );
            return None;
        }
        let Some(input) = portal.input.clone() else {
            self.extended_error(
                out,
                unmatched_fields("a statement that is not UTF-8", "no recording"),
            );
            return None;
        };
        self.waiting = Some(Waiting::DescribePortal { name });
        Some(Poll::Lookup {
            key: self.key,
            lookup: Lookup::Execute(input),
        })
    }

    fn execute(&mut self, name: Bytes, out: &mut BytesMut) -> Option<Poll> {
        let Some(portal) = self.portals.get_mut(&name) else {
            let message = format!(
                "portal \"{}\" does not exist",
                String::from_utf8_lossy(&name)
            );
            self.extended_error(out, fields("ERROR", "34000", &message));
            return None;
        };
        if let Some(key) = portal.statement.marker {
            if self.status == b'E' {
                self.extended_error(out, aborted_fields());
                return None;
            }
            self.key = Some(key);
            encode(
                out,
                &Backend::CommandComplete(Bytes::from_static(b"SELECT 0")),
            );
            return None;
        }
        if let Some(result) = portal.result.take() {
            self.send_execution(result, false, out);
            return None;
        }
        let Some(input) = portal.input.clone() else {
            self.extended_error(
                out,
                unmatched_fields("a statement that is not UTF-8", "no recording"),
            );
            return None;
        };
        self.waiting = Some(Waiting::Execute);
        Some(Poll::Lookup {
            key: self.key,
            lookup: Lookup::Execute(input),
        })
    }

    /// Carries on with the answer to the last [`Poll::Lookup`] (the recorded output value,
    /// or why there is none); then call [`ReplaySession::poll`] again.
    pub fn resume(
        &mut self,
        lookup: &Lookup,
        answer: Result<Value, Unmatched>,
        out: &mut BytesMut,
    ) {
        let Some(waiting) = self.waiting.take() else {
            tracing::warn!("replay server: an answer to no lookup");
            return;
        };
        match waiting {
            Waiting::Bind { portal } => match execution_output(answer) {
                Ok(ExecuteOutput {
                    end: End::BindError(fields),
                    transaction_status,
                    ..
                }) => {
                    self.portals.remove(&portal);
                    encode(out, &Backend::ErrorResponse(error_fields_bytes(&fields)));
                    self.status = transaction_status;
                    self.skipping_to_sync = true;
                }
                Ok(output) => {
                    encode(out, &Backend::BindComplete);
                    if let Some(portal) = self.portals.get_mut(&portal) {
                        portal.result = Some(output);
                    }
                }
                Err(unmatched) => {
                    self.portals.remove(&portal);
                    self.extended_error(
                        out,
                        unmatched_fields(&describe_lookup(lookup), &unmatched.reason),
                    );
                }
            },
            Waiting::DescribeStatement { name } => {
                let output = answer.and_then(|value| {
                    DescribeOutput::from_value(&value).map_err(|error| Unmatched {
                        reason: error.to_string(),
                    })
                });
                match output {
                    Ok(DescribeOutput::Described {
                        param_types,
                        fields,
                    }) => {
                        encode(out, &Backend::ParameterDescription(param_types.clone()));
                        encode(
                            out,
                            &match &fields {
                                Some(fields) => Backend::RowDescription(fields.clone()),
                                None => Backend::NoData,
                            },
                        );
                        if let Some(statement) = self.statements.get_mut(&name) {
                            let mut updated = Statement {
                                text: statement.text.clone(),
                                given_types: statement.given_types.clone(),
                                described: None,
                                marker: statement.marker,
                            };
                            updated.described = Some((param_types, fields));
                            *statement = Arc::new(updated);
                        }
                    }
                    Ok(DescribeOutput::Error(fields)) => {
                        self.extended_error(out, error_fields_bytes(&fields));
                    }
                    Err(unmatched) => {
                        self.extended_error(
                            out,
                            unmatched_fields(&describe_lookup(lookup), &unmatched.reason),
                        );
                    }
                }
            }
            Waiting::DescribePortal { name } => match execution_output(answer) {
                Ok(output) => {
                    encode(
                        out,
                        &match &output.fields {
                            Some(fields) => Backend::RowDescription(fields.clone()),
                            None => Backend::NoData,
                        },
                    );
                    if let Some(portal) = self.portals.get_mut(&name) {
                        portal.result = Some(output);
                    }
                }
                Err(unmatched) => self.extended_error(
                    out,
                    unmatched_fields(&describe_lookup(lookup), &unmatched.reason),
                ),
            },
            Waiting::Execute => match execution_output(answer) {
                Ok(output) => self.send_execution(output, false, out),
                Err(unmatched) => self.extended_error(
                    out,
                    unmatched_fields(&describe_lookup(lookup), &unmatched.reason),
                ),
            },
            Waiting::QueryStatement => {
                let text = lookup.text().to_owned();
                match execution_output(answer) {
                    Ok(output) => self.send_execution(output, true, out),
                    Err(unmatched) => {
                        let local_set = match sql::plain_set(&text) {
                            Some(sql::SetScope::Session) => self.status != b'E',
                            Some(sql::SetScope::Local) => self.status == b'T',
                            None => false,
                        };
                        if local_set {
                            encode(out, &Backend::CommandComplete(Bytes::from_static(b"SET")));
                        } else {
                            encode(
                                out,
                                &Backend::ErrorResponse(unmatched_fields(
                                    &describe_lookup(lookup),
                                    &unmatched.reason,
                                )),
                            );
                            if self.status == b'T' {
                                self.status = b'E';
                            }
                            self.end_query(out);
                        }
                    }
                }
            }
        }
    }

    /// Stops a simple query after an error: no later statement runs.
    fn end_query(&mut self, out: &mut BytesMut) {
        if self.query.take().is_some() {
            self.ready(out);
        }
    }

    fn send_execution(&mut self, output: ExecuteOutput, simple: bool, out: &mut BytesMut) {
        if simple && let Some(fields) = &output.fields {
            encode(out, &Backend::RowDescription(fields.clone()));
        }
        for row in &output.rows {
            encode(out, &Backend::DataRow(row.clone()));
        }
        self.status = output.transaction_status;
        match output.end {
            End::Command(tag) => encode(out, &Backend::CommandComplete(Bytes::from(tag))),
            End::Suspended => encode(out, &Backend::PortalSuspended),
            End::EmptyQuery => encode(out, &Backend::EmptyQueryResponse),
            End::Error(fields) | End::BindError(fields) => {
                encode(out, &Backend::ErrorResponse(error_fields_bytes(&fields)));
                if simple {
                    self.end_query(out);
                } else {
                    self.skipping_to_sync = true;
                }
            }
        }
    }
}

fn execution_output(answer: Result<Value, Unmatched>) -> Result<ExecuteOutput, Unmatched> {
    answer.and_then(|value| {
        ExecuteOutput::from_value(&value).map_err(|error| Unmatched {
            reason: error.to_string(),
        })
    })
}

/// The statement, as the error message names it: its text and its parameters.
fn describe_lookup(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Execute(input) if input.params.is_empty() => format!("statement {:?}", input.text),
        Lookup::Execute(input) => format!(
            "statement {:?} with parameters {}",
            input.text,
            input.to_value()["parameters"]
        ),
        Lookup::Describe(input) => format!("prepare of statement {:?}", input.text),
    }
}

fn format_of(formats: &[i16], i: usize) -> i16 {
    match formats {
        [] => 0,
        [one] => *one,
        many => many.get(i).copied().unwrap_or(0),
    }
}

fn encode(out: &mut BytesMut, message: &Backend) {
    if let Err(error) = message.encode(out) {
        // Only a recording holding values the protocol cannot carry gets here.
        tracing::warn!(%error, "replay server: a recorded answer cannot be encoded");
        let fallback = Backend::ErrorResponse(fields(
            "ERROR",
            UNMATCHED_SQLSTATE,
            &format!("tusk drift replay: the recorded answer cannot be sent: {error}"),
        ));
        let _ = fallback.encode(out);
    }
}

fn fields(severity: &str, code: &str, message: &str) -> Vec<(u8, Bytes)> {
    vec![
        (b'S', Bytes::from(severity.to_owned())),
        (b'V', Bytes::from(severity.to_owned())),
        (b'C', Bytes::from(code.to_owned())),
        (b'M', Bytes::from(message.to_owned())),
    ]
}

fn unmatched_fields(what: &str, reason: &str) -> Vec<(u8, Bytes)> {
    fields(
        "ERROR",
        UNMATCHED_SQLSTATE,
        &format!("tusk drift replay: no recorded result for {what}: {reason}"),
    )
}

fn aborted_fields() -> Vec<(u8, Bytes)> {
    fields(
        "ERROR",
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

/// The bytes PostgreSQL answers the attribution marker with, `ReadyForQuery` included, in
/// transaction status `status` (the proxy's local answer).
pub fn marker_answer(status: u8, out: &mut BytesMut) {
    if status == b'E' {
        encode(out, &Backend::ErrorResponse(aborted_fields()));
    } else {
        encode(out, &Backend::RowDescription(Vec::new()));
        encode(
            out,
            &Backend::CommandComplete(Bytes::from_static(b"SELECT 0")),
        );
    }
    encode(out, &Backend::ReadyForQuery(status));
}
