//! Post-stratification and CUPED on ratio metrics from per-unit rows:
//! - the statistics folded from rows (CSV, one pass with the strata as keys) give the
//!   effect that per-stratum statistics built another way (each unit pushed by hand into
//!   its stratum's arm) give through `poststrat::effect`, and that a warehouse's
//!   per-stratum sums (GrowthBook's column names) give through `--stats`;
//! - by simulation, the post-stratified and ratio-CUPED intervals cover the true effect
//!   at their nominal rate, and post-stratification narrows the interval when strata
//!   differ (what it is for).

use assay_ab::aggregate::{Aggregated, MetricSpec, Missing, aggregate_strata, read_stats_strata};
use assay_ab::effect::{Settings, Shape, compare, compare_stratified};
use assay_ab::moments::{Moments, PAIRS};
use assay_ab::poststrat;
use assay_ab::source::Source;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

fn spec(
    name: &str,
    column: &str,
    den: Option<&str>,
    cov: Option<(&str, Option<&str>)>,
) -> MetricSpec {
    MetricSpec {
        denominator: den.map(Into::into),
        covariate: cov.map(|c| c.0.into()),
        covariate_denominator: cov.and_then(|c| c.1).map(Into::into),
        ..MetricSpec::new(name, column)
    }
}

/// One unit: stratum, arm, and (revenue, sessions, pre_revenue, pre_sessions).
type Unit = (usize, usize, [f64; 4]);

fn units(seed: u64, n: usize, lift: f64) -> Vec<Unit> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 1.0).unwrap();
    (0..n)
        .map(|_| {
            // Strata of unequal size and very different levels.
            let s = match rng.gen_range(0..10) {
                0..=4 => 0,
                5..=7 => 1,
                _ => 2,
            };
            let arm = rng.gen_range(0..2);
            let level = [2.0, 6.0, 15.0][s];
            let pre_sessions = 1.0 + f64::from(rng.gen_range(0..5u8));
            let sessions = (pre_sessions + f64::from(rng.gen_range(0..3u8))).max(1.0);
            let pre_revenue = pre_sessions * (level + noise.sample(&mut rng));
            let revenue = sessions * (level * (1.0 + lift * arm as f64) + noise.sample(&mut rng))
                + 0.5 * pre_revenue;
            (s, arm, [revenue, sessions, pre_revenue, pre_sessions])
        })
        .collect()
}

const STRATA: [&str; 3] = ["web", "ios", "android"];
const ARMS: [&str; 2] = ["control", "treatment"];

