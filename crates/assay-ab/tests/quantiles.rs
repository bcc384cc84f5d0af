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

/// A warehouse's quantile rows (GrowthBook's `quantile`, `quantile_n`,
/// `quantile_nstar`, `quantile_lower`, `quantile_upper`, with the level in
/// `quantile_level`) through `--stats`: GrowthBook's Bayesian quantile case
/// (`tests/bayesian/test_tests.py`, `b_improper_flat`) comes out to 1e-12.
#[test]
fn quantile_rows_from_a_warehouse_give_growthbooks_posterior() {
    use assay_ab::config::AnalysisConfig;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.csv");
    std::fs::write(
        &path,
        "variant,metric,units,quantile_level,quantile,quantile_n,quantile_nstar,quantile_lower,quantile_upper\n\
         control,p90,11054,0.9,7.157987489967789,11054,11054,7.098780136176828,7.217194843758751\n\
         treatment,p90,10861,90%,7.694499927525767,10861,10861,7.64180598628119,7.747193868770344\n",
    )
    .unwrap();
    let config: AnalysisConfig = toml::from_str("metrics = [\"p90\"]").unwrap();
    let specs = config.specs("").unwrap();
    let data = config.read_stats(&path, &specs).unwrap();
    let analysis = assay_ab::analyze::analyze(&data, &config.options("").unwrap()).unwrap();
    let r = &analysis.metrics[0].results[0];
    assert_eq!(analysis.metrics[0].quantile, Some(0.9));
    let b = r.comparison.absolute.as_ref().unwrap().bayes;
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    assert!(close(b.lower, 0.4572559589115422), "{b:?}");
    assert!(close(b.upper, 0.6157689162044128), "{b:?}");
    assert!(close((b.lower + b.upper) / 2.0, 0.5365124375579775));
    // Rows whose quantile lies outside its bounds, or levels that differ, are refused.
    for (row, want) in [
        (
            "treatment,p90,10861,0.9,9.0,10861,10861,7.6,7.7",
            "is not between quantile_lower",
        ),
        (
            "treatment,p90,10861,0.5,7.69,10861,10861,7.6,7.7",
            "quantile_level 0.5 here and 0.9",
        ),
    ] {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[2] = row;
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, lines.join("\n")).unwrap();
        let e = config.read_stats(&bad, &specs).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    // The command line's quantile must be the file's.
    let other: AnalysisConfig =
        toml::from_str("metrics = [\"p90\"]\nquantile = { p90 = \"latency@95%\" }").unwrap();
    let e = other
        .read_stats(&path, &other.specs("").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is the p90 quantile in the file, not the p95 quantile asked for"),
        "{e}"
    );
}
