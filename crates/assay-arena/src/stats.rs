//! From judgements to battles and numbers: how the two orders combine, the judge's
//! position bias and order consistency, grades, and the Bradley-Terry ranking.

use crate::judge::Verdict;
use crate::run::{Combine, Game, Grade, RankedModel};
use assay_rank::battles::{Battles, Winner};
use assay_rank::bt;

/// One row of the battle log.
#[derive(Debug, Clone, PartialEq)]
pub struct Battle {
    pub model_a: String,
    pub model_b: String,
    pub winner: Winner,
    pub prompt_id: String,
    /// `1` or `2` (which order) for count-both, `both` for agree-or-tie.
    pub game: &'static str,
}

/// The games of one comparison (a prompt and an unordered pair), in the order given.
fn comparisons<'a>(games: &[&'a Game]) -> Vec<Vec<&'a Game>> {
    let mut groups: Vec<Vec<&Game>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for g in games {
        let (x, y) = if g.first < g.second {
            (&g.first, &g.second)
        } else {
            (&g.second, &g.first)
        };
        let key = (g.prompt_id.clone(), x.clone(), y.clone());
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(*g);
    }
    groups
}

/// Battles from games. Count-both: every parsed game is a battle. Agree-or-tie
/// (MT-Bench): one battle per comparison whose two orders both parsed; a winner only
/// when both orders name the same winner, otherwise a tie (`tie (bothbad)` when both
/// say both are bad). Unparsed games are left out (Arena-Hard v2 drops the comparison
/// when either order fails, which agree-or-tie does too).
pub fn battles(games: &[&Game], combine: Combine) -> Vec<Battle> {
    let mut out = Vec::new();
    for group in comparisons(games) {
        match combine {
            Combine::CountBoth => {
                for (k, g) in group.iter().enumerate() {
                    if let Some(v) = g.verdict {
                        out.push(Battle {
                            model_a: g.first.clone(),
                            model_b: g.second.clone(),
                            winner: v.winner(),
                            prompt_id: g.prompt_id.clone(),
                            game: if k == 0 { "1" } else { "2" },
                        });
                    }
                }
            }
            Combine::AgreeOrTie => {
                let [g1, g2] = group.as_slice() else { continue };
                let (Some(v1), Some(v2)) = (g1.verdict, g2.verdict) else {
                    continue;
                };
                // Both in g1's orientation (g1.first is A).
                let winner = v1.agree_or_tie(v2.swapped());
                out.push(Battle {
                    model_a: g1.first.clone(),
                    model_b: g1.second.clone(),
                    winner,
                    prompt_id: g1.prompt_id.clone(),
                    game: "both",
                });
            }
        }
    }
    out
}

/// How far the judge can be trusted: does it favour a position, and does it say the
/// same thing when the answers trade places?
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JudgeQuality {
    /// Games with a verdict.
    pub parsed: usize,
    pub first_wins: usize,
    pub second_wins: usize,
    pub ties: usize,
    /// Share of decisive verdicts going to the answer shown first. Every comparison is
    /// judged in both orders, so an unbiased judge sits at 0.5 whatever the answers.
    pub first_position_rate: Option<f64>,
    /// 95% Wilson interval of that share.
    pub first_position_interval: Option<(f64, f64)>,
    /// Comparisons with both orders parsed.
    pub comparisons: usize,
    /// Share of those where both orders give the same outcome (A, B or tie).
    pub order_agreement: Option<f64>,
    /// Cohen's kappa between the two orders' outcomes.
    pub order_kappa: Option<f64>,
}

/// Wilson score interval (Wilson 1927) for k successes in n; none when n = 0.
pub fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    (n > 0).then(|| assay_stats::wilson(k as f64, n))
}

