//! PostgreSQL at the wire protocol.
#![forbid(unsafe_code)]

pub mod message;
pub mod proxy;
pub mod record;
pub mod replay;
pub mod server;
pub mod span;
pub mod sql;
pub mod url;
