//! Statement assembly for the recording proxy, without I/O.
//!
//! A [`Recorder`] watches one connection: every message the client sends and every message
//! the server answers, in the order each side sent them. It keeps what the connection has
//! prepared (statements, their descriptions, portals) and a queue of the answers the server
//! owes (the protocol answers strictly in order), and turns them into [`Statement`]s: one per
//! executed statement (each statement of a simple query, each `Execute`), and one per
//! describe of a prepared statement. Statements are finished when the `ReadyForQuery` that
//! closes their batch arrives, which gives their transaction status.
//!
//! Attribution: each statement carries the key of the last attribution marker the client
//! sent before it on this connection ([`crate::sql::marker`]), `None` before any.
//!
//! Describes: a replay must answer a statement's `Describe` wherever the application
//! prepares it, and a pooled connection prepares a statement once and executes it in many
//! requests. So the recorder emits a statement's describe when the server answers it, and
//! again, from its cache, before the first execution of that statement under each new key.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::message::{
    Backend, DataRow, FieldDescription, Frame, Framed, Framer, Frontend, ProtocolError,
};
use crate::span::{
    DescribeInput, DescribeOutput, End, ExecuteInput, ExecuteOutput, Param, utf8_error_fields,
};
use crate::sql;

/// One finished statement, with the attribution key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// When the client sent it.
    pub started: SystemTime,
    /// When its result ended.
    pub finished: SystemTime,
    /// What it was.
    pub kind: StatementKind,
}

/// An execution or a describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// A statement executed.
    Execute {
        /// Its input value.
        input: ExecuteInput,
        /// Its output value.
        output: ExecuteOutput,
    },
    /// A prepared statement's description.
    Describe {
        /// Its input value.
        input: DescribeInput,
        /// Its output value.
        output: DescribeOutput,
    },
}

impl StatementKind {
    /// The span's `submoduleName`.
    pub fn submodule_name(&self) -> &'static str {
        match self {
            StatementKind::Execute { .. } => crate::span::QUERY_SUBMODULE,
            StatementKind::Describe { .. } => crate::span::DESCRIBE_SUBMODULE,
        }
    }

    /// The span's `name`.
    pub fn name(&self) -> &'static str {
        match self {
            StatementKind::Execute { .. } => crate::span::QUERY_NAME,
            StatementKind::Describe { .. } => crate::span::DESCRIBE_NAME,
        }
    }

    /// The span's `inputValue`.
    pub fn input_value(&self) -> serde_json::Value {
        match self {
            StatementKind::Execute { input, .. } => input.to_value(),
            StatementKind::Describe { input, .. } => input.to_value(),
        }
    }

    /// The span's `outputValue`.
    pub fn output_value(&self) -> Result<serde_json::Value, crate::span::SpanError> {
        match self {
            StatementKind::Execute { output, .. } => output.to_value(),
            StatementKind::Describe { output, .. } => output.to_value(),
        }
    }

    /// The error's message when the statement failed (the span's status message).
    pub fn error_message(&self) -> Option<String> {
        let fields = match self {
            StatementKind::Execute {
                output:
                    ExecuteOutput {
                        end: End::Error(fields) | End::BindError(fields),
                        ..
                    },
                ..
            }
            | StatementKind::Describe {
                output: DescribeOutput::Error(fields),
                ..
            } => fields,
            _ => return None,
        };
        let get = |code: u8| {
            fields
                .iter()
                .find(|(c, _)| *c == code)
                .map_or("", |(_, value)| value.as_str())
        };
        Some(format!("{}: {}", get(b'C'), get(b'M')))
    }
}

/// Where finished statements go: the SDK's span writer. Called from the proxy's recording
/// task, never from the forwarding path; it must not block for long.
pub trait StatementSink: Send + Sync + 'static {
    /// One statement, attributed to `key` (the last marker's key on its connection).
    fn statement(&self, key: Option<u64>, statement: Statement);
}

