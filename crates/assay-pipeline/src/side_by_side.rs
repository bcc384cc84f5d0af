//! `kind = "side_by_side"`: the candidates that reached it and the baseline answer one
//! prompt set; a judge model compares every pair in both orders, or people vote on the
//! annotation page. Each candidate's win rate against the baseline (ties count half,
//! its interval clustered by prompt since both orders of a prompt are not independent)
//! and Bradley-Terry ratings with intervals come out.
//!
//! ```toml
//! [[stage]]
//! kind = "side_by_side"
//! name = "preference"
//! prompts = "prompts.jsonl"     # `prompt`, optional `id`, `reference`, `category`
//! judge = "default"             # a model, or "people" (votes from `assay annotate`)
//! judge_method = "auto"         # auto | logprobs | generate
//! combine = "count-both"        # count-both | agree-or-tie (how the two orders count)
//! max_tokens = 256              # longest answer (a candidate's `max_tokens` wins)
//! min_win_rate = 0.4            # lower 95% bound of the win rate against the baseline
//! min_votes = 20                # people: votes per candidate against the baseline
//! top_k = 1
//! ```
//!
//! With `judge = "people"` the stage writes the answers, then waits: the pipeline stops
//! with exit status 3 and says how to open the page; run it again once votes are in.

use crate::Error;
use crate::stage::{
    CandidateResult, Check, CheckOutcome, Order, Score, Setup, Stage, StageContext, StageOutcome,
    StageStatus, Verdict, keep_top,
};
use assay_arena::prompts::Prompt;
use assay_arena::run::{Combine, Contestant, Judge, JudgeMethod, Options};
use assay_arena::stats::Battle;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

