//! The messages of PostgreSQL's protocol version 3.0, both directions, parsed and encoded
//! without I/O.
//!
//! Every message but the first of a connection is a one-byte tag, a big-endian `i32` length
//! counting itself and the body, and the body:
//!
//! ```text
//! +-----+---------------+---------------------------+
//! | tag | length (i32)  | body (length - 4 bytes)   |
//! +-----+---------------+---------------------------+
//! ```
//!
//! The client's first messages (`SSLRequest`, `GSSENCRequest`, `StartupMessage`,
//! `CancelRequest`) have no tag: a length and a body whose first `i32` says which one it is.
//! [`Framer`] cuts messages out of a byte stream in both shapes; [`Frontend::decode`] and
//! [`Backend::decode`] turn one message's body into a value, and `encode` writes it back.
//!
//! Bodies are `bytes::Bytes` slices of what was read (no copy), and every string stays bytes:
//! the protocol does not promise UTF-8, and a recording must keep what was sent. Malformed
//! input is a [`ProtocolError`] naming the message and what is wrong with it; nothing here
//! panics on any input (the property tests in `tests/message_props.rs` feed it noise).

use bytes::{BufMut, Bytes, BytesMut};

/// The largest message PostgreSQL itself sends or accepts (`PQ_LARGE_MESSAGE_LIMIT`, one
/// byte under 1 GiB): the default limit of a [`Framer`].
pub const MAX_MESSAGE_LEN: usize = 0x3fff_ffff - 1;

/// The largest untyped start-up message a server accepts (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Protocol version 3.0, as the start-up message spells it.
pub const PROTOCOL_VERSION_3_0: i32 = 196_608;
const SSL_REQUEST_CODE: i32 = 80_877_103;
const GSSENC_REQUEST_CODE: i32 = 80_877_104;
const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A length field that no valid message has.
    #[error("{message} declares a length of {length} bytes (valid: 4 to {max})")]
    BadLength {
        /// The message (its tag, or "start-up message").
        message: String,
        /// The declared length.
        length: i64,
        /// The largest length accepted.
        max: usize,
    },
    /// A tag that no message of this direction has.
    #[error("unknown {direction} message tag {tag}")]
    UnknownTag {
        /// "client" or "server".
        direction: &'static str,
        /// The tag, printed.
        tag: String,
    },
    /// The body ended before a field.
    #[error("{message} is truncated: {field} is missing")]
    Truncated {
        /// The message's name.
        message: &'static str,
        /// The field that could not be read.
        field: &'static str,
    },
    /// The body goes on after its last field.
    #[error("{message} has {extra} unexpected bytes after its last field")]
    TrailingBytes {
        /// The message's name.
        message: &'static str,
        /// How many bytes are left over.
        extra: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{message}: {problem}")]
    Invalid {
        /// The message's name.
        message: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A value too large for the protocol's fields (when encoding).
    #[error("{message} cannot be encoded: {problem}")]
    TooLarge {
        /// The message's name.
        message: &'static str,
        /// What does not fit.
        problem: String,
    },
}

fn printable_tag(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", tag as char)
    } else {
        format!("0x{tag:02x}")
    }
}

/// One message cut out of a stream: its tag (`None` for the untyped start-up messages) and
/// its body, without the tag and the length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The tag byte, or `None` for a start-up-phase message.
    pub tag: Option<u8>,
    /// The body.
    pub body: Bytes,
}

/// What [`Framer::next_frame`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A whole message.
    Message(Frame),
    /// A message longer than the framer's limit: its bytes are skipped as they arrive
    /// (never buffered); this is reported once, when its header is read.
    Oversized {
        /// Its tag, if typed.
        tag: Option<u8>,
        /// Its declared length (including the length field).
        length: usize,
    },
}

/// Cuts messages out of a byte stream that arrives in chunks of any size.
///
/// Whole messages inside one chunk are zero-copy slices of it; a message spread over chunks
/// is gathered into one buffer (its bytes are copied once). Call [`Framer::push`] with each
/// chunk, then [`Framer::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Framer {
    input: Bytes,
    partial: BytesMut,
    untyped: bool,
    max_len: usize,
    skip: usize,
    failed: bool,
}

impl Framer {
    /// A framer for a stream whose first message is untyped (`untyped`, a client's start-up)
    /// or typed, accepting messages up to `max_len` bytes (length field included); longer
    /// ones are reported as [`Framed::Oversized`] and skipped.
    pub fn new(untyped: bool, max_len: usize) -> Framer {
        Framer {
            input: Bytes::new(),
            partial: BytesMut::new(),
            untyped,
            max_len,
            skip: 0,
            failed: false,
        }
    }

    /// Whether the next message is expected untyped (the start-up phase).
    pub fn set_untyped(&mut self, untyped: bool) {
        self.untyped = untyped;
    }

    /// Adds the next chunk of the stream.
    pub fn push(&mut self, chunk: Bytes) {
        if self.input.is_empty() {
            self.input = chunk;
        } else {
            // The caller did not drain: keep every byte, in order.
            let mut joined = BytesMut::with_capacity(self.input.len() + chunk.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&chunk);
            self.input = joined.freeze();
        }
    }

    /// Takes every byte not yet returned as a message (for a caller that reads the rest of
    /// the stream by other means).
    pub fn take_remaining(&mut self) -> Bytes {
        let mut rest = std::mem::take(&mut self.partial);
        rest.extend_from_slice(&std::mem::take(&mut self.input));
        rest.freeze()
    }

    /// Bytes held for a message not complete yet.
    pub fn buffered(&self) -> usize {
        self.partial.len() + self.input.len()
    }

