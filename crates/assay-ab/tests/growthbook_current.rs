//! GrowthBook's current engine, case by case: the values its own unit tests assert
//! (`tests/fixtures/gbstats_current.json`, transcribed with the commit they came from),
//! recomputed here from the same sufficient statistics through assay's `compare`, to
//! 1e-5 (GrowthBook's tests round to 5 decimals). A case marked `differs` is one where
//! assay deliberately computes otherwise; its gap is bounded and its reason documented.

use assay_ab::effect::{
    Alternative, Effect, Kind, QuantileStat, Settings, Shape, compare, compare_quantile,
};
use assay_ab::moments::Moments;
use assay_ab::poststrat;
use serde_json::Value;

/// An arm's statistics as the fixture writes them: the flat form of the count-metric
/// cases (`sum`, `sum_squares`, `pre_sum`, `pre_sum_squares`, `products`), or
/// GrowthBook's own for ratios and CUPED (`m_post`, `d_post`, `m_pre`, `d_pre`, each
/// with `sum` and `sum_squares`, and the cross-products `m_post_d_post`, ...).
fn moments(arm: &Value, kind: &str) -> Moments {
    let n = arm["n"].as_u64().unwrap();
    if arm.get("m_post").is_some() {
        let group = |g: &str| {
            let s = &arm[g];
            let sum = s["sum"].as_f64().unwrap_or(0.0);
            // A proportion's values are 0/1: Σv² = Σv.
            let sq = s["sum_squares"].as_f64().unwrap_or(sum);
            (sum, sq)
        };
        let [m, d, x, xd] = ["m_post", "d_post", "m_pre", "d_pre"].map(group);
        let p = |k: &str| arm[k].as_f64().unwrap_or(0.0);
        // The order of assay_ab::moments::PAIRS: (main, denominator), (main, covariate),
        // (main, covariate denominator), (denominator, covariate), (denominator,
        // covariate denominator), (covariate, covariate denominator).
        return Moments::from_sums(
            n,
            [m.0, d.0, x.0, xd.0],
            [m.1, d.1, x.1, xd.1],
            [
                p("m_post_d_post"),
                p("m_post_m_pre"),
                p("m_post_d_pre"),
                p("m_pre_d_post"),
                p("d_post_d_pre"),
                p("m_pre_d_pre"),
            ],
        );
    }
    let f = |k: &str| arm[k].as_f64().unwrap_or(0.0);
    // A proportion's values are 0/1: Σv² = Σv.
    let squares = if kind == "proportion" {
        f("sum")
    } else {
        f("sum_squares")
    };
    Moments::from_sums(
        n,
        [f("sum"), 0.0, f("pre_sum"), 0.0],
        [squares, 0.0, f("pre_sum_squares"), 0.0],
        [0.0, f("products"), 0.0, 0.0, 0.0, 0.0],
    )
}

/// The metric's form: `mean` (the default), `cuped`, `ratio` or `ratio_cuped`.
fn shape_of(case: &Value, main: Kind) -> Shape {
    let covariate = case["covariate"].as_str().map(kind);
    let mean = Some(Kind::Mean);
    match case["shape"].as_str() {
        Some("ratio_cuped") => Shape {
            main,
            denominator: mean,
            covariate: mean,
            covariate_denominator: mean,
        },
        Some("ratio") => Shape {
            main,
            denominator: mean,
            covariate: None,
            covariate_denominator: None,
        },
        Some("cuped") => Shape {
            main,
            denominator: None,
            covariate: mean,
            covariate_denominator: None,
        },
        _ => Shape {
            main,
            denominator: None,
            covariate,
            covariate_denominator: None,
        },
    }
}

fn kind(text: &str) -> Kind {
    match text {
        "proportion" => Kind::Proportion,
        _ => Kind::Mean,
    }
}