/// Limits of one connection's recorder.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// The most row bytes kept for one statement; a statement returning more is forwarded
    /// but not recorded (a replay of it then fails as unmatched, never with rows cut short).
    pub max_statement_bytes: usize,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            max_statement_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone)]
struct Described {
    param_types: Vec<u32>,
    fields: Option<Vec<FieldDescription>>,
}

#[derive(Debug, Clone)]
struct Prepared {
    /// `None` when the text is not UTF-8 (such a statement is not recorded).
    text: Option<String>,
    given_types: Vec<u32>,
    described: Option<Described>,
    /// The key under which it is a marker statement, if it is one.
    marker: Option<u64>,
}

#[derive(Debug)]
struct Portal {
    prepared: Arc<Prepared>,
    param_formats: Vec<i16>,
    params: Vec<Option<Bytes>>,
    result_formats: Vec<i16>,
    /// The answer to `Describe` of this portal, when it was asked.
    described: Option<Option<Vec<FieldDescription>>>,
}

/// A result being received.
#[derive(Debug, Default)]
struct Rows {
    fields: Option<Vec<FieldDescription>>,
    rows: Vec<DataRow>,
    bytes: usize,
    /// Why this result is not recorded, once that is known.
    skip: Option<&'static str>,
}

#[derive(Debug)]
enum Pending {
    Parse {
        name: Bytes,
        prepared: Prepared,
        started: SystemTime,
        key: Option<u64>,
    },
    Bind {
        bind: crate::message::Bind,
        key: Option<u64>,
        started: SystemTime,
    },
    DescribeStatement {
        name: Bytes,
        param_types: Option<Vec<u32>>,
        key: Option<u64>,
        started: SystemTime,
    },
    DescribePortal {
        name: Bytes,
    },
    Execute {
        portal: Bytes,
        key: Option<u64>,
        started: SystemTime,
        rows: Rows,
        /// The marker statement executed: attribution changes, nothing is recorded.
        marker: bool,
    },
    Close {
        target: crate::message::Target,
        name: Bytes,
    },
    Sync,
    Query {
        /// The statements, `None` when the query cannot be recorded (not UTF-8).
        statements: Option<Vec<String>>,
        /// Results received so far.
        done: usize,
        rows: Rows,
        key: Option<u64>,
        started: SystemTime,
        /// The query failed: the server ran no statement after the failing one.
        failed: bool,
        /// Set when the query's results do not match its statements (COPY, a split the
        /// server disagreed with): nothing more of it is recorded.
        unrecordable: bool,
    },
    /// `FunctionCall`: its result is not recorded.
    FunctionCall,
}

/// What a [`Recorder`] reports besides statements: why it stopped recording a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A message could not be read.
    #[error("{side} sent a malformed message: {error}")]
    Malformed {
        /// "client" or "server".
        side: &'static str,
        /// What was wrong.
        error: ProtocolError,
    },
    /// The server answered something the protocol does not allow at that point.
    #[error("the server's answer {answer} does not follow the client's requests")]
    OutOfStep {
        /// The message, named.
        answer: String,
    },
}

/// The statement assembly of one connection. Feed it both directions' bytes (or messages)
/// in the order each side sent them; it returns finished statements.
#[derive(Debug)]
pub struct Recorder {
    config: RecorderConfig,
    client_framer: Framer,
    server_framer: Framer,
    statements: HashMap<Bytes, Arc<Prepared>>,
    portals: HashMap<Bytes, Portal>,
    pending: std::collections::VecDeque<Pending>,
    /// Finished, waiting for the batch's `ReadyForQuery`.
    batch: Vec<(Option<u64>, Statement)>,
    key: Option<u64>,
    described_under_key: HashSet<DescribeInput>,
    /// Client-side view of marker statements and portals (named by the client before the
    /// server confirms), so attribution follows the client's order.
    client_marker_statements: HashMap<Bytes, u64>,
    client_marker_portals: HashMap<Bytes, u64>,
    stopped: bool,
    started_up: bool,
}

