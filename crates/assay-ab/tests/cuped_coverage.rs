//! CUPED's relative lift: which delta-method variance gives intervals that cover at
//! their nominal rate?
//!
//! The lift is L = (ȳ_b − θx̄_b − ȳ_a + θx̄_a)/ȳ_a = A/ȳ_a − 1 with
//! A = ȳ_b − θ(x̄_b − x̄_a). With θ held fixed, its gradient is (1/ȳ_a, −θ/ȳ_a) in the
//! treatment's (ȳ_b, x̄_b) and (−A/ȳ_a², θ/ȳ_a) in control's (ȳ_a, x̄_a), which is what
//! assay evaluates. GrowthBook's current engine (gbstats at growthbook/growthbook
//! 8f1db4456915a8e7b7faf23d5632ca7219d2f469, `frequentist_variance_relative_cuped`) puts
//! ȳ_b where A stands in control's term. The two agree to first order (x̄_b − x̄_a is
//! O(1/√n) under randomisation), so the question is which covers better where they
//! differ: small arms, a strong covariate, a skewed metric, a large lift.
//!
//! Each scenario draws `ROUNDS` seeded experiments from a model whose true relative lift
//! is known exactly (the treatment multiplies each unit's outcome by 1 + L), builds
//! both 95% Welch intervals from the same moments, and counts how often each holds L.
//! The figures are printed (`cargo test -p assay-ab --test cuped_coverage -- --nocapture`)
//! and quoted in docs/ab.md.

use assay_ab::effect::{Kind, Settings, Shape, compare};
use assay_ab::moments::{COVARIATE, MAIN, Moments};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Normal};

const ROUNDS: usize = 10_000;

struct Scenario {
    name: &'static str,
    per_arm: usize,
    lift: f64,
    /// Outcome = base + slope·x + noise; x exponential (skewed) with this mean.
    slope: f64,
    noise_sd: f64,
}

/// (assay's coverage, GrowthBook's coverage, mean |difference| of their standard errors
/// relative to assay's).
fn coverage(s: &Scenario, seed: u64) -> (f64, f64, f64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x_dist = Exp::new(0.2).unwrap(); // mean 5
    let noise = Normal::new(0.0, s.noise_sd).unwrap();
    let shape = Shape {
        main: Kind::Mean,
        denominator: None,
        covariate: Some(Kind::Mean),
        covariate_denominator: None,
    };
    let settings = Settings::default();
    let (mut hit_assay, mut hit_gb, mut se_gap, mut rounds) = (0usize, 0usize, 0.0, 0usize);
    for _ in 0..ROUNDS {
        let mut arms = [Moments::default(), Moments::default()];
        for (k, arm) in arms.iter_mut().enumerate() {
            for _ in 0..s.per_arm {
                let x: f64 = x_dist.sample(&mut rng);
                let y = 10.0 + s.slope * x + noise.sample(&mut rng);
                let y = if k == 1 { y * (1.0 + s.lift) } else { y };
                arm.push([y, 0.0, x, 0.0]);
            }
        }
        let [a, b] = arms;
        let c = compare(&a, &b, shape, &settings, false);
        let Some(rel) = c.relative else { continue };
        let theta = c.theta.unwrap_or(0.0);
        rounds += 1;
        if rel.fixed.lower <= s.lift && s.lift <= rel.fixed.upper {
            hit_assay += 1;
        }
        // GrowthBook's current formula, from the same moments.
        let (ya, yb) = (a.mean[MAIN], b.mean[MAIN]);
        let (na, nb) = (a.n as f64, b.n as f64);
        let var = |m: &Moments, i: usize| m.cov(i, i);
        let v_trt = (var(&b, MAIN) + theta * theta * var(&b, COVARIATE)
            - 2.0 * theta * b.cov(MAIN, COVARIATE))
            / (nb * ya * ya);
        let c_ = -yb;
        let v_ctrl = (var(&a, MAIN) * c_ * c_ / (ya * ya)
            + 2.0 * theta * a.cov(MAIN, COVARIATE) * c_ / ya
            + theta * theta * var(&a, COVARIATE))
            / (na * ya * ya);
        let se_gb = (v_trt + v_ctrl).sqrt();
        let t = assay_stats::t_quantile(0.975, rel.dof);
        if (rel.estimate - t * se_gb..=rel.estimate + t * se_gb).contains(&s.lift) {
            hit_gb += 1;
        }
        se_gap += ((se_gb - rel.std_error) / rel.std_error).abs();
    }
    let r = rounds as f64;
    (hit_assay as f64 / r, hit_gb as f64 / r, se_gap / r)
}

#[test]
fn both_cuped_relative_variances_cover_at_the_nominal_rate() {
    let scenarios = [
        Scenario {
            name: "large arms, strong covariate",
            per_arm: 1000,
            lift: 0.05,
            slope: 3.0,
            noise_sd: 4.0,
        },
        Scenario {
            name: "small arms, strong covariate",
            per_arm: 30,
            lift: 0.05,
            slope: 3.0,
            noise_sd: 4.0,
        },
        Scenario {
            name: "small arms, large lift",
            per_arm: 30,
            lift: 0.50,
            slope: 3.0,
            noise_sd: 4.0,
        },
        Scenario {
            name: "tiny arms, weak covariate",
            per_arm: 10,
            lift: 0.20,
            slope: 0.5,
            noise_sd: 6.0,
        },
    ];
    // A 95% interval's coverage over 10,000 rounds has a Monte Carlo SE of 0.0022.
    let mc = (0.95f64 * 0.05 / ROUNDS as f64).sqrt();
    println!("| scenario | per arm | lift | assay (A) | GrowthBook (ȳ_b) | mean |ΔSE|/SE |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, s) in scenarios.iter().enumerate() {
        let (ours, theirs, gap) = coverage(s, 1000 + i as u64);
        println!(
            "| {} | {} | {:.2} | {:.4} | {:.4} | {:.2e} |",
            s.name, s.per_arm, s.lift, ours, theirs, gap
        );
        if s.per_arm >= 1000 {
            // Large arms: both at the nominal rate, within 4 Monte Carlo SEs.
            assert!((ours - 0.95).abs() < 4.0 * mc, "{}: {ours}", s.name);
            assert!((theirs - 0.95).abs() < 4.0 * mc, "{}: {theirs}", s.name);
        }
        // Everywhere, the exact gradient's coverage is at least as close to the nominal
        // 95% as the approximation's (within Monte Carlo error: both intervals are built
        // on the same draws).
        assert!(
            (ours - 0.95).abs() <= (theirs - 0.95).abs() + 2.0 * mc,
            "{}: assay {ours}, GrowthBook {theirs}",
            s.name
        );
    }
}