/// The gaps from GrowthBook's values, by field.
fn gaps(case: &Value) -> Vec<(String, f64, f64)> {
    let k = case["kind"].as_str().unwrap();
    let shape = shape_of(case, kind(k));
    // GrowthBook's prior is on the relative lift (its default `prior_type`), rescaled by
    // the control mean for an absolute effect, as assay's.
    let prior = case["prior_mean"]
        .as_f64()
        .map(|m| (m, case["prior_variance"].as_f64().unwrap().sqrt()));
    let settings = Settings {
        alpha: 0.05,
        sequential_tuning: case["tuning"].as_f64().unwrap_or(5000.0),
        prior,
        alternative: match case["alternative"].as_str() {
            Some("greater") => Alternative::Greater,
            Some("less") => Alternative::Less,
            _ => Alternative::TwoSided,
        },
    };
    let c = if k == "quantile" {
        let q = |arm: &Value| {
            let f = |k: &str| arm[k].as_f64().unwrap();
            QuantileStat {
                n: arm["n"].as_u64().unwrap(),
                n_star: arm["n_star"].as_u64().unwrap(),
                nu: f("nu"),
                estimate: f("estimate"),
                lower: f("lower"),
                upper: f("upper"),
            }
        };
        compare_quantile(
            &q(&case["control"]),
            &q(&case["treatment"]),
            &settings,
            false,
        )
    } else {
        compare(
            &moments(&case["control"], k),
            &moments(&case["treatment"], k),
            shape,
            &settings,
            false,
        )
    };
    let e: &Effect = match case["scale"].as_str().unwrap() {
        "relative" => c.relative.as_ref(),
        _ => c.absolute.as_ref(),
    }
    .expect("an effect");
    let got: Vec<(&str, f64)> = match case["test"].as_str().unwrap() {
        "fixed" => vec![
            ("estimate", e.estimate),
            ("std_error", e.std_error),
            ("lower", e.fixed.lower),
            ("upper", e.fixed.upper),
            ("p_value", e.fixed.p_value),
        ],
        "sequential" => vec![
            ("estimate", e.estimate),
            ("std_error", e.std_error),
            ("lower", e.sequential.lower),
            ("upper", e.sequential.upper),
            ("p_value", e.sequential.p_value),
        ],
        _ => {
            let b = &e.bayes;
            let z = assay_stats::normal_quantile(0.975);
            vec![
                ("estimate", (b.lower + b.upper) / 2.0),
                ("std_error", (b.upper - b.lower) / (2.0 * z)),
                ("lower", b.lower),
                ("upper", b.upper),
                ("chance_to_win", b.chance_to_win),
                ("risk_control", b.risk_control),
                ("risk_treatment", b.risk_treatment),
            ]
        }
    };
    got.into_iter()
        // Fields GrowthBook's test does not assert are not compared.
        .filter(|(field, _)| case["expected"].get(*field).is_some())
        .map(|(field, value)| {
            // An open end of a one-sided interval is `null` (GrowthBook's ±inf).
            let want = match &case["expected"][field] {
                Value::Null if field == "lower" => f64::NEG_INFINITY,
                Value::Null => f64::INFINITY,
                v => v.as_f64().unwrap(),
            };
            // Equal infinities are no gap.
            let value = if value == want { want } else { value };
            (field.to_owned(), value, want)
        })
        .collect()
}

#[test]
fn every_growthbook_case_assay_expresses_reproduces_to_1e_5() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/gbstats_current.json")).unwrap();
    let mut same = 0;
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let gaps = gaps(case);
        let gap = |got: f64, want: f64| if got == want { 0.0 } else { (got - want).abs() };
        let worst = gaps
            .iter()
            .map(|(_, got, want)| gap(*got, *want))
            .fold(0.0, f64::max);
        println!("{name}: largest gap {worst:.2e}");
        if case.get("differs").is_some() {
            // Documented differences stay small: they are second-order terms.
            assert!(worst < 1e-3, "{name}: {gaps:?}");
            assert!(worst > 1e-5, "{name} now matches: drop its `differs`");
            continue;
        }
        for (field, got, want) in &gaps {
            assert!(
                gap(*got, *want) <= 1e-5,
                "{name}: {field} = {got}, GrowthBook {want}"
            );
        }
        same += 1;
    }
    assert_eq!(same, 22);
}

/// GrowthBook's post-stratification cases: five strata of a count metric, the same with
/// CUPED, a ratio and a ratio with CUPED; the point estimate and standard error of the
/// absolute and relative effects (full precision there, so compared to 1e-9).
#[test]
fn post_stratification_reproduces_growthbooks_cases() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/gbstats_current.json")).unwrap();
    let cases = fixture["post_stratification"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let shape = shape_of(case, Kind::Mean);
        let strata: Vec<(Moments, Moments)> = case["strata"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    moments(&c["control"], "mean"),
                    moments(&c["treatment"], "mean"),
                )
            })
            .collect();
        for (scale, relative) in [("absolute", false), ("relative", true)] {
            let e = poststrat::effect(&strata, shape, relative)
                .unwrap_or_else(|why| panic!("{name} {scale}: {why}"));
            let want = &case["expected"][scale];
            let (est, se) = (
                want["estimate"].as_f64().unwrap(),
                want["std_error"].as_f64().unwrap(),
            );
            println!(
                "{name} {scale}: estimate {} (GrowthBook {est}), se {} ({se})",
                e.estimate,
                e.variance.sqrt()
            );
            // The setUp values are GrowthBook's unrounded results: they agree far below
            // the 1e-5 its tests round to.
            assert!((e.estimate - est).abs() < 1e-9, "{name} {scale} estimate");
            assert!((e.variance.sqrt() - se).abs() < 1e-9, "{name} {scale} se");
            // Through `compare_stratified`, the effect carries the same numbers.
            let (a, b) = strata.iter().fold(
                (Moments::default(), Moments::default()),
                |(a, b), (x, y)| (a.merge(x), b.merge(y)),
            );
            let c = assay_ab::effect::compare_stratified(
                &a,
                &b,
                Some(&strata),
                shape,
                &Settings::default(),
                false,
            );
            assert_eq!(c.post_stratified, Some(true));
            let eff = if relative { c.relative } else { c.absolute }.unwrap();
            assert!((eff.estimate - est).abs() < 1e-5 && (eff.std_error - se).abs() < 1e-5);
        }
    }
}