pub fn judge_quality(games: &[&Game]) -> JudgeQuality {
    let verdicts: Vec<Verdict> = games.iter().filter_map(|g| g.verdict).collect();
    let first_wins = verdicts.iter().filter(|v| v.a_wins() == Some(true)).count();
    let second_wins = verdicts
        .iter()
        .filter(|v| v.a_wins() == Some(false))
        .count();
    let decisive = first_wins + second_wins;
    let outcome = |v: Verdict| match v.a_wins() {
        Some(true) => 0u8,
        Some(false) => 1,
        None => 2,
    };
    let pairs: Vec<(u8, u8)> = comparisons(games)
        .iter()
        .filter_map(|group| match group.as_slice() {
            [g1, g2] => Some((outcome(g1.verdict?), outcome(g2.verdict?.swapped()))),
            _ => None,
        })
        .collect();
    JudgeQuality {
        parsed: verdicts.len(),
        first_wins,
        second_wins,
        ties: verdicts.len() - decisive,
        first_position_rate: (decisive > 0).then(|| first_wins as f64 / decisive as f64),
        first_position_interval: wilson(first_wins, decisive),
        comparisons: pairs.len(),
        order_agreement: assay_rank::agreement::percent_agreement(&pairs),
        order_kappa: assay_rank::agreement::cohen_kappa(&pairs),
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GradeSummary {
    pub graded: usize,
    pub unparsed: usize,
    pub mean: Option<f64>,
    /// Standard error of the mean (sample sd, n − 1).
    pub stderr: Option<f64>,
    /// Mean of the probability-weighted grades (log-probability method).
    pub mean_expected: Option<f64>,
}

pub fn grade_summary(grades: &[&Grade]) -> GradeSummary {
    let values: Vec<f64> = grades.iter().filter_map(|g| g.grade).collect();
    let expected: Vec<f64> = grades.iter().filter_map(|g| g.expected).collect();
    let n = values.len() as f64;
    let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / n);
    let stderr = mean.filter(|_| values.len() > 1).map(|m| {
        (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
    });
    GradeSummary {
        graded: values.len(),
        unparsed: grades.len() - values.len(),
        mean,
        stderr,
        mean_expected: (!expected.is_empty())
            .then(|| expected.iter().sum::<f64>() / expected.len() as f64),
    }
}

/// Bradley-Terry ratings of the battles, best first; an error (as text) when they are
/// undefined (no battles, a disconnected comparison graph).
pub fn rank(
    battles: &[Battle],
    interval: bt::IntervalMethod,
) -> Result<(Vec<RankedModel>, String), String> {
    if battles.is_empty() {
        return Err("no battles with a verdict".into());
    }
    let log = Battles::from_triples(battles.iter().enumerate().map(|(i, b)| {
        (
            format!("battle {}", i + 1),
            (b.model_a.as_str(), b.model_b.as_str(), b.winner.as_str()),
        )
    }))
    .map_err(|e| e.to_string())?;
    let ranking = bt::rank(&log, interval, None).map_err(|e| e.to_string())?;
    let records = bt::records(&log);
    let mut models: Vec<RankedModel> = (0..log.models.len())
        .map(|i| RankedModel {
            model: log.models[i].clone(),
            rating: ranking.ratings[i],
            lower: ranking.lower[i],
            upper: ranking.upper[i],
            rank: ranking.ranks[i],
            record: records[i].clone(),
        })
        .collect();
    models.sort_by(|a, b| b.rating.total_cmp(&a.rating));
    Ok((models, ranking.method))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(p: &str, first: &str, second: &str, v: Option<Verdict>) -> Game {
        Game {
            prompt_id: p.into(),
            first: first.into(),
            second: second.into(),
            verdict: v,
            probabilities: None,
            text: None,
        }
    }

    #[test]
    fn combining_orders_and_measuring_the_judge() {
        use Verdict::*;
        let games = [
            // p1: x wins in both orders.
            game("p1", "x", "y", Some(ABetter)),
            game("p1", "y", "x", Some(BMuchBetter)),
            // p2: the judge always picks the first answer: inconsistent.
            game("p2", "x", "y", Some(ABetter)),
            game("p2", "y", "x", Some(ABetter)),
            // p3: both bad, both times.
            game("p3", "x", "y", Some(BothBad)),
            game("p3", "y", "x", Some(BothBad)),
            // p4: one order unparsed.
            game("p4", "x", "y", None),
            game("p4", "y", "x", Some(BBetter)),
        ];
        let refs: Vec<&Game> = games.iter().collect();
        let both = battles(&refs, Combine::CountBoth);
        assert_eq!(both.len(), 7);
        assert_eq!(both[1].winner, Winner::B);
        assert_eq!((both[1].model_a.as_str(), both[1].game), ("y", "2"));
        let strict = battles(&refs, Combine::AgreeOrTie);
        let w: Vec<&str> = strict.iter().map(|b| b.winner.as_str()).collect();
        assert_eq!(w, ["model_a", "tie", "tie (bothbad)"]);
        let q = judge_quality(&refs);
        assert_eq!(
            (q.parsed, q.first_wins, q.second_wins, q.ties),
            (7, 3, 2, 2)
        );
        assert_eq!(q.comparisons, 3);
        assert!((q.order_agreement.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((q.first_position_rate.unwrap() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn wilson_interval_matches_a_published_value() {
        // Newcombe (1998), Table I example: 81 of 263 → 0.2553 to 0.3662.
        let (lo, hi) = wilson(81, 263).unwrap();
        assert!(
            (lo - 0.2553).abs() < 1e-4 && (hi - 0.3662).abs() < 1e-4,
            "{lo} {hi}"
        );
    }

    #[test]
    fn grade_summary_mean_and_stderr() {
        let g = |x: Option<f64>| Grade {
            prompt_id: "p".into(),
            contestant: "c".into(),
            grade: x,
            expected: None,
            text: None,
        };
        let grades = [g(Some(2.0)), g(Some(4.0)), g(Some(9.0)), g(None)];
        let s = grade_summary(&grades.iter().collect::<Vec<_>>());
        assert_eq!((s.graded, s.unparsed), (3, 1));
        assert!((s.mean.unwrap() - 5.0).abs() < 1e-12);
        // sd = sqrt(((−3)² + (−1)² + 4²)/2) = sqrt(13); se = sqrt(13/3)
        assert!((s.stderr.unwrap() - (13.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
