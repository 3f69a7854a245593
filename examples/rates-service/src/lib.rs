//! `rates-service`: a tiny exchange-rate HTTP service, the outside dependency of the demo
//! service (`examples/demo-service` converts prices with it). It is deliberately
//! uninstrumented and knows nothing of the coverage SDK: it is "somebody else's service",
//! which the demo records with this service running and replays with it stopped.
//!
//! The key design decision is a fixed table and integer arithmetic: the same request always
//! gets the same answer, byte for byte, so a recording made today replays tomorrow and two
//! recordings of the same script are identical.
//!
//! # Routes
//!
//! | route | answers |
//! |---|---|
//! | `GET /health` | `ok` |
//! | `GET /rates/{base}/{quote}` | `{"base", "quote", "rate_micros", "quote_decimals"}`: one `base` is worth `rate_micros / 1e6` `quote`, and `quote` has `quote_decimals` minor-unit digits; 400 unless both are three ASCII letters, 404 for a currency not in the table |
//!
//! Errors are JSON: `{"error": "invalid" | "not_found", "message": "..."}`. The table, in
//! units per US dollar: USD 1, EUR 0.92, GBP 0.79, CHF 0.88, JPY 151.25 (no minor unit).
//! Cross rates are computed from it and rounded half up to the micro.

#![forbid(unsafe_code)]

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// One currency of the table.
struct Currency {
    code: &'static str,
    /// Units of this currency per US dollar, in millionths.
    per_usd_micros: u64,
    /// Digits of its minor unit (cents: 2; yen: 0).
    decimals: u8,
}

/// The rate table.
const TABLE: &[Currency] = &[
    Currency {
        code: "USD",
        per_usd_micros: 1_000_000,
        decimals: 2,
    },
    Currency {
        code: "EUR",
        per_usd_micros: 920_000,
        decimals: 2,
    },
    Currency {
        code: "GBP",
        per_usd_micros: 790_000,
        decimals: 2,
    },
    Currency {
        code: "CHF",
        per_usd_micros: 880_000,
        decimals: 2,
    },
    Currency {
        code: "JPY",
        per_usd_micros: 151_250_000,
        decimals: 0,
    },
];

/// Body of `GET /rates/{base}/{quote}`.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// The currency converted from.
    pub base: String,
    /// The currency converted to.
    pub quote: String,
    /// What one `base` is worth in `quote`, in millionths.
    pub rate_micros: u64,
    /// Digits of `quote`'s minor unit.
    pub quote_decimals: u8,
}

/// Why a rate cannot be given.
#[derive(Debug, PartialEq, Eq)]
pub enum RateError {
    /// A code that is not three ASCII letters (400).
    Invalid(String),
    /// A well-formed code missing from the table (404).
    Unknown(String),
}

/// The rate from `base` to `quote` (codes in any case).
pub fn rate(base: &str, quote: &str) -> Result<Rate, RateError> {
    let base = currency(base)?;
    let quote = currency(quote)?;
    // (quote per usd) / (base per usd), in millionths, rounded half up.
    let numerator = u128::from(quote.per_usd_micros) * 1_000_000;
    let denominator = u128::from(base.per_usd_micros);
    let rate_micros = (numerator + denominator / 2) / denominator;
    Ok(Rate {
        base: base.code.to_owned(),
        quote: quote.code.to_owned(),
        rate_micros: u64::try_from(rate_micros).unwrap_or(u64::MAX),
        quote_decimals: quote.decimals,
    })
}

fn currency(code: &str) -> Result<&'static Currency, RateError> {
    if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(RateError::Invalid(format!(
            "`{code}` is not a currency code (three letters)"
        )));
    }
    TABLE
        .iter()
        .find(|currency| currency.code.eq_ignore_ascii_case(code))
        .ok_or_else(|| RateError::Unknown(format!("no rate for {}", code.to_ascii_uppercase())))
}

impl IntoResponse for RateError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            RateError::Invalid(message) => (StatusCode::BAD_REQUEST, "invalid", message),
            RateError::Unknown(message) => (StatusCode::NOT_FOUND, "not_found", message),
        };
        let body = ErrorBody {
            error: kind,
            message,
        };
        (status, Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/rates/{base}/{quote}",
            get(|Path((base, quote)): Path<(String, String)>| async move {
                rate(&base, &quote).map(Json)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_the_dollar_are_the_table() {
        let eur = rate("USD", "eur").unwrap();
        assert_eq!(
            eur,
            Rate {
                base: "USD".to_owned(),
                quote: "EUR".to_owned(),
                rate_micros: 920_000,
                quote_decimals: 2,
            }
        );
        assert_eq!(rate("usd", "JPY").unwrap().quote_decimals, 0);
        assert_eq!(rate("USD", "USD").unwrap().rate_micros, 1_000_000);
    }

    #[test]
    fn cross_rates_round_half_up_to_the_micro() {
        // 0.79 / 0.92 = 0.858695652...
        assert_eq!(rate("EUR", "GBP").unwrap().rate_micros, 858_696);
        // 151.25 / 0.88 = 171.875 exactly.
        assert_eq!(rate("CHF", "JPY").unwrap().rate_micros, 171_875_000);
    }

    #[test]
    fn malformed_and_unknown_codes_are_refused() {
        assert!(matches!(rate("USD", "EURO"), Err(RateError::Invalid(_))));
        assert!(matches!(rate("U$D", "EUR"), Err(RateError::Invalid(_))));
        assert!(matches!(rate("USD", "XAU"), Err(RateError::Unknown(_))));
    }
}
