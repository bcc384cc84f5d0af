//! Blocking gates: a metric, a threshold and a statistical rule that must hold for a
//! candidate to pass, whatever its other scores.
//!
//! `TASK:METRIC <= T` passes when the metric's upper 95% bound is at most `T` (the run
//! shows, at 95% confidence, that the rate is no higher than allowed); `>=` when its lower
//! bound is at least `T`. A point estimate under the limit with an interval over it does
//! not pass: too few items to be sure is a failure of the evidence, not a pass.
//!
//! `TASK:METRIC >= baseline - M` (or `<= baseline + M`) is non-inferiority against a
//! baseline run of the same task (`--baseline DIR`): the per-item differences, candidate
//! minus baseline on the items both answered, must have a lower 95% bound of at least
//! `-M` (an upper bound of at most `M`). Pairing by item is what makes a small margin
//! testable: the items' own difficulty cancels.

use crate::results::{RunResults, TaskResult};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// The limit; for a baseline gate, the margin.
    pub threshold: f64,
    /// Whether the limit is relative to the baseline run (non-inferiority).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    #[error(
        "gate `{0}`: expected `TASK:METRIC <= THRESHOLD` or `TASK:METRIC >= THRESHOLD` (e.g. `xstest:over_refusal <= 0.10`), or a margin against the baseline run (`arc_easy:acc >= baseline - 0.02`)"
    )]
    Syntax(String),
    #[error(
        "gate `{0}` compares with a baseline run: pass --baseline DIR (a finished `assay eval` run)"
    )]
    NoBaseline(String),
    #[error(
        "gate `{gate}`: metric `{metric}` is not a mean of per-item values, so it cannot be compared item by item with the baseline"
    )]
    NotPaired { gate: String, metric: String },
    #[error("gate `{gate}`: the baseline run {problem}")]
    BaselineMismatch { gate: String, problem: String },
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
        // `baseline`, `baseline + M` or `baseline - M`: the margin M, in the direction
        // the gate allows (worse by at most M).
        let (baseline, limit) = match threshold.strip_prefix("baseline") {
            Some(rest) => {
                let rest = rest.trim();
                let allowed = match direction {
                    Direction::AtMost => '+',
                    Direction::AtLeast => '-',
                };
                match rest.chars().next() {
                    None => (true, "0"),
                    Some(c) if c == allowed => (true, rest[1..].trim()),
                    Some(_) => return Err(syntax()),
                }
            }
            None => (false, threshold),
        };
        let threshold = limit
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && (!baseline || *t >= 0.0))
            .ok_or_else(|| GateError::Threshold {
                gate: text.to_owned(),
                value: limit.to_owned(),
            })?;
        Ok(Gate {
            task: task.to_owned(),
            metric: metric.to_owned(),
            direction,
            threshold,
            baseline,
        })
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.direction {
            Direction::AtMost => "<=",
            Direction::AtLeast => ">=",
        };
        match (self.baseline, self.direction) {
            (false, _) => write!(f, "{}:{} {op} {}", self.task, self.metric, self.threshold),
            (true, Direction::AtMost) => {
                write!(
                    f,
                    "{}:{} {op} baseline + {}",
                    self.task, self.metric, self.threshold
                )
            }
            (true, Direction::AtLeast) => {
                write!(
                    f,
                    "{}:{} {op} baseline - {}",
                    self.task, self.metric, self.threshold
                )
            }
        }
    }
}

impl Gate {
    /// Checks, before any work, that a baseline gate has a baseline run of the same task
    /// definition and names a metric that is a mean of per-item values (`paired`).
    pub fn check_baseline(
        &self,
        paired: bool,
        definition_sha256: &str,
        baseline: Option<&Baseline>,
    ) -> Result<(), GateError> {
        if !self.baseline {
            return Ok(());
        }
        let Some(baseline) = baseline else {
            return Err(GateError::NoBaseline(self.to_string()));
        };
        if !paired {
            return Err(GateError::NotPaired {
                gate: self.to_string(),
                metric: self.metric.clone(),
            });
        }
        let mismatch = |problem: String| GateError::BaselineMismatch {
            gate: self.to_string(),
            problem,
        };
        let Some(record) = baseline
            .results
            .spec
            .tasks
            .iter()
            .find(|t| t.name == self.task)
        else {
            return Err(mismatch(format!(
                "`{}` did not run task `{}`",
                baseline.dir.display(),
                self.task
            )));
        };
        if record.definition_sha256 != definition_sha256 {
            return Err(mismatch(format!(
                "`{}` ran another definition of task `{}` (sha256 {} against {}): its items or prompts may differ",
                baseline.dir.display(),
                self.task,
                &record.definition_sha256[..12.min(record.definition_sha256.len())],
                &definition_sha256[..12.min(definition_sha256.len())]
            )));
        }
        Ok(())
    }

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

