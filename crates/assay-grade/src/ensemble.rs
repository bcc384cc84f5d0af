//! Several graders as one: the mean of their scores, or the majority of their flags
//! (a member flags when its score is at least 0.5). Every member must answer: one that
//! cannot makes the ensemble's verdict an error too, never a verdict of the rest.

use crate::{GradeError, Graded, Grader, GraderId, Verdict};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Score: the mean score; flagged when it is at least 0.5.
    Mean,
    /// Score: the share of members that flag; flagged when more than half do, `tie`
    /// when exactly half do.
    Majority,
}

pub struct Ensemble {
    members: Vec<Arc<dyn Grader>>,
    combine: Combine,
}

impl Ensemble {
    /// At least two members.
    pub fn new(members: Vec<Arc<dyn Grader>>, combine: Combine) -> Option<Self> {
        (members.len() >= 2).then_some(Self { members, combine })
    }
}

impl Grader for Ensemble {
    fn id(&self) -> GraderId {
        let ids: Vec<String> = self.members.iter().map(|m| m.id().to_string()).collect();
        GraderId {
            name: match self.combine {
                Combine::Mean => "mean".into(),
                Combine::Majority => "majority".into(),
            },
            version: ids.join(" + "),
        }
    }

    fn grade(&self, item: Graded<'_>) -> Result<Verdict, GradeError> {
        let verdicts = self
            .members
            .iter()
            .map(|m| m.grade(item))
            .collect::<Result<Vec<_>, _>>()?;
        let n = verdicts.len() as f64;
        let (score, label) = match self.combine {
            Combine::Mean => {
                let mean = verdicts.iter().map(|v| v.score).sum::<f64>() / n;
                (
                    mean,
                    if mean >= 0.5 {
                        "flagged"
                    } else {
                        "not_flagged"
                    },
                )
            }
            Combine::Majority => {
                let flags = verdicts.iter().filter(|v| v.score >= 0.5).count() as f64;
                let label = if 2.0 * flags > n {
                    "flagged"
                } else if 2.0 * flags == n {
                    "tie"
                } else {
                    "not_flagged"
                };
                (flags / n, label)
            }
        };
        let rationale = self
            .members
            .iter()
            .zip(&verdicts)
            .map(|(m, v)| format!("{}: {} ({:.4})", m.id().name, v.label, v.score))
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Verdict {
            label: label.into(),
            score,
            rationale: Some(rationale),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, f64);

    impl Grader for Fixed {
        fn id(&self) -> GraderId {
            GraderId {
                name: self.0.into(),
                version: "1".into(),
            }
        }
        fn grade(&self, _: Graded<'_>) -> Result<Verdict, GradeError> {
            if self.1.is_nan() {
                return Err(GradeError::Unavailable("down".into()));
            }
            Ok(Verdict {
                label: "x".into(),
                score: self.1,
                rationale: None,
            })
        }
    }

    fn item() -> Graded<'static> {
        Graded {
            prompt: "p",
            response: "r",
            reference: None,
        }
    }

    fn ensemble(scores: &[(&'static str, f64)], combine: Combine) -> Ensemble {
        Ensemble::new(
            scores
                .iter()
                .map(|&(n, s)| Arc::new(Fixed(n, s)) as Arc<dyn Grader>)
                .collect(),
            combine,
        )
        .unwrap()
    }

    #[test]
    fn mean_and_majority_by_hand() {
        let e = ensemble(&[("a", 0.9), ("b", 0.2), ("c", 0.6)], Combine::Mean);
        let v = e.grade(item()).unwrap();
        assert!((v.score - 1.7 / 3.0).abs() < 1e-15);
        assert_eq!(v.label, "flagged");
        assert_eq!(e.id().to_string(), "mean@a@1 + b@1 + c@1");
        let v = ensemble(&[("a", 0.9), ("b", 0.2), ("c", 0.6)], Combine::Majority)
            .grade(item())
            .unwrap();
        assert_eq!((v.label.as_str(), v.score), ("flagged", 2.0 / 3.0));
        let v = ensemble(&[("a", 0.5), ("b", 0.49)], Combine::Majority)
            .grade(item())
            .unwrap();
        assert_eq!((v.label.as_str(), v.score), ("tie", 0.5));
        // A member that cannot answer fails the ensemble: no verdict from the others.
        assert!(
            ensemble(&[("a", 0.9), ("b", f64::NAN)], Combine::Mean)
                .grade(item())
                .is_err()
        );
        assert!(Ensemble::new(vec![Arc::new(Fixed("a", 0.1))], Combine::Mean).is_none());
    }
}
