//! What a statement is, as a span records it: the input and output values of a statement
//! span and of a describe span, as JSON, and back.
//!
//! The values are exact and deterministic: every byte that the application could see is in
//! them (column values, field descriptions, command tags, error fields), and nothing that
//! varies between two runs of the same statement is (no statement or portal names, no
//! connection, no time). In replay a statement is accepted only on an exact match of its
//! input value's hash, so the input holds nothing the matcher should ignore: no field has
//! `matchImportance` 0.
//!
//! A statement span's input:
//!
//! ```json
//! {"text": "SELECT name FROM users WHERE id = $1",
//!  "parameterTypes": [23],
//!  "parameters": [{"format": 1, "base64": "AAAAKg=="}],
//!  "resultFormats": [1]}
//! ```
//!
//! `parameterTypes` are the types the server described for the statement on that
//! connection, or, when it was never described there, the types the client's `Parse` gave.
//! A parameter in text format (0) whose bytes are UTF-8 is `{"format": 0, "value": "42"}`;
//! any other is `{"format": f, "base64": "…"}`; NULL is `{"format": f, "value": null}`.
//! A simple-protocol statement has no parameters and `resultFormats: []` (all text).
//!
//! Its output:
//!
//! ```json
//! {"fields": [{"name": "name", "tableOid": 16385, "columnNumber": 2, "typeOid": 25,
//!              "typeSize": -1, "typeModifier": -1, "format": 1}],
//!  "rows": [["YWxpY2U="]],
//!  "commandTag": "SELECT 1",
//!  "transactionStatus": "I"}
//! ```
//!
//! `fields` is `null` when the statement returns no rows (`NoData`); `rows` holds each
//! column's bytes, base64, or `null`. The end is exactly one of `"commandTag"`,
//! `"suspended": true` (the row limit was reached), `"emptyQuery": true`, `"bindError"` (the
//! server refused the `Bind`: a value its type rejects, an error while planning with the
//! values; the statement never ran), or `"error"`: the
//! `ErrorResponse` fields keyed by their one-letter protocol codes
//! (`{"S": "ERROR", "V": "ERROR", "C": "23505", "M": "duplicate key value …", "D": …}`),
//! re-sent in PostgreSQL's own order. Rows sent before an error are kept.
//! `transactionStatus` is the status of the `ReadyForQuery` that closed the statement's
//! batch (`I`, `T`, `E`).
//!
//! A describe span (the server's answer to `Describe` of a prepared statement, which
//! `sqlx` and `tokio-postgres` send to prepare) has the input
//! `{"text": "…", "parameterTypes": [<the Parse's types>]}` and the output
//! `{"parameterTypes": [23], "fields": […] | null}`, or `{"error": {…}}` when the statement
//! did not parse.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::message::{DataRow, FieldDescription};

/// `packageName` of every PostgreSQL span.
pub const PACKAGE_NAME: &str = "postgres";
/// `instrumentationName` of every PostgreSQL span.
pub const INSTRUMENTATION_NAME: &str = "RustPostgresWireInstrumentation";
/// `packageType` PG.
pub const PACKAGE_TYPE: i32 = 4;
/// `kind` CLIENT.
pub const SPAN_KIND: i32 = 3;
/// `submoduleName` of a statement span.
pub const QUERY_SUBMODULE: &str = "query";
/// `name` of a statement span.
pub const QUERY_NAME: &str = "postgres.query";
/// `submoduleName` of a describe span.
pub const DESCRIBE_SUBMODULE: &str = "describe";
/// `name` of a describe span.
pub const DESCRIBE_NAME: &str = "postgres.describe";

/// A recorded value that is not what this module writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed PostgreSQL span value at {path}: {problem}")]
pub struct SpanError {
    /// Where, e.g. `rows[2][0]`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

fn malformed(path: impl Into<String>, problem: impl Into<String>) -> SpanError {
    SpanError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// One parameter value of a `Bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its format code (0 text, 1 binary).
    pub format: i16,
    /// Its bytes, `None` for NULL.
    pub value: Option<Bytes>,
}

/// The input of a statement span: what was executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteInput {
    /// The statement's text (one statement of a simple query, or a prepared statement's).
    pub text: String,
    /// Parameter type oids.
    pub param_types: Vec<u32>,
    /// Parameter values.
    pub params: Vec<Param>,
    /// The result format codes as the `Bind` gave them.
    pub result_formats: Vec<i16>,
}

