//! Which headers a trace holds: everything the request and response carried, except
//! `accept-encoding` (a replayed `Accept-Encoding` turns off the CLI's transparent
//! decompression, so a compressing service would fail every body comparison) and what the
//! application asked to drop; values of masked headers are replaced.

use std::collections::BTreeSet;

use cov_trace::Headers;
use http::HeaderMap;

/// The value a masked header is recorded with.
pub const MASKED_VALUE: &str = "[MASKED]";

/// Always dropped: `accept-encoding` (see the module doc) and the CLI's own replay header.
const ALWAYS_DROPPED: [&str; 2] = ["accept-encoding", "x-td-trace-id"];

/// The application's header rules, names lowercased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderRules {
    pub(crate) dropped: BTreeSet<String>,
    pub(crate) masked: BTreeSet<String>,
}

impl HeaderRules {
    /// The headers of `map` as a trace records them: names lowercase, repeated headers
    /// joined with `", "` (the CLI reads one string per name), values that are not
    /// visible ASCII or UTF-8 left out.
    pub(crate) fn apply(&self, map: &HeaderMap) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in map {
            let name = name.as_str();
            if ALWAYS_DROPPED.contains(&name) || self.dropped.contains(name) {
                continue;
            }
            let value = if self.masked.contains(name) {
                MASKED_VALUE
            } else {
                match std::str::from_utf8(value.as_bytes()) {
                    Ok(value) => value,
                    Err(_) => continue,
                }
            };
            headers
                .entry(name.to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn accept_encoding_and_dropped_names_go_masked_values_are_replaced() {
        let mut map = HeaderMap::new();
        map.insert("accept-encoding", HeaderValue::from_static("gzip, br"));
        map.insert("authorization", HeaderValue::from_static("Bearer secret"));
        map.insert("cookie", HeaderValue::from_static("session=1"));
        map.insert("x-td-trace-id", HeaderValue::from_static("abc"));
        map.insert("content-type", HeaderValue::from_static("application/json"));
        map.append("x-tag", HeaderValue::from_static("a"));
        map.append("x-tag", HeaderValue::from_static("b"));
        map.insert("x-bytes", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let rules = HeaderRules {
            dropped: BTreeSet::from(["cookie".to_owned()]),
            masked: BTreeSet::from(["authorization".to_owned()]),
        };
        let recorded = rules.apply(&map);
        assert_eq!(
            recorded,
            Headers::from([
                ("authorization".to_owned(), MASKED_VALUE.to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("x-tag".to_owned(), "a, b".to_owned()),
            ])
        );
        // By default everything but accept-encoding (and the replay header) is kept.
        let recorded = HeaderRules::default().apply(&map);
        assert_eq!(recorded["authorization"], "Bearer secret");
        assert_eq!(recorded["cookie"], "session=1");
        assert!(!recorded.contains_key("accept-encoding"));
    }
}
