//! PostgreSQL at the wire protocol.
#![forbid(unsafe_code)]

pub mod message;
pub mod record;
pub mod span;
pub mod sql;