    /// A baseline gate's verdict from the per-item values of the candidate and the
    /// baseline (keyed by subtask and item id): the mean paired difference.
    fn evaluate_paired(&self, candidate: &SampleValues, baseline: &SampleValues) -> GateResult {
        let differences: Vec<f64> = candidate
            .iter()
            .filter_map(|(key, c)| baseline.get(key).map(|b| c - b))
            .collect();
        let e = match assay_stats::mean_t(&differences) {
            Ok(e) if e.n >= 2 => e,
            Ok(_) | Err(assay_stats::Error::Empty) => {
                return GateResult::undefined(
                    self,
                    format!(
                        "{} item(s) have `{}` in both runs; at least 2 are needed for an interval",
                        differences.len(),
                        self.metric
                    ),
                );
            }
            Err(e) => return GateResult::undefined(self, e),
        };
        let limit = match self.direction {
            Direction::AtMost => self.threshold,
            Direction::AtLeast => -self.threshold,
        };
        let what = format!(
            "{} minus baseline = {:+.4} [{:+.4}, {:+.4}] over {} paired items",
            self.metric, e.value, e.ci_low, e.ci_high, e.n
        );
        self.judge(
            &e,
            limit,
            what,
            |v| format!("{v:+.4}"),
            |v| format!("{v:+}"),
        )
    }

    /// Compares the estimate's 95% bound on the gate's side (upper for `<=`, lower for
    /// `>=`) with `limit`; `what` describes the estimate, and the two formats print the
    /// bound and the limit.
    fn judge(
        &self,
        e: &assay_stats::Estimate,
        limit: f64,
        what: String,
        bound_text: impl Fn(f64) -> String,
        limit_text: impl Fn(f64) -> String,
    ) -> GateResult {
        let (bound, name, holds) = match self.direction {
            Direction::AtMost => (e.ci_high, "upper", e.ci_high <= limit),
            Direction::AtLeast => (e.ci_low, "lower", e.ci_low >= limit),
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
                "{what}: {name} 95% bound {} {op} {}",
                bound_text(bound),
                limit_text(limit)
            ),
        }
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
            return GateResult::undefined(self, why);
        };
        let e = &m.estimate;
        if e.interval == assay_stats::IntervalMethod::None {
            return GateResult::undefined(
                self,
                format!(
                    "`{}` rests on {} item(s), too few for an interval",
                    self.metric, e.n
                ),
            );
        }
        let what = format!(
            "{} = {:.4} [{:.4}, {:.4}] (n = {})",
            self.metric, e.value, e.ci_low, e.ci_high, e.n
        );
        self.judge(
            e,
            self.threshold,
            what,
            |v| format!("{v:.4}"),
            |v| format!("{v}"),
        )
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

/// Per-item values of one metric: (subtask, item id) to value.
pub type SampleValues = std::collections::HashMap<(String, String), f64>;

/// The per-item values of `metric` in a samples file (`samples/<task>.jsonl`).
pub fn sample_values(records: &[crate::results::SampleRecord], metric: &str) -> SampleValues {
    records
        .iter()
        .filter_map(|r| {
            let v = r.score.values.get(metric)?;
            Some(((r.subtask.clone(), r.id.clone()), *v))
        })
        .collect()
}

/// A finished run that baseline gates compare with.
#[derive(Debug)]
pub struct Baseline {
    pub dir: PathBuf,
    pub results: RunResults,
}

impl Baseline {
    /// Opens a finished run: its directory, or its `results.json`.
    pub fn open(path: &Path) -> Result<Self, BaselineError> {
        let dir = if path.is_dir() {
            path.to_owned()
        } else if path.is_file() && path.file_name().is_some_and(|n| n == "results.json") {
            path.parent().unwrap_or(Path::new(".")).to_owned()
        } else {
            return Err(BaselineError::NotARun(path.to_owned()));
        };
        let file = dir.join("results.json");
        let text = std::fs::read(&file).map_err(|source| BaselineError::Read {
            path: file.clone(),
            source,
        })?;
        let results = serde_json::from_slice(&text).map_err(|e| BaselineError::Parse {
            path: file.clone(),
            message: e.to_string(),
        })?;
        Ok(Self { dir, results })
    }