impl Recorder {
    /// A recorder for a new connection (its first client message is the start-up).
    pub fn new(config: RecorderConfig) -> Recorder {
        let max = config
            .max_statement_bytes
            .min(crate::message::MAX_MESSAGE_LEN);
        Recorder {
            config,
            client_framer: Framer::new(true, crate::message::MAX_MESSAGE_LEN),
            server_framer: Framer::new(false, max),
            statements: HashMap::new(),
            portals: HashMap::new(),
            pending: std::collections::VecDeque::new(),
            batch: Vec::new(),
            key: None,
            described_under_key: HashSet::new(),
            client_marker_statements: HashMap::new(),
            client_marker_portals: HashMap::new(),
            stopped: false,
            started_up: false,
        }
    }

    /// The attribution key in force.
    pub fn key(&self) -> Option<u64> {
        self.key
    }

    /// Whether recording stopped on this connection (after a [`RecordError`]).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes the client sent. Finished statements are appended to `out`.
    pub fn client_bytes(
        &mut self,
        chunk: Bytes,
        at: SystemTime,
        out: &mut Vec<(Option<u64>, Statement)>,
    ) -> Result<(), RecordError> {
        if self.stopped {
            return Ok(());
        }
        self.client_framer.push(chunk);
        loop {
            let framed = match self.client_framer.next_frame() {
                Ok(Some(framed)) => framed,
                Ok(None) => return Ok(()),
                Err(error) => return self.stop("client", error),
            };
            let Framed::Message(frame) = framed else {
                // The framer's client limit is the protocol's own: never reached by a
                // message a server would accept.
                continue;
            };
            let untyped = frame.tag.is_none();
            let message = match Frontend::decode_frame(frame) {
                Ok(message) => message,
                Err(error) => return self.stop("client", error),
            };
            if untyped
                && matches!(
                    message,
                    Frontend::Startup(_) | Frontend::CancelRequest { .. }
                )
            {
                self.client_framer.set_untyped(false);
                self.started_up = true;
            }
            self.client(message, at, out);
        }
    }

    /// Bytes the server sent. Finished statements are appended to `out`.
    pub fn server_bytes(
        &mut self,
        chunk: Bytes,
        at: SystemTime,
        out: &mut Vec<(Option<u64>, Statement)>,
    ) -> Result<(), RecordError> {
        if self.stopped {
            return Ok(());
        }
        self.server_framer.push(chunk);
        loop {
            match self.server_framer.next_frame() {
                Ok(Some(Framed::Message(Frame {
                    tag: Some(tag),
                    body,
                }))) => {
                    let message = match Backend::decode(tag, body) {
                        Ok(message) => message,
                        Err(error) => return self.stop("server", error),
                    };
                    if let Err(error) = self.server(message, at, out) {
                        self.stopped = true;
                        return Err(error);
                    }
                }
                Ok(Some(Framed::Oversized { tag, length })) => {
                    tracing::warn!(
                        tag = tag.map(char::from).map(String::from),
                        length,
                        limit = self.config.max_statement_bytes,
                        "a server message over the recording limit: its statement is not recorded"
                    );
                    self.mark_oversized();
                }
                Ok(Some(Framed::Message(_))) => {}
                Ok(None) => return Ok(()),
                Err(error) => return self.stop("server", error),
            }
        }
    }

    fn stop(&mut self, side: &'static str, error: ProtocolError) -> Result<(), RecordError> {
        self.stopped = true;
        Err(RecordError::Malformed { side, error })
    }

    fn mark_oversized(&mut self) {
        match self.pending.front_mut() {
            Some(Pending::Execute { rows, .. }) | Some(Pending::Query { rows, .. }) => {
                rows.skip = Some("a message over the recording limit");
            }
            _ => {}
        }
    }

