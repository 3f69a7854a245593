//! Length-prefixed protobuf over unix sockets and TCP: the framing of the Tusk coverage
//! channel, and its SDK side.
//!
//! It provides:
//!
//! - [`Endpoint`]: where the CLI listens, from the Tusk environment variables
//!   (`TUSK_MOCK_HOST` + `TUSK_MOCK_PORT`, else `TUSK_MOCK_SOCKET`, else
//!   `/tmp/tusk-connect.sock`);
//! - [`frame`]: the framing, tokio-util's `LengthDelimitedCodec` configured explicitly, and
//!   typed prost codecs for both directions on top;
//! - [`writer`]: the single writer task of a connection, [`writer::FrameSender`], which both
//!   ends use;
//! - [`sdk`]: the SDK side, [`sdk::connect`] + handshake, then a receiver of `CLIMessage`s
//!   and a cloneable sender of `SDKMessage`s.
//!
//! The CLI side (listening, accepting SDKs, correlating requests and replies) is the
//! `cov-driver` crate's, built on [`frame`] and [`writer`]: a service links this crate
//! through the SDK and never compiles a listener. Its one socket is the connection
//! [`sdk::connect`] opens.
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
//! The SDK side over an in-memory stream whose other end plays the CLI with the CLI's codec:
//!
//! ```
//! use cov_proto::{cli_message, CliMessage, ConnectRequest, ConnectResponse, MessageType};
//! use cov_transport::frame::CliCodec;
//! use cov_transport::sdk::{self, SdkOptions};
//! use cov_transport::Endpoint;
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_util::codec::Framed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cov_transport::TransportError> {
//! let (sdk_end, cli_end) = tokio::io::duplex(64 * 1024);
//! let cli = tokio::spawn(async move {
//!     let mut cli = Framed::new(cli_end, CliCodec::default());
//!     let hello = cli.next().await.unwrap().unwrap();
//!     assert_eq!(hello.r#type, MessageType::SdkConnect as i32);
//!     let answer = CliMessage {
//!         r#type: MessageType::SdkConnect as i32,
//!         request_id: hello.request_id,
//!         payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
//!             success: true,
//!             error: String::new(),
//!         })),
//!     };
//!     cli.send(answer).await.unwrap();
//! });
//! let request = ConnectRequest { service_id: "demo".into(), sdk_version: "0.1.0".into(), ..Default::default() };
//! let mut connection =
//!     sdk::handshake(sdk_end, Endpoint::unix("/in-memory"), request, &SdkOptions::default()).await?;
//! assert!(connection.connect_response().success);
//! cli.await.unwrap();
//! // The CLI end is gone: the SDK's receiver sees the end of the stream.
//! assert!(connection.recv().await?.is_none());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod endpoint;
mod error;
pub mod frame;
pub mod sdk;
pub mod writer;

pub use endpoint::{DEFAULT_SOCKET_PATH, ENV_HOST, ENV_PORT, ENV_SOCKET, Endpoint};
pub use error::{FrameError, TransportError};

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
