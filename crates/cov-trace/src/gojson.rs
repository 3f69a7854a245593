//! Go's text forms of JSON values, as the Tusk CLI produces them: `encoding/json`'s
//! `Marshal` (sorted map keys, `<`, `>`, `&`, U+2028 and U+2029 escaped, numbers as float64
//! in ES6 style) and `fmt`'s `%v`. The CLI hashes and ranks with them, so the matcher does
//! too. Values reach the CLI as protobuf `Struct`s (`AsMap`), where every number is a
//! float64; numbers are therefore always written as the double they convert to.
//!
//! Sources: Go's `src/encoding/json/encode.go` (`appendString`, `floatEncoder.encode`),
//! `src/strconv/ftoa.go` and `src/fmt/print.go` (`%v` of a float64 is `%g` with the
//! shortest precision). The expected strings in the tests were printed by Go 1.26.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// `json.Marshal` of a value decoded into `any`.
pub(crate) fn marshal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => marshal_float(number.as_f64().unwrap_or_default(), out),
        Value::String(text) => marshal_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                marshal(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => marshal_object(map, out, |_| true),
    }
}

/// A JSON object with sorted keys (Go sorts map keys by their bytes), keeping the entries
/// `keep` accepts.
pub(crate) fn marshal_object(
    map: &Map<String, Value>,
    out: &mut String,
    keep: impl Fn(&Value) -> bool,
) {
    let mut keys: Vec<&String> = map.keys().filter(|key| keep(&map[*key])).collect();
    keys.sort_unstable();
    out.push('{');
    for (index, key) in keys.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        marshal_string(key, out);
        out.push(':');
        marshal(&map[key], out);
    }
    out.push('}');
}

/// `appendString` with `escapeHTML` on.
pub(crate) fn marshal_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `floatEncoder(64).encode`: `strconv.AppendFloat(f, 'f', -1, 64)`, or `'e'` below 1e-6
/// and from 1e21 on, with a negative two-digit exponent's leading zero cut (`e-07` →
/// `e-7`).
pub(crate) fn marshal_float(number: f64, out: &mut String) {
    let magnitude = number.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let (negative, digits, exponent) = shortest_digits(number);
        push_mantissa(negative, &digits, out);
        let _ = write!(
            out,
            "e{}{}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    } else {
        // Rust's `Display` for f64 is the shortest round-trip digits without an exponent,
        // which is Go's `'f'` format with precision -1.
        let _ = write!(out, "{number}");
    }
}

/// `fmt.Sprintf("%v", f)` for a float64: `%g` with the shortest digits, in exponent form
/// (at least two exponent digits) when the decimal exponent is below -4 or at least 6
/// (`ftoa.go`: "if precision was the shortest possible, use precision 6 for this
/// decision").
pub(crate) fn format_v_float(number: f64) -> String {
    if number == 0.0 {
        return if number.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (negative, digits, exponent) = shortest_digits(number);
    let mut out = String::new();
    if !(-4..6).contains(&exponent) {
        push_mantissa(negative, &digits, &mut out);
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    } else {
        let _ = write!(out, "{number}");
    }
    out
}

/// The shortest round-trip decimal digits of `number` and its decimal exponent
/// (`d.ddd × 10^exponent`), from Rust's `{:e}` formatting.
fn shortest_digits(number: f64) -> (bool, String, i32) {
    let text = format!("{number:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (negative, digits, exponent.parse().unwrap_or(0))
}

fn push_mantissa(negative: bool, digits: &str, out: &mut String) {
    if negative {
        out.push('-');
    }
    let (first, rest) = digits.split_at(1.min(digits.len()));
    out.push_str(first);
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
}

/// `fmt.Sprintf("%v", v)` of a value decoded into `any`: `<nil>`, `true`, numbers by
/// [`format_v_float`], strings as they are, slices as `[a b]`, maps as `map[k:v]` with
/// sorted keys.
pub(crate) fn format_v(value: &Value) -> String {
    let mut out = String::new();
    push_v(value, &mut out);
    out
}

fn push_v(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&format_v_float(number.as_f64().unwrap_or_default())),
        Value::String(text) => out.push_str(text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                push_v(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push_str("map[");
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                push_v(&map[key], out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn marshalled(value: &Value) -> String {
        let mut out = String::new();
        marshal(value, &mut out);
        out
    }

    /// Expected strings printed by Go 1.26's `encoding/json` and `fmt` for the same values.
    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (3.0, "3", "3"),
            (1.5, "1.5", "1.5"),
            (-0.0, "-0", "-0"),
            (1e20, "100000000000000000000", "1e+20"),
            (1e21, "1e+21", "1e+21"),
            (1.2345e22, "1.2345e+22", "1.2345e+22"),
            (1e-6, "0.000001", "1e-06"),
            (1e-7, "1e-7", "1e-07"),
            (1.5e-10, "1.5e-10", "1.5e-10"),
            (123456.0, "123456", "123456"),
            (1234567.0, "1234567", "1.234567e+06"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "0.00001", "1e-05"),
            (-2.5e300, "-2.5e+300", "-2.5e+300"),
        ];
        for (number, json, v) in cases {
            let mut out = String::new();
            marshal_float(number, &mut out);
            assert_eq!(out, json, "json of {number}");
            assert_eq!(format_v_float(number), v, "%v of {number}");
        }
    }

    #[test]
    fn strings_and_maps_marshal_as_go_marshals_them() {
        assert_eq!(
            marshalled(&json!({"b": "<a&b>", "a": [1, null, "\u{2028}\n\u{1}é"]})),
            r#"{"a":[1,null,"\u2028\n\u0001é"],"b":"\u003ca\u0026b\u003e"}"#
        );
        assert_eq!(
            format_v(&json!({"b": [1, "x"], "a": null})),
            "map[a:<nil> b:[1 x]]"
        );
    }
}
