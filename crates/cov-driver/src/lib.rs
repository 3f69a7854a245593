//! The CLI side of the Tusk coverage channel, in one crate: what the Tusk CLI does to a
//! service under `tusk drift run --show-coverage`, for our own driver, tasks and tests.
//!
//! - [`CliListener`] listens on a unix socket or TCP and accepts an SDK with the CLI's
//!   handshake; [`CliConnection`] sends requests and correlates replies by `request_id`
//!   ([`CliConnection::baseline`], [`CliConnection::delta`]), keeps and acknowledges the
//!   SDK's inbound replay spans ([`CliConnection::inbound_span`]), and hands every
//!   `MOCK_REQUEST` to a [`MockSource`]: [`TraceMocks`] answers from recorded trace files
//!   exactly as the Tusk CLI matches them;
//! - [`Launch`] starts a service ([`ServiceProcess`], killed when dropped), and
//!   [`HttpClient`] sends it requests;
//! - [`record`] records a service under a script of [`replay::Test`]s (`RECORD` mode, its
//!   trace files read back); [`replay`] replays tests against a launched service with a
//!   snapshot after each and aggregates them with cov-report; [`traces`] reads the tests
//!   of a trace directory as the CLI loads them;
//! - [`reports`] writes the reports to files, with one rule for what may be replaced.
//!
//! The key design decision is that the CLI side lives apart from the SDK side: the SDK's
//! crates never depend on this one, so a service compiles no listener, no replay loop and
//! no report writer, while everything here is built on the same framing (cov-transport),
//! conversions (cov-wire) and aggregation (cov-report) the real protocol uses.
//!
//! # Example
//!
//! The CLI side and the SDK side in one process, over TCP on a port the system picks:
//!
//! ```
//! use std::time::Duration;
//!
//! use cov_driver::CliListener;
//! use cov_proto::{ConnectRequest, CoverageSnapshotResponse, MessageType, SdkMessage, cli_message, sdk_message};
//! use cov_transport::{Endpoint, sdk::{self, SdkOptions}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = CliListener::bind(&Endpoint::tcp("127.0.0.1", 0)).await?;
//! let endpoint = listener.local_endpoint().clone();
//!
//! // The SDK side: connect, then answer every coverage snapshot request.
//! let service = tokio::spawn(async move {
//!     let request = ConnectRequest { service_id: "demo".into(), sdk_version: "0.1.0".into(), ..Default::default() };
//!     let mut connection = sdk::connect(&endpoint, request, &SdkOptions::default()).await?;
//!     while let Some(message) = connection.recv().await? {
//!         if let Some(cli_message::Payload::CoverageSnapshotRequest(_)) = message.payload {
//!             let reply = SdkMessage {
//!                 r#type: MessageType::CoverageSnapshot as i32,
//!                 request_id: message.request_id,
//!                 payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
//!                     CoverageSnapshotResponse { success: true, ..Default::default() },
//!                 )),
//!             };
//!             connection.sender().send(reply).await?;
//!         }
//!     }
//!     Ok::<_, cov_transport::TransportError>(())
//! });
//!
//! // The CLI side: accept the SDK, ask for the baseline.
//! let connection = listener.accept(Duration::from_secs(10)).await?;
//! assert_eq!(connection.connect_request().service_id, "demo");
//! let baseline = connection.baseline(Duration::from_secs(10)).await?;
//! assert!(baseline.success);
//!
//! drop(connection); // The SDK's `recv` then returns `Ok(None)`.
//! service.await??;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod connection;
mod error;
mod http;
mod launch;
mod listener;
mod mock;
pub mod record;
pub mod replay;
pub mod reports;
pub mod traces;

pub use connection::CliConnection;
pub use error::ChannelError;
pub use http::HttpClient;
pub use launch::{Launch, LaunchError, PortReservation, ServiceProcess, parse_listening_line};
pub use listener::{CliListener, CliOptions, INVALID_CONNECT_REQUEST, handshake};
pub use mock::{MockReply, MockSource, MockTally, TraceMocks};
