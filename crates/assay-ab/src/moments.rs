//! Sufficient statistics of one metric in one arm: the count, means and co-moments of up
//! to three per-unit values (the metric, a ratio's denominator, a pre-period covariate).
//!
//! Rows are folded in with Welford's update, generalised to co-moments (Welford 1962;
//! Chan, Golub and LeVeque 1979 for merging two partial results), rather than as raw sums
//! and sums of squares: on 10⁷ rows with a large mean, Σx² − (Σx)²/n loses most of its
//! digits, while the centred form keeps them. Warehouse exports in raw-sum form
//! (GrowthBook's `main_sum`, `main_sum_squares`, ...) are converted on entry.

use serde::{Deserialize, Serialize};

/// Which value of a unit: the metric itself, the denominator of a ratio metric, or the
/// pre-period covariate used by CUPED.
pub const MAIN: usize = 0;
pub const DENOMINATOR: usize = 1;
pub const COVARIATE: usize = 2;

/// Index of the co-moment of values i and j in [`Moments::co`].
fn pair(i: usize, j: usize) -> usize {
    match (i.min(j), i.max(j)) {
        (0, 0) => 0,
        (1, 1) => 1,
        (2, 2) => 2,
        (0, 1) => 3,
        (0, 2) => 4,
        _ => 5,
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    /// Means of (metric, denominator, covariate); unused slots stay 0.
    pub mean: [f64; 3],
    /// Co-moments Σ(a − ā)(b − b̄) for (yy, dd, xx, yd, yx, dx).
    pub co: [f64; 6],
}

impl Moments {
    /// Adds one unit's values.
    #[inline]
    pub fn push(&mut self, v: [f64; 3]) {
        self.n += 1;
        let inv = 1.0 / self.n as f64;
        let d = [
            v[0] - self.mean[0],
            v[1] - self.mean[1],
            v[2] - self.mean[2],
        ];
        for (m, di) in self.mean.iter_mut().zip(d) {
            *m += di * inv;
        }
        // Σ(a − ā_new)(b − b̄_old) is the exact increment of the co-moment.
        let e = [
            v[0] - self.mean[0],
            v[1] - self.mean[1],
            v[2] - self.mean[2],
        ];
        self.co[0] += d[0] * e[0];
        self.co[1] += d[1] * e[1];
        self.co[2] += d[2] * e[2];
        self.co[3] += d[0] * e[1];
        self.co[4] += d[0] * e[2];
        self.co[5] += d[1] * e[2];
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
        let d = [
            other.mean[0] - self.mean[0],
            other.mean[1] - self.mean[1],
            other.mean[2] - self.mean[2],
        ];
        let mut out = Moments {
            n: self.n + other.n,
            ..Moments::default()
        };
        for ((o, m), di) in out.mean.iter_mut().zip(self.mean).zip(d) {
            *o = m + di * nb / n;
        }
        for (i, j) in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)] {
            let k = pair(i, j);
            out.co[k] = self.co[k] + other.co[k] + d[i] * d[j] * na * nb / n;
        }
        out
    }

    /// From raw sums as warehouses export them: n, Σv_i, Σv_i² and the cross-products
    /// Σv_i·v_j (yd, yx, dx).
    pub fn from_sums(n: u64, sums: [f64; 3], squares: [f64; 3], products: [f64; 3]) -> Moments {
        let mut m = Moments {
            n,
            ..Moments::default()
        };
        if n == 0 {
            return m;
        }
        let nf = n as f64;
        for i in 0..3 {
            m.mean[i] = sums[i] / nf;
            m.co[pair(i, i)] = squares[i] - sums[i] * sums[i] / nf;
        }
        for (k, (i, j)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
            m.co[pair(i, j)] = products[k] - sums[i] * sums[j] / nf;
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

    fn direct(rows: &[[f64; 3]]) -> (f64, [f64; 3], [[f64; 3]; 3]) {
        let n = rows.len() as f64;
        let mut mean = [0.0; 3];
        for r in rows {
            for i in 0..3 {
                mean[i] += r[i] / n;
            }
        }
        let mut cov = [[0.0; 3]; 3];
        for r in rows {
            for i in 0..3 {
                for j in 0..3 {
                    cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / (n - 1.0);
                }
            }
        }
        (n, mean, cov)
    }

    #[test]
    fn streaming_merged_and_raw_sums_agree_with_the_two_pass_formulas() {
        let rows: Vec<[f64; 3]> = (0..200)
            .map(|i| {
                let t = i as f64;
                [
                    1e6 + (t * 0.37).sin() * 3.0,
                    (t * 0.11).cos() + 2.0,
                    t % 7.0,
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
        let mut sums = [0.0; 3];
        let mut squares = [0.0; 3];
        let mut products = [0.0; 3];
        for r in &rows {
            for i in 0..3 {
                sums[i] += r[i];
                squares[i] += r[i] * r[i];
            }
            products[0] += r[0] * r[1];
            products[1] += r[0] * r[2];
            products[2] += r[1] * r[2];
        }
        let from_sums = Moments::from_sums(200, sums, squares, products);
        for m in [all, merged] {
            assert_eq!(m.n, 200);
            for i in 0..3 {
                assert!((m.mean[i] - mean[i]).abs() < 1e-9 * mean[i].abs().max(1.0));
                for j in 0..3 {
                    assert!((m.cov(i, j) - cov[i][j]).abs() < 1e-9, "{i}{j}");
                }
            }
        }
        // Raw sums lose digits around a mean of 10⁶ (the reason for Welford), but the
        // other values agree closely.
        assert!((from_sums.cov(1, 2) - cov[1][2]).abs() < 1e-9);
        assert!((from_sums.cov(0, 0) - cov[0][0]).abs() < 1e-3);
        assert!((all.sum_squares(1) - squares[1]).abs() < 1e-9 * squares[1]);
    }
}
