//! PostgreSQL at the wire protocol, for Tusk Drift's record and replay of Rust services,
//! whatever their driver (sqlx, tokio-postgres with deadpool or bb8, diesel over libpq).
//!
//! Rust's drivers offer no hook that can substitute a result, but they all speak protocol
//! 3.0. So in `RECORD` the application's database URL points at a [`proxy::RecordingProxy`]
//! on loopback, which forwards every byte to the real server and assembles what passed into
//! statements; in `REPLAY` it points at a [`server::ReplayServer`], which speaks enough of
//! the protocol for the drivers to connect, prepare and execute, and answers every statement
//! from the recording.
//!
//! - [`message`]: the protocol's messages, both directions, parsed and encoded, and the
//!   [`message::Framer`] that cuts them out of a byte stream. No I/O.
//! - [`record`]: [`record::Recorder`], the sans-io statement assembly of one connection, its
//!   [`record::Statement`]s and the [`record::StatementSink`] they go to.
//! - [`replay`]: [`replay::ReplaySession`], the sans-io replay state machine of one
//!   connection, and the [`replay::Lookup`]s it asks for.
//! - [`span`]: the JSON input and output values of statement and describe spans, and back.
//! - [`sql`]: the attribution marker, the simple-query splitter, plain `SET`s.
//! - [`proxy`] and [`server`]: the tokio I/O on top; the only modules that open sockets.
//! - [`url`]: the real server from the application's URL, and the URL pointing at ours.
//!
//! # Key design decisions
//!
//! **Our own message codec.** `postgres-protocol` parses only what a server sends and
//! writes only what a client sends; a proxy and a replay server need both directions both
//! ways. `pgwire`'s `messages` module covers both without its server framework
//! (`default-features = false`), but it reads bodies with unchecked `Buf::get_*` calls not
//! bounded by the message's own length (a malformed `ParameterDescription` panics or reads
//! into the next message, a short `DataRow` underflows), decodes every string with
//! `from_utf8_lossy` (a recording must keep the bytes that were sent), turns an empty name
//! into `None`, and decodes from a `BytesMut` it consumes, which for a proxy means copying
//! every forwarded byte. Ours keeps bodies as zero-copy `Bytes` slices of what was read,
//! bounds-checks every field and reports malformed input as a [`message::ProtocolError`]
//! naming the message and the field.
//!
//! **Sans-io cores, thin I/O.** The recorder and the replay session are state machines fed
//! with bytes, as `postgres-protocol` is to `tokio-postgres`; the property tests feed them
//! noise and any chunking.
//!
//! **A statement is its text and its parameters.** Statement and portal names, connections
//! and their number never enter a span: a replay may prepare under other names, on more or
//! fewer connections, in another order. Matching is by exact input value (the SDK asks the
//! CLI for an exact value-hash match only), never by shape: a statement of the same shape
//! with other parameters is another statement.
//!
//! # Attribution
//!
//! A pooled connection serves one request at a time, but the proxy sees only connections.
//! When the application takes a connection for a request, the SDK sends the marker
//! [`sql::marker`]`(key)` on it, `/* tusk-drift attribution <key> */ SELECT WHERE false`,
//! with the simple protocol: valid SQL that any PostgreSQL answers with no rows and no
//! effect. The proxy and the replay server answer it themselves (the proxy only when the
//! connection is idle and not in a failed transaction; otherwise it forwards it and the
//! server answers), and every statement after it on that connection carries `key` until
//! the next marker; before the first marker, `None`. The key is opaque: the SDK maps it to
//! its request context, and should also mark connections taken outside any request with a
//! key of its own for "no request", or they keep the last request's key.
//!
//! Where the SDK can send the marker, per driver:
//! - sqlx: `PgPoolOptions::before_acquire` (an idle connection handed out) and
//!   `after_connect` (a connection opened for the acquiring task); both run in the task that
//!   acquires, so a task-local request context is visible. Send it with `sqlx::raw_sql`.
//! - deadpool-postgres: the `post_create` and `post_recycle` hooks, which run in the task
//!   calling `Pool::get`.
//! - bb8 and diesel's r2d2: their customizers run only when a connection is created, not
//!   when it is checked out, so the application's `pool.get()` must be wrapped (one helper
//!   that gets the connection and sends the marker).
//! - A tokio-postgres `Client` shared by concurrent tasks (one connection multiplexing
//!   several requests) cannot be attributed: the requests' statements interleave on one
//!   connection, and each belongs to whichever marker came last. Such an application needs
//!   a pool, or a client per request.
//! - diesel (libpq): `batch_execute` sends the marker with the simple protocol; with a
//!   pool, as for r2d2 above.
//!
//! A statement prepared on one connection and executed on another request later needs its
//! describe in that request's trace for the replay to answer the driver's prepare: the
//! recorder emits a statement's describe again, from its cache, before the first execution
//! under each new key.
//!
//! # TLS
//!
//! Neither the proxy nor the replay server speaks TLS to the application: both answer
//! `SSLRequest` and `GSSENCRequest` with `N`, and [`url::local_url`] sets
//! `sslmode=disable`. The proxy connects to the real server without TLS, so record against a
//! server that accepts plain connections from where the service runs.
#![forbid(unsafe_code)]

pub mod message;
pub mod proxy;
pub mod record;
pub mod replay;
pub mod server;
pub mod span;
pub mod sql;
pub mod url;

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
