//! Per-sample scoring: from a model's answers to the values each metric averages.

use crate::spec::{
    Counts, ExactMatchSpec, ExtractSpec, OutputKind, OverSamples, ScorerKind, Take, TaskSpec,
};
use crate::{Error, PreparedSample, Task};
use assay_core::{GenerateResponse, LoglikelihoodResponse, RollingResponse, SampleScore, Target};
use std::collections::BTreeMap;

/// A model's answers to one sample's requests.
#[derive(Debug, Clone)]
pub enum Responses<'a> {
    Loglikelihood(&'a [LoglikelihoodResponse]),
    /// One answer, or the sampled answers of a `generate.samples` task.
    Generate(&'a [GenerateResponse]),
    Rolling(&'a RollingResponse),
}

/// Which scorer fits which output, for errors.
pub(crate) const SCORERS_BY_OUTPUT: &str = "`choice` and `mc2` score `multiple_choice`, `exact_match` and `grader` score `generate`, `perplexity` scores `loglikelihood` and `loglikelihood_rolling`";

/// A task's scoring, checked against its output kind and compiled at load.
#[derive(Debug, Clone)]
pub(crate) struct Scoring {
    pub(crate) scorer: ScorerKind,
    /// `extract` regexes, in the task's order.
    pub(crate) extract: Vec<regex::Regex>,
    /// `exact_match.regexes_to_ignore`, compiled.
    pub(crate) ignore: Vec<regex::Regex>,
    /// The metrics the task asks for, each with its aggregation.
    pub(crate) metrics: Vec<crate::Metric>,
    /// The grader of a `grader`-scored task.
    pub(crate) grader: Option<std::sync::Arc<dyn assay_grade::Grader>>,
    /// The judges of a `judge`-scored task, one per `[[judge]]`, once connected.
    pub(crate) judges: Vec<std::sync::Arc<dyn assay_grade::Grader>>,
}

pub(crate) fn scorer(spec: &TaskSpec) -> ScorerKind {
    spec.scorer.unwrap_or(match spec.output {
        OutputKind::MultipleChoice => ScorerKind::Choice,
        OutputKind::Generate => ScorerKind::ExactMatch,
        OutputKind::Loglikelihood | OutputKind::LoglikelihoodRolling => ScorerKind::Perplexity,
    })
}

/// Index of the largest value; the first on ties (as numpy's argmax).
fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Scores one sample. Values are 0/1 for accuracies; perplexity tasks store the pieces
/// their ratio aggregates need (`loglikelihood`, `words`, `bytes`). An error means the
/// answers are not of the kind the task asked for.
pub fn score(
    task: &Task,
    prep: &PreparedSample,
    responses: Responses<'_>,
) -> Result<SampleScore, Error> {
    let spec = &task.spec;
    let scoring = &task.scoring;
    let sample = &prep.sample;
    let mut values = BTreeMap::new();
    let mut extra = BTreeMap::new();
    let answer;
    match (scoring.scorer, responses) {
        (ScorerKind::Choice, Responses::Loglikelihood(lls)) => {
            let gold = sample.target.indices().unwrap_or_default();
            let ll: Vec<f64> = lls.iter().map(|r| r.logprob).collect();
            let by = |len: &dyn Fn(&str) -> usize| {
                argmax(
                    ll.iter()
                        .zip(&sample.choices)
                        .map(|(l, c)| l / len(c).max(1) as f64),
                )
            };
            let pick = argmax(ll.iter().copied());
            let hit = |i: usize| if gold.contains(&i) { 1.0 } else { 0.0 };
            values.insert("acc".into(), hit(pick));
            values.insert("acc_norm".into(), hit(by(&|c| c.chars().count())));
            values.insert("acc_bytes".into(), hit(by(&|c| c.len())));
            values.insert(
                "acc_norm_nospace".into(),
                hit(by(&|c| c.trim_start().chars().count())),
            );
            let greedy = gold.iter().any(|&g| lls[g].is_greedy);
            values.insert("exact_match".into(), if greedy { 1.0 } else { 0.0 });
            answer = sample.choices.get(pick).cloned();
            extra.insert("loglikelihoods".into(), serde_json::json!(ll));
            if let Some(bias) = &prep.bias {
                // The pieces BBQ's scores sum, under the context's own names so each
                // score reads only its context's items.
                let acc = hit(pick);
                let biased = if bias.biased.contains(&pick) {
                    1.0
                } else {
                    0.0
                };
                let answered = if bias.unknown.contains(&pick) {
                    0.0
                } else {
                    1.0
                };
                let prefix = if bias.ambiguous { "amb" } else { "disamb" };
                values.insert(format!("accuracy_{prefix}"), acc);
                values.insert(format!("{prefix}_acc"), acc);
                values.insert(format!("{prefix}_biased"), biased);
                values.insert(format!("{prefix}_non_unknown"), answered);
            }
        }
        (ScorerKind::Mc2, Responses::Loglikelihood(lls)) => {
            let gold = sample.target.indices().unwrap_or_default();
            let max = lls
                .iter()
                .map(|r| r.logprob)
                .fold(f64::NEG_INFINITY, f64::max);
            let p: Vec<f64> = lls.iter().map(|r| (r.logprob - max).exp()).collect();
            let total: f64 = p.iter().sum();
            let truth: f64 = gold.iter().map(|&g| p[g]).sum();
            values.insert("acc".into(), truth / total);
            answer = sample.choices.get(argmax(p.iter().copied())).cloned();
            extra.insert(
                "loglikelihoods".into(),
                serde_json::json!(lls.iter().map(|r| r.logprob).collect::<Vec<_>>()),
            );
        }
        (ScorerKind::ExactMatch, Responses::Generate(answers)) => {
            let g = answers
                .first()
                .ok_or_else(|| mismatch(task, prep, "no answer came back"))?;
            let Target::Text(target) = &sample.target else {
                return Err(mismatch(task, prep, "its target is not text"));
            };
            if spec.extract.is_empty() {
                let hit = exact_match(&g.text, target, &spec.exact_match, &scoring.ignore);
                values.insert("exact_match".into(), hit);
                answer = Some(g.text.clone());
            } else {
                let mut answers = BTreeMap::new();
                for (e, re) in spec.extract.iter().zip(&scoring.extract) {
                    let a = extract(e, re, &g.text);
                    values.insert(
                        format!("exact_match,{}", e.name),
                        exact_match(&a, target, &spec.exact_match, &scoring.ignore),
                    );
                    answers.insert(e.name.clone(), a);
                }
                answer = answers.values().next().cloned();
                extra.insert("extracted".into(), serde_json::json!(answers));
            }
        }
        (ScorerKind::Perplexity, Responses::Loglikelihood(lls)) => {
            values.insert("loglikelihood".into(), lls[0].logprob);
            values.insert("acc".into(), if lls[0].is_greedy { 1.0 } else { 0.0 });
            answer = None;
        }
        (ScorerKind::Perplexity, Responses::Rolling(r)) => {
            values.insert("loglikelihood".into(), r.logprob);
            values.insert(
                "words".into(),
                sample.input.split_whitespace().count() as f64,
            );
            values.insert("bytes".into(), sample.input.len() as f64);
            answer = None;
        }
        (ScorerKind::Grader, Responses::Generate(answers)) => {
            let grader = scoring.grader.as_ref().ok_or_else(|| {
                mismatch(
                    task,
                    prep,
                    "its remote grader was not connected (assay eval --grader-model NAME --grader-base-url URL)",
                )
            })?;
            let rates = &spec.grader.as_ref().expect("checked at load").rates;
            let mut verdicts = Vec::with_capacity(answers.len());
            // Replies outside the grader's format: kept, counted and reported, never
            // guessed; the answer they judge counts in no rate.
            let mut unparsed = Vec::new();
            for g in answers.iter() {
                let verdict = match grader.grade(assay_grade::Graded {
                    prompt: &sample.input,
                    response: &g.text,
                    reference: sample.target.text(),
                }) {
                    Ok(v) => v,
                    Err(assay_grade::GradeError::Unparsed { reply }) => {
                        unparsed.push(reply);
                        continue;
                    }
                    Err(e) => {
                        return Err(mismatch(
                            task,
                            prep,
                            &format!("grader `{}`: {e}", grader.id()),
                        ));
                    }
                };
                if !(0.0..=1.0).contains(&verdict.score) {
                    return Err(mismatch(
                        task,
                        prep,
                        &format!(
                            "grader `{}` gave score {} outside [0, 1]",
                            grader.id(),
                            verdict.score
                        ),
                    ));
                }
                verdicts.push(verdict);
            }
            if answers.is_empty() {
                return Err(mismatch(task, prep, "no answer came back"));
            }
            if !unparsed.is_empty() {
                extra.insert("unparsed".into(), serde_json::json!(unparsed));
            }
            for rate in rates.iter().filter(|_| !verdicts.is_empty()) {
                if rate.when.is_none() || rate.when == prep.class {
                    let per_answer = verdicts.iter().map(|v| {
                        let flagged = match rate.threshold {
                            _ if !rate.labels.is_empty() => {
                                f64::from(u8::from(rate.labels.contains(&v.label)))
                            }
                            Some(t) => f64::from(u8::from(v.score >= t)),
                            None => v.score,
                        };
                        match rate.counts {
                            Counts::Flagged => flagged,
                            Counts::NotFlagged => 1.0 - flagged,
                        }
                    });
                    let value = match rate.over_samples {
                        OverSamples::Mean => per_answer.sum::<f64>() / verdicts.len() as f64,
                        OverSamples::Max => per_answer.fold(f64::NEG_INFINITY, f64::max),
                    };
                    values.insert(rate.name.clone(), value);
                }
            }
            extra.insert("grader".into(), serde_json::json!(grader.id().to_string()));
            if let Some(class) = &prep.class {
                extra.insert("class".into(), serde_json::json!(class));
            }
            if verdicts.is_empty() {
                answer = None;
            } else if answers.len() == 1 {
                let verdict = verdicts.remove(0);
                extra.insert("verdict".into(), serde_json::json!(verdict));
                answer = Some(verdict.label);
            } else {
                extra.insert("verdicts".into(), serde_json::json!(verdicts));
                answer = None;
            }
        }
        (ScorerKind::Judge, Responses::Generate(answers)) => {
            let g = answers
                .first()
                .ok_or_else(|| mismatch(task, prep, "no answer came back"))?;
            if scoring.judges.len() != spec.judges.len() {
                return Err(mismatch(
                    task,
                    prep,
                    "its judges were not given (assay eval --judge MODEL)",
                ));
            }
            let mut verdicts = serde_json::Map::new();
            let mut unparsed = Vec::new();
            for (judge, rubric) in scoring.judges.iter().zip(&spec.judges) {
                match judge.grade(assay_grade::Graded {
                    prompt: &sample.input,
                    response: &g.text,
                    reference: sample.target.text().filter(|t| !t.is_empty()),
                }) {
                    Ok(v) => {
                        // A rating judge's value is the rating itself (MT-Bench's 1-10
                        // scale); a label judge's, whether its label is flagged.
                        let value = match rubric.scale {
                            Some(_) => v.label.parse::<f64>().map_err(|_| {
                                mismatch(
                                    task,
                                    prep,
                                    &format!(
                                        "judge `{}` gave the rating `{}`",
                                        judge.id(),
                                        v.label
                                    ),
                                )
                            })?,
                            None => f64::from(u8::from(rubric.flagged.contains(&v.label))),
                        };
                        values.insert(rubric.name.clone(), value);
                        verdicts.insert(rubric.name.clone(), serde_json::json!(v));
                    }
                    Err(assay_grade::GradeError::Unparsed { reply }) => {
                        unparsed.push(serde_json::json!({"judge": rubric.name, "reply": reply}));
                    }
                    Err(e) => {
                        return Err(mismatch(
                            task,
                            prep,
                            &format!("judge `{}`: {e}", judge.id()),
                        ));
                    }
                }
            }
            extra.insert("judges".into(), serde_json::Value::Object(verdicts));
            if !unparsed.is_empty() {
                extra.insert("unparsed".into(), serde_json::json!(unparsed));
            }
            answer = Some(g.text.clone());
        }
        (kind, r) => {
            let got = match r {
                Responses::Loglikelihood(_) => "log-likelihoods",
                Responses::Generate(_) => "a generation",
                Responses::Rolling(_) => "a rolling log-likelihood",
            };
            return Err(mismatch(
                task,
                prep,
                &format!("scorer `{}` cannot score {got}", kind.name()),
            ));
        }
    }
    Ok(SampleScore {
        values,
        answer,
        extra,
    })
}

fn mismatch(task: &Task, prep: &PreparedSample, message: &str) -> Error {
    Error::TaskFile {
        origin: task.source.origin.clone(),
        message: format!("sample `{}`: {message}", prep.sample.id),
    }
}

/// lm-evaluation-harness's regex filter: all matches, then the first or last; of a
/// match with several groups, the first non-empty group.
fn extract(spec: &ExtractSpec, re: &regex::Regex, text: &str) -> String {
    let found: Vec<String> = re
        .captures_iter(text)
        .map(|c| {
            if c.len() == 1 {
                c[0].to_owned()
            } else {
                (1..c.len())
                    .find_map(|i| c.get(i).map(|m| m.as_str()).filter(|s| !s.is_empty()))
                    .unwrap_or_default()
                    .to_owned()
            }
        })
        .collect();
    let pick = match spec.take {
        Take::First => found.first(),
        Take::Last => found.last(),
    };
    pick.map_or_else(|| spec.fallback.clone(), |s| s.trim().to_owned())
}

/// Hugging Face `evaluate`'s exact_match, as lm-evaluation-harness calls it.
fn exact_match(
    prediction: &str,
    reference: &str,
    opts: &ExactMatchSpec,
    ignore: &[regex::Regex],
) -> f64 {
    let normalize = |s: &str| {
        let mut s = s.to_owned();
        for re in ignore {
            s = re.replace_all(&s, "").into_owned();
        }
        if opts.ignore_case {
            s = s.to_lowercase();
        }
        if opts.ignore_punctuation {
            s.retain(|c| !c.is_ascii_punctuation());
        }
        s
    };
    if normalize(prediction) == normalize(reference) {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm_extract() -> Vec<ExtractSpec> {
        vec![
            ExtractSpec {
                name: "strict-match".into(),
                regex: r"#### (\-?[0-9\.\,]+)".into(),
                take: Take::First,
                fallback: "[invalid]".into(),
            },
            ExtractSpec {
                name: "flexible-extract".into(),
                regex: r"(-?[$0-9.,]{2,})|(-?[0-9]+)".into(),
                take: Take::Last,
                fallback: "[invalid]".into(),
            },
        ]
    }

    #[test]
    fn gsm8k_extraction_and_matching() {
        let e = gsm_extract();
        let re: Vec<regex::Regex> = e
            .iter()
            .map(|e| regex::Regex::new(&e.regex).unwrap())
            .collect();
        let text = "She has 3 + 4 = 7 apples, so 1,200 in total.\n#### 1,200";
        assert_eq!(extract(&e[0], &re[0], text), "1,200");
        assert_eq!(extract(&e[1], &re[1], text), "1,200");
        assert_eq!(extract(&e[0], &re[0], "no answer 5"), "[invalid]");
        assert_eq!(extract(&e[1], &re[1], "the answer is 5."), "5.");
        let opts = ExactMatchSpec {
            ignore_case: true,
            ignore_punctuation: false,
            regexes_to_ignore: vec![
                ",".into(),
                r"\$".into(),
                "(?s).*#### ".into(),
                r"\.$".into(),
            ],
        };
        let ignore: Vec<regex::Regex> = opts
            .regexes_to_ignore
            .iter()
            .map(|r| regex::Regex::new(r).unwrap())
            .collect();
        let reference = "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 1200";
        assert_eq!(exact_match("1,200", reference, &opts, &ignore), 1.0);
        assert_eq!(exact_match("$1200.", reference, &opts, &ignore), 1.0);
        assert_eq!(exact_match("120", reference, &opts, &ignore), 0.0);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax([1.0, 3.0, 3.0].into_iter()), 1);
    }
}