/// The sample-ratio check against GrowthBook's back end's own cases
/// (`packages/back-end/test/stats.test.ts` at the same commit, `checkSrm`, compared there
/// to 9 decimals): uneven weights, arms without a weight or a count left out, p = 1 when
/// fewer than two arms remain or no unit arrived.
#[test]
fn the_sample_ratio_check_matches_growthbooks_cases() {
    let cases: [(&[u64], &[f64], f64); 10] = [
        (&[1000, 1200], &[0.5, 0.5], 0.000020079),
        (&[135, 115], &[0.5, 0.5], 0.205903211),
        (&[310, 98], &[0.75, 0.25], 0.647434186),
        (&[1000], &[0.5, 0.5], 1.0),
        (&[1000, 900, 800], &[1.0, 0.0, 0.0], 1.0),
        (&[1000, 1200, 900], &[0.5, 0.5, 0.0], 0.000020079),
        (&[0, 0, 0], &[0.34, 0.33, 0.33], 1.0),
        (&[0, 10, 10], &[0.34, 0.33, 0.33], 0.005790624),
        (&[500, 500, 600], &[0.34, 0.33, 0.33], 0.000592638),
        (&[500, 500], &[0.5, 0.5], 1.0),
    ];
    for (users, weights, want) in cases {
        let got = assay_ab::srm::check(users, weights, assay_ab::srm::SRM_THRESHOLD).p_value;
        assert!(
            (got - want).abs() <= 5e-10,
            "{users:?} {weights:?}: {got} vs GrowthBook {want}"
        );
    }
}

/// Corrections and adjusted intervals against GrowthBook's shared code's own cases
/// (`packages/shared/test/experiments.test.ts` at the same commit: Holm-Bonferroni,
/// Benjamini-Hochberg to 8 decimals, and `adjustedCI`).
#[test]
fn corrections_and_adjusted_intervals_match_growthbooks_cases() {
    use assay_ab::correct::{Correction, adjust};
    let holm = adjust(&[0.01, 0.04, 0.03, 0.005, 0.55, 0.6], Correction::Holm);
    let want = [0.05, 0.12, 0.12, 0.03, 1.0, 1.0];
    for (g, w) in holm.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "Holm {holm:?}");
    }
    let bh = adjust(
        &[0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138],
        Correction::BenjaminiHochberg,
    );
    let want = [0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415];
    for (g, w) in bh.iter().zip(want) {
        assert!((g - w).abs() < 5e-9, "BH {bh:?}");
    }
    // adjustedCI(0.049999999, 0.1, 0.05) and (0.0099999999, 0.1, 0.01) are [0, 0.2].
    let everywhere = (f64::INFINITY, f64::NEG_INFINITY);
    for (p, alpha) in [(0.049999999, 0.05), (0.0099999999, 0.01)] {
        let a = assay_ab::analyze::adjusted_interval(p, 0.1, alpha, everywhere).unwrap();
        assert!(a.lower > 0.0 && a.upper < 0.2, "{a:?}");
        assert!(
            a.lower.abs() < 5e-9 && (a.upper - 0.2).abs() < 5e-9,
            "{a:?}"
        );
    }
    // Only ever wider: an interval already wider is kept; a corrected p of 1 opens it.
    assert_eq!(
        assay_ab::analyze::adjusted_interval(0.04, 0.1, 0.05, (-1.0, 1.0)),
        None
    );
    let open = assay_ab::analyze::adjusted_interval(1.0, 0.1, 0.05, (0.0, 0.2)).unwrap();
    assert_eq!((open.lower, open.upper), (f64::NEG_INFINITY, f64::INFINITY));
}
