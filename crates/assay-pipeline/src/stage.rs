//! What a stage is to the runner: a `kind` with its own settings (one module each),
//! checked before any model works, then run on the candidates that reached it. A stage
//! answers with a [`StageOutcome`]: each entrant's verdict with reasons and the checks
//! behind it, and the order its numbers put every candidate in (for the funnel's choice
//! and for agreement between stages).

use crate::candidate::Candidate;
use crate::{Error, Execution, Models};
use assay_rundir::Progress;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::DeValue;

/// Builds a stage from its table in the pipeline file (errors keep their position).
pub type Build = fn(Spanned<DeValue<'_>>) -> Result<Box<dyn Stage>, toml::de::Error>;

/// Every stage kind, by the `kind` a pipeline file names it with. A new kind is a new
/// module and one line here; the runner does not change.
pub const KINDS: &[(&str, Build)] = &[
    ("benchmarks", crate::benchmarks::build),
    ("side_by_side", crate::side_by_side::build),
    ("ab", crate::ab::build),
];

pub trait Stage {
    fn name(&self) -> &str;
    fn kind(&self) -> &'static str;
    /// Its settings, as the pipeline's identity and results record them.
    fn settings(&self) -> serde_json::Value;
    /// Everything checkable before any model works: files, tasks, columns, names.
    fn check(&mut self, setup: &Setup<'_>) -> Result<(), Error>;
    /// Runs on the candidates that reached it (the baseline always takes part).
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<StageOutcome, Error>;
    /// What its decision rests on beyond the pipeline file, which may change between
    /// runs (an experiment's rows, people's votes): a decided outcome is read back only
    /// while this is the same. `None`: decide again every time (a query to a database
    /// whose rows keep coming). The default: nothing (its work pins its own inputs, as
    /// evaluations do).
    fn inputs(&self, dir: &Path) -> Result<Option<serde_json::Value>, Error> {
        let _ = dir;
        Ok(Some(serde_json::Value::Null))
    }
}

/// What a stage's check may look at.
pub struct Setup<'a> {
    /// The pipeline file's folder: relative paths in it start here.
    pub dir: &'a Path,
    pub data_dir: Option<&'a Path>,
    pub candidates: &'a [Candidate],
    pub baseline: &'a Candidate,
    pub models: &'a dyn Models,
}

/// What a running stage has.
pub struct StageContext<'a> {
    /// The stage's own folder under the pipeline's run directory.
    pub dir: PathBuf,
    /// Candidates that reached this stage, the baseline excluded, in file order.
    pub entrants: Vec<&'a Candidate>,
    pub baseline: &'a Candidate,
    pub models: &'a dyn Models,
    pub execution: &'a Execution,
    pub progress: &'a mut dyn Progress,
    /// One line of news for the person watching (which candidate runs, what was reused).
    pub say: &'a dyn Fn(&str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It goes on to the next stage.
    Advance,
    /// It stops here.
    Stop,
    /// The evidence cannot decide yet (an A/B test still inconclusive, a gate whose
    /// metric is undefined): it stops moving on, and the pipeline says so.
    Inconclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Pass,
    Fail,
    Undefined,
}

/// One criterion applied to one candidate (a gate, a minimum win rate, an A/B
/// decision): a JUnit test case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub outcome: CheckOutcome,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateResult {
    pub candidate: String,
    pub verdict: Verdict,
    /// Why, in words with the numbers and intervals (empty when it simply advances).
    pub reasons: Vec<String>,
    pub checks: Vec<Check>,
}

/// A candidate's number in a stage's order, higher is better (a metric where lower is
/// better is negated), with its standard error when it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub candidate: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<f64>,
    /// The value as people read it (the metric itself, a win rate, a lift).
    pub shown: String,
}

/// How a stage orders the candidates (the baseline included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// What the scores are (`arc_easy:acc_norm`, `win rate against current`).
    pub by: String,
    pub scores: Vec<Score>,
}

impl Order {
    pub fn score(&self, candidate: &str) -> Option<&Score> {
        self.scores.iter().find(|s| s.candidate == candidate)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum StageStatus {
    Finished,
    /// It needs something from people (votes) before it can decide; the same command
    /// continues once it is there.
    Waiting {
        until: String,
    },
}

/// What a stage decided, kept in its folder once finished so a rerun reads it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageOutcome {
    #[serde(flatten)]
    pub status: StageStatus,
    pub candidates: Vec<CandidateResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    /// The stage's own numbers (runs, comparisons, ratings, analyses).
    pub details: serde_json::Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Keeps the best `k` of the candidates still advancing, by `order` (ties keep file
/// order); the others stop with their rank and value.
pub fn keep_top(results: &mut [CandidateResult], order: &Order, k: Option<usize>) {
    let Some(k) = k else { return };
    let mut advancing: Vec<(usize, f64)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.verdict == Verdict::Advance)
        .map(|(i, r)| {
            let v = order
                .score(&r.candidate)
                .map_or(f64::NEG_INFINITY, |s| s.value);
            (i, v)
        })
        .collect();
    // Stable: equal values keep file order.
    advancing.sort_by(|a, b| b.1.total_cmp(&a.1));
    let n = advancing.len();
    for (rank, &(i, _)) in advancing.iter().enumerate().skip(k) {
        let r = &mut results[i];
        let shown = order
            .score(&r.candidate)
            .map_or_else(|| "no value".to_owned(), |s| s.shown.clone());
        r.verdict = Verdict::Stop;
        r.reasons.push(format!(
            "not in the top {k} by {}: rank {} of {n} ({shown})",
            order.by,
            rank + 1
        ));
        r.checks.push(Check {
            name: format!("top {k} by {}", order.by),
            outcome: CheckOutcome::Fail,
            detail: format!("rank {} of {n} ({shown})", rank + 1),
        });
    }
}

/// A path from the pipeline file, relative to its folder.
pub fn resolve(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str) -> CandidateResult {
        CandidateResult {
            candidate: name.into(),
            verdict: Verdict::Advance,
            reasons: vec![],
            checks: vec![],
        }
    }

    #[test]
    fn top_k_stops_the_rest_with_their_rank() {
        let order = Order {
            by: "acc".into(),
            scores: [("a", 0.5), ("b", 0.7), ("c", 0.6), ("base", 0.9)]
                .iter()
                .map(|(c, v)| Score {
                    candidate: (*c).into(),
                    value: *v,
                    stderr: None,
                    shown: format!("{v}"),
                })
                .collect(),
        };
        let mut results = vec![result("a"), result("b"), result("c")];
        results[2].verdict = Verdict::Stop;
        keep_top(&mut results, &order, Some(1));
        assert_eq!(results[1].verdict, Verdict::Advance);
        assert_eq!(results[0].verdict, Verdict::Stop);
        assert_eq!(
            results[0].reasons,
            ["not in the top 1 by acc: rank 2 of 2 (0.5)"]
        );
        // Already stopped: untouched.
        assert!(results[2].reasons.is_empty());
    }
}
