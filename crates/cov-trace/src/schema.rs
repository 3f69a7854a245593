//! Schemas and hashes of span values, with drift-core's algorithm.
//!
//! Mirrors drift-core 0.1.9 (`crates/drift-rust-core/src/{schema,hash,normalize}.rs`,
//! `process_export_payload_value`), which the Python SDK and (when recording) the Node SDK
//! use. The Tusk CLI never recomputes these hashes: it indexes recorded spans by the
//! `inputValueHash`/`inputSchemaHash` in the trace file and looks them up with the ones in a
//! `GetMockRequest`. So the one hard requirement is that recording and replay run this same
//! code on the same value; following drift-core keeps us aligned with the other SDKs too.
//!
//! For a payload (an `inputValue` or `outputValue`) and its [`Merges`] (what the SDK says
//! about some top-level keys):
//!
//! 1. **Normalize**: drift-core serializes the value and parses it back. On a
//!    `serde_json::Value` that changes nothing but a float the parser reads back as a
//!    neighbouring double, so only floats are round-tripped.
//! 2. **Decode** the top-level keys named in the merges: a string with `encoding` BASE64 that
//!    decodes as standard padded base64 becomes the bytes read as UTF-8 (lossily); then a
//!    string with `decoded_type` JSON that parses as JSON becomes the parsed value. Anything
//!    else stays. The decoded value is only hashed: files and requests carry the raw one.
//! 3. **Schema** of the decoded value ([`Schema::of`]): `{type, properties}` per node (type
//!    codes: number 1, string 2, boolean 3, null 4, object 6, array 7), `items` = the schema
//!    of an array's *first* element, and on the root object's children named in the merges
//!    their `encoding`, `decoded_type` and `match_importance`. Merges apply nowhere else.
//! 4. **Hash**: lowercase hex SHA-256 of the compact JSON with object keys sorted at every
//!    level (arrays keep their order), non-ASCII unescaped, numbers as serde_json prints them
//!    (`1` and `1.0` differ). The value hash is over the decoded value, the schema hash over
//!    the schema in drift-core's form (snake_case keys, `match_importance` a float).
//!
//! Trace files carry the schema in the camelCase form the Node SDK writes and the CLI reads
//! ([`Schema::to_file_json`]: `decodedType`, `matchImportance`); the proto `JsonSchema` of a
//! `GetMockRequest` has the same fields (cov-wire converts). Neither form changes the hash,
//! which is always over drift-core's form.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::body::DecodedType;

/// Upstream `EncodingType.ENCODING_TYPE_BASE64`.
pub const ENCODING_BASE64: i32 = 1;

/// Upstream `JsonSchemaType` numbers.
pub mod schema_type {
    /// `JSON_SCHEMA_TYPE_NUMBER`.
    pub const NUMBER: i32 = 1;
    /// `JSON_SCHEMA_TYPE_STRING`.
    pub const STRING: i32 = 2;
    /// `JSON_SCHEMA_TYPE_BOOLEAN`.
    pub const BOOLEAN: i32 = 3;
    /// `JSON_SCHEMA_TYPE_NULL`.
    pub const NULL: i32 = 4;
    /// `JSON_SCHEMA_TYPE_OBJECT`.
    pub const OBJECT: i32 = 6;
    /// `JSON_SCHEMA_TYPE_ORDERED_LIST`.
    pub const ORDERED_LIST: i32 = 7;
}

/// What an SDK says about one top-level key of a payload (drift-core's "schema merge"):
/// how its string is encoded, what it decodes to, and whether the CLI's reduced matching
/// ignores it (`match_importance` 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Merge {
    /// Upstream `EncodingType` number; [`ENCODING_BASE64`] makes the value decoded.
    pub encoding: Option<i32>,
    /// Upstream `DecodedType` number; JSON (1) makes the decoded string parsed.
    pub decoded_type: Option<i32>,
    /// 0 makes the CLI drop the key when it computes its reduced hashes; any other value
    /// (or none) keeps it.
    pub match_importance: Option<f64>,
}