    /// Sets the attribution key, as a marker the proxy answered itself does.
    pub fn marker(&mut self, key: u64) {
        self.set_key(key);
    }

    fn set_key(&mut self, key: u64) {
        if self.key != Some(key) {
            self.key = Some(key);
            self.described_under_key.clear();
        }
    }

    /// One message from the client.
    pub fn client(
        &mut self,
        message: Frontend,
        at: SystemTime,
        _out: &mut Vec<(Option<u64>, Statement)>,
    ) {
        let key = self.key;
        match message {
            Frontend::Query(query) => {
                if let Some(marker) = sql::parse_marker(&query) {
                    self.set_key(marker);
                    self.pending.push_back(Pending::Query {
                        statements: Some(Vec::new()),
                        done: 0,
                        rows: Rows::default(),
                        key,
                        started: at,
                        failed: false,
                        unrecordable: true,
                    });
                    return;
                }
                let statements = std::str::from_utf8(&query).ok().map(|text| {
                    let split = sql::split_statements(text);
                    if split.is_empty() {
                        vec![text.trim().to_owned()]
                    } else {
                        split.into_iter().map(str::to_owned).collect()
                    }
                });
                self.pending.push_back(Pending::Query {
                    statements,
                    done: 0,
                    rows: Rows::default(),
                    key,
                    started: at,
                    failed: false,
                    unrecordable: false,
                });
            }
            Frontend::Parse(parse) => {
                let marker = sql::parse_marker(&parse.query);
                match marker {
                    Some(marker) => {
                        self.client_marker_statements
                            .insert(parse.name.clone(), marker);
                    }
                    None => {
                        self.client_marker_statements.remove(&parse.name);
                    }
                }
                self.pending.push_back(Pending::Parse {
                    name: parse.name,
                    prepared: Prepared {
                        text: std::str::from_utf8(&parse.query).ok().map(str::to_owned),
                        given_types: parse.param_types,
                        described: None,
                        marker,
                    },
                    started: at,
                    key,
                });
            }
            Frontend::Bind(bind) => {
                match self.client_marker_statements.get(&bind.statement) {
                    Some(&marker) => {
                        self.client_marker_portals
                            .insert(bind.portal.clone(), marker);
                    }
                    None => {
                        self.client_marker_portals.remove(&bind.portal);
                    }
                }
                self.pending.push_back(Pending::Bind {
                    bind,
                    key,
                    started: at,
                });
            }
            Frontend::Describe { target, name } => match target {
                crate::message::Target::Statement => {
                    self.pending.push_back(Pending::DescribeStatement {
                        name,
                        param_types: None,
                        key,
                        started: at,
                    })
                }
                crate::message::Target::Portal => {
                    self.pending.push_back(Pending::DescribePortal { name })
                }
            },
            Frontend::Execute { portal, .. } => {
                let marker = self.client_marker_portals.get(&portal).copied();
                if let Some(marker) = marker {
                    self.set_key(marker);
                }
                self.pending.push_back(Pending::Execute {
                    portal,
                    key,
                    started: at,
                    rows: Rows::default(),
                    marker: marker.is_some(),
                });
            }
            Frontend::Close { target, name } => {
                self.pending.push_back(Pending::Close { target, name });
            }
            Frontend::Sync => self.pending.push_back(Pending::Sync),
            Frontend::FunctionCall(_) => self.pending.push_back(Pending::FunctionCall),
            Frontend::Startup(_)
            | Frontend::SslRequest
            | Frontend::GssEncRequest
            | Frontend::CancelRequest { .. }
            | Frontend::Password(_)
            | Frontend::Flush
            | Frontend::Terminate
            | Frontend::CopyData(_)
            | Frontend::CopyDone
            | Frontend::CopyFail(_) => {}
        }
    }

