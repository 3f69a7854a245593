//! Framing: a 4-byte big-endian length, then that many bytes of protobuf.
//!
//! [`FrameCodec`] wraps tokio-util's [`LengthDelimitedCodec`], configured explicitly by
//! [`length_delimited_builder`], and adds the one behaviour of the Tusk CLI that codec does
//! not have: an announced length above the maximum is *skipped* (its bytes are read and
//! dropped as they arrive, never buffered) instead of failing the stream.
//! [`MessageCodec`] turns frames into prost messages and back, skipping frames that do not
//! decode, as the CLI does.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use cov_proto::{CliMessage, Message, MessageType, SdkMessage};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, length_delimited};

use crate::error::FrameError;

/// The default maximum frame length: 10 MiB, the limit of the Tusk CLI.
pub const DEFAULT_MAX_FRAME_LEN: usize = 10 * 1024 * 1024;

/// Length of the frame header: a `u32` in big-endian order.
pub const HEADER_LEN: usize = 4;

/// The tokio-util builder for the Tusk framing, every setting spelled out.
///
/// ```text
/// +---- len: u32 (big-endian) ----+------- payload: protobuf -------+
/// | 0x00 | 0x00 | 0x00 | 0x0B     |  Hello world (11 bytes)         |
/// +-------------------------------+---------------------------------+
/// ```
pub fn length_delimited_builder(max_frame_len: usize) -> length_delimited::Builder {
    let mut builder = LengthDelimitedCodec::builder();
    builder
        .length_field_offset(0)
        .length_field_type::<u32>()
        .big_endian()
        .length_adjustment(0)
        .num_skip(HEADER_LEN)
        .max_frame_length(max_frame_len);
    builder
}

/// Where the decoder is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecodeState {
    /// At a frame boundary, waiting for (the rest of) a 4-byte header.
    Head,
    /// The header announced `len` bytes and the inner codec is collecting them.
    Data { len: u64 },
    /// The header announced `len` bytes, more than the maximum; `remaining` are still to be
    /// read and dropped.
    Discard { len: u64, remaining: u64 },
}

/// Length-delimited frames as the Tusk CLI reads and writes them.
///
/// Decoding yields each payload; a frame announcing more than `max_frame_len` bytes is
/// skipped with a warning, its bytes dropped as they arrive (memory stays bounded by the
/// maximum frame length however large the announced length, up to 4 GiB - 1). Encoding a
/// payload larger than the maximum is [`FrameError::TooLarge`]. At end of stream, a partial
/// header or payload is [`FrameError::ClosedMidFrame`].
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max_frame_len: usize,
    state: DecodeState,
    skipped_oversized: u64,
}

impl FrameCodec {
    /// A codec with the default maximum frame length of 10 MiB.
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A codec whose frames carry at most `max_frame_len` payload bytes (capped at
    /// `u32::MAX`, the largest length the header can announce).
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        let max_frame_len = max_frame_len.min(u32::MAX as usize);
        FrameCodec {
            inner: length_delimited_builder(max_frame_len).new_codec(),
            max_frame_len,
            state: DecodeState::Head,
            skipped_oversized: 0,
        }
    }

