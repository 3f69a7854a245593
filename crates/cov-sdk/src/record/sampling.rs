//! The recording sampling rate, resolved as the official Tusk SDKs resolve it: the
//! builder's value, then `TUSK_RECORDING_SAMPLING_RATE`, then
//! `recording.sampling.base_rate`, then `recording.sampling_rate` in `.tusk/config.yaml`,
//! else 1.0 (every request). A value outside `0.0..=1.0` (or not a number) is skipped with
//! a warning and the next source is asked.

use crate::env::{Environment, TUSK_RECORDING_SAMPLING_RATE};

/// Every request is recorded unless a source says otherwise.
pub(crate) const DEFAULT_SAMPLING_RATE: f64 = 1.0;

/// The rate to record with.
pub(crate) fn resolve(
    configured: Option<f64>,
    environment: &Environment,
    project_file: Option<f64>,
) -> f64 {
    let from_environment =
        environment
            .get(TUSK_RECORDING_SAMPLING_RATE)
            .and_then(|text| match text.trim().parse::<f64>() {
                Ok(rate) => Some(rate),
                Err(_) => {
                    tracing::warn!(
                        variable = TUSK_RECORDING_SAMPLING_RATE,
                        value = text,
                        "ignoring a sampling rate that is not a number"
                    );
                    None
                }
            });
    let sources = [
        ("the builder's sampling_rate", configured),
        (TUSK_RECORDING_SAMPLING_RATE, from_environment),
        (
            "the recording sampling rate in .tusk/config.yaml",
            project_file,
        ),
    ];
    for (source, rate) in sources {
        let Some(rate) = rate else { continue };
        if (0.0..=1.0).contains(&rate) {
            return rate;
        }
        tracing::warn!(source, rate, "ignoring a sampling rate outside 0.0 to 1.0");
    }
    DEFAULT_SAMPLING_RATE
}

/// Whether to record one request at `rate`.
pub(crate) fn sampled(rate: f64) -> bool {
    rate >= 1.0 || (rate > 0.0 && fastrand::f64() < rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(rate: Option<&str>) -> Environment {
        Environment::from_lookup(|name| {
            (name == TUSK_RECORDING_SAMPLING_RATE)
                .then(|| rate.map(str::to_owned))
                .flatten()
        })
    }

    #[test]
    fn builder_then_environment_then_project_file_then_everything() {
        assert_eq!(
            resolve(Some(0.1), &environment(Some("0.2")), Some(0.3)),
            0.1
        );
        assert_eq!(resolve(None, &environment(Some("0.2")), Some(0.3)), 0.2);
        assert_eq!(resolve(None, &environment(None), Some(0.3)), 0.3);
        assert_eq!(resolve(None, &environment(None), None), 1.0);
        assert_eq!(resolve(None, &environment(Some("")), None), 1.0);
    }

    #[test]
    fn invalid_rates_fall_through_to_the_next_source() {
        assert_eq!(resolve(Some(1.5), &environment(Some("x")), Some(0.3)), 0.3);
        assert_eq!(resolve(Some(-0.1), &environment(Some("0")), None), 0.0);
        assert_eq!(resolve(Some(f64::NAN), &environment(None), Some(7.0)), 1.0);
    }

    #[test]
    fn zero_records_nothing_one_everything_and_a_half_about_half() {
        assert!((0..1000).all(|_| !sampled(0.0)));
        assert!((0..1000).all(|_| sampled(1.0)));
        let kept = (0..20_000).filter(|_| sampled(0.5)).count();
        // Binomial(20000, 0.5): the standard deviation is about 71; 8 of them is
        // astronomically unlikely to be exceeded by chance.
        assert!((9_434..=10_566).contains(&kept), "{kept} of 20000");
    }
}