    /// One message from the server.
    pub fn server(
        &mut self,
        message: Backend,
        at: SystemTime,
        out: &mut Vec<(Option<u64>, Statement)>,
    ) -> Result<(), RecordError> {
        match &message {
            // Asynchronous or start-up messages: not answers to a request.
            Backend::ParameterStatus { .. }
            | Backend::NoticeResponse(_)
            | Backend::NotificationResponse { .. }
            | Backend::Authentication(_)
            | Backend::BackendKeyData { .. }
            | Backend::NegotiateProtocolVersion { .. }
            | Backend::CopyData(_)
            | Backend::CopyDone => return Ok(()),
            _ => {}
        }
        let Some(front) = self.pending.pop_front() else {
            // Before the start-up completes, the server's ReadyForQuery and errors answer
            // no request of ours.
            if !self.started_up
                || matches!(
                    message,
                    Backend::ReadyForQuery(_) | Backend::ErrorResponse(_)
                )
            {
                return Ok(());
            }
            return Err(out_of_step(&message));
        };
        match (front, message) {
            (Pending::Parse { name, prepared, .. }, Backend::ParseComplete) => {
                self.statements.insert(name, Arc::new(prepared));
            }
            (Pending::Bind { bind, .. }, Backend::BindComplete) => {
                if let Some(prepared) = self.statements.get(&bind.statement) {
                    self.portals.insert(
                        bind.portal,
                        Portal {
                            prepared: Arc::clone(prepared),
                            param_formats: bind.param_formats,
                            params: bind.params,
                            result_formats: bind.result_formats,
                            described: None,
                        },
                    );
                }
            }
            (
                Pending::DescribeStatement {
                    name,
                    param_types: None,
                    key,
                    started,
                },
                Backend::ParameterDescription(types),
            ) => self.pending.push_front(Pending::DescribeStatement {
                name,
                param_types: Some(types),
                key,
                started,
            }),
            (
                Pending::DescribeStatement {
                    name,
                    param_types: Some(param_types),
                    key,
                    started,
                },
                answer @ (Backend::RowDescription(_) | Backend::NoData),
            ) => {
                let fields = match answer {
                    Backend::RowDescription(fields) => Some(fields),
                    _ => None,
                };
                self.finish_statement_describe(name, param_types, fields, key, started, at);
            }
            (
                Pending::DescribePortal { name },
                answer @ (Backend::RowDescription(_) | Backend::NoData),
            ) => {
                let fields = match answer {
                    Backend::RowDescription(fields) => Some(fields),
                    _ => None,
                };
                if let Some(portal) = self.portals.get_mut(&name) {
                    portal.described = Some(fields);
                }
            }
            (
                Pending::Execute {
                    portal,
                    key,
                    started,
                    mut rows,
                    marker,
                },
                Backend::DataRow(row),
            ) => {
                push_row(&mut rows, row, self.config.max_statement_bytes);
                self.pending.push_front(Pending::Execute {
                    portal,
                    key,
                    started,
                    rows,
                    marker,
                });
            }
            (
                Pending::Execute {
                    portal,
                    key,
                    started,
                    mut rows,
                    marker,
                },
                Backend::CopyInResponse(_)
                | Backend::CopyOutResponse(_)
                | Backend::CopyBothResponse(_),
            ) => {
                rows.skip = Some("COPY is forwarded, not recorded");
                self.pending.push_front(Pending::Execute {
                    portal,
                    key,
                    started,
                    rows,
                    marker,
                });
            }
            (
                Pending::Execute {
                    portal,
                    key,
                    started,
                    rows,
                    marker,
                },
                end @ (Backend::CommandComplete(_)
                | Backend::EmptyQueryResponse
                | Backend::PortalSuspended
                | Backend::ErrorResponse(_)),
            ) => {
                let is_error = matches!(end, Backend::ErrorResponse(_));
                if !marker {
                    self.finish_execute(&portal, key, started, rows, end, at);
                }
                if is_error {
                    self.skip_to_sync();
                }
            }
            (Pending::Close { target, name }, Backend::CloseComplete) => match target {
                crate::message::Target::Statement => {
                    self.statements.remove(&name);
                }
                crate::message::Target::Portal => {
                    self.portals.remove(&name);
                }
            },
            (Pending::Sync, Backend::ReadyForQuery(status)) => self.ready(status, out),
            // An implicit transaction that fails to commit at Sync.
            (Pending::Sync, Backend::ErrorResponse(_)) => self.pending.push_front(Pending::Sync),
            (mut query @ Pending::Query { .. }, message) => {
                let Pending::Query {
                    rows, unrecordable, ..
                } = &mut query
                else {
                    unreachable!("matched a query")
                };
                match message {
                    Backend::RowDescription(fields) => rows.fields = Some(fields),
                    Backend::DataRow(row) => push_row(rows, row, self.config.max_statement_bytes),
                    Backend::CopyInResponse(_)
                    | Backend::CopyOutResponse(_)
                    | Backend::CopyBothResponse(_) => {
                        rows.skip = Some("COPY is forwarded, not recorded");
                    }
                    end @ (Backend::CommandComplete(_)
                    | Backend::EmptyQueryResponse
                    | Backend::ErrorResponse(_)) => {
                        self.finish_query_statement(&mut query, end, at);
                    }
                    Backend::ReadyForQuery(status) => {
                        self.finish_query(&query);
                        self.ready(status, out);
                        return Ok(());
                    }
                    other => {
                        *unrecordable = true;
                        self.pending.push_front(query);
                        return Err(out_of_step(&other));
                    }
                }
                self.pending.push_front(query);
            }
            (Pending::FunctionCall, Backend::ReadyForQuery(status)) => self.ready(status, out),
            (
                Pending::FunctionCall,
                Backend::FunctionCallResponse(_) | Backend::ErrorResponse(_),
            ) => {
                self.pending.push_front(Pending::FunctionCall);
            }
            // An error answering an extended-protocol message: the server skips to Sync.
            (failed, Backend::ErrorResponse(fields)) => {
                if let Pending::Bind { bind, key, started } = &failed
                    && let Some(prepared) = self.statements.get(&bind.statement).cloned()
                    && prepared.marker.is_none()
                    && let Some(fields) = utf8_error_fields(&fields)
                {
                    let portal = Portal {
                        prepared,
                        param_formats: bind.param_formats.clone(),
                        params: bind.params.clone(),
                        result_formats: bind.result_formats.clone(),
                        described: Some(None),
                    };
                    self.record_execution(
                        &portal,
                        *key,
                        *started,
                        Rows::default(),
                        End::BindError(fields),
                        at,
                    );
                }
                if let Pending::Parse {
                    prepared,
                    started,
                    key,
                    ..
                } = failed
                    && prepared.marker.is_none()
                    && let (Some(text), Some(fields)) = (prepared.text, utf8_error_fields(&fields))
                {
                    let input = DescribeInput {
                        text,
                        param_types: prepared.given_types,
                    };
                    self.batch.push((
                        key,
                        Statement {
                            started,
                            finished: at,
                            kind: StatementKind::Describe {
                                input,
                                output: DescribeOutput::Error(fields),
                            },
                        },
                    ));
                }
                self.skip_to_sync();
            }
            (front, message) => {
                self.pending.push_front(front);
                return Err(out_of_step(&message));
            }
        }
        Ok(())
    }

