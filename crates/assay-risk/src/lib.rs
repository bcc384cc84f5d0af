//! BenchRisk (benchrisk.ai; McGregor, Lin et al., NeurIPS 2025 Datasets & Benchmarks):
//! how far a benchmark can be trusted. The registry lists failure modes (each with a
//! severity, a production stage and one of five dimensions) and mitigations (each
//! cutting one failure mode's likelihood and/or severity by a percentage); a benchmark
//! is described by the mitigations it adopts, and scored per dimension by the share of
//! the dimension's severity its mitigations remove.
//!
//! - [`Registry`]: the data, as figures (ids, severities, stages, dimensions,
//!   percentages, answers) plus assay's own short wording; the original texts are read
//!   from a BenchRisk checkout when one is given ([`mdx`]).
//! - [`score`]: the scorer, identical to the site's (`app/score/page.tsx`).
//! - [`Registry::validate`] and [`Registry::check_answers`]: errors and warnings.
//!
//! The shipped figures come from BenchRisk's data (MIT, © 2025 AI Verification and
//! Evaluation Research Institute, Sean McGregor, Timothy Lin); see
//! `registry/NOTICE`.

pub mod mdx;
pub mod picture;
pub mod questionnaire;
pub mod score;
mod shipped;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use score::{RiskLevel, Scores, score};
pub use shipped::shipped;

/// The five BenchRisk dimensions, in the order the site's tables list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dimension {
    Comprehensiveness,
    Intelligibility,
    Consistency,
    Correctness,
    Longevity,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Comprehensiveness,
        Dimension::Intelligibility,
        Dimension::Consistency,
        Dimension::Correctness,
        Dimension::Longevity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Comprehensiveness => "Comprehensiveness",
            Dimension::Intelligibility => "Intelligibility",
            Dimension::Consistency => "Consistency",
            Dimension::Correctness => "Correctness",
            Dimension::Longevity => "Longevity",
        }
    }

    /// Exact spelling, as the site compares strings.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == text)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What the dimension asks of a benchmark, in a few words.
    pub fn question(self) -> &'static str {
        match self {
            Dimension::Comprehensiveness => "does it cover what it claims to measure?",
            Dimension::Intelligibility => "can its users understand what a score means?",
            Dimension::Consistency => "does it give the same answer when run again?",
            Dimension::Correctness => "are its items, scoring and results right?",
            Dimension::Longevity => "will it stay valid as models and the world change?",
        }
    }
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The seven production stages, numbered as on the site (`(1) Task Definition`).
pub const STAGES: [&str; 7] = [
    "Task Definition",
    "Prompt Generation",
    "Prompt Inferencing",
    "Output Evaluation",
    "Scoring",
    "Grade Presentation",
    "Upkeep",
];

/// A stage number 1..=7 from the site's label `(n) Name`.
pub fn parse_stage(label: &str) -> Option<u8> {
    let rest = label.trim().strip_prefix('(')?;
    let (n, name) = rest.split_once(')')?;
    let n: u8 = n.trim().parse().ok()?;
    (1..=7)
        .contains(&n)
        .then_some(n)
        .filter(|&n| STAGES[n as usize - 1] == name.trim())
}

pub fn stage_label(stage: u8) -> String {
    format!("({stage}) {}", STAGES[stage as usize - 1])
}

/// Texts that come only from a BenchRisk checkout (never shipped), plus any other front
/// matter fields, kept so that an export gives back what was imported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Original {
    /// Front-matter fields other than the figures, in file order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The Markdown body after the front matter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureMode {
    pub id: u32,
    /// Severity before mitigation, in [0, 1].
    pub severity: f64,
    /// Production stage, 1..=7.
    pub stage: u8,
    pub dimension: Dimension,
    /// assay's own short wording.
    #[serde(default)]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mitigation {
    pub id: u32,
    /// The failure mode it mitigates.
    pub mode: u32,
    /// Percentage (0..=100) by which the failure's likelihood falls.
    pub likelihood_reduction: f64,
    /// Percentage (0..=100) by which the failure's severity falls.
    pub severity_reduction: f64,
    #[serde(default)]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
}

