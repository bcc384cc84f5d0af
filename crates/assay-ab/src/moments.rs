//! Sufficient statistics of one metric in one arm: the count, means and co-moments of up
//! to four per-unit values (the metric, a ratio's denominator, and the pre-period
//! covariates CUPED uses: the metric's own pre-period value and, for a ratio, its
//! denominator's).
//!
//! Rows are folded in with Welford's update, generalised to co-moments (Welford 1962;
//! Chan, Golub and LeVeque 1979 for merging two partial results), rather than as raw sums
//! and sums of squares: on 10⁷ rows with a large mean, Σx² − (Σx)²/n loses most of its
//! digits, while the centred form keeps them. Warehouse exports in raw-sum form
//! (GrowthBook's `main_sum`, `main_sum_squares`, ...) are converted on entry.

use serde::{Deserialize, Serialize};

/// Which value of a unit: the metric itself, the denominator of a ratio metric, the
/// pre-period covariate used by CUPED (for a ratio: its numerator's pre-period value),
/// and a ratio's pre-period denominator.
pub const MAIN: usize = 0;
pub const DENOMINATOR: usize = 1;
pub const COVARIATE: usize = 2;
pub const COVARIATE_DENOMINATOR: usize = 3;

/// How many values a unit has.
pub const VALUES: usize = 4;

/// The pairs (i < j) of values, in the order of [`Moments::co`] after the four squares.
pub const PAIRS: [(usize, usize); 6] = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];

/// Index of the co-moment of values i and j in [`Moments::co`].
pub fn pair(i: usize, j: usize) -> usize {
    let (i, j) = (i.min(j), i.max(j));
    if i == j {
        return i;
    }
    VALUES
        + PAIRS
            .iter()
            .position(|&p| p == (i, j))
            .expect("a pair of value indices below VALUES")
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    /// Means of (metric, denominator, covariate, covariate denominator); unused slots
    /// stay 0.
    pub mean: [f64; VALUES],
    /// Co-moments Σ(a − ā)(b − b̄): the four squares, then the pairs of [`PAIRS`].
    pub co: [f64; VALUES + PAIRS.len()],
}

impl Moments {
    /// Adds one unit's values.
    #[inline]
    pub fn push(&mut self, v: [f64; VALUES]) {
        self.n += 1;
        let inv = 1.0 / self.n as f64;
        let d: [f64; VALUES] = std::array::from_fn(|i| v[i] - self.mean[i]);
        for (m, di) in self.mean.iter_mut().zip(d) {
            *m += di * inv;
        }
        // Σ(a − ā_new)(b − b̄_old) is the exact increment of the co-moment.
        let e: [f64; VALUES] = std::array::from_fn(|i| v[i] - self.mean[i]);
        for i in 0..VALUES {
            self.co[i] += d[i] * e[i];
        }
        for (k, &(i, j)) in PAIRS.iter().enumerate() {
            self.co[VALUES + k] += d[i] * e[j];
        }
    }

