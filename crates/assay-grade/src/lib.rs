//! Graders: what turns a model's answer into a verdict a safety or quality metric counts.
//!
//! A [`Grader`] maps a prompt, a response and, where there is one, a reference answer to
//! a [`Verdict`] (a label, a score in [0, 1] and a rationale), and carries its identity
//! and version ([`GraderId`]), which every result records: numbers from different graders
//! are not comparable (HarmBench's heuristic and LLM-judged rates differ widely), so a
//! rate without the grader that produced it means little.
//!
//! [`agreement`] measures a grader against human labels (accuracy, Cohen's kappa, the
//! confusion table) where such labels exist.

pub mod agreement;
pub mod ailuminate;
pub mod ensemble;
pub mod guard;
pub mod judge;
pub mod refusal;
pub mod rules;

use serde::{Deserialize, Serialize};

/// Which grader produced a verdict, and which version of its rules or weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraderId {
    pub name: String,
    pub version: String,
}

impl std::fmt::Display for GraderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// One graded answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The class, in the grader's own vocabulary (`2_full_refusal`, `unsafe`, ...).
    pub label: String,
    /// How strongly the answer has the graded property, in [0, 1] (1: refused, unsafe,
    /// toxic); 0 or 1 for rule graders.
    pub score: f64,
    /// Why, in a few words (the rule that matched, the judge's reasoning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}

/// What a grader is asked to judge.
#[derive(Debug, Clone, Copy)]
pub struct Graded<'a> {
    pub prompt: &'a str,
    pub response: &'a str,
    pub reference: Option<&'a str>,
}

/// Why a grader gave no verdict. A run records it and resumes; it never falls back to
/// another grader or guesses.
#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    /// The grader answered, but not in a form its protocol allows (kept verbatim).
    #[error("the grader's reply could not be parsed: {reply:?}")]
    Unparsed { reply: String },
    /// The grader could not be reached or failed; running again may succeed.
    #[error("the grader did not answer: {0}")]
    Unavailable(String),
}

/// Maps an answer to a verdict.
pub trait Grader: Send + Sync {
    fn id(&self) -> GraderId;
    fn grade(&self, item: Graded<'_>) -> Result<Verdict, GradeError>;
}

impl std::fmt::Debug for dyn Grader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grader({})", self.id())
    }
}