    /// After an error in the extended protocol the server ignores everything up to the next
    /// Sync: so do we.
    fn skip_to_sync(&mut self) {
        while let Some(front) = self.pending.front() {
            if matches!(front, Pending::Sync) {
                break;
            }
            self.pending.pop_front();
        }
    }

    /// `ReadyForQuery`: the batch is finished, with this transaction status.
    fn ready(&mut self, status: u8, out: &mut Vec<(Option<u64>, Statement)>) {
        for (key, mut statement) in self.batch.drain(..) {
            if let StatementKind::Execute { output, .. } = &mut statement.kind {
                output.transaction_status = status;
            }
            out.push((key, statement));
        }
        if status == b'I' {
            // Outside a transaction block no portal survives.
            self.portals.clear();
        }
    }

    fn finish_statement_describe(
        &mut self,
        name: Bytes,
        param_types: Vec<u32>,
        fields: Option<Vec<FieldDescription>>,
        key: Option<u64>,
        started: SystemTime,
        at: SystemTime,
    ) {
        let Some(prepared) = self.statements.get_mut(&name) else {
            return;
        };
        let prepared = Arc::make_mut(prepared);
        prepared.described = Some(Described {
            param_types: param_types.clone(),
            fields: fields.clone(),
        });
        let (Some(text), None) = (&prepared.text, prepared.marker) else {
            return;
        };
        let input = DescribeInput {
            text: text.clone(),
            param_types: prepared.given_types.clone(),
        };
        self.described_under_key.insert(input.clone());
        self.batch.push((
            key,
            Statement {
                started,
                finished: at,
                kind: StatementKind::Describe {
                    input,
                    output: DescribeOutput::Described {
                        param_types,
                        fields,
                    },
                },
            },
        ));
    }

