//! Every statistic against an independent computation on the same data
//! (`tests/fixtures/ab_units.csv`, 3,000 users in three arms): GrowthBook's engine
//! (gbstats 0.8.0), scipy, statsmodels and numpy, run once by
//! `scripts/fixtures/ab_reference.py` into `ab_reference.json`.
//!
//! Tolerances: estimates and standard errors to 1e-9 relative (both sides sum the same
//! doubles, in another order); p-values and interval ends, which go through Student's t
//! and normal quantiles (statrs here, scipy's cephes there), to 1e-7 relative.

use assay_ab::aggregate::{Cap, MetricSpec, Missing, aggregate};
use assay_ab::correct::{Correction, adjust};
use assay_ab::effect::{Comparison, Effect, Kind, Settings, compare};
use assay_ab::power::Plan;
use assay_ab::source::Source;
use assay_ab::srm;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    // The absolute floor: gbstats computes p as 2·(1 − cdf), which is 0 below ~1e-16,
    // where the tail computed directly here is a few 1e-17.
    let tol = (rel * want.abs()).max(1e-15);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (off by {:e}, tolerance {tol:e})",
        (got - want).abs()
    );
}

fn spec(name: &str, column: &str) -> MetricSpec {
    MetricSpec::new(name, column)
}

fn check_freq(what: &str, e: &Effect, want: &Value) {
    let f = |k: &str| want[k].as_f64().unwrap();
    close(&format!("{what} estimate"), e.estimate, f("estimate"), 1e-9);
    close(
        &format!("{what} std error"),
        e.std_error,
        f("std_error"),
        1e-9,
    );
    close(&format!("{what} dof"), e.dof, f("dof"), 1e-9);
    close(&format!("{what} lower"), e.fixed.lower, f("lower"), 1e-7);
    close(&format!("{what} upper"), e.fixed.upper, f("upper"), 1e-7);
    close(&format!("{what} p"), e.fixed.p_value, f("p_value"), 1e-7);
    close(
        &format!("{what} seq lower"),
        e.sequential.lower,
        f("seq_lower"),
        1e-9,
    );
    close(
        &format!("{what} seq upper"),
        e.sequential.upper,
        f("seq_upper"),
        1e-9,
    );
    close(
        &format!("{what} seq p"),
        e.sequential.p_value,
        f("seq_p_value"),
        1e-9,
    );
}

fn check_bayes(what: &str, e: &Effect, want: &Value) {
    let f = |k: &str| want[k].as_f64().unwrap();
    close(
        &format!("{what} ctw"),
        e.bayes.chance_to_win,
        f("chance_to_win"),
        1e-7,
    );
    close(
        &format!("{what} cri lower"),
        e.bayes.lower,
        f("lower"),
        1e-7,
    );
    close(
        &format!("{what} cri upper"),
        e.bayes.upper,
        f("upper"),
        1e-7,
    );
    close(
        &format!("{what} risk control"),
        e.bayes.risk_control,
        f("risk_control"),
        1e-7,
    );
    close(
        &format!("{what} risk treatment"),
        e.bayes.risk_treatment,
        f("risk_treatment"),
        1e-7,
    );
}