/// The judge value that asks people instead of a model.
pub const PEOPLE: &str = "people";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Method {
    Auto,
    Logprobs,
    Generate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideBySide {
    #[serde(skip_serializing)]
    kind: String,
    name: String,
    prompts: std::path::PathBuf,
    judge: String,
    #[serde(default = "auto")]
    judge_method: Method,
    #[serde(default = "count_both")]
    combine: Combine,
    #[serde(default = "default_max_tokens")]
    max_tokens: usize,
    #[serde(default = "default_judge_max_tokens")]
    judge_max_tokens: usize,
    #[serde(default = "default_rounds")]
    rounds: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_win_rate: Option<f64>,
    #[serde(default = "default_min_votes")]
    min_votes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    #[serde(skip)]
    ready: Option<Vec<Prompt>>,
}

fn auto() -> Method {
    Method::Auto
}
fn count_both() -> Combine {
    Combine::CountBoth
}
fn default_max_tokens() -> usize {
    256
}
fn default_judge_max_tokens() -> usize {
    512
}
fn default_rounds() -> usize {
    1000
}
fn default_min_votes() -> usize {
    20
}

pub(crate) fn build(item: Spanned<DeValue<'_>>) -> Result<Box<dyn Stage>, toml::de::Error> {
    Ok(Box::new(SideBySide::deserialize(ValueDeserializer::from(
        item,
    ))?))
}

impl SideBySide {
    fn people(&self) -> bool {
        self.judge == PEOPLE
    }
}

impl Stage for SideBySide {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        debug_assert_eq!(self.kind, "side_by_side");
        "side_by_side"
    }

    fn settings(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("settings serialize");
        // The prompts themselves decide the numbers, not the file's name.
        if let (Some(prompts), Some(map)) = (&self.ready, v.as_object_mut()) {
            let text = serde_json::to_vec(prompts).expect("prompts serialize");
            map.insert(
                "prompts_sha256".into(),
                assay_rundir::sha256_hex(&text).into(),
            );
        }
        v
    }

    fn check(&mut self, setup: &Setup<'_>) -> Result<(), Error> {
        let fail = |m: String| Error::stage(&self.name, m);
        if self.max_tokens == 0 || self.judge_max_tokens == 0 {
            return Err(fail(
                "max_tokens and judge_max_tokens must be at least 1".into(),
            ));
        }
        if !(2..=assay_rank::bt::MAX_BOOTSTRAP_ROUNDS).contains(&self.rounds) {
            return Err(fail(format!(
                "rounds must be between 2 and {}",
                assay_rank::bt::MAX_BOOTSTRAP_ROUNDS
            )));
        }
        if let Some(w) = self.min_win_rate
            && !(0.0..=1.0).contains(&w)
        {
            return Err(fail(format!("min_win_rate {w} is outside 0 to 1")));
        }
        if self.top_k == Some(0) {
            return Err(fail("top_k must be at least 1".into()));
        }
        if self.people() {
            if self.min_votes == 0 {
                return Err(fail("min_votes must be at least 1".into()));
            }
        } else {
            setup
                .models
                .check(&self.judge)
                .map_err(|m| fail(format!("judge: {m}")))?;
        }
        let path = crate::stage::resolve(setup.dir, &self.prompts);
        let prompts = assay_arena::prompts::read(&path).map_err(|e| fail(e.to_string()))?;
        if prompts.is_empty() {
            return Err(fail(format!("`{}` holds no prompts", path.display())));
        }
        self.ready = Some(prompts);
        Ok(())
    }

    fn inputs(&self, dir: &std::path::Path) -> Result<Option<serde_json::Value>, Error> {
        if !self.people() {
            return Ok(Some(serde_json::Value::Null));
        }
        // More votes may come in after a decision: it is taken again with them.
        let votes = votes(&dir.join("arena")).map_err(|e| Error::work(&self.name, e))?;
        let mut text = Vec::new();
        for v in &votes {
            text.extend_from_slice(
                format!("{}\t{}\t{}\n", v.annotator, v.item, v.choice.as_str()).as_bytes(),
            );
        }
        Ok(Some(assay_rundir::sha256_hex(&text).into()))
    }

    fn run(&self, ctx: &mut StageContext<'_>) -> Result<StageOutcome, Error> {
        let stage = self.name.as_str();
        let prompts = self.ready.as_ref().expect("checked before running");
        let baseline = ctx.baseline.clone();
        let mut contestants = Vec::new();
        for c in std::iter::once(&baseline).chain(ctx.entrants.iter().copied()) {
            let model = c
                .load(ctx.models)
                .map_err(|e| Error::work(stage, format!("candidate `{}`: {e}", c.name)))?;
            contestants.push(Contestant {
                name: c.name.clone(),
                model: Arc::new(model),
                temperature: c.temperature.unwrap_or(0.0),
                seed: c.seed,
                max_tokens: c.max_tokens.unwrap_or(self.max_tokens),
            });
        }
        let judge = if self.people() {
            None
        } else {
            let model = ctx
                .models
                .load(&self.judge, None)
                .map_err(|e| Error::work(stage, format!("judge `{}`: {e}", self.judge)))?;
            let method = match self.judge_method {
                Method::Logprobs => JudgeMethod::Logprobs,
                Method::Generate => JudgeMethod::Generate,
                Method::Auto if model.supports_loglikelihood() => JudgeMethod::Logprobs,
                Method::Auto => JudgeMethod::Generate,
            };
            Some(Judge {
                model,
                method,
                max_tokens: self.judge_max_tokens,
            })
        };
        let arena_dir = ctx.dir.join("arena");
        let options = Options {
            out: arena_dir.clone(),
            pairwise: judge.is_some(),
            grade: false,
            combine: self.combine,
            rounds: self.rounds,
            seed: self.seed,
        };
        (ctx.say)(&format!(
            "stage `{stage}`: answers of {} contestants to {} prompts{}",
            contestants.len(),
            prompts.len(),
            if judge.is_some() {
                ", judged in both orders"
            } else {
                ""
            }
        ));
        let arena = assay_arena::run::run(
            prompts,
            &contestants,
            judge.as_ref(),
            &options,
            ctx.progress,
        )
        .map_err(|e| Error::work(stage, e))?;

        let (battles, source) = if self.people() {
            let votes = votes(&arena_dir).map_err(|e| Error::work(stage, e))?;
            let battles: Vec<Battle> = votes
                .iter()
                .map(|v| Battle {
                    model_a: v.left.clone(),
                    model_b: v.right.clone(),
                    winner: v.choice.winner(),
                    prompt_id: v.prompt_id.clone(),
                    game: "vote",
                })
                .collect();
            let short: Vec<String> = ctx
                .entrants
                .iter()
                .filter_map(|c| {
                    let n = against(&battles, &c.name, &baseline.name).len();
                    (n < self.min_votes).then(|| format!("`{}` has {n}", c.name))
                })
                .collect();
            if !short.is_empty() {
                let until = format!(
                    "votes: each candidate needs {} against the baseline `{}` ({}); open the page with `assay annotate {} --annotator NAME`, then run the pipeline again",
                    self.min_votes,
                    baseline.name,
                    short.join(", "),
                    arena_dir.display()
                );
                return Ok(StageOutcome {
                    status: StageStatus::Waiting { until },
                    candidates: Vec::new(),
                    order: None,
                    details: serde_json::json!({"arena": arena_dir.display().to_string(), "votes": votes.len()}),
                    notes: Vec::new(),
                });
            }
            (battles, format!("{} votes by people", votes.len()))
        } else {
            let saved = assay_arena::run::load(&arena_dir).map_err(|e| Error::work(stage, e))?;
            let games: Vec<&assay_arena::run::Game> = saved.games.iter().collect();
            (
                assay_arena::stats::battles(&games, self.combine),
                format!("judge `{}`", self.judge),
            )
        };

        let mut scores = vec![Score {
            candidate: baseline.name.clone(),
            value: 0.5,
            stderr: Some(0.0),
            shown: "0.5 (itself)".into(),
        }];
        let mut results = Vec::new();
        let mut win_rates = serde_json::Map::new();
        let gate_name = self
            .min_win_rate
            .map(|w| format!("win rate against `{}` >= {w}", baseline.name));
        for c in &ctx.entrants {
            let games = against(&battles, &c.name, &baseline.name);
            let (values, clusters): (Vec<f64>, Vec<&str>) = games.iter().copied().unzip();
            let estimate = assay_stats::clustered_mean(&values, &clusters);
            let mut result = CandidateResult {
                candidate: c.name.clone(),
                verdict: Verdict::Advance,
                reasons: Vec::new(),
                checks: Vec::new(),
            };
            match &estimate {
                Ok(e) => {
                    let shown = format!(
                        "{:.3} [{:.3}, {:.3}] over {} battles",
                        e.value,
                        e.ci_low,
                        e.ci_high,
                        values.len()
                    );
                    scores.push(Score {
                        candidate: c.name.clone(),
                        value: e.value,
                        stderr: Some(e.stderr),
                        shown: shown.clone(),
                    });
                    if let (Some(min), Some(name)) = (self.min_win_rate, &gate_name) {
                        let pass = e.ci_low >= min;
                        result.checks.push(Check {
                            name: name.clone(),
                            outcome: if pass {
                                CheckOutcome::Pass
                            } else {
                                CheckOutcome::Fail
                            },
                            detail: format!("lower 95% bound {:.3} ({shown})", e.ci_low),
                        });
                        if !pass {
                            result.verdict = Verdict::Stop;
                            result.reasons.push(format!(
                                "win rate against `{}` {shown}: its lower 95% bound {:.3} is below {min}",
                                baseline.name, e.ci_low
                            ));
                        }
                    }
                }
                Err(why) => {
                    let detail = format!(
                        "win rate against `{}` is undefined: {why} ({} battles)",
                        baseline.name,
                        values.len()
                    );
                    if let Some(name) = &gate_name {
                        result.checks.push(Check {
                            name: name.clone(),
                            outcome: CheckOutcome::Undefined,
                            detail: detail.clone(),
                        });
                        result.verdict = Verdict::Inconclusive;
                        result.reasons.push(detail);
                    }
                }
            }
            win_rates.insert(
                c.name.clone(),
                match estimate {
                    Ok(e) => serde_json::to_value(e).expect("estimate serializes"),
                    Err(e) => serde_json::json!({"undefined": e.to_string()}),
                },
            );
            results.push(result);
        }
        let order = Order {
            by: format!("win rate against `{}`", baseline.name),
            scores,
        };
        keep_top(&mut results, &order, self.top_k);
        // Bradley-Terry ratings of every contestant, from the same battles whoever gave
        // them (the judge's run computed its own from these battles already).
        let ratings = match (&arena.pairwise, self.people()) {
            (Some(p), false) => match &p.ranking {
                Ok(models) => serde_json::json!({"method": p.ranking_method, "models": models}),
                Err(e) => serde_json::json!({"undefined": e}),
            },
            _ => {
                let interval = assay_rank::bt::IntervalMethod::Bootstrap {
                    rounds: self.rounds,
                    seed: self.seed,
                };
                match assay_arena::stats::rank(&battles, interval) {
                    Ok((models, method)) => serde_json::json!({"method": method, "models": models}),
                    Err(e) => serde_json::json!({"undefined": e}),
                }
            }
        };
        let judge_quality = arena
            .pairwise
            .as_ref()
            .map(|p| serde_json::to_value(&p.judge).expect("judge quality serializes"));
        let mut notes = Vec::new();
        if let Some(p) = &arena.pairwise
            && let Some((lo, hi)) = p.judge.first_position_interval
            && (lo > 0.5 || hi < 0.5)
        {
            let rate = p.judge.first_position_rate.unwrap_or(0.5);
            let side = if lo > 0.5 { "first" } else { "second" };
            // Every decisive verdict by position: each comparison's two orders cancel,
            // so the win rates say nothing about the answers.
            let consequence = if rate == 0.0 || rate == 1.0 {
                "every decisive verdict followed the position, so its comparisons carry no information about the answers (win rates sit at 0.5 by construction); use a stronger judge, or people"
            } else {
                "both orders are judged, so this costs precision, not fairness"
            };
            notes.push(format!(
                "the judge favours the answer shown {side}: it picked it in {:.0}% of decisive verdicts (95% interval {:.0}% to {:.0}%); {consequence}",
                100.0 * rate,
                100.0 * lo,
                100.0 * hi
            ));
        }
        Ok(StageOutcome {
            status: StageStatus::Finished,
            candidates: results,
            order: Some(order),
            details: serde_json::json!({
                "arena": arena_dir.display().to_string(),
                "source": source,
                "battles": battles.len(),
                "win_rate_against_baseline": win_rates,
                "ratings": ratings,
                "judge": judge_quality,
            }),
            notes,
        })
    }
}

/// People's votes on the answers in `arena` (none before the page has been opened).
fn votes(
    arena: &std::path::Path,
) -> Result<Vec<assay_annotate::store::Vote>, assay_annotate::Error> {
    let store_path = arena.join("annotations.sqlite");
    if !store_path.exists() {
        return Ok(Vec::new());
    }
    assay_annotate::store::Store::open(&store_path)?.votes()
}

/// The candidate's score (1 win, ½ tie, 0 loss) in each battle with `baseline`, with
/// the prompt it was on.
fn against<'b>(battles: &'b [Battle], candidate: &str, baseline: &str) -> Vec<(f64, &'b str)> {
    battles
        .iter()
        .filter_map(|b| {
            let score_a = b.winner.score_a();
            if b.model_a == candidate && b.model_b == baseline {
                Some((score_a, b.prompt_id.as_str()))
            } else if b.model_b == candidate && b.model_a == baseline {
                Some((1.0 - score_a, b.prompt_id.as_str()))
            } else {
                None
            }
        })
        .collect()
}
