//! A body copied as it passes, up to a limit, and classified by cov-trace: what a trace
//! can hold of an inbound request or response, or of an outbound call.

use cov_trace::{DecodedType, Unrecordable, classify_body};

/// The bytes of one body, copied up to the limit, or why they will not be recorded.
#[derive(Debug)]
pub(crate) struct BodyCapture {
    bytes: Vec<u8>,
    /// Bytes that went past, copied or not.
    seen: usize,
    content_type: Option<String>,
    content_encoding: Option<String>,
    refused: Option<Refusal>,
    /// Whether the bytes are classified (a trace's inbound bodies, which the CLI compares)
    /// or kept as they are (an outbound call's, which are served back verbatim).
    classified: bool,
}

/// Why a body is not recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over the body limit.
    TooLarge,
    /// Binary or compressed.
    Unrecordable(Unrecordable),
    /// The application answered without reading the request body to its end.
    RequestNotRead,
    /// A body came in buffers the layer cannot read without consuming them.
    Fragmented,
}

impl BodyCapture {
    /// A capture for a body of this content type and encoding (a binary or compressed one
    /// is refused at once, and its bytes are never copied).
    pub(crate) fn new(content_type: Option<String>, content_encoding: Option<String>) -> Self {
        let mut capture = Self {
            bytes: Vec::new(),
            seen: 0,
            content_type,
            content_encoding,
            refused: None,
            classified: true,
        };
        // Known from the headers already: do not even copy the bytes.
        capture.refused = capture.classify(b"x").err().map(Refusal::Unrecordable);
        capture
    }

    fn classify(&self, bytes: &[u8]) -> Result<Option<DecodedType>, Unrecordable> {
        classify_body(
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
            bytes,
        )
    }

    /// A capture that keeps any bytes as they are, up to the limit: an outbound call's
    /// bodies, served back verbatim in replay.
    #[cfg(feature = "http-client")]
    pub(crate) fn verbatim() -> Self {
        Self {
            bytes: Vec::new(),
            seen: 0,
            content_type: None,
            content_encoding: None,
            refused: None,
            classified: false,
        }
    }

    /// A chunk that went past; copying stops for good once `max_bytes` would be exceeded.
    pub(crate) fn push(&mut self, chunk: &[u8], max_bytes: usize) {
        self.seen += chunk.len();
        if self.refused.is_some() || chunk.is_empty() {
            return;
        }
        if self.bytes.len() + chunk.len() > max_bytes {
            self.refused = Some(Refusal::TooLarge);
            self.bytes = Vec::new();
            return;
        }
        self.bytes.extend_from_slice(chunk);
    }

    /// Gives up on the body: it came in buffers that cannot be read without consuming them.
    pub(crate) fn refuse_fragmented(&mut self) {
        self.bytes = Vec::new();
        self.refused = Some(Refusal::Fragmented);
    }

    /// The body and its type, or why it is refused.
    pub(crate) fn finish(self) -> Result<(Vec<u8>, Option<DecodedType>), Refusal> {
        if let Some(refusal) = self.refused {
            if self.seen == 0 && matches!(refusal, Refusal::Unrecordable(_)) {
                // Refused by its headers, but empty after all: nothing to refuse.
                return Ok((Vec::new(), None));
            }
            return Err(refusal);
        }
        if !self.classified {
            return Ok((self.bytes, None));
        }
        let body_type = self.classify(&self.bytes).map_err(Refusal::Unrecordable)?;
        Ok((self.bytes, body_type))
    }
}
