//! What a body is, as the Tusk CLI compares it: `DecodedType`, and which bodies a trace
//! can hold at all.

/// Upstream `tusk.drift.core.v1.DecodedType` (`json_schema.proto`): how the CLI parses a
/// decoded body before comparing it. Written as its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The variants are the upstream names.
pub enum DecodedType {
    Json = 1,
    Html = 2,
    Css = 3,
    Javascript = 4,
    Xml = 5,
    Yaml = 6,
    Markdown = 7,
    Csv = 8,
    Sql = 9,
    Graphql = 10,
    PlainText = 11,
    FormData = 12,
    MultipartForm = 13,
    Pdf = 14,
    Audio = 15,
    Video = 16,
    Gzip = 17,
    Binary = 18,
    Jpeg = 19,
    Png = 20,
    Gif = 21,
    Webp = 22,
    Svg = 23,
    Zip = 24,
}

impl DecodedType {
    const ALL: [DecodedType; 24] = [
        Self::Json,
        Self::Html,
        Self::Css,
        Self::Javascript,
        Self::Xml,
        Self::Yaml,
        Self::Markdown,
        Self::Csv,
        Self::Sql,
        Self::Graphql,
        Self::PlainText,
        Self::FormData,
        Self::MultipartForm,
        Self::Pdf,
        Self::Audio,
        Self::Video,
        Self::Gzip,
        Self::Binary,
        Self::Jpeg,
        Self::Png,
        Self::Gif,
        Self::Webp,
        Self::Svg,
        Self::Zip,
    ];

    /// The upstream enum number.
    pub fn number(self) -> i32 {
        self as i32
    }

    /// The type with upstream number `number`; `None` for 0 (unspecified) and unknown
    /// numbers, which the CLI treats alike ("try JSON, else a string").
    pub fn from_number(number: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.number() == number)
    }

    /// Whether the CLI compares this type as base64 of raw bytes: media and archives.
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Self::Pdf
                | Self::Audio
                | Self::Video
                | Self::Gzip
                | Self::Binary
                | Self::Jpeg
                | Self::Png
                | Self::Gif
                | Self::Webp
                | Self::Zip
        )
    }

    /// The type of a `Content-Type` value (parameters and case ignored); `None` when the
    /// media type says nothing the CLI could use.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let (kind, subtype) = essence.split_once('/')?;
        let suffix = subtype.rsplit_once('+').map(|(_, suffix)| suffix);
        let decoded = match (kind, subtype) {
            (_, "json") | ("application", "x-ndjson") => Self::Json,
            _ if suffix == Some("json") => Self::Json,
            ("text", "html") | ("application", "xhtml+xml") => Self::Html,
            ("text", "css") => Self::Css,
            ("text" | "application", "javascript" | "ecmascript" | "x-javascript") => {
                Self::Javascript
            }
            ("image", "svg+xml") => Self::Svg,
            (_, "xml") => Self::Xml,
            _ if suffix == Some("xml") => Self::Xml,
            (_, "yaml" | "x-yaml") => Self::Yaml,
            ("text", "markdown") => Self::Markdown,
            ("text", "csv") => Self::Csv,
            (_, "sql") => Self::Sql,
            ("application", "graphql") => Self::Graphql,
            ("application", "x-www-form-urlencoded") => Self::FormData,
            ("multipart", "form-data") => Self::MultipartForm,
            ("application", "pdf") => Self::Pdf,
            ("audio", _) => Self::Audio,
            ("video", _) => Self::Video,
            ("application", "gzip" | "x-gzip") => Self::Gzip,
            ("application", "zip" | "x-zip-compressed") => Self::Zip,
            ("image", "jpeg" | "jpg") => Self::Jpeg,
            ("image", "png") => Self::Png,
            ("image", "gif") => Self::Gif,
            ("image", "webp") => Self::Webp,
            ("image", _) | ("font", _) | ("application", "octet-stream") => Self::Binary,
            ("text", _) => Self::PlainText,
            _ => return None,
        };
        Some(decoded)
    }
}