/// A benchmark's answers: which mitigations it has adopted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    pub name: String,
    /// In the order given (the site applies them in this order).
    pub adopted: Vec<u32>,
    #[serde(default)]
    pub absent: Vec<u32>,
    /// Hidden on the site (still scored).
    #[serde(default)]
    pub hidden: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Where the data came from (`shipped (BenchRisk f520c3c)`, a checkout path).
    pub source: String,
    pub modes: Vec<FailureMode>,
    pub mitigations: Vec<Mitigation>,
    pub benchmarks: Vec<Benchmark>,
}

/// A problem found in a registry or an answer set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub level: Level,
    /// What it concerns: a file and field, or a record.
    pub location: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Error,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(f, "{level}: {}: {}", self.location, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done: "read", "write", "create".
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] assay_rundir::Error),
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("the registry has {} error(s):\n{}", .0.len(), .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Rejected(Vec<Issue>),
    #[error("no benchmark `{name}` in the registry{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownBenchmark {
        name: String,
        suggestion: Option<String>,
    },
}

/// A text field of a checkout's record, whitespace collapsed.
fn original_text(original: Option<&Original>, field: &str) -> Option<String> {
    original
        .and_then(|o| o.fields.get(field))
        .and_then(|v| v.as_str())
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

impl FailureMode {
    /// What the failure is, in words: the checkout's `short` text when the registry
    /// came from one, else assay's wording.
    pub fn text(&self) -> String {
        original_text(self.original.as_ref(), "short").unwrap_or_else(|| self.summary.clone())
    }
}

impl Mitigation {
    /// What the mitigation asks: the checkout's question when the registry came from one,
    /// else assay's wording.
    pub fn text(&self) -> String {
        original_text(self.original.as_ref(), "questionStatement")
            .unwrap_or_else(|| self.summary.clone())
    }
}

impl Registry {
    pub fn mode(&self, id: u32) -> Option<&FailureMode> {
        self.modes.iter().find(|m| m.id == id)
    }

    pub fn mitigation(&self, id: u32) -> Option<&Mitigation> {
        self.mitigations.iter().find(|m| m.id == id)
    }

    /// The benchmark named `name` (case-insensitive), or an error suggesting the closest.
    pub fn benchmark(&self, name: &str) -> Result<&Benchmark, Error> {
        if let Some(b) = self
            .benchmarks
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(name))
        {
            return Ok(b);
        }
        let suggestion = self
            .benchmarks
            .iter()
            .map(|b| {
                (
                    edit_distance(&b.name.to_lowercase(), &name.to_lowercase()),
                    &b.name,
                )
            })
            .min()
            .filter(|(d, _)| *d <= name.len().max(3) / 2 + 1)
            .map(|(_, n)| n.clone());
        Err(Error::UnknownBenchmark {
            name: name.to_owned(),
            suggestion,
        })
    }

    /// The mitigations a benchmark author is asked about: those of failure modes with a
    /// severity above zero (the site's submission template lists exactly these).
    pub fn offered(&self) -> Vec<&Mitigation> {
        let live: BTreeSet<u32> = self
            .modes
            .iter()
            .filter(|m| m.severity > 0.0)
            .map(|m| m.id)
            .collect();
        let mut out: Vec<&Mitigation> = self
            .mitigations
            .iter()
            .filter(|m| live.contains(&m.mode))
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    /// Problems in the registry itself: errors make it unusable, warnings do not.
    pub fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let mut err = |location: String, message: String| {
            issues.push(Issue {
                level: Level::Error,
                location,
                message,
            })
        };
        let mut seen = BTreeSet::new();
        for m in &self.modes {
            let at = format!("failure mode {}", m.id);
            if !seen.insert(m.id) {
                err(at.clone(), "the id appears twice".into());
            }
            if !(0.0..=1.0).contains(&m.severity) || m.severity.is_nan() {
                err(
                    format!("{at}, field `severity`"),
                    format!("{} is outside [0, 1]", m.severity),
                );
            }
            if !(1..=7).contains(&m.stage) {
                err(
                    format!("{at}, field `stage`"),
                    format!("{} is not a stage 1-7", m.stage),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for m in &self.mitigations {
            let at = format!("mitigation {}", m.id);
            if !seen.insert(m.id) {
                err(at.clone(), "the id appears twice".into());
            }
            if self.mode(m.mode).is_none() {
                err(
                    format!("{at}, field `mitigatedNumber`"),
                    format!("points at failure mode {}, which does not exist", m.mode),
                );
            }
            for (field, v) in [
                ("likelihoodReductionPercent", m.likelihood_reduction),
                ("severityReductionPercent", m.severity_reduction),
            ] {
                if !(0.0..=100.0).contains(&v) || v.is_nan() {
                    err(
                        format!("{at}, field `{field}`"),
                        format!("{v} is outside [0, 100]"),
                    );
                }
            }
        }
        let mut names = BTreeSet::new();
        for b in &self.benchmarks {
            if !names.insert(b.name.to_lowercase()) {
                err(
                    format!("benchmark {}", b.name),
                    "the name appears twice".into(),
                );
            }
        }
        for b in &self.benchmarks {
            issues.extend(self.check_answers(b));
        }
        issues
    }

    /// Problems in one answer set. The scorer treats them as the site does (unknown ids
    /// ignored, a duplicate applied twice, an id both adopted and absent counted as
    /// adopted); these warnings say where that happened.
    pub fn check_answers(&self, b: &Benchmark) -> Vec<Issue> {
        let mut issues = Vec::new();
        let at = format!("benchmark {}", b.name);
        let mut warn = |message: String| {
            issues.push(Issue {
                level: Level::Warning,
                location: at.clone(),
                message,
            })
        };
        let adopted: BTreeSet<u32> = b.adopted.iter().copied().collect();
        let absent: BTreeSet<u32> = b.absent.iter().copied().collect();
        for (list, ids) in [("adopted", &b.adopted), ("absent", &b.absent)] {
            let unknown: Vec<u32> = ids
                .iter()
                .copied()
                .filter(|&i| self.mitigation(i).is_none())
                .collect();
            if !unknown.is_empty() {
                warn(format!(
                    "{list} mitigations {unknown:?} are not in the registry (ignored)"
                ));
            }
            let mut counts = BTreeMap::new();
            for &i in ids.iter() {
                *counts.entry(i).or_insert(0) += 1;
            }
            let dups: Vec<u32> = counts
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|(i, _)| i)
                .collect();
            if !dups.is_empty() {
                let effect = if list == "adopted" {
                    " (each applied as often as listed, as the site does)"
                } else {
                    ""
                };
                warn(format!(
                    "{list} mitigations {dups:?} are listed more than once{effect}"
                ));
            }
        }
        let both: Vec<u32> = adopted.intersection(&absent).copied().collect();
        if !both.is_empty() {
            warn(format!(
                "mitigations {both:?} are both adopted and absent (counted as adopted, as the site does)"
            ));
        }
        let unanswered: Vec<u32> = self
            .offered()
            .iter()
            .map(|m| m.id)
            .filter(|i| !adopted.contains(i) && !absent.contains(i))
            .collect();
        if !unanswered.is_empty() {
            warn(format!(
                "{} offered mitigations are neither adopted nor absent (counted as absent): {unanswered:?}",
                unanswered.len()
            ));
        }
        issues
    }

    /// Errors if any, else the warnings.
    pub fn checked(self) -> Result<(Self, Vec<Issue>), Error> {
        let issues = self.validate();
        let (errors, warnings): (Vec<Issue>, Vec<Issue>) =
            issues.into_iter().partition(|i| i.level == Level::Error);
        if errors.is_empty() {
            Ok((self, warnings))
        } else {
            Err(Error::Rejected(errors))
        }
    }

    /// The figures (and assay's wording), without original texts: what assay ships.
    pub fn figures_only(&self) -> Registry {
        let mut r = self.clone();
        r.modes.iter_mut().for_each(|m| m.original = None);
        r.mitigations.iter_mut().for_each(|m| m.original = None);
        r.benchmarks.iter_mut().for_each(|b| b.original = None);
        r
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_dimensions_parse_exactly() {
        assert_eq!(parse_stage("(1) Task Definition"), Some(1));
        assert_eq!(parse_stage("(7) Upkeep"), Some(7));
        assert_eq!(parse_stage("(8) Upkeep"), None);
        assert_eq!(parse_stage("(2) Upkeep"), None);
        assert_eq!(stage_label(3), "(3) Prompt Inferencing");
        assert_eq!(Dimension::parse("Longevity"), Some(Dimension::Longevity));
        assert_eq!(Dimension::parse("longevity"), None);
    }

    #[test]
    fn edit_distance_suggests() {
        assert_eq!(edit_distance("hellaswag", "hellaswg"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