    /// The next message, `Ok(None)` when more bytes are needed. After an error the framer
    /// stays failed: the stream has lost its message boundaries.
    pub fn next_frame(&mut self) -> Result<Option<Framed>, ProtocolError> {
        if self.failed {
            return Ok(None);
        }
        if self.skip > 0 {
            let n = self.skip.min(self.input.len());
            let _ = self.input.split_to(n);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        let header_len = if self.untyped { 4 } else { 5 };
        if !self.partial.is_empty() {
            // Complete the header first, then the body, from the new input.
            if self.partial.len() < header_len {
                let n = (header_len - self.partial.len()).min(self.input.len());
                self.partial.extend_from_slice(&self.input.split_to(n));
                if self.partial.len() < header_len {
                    return Ok(None);
                }
            }
            let total = match self.total_len(&self.partial[..header_len]) {
                Ok(total) => total,
                Err(error) => return self.fail(error),
            };
            let tag = (!self.untyped).then(|| self.partial[0]);
            if let Some(oversized) = self.check_oversized(tag, total) {
                self.skip = total - self.partial.len();
                self.partial.clear();
                let n = self.skip.min(self.input.len());
                let _ = self.input.split_to(n);
                self.skip -= n;
                return Ok(Some(oversized));
            }
            let n = (total - self.partial.len()).min(self.input.len());
            self.partial.extend_from_slice(&self.input.split_to(n));
            if self.partial.len() < total {
                return Ok(None);
            }
            let message = self.partial.split().freeze();
            return Ok(Some(Framed::Message(self.cut(message, header_len))));
        }
        if self.input.len() < header_len {
            if !self.input.is_empty() {
                self.partial
                    .extend_from_slice(&self.input.split_to(self.input.len()));
            }
            return Ok(None);
        }
        let total = match self.total_len(&self.input[..header_len]) {
            Ok(total) => total,
            Err(error) => return self.fail(error),
        };
        let tag = (!self.untyped).then(|| self.input[0]);
        if let Some(oversized) = self.check_oversized(tag, total) {
            let n = total.min(self.input.len());
            let _ = self.input.split_to(n);
            self.skip = total - n;
            return Ok(Some(oversized));
        }
        if self.input.len() >= total {
            let message = self.input.split_to(total);
            return Ok(Some(Framed::Message(self.cut(message, header_len))));
        }
        self.partial.reserve(total);
        self.partial
            .extend_from_slice(&self.input.split_to(self.input.len()));
        Ok(None)
    }

    fn fail(&mut self, error: ProtocolError) -> Result<Option<Framed>, ProtocolError> {
        self.failed = true;
        self.input = Bytes::new();
        self.partial.clear();
        Err(error)
    }

    fn cut(&self, mut message: Bytes, header_len: usize) -> Frame {
        let tag = (!self.untyped).then(|| message[0]);
        let body = message.split_off(header_len);
        Frame { tag, body }
    }

    fn check_oversized(&self, tag: Option<u8>, total: usize) -> Option<Framed> {
        (total > self.max_len).then_some(Framed::Oversized { tag, length: total })
    }

    /// The whole message's length (tag included) from its header.
    fn total_len(&self, header: &[u8]) -> Result<usize, ProtocolError> {
        let (tag, at) = if self.untyped {
            (None, 0)
        } else {
            (Some(header[0]), 1)
        };
        let length =
            i32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let message = || match tag {
            Some(tag) => format!("message {}", printable_tag(tag)),
            None => "start-up message".to_owned(),
        };
        let max = if self.untyped {
            MAX_STARTUP_LEN
        } else {
            MAX_MESSAGE_LEN
        };
        // The untyped messages are at least 8 bytes long (length and code); a typed one at
        // least 4. Beyond the protocol's own maximum the stream is garbage, not a big row.
        let min = if self.untyped { 8 } else { 4 };
        if length < min || length as usize > max {
            return Err(ProtocolError::BadLength {
                message: message(),
                length: i64::from(length),
                max,
            });
        }
        Ok(length as usize + at)
    }
}

/// Reads a body field by field, every read bounds-checked.
struct Reader {
    message: &'static str,
    body: Bytes,
    pos: usize,
}

impl Reader {
    fn new(message: &'static str, body: Bytes) -> Reader {
        Reader {
            message,
            body,
            pos: 0,
        }
    }

    fn truncated(&self, field: &'static str) -> ProtocolError {
        ProtocolError::Truncated {
            message: self.message,
            field,
        }
    }

    fn invalid(&self, problem: impl Into<String>) -> ProtocolError {
        ProtocolError::Invalid {
            message: self.message,
            problem: problem.into(),
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, ProtocolError> {
        if self.body.len() - self.pos < n {
            return Err(self.truncated(field));
        }
        let bytes = self.body.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtocolError> {
        let bytes = self.take(N, field)?;
        let mut array = [0; N];
        array.copy_from_slice(&bytes);
        Ok(array)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// A NUL-terminated string, without its NUL.
    fn cstr(&mut self, field: &'static str) -> Result<Bytes, ProtocolError> {
        let rest = &self.body[self.pos..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(self.invalid(format!("{field} is not NUL-terminated")));
        };
        let string = self.body.slice(self.pos..self.pos + nul);
        self.pos += nul + 1;
        Ok(string)
    }

    /// A length-prefixed value: `i32` length, `-1` for NULL.
    fn value(&mut self, field: &'static str) -> Result<Option<Bytes>, ProtocolError> {
        let len = self.i32(field)?;
        match len {
            -1 => Ok(None),
            len if len < 0 => Err(self.invalid(format!("{field} has length {len}"))),
            len => self.take(len as usize, field).map(Some),
        }
    }

    fn rest(&mut self) -> Bytes {
        let rest = self.body.slice(self.pos..);
        self.pos = self.body.len();
        rest
    }

    fn is_empty(&self) -> bool {
        self.pos == self.body.len()
    }

    fn finish(self) -> Result<(), ProtocolError> {
        if self.pos == self.body.len() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes {
                message: self.message,
                extra: self.body.len() - self.pos,
            })
        }
    }
}

/// Writes one message: tag, a length patched in at the end, body.
struct Writer<'a> {
    out: &'a mut BytesMut,
    start: usize,
    message: &'static str,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut BytesMut, tag: Option<u8>, message: &'static str) -> Writer<'a> {
        if let Some(tag) = tag {
            out.put_u8(tag);
        }
        let start = out.len();
        out.put_i32(0);
        Writer {
            out,
            start,
            message,
        }
    }

    fn cstr(&mut self, string: &[u8]) -> Result<(), ProtocolError> {
        if string.contains(&0) {
            return Err(ProtocolError::TooLarge {
                message: self.message,
                problem: "a string holds a NUL byte".to_owned(),
            });
        }
        self.out.put_slice(string);
        self.out.put_u8(0);
        Ok(())
    }

    fn count(&mut self, n: usize, what: &str) -> Result<(), ProtocolError> {
        let n = u16::try_from(n).map_err(|_| ProtocolError::TooLarge {
            message: self.message,
            problem: format!("{n} {what} (at most 65535)"),
        })?;
        self.out.put_u16(n);
        Ok(())
    }

