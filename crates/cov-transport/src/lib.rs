//! Length-prefixed protobuf over unix sockets and TCP: both ends of the Tusk coverage
//! channel.
//!
//! This is the only crate of the project that opens sockets.

#![forbid(unsafe_code)]
