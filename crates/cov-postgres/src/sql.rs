//! What the proxy and the replay server need to know of SQL text: where a simple query's
//! statements end, the attribution marker, and which `SET` statements a replay may answer
//! by itself.
//!
//! Both sides split a simple query with the same function, so a statement recorded as the
//! third of a query is looked up as the third of the same query in replay.

/// The fixed start of the attribution marker.
pub const MARKER_PREFIX: &str = "/* tusk-drift attribution ";
const MARKER_SUFFIX: &str = " */ SELECT WHERE false";

/// The marker for attribution key `key`: valid SQL that any PostgreSQL answers with an
/// empty result of no columns (`SELECT 0`) and no effect, sent by the SDK with the simple
/// protocol when the application takes a connection for a request. The proxy and the
/// replay server answer it themselves; statements after it on the same connection belong
/// to `key` until the next marker.
pub fn marker(key: u64) -> String {
    format!("{MARKER_PREFIX}{key}{MARKER_SUFFIX}")
}

/// The key of a marker, `None` when `query` is not exactly a marker.
pub fn parse_marker(query: &[u8]) -> Option<u64> {
    let rest = query.strip_prefix(MARKER_PREFIX.as_bytes())?;
    let digits = rest.strip_suffix(MARKER_SUFFIX.as_bytes())?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The longest marker, in bytes: a `Query` message longer than this is not one.
pub const MARKER_MAX_LEN: usize = MARKER_PREFIX.len() + 20 + MARKER_SUFFIX.len();

/// `text` without the white space PostgreSQL's scanner skips around tokens (space, tab,
/// line feed, carriage return, form feed: `char::is_ascii_whitespace`). Not `str::trim`,
/// which also takes a vertical tab, which PostgreSQL 15 reads as a token.
fn trim_sql_space(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Splits a simple query into its statements, as PostgreSQL executes them: at each `;`
/// outside quotes (`'…'`, `E'…'`, `"…"`, `$tag$…$tag$`), comments (`--`, nested `/* */`) and
/// `BEGIN ATOMIC … END` bodies. Each statement is trimmed of surrounding white space; parts
/// holding nothing but white space and comments are dropped, as the server drops them. A
/// query of nothing but those gives no statement (the server answers `EmptyQueryResponse`).
pub fn split_statements(query: &str) -> Vec<&str> {
    let bytes = query.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut atomic_depth = 0usize;
    let mut previous_word: Option<&str> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                has_code = true;
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_word_byte(bytes[i - 2]));
                i = skip_quoted(bytes, i, b'\'', escapes);
                previous_word = None;
                continue;
            }
            b'"' => {
                has_code = true;
                i = skip_quoted(bytes, i, b'"', false);
                previous_word = None;
                continue;
            }
            b'$' => {
                has_code = true;
                if let Some(end) = dollar_quote_end(bytes, i) {
                    i = end;
                    previous_word = None;
                    continue;
                }
                i += 1;
                continue;
            }
            b';' if atomic_depth == 0 => {
                if has_code {
                    statements.push(trim_sql_space(&query[start..i]));
                }
                start = i + 1;
                has_code = false;
                previous_word = None;
                i += 1;
                continue;
            }
            _ if is_word_byte(byte) && !byte.is_ascii_digit() => {
                has_code = true;
                let word_start = i;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                let word = &query[word_start..i];
                let opens_atomic = word.eq_ignore_ascii_case("atomic")
                    && previous_word.is_some_and(|previous| previous.eq_ignore_ascii_case("begin"));
                let opens_case = atomic_depth > 0 && word.eq_ignore_ascii_case("case");
                if opens_atomic || opens_case {
                    atomic_depth += 1;
                } else if atomic_depth > 0 && word.eq_ignore_ascii_case("end") {
                    atomic_depth -= 1;
                }
                previous_word = Some(word);
                continue;
            }
            _ => {
                if !byte.is_ascii_whitespace() {
                    has_code = true;
                }
            }
        }
        i += 1;
    }
    if has_code {
        statements.push(trim_sql_space(&query[start..]));
    }
    statements
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The index after a quoted run starting at `open` (`'…'` or `"…"`, doubled quote inside;
/// with `escapes`, backslash escapes too). An unterminated run ends the text.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// If a dollar quote (`$tag$`, tag empty or an identifier not starting with a digit)
/// starts at `i`, the index after its closing delimiter (or the end of the text).
fn dollar_quote_end(bytes: &[u8], i: usize) -> Option<usize> {
    // `$1` is a parameter, and `a$b` part of an identifier, not a quote.
    if i > 0 && is_word_byte(bytes[i - 1]) {
        return None;
    }
    let mut j = i + 1;
    if bytes.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    while j < bytes.len() && is_word_byte(bytes[j]) {
        j += 1;
    }
    if bytes.get(j) != Some(&b'$') {
        return None;
    }
    let delimiter = &bytes[i..=j];
    let body_start = j + 1;
    let end = bytes[body_start..]
        .windows(delimiter.len())
        .position(|window| window == delimiter)
        .map_or(bytes.len(), |at| body_start + at + delimiter.len());
    Some(end)
}

/// The run-time parameters PostgreSQL reports to the client with `ParameterStatus` when they
/// change (`GUC_REPORT`), lowercased: a `SET` of one of these is not answered locally in
/// replay, because the real server's reply carries the new value as it normalized it.
const REPORTED_PARAMETERS: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "intervalstyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "timezone",
    "search_path",
    "role",
];