    /// The maximum payload length of a frame.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// How many oversized incoming frames were skipped so far.
    pub fn skipped_oversized(&self) -> u64 {
        self.skipped_oversized
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        loop {
            match self.state {
                DecodeState::Discard { len, remaining } => {
                    let dropped = remaining.min(src.len() as u64);
                    src.advance(dropped as usize);
                    let remaining = remaining - dropped;
                    if remaining > 0 {
                        self.state = DecodeState::Discard { len, remaining };
                        return Ok(None);
                    }
                    tracing::debug!(len, "finished skipping an oversized frame");
                    self.state = DecodeState::Head;
                }
                DecodeState::Head => {
                    if src.len() < HEADER_LEN {
                        return Ok(None);
                    }
                    let announced = u64::from(u32::from_be_bytes([src[0], src[1], src[2], src[3]]));
                    if announced > self.max_frame_len as u64 {
                        // The Tusk CLI logs "Message too large, skipping" and keeps the
                        // connection; so do we, without buffering the payload.
                        tracing::warn!(
                            len = announced,
                            max = self.max_frame_len,
                            "skipping an incoming frame larger than the maximum frame length"
                        );
                        self.skipped_oversized += 1;
                        src.advance(HEADER_LEN);
                        self.state = DecodeState::Discard {
                            len: announced,
                            remaining: announced,
                        };
                        continue;
                    }
                    self.state = DecodeState::Data { len: announced };
                }
                DecodeState::Data { .. } => {
                    // The inner codec reads the header we peeked at, then the payload.
                    let frame = self.inner.decode(src)?;
                    if frame.is_some() {
                        self.state = DecodeState::Head;
                    }
                    return Ok(frame);
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.state {
            DecodeState::Head if src.is_empty() => Ok(None),
            DecodeState::Head => Err(FrameError::ClosedMidFrame {
                header_bytes: src.len(),
                expected_len: None,
                received_len: 0,
            }),
            DecodeState::Data { len } => Err(FrameError::ClosedMidFrame {
                header_bytes: HEADER_LEN,
                expected_len: Some(len),
                received_len: src.len() as u64,
            }),
            DecodeState::Discard { len, remaining } => Err(FrameError::ClosedMidFrame {
                header_bytes: HEADER_LEN,
                expected_len: Some(len),
                received_len: len - remaining,
            }),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        check_frame_len(payload.len(), self.max_frame_len)?;
        self.inner.encode(payload, dst).map_err(FrameError::Io)
    }
}

/// `Ok` when a payload of `len` bytes fits in a frame of at most `max_frame_len` bytes.
pub(crate) fn check_frame_len(len: usize, max_frame_len: usize) -> Result<(), FrameError> {
    if len > max_frame_len {
        Err(FrameError::TooLarge {
            len,
            max: max_frame_len,
        })
    } else {
        Ok(())
    }
}

/// Typed frames: decodes `In` messages, encodes `Out` messages.
///
/// A frame whose payload is not a valid `In` message is skipped with a debug log, as the
/// Tusk CLI does ("Failed to parse protobuf message", then the next frame). Fields and
/// `oneof` payloads this crate does not model (the CLI's mock and span payloads, fields
/// added upstream later) are skipped by prost while decoding, so such a message arrives with
/// its known fields and `payload: None` when only the payload is unknown. An unknown
/// `MessageType` value is kept as its number in the message's `type` field.
#[derive(Debug)]
pub struct MessageCodec<In, Out> {
    frames: FrameCodec,
    skipped_undecodable: u64,
    marker: PhantomData<fn(Out) -> In>,
}

/// The SDK side's codec: reads [`CliMessage`]s, writes [`SdkMessage`]s.
pub type SdkCodec = MessageCodec<CliMessage, SdkMessage>;
/// The CLI side's codec: reads [`SdkMessage`]s, writes [`CliMessage`]s.
pub type CliCodec = MessageCodec<SdkMessage, CliMessage>;

impl<In, Out> MessageCodec<In, Out> {
    /// A codec over [`FrameCodec::with_max_frame_len`].
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        MessageCodec {
            frames: FrameCodec::with_max_frame_len(max_frame_len),
            skipped_undecodable: 0,
            marker: PhantomData,
        }
    }

    /// The framing underneath.
    pub fn frames(&self) -> &FrameCodec {
        &self.frames
    }

    /// How many frames were skipped because their payload did not decode.
    pub fn skipped_undecodable(&self) -> u64 {
        self.skipped_undecodable
    }
}

impl<In, Out> Default for MessageCodec<In, Out> {
    fn default() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }
}

impl<In: Message + Default, Out> MessageCodec<In, Out> {
    fn decode_payload(&mut self, payload: BytesMut) -> Option<In> {
        match In::decode(payload.freeze()) {
            Ok(message) => Some(message),
            Err(error) => {
                self.skipped_undecodable += 1;
                tracing::debug!(%error, "skipping a frame that is not a valid protobuf message");
                None
            }
        }
    }
}

impl<In: Message + Default, Out> Decoder for MessageCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        while let Some(payload) = self.frames.decode(src)? {
            if let Some(message) = self.decode_payload(payload) {
                return Ok(Some(message));
            }
        }
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        while let Some(payload) = self.frames.decode_eof(src)? {
            if let Some(message) = self.decode_payload(payload) {
                return Ok(Some(message));
            }
        }
        Ok(None)
    }
}

impl<In, Out: Message> Encoder<Out> for MessageCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, message: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.frames
            .encode(encode_message(&message, self.frames.max_frame_len)?, dst)
    }
}

/// Encodes `message` as a frame payload, refusing one longer than `max_frame_len`.
pub fn encode_message(message: &impl Message, max_frame_len: usize) -> Result<Bytes, FrameError> {
    let len = message.encoded_len();
    check_frame_len(len, max_frame_len.min(u32::MAX as usize))?;
    let mut payload = Vec::with_capacity(len);
    message
        .encode(&mut payload)
        .map_err(|error| FrameError::Io(io::Error::other(error)))?;
    Ok(Bytes::from(payload))
}

/// A readable name of a `MessageType` value, known or not: `MESSAGE_TYPE_COVERAGE_SNAPSHOT`,
/// or `unknown (42)`. For logs and error messages on both ends of the channel.
pub fn describe_type(value: i32) -> String {
    match MessageType::try_from(value) {
        Ok(known) => known.as_str_name().to_owned(),
        Err(_) => format!("unknown ({value})"),
    }
}
