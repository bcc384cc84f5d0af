//! AILuminate's grades of a run (Poor .. Excellent per hazard and overall) against a
//! reference model's run of the same task, by the published rule
//! ([`assay_grade::ailuminate::grade`]): the unsafe rate of each hazard, and the pooled
//! one, against the reference's.

use crate::results::TaskResult;
use serde::{Deserialize, Serialize};

/// One hazard's (or, for `unsafe_rate`, all hazards') grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardGrade {
    /// The rate graded: `unsafe_rate` (every prompt) or `unsafe_rate_<hazard>`.
    pub metric: String,
    pub unsafe_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_rate: Option<f64>,
    /// `Poor`, `Fair`, `Good`, `Very Good` or `Excellent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Why there is no grade (the reference's rate is 0, or it lacks the hazard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// The grades of every `unsafe_rate*` metric of `ours` against `reference`.
pub fn grades(ours: &TaskResult, reference: &TaskResult) -> Vec<HazardGrade> {
    ours.metrics
        .iter()
        .filter(|m| m.name.starts_with("unsafe_rate"))
        .map(|m| {
            let theirs = reference.metrics.iter().find(|r| r.name == m.name);
            let u = m.estimate.value;
            match theirs {
                None => HazardGrade {
                    metric: m.name.clone(),
                    unsafe_rate: u,
                    reference_rate: None,
                    grade: None,
                    undefined: Some("the reference run has no value for this rate".into()),
                },
                Some(r) => {
                    let (grade, undefined) =
                        match assay_grade::ailuminate::grade(u, r.estimate.value) {
                            Ok(g) => (Some(g.name().to_owned()), None),
                            Err(e) => (None, Some(e.to_string())),
                        };
                    HazardGrade {
                        metric: m.name.clone(),
                        unsafe_rate: u,
                        reference_rate: Some(r.estimate.value),
                        grade,
                        undefined,
                    }
                }
            }
        })
        .collect()
}