/// Why a body cannot be part of a replayable trace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unrecordable {
    /// A media or archive type, or bytes that are not UTF-8 without a type that says
    /// what they are: the CLI could only compare them as opaque base64, and the official
    /// SDKs do not record them either.
    #[error("binary body ({0})")]
    Binary(String),
    /// A compressed body (`Content-Encoding`): the replaying client decompresses what it
    /// receives, so the recorded bytes would never compare equal.
    #[error("compressed body (content-encoding {0})")]
    Compressed(String),
}

/// How a body with these headers is recorded: its [`DecodedType`] (`None` leaves the CLI
/// to try JSON, else a string), or why it cannot be. An empty body is always recordable.
pub fn classify_body(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<Option<DecodedType>, Unrecordable> {
    if body.is_empty() {
        return Ok(content_type.and_then(DecodedType::from_content_type));
    }
    if let Some(encoding) = content_encoding.map(str::trim)
        && !encoding.is_empty()
        && !encoding.eq_ignore_ascii_case("identity")
    {
        return Err(Unrecordable::Compressed(encoding.to_owned()));
    }
    let decoded = content_type.and_then(DecodedType::from_content_type);
    match decoded {
        Some(kind) if kind.is_binary() => Err(Unrecordable::Binary(
            content_type.unwrap_or_default().to_owned(),
        )),
        Some(kind) => Ok(Some(kind)),
        None if std::str::from_utf8(body).is_err() => Err(Unrecordable::Binary(
            content_type.map_or_else(|| "no content-type, not UTF-8".to_owned(), str::to_owned),
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_match_upstream() {
        for kind in DecodedType::ALL {
            assert_eq!(DecodedType::from_number(kind.number()), Some(kind));
        }
        assert_eq!(DecodedType::Json.number(), 1);
        assert_eq!(DecodedType::PlainText.number(), 11);
        assert_eq!(DecodedType::Binary.number(), 18);
        assert_eq!(DecodedType::Zip.number(), 24);
        assert_eq!(DecodedType::from_number(0), None);
        assert_eq!(DecodedType::from_number(25), None);
    }

    #[test]
    fn content_types_map_as_the_cli_parses_them() {
        let cases = [
            ("application/json", Some(DecodedType::Json)),
            ("Application/JSON; charset=utf-8", Some(DecodedType::Json)),
            ("application/problem+json", Some(DecodedType::Json)),
            ("text/plain; charset=utf-8", Some(DecodedType::PlainText)),
            ("text/html", Some(DecodedType::Html)),
            ("application/xml", Some(DecodedType::Xml)),
            ("application/atom+xml", Some(DecodedType::Xml)),
            ("image/svg+xml", Some(DecodedType::Svg)),
            ("image/png", Some(DecodedType::Png)),
            ("image/x-icon", Some(DecodedType::Binary)),
            ("application/octet-stream", Some(DecodedType::Binary)),
            ("video/mp4", Some(DecodedType::Video)),
            ("text/event-stream", Some(DecodedType::PlainText)),
            ("application/x-protobuf", None),
            ("nonsense", None),
            ("", None),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                DecodedType::from_content_type(content_type),
                expected,
                "{content_type}"
            );
        }
    }

    #[test]
    fn binary_and_compressed_bodies_are_unrecordable_and_empty_ones_always_fit() {
        let png = Some("image/png");
        assert_eq!(
            classify_body(png, None, b"\x89PNG"),
            Err(Unrecordable::Binary("image/png".to_owned()))
        );
        assert_eq!(
            classify_body(png, None, b""),
            Ok(Some(DecodedType::Png)),
            "nothing to record, nothing to refuse"
        );
        assert_eq!(
            classify_body(Some("application/json"), Some("gzip"), b"\x1f\x8b"),
            Err(Unrecordable::Compressed("gzip".to_owned()))
        );
        assert_eq!(
            classify_body(Some("application/json"), Some("identity"), b"{}"),
            Ok(Some(DecodedType::Json))
        );
        assert!(matches!(
            classify_body(None, None, &[0xff, 0xfe, 0x00]),
            Err(Unrecordable::Binary(_))
        ));
        assert_eq!(classify_body(None, None, b"plain words"), Ok(None));
        assert_eq!(
            classify_body(Some("application/x-protobuf"), None, b"\x08\x96\x01"),
            Err(Unrecordable::Binary("application/x-protobuf".to_owned()))
        );
    }
}