/// How a statement's result ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `CommandComplete` with this tag.
    Command(String),
    /// `PortalSuspended`: the `Execute` row limit was reached.
    Suspended,
    /// `EmptyQueryResponse`.
    EmptyQuery,
    /// `ErrorResponse` with these fields (code, value).
    Error(Vec<(u8, String)>),
    /// `ErrorResponse` answering the `Bind` (a parameter the type rejects, an error while
    /// planning with the values): the statement never ran.
    BindError(Vec<(u8, String)>),
}

/// The output of a statement span: what the application received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteOutput {
    /// The row description, `None` when the statement returns no rows.
    pub fields: Option<Vec<FieldDescription>>,
    /// The rows, as sent.
    pub rows: Vec<DataRow>,
    /// How it ended.
    pub end: End,
    /// The transaction status after it (`I`, `T` or `E`).
    pub transaction_status: u8,
}

/// The input of a describe span: which statement was prepared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DescribeInput {
    /// The statement's text.
    pub text: String,
    /// The parameter types the `Parse` gave (0: inferred by the server).
    pub param_types: Vec<u32>,
}

/// The output of a describe span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescribeOutput {
    /// `ParameterDescription`, then `RowDescription` (`Some`) or `NoData` (`None`).
    Described {
        /// The parameter types the server settled on.
        param_types: Vec<u32>,
        /// The row description; formats are 0, as a statement's describe gives them.
        fields: Option<Vec<FieldDescription>>,
    },
    /// The statement did not parse: the `ErrorResponse` fields.
    Error(Vec<(u8, String)>),
}

/// The order in which PostgreSQL sends an error's fields (`send_message_to_frontend`);
/// fields with other codes follow in code order.
const ERROR_FIELD_ORDER: &[u8] = b"SVCMDHPpqWstcdnFLR";

fn base64(bytes: &[u8]) -> Value {
    Value::String(STANDARD.encode(bytes))
}

fn status_char(status: u8) -> Value {
    Value::String(char::from(status).to_string())
}

fn u32_list(values: &[u32]) -> Value {
    Value::Array(values.iter().map(|&v| Value::from(v)).collect())
}

fn field_to_value(field: &FieldDescription) -> Result<Value, SpanError> {
    let name = std::str::from_utf8(&field.name)
        .map_err(|_| malformed("fields[].name", "a column name that is not UTF-8"))?;
    Ok(json!({
        "name": name,
        "tableOid": field.table_oid,
        "columnNumber": field.column,
        "typeOid": field.type_oid,
        "typeSize": field.type_size,
        "typeModifier": field.type_modifier,
        "format": field.format,
    }))
}