#[test]
fn rows_sums_and_hand_built_strata_give_the_same_post_stratified_effects() {
    let data = units(11, 3000, 0.05);
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("variant,platform,revenue,sessions,pre_revenue,pre_sessions\n");
    for (s, a, v) in &data {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            ARMS[*a], STRATA[*s], v[0], v[1], v[2], v[3]
        ));
    }
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, csv).unwrap();
    let specs = [
        spec("revenue", "revenue", None, None),
        spec(
            "revenue_cuped",
            "revenue",
            None,
            Some(("pre_revenue", None)),
        ),
        spec("per_session", "revenue", Some("sessions"), None),
        spec(
            "per_session_cuped",
            "revenue",
            Some("sessions"),
            Some(("pre_revenue", Some("pre_sessions"))),
        ),
    ];
    let folded = aggregate_strata(
        &Source::File(rows),
        "variant",
        "platform",
        None,
        &specs,
        Missing::Error,
        1,
    )
    .unwrap();
    let strata = folded.strata.as_ref().unwrap();
    assert_eq!(strata.names.len(), 3);
    let (control, treatment) = (
        folded.arms.iter().position(|a| a == "control").unwrap(),
        folded.arms.iter().position(|a| a == "treatment").unwrap(),
    );

    // The same units pushed by hand: [stratum][arm], with the values each metric reads.
    let by_hand = |slots: [Option<usize>; 4]| {
        let mut cells = vec![[Moments::default(); 2]; 3];
        for (s, a, v) in &data {
            cells[*s][*a].push(slots.map(|k| k.map_or(0.0, |k| v[k])));
        }
        cells
    };
    let slots = [
        [Some(0), None, None, None],
        [Some(0), None, Some(2), None],
        [Some(0), Some(1), None, None],
        [Some(0), Some(1), Some(2), Some(3)],
    ];

    // A warehouse's per-stratum sums of the ratio-CUPED metric, GrowthBook's names.
    let mut sums = String::from(
        "variant,platform,metric,units,main_sum,main_sum_squares,denominator_sum,\
         denominator_sum_squares,covariate_sum,covariate_sum_squares,denominator_pre_sum,\
         denominator_pre_sum_squares,main_denominator_sum_product,main_covariate_sum_product,\
         main_post_denominator_pre_sum_product,main_pre_denominator_post_sum_product,\
         denominator_post_denominator_pre_sum_product,main_pre_denominator_pre_sum_product\n",
    );
    let hand = by_hand(slots[3]);
    for (s, cells) in hand.iter().enumerate() {
        for (a, m) in cells.iter().enumerate() {
            let mut line = format!("{},{},per_session_cuped,{}", ARMS[a], STRATA[s], m.n);
            for i in 0..4 {
                line.push_str(&format!(",{},{}", m.sum(i), m.sum_squares(i)));
            }
            for (i, j) in PAIRS {
                line.push_str(&format!(",{}", m.sum_products(i, j)));
            }
            sums.push_str(&line);
            sums.push('\n');
        }
    }
    let sums_path = dir.path().join("sums.csv");
    std::fs::write(&sums_path, sums).unwrap();
    let from_sums: Aggregated = read_stats_strata(&sums_path, "variant", "platform").unwrap();

    let settings = Settings::default();
    for (m, md) in folded.metrics.iter().enumerate() {
        let hand = by_hand(slots[m]);
        let order: Vec<usize> = strata
            .names
            .iter()
            .map(|n| STRATA.iter().position(|s| s == n).unwrap())
            .collect();
        let cells: Vec<(Moments, Moments)> =
            order.iter().map(|&s| (hand[s][0], hand[s][1])).collect();
        let folded_cells = strata.pairs(m, control, treatment);
        for relative in [false, true] {
            let want = poststrat::effect(&cells, md.shape, relative).unwrap();
            let got = poststrat::effect(&folded_cells, md.shape, relative).unwrap();
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1e-6);
            assert!(
                close(got.estimate, want.estimate) && close(got.variance, want.variance),
                "{} relative={relative}: {got:?} vs {want:?}",
                md.spec.name
            );
        }
        let pooled = compare(
            &md.arms[control],
            &md.arms[treatment],
            md.shape,
            &settings,
            false,
        );
        let stratified = compare_stratified(
            &md.arms[control],
            &md.arms[treatment],
            Some(&folded_cells),
            md.shape,
            &settings,
            false,
        );
        assert_eq!(stratified.post_stratified, Some(true), "{}", md.spec.name);
        // Strata with levels 2, 6 and 15 explain most of the variance: stratifying
        // narrows the interval of the plain metrics a great deal.
        let (p, s) = (pooled.relative.unwrap(), stratified.relative.unwrap());
        println!(
            "{}: pooled se {:.5}, post-stratified se {:.5}",
            md.spec.name, p.std_error, s.std_error
        );
        assert!(s.std_error < p.std_error, "{}", md.spec.name);
        if md.spec.name == "per_session_cuped" {
            let sm = &from_sums.metrics[0];
            let c = compare_stratified(
                &sm.arms[from_sums.arms.iter().position(|a| a == "control").unwrap()],
                &sm.arms[from_sums
                    .arms
                    .iter()
                    .position(|a| a == "treatment")
                    .unwrap()],
                Some(
                    &from_sums.strata.as_ref().unwrap().pairs(
                        0,
                        from_sums.arms.iter().position(|a| a == "control").unwrap(),
                        from_sums
                            .arms
                            .iter()
                            .position(|a| a == "treatment")
                            .unwrap(),
                    ),
                ),
                sm.shape,
                &settings,
                false,
            );
            let r = c.relative.unwrap();
            assert!((r.estimate - s.estimate).abs() < 1e-9, "sums vs rows");
            assert!((r.std_error - s.std_error).abs() < 1e-9 * s.std_error);
        }
    }
}

