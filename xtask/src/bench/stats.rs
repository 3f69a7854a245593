//! The statistics of the figures: nearest-rank percentiles, ratios and relative losses, and
//! per-call latencies through the SDK against the same calls made directly.

use std::time::Duration;

use serde::Serialize;

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

/// How many consecutive blocks a series is cut into to show how much its p50 moves within
/// one run.
pub(super) const BLOCKS: usize = 5;

/// Calls through the SDK against the same calls made directly, interleaved in one run
/// (sample `i` of both series taken side by side): p50 and p99 of each, in µs, the p50s'
/// difference, and the least and greatest of both over [`BLOCKS`] consecutive blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(super) struct Comparison {
    pub(super) samples: u64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    pub(super) direct_p50_us: f64,
    pub(super) direct_p99_us: f64,
    /// `p50_us - direct_p50_us`.
    pub(super) added_us: f64,
    pub(super) added_min_us: f64,
    pub(super) added_max_us: f64,
    pub(super) p50_min_us: f64,
    pub(super) p50_max_us: f64,
}

impl Comparison {
    /// Compares `sdk` with `direct`; `None` when either has fewer samples than blocks.
    pub(super) fn of(sdk: &[f64], direct: &[f64]) -> Option<Comparison> {
        if sdk.len() < BLOCKS || direct.len() < BLOCKS {
            return None;
        }
        let block = |samples: &[f64], index: usize| {
            let len = samples.len();
            median(&samples[index * len / BLOCKS..(index + 1) * len / BLOCKS])
        };
        let (mut added, mut p50s) = (Vec::new(), Vec::new());
        for index in 0..BLOCKS {
            let ours = block(sdk, index);
            added.push(ours - block(direct, index));
            p50s.push(ours);
        }
        let least = |values: &[f64]| values.iter().copied().fold(f64::INFINITY, f64::min);
        let most = |values: &[f64]| values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (p50_us, direct_p50_us) = (median(sdk), median(direct));
        Some(Comparison {
            samples: sdk.len() as u64,
            p50_us,
            p99_us: percentile(sdk, 99.0),
            direct_p50_us,
            direct_p99_us: percentile(direct, 99.0),
            added_us: p50_us - direct_p50_us,
            added_min_us: least(&added),
            added_max_us: most(&added),
            p50_min_us: least(&p50s),
            p50_max_us: most(&p50s),
        })
    }

    /// The added p50 in percent of the direct p50, and its least and greatest over blocks
    /// (each block against the whole run's direct p50).
    pub(super) fn added_pct(&self) -> (f64, f64, f64) {
        let pct = |added: f64| added / self.direct_p50_us * 100.0;
        (
            pct(self.added_us),
            pct(self.added_min_us),
            pct(self.added_max_us),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_takes_p50s_over_the_run_and_per_block() {
        // Direct calls take 100 µs; the SDK's 110 µs in the first block, 105 µs after.
        let direct = vec![100.0; 50];
        let sdk: Vec<f64> = (0..50)
            .map(|index| if index < 10 { 110.0 } else { 105.0 })
            .collect();
        let comparison = Comparison::of(&sdk, &direct).unwrap();
        assert_eq!(comparison.samples, 50);
        assert_eq!(
            (comparison.p50_us, comparison.direct_p50_us),
            (105.0, 100.0)
        );
        assert_eq!(comparison.added_us, 5.0);
        assert_eq!(
            (comparison.added_min_us, comparison.added_max_us),
            (5.0, 10.0)
        );
        assert_eq!(
            (comparison.p50_min_us, comparison.p50_max_us),
            (105.0, 110.0)
        );
        assert_eq!(comparison.p99_us, 110.0);
        assert_eq!(comparison.added_pct(), (5.0, 5.0, 10.0));
        assert_eq!(Comparison::of(&sdk[..4], &direct), None);
    }

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