fn fields_to_value(fields: &Option<Vec<FieldDescription>>) -> Result<Value, SpanError> {
    match fields {
        None => Ok(Value::Null),
        Some(fields) => fields
            .iter()
            .map(field_to_value)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

fn error_to_value(fields: &[(u8, String)]) -> Value {
    let mut object = Map::new();
    for (code, value) in fields {
        object.insert(char::from(*code).to_string(), Value::String(value.clone()));
    }
    Value::Object(object)
}

impl ExecuteInput {
    /// The span's `inputValue`.
    pub fn to_value(&self) -> Value {
        let params: Vec<Value> = self
            .params
            .iter()
            .map(|param| match (&param.value, param.format) {
                (None, format) => json!({"format": format, "value": null}),
                (Some(bytes), 0) => match std::str::from_utf8(bytes) {
                    Ok(text) => json!({"format": 0, "value": text}),
                    Err(_) => json!({"format": 0, "base64": base64(bytes)}),
                },
                (Some(bytes), format) => json!({"format": format, "base64": base64(bytes)}),
            })
            .collect();
        json!({
            "text": self.text,
            "parameterTypes": u32_list(&self.param_types),
            "parameters": params,
            "resultFormats": self.result_formats,
        })
    }
}

impl ExecuteOutput {
    /// The span's `outputValue`.
    pub fn to_value(&self) -> Result<Value, SpanError> {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                Value::Array(
                    row.columns()
                        .map(|column| column.map_or(Value::Null, |bytes| base64(&bytes)))
                        .collect(),
                )
            })
            .collect();
        let mut object = Map::new();
        object.insert("fields".into(), fields_to_value(&self.fields)?);
        object.insert("rows".into(), Value::Array(rows));
        match &self.end {
            End::Command(tag) => object.insert("commandTag".into(), Value::String(tag.clone())),
            End::Suspended => object.insert("suspended".into(), Value::Bool(true)),
            End::EmptyQuery => object.insert("emptyQuery".into(), Value::Bool(true)),
            End::Error(fields) => object.insert("error".into(), error_to_value(fields)),
            End::BindError(fields) => object.insert("bindError".into(), error_to_value(fields)),
        };
        object.insert(
            "transactionStatus".into(),
            status_char(self.transaction_status),
        );
        Ok(Value::Object(object))
    }

    /// Reads an `outputValue` back.
    pub fn from_value(value: &Value) -> Result<ExecuteOutput, SpanError> {
        let object = as_object(value, "outputValue")?;
        let fields = fields_from_value(object.get("fields"), "fields")?;
        let rows = as_array(required(object, "rows")?, "rows")?
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let path = format!("rows[{i}]");
                let columns = as_array(row, &path)?
                    .iter()
                    .enumerate()
                    .map(|(j, column)| match column {
                        Value::Null => Ok(None),
                        Value::String(text) => STANDARD
                            .decode(text)
                            .map(Some)
                            .map_err(|error| malformed(format!("{path}[{j}]"), error.to_string())),
                        _ => Err(malformed(format!("{path}[{j}]"), "neither base64 nor null")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let borrowed: Vec<Option<&[u8]>> = columns.iter().map(Option::as_deref).collect();
                DataRow::new(&borrowed).map_err(|error| malformed(path, error.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let end = end_from_object(object)?;
        let transaction_status = status_from_value(object)?;
        Ok(ExecuteOutput {
            fields,
            rows,
            end,
            transaction_status,
        })
    }
}

impl DescribeInput {
    /// The span's `inputValue`.
    pub fn to_value(&self) -> Value {
        json!({"text": self.text, "parameterTypes": u32_list(&self.param_types)})
    }
}

impl DescribeOutput {
    /// The span's `outputValue`.
    pub fn to_value(&self) -> Result<Value, SpanError> {
        Ok(match self {
            DescribeOutput::Described {
                param_types,
                fields,
            } => json!({
                "parameterTypes": u32_list(param_types),
                "fields": fields_to_value(fields)?,
            }),
            DescribeOutput::Error(fields) => json!({"error": error_to_value(fields)}),
        })
    }

    /// Reads an `outputValue` back.
    pub fn from_value(value: &Value) -> Result<DescribeOutput, SpanError> {
        let object = as_object(value, "outputValue")?;
        if let Some(error) = object.get("error") {
            return error_from_value(error).map(DescribeOutput::Error);
        }
        let param_types = as_array(required(object, "parameterTypes")?, "parameterTypes")?
            .iter()
            .enumerate()
            .map(|(i, oid)| as_u32(oid, &format!("parameterTypes[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let fields = fields_from_value(object.get("fields"), "fields")?;
        Ok(DescribeOutput::Described {
            param_types,
            fields,
        })
    }
}

fn required<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a Value, SpanError> {
    object.get(key).ok_or_else(|| malformed(key, "missing"))
}

fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SpanError> {
    value
        .as_object()
        .ok_or_else(|| malformed(path, "not an object"))
}

fn as_array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, SpanError> {
    value
        .as_array()
        .ok_or_else(|| malformed(path, "not an array"))
}

fn as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, SpanError> {
    value
        .as_str()
        .ok_or_else(|| malformed(path, "not a string"))
}

/// Integers may come back as floats (a protobuf `Struct` holds only doubles).
fn as_i64(value: &Value, path: &str) -> Result<i64, SpanError> {
    if let Some(integer) = value.as_i64() {
        return Ok(integer);
    }
    match value.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Ok(float as i64),
        _ => Err(malformed(path, "not an integer")),
    }
}

fn as_u32(value: &Value, path: &str) -> Result<u32, SpanError> {
    u32::try_from(as_i64(value, path)?).map_err(|_| malformed(path, "out of range"))
}

fn as_i16(value: &Value, path: &str) -> Result<i16, SpanError> {
    i16::try_from(as_i64(value, path)?).map_err(|_| malformed(path, "out of range"))
}

fn as_i32(value: &Value, path: &str) -> Result<i32, SpanError> {
    i32::try_from(as_i64(value, path)?).map_err(|_| malformed(path, "out of range"))
}

fn fields_from_value(
    value: Option<&Value>,
    path: &str,
) -> Result<Option<Vec<FieldDescription>>, SpanError> {
    let Some(value) = value else {
        return Err(malformed(path, "missing"));
    };
    if value.is_null() {
        return Ok(None);
    }
    as_array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let path = format!("{path}[{i}]");
            let object = as_object(field, &path)?;
            let get = |key: &str| {
                object
                    .get(key)
                    .ok_or_else(|| malformed(format!("{path}.{key}"), "missing"))
            };
            Ok(FieldDescription {
                name: Bytes::from(as_str(get("name")?, &format!("{path}.name"))?.to_owned()),
                table_oid: as_u32(get("tableOid")?, &format!("{path}.tableOid"))?,
                column: as_i16(get("columnNumber")?, &format!("{path}.columnNumber"))?,
                type_oid: as_u32(get("typeOid")?, &format!("{path}.typeOid"))?,
                type_size: as_i16(get("typeSize")?, &format!("{path}.typeSize"))?,
                type_modifier: as_i32(get("typeModifier")?, &format!("{path}.typeModifier"))?,
                format: as_i16(get("format")?, &format!("{path}.format"))?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn error_from_value(value: &Value) -> Result<Vec<(u8, String)>, SpanError> {
    let object = as_object(value, "error")?;
    let mut fields = Vec::with_capacity(object.len());
    for (code, value) in object {
        let &[byte] = code.as_bytes() else {
            return Err(malformed(
                format!("error.{code}"),
                "not a one-letter field code",
            ));
        };
        if byte == 0 || !byte.is_ascii() {
            return Err(malformed(format!("error.{code}"), "not a field code"));
        }
        fields.push((byte, as_str(value, &format!("error.{code}"))?.to_owned()));
    }
    let rank = |code: u8| {
        ERROR_FIELD_ORDER
            .iter()
            .position(|&c| c == code)
            .unwrap_or(ERROR_FIELD_ORDER.len())
    };
    fields.sort_by_key(|&(code, _)| (rank(code), code));
    Ok(fields)
}

fn end_from_object(object: &Map<String, Value>) -> Result<End, SpanError> {
    let mut ends = Vec::new();
    if let Some(tag) = object.get("commandTag") {
        ends.push(End::Command(as_str(tag, "commandTag")?.to_owned()));
    }
    if let Some(suspended) = object.get("suspended") {
        if suspended != &Value::Bool(true) {
            return Err(malformed("suspended", "not true"));
        }
        ends.push(End::Suspended);
    }
    if let Some(empty) = object.get("emptyQuery") {
        if empty != &Value::Bool(true) {
            return Err(malformed("emptyQuery", "not true"));
        }
        ends.push(End::EmptyQuery);
    }
    if let Some(error) = object.get("error") {
        ends.push(End::Error(error_from_value(error)?));
    }
    if let Some(error) = object.get("bindError") {
        ends.push(End::BindError(error_from_value(error)?));
    }
    match ends.len() {
        1 => Ok(ends.pop().expect("one end")),
        n => Err(malformed(
            "outputValue",
            format!(
                "{n} of commandTag, suspended, emptyQuery, error, bindError (exactly one expected)"
            ),
        )),
    }
}

fn status_from_value(object: &Map<String, Value>) -> Result<u8, SpanError> {
    match as_str(required(object, "transactionStatus")?, "transactionStatus")? {
        "I" => Ok(b'I'),
        "T" => Ok(b'T'),
        "E" => Ok(b'E'),
        other => Err(malformed(
            "transactionStatus",
            format!("{other:?} is not I, T or E"),
        )),
    }
}

/// Error fields from protocol bytes, when every value is UTF-8.
pub(crate) fn utf8_error_fields(fields: &[(u8, Bytes)]) -> Option<Vec<(u8, String)>> {
    fields
        .iter()
        .map(|(code, value)| {
            std::str::from_utf8(value)
                .ok()
                .map(|value| (*code, value.to_owned()))
        })
        .collect()
}

/// Error fields back to protocol bytes.
pub(crate) fn error_fields_bytes(fields: &[(u8, String)]) -> Vec<(u8, Bytes)> {
    fields
        .iter()
        .map(|(code, value)| (*code, Bytes::from(value.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field() -> FieldDescription {
        FieldDescription {
            name: Bytes::from_static(b"name"),
            table_oid: 16385,
            column: 2,
            type_oid: 25,
            type_size: -1,
            type_modifier: -1,
            format: 1,
        }
    }

    #[test]
    fn an_execution_has_the_documented_shape_and_reads_back() {
        let input = ExecuteInput {
            text: "SELECT name FROM users WHERE id = $1".into(),
            param_types: vec![23],
            params: vec![Param {
                format: 1,
                value: Some(Bytes::from_static(&[0, 0, 0, 42])),
            }],
            result_formats: vec![1],
        };
        assert_eq!(
            input.to_value(),
            json!({"text": "SELECT name FROM users WHERE id = $1", "parameterTypes": [23],
                   "parameters": [{"format": 1, "base64": "AAAAKg=="}], "resultFormats": [1]})
        );
        let output = ExecuteOutput {
            fields: Some(vec![field()]),
            rows: vec![DataRow::new(&[Some(b"alice")]).unwrap()],
            end: End::Command("SELECT 1".into()),
            transaction_status: b'I',
        };
        let value = output.to_value().unwrap();
        assert_eq!(
            value,
            json!({"fields": [{"name": "name", "tableOid": 16385, "columnNumber": 2, "typeOid": 25,
                               "typeSize": -1, "typeModifier": -1, "format": 1}],
                   "rows": [["YWxpY2U="]], "commandTag": "SELECT 1", "transactionStatus": "I"})
        );
        assert_eq!(ExecuteOutput::from_value(&value).unwrap(), output);
    }

    #[test]
    fn text_parameters_are_text_and_nulls_null() {
        let input = ExecuteInput {
            text: "SELECT $1, $2, $3".into(),
            param_types: vec![0, 0, 0],
            params: vec![
                Param {
                    format: 0,
                    value: Some(Bytes::from_static(b"42")),
                },
                Param {
                    format: 0,
                    value: Some(Bytes::from_static(b"\xff")),
                },
                Param {
                    format: 1,
                    value: None,
                },
            ],
            result_formats: vec![],
        };
        assert_eq!(
            input.to_value()["parameters"],
            json!([{"format": 0, "value": "42"}, {"format": 0, "base64": "/w=="},
                   {"format": 1, "value": null}])
        );
    }

    #[test]
    fn errors_read_back_in_the_servers_order_and_describes_round_trip() {
        let output = ExecuteOutput {
            fields: None,
            rows: vec![],
            end: End::Error(vec![
                (b'S', "ERROR".into()),
                (b'V', "ERROR".into()),
                (b'C', "42P01".into()),
                (b'M', "relation \"nope\" does not exist".into()),
                (b'P', "15".into()),
                (b'F', "parse_relation.c".into()),
                (b'L', "1392".into()),
                (b'R', "parserOpenTable".into()),
            ]),
            transaction_status: b'E',
        };
        let value = output.to_value().unwrap();
        assert_eq!(ExecuteOutput::from_value(&value).unwrap(), output);
        let described = DescribeOutput::Described {
            param_types: vec![23, 25],
            fields: None,
        };
        assert_eq!(
            DescribeOutput::from_value(&described.to_value().unwrap()).unwrap(),
            described
        );
    }

    #[test]
    fn malformed_values_name_what_is_wrong() {
        let cases = [
            (json!([]), "outputValue: not an object"),
            (json!({"fields": null}), "rows: missing"),
            (
                json!({"fields": null, "rows": [["!!"]], "commandTag": "X", "transactionStatus": "I"}),
                "rows[0][0]",
            ),
            (
                json!({"fields": null, "rows": [], "transactionStatus": "I"}),
                "0 of commandTag",
            ),
            (
                json!({"fields": null, "rows": [], "commandTag": "X", "transactionStatus": "Q"}),
                "\"Q\" is not I, T or E",
            ),
            (
                json!({"fields": [{"name": "a"}], "rows": [], "commandTag": "X", "transactionStatus": "I"}),
                "fields[0].tableOid: missing",
            ),
        ];
        for (value, expected) in cases {
            let error = ExecuteOutput::from_value(&value).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }
}
