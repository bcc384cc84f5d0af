//! Blocking gates: a metric, a threshold and a statistical rule that must hold for a
//! candidate to pass, whatever its other scores.
//!
//! `TASK:METRIC <= T` passes when the metric's upper 95% bound is at most `T` (the run
//! shows, at 95% confidence, that the rate is no higher than allowed); `>=` when its lower
//! bound is at least `T`. A point estimate under the limit with an interval over it does
//! not pass: too few items to be sure is a failure of the evidence, not a pass.

use crate::results::{RunResults, TaskResult};
use serde::{Deserialize, Serialize};

/// Which way the limit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// The metric must be at most the threshold (its upper bound is compared).
    #[serde(rename = "<=")]
    AtMost,
    /// The metric must be at least the threshold (its lower bound is compared).
    #[serde(rename = ">=")]
    AtLeast,
}

/// A gate as given on the command line or in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub task: String,
    pub metric: String,
    pub direction: Direction,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    #[error(
        "gate `{0}`: expected `TASK:METRIC <= THRESHOLD` or `TASK:METRIC >= THRESHOLD` (e.g. `xstest:over_refusal <= 0.10`)"
    )]
    Syntax(String),
    #[error("gate `{gate}`: threshold `{value}` is not a finite number")]
    Threshold { gate: String, value: String },
    #[error("gate `{gate}`: task `{task}` is not among this run's tasks ({tasks})")]
    UnknownTask {
        gate: String,
        task: String,
        tasks: String,
    },
    #[error("gate `{gate}`: task `{task}` has no metric `{metric}` (it reports: {metrics})")]
    UnknownMetric {
        gate: String,
        task: String,
        metric: String,
        metrics: String,
    },
}

impl std::str::FromStr for Gate {
    type Err = GateError;

    fn from_str(text: &str) -> Result<Self, GateError> {
        let syntax = || GateError::Syntax(text.to_owned());
        let (direction, at) = [("<=", Direction::AtMost), (">=", Direction::AtLeast)]
            .iter()
            .find_map(|(op, d)| text.find(op).map(|i| (*d, i)))
            .ok_or_else(syntax)?;
        let (target, threshold) = (text[..at].trim(), text[at + 2..].trim());
        let (task, metric) = target.split_once(':').ok_or_else(syntax)?;
        let (task, metric) = (task.trim(), metric.trim());
        if task.is_empty() || metric.is_empty() || threshold.contains(['<', '>', '=']) {
            return Err(syntax());
        }
        let threshold = threshold
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(|| GateError::Threshold {
                gate: text.to_owned(),
                value: threshold.to_owned(),
            })?;
        Ok(Gate {
            task: task.to_owned(),
            metric: metric.to_owned(),
            direction,
            threshold,
        })
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.direction {
            Direction::AtMost => "<=",
            Direction::AtLeast => ">=",
        };
        write!(f, "{}:{} {op} {}", self.task, self.metric, self.threshold)
    }
}

impl Gate {
    /// Checks, before any work, that the gate names one of the run's tasks and a metric
    /// that task reports (`tasks`: each task's name and metric names).
    pub fn check(&self, tasks: &[(&str, Vec<&str>)]) -> Result<(), GateError> {
        let Some((_, metrics)) = tasks.iter().find(|(t, _)| *t == self.task) else {
            return Err(GateError::UnknownTask {
                gate: self.to_string(),
                task: self.task.clone(),
                tasks: tasks.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
            });
        };
        if !metrics.contains(&self.metric.as_str()) {
            return Err(GateError::UnknownMetric {
                gate: self.to_string(),
                task: self.task.clone(),
                metric: self.metric.clone(),
                metrics: metrics.join(", "),
            });
        }
        Ok(())
    }