/// Whether `statement` is a `SET [SESSION | LOCAL] name { TO | = } value` of a parameter
/// the server does not report, and whether it is `SET LOCAL`: such a statement's whole
/// visible answer is `CommandComplete("SET")`, so a replay with no recording of it may give
/// that answer itself (see the `replay` module for when it does).
pub fn plain_set(statement: &str) -> Option<SetScope> {
    let mut words = statement
        .split(|c: char| c.is_ascii_whitespace() || c == '=')
        .filter(|word| !word.is_empty());
    if !words.next()?.eq_ignore_ascii_case("set") {
        return None;
    }
    let mut name = words.next()?;
    let mut scope = SetScope::Session;
    if name.eq_ignore_ascii_case("session") {
        name = words.next()?;
    } else if name.eq_ignore_ascii_case("local") {
        scope = SetScope::Local;
        name = words.next()?;
    }
    let valid_name = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !name.as_bytes()[0].is_ascii_digit();
    let lowered = name.to_ascii_lowercase();
    if !valid_name || REPORTED_PARAMETERS.contains(&lowered.as_str()) {
        return None;
    }
    // The word after the name must be TO, or the name must be followed by `=`.
    let after_name = &statement[statement.find(name)? + name.len()..];
    let after_name = after_name.trim_start();
    let assigns = after_name.starts_with('=')
        || (after_name.len() > 2
            && after_name[..2].eq_ignore_ascii_case("to")
            && after_name.as_bytes()[2].is_ascii_whitespace());
    assigns.then_some(scope)
}

/// The scope of a plain `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetScope {
    /// `SET` or `SET SESSION`.
    Session,
    /// `SET LOCAL`: only meaningful inside a transaction block.
    Local,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_nothing_else_is_one() {
        for key in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_marker(marker(key).as_bytes()), Some(key));
            assert!(marker(key).len() <= MARKER_MAX_LEN);
        }
        assert_eq!(parse_marker(b"SELECT 1"), None);
        assert_eq!(
            parse_marker(b"/* tusk-drift attribution 99999999999999999999 */ SELECT WHERE false"),
            None
        );
        assert_eq!(
            parse_marker(b"/* tusk-drift attribution 1 */ SELECT WHERE true"),
            None
        );
    }

    /// Found by the splitter's property test: a vertical tab is a token to PostgreSQL 15,
    /// not white space, so a query of one is one (failing) statement.
    #[test]
    fn a_vertical_tab_is_not_white_space() {
        assert_eq!(split_statements("\u{b}"), vec!["\u{b}"]);
        assert_eq!(split_statements(" \t\r\n\u{c}"), Vec::<&str>::new());
        assert_eq!(split_statements(" SELECT 1\u{b} ;"), vec!["SELECT 1\u{b}"]);
    }

    #[test]
    fn statements_split_outside_quotes_comments_and_bodies() {
        assert_eq!(split_statements("SELECT 1"), vec!["SELECT 1"]);
        assert_eq!(
            split_statements("BEGIN; INSERT INTO t VALUES ('a;b'); COMMIT;"),
            vec!["BEGIN", "INSERT INTO t VALUES ('a;b')", "COMMIT"]
        );
        assert_eq!(
            split_statements("SELECT E'\\';'; SELECT \"x;y\" FROM t -- ; no\n; /* ; /* ; */ */"),
            vec!["SELECT E'\\';'", "SELECT \"x;y\" FROM t -- ; no"]
        );
        assert_eq!(
            split_statements(
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT $1"
            ),
            vec![
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT $1"
            ]
        );
        assert_eq!(
            split_statements(
                "CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 3"
            ),
            vec![
                "CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END",
                "SELECT 3"
            ]
        );
        assert!(split_statements("  -- nothing\n /* at all */ ;; ").is_empty());
    }

    #[test]
    fn only_plain_sets_of_unreported_parameters_are_plain() {
        assert_eq!(
            plain_set("SET statement_timeout = 0"),
            Some(SetScope::Session)
        );
        assert_eq!(
            plain_set("set session lock_timeout to '1s'"),
            Some(SetScope::Session)
        );
        assert_eq!(plain_set("SET LOCAL my.var = 'x'"), Some(SetScope::Local));
        assert_eq!(plain_set("SET TIME ZONE 'UTC'"), None);
        assert_eq!(plain_set("SET TimeZone = 'UTC'"), None);
        assert_eq!(plain_set("SET application_name TO 'x'"), None);
        assert_eq!(
            plain_set("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            None
        );
        assert_eq!(plain_set("SET ROLE admin"), None);
        assert_eq!(plain_set("SELECT 1"), None);
    }
}