    fn value(&mut self, value: Option<&[u8]>) -> Result<(), ProtocolError> {
        match value {
            None => self.out.put_i32(-1),
            Some(value) => {
                let len = i32::try_from(value.len()).map_err(|_| ProtocolError::TooLarge {
                    message: self.message,
                    problem: format!("a value of {} bytes", value.len()),
                })?;
                self.out.put_i32(len);
                self.out.put_slice(value);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ProtocolError> {
        let len = self.out.len() - self.start;
        let len32 = i32::try_from(len)
            .ok()
            .filter(|&len| len as usize <= MAX_MESSAGE_LEN)
            .ok_or_else(|| ProtocolError::TooLarge {
                message: self.message,
                problem: format!("{len} bytes"),
            })?;
        self.out[self.start..self.start + 4].copy_from_slice(&len32.to_be_bytes());
        Ok(())
    }
}

/// What `Describe` and `Close` refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A prepared statement (`'S'`).
    Statement,
    /// A portal (`'P'`).
    Portal,
}

impl Target {
    fn from_byte(reader: &Reader, byte: u8) -> Result<Target, ProtocolError> {
        match byte {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            other => Err(reader.invalid(format!(
                "target {} is neither 'S' nor 'P'",
                printable_tag(other)
            ))),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// `StartupMessage`: the protocol version and the connection's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// The requested protocol version (major << 16 | minor).
    pub version: i32,
    /// Name/value pairs (`user`, `database`, `application_name`, GUCs...), in order.
    pub params: Vec<(Bytes, Bytes)>,
}

impl Startup {
    /// The value of one parameter.
    pub fn param(&self, name: &str) -> Option<&Bytes> {
        self.params
            .iter()
            .find(|(key, _)| key.as_ref() == name.as_bytes())
            .map(|(_, value)| value)
    }
}

/// `Parse`: prepare `query` as statement `name` (empty: the unnamed statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse {
    /// The statement's name.
    pub name: Bytes,
    /// The SQL text.
    pub query: Bytes,
    /// Parameter types the client fixes (`0`: let the server infer).
    pub param_types: Vec<u32>,
}

/// `Bind`: make portal `portal` from statement `statement` and parameter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The portal's name (empty: the unnamed portal).
    pub portal: Bytes,
    /// The statement's name.
    pub statement: Bytes,
    /// Format codes of the parameters: none (all text), one (all), or one each.
    pub param_formats: Vec<i16>,
    /// The values, `None` for NULL.
    pub params: Vec<Option<Bytes>>,
    /// Format codes of the result columns: none (all text), one (all), or one each.
    pub result_formats: Vec<i16>,
}

/// `FunctionCall` (the legacy fast-path interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    /// The function's oid.
    pub function: u32,
    /// Format codes of the arguments.
    pub arg_formats: Vec<i16>,
    /// The arguments, `None` for NULL.
    pub args: Vec<Option<Bytes>>,
    /// The result's format code.
    pub result_format: i16,
}

/// A message the client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    /// `SSLRequest` (untyped).
    SslRequest,
    /// `GSSENCRequest` (untyped).
    GssEncRequest,
    /// `StartupMessage` (untyped).
    Startup(Startup),
    /// `CancelRequest` (untyped, on a connection of its own).
    CancelRequest {
        /// The backend's process id from `BackendKeyData`.
        process_id: i32,
        /// The secret key from `BackendKeyData`.
        secret_key: Bytes,
    },
    /// `'p'`: `PasswordMessage`, `SASLInitialResponse`, `SASLResponse` or
    /// `GSSResponse`; which one depends on the authentication request it answers, so the
    /// body stays raw ([`sasl_initial_response`] reads the SASL one).
    Password(Bytes),
    /// `'Q'`: a simple query (one or more statements).
    Query(Bytes),
    /// `'P'`.
    Parse(Parse),
    /// `'B'`.
    Bind(Bind),
    /// `'D'`.
    Describe {
        /// Statement or portal.
        target: Target,
        /// Its name.
        name: Bytes,
    },
    /// `'E'`.
    Execute {
        /// The portal's name.
        portal: Bytes,
        /// Row limit, 0 for all.
        max_rows: i32,
    },
    /// `'C'`.
    Close {
        /// Statement or portal.
        target: Target,
        /// Its name.
        name: Bytes,
    },
    /// `'S'`.
    Sync,
    /// `'H'`.
    Flush,
    /// `'X'`.
    Terminate,
    /// `'F'`.
    FunctionCall(FunctionCall),
    /// `'d'`.
    CopyData(Bytes),
    /// `'c'`.
    CopyDone,
    /// `'f'`: the error message.
    CopyFail(Bytes),
}

/// Reads the body of a `SASLInitialResponse`: the mechanism and the initial data (`None`
/// when absent).
pub fn sasl_initial_response(body: &Bytes) -> Result<(Bytes, Option<Bytes>), ProtocolError> {
    let mut reader = Reader::new("SASLInitialResponse", body.clone());
    let mechanism = reader.cstr("mechanism")?;
    let data = reader.value("data")?;
    reader.finish()?;
    Ok((mechanism, data))
}

/// Encodes a `SASLInitialResponse` body, for [`Frontend::Password`].
pub fn encode_sasl_initial_response(
    mechanism: &[u8],
    data: Option<&[u8]>,
) -> Result<Bytes, ProtocolError> {
    let mut out = BytesMut::new();
    let mut writer = Writer::new(&mut out, None, "SASLInitialResponse");
    writer.cstr(mechanism)?;
    writer.value(data)?;
    writer.finish()?;
    // The writer put a length in front; the body of 'p' is what follows it.
    Ok(out.freeze().split_off(4))
}

fn read_formats(reader: &mut Reader, field: &'static str) -> Result<Vec<i16>, ProtocolError> {
    let n = reader.u16(field)?;
    let mut formats = Vec::with_capacity(usize::from(n).min(reader.body.len() / 2));
    for _ in 0..n {
        formats.push(reader.i16(field)?);
    }
    Ok(formats)
}