    fn finish_execute(
        &mut self,
        portal_name: &Bytes,
        key: Option<u64>,
        started: SystemTime,
        rows: Rows,
        end: Backend,
        at: SystemTime,
    ) {
        let Some(portal) = self.portals.remove(portal_name) else {
            tracing::debug!("an Execute of a portal the recorder does not know: not recorded");
            return;
        };
        if let Some(reason) = rows.skip {
            tracing::warn!(statement = ?portal.prepared.text, reason, "statement not recorded");
        } else if let Some(end) = end_of(end) {
            self.record_execution(&portal, key, started, rows, end, at);
        } else {
            tracing::warn!(statement = ?portal.prepared.text, "a command tag or error that is not UTF-8: not recorded");
        }
        // A suspended portal can be executed again.
        self.portals.insert(portal_name.clone(), portal);
    }

    /// Records an execution of `portal` (and, first, its statement's describe when this
    /// attribution key has not had it yet).
    fn record_execution(
        &mut self,
        portal: &Portal,
        key: Option<u64>,
        started: SystemTime,
        rows: Rows,
        end: End,
        at: SystemTime,
    ) {
        let prepared = &portal.prepared;
        let Some(text) = prepared.text.clone() else {
            tracing::warn!("a statement whose text is not UTF-8: not recorded");
            return;
        };
        let param_types = match &prepared.described {
            Some(described) => described.param_types.clone(),
            None => prepared.given_types.clone(),
        };
        let params = portal
            .params
            .iter()
            .enumerate()
            .map(|(i, value)| Param {
                format: format_of(&portal.param_formats, i),
                value: value.clone(),
            })
            .collect();
        let fields = match &portal.described {
            Some(fields) => fields.clone(),
            None => prepared.described.as_ref().and_then(|described| {
                described.fields.as_ref().map(|fields| {
                    fields
                        .iter()
                        .enumerate()
                        .map(|(i, field)| FieldDescription {
                            format: format_of(&portal.result_formats, i),
                            ..field.clone()
                        })
                        .collect()
                })
            }),
        };
        let input = ExecuteInput {
            text,
            param_types,
            params,
            result_formats: portal.result_formats.clone(),
        };
        // The statement's describe, once per attribution key, so every request that runs it
        // can answer its prepare in replay.
        if let (Some(described), None) = (&prepared.described, prepared.marker) {
            let describe = DescribeInput {
                text: input.text.clone(),
                param_types: prepared.given_types.clone(),
            };
            if key == self.key && self.described_under_key.insert(describe.clone()) {
                self.batch.push((
                    key,
                    Statement {
                        started,
                        finished: started,
                        kind: StatementKind::Describe {
                            input: describe,
                            output: DescribeOutput::Described {
                                param_types: described.param_types.clone(),
                                fields: described.fields.clone(),
                            },
                        },
                    },
                ));
            }
        }
        let fields = if matches!(end, End::BindError(_)) {
            None
        } else {
            fields
        };
        self.batch.push((
            key,
            Statement {
                started,
                finished: at,
                kind: StatementKind::Execute {
                    input,
                    output: ExecuteOutput {
                        fields,
                        rows: rows.rows,
                        end,
                        transaction_status: 0,
                    },
                },
            },
        ));
    }

