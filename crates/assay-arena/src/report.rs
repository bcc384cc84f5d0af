//! The terminal report of a side-by-side run (Markdown tables).

use crate::run::PairwiseResults;
use std::fmt::Write;

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

pub fn markdown(r: &PairwiseResults) -> String {
    let mut s = String::new();
    let (judge, method) = match &r.spec.judge {
        Some(j) => (
            j.model.name.as_str(),
            match j.method {
                crate::run::JudgeMethod::Generate => "generate",
                crate::run::JudgeMethod::Logprobs => "logprobs",
            },
        ),
        None => ("-", "-"),
    };
    let _ = writeln!(
        s,
        "Side-by-side run: {} prompts, {} contestants; judge {judge} ({method}).\n",
        r.prompts,
        r.contestants.len(),
    );
    let graded = r.contestants.iter().any(|c| c.grade.is_some());
    let _ = writeln!(
        s,
        "| contestant | model | temperature | answers | mean tokens | cut at max_tokens |{}",
        if graded {
            " grade (1-10) | expected grade | graded |"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|{}",
        if graded { "---:|---:|---:|" } else { "" }
    );
    for c in &r.contestants {
        let grade = c.grade.as_ref().map_or(String::new(), |g| {
            format!(
                " {} ± {} | {} | {} of {} |",
                opt(g.mean, 2),
                opt(g.stderr, 2),
                opt(g.mean_expected, 2),
                g.graded,
                g.graded + g.unparsed
            )
        });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} | {} |{grade}",
            c.name, c.model.name, c.temperature, c.answers, c.mean_tokens, c.truncated
        );
    }
    if let Some(p) = &r.pairwise {
        let _ = writeln!(
            s,
            "\nPairwise: {} judgements ({} without a verdict) → {} battles ({}).\n",
            p.games,
            p.unparsed,
            p.battles,
            match p.combine {
                crate::run::Combine::CountBoth => "each order counts",
                crate::run::Combine::AgreeOrTie => "a win only when both orders agree",
            }
        );
        match &p.ranking {
            Ok(models) => {
                let _ = writeln!(
                    s,
                    "| rank | model | rating | 95% interval | W / L / T | win rate |"
                );
                let _ = writeln!(s, "|---:|---|---:|---|---|---:|");
                for m in models {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.1} | [{:.1}, {:.1}] | {} / {} / {} | {:.3} ± {:.3} |",
                        m.rank,
                        m.model,
                        m.rating,
                        m.lower,
                        m.upper,
                        m.record.wins,
                        m.record.losses,
                        m.record.ties,
                        m.record.win_rate,
                        m.record.stderr
                    );
                }
                let _ = writeln!(s, "\nRatings: Bradley-Terry, {}.", p.ranking_method);
            }
            Err(why) => {
                let _ = writeln!(s, "No ranking: {why}");
            }
        }
        let q = &p.judge;
        let _ = write!(s, "Judge: ");
        match (q.first_position_rate, q.first_position_interval) {
            (Some(rate), Some((lo, hi))) => {
                let _ = write!(
                    s,
                    "the answer shown first wins {:.1}% of decisive verdicts [{:.1}%, {:.1}%] (50% = no position bias{})",
                    100.0 * rate,
                    100.0 * lo,
                    100.0 * hi,
                    if lo > 0.5 {
                        "; this judge favours the first answer"
                    } else if hi < 0.5 {
                        "; this judge favours the second answer"
                    } else {
                        ""
                    }
                );
            }
            _ => {
                let _ = write!(s, "no decisive verdicts");
            }
        }
        let _ = writeln!(
            s,
            "; the two orders agree on {} of {} comparisons (Cohen's kappa {}).",
            q.order_agreement
                .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a)),
            q.comparisons,
            opt(q.order_kappa, 3)
        );
    }
    if r.resumed > 0 {
        let _ = writeln!(
            s,
            "\n{} answers and judgements were already done and reused.",
            r.resumed
        );
    }
    s
}