    /// The baseline's per-item records of a task.
    pub fn records(&self, task: &str) -> Result<Vec<crate::results::SampleRecord>, BaselineError> {
        let path = self.dir.join("samples").join(format!("{task}.jsonl"));
        let text = std::fs::read_to_string(&path).map_err(|source| BaselineError::Read {
            path: path.clone(),
            source,
        })?;
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| BaselineError::Parse {
                    path: path.clone(),
                    message: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("`{}` is neither a run directory nor its results.json", .0.display())]
    NotARun(PathBuf),
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not an assay results file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

impl GateResult {
    /// A gate that could not be judged, and why.
    fn undefined(gate: &Gate, why: impl std::fmt::Display) -> Self {
        GateResult {
            gate: gate.clone(),
            verdict: GateVerdict::Undefined,
            estimate: None,
            ci_low: None,
            ci_high: None,
            compared: None,
            reason: format!("cannot be evaluated: {why}"),
        }
    }
}

/// The gates' verdicts on a finished run; `records(task)` gives the run's own per-item
/// records of a task, for baseline gates.
pub fn evaluate_all(
    gates: &[Gate],
    results: &RunResults,
    records: &dyn Fn(&str) -> Vec<crate::results::SampleRecord>,
    baseline: Option<&Baseline>,
) -> Vec<GateResult> {
    gates
        .iter()
        .map(|g| match (g.baseline, baseline) {
            (false, _) => g.evaluate(&results.results),
            (true, Some(b)) => match b.records(&g.task) {
                Ok(theirs) => g.evaluate_paired(
                    &sample_values(&records(&g.task), &g.metric),
                    &sample_values(&theirs, &g.metric),
                ),
                Err(e) => GateResult::undefined(g, e),
            },
            (true, None) => GateResult::undefined(g, "no baseline run was given"),
        })
        .collect()
}

/// Gates written in a file (`--gates FILE`):
///
/// ```toml
/// baseline = "results/previous-run"     # optional, relative to this file
///
/// [[gate]]
/// check = "xstest:over_refusal <= 0.10"
///
/// [[gate]]
/// check = "arc_easy:acc >= baseline - 0.02"
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GatesFile {
    pub gates: Vec<Gate>,
    pub baseline: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesFileText {
    #[serde(default)]
    baseline: Option<PathBuf>,
    #[serde(default, rename = "gate")]
    gates: Vec<GateEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateEntry {
    check: toml::Spanned<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatesFileError {
    #[error("--gates: cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl GatesFile {
    pub fn read(path: &Path) -> Result<Self, GatesFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| GatesFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a gates file's text; `path` names it in errors and anchors `baseline`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, GatesFileError> {
        let line_of = |at: usize| assay_core::input::line_column(text, at).0;
        let invalid = |at: usize, message: String| GatesFileError::Invalid {
            path: path.to_owned(),
            line: line_of(at),
            message,
        };
        let raw: GatesFileText = toml::from_str(text)
            .map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
        if raw.gates.is_empty() {
            return Err(invalid(
                0,
                "no gates: add `[[gate]]` tables with a `check`".into(),
            ));
        }
        let gates = raw
            .gates
            .iter()
            .map(|g| {
                g.check
                    .get_ref()
                    .parse::<Gate>()
                    .map_err(|e| invalid(g.check.span().start, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let here = path.parent().unwrap_or(Path::new(""));
        Ok(Self {
            gates,
            baseline: raw.baseline.map(|b| here.join(b)),
        })
    }
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
            ailuminate: None,
            judges: Vec::new(),
            correlations: Vec::new(),
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
    fn baseline_gates_parse_with_their_margin() {
        let g: Gate = "arc_easy:acc >= baseline - 0.02".parse().unwrap();
        assert!(g.baseline);
        assert_eq!((g.direction, g.threshold), (Direction::AtLeast, 0.02));
        assert_eq!(g.to_string(), "arc_easy:acc >= baseline - 0.02");
        let g: Gate = "xstest:over_refusal <= baseline+0.05".parse().unwrap();
        assert_eq!(
            (g.direction, g.threshold, g.baseline),
            (Direction::AtMost, 0.05, true)
        );
        let g: Gate = "t:m >= baseline".parse().unwrap();
        assert_eq!((g.threshold, g.baseline), (0.0, true));
        // A margin in the direction that would make the gate easier than "not worse" is
        // a syntax error, a negative or missing one a bad threshold.
        assert!(matches!(
            "t:m >= baseline + 0.02".parse::<Gate>(),
            Err(GateError::Syntax(_))
        ));
        assert!(matches!(
            "t:m <= baseline - 0.02".parse::<Gate>(),
            Err(GateError::Syntax(_))
        ));
        assert!(matches!(
            "t:m <= baseline + -1".parse::<Gate>(),
            Err(GateError::Threshold { .. })
        ));
        assert!(matches!(
            "t:m <= baseline +".parse::<Gate>(),
            Err(GateError::Threshold { .. })
        ));
        assert!(matches!(
            g.check_baseline(true, "abc", None),
            Err(GateError::NoBaseline(_))
        ));
    }

    #[test]
    fn baseline_gates_pair_items_and_judge_the_difference() {
        let key = |i: usize| ("t".to_string(), format!("{i}"));
        // 40 items; the candidate loses 2 the baseline got right and wins 1: by hand the
        // mean difference is -1/40 with sample sd sqrt((3 - 40 * (1/40)^2) / 39).
        let baseline: SampleValues = (0..40).map(|i| (key(i), f64::from(i % 2 == 0))).collect();
        let mut candidate = baseline.clone();
        candidate.insert(key(0), 0.0);
        candidate.insert(key(2), 0.0);
        candidate.insert(key(1), 1.0);
        // An item only one run has is not paired.
        candidate.insert(key(99), 1.0);
        let gate: Gate = "t:acc >= baseline - 0.12".parse().unwrap();
        let r = gate.evaluate_paired(&candidate, &baseline);
        let sd = ((3.0 - 40.0 * (1.0f64 / 40.0).powi(2)) / 39.0).sqrt();
        let half = assay_stats::t975(39.0) * sd / 40f64.sqrt();
        assert!((r.estimate.unwrap() + 0.025).abs() < 1e-12);
        assert!((r.ci_low.unwrap() - (-0.025 - half)).abs() < 1e-12);
        assert_eq!(r.verdict, GateVerdict::Pass, "{}", r.reason);
        assert!(r.reason.contains("over 40 paired items"), "{}", r.reason);
        // The lower bound is about -0.113: a margin of 0.10 is tighter, and fails.
        let tight: Gate = "t:acc >= baseline - 0.10".parse().unwrap();
        assert_eq!(
            tight.evaluate_paired(&candidate, &baseline).verdict,
            GateVerdict::Fail
        );
        // Nothing in common: undefined, not a number.
        let other: SampleValues = [(key(500), 1.0)].into_iter().collect();
        assert_eq!(
            gate.evaluate_paired(&other, &baseline).verdict,
            GateVerdict::Undefined
        );
    }

    #[test]
    fn gates_files_parse_with_lines_in_errors() {
        let path = Path::new("ci/gates.toml");
        let text = "baseline = \"../results/last\"\n\n[[gate]]\ncheck = \"xstest:over_refusal <= 0.10\"\n\n[[gate]]\ncheck = \"arc_easy:acc >= baseline - 0.02\"\n";
        let f = GatesFile::parse(text, path).unwrap();
        assert_eq!(f.gates.len(), 2);
        assert!(f.gates[1].baseline);
        assert_eq!(f.baseline.as_deref(), Some(Path::new("ci/../results/last")));
        let bad = "[[gate]]\ncheck = \"xstest:over_refusal <= 0.1\"\n[[gate]]\ncheck = \"xstest:over_refusal < 0.1\"\n";
        let e = GatesFile::parse(bad, path).unwrap_err().to_string();
        assert!(
            e.starts_with("ci/gates.toml:4: gate `xstest:over_refusal < 0.1`: expected"),
            "{e}"
        );
        let e = GatesFile::parse("[[gate]]\nrule = \"x\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("ci/gates.toml:2: unknown field `rule`"),
            "{e}"
        );
        let e = GatesFile::parse("baseline = \"x\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no gates"), "{e}");
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
        let mut one = result(0.0, 0.0, 0.0);
        one[0].metrics[0].estimate.interval = IntervalMethod::None;
        let r = at_most.evaluate(&one);
        assert_eq!(r.verdict, GateVerdict::Undefined);
        assert!(r.reason.contains("too few for an interval"), "{}", r.reason);
        let missing: Gate = "xstest:unsafe_compliance <= 0.1".parse().unwrap();
        let r = missing.evaluate(&result(0.05, 0.01, 0.2));
        assert_eq!(r.verdict, GateVerdict::Undefined);
        assert!(r.reason.contains("undefined: no sample"), "{}", r.reason);
    }
}
