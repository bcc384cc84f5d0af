//! Bradley–Terry ratings against a reference computed another way: the MM (Zermelo /
//! Hunter 2004) fixed-point iteration on the win matrix, run to convergence, on
//! synthetic battles with known strengths; bootstrap reproducibility; sandwich and
//! bootstrap intervals agreeing.

use assay_rank::battles::Battles;
use assay_rank::bt::{self, IntervalMethod};
use rand::{Rng, SeedableRng};

/// Battles among `k` models of known strength, with ties.
fn synthetic(k: usize, n: usize, seed: u64) -> Battles {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let strength: Vec<f64> = (0..k).map(|i| i as f64 * 0.3).collect();
    let names: Vec<String> = (0..k).map(|i| format!("model-{i:02}")).collect();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let a = rng.gen_range(0..k);
        let mut b = rng.gen_range(0..k - 1);
        if b >= a {
            b += 1;
        }
        let p = 1.0 / (1.0 + (strength[b] - strength[a]).exp());
        let u: f64 = rng.r#gen();
        let w = if u < 0.1 {
            "tie"
        } else if u < 0.1 + 0.9 * p {
            "model_a"
        } else {
            "model_b"
        };
        rows.push((format!("row {i}"), (names[a].clone(), names[b].clone(), w)));
    }
    Battles::from_triples(
        rows.iter()
            .map(|(l, (a, b, w))| (l.clone(), (a.as_str(), b.as_str(), *w))),
    )
    .unwrap()
}

/// Hunter's MM iteration: s_i ← W_i / Σ_j n_ij / (s_i + s_j), where W_i counts wins
/// plus half the ties and n_ij the battles between i and j.
fn mm_reference(b: &Battles) -> Vec<f64> {
    let k = b.models.len();
    let mut wins = vec![0.0; k];
    let mut games = vec![vec![0.0; k]; k];
    for &(a, bb, w) in &b.rows {
        wins[a] += w.score_a();
        wins[bb] += 1.0 - w.score_a();
        games[a][bb] += 1.0;
        games[bb][a] += 1.0;
    }
    let mut s = vec![1.0; k];
    for _ in 0..200_000 {
        let mut next = vec![0.0; k];
        for i in 0..k {
            let denom: f64 = (0..k)
                .filter(|&j| j != i)
                .map(|j| games[i][j] / (s[i] + s[j]))
                .sum();
            next[i] = wins[i] / denom;
        }
        let g = next.iter().map(|x: &f64| x.ln()).sum::<f64>() / k as f64;
        let next: Vec<f64> = next.iter().map(|x| x / g.exp()).collect();
        let change = next
            .iter()
            .zip(&s)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        s = next;
        if change < 1e-14 {
            break;
        }
    }
    // θ = ln s, centred; as Elo-scale ratings.
    s.iter().map(|x| 1000.0 + bt::SCALE * x.ln()).collect()
}

#[test]
fn newton_fit_equals_the_mm_iteration() {
    for (k, n, seed) in [(2, 50, 1), (5, 2_000, 2), (12, 20_000, 3)] {
        let b = synthetic(k, n, seed);
        let rows = bt::aggregate(&b);
        bt::check_connected(&b, &rows).unwrap();
        let ours = bt::to_elo(&bt::fit(&rows, b.models.len()), None);
        let reference = mm_reference(&b);
        for (i, (x, y)) in ours.iter().zip(&reference).enumerate() {
            assert!((x - y).abs() < 1e-6, "k={k} model {i}: {x} vs MM {y}");
        }
    }
}

#[test]
fn anchoring_shifts_every_rating_and_pins_the_anchor() {
    let b = synthetic(6, 3_000, 4);
    let free = bt::rank(
        &b,
        IntervalMethod::Bootstrap {
            rounds: 50,
            seed: 7,
        },
        None,
    )
    .unwrap();
    let pinned = bt::rank(
        &b,
        IntervalMethod::Bootstrap {
            rounds: 50,
            seed: 7,
        },
        Some((2, 1114.0)),
    )
    .unwrap();
    let shift = pinned.ratings[2] - free.ratings[2];
    assert!((pinned.ratings[2] - 1114.0).abs() < 1e-9);
    for i in 0..6 {
        assert!((pinned.ratings[i] - free.ratings[i] - shift).abs() < 1e-9);
    }
    assert!(
        (pinned.upper[2] - pinned.lower[2]).abs() < 1e-9,
        "the anchor has no width"
    );
}

