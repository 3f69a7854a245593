//! Prices in other currencies: the rates service (`examples/rates-service`) says what a US
//! dollar is worth, and amounts in cents become amounts in the other currency's minor unit.
//!
//! The client is whatever `reqwest-middleware` client the service builds: the demo puts the
//! coverage SDK's middleware on it, so in `RECORD` mode each call is a span of the request
//! that made it and in `REPLAY` mode it is answered from the recording, with the rates
//! service stopped.

use reqwest::StatusCode;
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The currency the shop's prices are in.
pub(crate) const SHOP_CURRENCY: &str = "USD";

/// The most minor-unit digits a currency may have (no currency in use has more than 4).
const MAX_DECIMALS: u8 = 4;

/// The client of the rates service.
#[derive(Clone, Debug)]
pub(crate) struct Rates {
    http: ClientWithMiddleware,
    base_url: reqwest::Url,
}

/// How amounts in US cents become amounts in `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Conversion {
    /// The ISO code, upper case.
    pub(crate) currency: String,
    /// What one US dollar is worth in `currency`, in millionths.
    pub(crate) rate_micros: u64,
    /// Digits of `currency`'s minor unit: amounts are in units of `10^-decimals`.
    pub(crate) decimals: u8,
}

/// The rates service's answer, as far as we read it.
#[derive(Debug, Deserialize)]
struct RateAnswer {
    quote: String,
    rate_micros: u64,
    quote_decimals: u8,
}

impl Rates {
    /// A client of the rates service at `base_url`, calling it through `http`.
    /// Paths are joined under `base_url`'s path, whether or not it ends with a slash.
    pub(crate) fn new(http: ClientWithMiddleware, mut base_url: reqwest::Url) -> Self {
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        Self { http, base_url }
    }

    /// How to convert US cents into `currency` (three letters, any case): the shop's own
    /// currency needs no call; any other is asked of the rates service. A code that is not
    /// three letters, or that the rates service does not know, is the client's mistake
    /// (422); a rates service that cannot be reached or answers otherwise is a 502.
    pub(crate) async fn conversion(&self, currency: &str) -> Result<Conversion, ApiError> {
        let code = currency.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
            return Err(ApiError::Invalid(format!(
                "currency must be a three-letter code, not `{currency}`"
            )));
        }
        if code == SHOP_CURRENCY {
            return Ok(Conversion {
                currency: code,
                rate_micros: 1_000_000,
                decimals: 2,
            });
        }
        let url = self.rate_url(&code)?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|error| ApiError::Upstream(format!("GET {url}: {error}")))?;
        // Only an answer's status matters when it is not 200: its body is never read (the
        // SDK records the call with its status, and a replay gives the same).
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(ApiError::Invalid(format!("unsupported currency {code}")));
            }
            status => {
                return Err(ApiError::Upstream(format!(
                    "GET {url}: the rates service answered {status}"
                )));
            }
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| ApiError::Upstream(format!("GET {url}: {error}")))?;
        let answer: RateAnswer = serde_json::from_slice(&body).map_err(|error| {
            ApiError::Upstream(format!("GET {url}: unreadable answer: {error}"))
        })?;
        if answer.quote != code || answer.rate_micros == 0 || answer.quote_decimals > MAX_DECIMALS {
            return Err(ApiError::Upstream(format!(
                "GET {url}: an unusable rate {answer:?}"
            )));
        }
        Ok(Conversion {
            currency: code,
            rate_micros: answer.rate_micros,
            decimals: answer.quote_decimals,
        })
    }
}

impl Rates {
    /// Where the rate of a dollar in `code` is asked.
    fn rate_url(&self, code: &str) -> Result<reqwest::Url, ApiError> {
        self.base_url
            .join(&format!("rates/{SHOP_CURRENCY}/{code}"))
            .map_err(|error| ApiError::Upstream(format!("the rates URL for {code}: {error}")))
    }
}

impl Conversion {
    /// `cents` US cents in this currency's minor unit, rounded half up.
    /// Amounts too large for a `u64` saturate.
    pub(crate) fn convert(&self, cents: u64) -> u64 {
        // cents / 100 dollars * rate_micros / 1e6 * 10^decimals minor units.
        let denominator = 100 * 1_000_000_u128;
        let numerator = 10u128
            .checked_pow(self.decimals.into())
            .and_then(|scale| scale.checked_mul(u128::from(self.rate_micros)))
            .and_then(|scaled| scaled.checked_mul(u128::from(cents)))
            .and_then(|numerator| numerator.checked_add(denominator / 2));
        match numerator {
            Some(numerator) => u64::try_from(numerator / denominator).unwrap_or(u64::MAX),
            None => u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(rate_micros: u64, decimals: u8) -> Conversion {
        Conversion {
            currency: "XXX".to_owned(),
            rate_micros,
            decimals,
        }
    }

    #[test]
    fn cents_convert_to_minor_units_rounded_half_up() {
        // 24.50 USD at 0.92 = 22.54 EUR.
        assert_eq!(conversion(920_000, 2).convert(2_450), 2_254);
        // 3.99 USD at 0.79 = 3.1521 GBP -> 3.15.
        assert_eq!(conversion(790_000, 2).convert(399), 315);
        // 0.50 USD at 0.79 = 0.395 -> 0.40 (half up).
        assert_eq!(conversion(790_000, 2).convert(50), 40);
        // 24.50 USD at 151.25 = 3705.625 JPY -> 3706 (no minor unit).
        assert_eq!(conversion(151_250_000, 0).convert(2_450), 3_706);
        assert_eq!(conversion(1_000_000, 2).convert(12_345), 12_345);
        assert_eq!(conversion(920_000, 2).convert(0), 0);
    }

    #[test]
    fn huge_amounts_saturate() {
        assert_eq!(
            conversion(u64::MAX, MAX_DECIMALS).convert(u64::MAX),
            u64::MAX
        );
        assert_eq!(conversion(1_000_000, u8::MAX).convert(1), u64::MAX);
    }

    #[test]
    fn calls_go_under_the_base_url_s_path() {
        let client = || reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
        for (base, joined) in [
            (
                "http://127.0.0.1:8090",
                "http://127.0.0.1:8090/rates/USD/EUR",
            ),
            ("http://rates:1/v1", "http://rates:1/v1/rates/USD/EUR"),
            ("http://rates:1/v1/", "http://rates:1/v1/rates/USD/EUR"),
        ] {
            let rates = Rates::new(client(), reqwest::Url::parse(base).unwrap());
            assert_eq!(rates.rate_url("EUR").unwrap().as_str(), joined);
        }
    }
}