/// Coverage of the 95% fixed-horizon interval of the relative lift over repeated
/// experiments with a known lift: post-stratified (plain and ratio CUPED) and pooled ratio
/// CUPED. 400 experiments of 3,000 units; the binomial sd of a 95% rate is 1.1 points,
/// so [0.92, 0.98] is about three of them.
#[test]
fn post_stratified_and_ratio_cuped_intervals_cover_at_their_nominal_rate() {
    let lift = 0.05;
    let shapes: [(&str, [Option<usize>; 4], Shape); 2] = [
        (
            "revenue",
            [Some(0), None, None, None],
            Shape {
                main: assay_ab::effect::Kind::Mean,
                denominator: None,
                covariate: None,
                covariate_denominator: None,
            },
        ),
        (
            "per_session_cuped",
            [Some(0), Some(1), Some(2), Some(3)],
            Shape {
                main: assay_ab::effect::Kind::Mean,
                denominator: Some(assay_ab::effect::Kind::Mean),
                covariate: Some(assay_ab::effect::Kind::Mean),
                covariate_denominator: Some(assay_ab::effect::Kind::Mean),
            },
        ),
    ];
    // The true relative lifts: revenue's mean and the ratio's both grow by `lift` times
    // the share of the level in them; computed from a very large sample of each arm.
    let truth = |slots: [Option<usize>; 4], shape: Shape| {
        let big = units(999, 2_000_000, lift);
        let mut arms = [Moments::default(); 2];
        for (_, a, v) in &big {
            arms[*a].push(slots.map(|k| k.map_or(0.0, |k| v[k])));
        }
        let unadjusted = |m: &Moments| match shape.denominator {
            Some(_) => m.mean[0] / m.mean[1],
            None => m.mean[0],
        };
        unadjusted(&arms[1]) / unadjusted(&arms[0]) - 1.0
    };
    let settings = Settings::default();
    for (name, slots, shape) in shapes {
        let want = truth(slots, shape);
        let (mut covered_strat, mut covered_pooled, runs) = (0, 0, 400);
        for run in 0..runs {
            let data = units(run, 3000, lift);
            let mut cells = vec![(Moments::default(), Moments::default()); 3];
            for (s, a, v) in &data {
                let m = if *a == 0 {
                    &mut cells[*s].0
                } else {
                    &mut cells[*s].1
                };
                m.push(slots.map(|k| k.map_or(0.0, |k| v[k])));
            }
            let (ca, cb) = cells.iter().fold(
                (Moments::default(), Moments::default()),
                |(a, b), (x, y)| (a.merge(x), b.merge(y)),
            );
            let strat = compare_stratified(&ca, &cb, Some(&cells), shape, &settings, false);
            let pooled = compare(&ca, &cb, shape, &settings, false);
            let inside = |c: &assay_ab::effect::Comparison| {
                let e = c.relative.unwrap();
                e.fixed.lower <= want && want <= e.fixed.upper
            };
            covered_strat += usize::from(inside(&strat));
            covered_pooled += usize::from(inside(&pooled));
        }
        let rate = |k: usize| k as f64 / runs as f64;
        println!(
            "{name}: true lift {want:.4}; coverage post-stratified {:.3}, pooled {:.3}",
            rate(covered_strat),
            rate(covered_pooled)
        );
        for r in [rate(covered_strat), rate(covered_pooled)] {
            assert!((0.92..=0.98).contains(&r), "{name}: coverage {r}");
        }
    }
}
