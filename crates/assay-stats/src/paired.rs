//! Two candidates on the same items: the per-item difference (B minus A) with its
//! interval and test. For 0/1 scores McNemar's exact test on the discordant items
//! (statsmodels' `mcnemar(exact=True)`); otherwise the paired t test (scipy's
//! `ttest_rel`). Both with the paired t interval of the mean difference and a seeded
//! percentile bootstrap interval beside it.

use crate::{Error, Estimate};
use serde::{Deserialize, Serialize};

/// Which test gave the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedTest {
    McnemarExact,
    PairedT,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// Mean of B − A over the paired items, with the paired t interval.
    pub difference: Estimate,
    pub test: PairedTest,
    /// Two-sided; undefined (absent) when every difference is the same non-zero value
    /// or all are zero under the t test.
    pub p_value: Option<f64>,
    /// Items only A got right, and only B (0/1 scores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discordant: Option<(u64, u64)>,
    /// The seeded percentile bootstrap's 95% interval of the mean difference.
    pub bootstrap: (f64, f64),
}

/// McNemar's exact two-sided p-value from the discordant counts: twice the binomial
/// CDF at the smaller count (n = their sum, p = ½), capped at 1.
pub fn mcnemar_exact(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    let k = only_a.min(only_b);
    // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space term by term (exact to
    // rounding, with no underflow of 2^-n for large n).
    let mut log_term = -(n as f64) * std::f64::consts::LN_2;
    let mut log_sum = log_term;
    for i in 1..=k {
        log_term += ((n - i + 1) as f64).ln() - (i as f64).ln();
        let (hi, lo) = if log_sum > log_term {
            (log_sum, log_term)
        } else {
            (log_term, log_sum)
        };
        log_sum = hi + (lo - hi).exp().ln_1p();
    }
    (2.0 * log_sum.exp()).min(1.0)
}

/// The paired comparison of `b` against `a` (same items, same order).
pub fn paired(a: &[f64], b: &[f64], seed: u64) -> Result<PairedDifference, Error> {
    assert_eq!(a.len(), b.len(), "paired values");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let difference = crate::mean_t(&d)?;
    let binary = a.iter().chain(b).all(|&v| v == 0.0 || v == 1.0);
    let (test, p_value, discordant) = if binary {
        let only_a = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x == 1.0 && **y == 0.0)
            .count() as u64;
        let only_b = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x == 0.0 && **y == 1.0)
            .count() as u64;
        (
            PairedTest::McnemarExact,
            Some(mcnemar_exact(only_a, only_b)),
            Some((only_a, only_b)),
        )
    } else {
        let p = (difference.n >= 2 && difference.stderr > 0.0).then(|| {
            let t = difference.value / difference.stderr;
            (2.0 * crate::t_sf(t.abs(), (difference.n - 1) as f64)).min(1.0)
        });
        (PairedTest::PairedT, p, None)
    };
    Ok(PairedDifference {
        bootstrap: bootstrap_mean(&d, 2000, seed),
        difference,
        test,
        p_value,
        discordant,
    })
}

/// The 2.5% and 97.5% percentiles (`quantile`'s rule) of `rounds` resampled means.
fn bootstrap_mean(values: &[f64], rounds: usize, seed: u64) -> (f64, f64) {
    let n = values.len();
    let mut means = crate::resample(n, rounds, seed, |picks| {
        Some(picks.iter().map(|&i| values[i]).sum::<f64>() / n as f64)
    });
    means.sort_by(f64::total_cmp);
    (
        crate::quantile(&means, 0.025),
        crate::quantile(&means, 0.975),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_and_paired_t_against_statsmodels_and_scipy() {
        // statsmodels 0.15.0: mcnemar([[10, 3], [9, 8]], exact=True).pvalue = 0.146
        // (= 2 · binom.cdf(3, 12, 0.5) = 0.14599609375).
        assert!((mcnemar_exact(3, 9) - 0.14599609375).abs() < 1e-13);
        // scipy 1.17.1: 2 · binom.cdf(480, 1000, 0.5) = 0.2174482932041415, as statsmodels' mcnemar.
        assert!((mcnemar_exact(520, 480) - 0.2174482932041415).abs() < 1e-10);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        // scipy 1.17.1: ttest_rel(b, a) for these = statistic 1.7320508075688774,
        // pvalue 0.1438108087116039 (b − a = 1, 2, -1, 3, 1, 0).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [2.0, 4.0, 2.0, 7.0, 6.0, 6.0];
        let p = paired(&a, &b, 7).unwrap();
        assert_eq!(p.test, PairedTest::PairedT);
        assert!((p.difference.value - 1.0).abs() < 1e-15);
        assert!((p.difference.value / p.difference.stderr - 1.7320508075688774).abs() < 1e-12);
        assert!(
            (p.p_value.unwrap() - 0.1438108087116039).abs() < 1e-12,
            "{:?}",
            p.p_value
        );
        assert!(p.bootstrap.0 < 1.0 && 1.0 < p.bootstrap.1);
        assert_eq!(paired(&a, &b, 7).unwrap().bootstrap, p.bootstrap, "seeded");
        let same = paired(&a, &a, 1).unwrap();
        assert_eq!(same.p_value, None);
    }
}
