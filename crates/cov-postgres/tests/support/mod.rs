//! What the real-server tests share: a memory sink, a memory mock source that matches as
//! the Tusk CLI does for these spans (exact input value, this request's spans first, unused
//! before used, oldest first), fresh databases, and a raw protocol client.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use cov_postgres::message::{
    Backend, Framed, Framer, Frontend, MAX_MESSAGE_LEN, PROTOCOL_VERSION_3_0, Startup,
};
use cov_postgres::record::{Statement, StatementKind, StatementSink};
use cov_postgres::replay::{Lookup, Unmatched};
use cov_postgres::server::MockSource;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every statement the proxy finished, in order.
#[derive(Default)]
pub struct MemorySink {
    pub statements: Mutex<Vec<(Option<u64>, Statement)>>,
}

impl StatementSink for MemorySink {
    fn statement(&self, key: Option<u64>, statement: Statement) {
        self.statements.lock().unwrap().push((key, statement));
    }
}

impl MemorySink {
    pub fn take(&self) -> Vec<(Option<u64>, Statement)> {
        std::mem::take(&mut *self.statements.lock().unwrap())
    }

    pub fn len(&self) -> usize {
        self.statements.lock().unwrap().len()
    }
}

pub struct RecordedSpan {
    pub key: Option<u64>,
    pub submodule: &'static str,
    pub input: Value,
    pub output: Value,
    pub used: bool,
}

/// Recorded spans answered by exact input value.
pub struct MemorySource {
    pub spans: Mutex<Vec<RecordedSpan>>,
    pub lookups: Mutex<Vec<(Option<u64>, Value)>>,
}

impl MemorySource {
    pub fn new(recorded: &[(Option<u64>, Statement)]) -> Arc<MemorySource> {
        let spans = recorded
            .iter()
            .map(|(key, statement)| RecordedSpan {
                key: *key,
                submodule: statement.kind.submodule_name(),
                input: statement.kind.input_value(),
                output: statement
                    .kind
                    .output_value()
                    .expect("recorded output encodes"),
                used: false,
            })
            .collect();
        Arc::new(MemorySource {
            spans: Mutex::new(spans),
            lookups: Mutex::new(Vec::new()),
        })
    }
}

impl MockSource for MemorySource {
    async fn lookup(&self, key: Option<u64>, lookup: Lookup) -> Result<Value, Unmatched> {
        let input = lookup.input_value();
        self.lookups.lock().unwrap().push((key, input.clone()));
        let mut spans = self.spans.lock().unwrap();
        // The CLI's order: this test's spans (unused, then used), then every span.
        for (same_key, used) in [(true, false), (true, true), (false, false), (false, true)] {
            if let Some(span) = spans.iter_mut().find(|span| {
                span.submodule == lookup.submodule_name()
                    && span.input == input
                    && span.used == used
                    && (!same_key || span.key == key)
            }) {
                span.used = true;
                return Ok(span.output.clone());
            }
        }
        Err(Unmatched {
            reason: "no mock found".to_owned(),
        })
    }
}

/// A database of its own on the test server, for one test.
pub async fn fresh_database(name: &str) -> String {
    let admin = cov_testkit::postgres_url();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("connecting to the test server at {admin}: {error}"));
    tokio::spawn(connection);
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&statement).await.unwrap();
    }
    with_database(&admin, name)
}

pub fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').expect("url has a path").0;
    format!("{base}/{name}")
}

pub fn kinds(recorded: &[(Option<u64>, Statement)]) -> Vec<(Option<u64>, &'static str, String)> {
    recorded
        .iter()
        .map(|(key, statement)| {
            let text = match &statement.kind {
                StatementKind::Execute { input, .. } => input.text.clone(),
                StatementKind::Describe { input, .. } => input.text.clone(),
            };
            (*key, statement.kind.submodule_name(), text)
        })
        .collect()
}

/// A client speaking the protocol by hand: what it sends and every byte it gets back.
pub struct RawClient {
    stream: TcpStream,
    framer: Framer,
}

impl RawClient {
    /// Connects and starts up as `user` on `database`, returning the client and the
    /// start-up's answer.
    pub async fn connect(addr: std::net::SocketAddr, user: &str, database: &str) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = RawClient {
            stream,
            framer: Framer::new(false, MAX_MESSAGE_LEN),
        };
        client
            .send(&[Frontend::Startup(Startup {
                version: PROTOCOL_VERSION_3_0,
                params: vec![
                    (Bytes::from_static(b"user"), Bytes::from(user.to_owned())),
                    (
                        Bytes::from_static(b"database"),
                        Bytes::from(database.to_owned()),
                    ),
                ],
            })])
            .await;
        client.until_ready(1).await;
        client
    }

    pub async fn send(&mut self, messages: &[Frontend]) {
        let mut out = BytesMut::new();
        for message in messages {
            message.encode(&mut out).unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Messages up to and including the `n`th `ReadyForQuery` (fewer if the server closes).
    pub async fn until_ready(&mut self, n: usize) -> Vec<Backend> {
        let mut messages = Vec::new();
        let mut seen = 0;
        let mut buf = BytesMut::with_capacity(8192);
        loop {
            while let Some(framed) = self.framer.next_frame().unwrap() {
                let Framed::Message(frame) = framed else {
                    panic!("oversized message")
                };
                let message = Backend::decode_frame(frame).unwrap();
                let ready = matches!(message, Backend::ReadyForQuery(_));
                messages.push(message);
                if ready {
                    seen += 1;
                    if seen == n {
                        return messages;
                    }
                }
            }
            buf.reserve(8192);
            if self.stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return messages;
            }
            self.framer.push(buf.split().freeze());
        }
    }

    /// Every byte until the server closes the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = self.framer.take_remaining().to_vec();
        let _ = self.stream.read_to_end(&mut rest).await;
        rest
    }
}

/// The messages a driver would show of a result, without start-up noise.
pub fn encode_all(messages: &[Backend]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for message in messages {
        message.encode(&mut out).unwrap();
    }
    out.to_vec()
}