fn read_values(
    reader: &mut Reader,
    field: &'static str,
) -> Result<Vec<Option<Bytes>>, ProtocolError> {
    let n = reader.u16(field)?;
    let mut values = Vec::with_capacity(usize::from(n).min(reader.body.len() / 4));
    for _ in 0..n {
        values.push(reader.value(field)?);
    }
    Ok(values)
}

impl Frontend {
    /// Decodes an untyped start-up-phase message from its body (after the length).
    pub fn decode_startup(body: Bytes) -> Result<Frontend, ProtocolError> {
        let mut reader = Reader::new("start-up message", body);
        let code = reader.i32("protocol version or request code")?;
        let message = match code {
            SSL_REQUEST_CODE => Frontend::SslRequest,
            GSSENC_REQUEST_CODE => Frontend::GssEncRequest,
            CANCEL_REQUEST_CODE => {
                let process_id = reader.i32("process id")?;
                let secret_key = reader.rest();
                if secret_key.is_empty() {
                    return Err(reader.truncated("secret key"));
                }
                Frontend::CancelRequest {
                    process_id,
                    secret_key,
                }
            }
            version if version >> 16 == 3 => {
                let mut params = Vec::new();
                loop {
                    let name = reader.cstr("parameter name")?;
                    if name.is_empty() {
                        break;
                    }
                    let value = reader.cstr("parameter value")?;
                    params.push((name, value));
                }
                Frontend::Startup(Startup { version, params })
            }
            other => {
                return Err(reader.invalid(format!(
                    "unsupported protocol version or request code {other}"
                )));
            }
        };
        reader.finish()?;
        Ok(message)
    }

    /// Decodes a typed message from its tag and body.
    pub fn decode(tag: u8, body: Bytes) -> Result<Frontend, ProtocolError> {
        let name = match tag {
            b'p' => "password message",
            b'Q' => "Query",
            b'P' => "Parse",
            b'B' => "Bind",
            b'D' => "Describe",
            b'E' => "Execute",
            b'C' => "Close",
            b'S' => "Sync",
            b'H' => "Flush",
            b'X' => "Terminate",
            b'F' => "FunctionCall",
            b'd' => "CopyData",
            b'c' => "CopyDone",
            b'f' => "CopyFail",
            other => {
                return Err(ProtocolError::UnknownTag {
                    direction: "client",
                    tag: printable_tag(other),
                });
            }
        };
        let mut reader = Reader::new(name, body);
        let message = match tag {
            b'p' => Frontend::Password(reader.rest()),
            b'Q' => Frontend::Query(reader.cstr("query")?),
            b'P' => {
                let name = reader.cstr("statement name")?;
                let query = reader.cstr("query")?;
                let n = reader.u16("parameter type count")?;
                let mut param_types = Vec::with_capacity(usize::from(n).min(reader.body.len() / 4));
                for _ in 0..n {
                    param_types.push(reader.u32("parameter type")?);
                }
                Frontend::Parse(Parse {
                    name,
                    query,
                    param_types,
                })
            }
            b'B' => {
                let portal = reader.cstr("portal name")?;
                let statement = reader.cstr("statement name")?;
                let param_formats = read_formats(&mut reader, "parameter format")?;
                let params = read_values(&mut reader, "parameter value")?;
                let result_formats = read_formats(&mut reader, "result format")?;
                if param_formats.len() > 1 && param_formats.len() != params.len() {
                    return Err(reader.invalid(format!(
                        "{} parameter formats for {} parameters",
                        param_formats.len(),
                        params.len()
                    )));
                }
                Frontend::Bind(Bind {
                    portal,
                    statement,
                    param_formats,
                    params,
                    result_formats,
                })
            }
            b'D' | b'C' => {
                let byte = reader.u8("target")?;
                let target = Target::from_byte(&reader, byte)?;
                let name = reader.cstr("name")?;
                if tag == b'D' {
                    Frontend::Describe { target, name }
                } else {
                    Frontend::Close { target, name }
                }
            }
            b'E' => Frontend::Execute {
                portal: reader.cstr("portal name")?,
                max_rows: reader.i32("row limit")?,
            },
            b'S' => Frontend::Sync,
            b'H' => Frontend::Flush,
            b'X' => Frontend::Terminate,
            b'F' => {
                let function = reader.u32("function oid")?;
                let arg_formats = read_formats(&mut reader, "argument format")?;
                let args = read_values(&mut reader, "argument")?;
                let result_format = reader.i16("result format")?;
                Frontend::FunctionCall(FunctionCall {
                    function,
                    arg_formats,
                    args,
                    result_format,
                })
            }
            b'd' => Frontend::CopyData(reader.rest()),
            b'c' => Frontend::CopyDone,
            _ => Frontend::CopyFail(reader.cstr("error message")?),
        };
        reader.finish()?;
        Ok(message)
    }

    /// Decodes one [`Frame`] of the client's stream.
    pub fn decode_frame(frame: Frame) -> Result<Frontend, ProtocolError> {
        match frame.tag {
            Some(tag) => Frontend::decode(tag, frame.body),
            None => Frontend::decode_startup(frame.body),
        }
    }