    /// The gate's verdict on finished results.
    pub fn evaluate(&self, results: &[TaskResult]) -> GateResult {
        let task = results.iter().find(|t| t.task == self.task);
        let metric = task.and_then(|t| t.metrics.iter().find(|m| m.name == self.metric));
        let Some(m) = metric else {
            let why = task
                .and_then(|t| {
                    t.notes
                        .iter()
                        .find(|n| n.contains(&format!("`{}`", self.metric)))
                })
                .cloned()
                .unwrap_or_else(|| {
                    format!("task `{}` reported no metric `{}`", self.task, self.metric)
                });
            return GateResult {
                gate: self.clone(),
                verdict: GateVerdict::Undefined,
                estimate: None,
                ci_low: None,
                ci_high: None,
                compared: None,
                reason: format!("cannot be evaluated: {why}"),
            };
        };
        let e = &m.estimate;
        let (bound, name, holds) = match self.direction {
            Direction::AtMost => (e.ci_high, "upper", e.ci_high <= self.threshold),
            Direction::AtLeast => (e.ci_low, "lower", e.ci_low >= self.threshold),
        };
        let op = match (self.direction, holds) {
            (Direction::AtMost, true) => "<=",
            (Direction::AtMost, false) => ">",
            (Direction::AtLeast, true) => ">=",
            (Direction::AtLeast, false) => "<",
        };
        GateResult {
            gate: self.clone(),
            verdict: if holds {
                GateVerdict::Pass
            } else {
                GateVerdict::Fail
            },
            estimate: Some(e.value),
            ci_low: Some(e.ci_low),
            ci_high: Some(e.ci_high),
            compared: Some(bound),
            reason: format!(
                "{} = {:.4} [{:.4}, {:.4}] (n = {}): {name} 95% bound {:.4} {op} {}",
                self.metric, e.value, e.ci_low, e.ci_high, e.n, bound, self.threshold
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Pass,
    Fail,
    /// The metric is missing from the results (no item of its class was run).
    Undefined,
}

/// A gate's verdict, as recorded in `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    #[serde(flatten)]
    pub gate: Gate,
    pub verdict: GateVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// The bound compared with the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<f64>,
    pub reason: String,
}

/// The gates' verdicts on a finished run.
pub fn evaluate_all(gates: &[Gate], results: &RunResults) -> Vec<GateResult> {
    gates.iter().map(|g| g.evaluate(&results.results)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::MetricResult;
    use assay_stats::{Estimate, IntervalMethod};

    fn result(value: f64, low: f64, high: f64) -> Vec<TaskResult> {
        vec![TaskResult {
            task: "xstest".into(),
            benchmark: None,
            format: None,
            n: 50,
            protocol: None,
            notes: vec!["metric `unsafe_compliance` is undefined: no sample".into()],
            metrics: vec![MetricResult {
                name: "over_refusal".into(),
                estimate: Estimate {
                    value,
                    stderr: 0.0,
                    ci_low: low,
                    ci_high: high,
                    n: 50,
                    interval: IntervalMethod::Wilson,
                },
            }],
            subtasks: vec![],
            samples_file: String::new(),
            benchrisk: None,
            grader: None,
        }]
    }

    #[test]
    fn parses_and_refuses_by_name() {
        let g: Gate = "xstest:over_refusal <= 0.10".parse().unwrap();
        assert_eq!(g.direction, Direction::AtMost);
        assert_eq!(
            (g.task.as_str(), g.metric.as_str(), g.threshold),
            ("xstest", "over_refusal", 0.1)
        );
        assert_eq!(g.to_string(), "xstest:over_refusal <= 0.1");
        let g: Gate = " arc_easy : acc >=0.5".parse().unwrap();
        assert_eq!(
            (g.task.as_str(), g.metric.as_str(), g.direction),
            ("arc_easy", "acc", Direction::AtLeast)
        );
        for bad in [
            "xstest:over_refusal < 0.1",
            "over_refusal <= 0.1",
            ":m <= 1",
            "t:m <= <= 1",
            "t:m",
        ] {
            assert!(
                matches!(bad.parse::<Gate>(), Err(GateError::Syntax(_))),
                "{bad}"
            );
        }
        for bad in ["t:m <= nan", "t:m <= inf", "t:m <= ten", "t:m <= "] {
            assert!(
                matches!(bad.parse::<Gate>(), Err(GateError::Threshold { .. })),
                "{bad}"
            );
        }
        let tasks = [("xstest", vec!["over_refusal", "unsafe_compliance"])];
        assert!(
            g.check(&tasks)
                .unwrap_err()
                .to_string()
                .contains("task `arc_easy` is not among")
        );
        let g: Gate = "xstest:refusal <= 0.1".parse().unwrap();
        assert!(
            g.check(&tasks)
                .unwrap_err()
                .to_string()
                .contains("it reports: over_refusal, unsafe_compliance")
        );
    }

    #[test]
    fn the_bound_decides_at_the_boundary() {
        let at_most: Gate = "xstest:over_refusal <= 0.10".parse().unwrap();
        // Upper bound exactly at the threshold passes; a hair above fails, even with
        // the estimate far below.
        assert_eq!(
            at_most.evaluate(&result(0.05, 0.01, 0.10)).verdict,
            GateVerdict::Pass
        );
        let fail = at_most.evaluate(&result(0.05, 0.01, 0.100_000_1));
        assert_eq!(fail.verdict, GateVerdict::Fail);
        assert!(
            fail.reason.contains("upper 95% bound 0.1000 > 0.1"),
            "{}",
            fail.reason
        );
        let at_least: Gate = "xstest:over_refusal >= 0.01".parse().unwrap();
        assert_eq!(
            at_least.evaluate(&result(0.05, 0.01, 0.2)).verdict,
            GateVerdict::Pass
        );
        assert_eq!(
            at_least.evaluate(&result(0.05, 0.009, 0.2)).verdict,
            GateVerdict::Fail
        );
        let missing: Gate = "xstest:unsafe_compliance <= 0.1".parse().unwrap();
        let r = missing.evaluate(&result(0.05, 0.01, 0.2));
        assert_eq!(r.verdict, GateVerdict::Undefined);
        assert!(r.reason.contains("undefined: no sample"), "{}", r.reason);
    }
}
