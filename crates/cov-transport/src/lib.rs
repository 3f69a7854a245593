//! Length-prefixed protobuf over unix sockets and TCP: both ends of the Tusk coverage
//! channel.
//!
//! This is the only crate of the project that opens sockets. It provides:
//!
//! - [`Endpoint`]: where the CLI listens, from the Tusk environment variables
//!   (`TUSK_MOCK_HOST` + `TUSK_MOCK_PORT`, else `TUSK_MOCK_SOCKET`, else
//!   `/tmp/tusk-connect.sock`);
//! - [`frame`]: the framing, tokio-util's `LengthDelimitedCodec` configured explicitly, and
//!   typed prost codecs on top;
//! - [`sdk`]: the SDK side, [`sdk::connect`] + handshake, then a receiver of `CLIMessage`s
//!   and a cloneable sender of `SDKMessage`s;
//! - `cli` (with the `cli` feature, which services leave off): the CLI side, our stand-in
//!   for the Tusk CLI, `cli::CliListener`, `accept` + handshake, then
//!   `cli::CliConnection::request` correlated by `request_id` and
//!   `cli::CliConnection::baseline` and `cli::CliConnection::delta`.
//!
//! # Frame layout
//!
//! Every message, in both directions, is one frame: a 4-byte big-endian unsigned length,
//! then that many bytes of protobuf (`SDKMessage` from the SDK, `CLIMessage` from the CLI).
//!
//! ```text
//! +---- len: u32 (big-endian) ----+--------- payload: protobuf ---------+
//! | 0x00 | 0x00 | 0x00 | 0x0C     | SDKMessage / CLIMessage (12 bytes)  |
//! +-------------------------------+-------------------------------------+
//!   4 bytes                          len bytes, at most 10 MiB by default
//! ```
//!
//! # Key design decision: behave like the Tusk CLI on bad input, refuse to send it
//!
//! The reading side mirrors the Tusk CLI: a frame announcing more than the maximum length
//! is skipped (its bytes are dropped as they arrive, never buffered, so even a 4 GiB
//! prefix costs no memory) and a frame that is not valid protobuf is skipped; a close in
//! the middle of a frame and I/O errors end the connection, and the other side sees it
//! close. Protobuf fields and payloads this project does not model are skipped by prost.
//! The writing side is stricter than the CLI: a frame over the maximum, which the CLI would
//! silently drop, is refused with [`FrameError::TooLarge`]; every connection has exactly
//! one writer task, so frames never interleave, and each write has a deadline, so a peer
//! that never reads cannot block the caller forever.
//!
//! # Example
//!
//! Both sides in one process, over TCP on a port the system picks:
//!
//! ```
//! use std::time::Duration;
//!
//! use cov_proto::{ConnectRequest, CoverageSnapshotResponse, MessageType, SdkMessage, cli_message, sdk_message};
//! use cov_transport::{Endpoint, cli::CliListener, sdk::{self, SdkOptions}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cov_transport::TransportError> {
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
//! service.await.unwrap()?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

// The CLI side is our stand-in for the Tusk CLI (xtask's driver and the tests); a service
// never listens, so it is behind a feature cov-sdk does not enable.
#[cfg(feature = "cli")]
pub mod cli;
mod endpoint;
mod error;
pub mod frame;
pub mod sdk;
mod writer;

pub use endpoint::{DEFAULT_SOCKET_PATH, ENV_HOST, ENV_PORT, ENV_SOCKET, Endpoint};
pub use error::{FrameError, TransportError};