    /// Appends the message, tag and length included, to `out`; on an error `out` is left as
    /// it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = out.len();
        self.encode_unchecked(out)
            .inspect_err(|_| out.truncate(start))
    }

    fn encode_unchecked(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        match self {
            Frontend::SslRequest => untyped_code(out, SSL_REQUEST_CODE),
            Frontend::GssEncRequest => untyped_code(out, GSSENC_REQUEST_CODE),
            Frontend::Startup(startup) => {
                let mut writer = Writer::new(out, None, "StartupMessage");
                writer.out.put_i32(startup.version);
                for (name, value) in &startup.params {
                    if name.is_empty() {
                        return Err(ProtocolError::TooLarge {
                            message: "StartupMessage",
                            problem: "a parameter has an empty name".to_owned(),
                        });
                    }
                    writer.cstr(name)?;
                    writer.cstr(value)?;
                }
                writer.out.put_u8(0);
                writer.finish()
            }
            Frontend::CancelRequest {
                process_id,
                secret_key,
            } => {
                let writer = Writer::new(out, None, "CancelRequest");
                writer.out.put_i32(CANCEL_REQUEST_CODE);
                writer.out.put_i32(*process_id);
                writer.out.put_slice(secret_key);
                writer.finish()
            }
            Frontend::Password(body) => raw(out, b'p', "password message", body),
            Frontend::Query(query) => {
                let mut writer = Writer::new(out, Some(b'Q'), "Query");
                writer.cstr(query)?;
                writer.finish()
            }
            Frontend::Parse(parse) => {
                let mut writer = Writer::new(out, Some(b'P'), "Parse");
                writer.cstr(&parse.name)?;
                writer.cstr(&parse.query)?;
                writer.count(parse.param_types.len(), "parameter types")?;
                for oid in &parse.param_types {
                    writer.out.put_u32(*oid);
                }
                writer.finish()
            }
            Frontend::Bind(bind) => {
                let mut writer = Writer::new(out, Some(b'B'), "Bind");
                writer.cstr(&bind.portal)?;
                writer.cstr(&bind.statement)?;
                writer.count(bind.param_formats.len(), "parameter formats")?;
                for format in &bind.param_formats {
                    writer.out.put_i16(*format);
                }
                writer.count(bind.params.len(), "parameters")?;
                for value in &bind.params {
                    writer.value(value.as_deref())?;
                }
                writer.count(bind.result_formats.len(), "result formats")?;
                for format in &bind.result_formats {
                    writer.out.put_i16(*format);
                }
                writer.finish()
            }
            Frontend::Describe { target, name } | Frontend::Close { target, name } => {
                let (tag, message) = match self {
                    Frontend::Describe { .. } => (b'D', "Describe"),
                    _ => (b'C', "Close"),
                };
                let mut writer = Writer::new(out, Some(tag), message);
                writer.out.put_u8(target.byte());
                writer.cstr(name)?;
                writer.finish()
            }
            Frontend::Execute { portal, max_rows } => {
                let mut writer = Writer::new(out, Some(b'E'), "Execute");
                writer.cstr(portal)?;
                writer.out.put_i32(*max_rows);
                writer.finish()
            }
            Frontend::Sync => raw(out, b'S', "Sync", &[]),
            Frontend::Flush => raw(out, b'H', "Flush", &[]),
            Frontend::Terminate => raw(out, b'X', "Terminate", &[]),
            Frontend::FunctionCall(call) => {
                let mut writer = Writer::new(out, Some(b'F'), "FunctionCall");
                writer.out.put_u32(call.function);
                writer.count(call.arg_formats.len(), "argument formats")?;
                for format in &call.arg_formats {
                    writer.out.put_i16(*format);
                }
                writer.count(call.args.len(), "arguments")?;
                for value in &call.args {
                    writer.value(value.as_deref())?;
                }
                writer.out.put_i16(call.result_format);
                writer.finish()
            }
            Frontend::CopyData(data) => raw(out, b'd', "CopyData", data),
            Frontend::CopyDone => raw(out, b'c', "CopyDone", &[]),
            Frontend::CopyFail(message) => {
                let mut writer = Writer::new(out, Some(b'f'), "CopyFail");
                writer.cstr(message)?;
                writer.finish()
            }
        }
    }
}

fn untyped_code(out: &mut BytesMut, code: i32) -> Result<(), ProtocolError> {
    out.put_i32(8);
    out.put_i32(code);
    Ok(())
}

fn raw(
    out: &mut BytesMut,
    tag: u8,
    message: &'static str,
    body: &[u8],
) -> Result<(), ProtocolError> {
    let writer = Writer::new(out, Some(tag), message);
    writer.out.put_slice(body);
    writer.finish()
}

/// An authentication request (`'R'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// `AuthenticationOk` (0).
    Ok,
    /// `AuthenticationCleartextPassword` (3).
    CleartextPassword,
    /// `AuthenticationMD5Password` (5).
    Md5Password {
        /// The salt.
        salt: [u8; 4],
    },
    /// `AuthenticationSASL` (10): the mechanisms offered.
    Sasl {
        /// Mechanism names, e.g. `SCRAM-SHA-256`.
        mechanisms: Vec<Bytes>,
    },
    /// `AuthenticationSASLContinue` (11).
    SaslContinue(Bytes),
    /// `AuthenticationSASLFinal` (12).
    SaslFinal(Bytes),
    /// Any other request (Kerberos 2, GSS 7, GSS continue 8, SSPI 9), kept raw.
    Other {
        /// The request code.
        code: i32,
        /// The rest of the body.
        data: Bytes,
    },
}

/// One column of a `RowDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// The column's name.
    pub name: Bytes,
    /// The table's oid, 0 if none.
    pub table_oid: u32,
    /// The column's attribute number, 0 if none.
    pub column: i16,
    /// The type's oid.
    pub type_oid: u32,
    /// The type's size (`pg_type.typlen`).
    pub type_size: i16,
    /// The type modifier (`pg_attribute.atttypmod`).
    pub type_modifier: i32,
    /// The format code (0 text, 1 binary; 0 when not known yet, in a statement's describe).
    pub format: i16,
}

/// A `DataRow`, kept as its raw body (a count and length-prefixed values), validated when
/// decoded; [`DataRow::columns`] reads the values without copying them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    body: Bytes,
}

impl DataRow {
    /// A row of values (`None` for NULL).
    pub fn new(columns: &[Option<&[u8]>]) -> Result<DataRow, ProtocolError> {
        let mut out = BytesMut::new();
        let mut writer = Writer::new(&mut out, None, "DataRow");
        writer.count(columns.len(), "columns")?;
        for column in columns {
            writer.value(*column)?;
        }
        writer.finish()?;
        Ok(DataRow {
            body: out.freeze().split_off(4),
        })
    }

    /// Validates a body.
    pub fn from_body(body: Bytes) -> Result<DataRow, ProtocolError> {
        let mut reader = Reader::new("DataRow", body.clone());
        let n = reader.u16("column count")?;
        for _ in 0..n {
            reader.value("column value")?;
        }
        reader.finish()?;
        Ok(DataRow { body })
    }

    /// The body as sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.body[0], self.body[1]]))
    }

    /// Whether the row has no column.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values, `None` for NULL (slices of the body).
    pub fn columns(&self) -> impl Iterator<Item = Option<Bytes>> + '_ {
        let mut reader = Reader::new("DataRow", self.body.clone());
        let n = reader.u16("column count").unwrap_or(0);
        // The body was validated when the row was made, so these reads succeed.
        (0..n).map_while(move |_| reader.value("column value").ok())
    }
}