#[test]
fn every_statistic_matches_gbstats_scipy_statsmodels_and_numpy() {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ab_reference.json")).unwrap())
            .unwrap();
    let cap = reference["revenue_quantile_99"].as_f64().unwrap();
    let specs = vec![
        spec("converted", "converted"),
        spec("revenue", "revenue"),
        MetricSpec {
            denominator: Some("sessions".into()),
            ..spec("messages_per_session", "messages")
        },
        MetricSpec {
            lower_is_better: true,
            ..spec("latency_ms", "latency_ms")
        },
        MetricSpec {
            covariate: Some("pre_revenue".into()),
            ..spec("revenue_cuped", "revenue")
        },
        MetricSpec {
            cap: Some(Cap::Value(cap)),
            ..spec("revenue_capped", "revenue")
        },
        MetricSpec {
            cap: Some(Cap::Quantile(0.99)),
            ..spec("revenue_capped_q", "revenue")
        },
    ];
    let data = aggregate(
        &Source::File(fixture("ab_units.csv")),
        "variant",
        Some("day"),
        &specs,
        Missing::Error,
        2,
    )
    .unwrap();
    assert_eq!(data.arms, ["treatment_b", "control", "treatment_a"]);
    assert_eq!(data.rows, 3000);
    assert_eq!(data.days.len(), 14);
    assert_eq!(data.metrics[0].shape.main, Kind::Proportion);
    assert_eq!(data.metrics[1].shape.main, Kind::Mean);
    let control = data.arms.iter().position(|a| a == "control").unwrap();
    let settings = Settings::default();
    let prior = Settings {
        prior: Some((0.0, 0.3)),
        ..settings
    };
    let run = |m: usize, arm: usize, s: &Settings| -> Comparison {
        let md = &data.metrics[m];
        compare(
            &md.arms[control],
            &md.arms[arm],
            md.shape,
            s,
            md.spec.lower_is_better,
        )
    };
    for case in reference["comparisons"].as_array().unwrap() {
        let name = case["variant"].as_str().unwrap();
        let t = data.arms.iter().position(|a| a == name).unwrap();
        let want = &case["metrics"];
        // Conversion: a proportion, absolute and relative, flat and proper prior.
        let c = run(0, t, &settings);
        check_freq(
            &format!("{name} converted abs"),
            c.absolute.as_ref().unwrap(),
            &want["converted"]["absolute"],
        );
        let rel = c.relative.as_ref().unwrap();
        check_freq(
            &format!("{name} converted rel"),
            rel,
            &want["converted"]["relative"],
        );
        check_bayes(
            &format!("{name} converted bayes"),
            rel,
            &want["converted"]["bayes_relative"],
        );
        let c = run(0, t, &prior);
        check_bayes(
            &format!("{name} converted bayes prior"),
            c.relative.as_ref().unwrap(),
            &want["converted"]["bayes_relative_prior"],
        );
        // Revenue: a mean; Welch also against scipy.
        let c = run(1, t, &settings);
        let abs = c.absolute.as_ref().unwrap();
        check_freq(
            &format!("{name} revenue abs"),
            abs,
            &want["revenue"]["absolute"],
        );
        check_freq(
            &format!("{name} revenue rel"),
            c.relative.as_ref().unwrap(),
            &want["revenue"]["relative"],
        );
        let w = &want["revenue"]["scipy_welch"];
        close(
            "scipy welch p",
            abs.fixed.p_value,
            w["p_value"].as_f64().unwrap(),
            1e-7,
        );
        close(
            "scipy welch lower",
            abs.fixed.lower,
            w["lower"].as_f64().unwrap(),
            1e-7,
        );
        close(
            "scipy welch upper",
            abs.fixed.upper,
            w["upper"].as_f64().unwrap(),
            1e-7,
        );
        close("scipy welch dof", abs.dof, w["dof"].as_f64().unwrap(), 1e-9);
        check_bayes(
            &format!("{name} revenue bayes abs"),
            abs,
            &want["revenue"]["bayes_absolute"],
        );
        // Ratio metric by the delta method.
        let c = run(2, t, &settings);
        check_freq(
            &format!("{name} ratio abs"),
            c.absolute.as_ref().unwrap(),
            &want["messages_per_session"]["absolute"],
        );
        check_freq(
            &format!("{name} ratio rel"),
            c.relative.as_ref().unwrap(),
            &want["messages_per_session"]["relative"],
        );
        // Lower is better: chance to win and risk flip.
        let c = run(3, t, &settings);
        let rel = c.relative.as_ref().unwrap();
        check_freq(
            &format!("{name} latency rel"),
            rel,
            &want["latency_ms"]["relative"],
        );
        check_bayes(
            &format!("{name} latency bayes"),
            rel,
            &want["latency_ms"]["bayes_relative_inverse"],
        );
        // CUPED: θ and the absolute effect against gbstats, the relative variance against
        // numpy's delta method.
        let c = run(4, t, &settings);
        close(
            "theta",
            c.theta.unwrap(),
            want["revenue_cuped"]["theta"].as_f64().unwrap(),
            1e-9,
        );
        check_freq(
            &format!("{name} cuped abs"),
            c.absolute.as_ref().unwrap(),
            &want["revenue_cuped"]["absolute"],
        );
        let rel = c.relative.as_ref().unwrap();
        let np = &want["revenue_cuped"]["relative_numpy"];
        close(
            "cuped rel estimate",
            rel.estimate,
            np["estimate"].as_f64().unwrap(),
            1e-9,
        );
        close(
            "cuped rel se",
            rel.std_error,
            np["std_error"].as_f64().unwrap(),
            1e-9,
        );
        assert!(
            c.variance_reduction.unwrap() > 0.2,
            "{:?}",
            c.variance_reduction
        );
        // Winsorised at numpy's 99th percentile.
        let c = run(5, t, &settings);
        check_freq(
            &format!("{name} capped rel"),
            c.relative.as_ref().unwrap(),
            &want["revenue_capped"]["relative"],
        );
    }
    // The streaming quantile (t-digest) against numpy's exact one: the cap moves by
    // less than the gap between neighbouring order statistics would allow at 3,000 units.
    let q = data.metrics[6].cap_value.unwrap();
    close("99th percentile", q, cap, 0.02);
    assert_eq!(data.metrics[5].capped, 30);

    // Sample-ratio mismatch against gbstats' check_srm and scipy's chisquare.
    let s = &reference["srm"];
    let units: Vec<u64> = s["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_u64().unwrap())
        .collect();
    let weights: Vec<f64> = s["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_f64().unwrap())
        .collect();
    let r = srm::check(&units, &weights, srm::SRM_THRESHOLD);
    close(
        "srm chi2",
        r.chi_square,
        s["chi_square"].as_f64().unwrap(),
        1e-12,
    );
    close("srm p", r.p_value, s["p_value"].as_f64().unwrap(), 1e-9);
    close(
        "srm p scipy",
        r.p_value,
        s["scipy_p_value"].as_f64().unwrap(),
        1e-9,
    );

    // Holm and Benjamini-Hochberg against statsmodels' multipletests.
    let c = &reference["corrections"];
    let ps: Vec<f64> = c["p_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (method, key) in [
        (Correction::Holm, "holm"),
        (Correction::BenjaminiHochberg, "bh"),
    ] {
        let got = adjust(&ps, method);
        for (g, w) in got.iter().zip(c[key].as_array().unwrap()) {
            close(key, *g, w.as_f64().unwrap(), 1e-12);
        }
    }

    // Power, sample size and MDE against statsmodels' NormalIndPower (σ = 1, so the
    // effect is Cohen's d).
    for p in reference["power"].as_array().unwrap() {
        let plan = Plan {
            alpha: p["alpha"].as_f64().unwrap(),
            power: p["power"].as_f64().unwrap(),
            sd: 1.0,
            ratio: p["ratio"].as_f64().unwrap(),
            sequential_tuning: None,
        };
        let (d, n) = (
            p["effect_size"].as_f64().unwrap(),
            p["nobs1"].as_f64().unwrap(),
        );
        let achieved = p["achieved_power"].as_f64().unwrap();
        close("power", plan.power_at(d, n), achieved, 1e-9);
        // statsmodels solves with brentq to its default tolerance, hence 1e-4.
        close("sample size", plan.control_units_needed(d), n, 1e-4);
        close("mde", plan.minimum_detectable_effect(n), d, 1e-4);
    }
}
