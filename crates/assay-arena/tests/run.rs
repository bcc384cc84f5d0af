//! Side-by-side runs with scripted models (test doubles: contestants whose answers and a
//! judge whose verdicts are known), checking battles, judge statistics and ranking
//! against values worked out by hand, and that an interrupted run resumes without
//! asking for finished work again.

use assay_arena::judge::{self, Verdict};
use assay_arena::prompts::Prompt;
use assay_arena::run::{self, Combine, Contestant, Judge, JudgeMethod, Options};
use assay_core::{
    GenerateRequest, GenerateResponse, LanguageModel, LoglikelihoodRequest, LoglikelihoodResponse,
    ModelError, ModelIdentity, RollingRequest, RollingResponse,
};
use assay_rundir::Quiet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Contestant: answers with `words` words. Judge: prefers the answer with more words
/// (`>>` when twice as long), and with `first_bias` picks A whenever lengths tie.
/// Fails once `budget` requests have been answered (a crash mid-run).
struct Scripted {
    words: usize,
    calls: AtomicUsize,
    budget: usize,
}

impl Scripted {
    fn new(words: usize) -> Self {
        Self {
            words,
            calls: AtomicUsize::new(0),
            budget: usize::MAX,
        }
    }

    fn take(&self, n: usize) -> Result<(), ModelError> {
        let before = self.calls.fetch_add(n, Ordering::SeqCst);
        if before + n > self.budget {
            return Err(ModelError::transient("simulated crash"));
        }
        Ok(())
    }
}

fn answer_words(context: &str, marker: &str) -> usize {
    let after = context.split(marker).nth(1).unwrap_or("");
    let text = after.split("\n\n").next().unwrap_or("");
    text.split_whitespace().count()
}

fn preferred(context: &str) -> Verdict {
    let (a, b) = (
        answer_words(context, "[Answer A]\n"),
        answer_words(context, "[Answer B]\n"),
    );
    if a >= 2 * b {
        Verdict::AMuchBetter
    } else if a > b {
        Verdict::ABetter
    } else if b >= 2 * a {
        Verdict::BMuchBetter
    } else if b > a {
        Verdict::BBetter
    } else {
        Verdict::Tie
    }
}

impl LanguageModel for Scripted {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            name: format!("scripted-{}", self.words),
            backend: "test".into(),
            source: "tests/run.rs".into(),
            sha256: None,
            settings: Default::default(),
        }
    }

    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
        self.take(requests.len())?;
        Ok(requests
            .iter()
            .map(|r| {
                let wanted = format!("{}]]", preferred(&r.context).label());
                LoglikelihoodResponse {
                    logprob: if r.continuation == wanted { -0.1 } else { -3.0 },
                    is_greedy: false,
                    tokens: 3,
                }
            })
            .collect())
    }

    fn loglikelihood_rolling(
        &self,
        _: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError> {
        Err(ModelError::Unsupported("rolling"))
    }

    fn generate(&self, requests: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
        self.take(requests.len())?;
        Ok(requests
            .iter()
            .map(|r| {
                let text = if r.context.contains("[Answer A]") {
                    format!("Both are fine, but [[{}]]", preferred(&r.context).label())
                } else {
                    // Sampled answers differ by seed; greedy ones do not.
                    let word = if r.temperature > 0.0 {
                        format!("w{}", r.seed.unwrap_or(0))
                    } else {
                        "w".into()
                    };
                    // The shortest writer goes long on one prompt, so that the
                    // comparison graph has upsets and ratings exist.
                    let words = if self.words == 3 && r.context.contains("Question 4?") {
                        20
                    } else {
                        self.words
                    };
                    vec![word; words].join(" ")
                };
                GenerateResponse {
                    tokens: text.split_whitespace().count(),
                    text,
                    finish_reason: assay_core::FinishReason::EndOfSequence,
                    reasoning: None,
                }
            })
            .collect())
    }

    fn samples_per_call(&self, _: bool) -> usize {
        3
    }
}

fn prompts(n: usize) -> Vec<Prompt> {
    (0..n)
        .map(|i| Prompt {
            id: format!("p{i}"),
            prompt: format!("Question {i}?"),
            reference: None,
            category: None,
        })
        .collect()
}

fn contestant(name: &str, model: &Arc<Scripted>) -> Contestant {
    Contestant {
        name: name.into(),
        model: model.clone(),
        temperature: 0.0,
        seed: 0,
        max_tokens: 64,
    }
}

fn options(out: &std::path::Path, combine: Combine) -> Options {
    Options {
        out: out.to_owned(),
        pairwise: true,
        grade: false,
        combine,
        rounds: 200,
        seed: 1,
    }
}