impl Merge {
    /// A base64 body that decodes to `decoded` (`None`: unknown content).
    pub fn base64(decoded: Option<DecodedType>) -> Self {
        Self {
            encoding: Some(ENCODING_BASE64),
            decoded_type: decoded.map(DecodedType::number),
            match_importance: None,
        }
    }

    /// A key the CLI ignores when it matches by reduced hashes (`match_importance` 0), such
    /// as headers.
    pub fn ignored() -> Self {
        Self {
            match_importance: Some(0.0),
            ..Self::default()
        }
    }
}

/// Top-level key → [`Merge`].
pub type Merges = BTreeMap<String, Merge>;

/// One node of a value's schema: upstream `tusk.drift.core.v1.JsonSchema`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// Upstream `JsonSchemaType` number ([`schema_type`]).
    pub r#type: i32,
    /// The schemas of an object's properties.
    pub properties: BTreeMap<String, Schema>,
    /// The schema of a list's first item.
    pub items: Option<Box<Schema>>,
    /// Upstream `EncodingType` number.
    pub encoding: Option<i32>,
    /// Upstream `DecodedType` number.
    pub decoded_type: Option<i32>,
    /// How much the node counts when the CLI matches; 0 = ignored.
    pub match_importance: Option<f64>,
}

/// The hashes and schema of one payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Hashes {
    /// SHA-256 of the decoded value (`inputValueHash`, `outputValueHash`).
    pub value_hash: String,
    /// The schema of the decoded value, merges applied.
    pub schema: Schema,
    /// SHA-256 of the schema in drift-core's form (`inputSchemaHash`, `outputSchemaHash`).
    pub schema_hash: String,
}

/// The value hash, schema and schema hash of `value` with `merges` (steps 1 to 4).
pub fn hashes(value: &Value, merges: &Merges) -> Hashes {
    let decoded = decode(value, merges);
    let schema = Schema::generate(&decoded, Some(merges));
    Hashes {
        value_hash: hash_json(&decoded),
        schema_hash: schema.hash(),
        schema,
    }
}

/// The value hash alone (steps 1, 2 and 4): what a replayed call needs first, without
/// building the schema.
pub fn value_hash(value: &Value, merges: &Merges) -> String {
    hash_json(&decode(value, merges))
}

/// [`hashes`] of an object, without copying it into a [`Value`].
pub fn object_hashes(object: &Map<String, Value>, merges: &Merges) -> Hashes {
    let decoded = decode_object(object, merges);
    let schema = Schema::generate_object(&decoded, Some(merges));
    Hashes {
        value_hash: hash_object(&decoded),
        schema_hash: schema.hash(),
        schema,
    }
}

/// [`value_hash`] of an object, without copying it into a [`Value`].
pub fn object_value_hash(object: &Map<String, Value>, merges: &Merges) -> String {
    hash_object(&decode_object(object, merges))
}

fn hash_object(object: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    write_sorted_object(object, &mut hasher);
    hex(&hasher.finalize())
}

/// [`decode`] of an object.
fn decode_object<'a>(
    object: &'a Map<String, Value>,
    merges: &Merges,
) -> Cow<'a, Map<String, Value>> {
    if object.values().any(has_float) {
        let Value::Object(normalized) = round_trip_floats(&Value::Object(object.clone())) else {
            unreachable!("an object stays an object")
        };
        return Cow::Owned(decode_fields(&normalized, merges).unwrap_or(normalized));
    }
    decode_fields(object, merges).map_or(Cow::Borrowed(object), Cow::Owned)
}

/// The object with its merged keys decoded; `None` when none changes.
fn decode_fields(map: &Map<String, Value>, merges: &Merges) -> Option<Map<String, Value>> {
    let mut decoded: Option<Map<String, Value>> = None;
    for (key, merge) in merges {
        let Some(field) = map.get(key) else {
            continue;
        };
        if let Some(replacement) = decode_field(field, merge) {
            decoded
                .get_or_insert_with(|| map.clone())
                .insert(key.clone(), replacement);
        }
    }
    decoded
}