#[test]
fn bootstrap_is_reproducible_and_agrees_with_the_sandwich() {
    let b = synthetic(8, 20_000, 5);
    let boot = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                bt::rank(
                    &b,
                    IntervalMethod::Bootstrap {
                        rounds: 400,
                        seed: 11,
                    },
                    None,
                )
                .unwrap()
            })
    };
    let one = boot(1);
    let two = boot(2);
    assert_eq!(
        one, two,
        "the same seed gives the same intervals on any thread count"
    );
    let sandwich = bt::rank(&b, IntervalMethod::Sandwich, None).unwrap();
    for i in 0..8 {
        let wb = one.upper[i] - one.lower[i];
        let ws = sandwich.upper[i] - sandwich.lower[i];
        assert!(
            (wb / ws - 1.0).abs() < 0.15,
            "model {i}: bootstrap width {wb} vs sandwich {ws}"
        );
        assert!(one.lower[i] < one.ratings[i] && one.ratings[i] < one.upper[i]);
    }
    // Strengths rise with the model's number by 0.3 nats: ratings follow.
    let mut by_name: Vec<(&String, f64, usize)> = one
        .models
        .iter()
        .zip(&one.ratings)
        .zip(&one.ranks)
        .map(|((m, r), k)| (m, *r, *k))
        .collect();
    by_name.sort_by(|a, b| a.0.cmp(b.0));
    assert!(by_name.windows(2).all(|w| w[0].1 < w[1].1), "{by_name:?}");
    assert_eq!(by_name[7].2, 1, "the strongest ranks first");
}

/// The fixture's reference values come from LMArena's `arena-rank` (sandwich intervals)
/// and FastChat's scikit-learn logistic regression, run once by
/// `scripts/fixtures/bt_reference.py`.
#[test]
fn ratings_and_sandwich_intervals_equal_arena_rank() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let b = Battles::read(&dir.join("battles.csv")).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let ours = bt::rank(&b, IntervalMethod::Sandwich, None).unwrap();
    for (i, m) in ours.models.iter().enumerate() {
        let arena = &reference["arena_rank_sandwich"][m];
        let sklearn = reference["fastchat_sklearn"][m].as_f64().unwrap();
        let r = arena["rating"].as_f64().unwrap();
        assert!(
            (ours.ratings[i] - r).abs() < 1e-6,
            "{m}: {} vs arena-rank {r}",
            ours.ratings[i]
        );
        assert!(
            (ours.ratings[i] - sklearn).abs() < 1e-5,
            "{m}: {} vs sklearn {sklearn}",
            ours.ratings[i]
        );
        // arena-rank adds 1e-5 × battles to the Hessian's diagonal; the pseudo-inverse
        // used here does not, which moves the bounds by well under a hundredth.
        for (ours_bound, key) in [(ours.lower[i], "lower"), (ours.upper[i], "upper")] {
            let theirs = arena[key].as_f64().unwrap();
            assert!(
                (ours_bound - theirs).abs() < 1e-2,
                "{m} {key}: {ours_bound} vs {theirs}"
            );
        }
    }
}

/// Style control against LMArena's arena-rank `ContextualBradleyTerry` (fixture made by
/// `scripts/fixtures/style_reference.py`, run with tight tolerances), unpenalised and
/// with arena-rank's default penalty 1.0.
#[test]
fn style_control_matches_arena_rank() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = dir.join("style_battles.csv");
    let names = vec!["length".to_string(), "bold".to_string()];
    let (battles, controls) = Battles::read_with_controls(&file, &names).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("style_reference.json")).unwrap())
            .unwrap();
    // Penalised, arena-rank's L-BFGS stops about 1e-8 logits short of the optimum our
    // Newton solve reaches, so ratings agree to 1e-5.
    for (reg, key, tolerance) in [(0.0, "0.0", 1e-6), (1.0, "1.0", 1e-5)] {
        let fit = assay_rank::style::fit(&battles, &controls, reg, None).unwrap();
        let r = &reference[key];
        for (i, model) in battles.models.iter().enumerate() {
            let m = &r["models"][model];
            let close = |ours: f64, theirs: &serde_json::Value, tol: f64, what: &str| {
                let theirs = theirs.as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() < tol,
                    "reg {reg}, {model} {what}: {ours} vs arena-rank {theirs}"
                );
            };
            close(fit.ratings[i], &m["rating"], tolerance, "rating");
            if reg == 0.0 {
                close(fit.lower[i], &m["lower"], 0.01, "lower");
                close(fit.upper[i], &m["upper"], 0.01, "upper");
            }
            // With a penalty, against the penalised sandwich computed by numpy from
            // arena-rank's fitted parameters (arena-rank's own omits the penalty from H).
            let p = &r["penalised_sandwich"][model];
            close(fit.lower[i], &p[0], 1e-4, "lower (penalised sandwich)");
            close(fit.upper[i], &p[1], 1e-4, "upper (penalised sandwich)");
        }
        for (j, c) in fit.coefficients.iter().enumerate() {
            let theirs = r["coefficients"][j].as_f64().unwrap();
            assert!(
                (c.value - theirs).abs() < tolerance / 100.0,
                "reg {reg}, {}: {} vs {theirs}",
                c.name,
                c.value
            );
        }
    }
}
