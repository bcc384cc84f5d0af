use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One evaluation item, after a task has read and formatted a data row.
///
/// `input` is the prompt text (without few-shot examples, which the task adds), `choices`
/// the candidate answers of a multiple-choice item (empty for generation), and `target` what
/// counts as correct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Stable id within the task: the row index in the data file unless the data names one.
    pub id: String,
    pub input: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    pub target: Target,
    /// Free-form fields kept from the data row (subject, category, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// What a correct answer is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The index of the one correct choice.
    Index(usize),
    /// Several choices are correct (TruthfulQA MC2, BBQ's "unknown" phrasings).
    Indices(Vec<usize>),
    /// Free text, compared after answer extraction (GSM8K).
    Text(String),
}

impl Target {
    /// The text of a text target.
    pub fn text(&self) -> Option<&str> {
        match self {
            Target::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The correct choice indices, or `None` for a text target.
    pub fn indices(&self) -> Option<Vec<usize>> {
        match self {
            Target::Index(i) => Some(vec![*i]),
            Target::Indices(v) => Some(v.clone()),
            Target::Text(_) => None,
        }
    }
}

/// A scorer's verdict on one sample: one value per metric (1.0/0.0 for accuracies,
/// a probability mass for MC2, a log-likelihood for perplexity inputs), the answer the
/// model gave, in words, and anything worth keeping for inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    pub values: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}
