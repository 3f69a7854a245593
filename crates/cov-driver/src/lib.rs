//! The CLI side of the Tusk coverage channel, in one crate.
//!
//! (Crate documentation: see the end of this series of changes.)

#![forbid(unsafe_code)]

mod connection;
mod error;
mod http;
mod launch;
mod listener;
mod mock;
pub mod replay;
pub mod reports;
pub mod traces;

pub use connection::CliConnection;
pub use error::ChannelError;
pub use http::HttpClient;
pub use launch::{Launch, LaunchError, PortReservation, ServiceProcess, parse_listening_line};
pub use listener::{CliListener, CliOptions, INVALID_CONNECT_REQUEST, handshake};
pub use mock::{MockReply, MockSource};
