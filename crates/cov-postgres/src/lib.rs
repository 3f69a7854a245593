//! PostgreSQL at the wire protocol.
#![forbid(unsafe_code)]

pub mod message;