/// `CopyInResponse`, `CopyOutResponse`, `CopyBothResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResponse {
    /// 0 text, 1 binary.
    pub format: i8,
    /// Per column.
    pub column_formats: Vec<i16>,
}

/// The fields of an `ErrorResponse` or `NoticeResponse`: one-byte codes (`S` severity, `C`
/// SQLSTATE, `M` message, `D` detail...) and their values, in the order sent.
pub type Fields = Vec<(u8, Bytes)>;

/// A message the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `'R'`.
    Authentication(Authentication),
    /// `'S'`.
    ParameterStatus {
        /// The parameter's name.
        name: Bytes,
        /// Its value.
        value: Bytes,
    },
    /// `'K'`.
    BackendKeyData {
        /// The backend's process id.
        process_id: i32,
        /// The secret key (4 bytes in protocol 3.0).
        secret_key: Bytes,
    },
    /// `'v'`.
    NegotiateProtocolVersion {
        /// The newest minor version the server supports.
        newest_minor: i32,
        /// Options it did not recognize.
        options: Vec<Bytes>,
    },
    /// `'1'`.
    ParseComplete,
    /// `'2'`.
    BindComplete,
    /// `'3'`.
    CloseComplete,
    /// `'s'`.
    PortalSuspended,
    /// `'n'`.
    NoData,
    /// `'I'`.
    EmptyQueryResponse,
    /// `'C'`: the command tag, e.g. `SELECT 3`, `INSERT 0 1`.
    CommandComplete(Bytes),
    /// `'Z'`: the transaction status, `I` idle, `T` in a transaction, `E` failed.
    ReadyForQuery(u8),
    /// `'E'`.
    ErrorResponse(Fields),
    /// `'N'`.
    NoticeResponse(Fields),
    /// `'A'`.
    NotificationResponse {
        /// The notifying backend's process id.
        process_id: i32,
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
    /// `'t'`: parameter type oids.
    ParameterDescription(Vec<u32>),
    /// `'T'`.
    RowDescription(Vec<FieldDescription>),
    /// `'D'`.
    DataRow(DataRow),
    /// `'V'`: the result, `None` for NULL.
    FunctionCallResponse(Option<Bytes>),
    /// `'G'`.
    CopyInResponse(CopyResponse),
    /// `'H'`.
    CopyOutResponse(CopyResponse),
    /// `'W'`.
    CopyBothResponse(CopyResponse),
    /// `'d'`.
    CopyData(Bytes),
    /// `'c'`.
    CopyDone,
}

fn read_fields(reader: &mut Reader) -> Result<Fields, ProtocolError> {
    let mut fields = Vec::new();
    loop {
        let code = reader.u8("field code")?;
        if code == 0 {
            return Ok(fields);
        }
        fields.push((code, reader.cstr("field value")?));
    }
}

fn read_copy_response(reader: &mut Reader) -> Result<CopyResponse, ProtocolError> {
    let format = reader.u8("format")? as i8;
    let column_formats = read_formats(reader, "column format")?;
    Ok(CopyResponse {
        format,
        column_formats,
    })
}

impl Backend {
    /// Decodes a message from its tag and body.
    pub fn decode(tag: u8, body: Bytes) -> Result<Backend, ProtocolError> {
        let name = match tag {
            b'R' => "Authentication",
            b'S' => "ParameterStatus",
            b'K' => "BackendKeyData",
            b'v' => "NegotiateProtocolVersion",
            b'1' => "ParseComplete",
            b'2' => "BindComplete",
            b'3' => "CloseComplete",
            b's' => "PortalSuspended",
            b'n' => "NoData",
            b'I' => "EmptyQueryResponse",
            b'C' => "CommandComplete",
            b'Z' => "ReadyForQuery",
            b'E' => "ErrorResponse",
            b'N' => "NoticeResponse",
            b'A' => "NotificationResponse",
            b't' => "ParameterDescription",
            b'T' => "RowDescription",
            b'D' => "DataRow",
            b'V' => "FunctionCallResponse",
            b'G' => "CopyInResponse",
            b'H' => "CopyOutResponse",
            b'W' => "CopyBothResponse",
            b'd' => "CopyData",
            b'c' => "CopyDone",
            other => {
                return Err(ProtocolError::UnknownTag {
                    direction: "server",
                    tag: printable_tag(other),
                });
            }
        };
        if tag == b'D' {
            return DataRow::from_body(body).map(Backend::DataRow);
        }
        let mut reader = Reader::new(name, body);
        let message = match tag {
            b'R' => Backend::Authentication(match reader.i32("request code")? {
                0 => Authentication::Ok,
                3 => Authentication::CleartextPassword,
                5 => Authentication::Md5Password {
                    salt: reader.array("salt")?,
                },
                10 => {
                    let mut mechanisms = Vec::new();
                    loop {
                        let mechanism = reader.cstr("mechanism")?;
                        if mechanism.is_empty() {
                            break;
                        }
                        mechanisms.push(mechanism);
                    }
                    Authentication::Sasl { mechanisms }
                }
                11 => Authentication::SaslContinue(reader.rest()),
                12 => Authentication::SaslFinal(reader.rest()),
                code => Authentication::Other {
                    code,
                    data: reader.rest(),
                },
            }),
            b'S' => Backend::ParameterStatus {
                name: reader.cstr("name")?,
                value: reader.cstr("value")?,
            },
            b'K' => {
                let process_id = reader.i32("process id")?;
                let secret_key = reader.rest();
                if secret_key.is_empty() {
                    return Err(reader.truncated("secret key"));
                }
                Backend::BackendKeyData {
                    process_id,
                    secret_key,
                }
            }
            b'v' => {
                let newest_minor = reader.i32("newest minor version")?;
                let n = reader.i32("option count")?;
                if n < 0 {
                    return Err(reader.invalid(format!("option count {n}")));
                }
                let mut options = Vec::new();
                for _ in 0..n {
                    options.push(reader.cstr("option")?);
                }
                Backend::NegotiateProtocolVersion {
                    newest_minor,
                    options,
                }
            }
            b'1' => Backend::ParseComplete,
            b'2' => Backend::BindComplete,
            b'3' => Backend::CloseComplete,
            b's' => Backend::PortalSuspended,
            b'n' => Backend::NoData,
            b'I' => Backend::EmptyQueryResponse,
            b'C' => Backend::CommandComplete(reader.cstr("command tag")?),
            b'Z' => {
                let status = reader.u8("transaction status")?;
                if !matches!(status, b'I' | b'T' | b'E') {
                    return Err(
                        reader.invalid(format!("transaction status {}", printable_tag(status)))
                    );
                }
                Backend::ReadyForQuery(status)
            }
            b'E' => Backend::ErrorResponse(read_fields(&mut reader)?),
            b'N' => Backend::NoticeResponse(read_fields(&mut reader)?),
            b'A' => Backend::NotificationResponse {
                process_id: reader.i32("process id")?,
                channel: reader.cstr("channel")?,
                payload: reader.cstr("payload")?,
            },
            b't' => {
                let n = reader.u16("parameter count")?;
                let mut types = Vec::with_capacity(usize::from(n).min(reader.body.len() / 4));
                for _ in 0..n {
                    types.push(reader.u32("parameter type")?);
                }
                Backend::ParameterDescription(types)
            }
            b'T' => {
                let n = reader.u16("field count")?;
                let mut fields = Vec::with_capacity(usize::from(n).min(reader.body.len() / 19));
                for _ in 0..n {
                    fields.push(FieldDescription {
                        name: reader.cstr("field name")?,
                        table_oid: reader.u32("table oid")?,
                        column: reader.i16("column number")?,
                        type_oid: reader.u32("type oid")?,
                        type_size: reader.i16("type size")?,
                        type_modifier: reader.i32("type modifier")?,
                        format: reader.i16("format")?,
                    });
                }
                Backend::RowDescription(fields)
            }
            b'V' => Backend::FunctionCallResponse(reader.value("result")?),
            b'G' => Backend::CopyInResponse(read_copy_response(&mut reader)?),
            b'H' => Backend::CopyOutResponse(read_copy_response(&mut reader)?),
            b'W' => Backend::CopyBothResponse(read_copy_response(&mut reader)?),
            b'd' => Backend::CopyData(reader.rest()),
            _ => Backend::CopyDone,
        };
        if !reader.is_empty() {
            return Err(ProtocolError::TrailingBytes {
                message: name,
                extra: reader.body.len() - reader.pos,
            });
        }
        Ok(message)
    }

