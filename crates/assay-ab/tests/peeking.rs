//! Continuous peeking, simulated: A/A tests read after every 100 units. The naive fixed-
//! horizon Welch test, stopped at the first p < 0.05, declares a difference far more often
//! than 5%; the always-valid sequential p-value keeps its promise of at most 5% over all
//! looks together, and its interval keeps covering a real effect at every look.

use assay_ab::effect::{Kind, Settings, Shape, compare};
use assay_ab::moments::Moments;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

const SIMULATIONS: usize = 1000;
const UNITS_PER_ARM: usize = 2000;
const LOOK_EVERY: usize = 50; // per arm, so 100 units between looks, 40 looks

struct Outcome {
    naive_rejected: usize,
    sequential_rejected: usize,
    final_fixed_rejected: usize,
    sequential_missed_truth: usize,
}

fn simulate(effect: f64, seed: u64) -> Outcome {
    let shape = Shape {
        main: Kind::Mean,
        denominator: None,
        covariate: None,
        covariate_denominator: None,
    };
    let settings = Settings {
        sequential_tuning: (2 * UNITS_PER_ARM) as f64,
        ..Settings::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(10.0, 3.0).unwrap();
    let mut out = Outcome {
        naive_rejected: 0,
        sequential_rejected: 0,
        final_fixed_rejected: 0,
        sequential_missed_truth: 0,
    };
    for _ in 0..SIMULATIONS {
        let (mut a, mut b) = (Moments::default(), Moments::default());
        let (mut naive, mut seq, mut missed, mut last_fixed) = (false, false, false, false);
        for i in 1..=UNITS_PER_ARM {
            a.push([noise.sample(&mut rng), 0.0, 0.0, 0.0]);
            b.push([noise.sample(&mut rng) + effect, 0.0, 0.0, 0.0]);
            if i % LOOK_EVERY != 0 {
                continue;
            }
            let c = compare(&a, &b, shape, &settings, false);
            let e = c.absolute.expect("testable");
            naive |= e.fixed.p_value < 0.05;
            seq |= e.sequential.p_value < 0.05;
            missed |= effect < e.sequential.lower || effect > e.sequential.upper;
            last_fixed = e.fixed.p_value < 0.05;
        }
        out.naive_rejected += usize::from(naive);
        out.sequential_rejected += usize::from(seq);
        out.final_fixed_rejected += usize::from(last_fixed);
        out.sequential_missed_truth += usize::from(missed);
    }
    out
}

#[test]
fn the_sequential_test_keeps_its_error_rate_under_continuous_peeking_and_the_naive_one_does_not() {
    let rate = |k: usize| k as f64 / SIMULATIONS as f64;
    let aa = simulate(0.0, 7);
    let naive = rate(aa.naive_rejected);
    let sequential = rate(aa.sequential_rejected);
    let once = rate(aa.final_fixed_rejected);
    eprintln!(
        "A/A, 40 looks: naive Welch {naive:.3}, sequential {sequential:.3}, Welch read once at the end {once:.3}"
    );
    // Read once, the fixed test is right: 5% ± 3 standard errors of 1,000 simulations.
    assert!((once - 0.05).abs() < 0.021, "{once}");
    // Peeking inflates it several-fold (theory for 40 looks: about 20-25%).
    assert!(naive > 0.15, "{naive}");
    // The confidence sequence's guarantee covers all looks at once.
    assert!(sequential <= 0.05, "{sequential}");

    // With a real effect (0.1 sd), the sequential interval covers it at every look in at
    // least 95% of experiments.
    let real = simulate(0.3, 11);
    let missed = rate(real.sequential_missed_truth);
    eprintln!("effect 0.1 sd: sequential interval ever missed the truth in {missed:.3}");
    assert!(missed <= 0.05, "{missed}");
}