/// Steps 1 and 2: the value drift-core hashes, with merged top-level keys decoded.
pub fn decode<'a>(value: &'a Value, merges: &Merges) -> Cow<'a, Value> {
    let value = normalize(value);
    let Value::Object(map) = value.as_ref() else {
        return value;
    };
    match decode_fields(map, merges) {
        Some(map) => Cow::Owned(Value::Object(map)),
        None => value,
    }
}

/// drift-core's `apply_schema_merges_top_level` for one key: `None` when it stays as is.
fn decode_field(field: &Value, merge: &Merge) -> Option<Value> {
    let mut working: Option<String> = None;
    if merge.encoding == Some(ENCODING_BASE64)
        && let Value::String(text) = field
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
    {
        working = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    if merge.decoded_type == Some(DecodedType::Json.number()) {
        let text = working.as_deref().or(field.as_str());
        if let Some(parsed) = text.and_then(|text| serde_json::from_str::<Value>(text).ok()) {
            return Some(parsed);
        }
    }
    working.map(Value::String)
}

/// Step 1: drift-core's serialize-and-parse round trip. Only a float can come back
/// different (serde_json prints its shortest representation and parses it back to the
/// nearest double), so only values holding one are rebuilt.
fn normalize(value: &Value) -> Cow<'_, Value> {
    if !has_float(value) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(round_trip_floats(value))
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fn round_trip_floats(value: &Value) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => {
            serde_json::from_str(&number.to_string()).unwrap_or_else(|_| value.clone())
        }
        Value::Array(items) => Value::Array(items.iter().map(round_trip_floats).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), round_trip_floats(value)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// Step 4: the lowercase hex SHA-256 of `value`'s compact JSON with sorted keys.
pub fn hash_json(value: &Value) -> String {
    let mut hasher = Sha256::new();
    write_sorted(value, &mut hasher);
    hex(&hasher.finalize())
}

/// `value` as compact JSON with object keys sorted at every level: the text
/// [`hash_json`] hashes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_sorted(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes compact JSON with keys sorted explicitly, so the text does not depend on whether
/// some crate in the build turned on serde_json's `preserve_order`.
fn write_sorted(value: &Value, out: &mut impl std::io::Write) {
    // Writing to a Vec or a hasher cannot fail, and serde_json cannot fail on a string.
    match value {
        Value::Object(map) => write_sorted_object(map, out),
        Value::Array(items) => {
            let _ = out.write_all(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    let _ = out.write_all(b",");
                }
                write_sorted(item, out);
            }
            let _ = out.write_all(b"]");
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn write_sorted_object(map: &Map<String, Value>, out: &mut impl std::io::Write) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    let _ = out.write_all(b"{");
    for (index, key) in keys.into_iter().enumerate() {
        if index > 0 {
            let _ = out.write_all(b",");
        }
        let _ = serde_json::to_writer(&mut *out, key);
        let _ = out.write_all(b":");
        write_sorted(&map[key], out);
    }
    let _ = out.write_all(b"}");
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

impl Schema {
    /// The schema of `value` with `merges` (steps 1 to 3): the value is decoded first.
    pub fn of(value: &Value, merges: &Merges) -> Schema {
        Schema::generate(&decode(value, merges), Some(merges))
    }

    /// drift-core's `generate_schema_json_value` on an already decoded value.
    fn generate(value: &Value, root_merges: Option<&Merges>) -> Schema {
        let mut schema = Schema {
            r#type: type_code(value),
            ..Schema::default()
        };
        match value {
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    schema.items = Some(Box::new(Schema::generate(first, None)));
                }
            }
            Value::Object(map) => return Schema::generate_object(map, root_merges),
            _ => {}
        }
        schema
    }

    fn generate_object(map: &Map<String, Value>, root_merges: Option<&Merges>) -> Schema {
        let mut schema = Schema {
            r#type: schema_type::OBJECT,
            ..Schema::default()
        };
        for (key, child) in map {
            let mut child_schema = Schema::generate(child, None);
            if let Some(merge) = root_merges.and_then(|merges| merges.get(key)) {
                child_schema.encoding = merge.encoding;
                child_schema.decoded_type = merge.decoded_type;
                // drift-core keeps only importances JSON can hold.
                child_schema.match_importance =
                    merge.match_importance.filter(|value| value.is_finite());
            }
            schema.properties.insert(key.clone(), child_schema);
        }
        schema
    }

    /// SHA-256 of the schema in drift-core's form ([`Schema::to_core_json`]), its canonical
    /// text written straight from the schema (the same bytes as `canonical_json` of that
    /// form, without building it: this is on a replayed call's path).
    pub fn hash(&self) -> String {
        let mut text = Vec::with_capacity(256);
        self.write_core_json(&mut text);
        hex(&Sha256::digest(&text))
    }

    /// [`Schema::to_core_json`] as canonical JSON: compact, its keys sorted (`decoded_type`,
    /// `encoding`, `items`, `match_importance`, `properties`, `type`; the properties in
    /// their map's order, which is sorted too).
    fn write_core_json(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail, and serde_json cannot fail on a string or a number.
        let field = |out: &mut Vec<u8>, key: &str| {
            let separator = if out.last() == Some(&b'{') { "" } else { "," };
            out.extend_from_slice(separator.as_bytes());
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
        };
        out.push(b'{');
        if let Some(decoded_type) = self.decoded_type {
            field(out, "decoded_type");
            let _ = serde_json::to_writer(&mut *out, &decoded_type);
        }
        if let Some(encoding) = self.encoding {
            field(out, "encoding");
            let _ = serde_json::to_writer(&mut *out, &encoding);
        }
        if let Some(items) = &self.items {
            field(out, "items");
            items.write_core_json(out);
        }
        if let Some(number) = self.match_importance.and_then(serde_json::Number::from_f64) {
            field(out, "match_importance");
            let _ = serde_json::to_writer(&mut *out, &number);
        }
        field(out, "properties");
        out.push(b'{');
        for (index, (key, child)) in self.properties.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            child.write_core_json(out);
        }
        out.push(b'}');
        field(out, "type");
        let _ = serde_json::to_writer(&mut *out, &self.r#type);
        out.push(b'}');
    }

    /// drift-core's form, which the hash is over: `{"type", "properties", "items"?,
    /// "encoding"?, "decoded_type"?, "match_importance"? (a float)}`.
    pub fn to_core_json(&self) -> Value {
        self.to_json("decoded_type", "match_importance")
    }

    /// The trace-file form the Node SDK writes and the CLI reads (`decodedType`,
    /// `matchImportance`); otherwise as [`Schema::to_core_json`].
    pub fn to_file_json(&self) -> Value {
        self.to_json("decodedType", "matchImportance")
    }

    fn to_json(&self, decoded_type_key: &str, importance_key: &str) -> Value {
        let mut node = Map::new();
        node.insert("type".to_owned(), self.r#type.into());
        node.insert(
            "properties".to_owned(),
            Value::Object(
                self.properties
                    .iter()
                    .map(|(key, child)| {
                        (key.clone(), child.to_json(decoded_type_key, importance_key))
                    })
                    .collect(),
            ),
        );
        if let Some(items) = &self.items {
            node.insert(
                "items".to_owned(),
                items.to_json(decoded_type_key, importance_key),
            );
        }
        if let Some(encoding) = self.encoding {
            node.insert("encoding".to_owned(), encoding.into());
        }
        if let Some(decoded_type) = self.decoded_type {
            node.insert(decoded_type_key.to_owned(), decoded_type.into());
        }
        if let Some(number) = self.match_importance.and_then(serde_json::Number::from_f64) {
            node.insert(importance_key.to_owned(), Value::Number(number));
        }
        Value::Object(node)
    }

    /// A schema object of a trace file, read as the CLI reads one (`parse.go`,
    /// `mapToJsonSchema`): numbers truncated to `int32`, `type` 0 when absent or not a
    /// number, properties and items only when objects, `decodedType` in camelCase only,
    /// `matchImportance` or else `match_importance`.
    pub fn from_file_json(object: &Map<String, Value>) -> Schema {
        let number = |key: &str| object.get(key).and_then(Value::as_f64);
        let int32 = |key: &str| number(key).map(go_int32);
        Schema {
            r#type: int32("type").unwrap_or(0),
            properties: object
                .get("properties")
                .and_then(Value::as_object)
                .map(|properties| {
                    properties
                        .iter()
                        .filter_map(|(key, value)| {
                            Some((key.clone(), Schema::from_file_json(value.as_object()?)))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            items: object
                .get("items")
                .and_then(Value::as_object)
                .map(|items| Box::new(Schema::from_file_json(items))),
            encoding: int32("encoding"),
            decoded_type: int32("decodedType"),
            match_importance: number("matchImportance").or_else(|| number("match_importance")),
        }
    }

    /// Whether the CLI treats this node as ignored when it reduces (`getImportance`):
    /// `match_importance` present and exactly 0.
    pub fn is_ignored(&self) -> bool {
        self.match_importance == Some(0.0)
    }
}

/// Go's `int32(f)` for a float64 from JSON: truncation toward zero (saturating here, where
/// Go's result for out-of-range values is unspecified).
pub(crate) fn go_int32(number: f64) -> i32 {
    number as i32
}

fn type_code(value: &Value) -> i32 {
    match value {
        Value::Null => schema_type::NULL,
        Value::Bool(_) => schema_type::BOOLEAN,
        Value::Number(_) => schema_type::NUMBER,
        Value::String(_) => schema_type::STRING,
        Value::Array(_) => schema_type::ORDERED_LIST,
        Value::Object(_) => schema_type::OBJECT,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merges(pairs: &[(&str, Merge)]) -> Merges {
        pairs
            .iter()
            .map(|(key, merge)| ((*key).to_owned(), *merge))
            .collect()
    }

    /// The text [`Schema::hash`] hashes is `canonical_json` of [`Schema::to_core_json`],
    /// byte for byte: every optional key, nesting, keys needing escapes, odd importances.
    #[test]
    fn the_hash_text_is_the_canonical_core_json() {
        let value = json!({
            "body": "eyJhIjpbMSwyXX0=", "headers": {"x-\"quoted\"": "1", "ünï": "2"},
            "list": [[{"deep": null}]], "n": 1.5, "t": true, "empty": {}, "none": [],
        });
        let all = [
            Merges::new(),
            merges(&[
                ("headers", Merge::ignored()),
                ("body", Merge::base64(Some(DecodedType::Json))),
            ]),
            merges(&[(
                "list",
                Merge {
                    match_importance: Some(0.25),
                    ..Merge::ignored()
                },
            )]),
        ];
        for merges in &all {
            let schema = Schema::of(&value, merges);
            let mut text = Vec::new();
            schema.write_core_json(&mut text);
            let expected = canonical_json(&schema.to_core_json());
            assert_eq!(String::from_utf8(text).unwrap(), expected);
            assert_eq!(schema.hash(), hash_json(&schema.to_core_json()));
        }
    }

    /// Input A of the facts sheet (a Node pg query), checked there against drift-core 0.1.9
    /// and the Python SDK.
    #[test]
    fn vector_a_pg_query() {
        let value = json!({"text": "SELECT * FROM users WHERE id = $1", "values": ["42"], "clientType": "pool"});
        let merges = merges(&[("values", Merge::ignored())]);
        assert_eq!(
            canonical_json(&decode(&value, &merges)),
            r#"{"clientType":"pool","text":"SELECT * FROM users WHERE id = $1","values":["42"]}"#
        );
        let hashes = hashes(&value, &merges);
        assert_eq!(
            hashes.value_hash,
            "94eeab2934a14e8b9c29891683e17c41ea097fdf4ad20160765a136298fdad94"
        );
        assert_eq!(
            canonical_json(&hashes.schema.to_core_json()),
            r#"{"properties":{"clientType":{"properties":{},"type":2},"text":{"properties":{},"type":2},"values":{"items":{"properties":{},"type":2},"match_importance":0.0,"properties":{},"type":7}},"type":6}"#
        );
        assert_eq!(
            hashes.schema_hash,
            "f4340695d45f94b054d9926cefc03c4f90fb10cbcad486c1331fe081b8cf8a57"
        );
        assert_eq!(value_hash(&value, &merges), hashes.value_hash);
    }

    /// Input B of the facts sheet: the HTTP line of its section 2, body base64 JSON.
    #[test]
    fn vector_b_http_request_with_a_base64_json_body() {
        let value = json!({
            "method": "POST", "path": "/v1/items?x=1",
            "headers": {"content-type": "application/json"},
            "protocol": "https", "hostname": "api.example.com",
            "body": "eyJhIjoxfQ==", "bodySize": 7,
        });
        let merges = merges(&[
            ("headers", Merge::ignored()),
            ("body", Merge::base64(Some(DecodedType::Json))),
        ]);
        assert_eq!(decode(&value, &merges)["body"], json!({"a": 1}));
        let hashes = hashes(&value, &merges);
        assert_eq!(
            hashes.value_hash,
            "c00c12b963d455f5af809ea644fd98bd3b4a58dc296abfd610482be765e1b1a0"
        );
        assert_eq!(
            hashes.schema_hash,
            "79e5d57ed5dd253c4968ee430032d5d99d728e25ed140260b3c9a9d1289e6feb"
        );
        // The file form of the same schema, as the facts sheet's line shows it.
        let file = hashes.schema.to_file_json();
        assert_eq!(
            file["properties"]["body"],
            json!({"type": 6, "properties": {"a": {"type": 1, "properties": {}}}, "encoding": 1, "decodedType": 1})
        );
        assert_eq!(
            file["properties"]["headers"],
            json!({"type": 6, "properties": {"content-type": {"type": 2, "properties": {}}}, "matchImportance": 0.0})
        );
    }

    /// drift-core's own unit vector (`normalize_and_hash_returns_compact_json_and_sha256_hex`);
    /// the facts sheet ran drift-core on it and got the canonical string below. The hashes
    /// were computed independently with Python's `hashlib` over `json.dumps(v,
    /// sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
    #[test]
    fn vector_k_v_n_3() {
        let value = json!({"k": "v", "n": 3});
        assert_eq!(canonical_json(&value), r#"{"k":"v","n":3}"#);
        assert_eq!(
            value_hash(&value, &Merges::new()),
            "d751508394993dcaf272b40e0c65e688c094622fc89d369f2ae64885c5ad3129"
        );
        let schema = Schema::of(&value, &Merges::new());
        assert_eq!(
            canonical_json(&schema.to_core_json()),
            r#"{"properties":{"k":{"properties":{},"type":2},"n":{"properties":{},"type":1}},"type":6}"#
        );
        assert_eq!(
            schema.hash(),
            "0f676d17ca32d7696ad69b1b4b61d2a654cea86f35cc3f8ee1b6420a51f52344"
        );
    }

    /// drift-core's only fixture, `tests/fixtures/basic.json` (its `input`), hashed without
    /// merges; the facts sheet checked this hash with drift-core.
    #[test]
    fn vector_drift_core_basic_fixture() {
        let input = json!({
            "request": {
                "method": "GET",
                "url": "https://api.example.com/v1/users",
                "headers": {"accept": "application/json", "x-debug": null},
            },
            "response": {"status": 200, "body": {"id": 123, "active": true}},
        });
        assert_eq!(
            value_hash(&input, &Merges::new()),
            "4a0c5cd36561536543d96e6407ddd6cc4d4bfdf3b2c541cab1834cc9e4586bba"
        );
    }

    #[test]
    fn integers_and_floats_hash_differently_as_in_drift_core() {
        let integer = value_hash(&json!({"n": 1}), &Merges::new());
        let float = value_hash(&json!({"n": 1.0}), &Merges::new());
        assert_ne!(integer, float);
        assert_eq!(canonical_json(&json!({"n": 1.0})), r#"{"n":1.0}"#);
    }

    #[test]
    fn decoding_follows_drift_core() {
        let body = |text: &str| json!({"body": text});
        let json_body = merges(&[("body", Merge::base64(Some(DecodedType::Json)))]);
        let text_body = merges(&[("body", Merge::base64(Some(DecodedType::PlainText)))]);
        // Base64 of text without a JSON type stays a string.
        assert_eq!(decode(&body("aGk="), &text_body)["body"], "hi");
        // Not valid base64 (or unpadded): kept as it is.
        assert_eq!(decode(&body("aGk"), &json_body)["body"], "aGk");
        assert_eq!(
            decode(&body("not base64!"), &json_body)["body"],
            "not base64!"
        );
        // Base64 of something that is not JSON: the decoded text.
        assert_eq!(decode(&body("aGk="), &json_body)["body"], "hi");
        // Invalid UTF-8 is read lossily.
        assert_eq!(decode(&body("/w=="), &text_body)["body"], "\u{fffd}");
        // decoded_type JSON without an encoding parses the raw string.
        let json_only = merges(&[(
            "body",
            Merge {
                decoded_type: Some(1),
                ..Merge::default()
            },
        )]);
        assert_eq!(decode(&body("[1,2]"), &json_only)["body"], json!([1, 2]));
        // Merges name top-level keys only; other values, and non-objects, are untouched.
        let nested = json!({"outer": {"body": "aGk="}});
        assert_eq!(decode(&nested, &json_body).as_ref(), &nested);
        let list = json!(["aGk="]);
        assert_eq!(decode(&list, &json_body).as_ref(), &list);
        // A non-string value under a merged key stays.
        assert_eq!(decode(&json!({"body": 5}), &json_body)["body"], 5);
    }

    #[test]
    fn arrays_take_the_schema_of_their_first_item_and_merges_stay_at_the_top() {
        let value = json!({"list": [1, "two"], "empty": [], "inner": {"list": [true]}});
        let merges = merges(&[("inner", Merge::ignored()), ("absent", Merge::ignored())]);
        let schema = Schema::of(&value, &merges);
        let list = &schema.properties["list"];
        assert_eq!(list.r#type, schema_type::ORDERED_LIST);
        assert_eq!(list.items.as_ref().unwrap().r#type, schema_type::NUMBER);
        assert_eq!(schema.properties["empty"].items, None);
        let inner = &schema.properties["inner"];
        assert_eq!(inner.match_importance, Some(0.0));
        assert_eq!(inner.properties["list"].match_importance, None);
        assert!(!schema.properties.contains_key("absent"));
    }

    #[test]
    fn the_file_form_reads_back_as_the_cli_reads_it() {
        let value = json!({"headers": {"a": "b"}, "body": "eyJhIjpbMSwyXX0=", "n": null});
        let merges = merges(&[
            ("headers", Merge::ignored()),
            ("body", Merge::base64(Some(DecodedType::Json))),
        ]);
        let schema = Schema::of(&value, &merges);
        let Value::Object(file) = schema.to_file_json() else {
            unreachable!()
        };
        assert_eq!(Schema::from_file_json(&file), schema);
        // The Python SDK's snake_case importance is read too; its snake_case decoded type
        // is not (the CLI reads `decodedType` only).
        let python = json!({"type": 6, "properties": {
            "headers": {"type": 6, "properties": {}, "match_importance": 0.0},
            "body": {"type": 2, "properties": {}, "encoding": 1, "decoded_type": 1},
        }});
        let read = Schema::from_file_json(python.as_object().unwrap());
        assert!(read.properties["headers"].is_ignored());
        assert_eq!(read.properties["body"].decoded_type, None);
        assert_eq!(read.properties["body"].encoding, Some(1));
        // Wrong types read as absent, as in Go.
        let odd = json!({"type": "OBJECT", "properties": {"x": 5}, "items": [], "encoding": "1"});
        assert_eq!(
            Schema::from_file_json(odd.as_object().unwrap()),
            Schema::default()
        );
    }
}