    /// The statistics of both sets of units together (Chan et al.'s pairwise update).
    pub fn merge(&self, other: &Moments) -> Moments {
        if other.n == 0 {
            return *self;
        }
        if self.n == 0 {
            return *other;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let d: [f64; VALUES] = std::array::from_fn(|i| other.mean[i] - self.mean[i]);
        let mut out = Moments {
            n: self.n + other.n,
            ..Moments::default()
        };
        for ((o, m), di) in out.mean.iter_mut().zip(self.mean).zip(d) {
            *o = m + di * nb / n;
        }
        for k in 0..out.co.len() {
            let (i, j) = if k < VALUES {
                (k, k)
            } else {
                PAIRS[k - VALUES]
            };
            out.co[k] = self.co[k] + other.co[k] + d[i] * d[j] * na * nb / n;
        }
        out
    }

    /// From raw sums as warehouses export them: n, Σv_i, Σv_i² and the cross-products
    /// Σv_i·v_j in the order of [`PAIRS`].
    pub fn from_sums(
        n: u64,
        sums: [f64; VALUES],
        squares: [f64; VALUES],
        products: [f64; PAIRS.len()],
    ) -> Moments {
        let mut m = Moments {
            n,
            ..Moments::default()
        };
        if n == 0 {
            return m;
        }
        let nf = n as f64;
        for i in 0..VALUES {
            m.mean[i] = sums[i] / nf;
            m.co[i] = squares[i] - sums[i] * sums[i] / nf;
        }
        for (k, &(i, j)) in PAIRS.iter().enumerate() {
            m.co[VALUES + k] = products[k] - sums[i] * sums[j] / nf;
        }
        m
    }

    pub fn sum(&self, i: usize) -> f64 {
        self.mean[i] * self.n as f64
    }

    /// Σv_i² (for exports and for comparison with engines that keep raw sums).
    pub fn sum_squares(&self, i: usize) -> f64 {
        self.co[pair(i, i)] + self.mean[i] * self.mean[i] * self.n as f64
    }

    /// Σv_i·v_j.
    pub fn sum_products(&self, i: usize, j: usize) -> f64 {
        self.co[pair(i, j)] + self.mean[i] * self.mean[j] * self.n as f64
    }

    /// Sample covariance with n − 1 (0 for fewer than two units, as GrowthBook).
    pub fn cov(&self, i: usize, j: usize) -> f64 {
        if self.n <= 1 {
            return 0.0;
        }
        self.co[pair(i, j)] / (self.n - 1) as f64
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    fn direct(rows: &[[f64; 4]]) -> (f64, [f64; 4], [[f64; 4]; 4]) {
        let n = rows.len() as f64;
        let mut mean = [0.0; 4];
        for r in rows {
            for i in 0..4 {
                mean[i] += r[i] / n;
            }
        }
        let mut cov = [[0.0; 4]; 4];
        for r in rows {
            for i in 0..4 {
                for j in 0..4 {
                    cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / (n - 1.0);
                }
            }
        }
        (n, mean, cov)
    }

    #[test]
    fn streaming_merged_and_raw_sums_agree_with_the_two_pass_formulas() {
        let rows: Vec<[f64; 4]> = (0..200)
            .map(|i| {
                let t = i as f64;
                [
                    1e6 + (t * 0.37).sin() * 3.0,
                    (t * 0.11).cos() + 2.0,
                    t % 7.0,
                    (t * 0.53).sin() * 10.0 + 5.0,
                ]
            })
            .collect();
        let (_, mean, cov) = direct(&rows);
        let mut all = Moments::default();
        let (mut left, mut right) = (Moments::default(), Moments::default());
        for (k, r) in rows.iter().enumerate() {
            all.push(*r);
            if k < 73 {
                left.push(*r)
            } else {
                right.push(*r)
            }
        }
        let merged = left.merge(&right);
        let mut sums = [0.0; 4];
        let mut squares = [0.0; 4];
        let mut products = [0.0; 6];
        for r in &rows {
            for i in 0..4 {
                sums[i] += r[i];
                squares[i] += r[i] * r[i];
            }
            for (k, &(i, j)) in PAIRS.iter().enumerate() {
                products[k] += r[i] * r[j];
            }
        }
        let from_sums = Moments::from_sums(200, sums, squares, products);
        for m in [all, merged] {
            assert_eq!(m.n, 200);
            for i in 0..4 {
                assert!((m.mean[i] - mean[i]).abs() < 1e-9 * mean[i].abs().max(1.0));
                for j in 0..4 {
                    assert!((m.cov(i, j) - cov[i][j]).abs() < 1e-9, "{i}{j}");
                }
            }
        }
        // Raw sums lose digits around a mean of 10⁶ (the reason for Welford), but the
        // other values agree closely.
        assert!((from_sums.cov(1, 2) - cov[1][2]).abs() < 1e-9);
        assert!((from_sums.cov(1, 3) - cov[1][3]).abs() < 1e-9);
        assert!((from_sums.cov(3, 2) - cov[2][3]).abs() < 1e-9);
        assert!((from_sums.cov(0, 0) - cov[0][0]).abs() < 1e-3);
        assert!((all.sum_squares(1) - squares[1]).abs() < 1e-9 * squares[1]);
    }
}
