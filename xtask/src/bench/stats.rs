//! The statistics of the figures: nearest-rank percentiles, ratios and relative losses.

use std::time::Duration;

/// The nearest-rank percentile `p` (0..=100) of `samples`; NaN when there are none.
pub(super) fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The nearest-rank median of `samples`; NaN when there are none.
pub(super) fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// `numerator / denominator`, NaN when the denominator is not positive.
pub(super) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

/// How much lower `measured` throughput is than `reference`, in percent.
pub(super) fn overhead_pct(reference: f64, measured: f64) -> f64 {
    (reference - measured) / reference * 100.0
}

/// A duration in milliseconds.
pub(super) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 500.0);
        assert_eq!(percentile(&samples, 99.0), 990.0);
        assert_eq!(percentile(&samples, 100.0), 1000.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn overhead_is_the_relative_loss_of_throughput() {
        assert_eq!(overhead_pct(1000.0, 990.0), 1.0);
        assert_eq!(overhead_pct(1000.0, 1010.0), -1.0);
    }

    #[test]
    fn a_ratio_without_a_positive_denominator_is_not_a_number() {
        assert_eq!(ratio(300.0, 2.0), 150.0);
        assert!(ratio(1.0, 0.0).is_nan());
        assert!(ratio(1.0, -1.0).is_nan());
    }
}
