//! Quantile metrics: the sample quantile against numpy's published default
//! (`numpy.percentile`, linear interpolation), GrowthBook's zero-variance rules, and by
//! simulation the interval of a quantile's relative change covering the true change at
//! its nominal rate (lognormal latencies, p50 and p95).

use assay_ab::effect::{QuantileStat, Settings, compare_quantile};
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};

#[test]
fn sample_quantiles_are_numpys_linear_interpolation() {
    // numpy.percentile(x, q) for these inputs (numpy's documentation examples and
    // values checked by hand: h = (n − 1)·q, interpolate between x[⌊h⌋] and x[⌊h⌋ + 1]).
    let cases: [(&[f64], f64, f64); 5] = [
        (&[10.0, 7.0, 4.0, 3.0, 2.0, 1.0], 0.5, 3.5),
        (&[1.0, 2.0, 3.0, 4.0], 0.9, 3.7),
        (&[5.0], 0.5, 5.0),
        (
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            0.95,
            10.5,
        ),
        (&[3.0, 1.0, 2.0], 0.25, 1.5),
    ];
    for (values, q, want) in cases {
        let mut v = values.to_vec();
        let got = QuantileStat::from_values(&mut v, q).unwrap();
        assert!(
            (got.estimate - want).abs() < 1e-12,
            "{values:?} at {q}: {got:?}"
        );
    }
    let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
    let s = QuantileStat::from_values(&mut v, 0.95).unwrap();
    // numpy.percentile(range(1, 101), 95) = 95.05; the bounds are the quantiles at
    // 0.95 ∓ 1.959964·√(0.95·0.05/100) = 0.907284 and 0.992716.
    assert!((s.estimate - 95.05).abs() < 1e-9);
    assert!((s.lower - (1.0 + 99.0 * 0.907_283_9)).abs() < 1e-4, "{s:?}");
    assert!((s.upper - (1.0 + 99.0 * 0.992_716_1)).abs() < 1e-4, "{s:?}");
    assert!(QuantileStat::from_values(&mut [], 0.5).is_none());
}

#[test]
fn too_few_units_or_an_atom_at_the_quantile_is_no_test() {
    let stat = |n: u64, lower: f64, upper: f64| QuantileStat {
        n,
        n_star: n,
        nu: 0.9,
        estimate: 5.0,
        lower,
        upper,
    };
    // n ≤ z²·ν/(1 − ν) = 34.6 for ν = 0.9 (GrowthBook's `_has_zero_variance`).
    assert!(stat(34, 4.0, 6.0).untestable().is_some());
    assert!(stat(35, 4.0, 6.0).untestable().is_none());
    // Collapsed bounds, at any n (GrowthBook's TestQuantileStatisticZeroVariance).
    assert!(stat(60_000_000, 5.0, 5.0).untestable().is_some());
    assert!(stat(999, 5.0, 5.0).untestable().is_some());
    assert!(stat(60_000_000, 4.99, 5.01).untestable().is_none());
    let c = compare_quantile(
        &stat(60_000_000, 5.0, 5.0),
        &stat(60_000_000, 4.99, 5.01),
        &Settings::default(),
        false,
    );
    assert!(c.absolute.is_none() && c.relative.is_none());
    assert!(
        c.warnings[0].contains("bounds are one value"),
        "{:?}",
        c.warnings
    );
}

/// 400 experiments of 3,000 units per arm, latencies lognormal(ln 300, 0.5); the
/// treatment multiplies every latency by 1.05, so every quantile moves by exactly +5%.
/// The 95% fixed-horizon interval of the relative change must cover 0.05 in 92% to 98%
/// of them (the binomial sd of a 95% rate over 400 is 1.1 points).
#[test]
fn quantile_intervals_cover_the_true_change_at_their_nominal_rate() {
    let latency = LogNormal::new(300f64.ln(), 0.5).unwrap();
    let settings = Settings::default();
    for nu in [0.5, 0.95] {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let (mut covered, mut sequential_covered, runs) = (0usize, 0usize, 400);
        for _ in 0..runs {
            let mut arm = |scale: f64| {
                let mut v: Vec<f64> = (0..3000)
                    .map(|_| scale * latency.sample(&mut rng))
                    .collect();
                QuantileStat::from_values(&mut v, nu).unwrap()
            };
            let (a, b) = (arm(1.0), arm(1.05));
            let c = compare_quantile(&a, &b, &settings, true);
            let r = c.relative.expect("a relative change");
            covered += usize::from(r.fixed.lower <= 0.05 && 0.05 <= r.fixed.upper);
            sequential_covered +=
                usize::from(r.sequential.lower <= 0.05 && 0.05 <= r.sequential.upper);
        }
        let rate = covered as f64 / runs as f64;
        let sequential = sequential_covered as f64 / runs as f64;
        println!(
            "p{}: fixed coverage {rate:.3}, sequential {sequential:.3}",
            nu * 100.0
        );
        assert!((0.92..=0.98).contains(&rate), "p{}: {rate}", nu * 100.0);
        // The confidence sequence is wider: it covers at least as often.
        assert!(sequential >= rate);
    }
}