    /// Appends the message, tag and length included, to `out`; on an error `out` is left as
    /// it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = out.len();
        self.encode_unchecked(out)
            .inspect_err(|_| out.truncate(start))
    }

    fn encode_unchecked(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        match self {
            Backend::Authentication(request) => {
                let mut writer = Writer::new(out, Some(b'R'), "Authentication");
                match request {
                    Authentication::Ok => writer.out.put_i32(0),
                    Authentication::CleartextPassword => writer.out.put_i32(3),
                    Authentication::Md5Password { salt } => {
                        writer.out.put_i32(5);
                        writer.out.put_slice(salt);
                    }
                    Authentication::Sasl { mechanisms } => {
                        writer.out.put_i32(10);
                        for mechanism in mechanisms {
                            if mechanism.is_empty() {
                                return Err(ProtocolError::TooLarge {
                                    message: "Authentication",
                                    problem: "an empty SASL mechanism name".to_owned(),
                                });
                            }
                            writer.cstr(mechanism)?;
                        }
                        writer.out.put_u8(0);
                    }
                    Authentication::SaslContinue(data) => {
                        writer.out.put_i32(11);
                        writer.out.put_slice(data);
                    }
                    Authentication::SaslFinal(data) => {
                        writer.out.put_i32(12);
                        writer.out.put_slice(data);
                    }
                    Authentication::Other { code, data } => {
                        writer.out.put_i32(*code);
                        writer.out.put_slice(data);
                    }
                }
                writer.finish()
            }
            Backend::ParameterStatus { name, value } => {
                let mut writer = Writer::new(out, Some(b'S'), "ParameterStatus");
                writer.cstr(name)?;
                writer.cstr(value)?;
                writer.finish()
            }
            Backend::BackendKeyData {
                process_id,
                secret_key,
            } => {
                let writer = Writer::new(out, Some(b'K'), "BackendKeyData");
                writer.out.put_i32(*process_id);
                writer.out.put_slice(secret_key);
                writer.finish()
            }
            Backend::NegotiateProtocolVersion {
                newest_minor,
                options,
            } => {
                let mut writer = Writer::new(out, Some(b'v'), "NegotiateProtocolVersion");
                writer.out.put_i32(*newest_minor);
                writer.out.put_i32(options.len() as i32);
                for option in options {
                    writer.cstr(option)?;
                }
                writer.finish()
            }
            Backend::ParseComplete => raw(out, b'1', "ParseComplete", &[]),
            Backend::BindComplete => raw(out, b'2', "BindComplete", &[]),
            Backend::CloseComplete => raw(out, b'3', "CloseComplete", &[]),
            Backend::PortalSuspended => raw(out, b's', "PortalSuspended", &[]),
            Backend::NoData => raw(out, b'n', "NoData", &[]),
            Backend::EmptyQueryResponse => raw(out, b'I', "EmptyQueryResponse", &[]),
            Backend::CommandComplete(tag) => {
                let mut writer = Writer::new(out, Some(b'C'), "CommandComplete");
                writer.cstr(tag)?;
                writer.finish()
            }
            Backend::ReadyForQuery(status) => raw(out, b'Z', "ReadyForQuery", &[*status]),
            Backend::ErrorResponse(fields) | Backend::NoticeResponse(fields) => {
                let (tag, message) = match self {
                    Backend::ErrorResponse(_) => (b'E', "ErrorResponse"),
                    _ => (b'N', "NoticeResponse"),
                };
                let mut writer = Writer::new(out, Some(tag), message);
                for (code, value) in fields {
                    if *code == 0 {
                        return Err(ProtocolError::TooLarge {
                            message,
                            problem: "a field code of 0".to_owned(),
                        });
                    }
                    writer.out.put_u8(*code);
                    writer.cstr(value)?;
                }
                writer.out.put_u8(0);
                writer.finish()
            }
            Backend::NotificationResponse {
                process_id,
                channel,
                payload,
            } => {
                let mut writer = Writer::new(out, Some(b'A'), "NotificationResponse");
                writer.out.put_i32(*process_id);
                writer.cstr(channel)?;
                writer.cstr(payload)?;
                writer.finish()
            }
            Backend::ParameterDescription(types) => {
                let mut writer = Writer::new(out, Some(b't'), "ParameterDescription");
                writer.count(types.len(), "parameter types")?;
                for oid in types {
                    writer.out.put_u32(*oid);
                }
                writer.finish()
            }
            Backend::RowDescription(fields) => {
                let mut writer = Writer::new(out, Some(b'T'), "RowDescription");
                writer.count(fields.len(), "fields")?;
                for field in fields {
                    writer.cstr(&field.name)?;
                    writer.out.put_u32(field.table_oid);
                    writer.out.put_i16(field.column);
                    writer.out.put_u32(field.type_oid);
                    writer.out.put_i16(field.type_size);
                    writer.out.put_i32(field.type_modifier);
                    writer.out.put_i16(field.format);
                }
                writer.finish()
            }
            Backend::DataRow(row) => raw(out, b'D', "DataRow", row.body()),
            Backend::FunctionCallResponse(value) => {
                let mut writer = Writer::new(out, Some(b'V'), "FunctionCallResponse");
                writer.value(value.as_deref())?;
                writer.finish()
            }
            Backend::CopyInResponse(copy)
            | Backend::CopyOutResponse(copy)
            | Backend::CopyBothResponse(copy) => {
                let (tag, message) = match self {
                    Backend::CopyInResponse(_) => (b'G', "CopyInResponse"),
                    Backend::CopyOutResponse(_) => (b'H', "CopyOutResponse"),
                    _ => (b'W', "CopyBothResponse"),
                };
                let mut writer = Writer::new(out, Some(tag), message);
                writer.out.put_u8(copy.format as u8);
                writer.count(copy.column_formats.len(), "column formats")?;
                for format in &copy.column_formats {
                    writer.out.put_i16(*format);
                }
                writer.finish()
            }
            Backend::CopyData(data) => raw(out, b'd', "CopyData", data),
            Backend::CopyDone => raw(out, b'c', "CopyDone", &[]),
        }
    }

    /// Decodes one typed [`Frame`] of the server's stream.
    pub fn decode_frame(frame: Frame) -> Result<Backend, ProtocolError> {
        match frame.tag {
            Some(tag) => Backend::decode(tag, frame.body),
            None => Err(ProtocolError::Invalid {
                message: "server message",
                problem: "a server message always has a tag".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8], untyped: bool) -> Vec<Framed> {
        let mut framer = Framer::new(untyped, MAX_MESSAGE_LEN);
        framer.push(Bytes::copy_from_slice(bytes));
        let mut out = Vec::new();
        while let Some(framed) = framer.next_frame().unwrap() {
            out.push(framed);
        }
        out
    }

    #[test]
    fn a_query_round_trips_through_the_framer() {
        let mut out = BytesMut::new();
        Frontend::Query(Bytes::from_static(b"SELECT 1"))
            .encode(&mut out)
            .unwrap();
        assert_eq!(&out[..], b"Q\0\0\0\x0dSELECT 1\0");
        let framed = frames(&out, false);
        let [Framed::Message(frame)] = &framed[..] else {
            panic!("{framed:?}")
        };
        assert_eq!(
            Frontend::decode_frame(frame.clone()).unwrap(),
            Frontend::Query(Bytes::from_static(b"SELECT 1"))
        );
    }

    #[test]
    fn a_message_split_byte_by_byte_is_reassembled() {
        let mut out = BytesMut::new();
        Backend::CommandComplete(Bytes::from_static(b"INSERT 0 1"))
            .encode(&mut out)
            .unwrap();
        Backend::ReadyForQuery(b'I').encode(&mut out).unwrap();
        let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
        let mut got = Vec::new();
        for byte in out.iter() {
            framer.push(Bytes::copy_from_slice(&[*byte]));
            while let Some(Framed::Message(frame)) = framer.next_frame().unwrap() {
                got.push(Backend::decode_frame(frame).unwrap());
            }
        }
        assert_eq!(
            got,
            vec![
                Backend::CommandComplete(Bytes::from_static(b"INSERT 0 1")),
                Backend::ReadyForQuery(b'I')
            ]
        );
    }

    #[test]
    fn an_oversized_message_is_reported_and_skipped() {
        let mut out = BytesMut::new();
        let row = DataRow::new(&[Some(&[7u8; 100][..])]).unwrap();
        Backend::DataRow(row).encode(&mut out).unwrap();
        Backend::ReadyForQuery(b'T').encode(&mut out).unwrap();
        let mut framer = Framer::new(false, 50);
        let mut got = Vec::new();
        for chunk in out.chunks(7) {
            framer.push(Bytes::copy_from_slice(chunk));
            while let Some(framed) = framer.next_frame().unwrap() {
                got.push(framed);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Framed::Oversized {
                tag: Some(b'D'),
                length: 111
            }
        );
        assert_eq!(
            got[1],
            Framed::Message(Frame {
                tag: Some(b'Z'),
                body: Bytes::from_static(b"T")
            })
        );
    }

    #[test]
    fn a_bad_length_is_an_error_naming_the_message() {
        let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
        framer.push(Bytes::from_static(b"Q\0\0\0\x02"));
        let error = framer.next_frame().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("message 'Q' declares a length of 2 bytes (valid: 4 to {MAX_MESSAGE_LEN})")
        );
    }

    #[test]
    fn a_parameter_description_claiming_more_types_than_it_holds_is_truncated() {
        let error = Backend::decode(b't', Bytes::from_static(b"\0\x05\0\0\0\x17")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ParameterDescription is truncated: parameter type is missing"
        );
    }

    #[test]
    fn startup_messages_decode() {
        let mut out = BytesMut::new();
        Frontend::SslRequest.encode(&mut out).unwrap();
        Frontend::Startup(Startup {
            version: PROTOCOL_VERSION_3_0,
            params: vec![(Bytes::from_static(b"user"), Bytes::from_static(b"app"))],
        })
        .encode(&mut out)
        .unwrap();
        let framed = frames(&out, true);
        let decoded: Vec<Frontend> = framed
            .into_iter()
            .map(|framed| match framed {
                Framed::Message(frame) => Frontend::decode_frame(frame).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(decoded[0], Frontend::SslRequest);
        let Frontend::Startup(startup) = &decoded[1] else {
            panic!("{decoded:?}")
        };
        assert_eq!(startup.param("user").unwrap().as_ref(), b"app");
    }
}
