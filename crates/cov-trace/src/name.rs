//! Trace file names: `<UTC ISO time, ':' and '.' replaced by '-'>_trace_<traceId>.jsonl`,
//! as the official SDKs name them (`tusk drift run --trace-id X` finds a file whose name
//! contains X).
//!
//! The time has microseconds where the Node SDK writes milliseconds: the CLI replays the
//! files in the lexical order of their names, so names must sort as the requests started,
//! and a client that sends requests back to back starts several in one millisecond (seen:
//! `GET /orders/1` replayed after the `POST /orders/1/cancel` recorded after it, and failing).

use std::time::{SystemTime, UNIX_EPOCH};

/// The suffix the CLI loads: every file ending in it under the traces directory is parsed.
pub const TRACE_FILE_SUFFIX: &str = ".jsonl";

/// The file name of trace `trace_id` started at `started`, for example
/// `2026-12-01T14-37-00-123456Z_trace_4bf92f3577b34da6a3ce929d0e0e4736.jsonl`. Times before
/// 1970 are written as 1970-01-01.
pub fn file_name(started: SystemTime, trace_id: &str) -> String {
    let since_epoch = started.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}-{:06}Z_trace_{trace_id}{TRACE_FILE_SUFFIX}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_micros(),
    )
}

/// `started` as the UTC time to the second in RFC 3339, `YYYY-MM-DDTHH:MM:SSZ`: the form of
/// the Tusk CLI's coverage summary `timestamp` (Go's `time.RFC3339` in UTC), and the date of
/// [`file_name`]. Times before 1970 are written as 1970-01-01.
pub fn rfc3339_utc(started: SystemTime) -> String {
    let seconds = started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn names_follow_the_official_sdks() {
        // 2025-12-28T21:51:49.920014Z, the Python SDK's Flask fixture.
        let started = UNIX_EPOCH + Duration::from_micros(1_766_958_709_920_014);
        assert_eq!(
            file_name(started, "d31a"),
            "2025-12-28T21-51-49-920014Z_trace_d31a.jsonl"
        );
        assert_eq!(
            file_name(UNIX_EPOCH, "x"),
            "1970-01-01T00-00-00-000000Z_trace_x.jsonl"
        );
        // A leap day and the last millisecond of a year.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert!(file_name(leap, "x").starts_with("2000-02-29T00-00-00-000000Z"));
        let new_year_eve = UNIX_EPOCH + Duration::from_micros(1_798_761_599_999_999);
        assert!(file_name(new_year_eve, "x").starts_with("2026-12-31T23-59-59-999999Z"));
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        let at = |seconds| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn names_sort_as_the_requests_started() {
        let first = UNIX_EPOCH + Duration::from_micros(1_766_958_709_920_014);
        let second = first + Duration::from_micros(1);
        // The trace ids sort the other way: the time alone orders the files.
        assert!(file_name(first, "ffff") < file_name(second, "0000"));
    }
}