#[test]
fn longer_answers_win_and_the_battle_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (short, mid, long) = (
        Arc::new(Scripted::new(3)),
        Arc::new(Scripted::new(5)),
        Arc::new(Scripted::new(12)),
    );
    let contestants = [
        contestant("short", &short),
        contestant("mid", &mid),
        contestant("long", &long),
    ];
    for method in [JudgeMethod::Generate, JudgeMethod::Logprobs] {
        let out = dir.path().join(format!("{method:?}"));
        let judge = Judge {
            model: Arc::new(Scripted::new(1)),
            method,
            max_tokens: 32,
        };
        let r = run::run(
            &prompts(5),
            &contestants,
            Some(&judge),
            &options(&out, Combine::CountBoth),
            &mut Quiet,
        )
        .unwrap();
        let p = r.pairwise.as_ref().unwrap();
        // 5 prompts × 3 pairs × 2 orders, every verdict parsed.
        assert_eq!((p.games, p.unparsed, p.battles), (30, 0, 30));
        // The judge is length-driven, not position-driven: first and second positions
        // win equally often, and both orders always agree.
        assert_eq!((p.judge.first_wins, p.judge.second_wins), (15, 15));
        assert_eq!(p.judge.order_agreement, Some(1.0));
        assert_eq!(p.judge.order_kappa, Some(1.0));
        let ranking = p.ranking.as_ref().unwrap();
        let order: Vec<&str> = ranking.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(order, ["long", "mid", "short"]);
        // `long` won all of its 20 battles but the two against `short` on p4.
        assert_eq!(
            (ranking[0].record.wins, ranking[0].record.battles),
            (18, 20)
        );
        assert_eq!((ranking[2].record.wins, ranking[2].record.battles), (4, 20));
        let csv = std::fs::read_to_string(out.join("battles.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 31);
        assert_eq!(lines[1], "short,mid,model_b,p0,1,3,5,0,0,0,0,0,0");
        assert_eq!(lines[2], "mid,short,model_a,p0,2,5,3,0,0,0,0,0,0");
        // The battle log ranks the same with assay-rank directly.
        let battles = assay_rank::battles::Battles::read(&out.join("battles.csv")).unwrap();
        assert_eq!(battles.rows.len(), 30);
        if method == JudgeMethod::Logprobs {
            let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
            let game: serde_json::Value = serde_json::from_str(
                journal
                    .lines()
                    .find(|l| l.contains("\"kind\":\"game\""))
                    .unwrap(),
            )
            .unwrap();
            let probabilities: Vec<f64> =
                serde_json::from_value(game["probabilities"].clone()).unwrap();
            // Softmax of (−0.1, −3 × 5): the scripted label gets e^2.9/(e^2.9 + 5).
            let top = probabilities.iter().copied().fold(0.0, f64::max);
            let expected = 2.9f64.exp() / (2.9f64.exp() + 5.0);
            assert!((top - expected).abs() < 1e-12, "{top} vs {expected}");
        }
    }
}

#[test]
fn an_interrupted_run_resumes_without_redoing_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let a = Arc::new(Scripted::new(4));
    let b = Arc::new(Scripted::new(9));
    let contestants = [contestant("a", &a), contestant("b", &b)];
    // The judge crashes after 7 of the 12 judgements (calls of 3: two calls pass).
    let crashing = Arc::new(Scripted {
        budget: 7,
        ..Scripted::new(1)
    });
    let judge = Judge {
        model: crashing.clone(),
        method: JudgeMethod::Generate,
        max_tokens: 32,
    };
    let err = run::run(
        &prompts(6),
        &contestants,
        Some(&judge),
        &options(&out, Combine::AgreeOrTie),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("simulated crash"), "{err}");
    assert!(!out.join("results.json").exists() && !out.join("battles.csv").exists());
    // A torn last line, as a crash mid-write leaves.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(out.join("journal.jsonl"))
        .unwrap()
        .write_all(b"{\"kind\":\"game\",\"prompt_id\":\"p5")
        .unwrap();
    let healthy = Arc::new(Scripted::new(1));
    let judge = Judge {
        model: healthy.clone(),
        method: JudgeMethod::Generate,
        max_tokens: 32,
    };
    let answers_before = (
        a.calls.load(Ordering::SeqCst),
        b.calls.load(Ordering::SeqCst),
    );
    let r = run::run(
        &prompts(6),
        &contestants,
        Some(&judge),
        &options(&out, Combine::AgreeOrTie),
        &mut Quiet,
    )
    .unwrap();
    // No answer was asked for again; only the 6 missing judgements were.
    assert_eq!(
        (
            a.calls.load(Ordering::SeqCst),
            b.calls.load(Ordering::SeqCst)
        ),
        answers_before
    );
    assert_eq!(healthy.calls.load(Ordering::SeqCst), 12 - 6);
    assert_eq!(r.resumed, 12 + 6);
    let p = r.pairwise.unwrap();
    assert_eq!((p.games, p.battles), (12, 6));
    // b writes more than twice as many words: it wins every comparison in both orders.
    let ranking = p.ranking.unwrap_err();
    assert!(ranking.contains("do not connect"), "{ranking}");
    let csv = std::fs::read_to_string(out.join("battles.csv")).unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.starts_with("a,b,model_b,"))
            .count(),
        6
    );
    // Another run in the same directory is refused.
    let other = [contestant("a", &a), contestant("c", &b)];
    let err = run::run(
        &prompts(6),
        &other,
        Some(&judge),
        &options(&out, Combine::AgreeOrTie),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("holds a different run"), "{err}");
}

#[test]
fn sampled_contestants_get_one_seed_per_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Scripted::new(2));
    let warm = Contestant {
        temperature: 0.7,
        seed: 100,
        ..contestant("warm", &m)
    };
    let cold = contestant("cold", &m);
    let judge = Judge {
        model: Arc::new(Scripted::new(1)),
        method: JudgeMethod::Generate,
        max_tokens: 8,
    };
    let out = dir.path().join("r");
    run::run(
        &prompts(3),
        &[cold, warm],
        Some(&judge),
        &options(&out, Combine::CountBoth),
        &mut Quiet,
    )
    .unwrap();
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    for (i, seed) in [100, 101, 102].iter().enumerate() {
        assert!(
            journal.contains(&format!(
                "\"contestant\":\"warm\",\"prompt_id\":\"p{i}\",\"text\":\"w{seed} w{seed}\""
            )),
            "{journal}"
        );
    }
    assert!(judge::parse_verdict("[[A=B]]").is_some());
}