    /// One statement of a simple query ended.
    fn finish_query_statement(&mut self, query: &mut Pending, end: Backend, at: SystemTime) {
        let Pending::Query {
            statements,
            done,
            rows,
            key,
            started,
            unrecordable,
            failed,
            ..
        } = query
        else {
            return;
        };
        let rows = std::mem::take(rows);
        let index = *done;
        *done += 1;
        if matches!(end, Backend::ErrorResponse(_)) {
            *failed = true;
        }
        if *unrecordable {
            return;
        }
        let Some(statements) = statements else {
            return;
        };
        let Some(text) = statements.get(index) else {
            tracing::warn!(
                query = %statements.join("; "),
                "the server ran more statements than the query splits into: not recorded"
            );
            *unrecordable = true;
            self.batch.clear();
            return;
        };
        if let Some(reason) = rows.skip {
            tracing::warn!(statement = %text, reason, "statement not recorded");
            return;
        }
        let Some(end) = end_of(end) else {
            tracing::warn!(statement = %text, "a command tag or error that is not UTF-8: not recorded");
            return;
        };
        self.batch.push((
            *key,
            Statement {
                started: *started,
                finished: at,
                kind: StatementKind::Execute {
                    input: ExecuteInput {
                        text: text.clone(),
                        param_types: Vec::new(),
                        params: Vec::new(),
                        result_formats: Vec::new(),
                    },
                    output: ExecuteOutput {
                        fields: rows.fields,
                        rows: rows.rows,
                        end,
                        transaction_status: 0,
                    },
                },
            },
        ));
    }

    /// A simple query's `ReadyForQuery`: if the server ran fewer statements than the query
    /// splits into without failing, the split was wrong and nothing of it is kept.
    fn finish_query(&mut self, query: &Pending) {
        if let Pending::Query {
            statements: Some(statements),
            done,
            unrecordable: false,
            failed: false,
            ..
        } = query
            && *done != statements.len()
        {
            tracing::warn!(
                query = %statements.join("; "),
                ran = done,
                "the server ran fewer statements than the query splits into: not recorded"
            );
            self.batch.clear();
        }
    }
}

fn push_row(rows: &mut Rows, row: DataRow, max: usize) {
    if rows.skip.is_some() {
        return;
    }
    rows.bytes += row.body().len();
    if rows.bytes > max {
        rows.skip = Some("its rows exceed the recording limit");
        rows.rows = Vec::new();
        return;
    }
    rows.rows.push(row);
}

/// The format code of value `i` under a list of codes (none: text; one: all; else each).
fn format_of(formats: &[i16], i: usize) -> i16 {
    match formats {
        [] => 0,
        [one] => *one,
        many => many.get(i).copied().unwrap_or(0),
    }
}

fn end_of(end: Backend) -> Option<End> {
    Some(match end {
        Backend::CommandComplete(tag) => End::Command(String::from_utf8(tag.to_vec()).ok()?),
        Backend::PortalSuspended => End::Suspended,
        Backend::EmptyQueryResponse => End::EmptyQuery,
        Backend::ErrorResponse(fields) => End::Error(utf8_error_fields(&fields)?),
        _ => return None,
    })
}

fn out_of_step(message: &Backend) -> RecordError {
    let name = format!("{message:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or("?").to_owned();
    RecordError::OutOfStep { answer: name }
}
