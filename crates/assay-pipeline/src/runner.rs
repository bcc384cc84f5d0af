//! Runs a pipeline's stages in order over a run directory, and says where a run stands.
//!
//! The directory (`assay-rundir`) pins the pipeline's identity: the same file resumes,
//! a changed one is refused with what changed. Stage `k` works in `NN-<name>/`; its
//! evaluations and side-by-side journals resume there, and its outcome is written to
//! `outcome.json` once it has decided, so a rerun reads it back instead of running it.
//! Which candidates enter a stage follows from the outcomes before it, so a rerun
//! sends the same candidates on. A stage that waits (for people's votes) writes no
//! outcome: the next run asks it again.

use crate::agreement::{StageAgreement, agreement};
use crate::candidate::Candidate;
use crate::report;
use crate::spec::Pipeline;
use crate::stage::{StageContext, StageOutcome, StageStatus, Verdict};
use crate::{Error, Execution, Models};
use assay_rundir::{Progress, RunDir};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;
pub const OUTCOME_FILE: &str = "outcome.json";
pub const RESULTS_FILE: &str = "results.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const SUMMARY_FILE: &str = "summary.md";

/// What the pipeline decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A candidate passed every stage and leads the last one.
    Ship,
    /// Every candidate stopped.
    NoneShips,
    /// A stage waits for people, or no candidate passed while some are inconclusive.
    Waiting,
    Inconclusive,
}

impl Outcome {
    /// Exit status for CI: 0 a candidate ships, 1 none does, 3 waiting or inconclusive
    /// (2 is an error).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ship => 0,
            Outcome::NoneShips => 1,
            Outcome::Waiting | Outcome::Inconclusive => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship: Option<String>,
    pub reason: String,
}

/// Where one candidate ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// The one that ships.
    Ships,
    /// Passed every stage, behind the one that ships.
    Passed,
    Stopped,
    Inconclusive,
    /// In a stage that waits.
    Waiting,
    /// The reference every candidate is measured against.
    Baseline,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelRow {
    pub candidate: String,
    pub model: String,
    /// Stages it passed.
    pub passed: Vec<String>,
    /// The stage where it stopped, was inconclusive or waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub fate: Fate,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub kind: String,
    /// Its folder, relative to the pipeline's run directory.
    pub dir: String,
    /// Candidates that entered it (the baseline excluded).
    pub entrants: Vec<String>,
    /// None: not reached (no candidate left, or an earlier stage waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<StageOutcome>,
}

/// `results.json` of a pipeline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub pipeline: String,
    pub baseline: String,
    pub decision: Decision,
    pub funnel: Vec<FunnelRow>,
    pub stages: Vec<StageRecord>,
    pub agreement: Vec<StageAgreement>,
    pub warnings: Vec<String>,
    pub assay_version: String,
}

/// A decided stage as kept in its folder: who entered, what it rested on, what it
/// decided.
#[derive(Serialize, Deserialize)]
struct Saved {
    entrants: Vec<String>,
    inputs: serde_json::Value,
    outcome: StageOutcome,
}

fn read_saved(path: &Path) -> Result<Option<Saved>, Error> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::Run(assay_rundir::Error::Damaged {
            path: path.to_owned(),
            message: e.to_string(),
        })
    })
}

fn stage_folder(index: usize, name: &str) -> String {
    format!("{:02}-{name}", index + 1)
}

/// Runs (or continues) the pipeline in `out`, writing `results.json`, `junit.xml` and
/// `summary.md` there when it has decided or stopped to wait.
pub fn run(
    pipeline: &Pipeline,
    out: &Path,
    models: &dyn Models,
    execution: &Execution,
    progress: &mut dyn Progress,
    say: &dyn Fn(&str),
) -> Result<Report, Error> {
    let (run_dir, _) = RunDir::open(out, &pipeline.identity())?;
    let baseline = pipeline.baseline();
    let mut alive: Vec<&Candidate> = pipeline
        .candidates
        .iter()
        .filter(|c| c.name != baseline.name)
        .collect();
    // candidate -> (stage, fate, reasons) once it leaves the funnel.
    let mut left: Vec<(String, String, Fate, Vec<String>)> = Vec::new();
    let mut passed: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut records = Vec::new();
    let mut waiting: Option<(String, String)> = None;
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let folder = stage_folder(i, stage.name());
        let mut record = StageRecord {
            name: stage.name().to_owned(),
            kind: stage.kind().to_owned(),
            dir: folder.clone(),
            entrants: alive.iter().map(|c| c.name.clone()).collect(),
            outcome: None,
        };
        if waiting.is_some() || alive.is_empty() {
            records.push(record);
            continue;
        }
        let dir = run_dir.join(&folder);
        let saved_path = dir.join(OUTCOME_FILE);
        let inputs = stage.inputs(&dir)?;
        let saved = read_saved(&saved_path)?.filter(|saved| {
            let same = Some(&saved.inputs) == inputs.as_ref() && saved.entrants == record.entrants;
            if !same {
                say(&format!(
                    "stage `{}`: {} since it decided; deciding again",
                    stage.name(),
                    if saved.entrants != record.entrants {
                        "other candidates reach it"
                    } else {
                        "its inputs changed (or are read afresh each run)"
                    }
                ));
            }
            same
        });
        let outcome: StageOutcome = if let Some(saved) = saved {
            say(&format!("stage `{}`: decided before", stage.name()));
            saved.outcome
        } else {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let mut ctx = StageContext {
                dir: dir.clone(),
                entrants: alive.clone(),
                baseline,
                models,
                execution,
                progress: &mut *progress,
                say,
            };
            let outcome = stage.run(&mut ctx)?;
            if outcome.status == StageStatus::Finished {
                let saved = Saved {
                    entrants: record.entrants.clone(),
                    inputs: inputs.unwrap_or(serde_json::Value::Null),
                    outcome: outcome.clone(),
                };
                let bytes = serde_json::to_vec_pretty(&saved).expect("outcome serializes");
                assay_rundir::write_atomic(&saved_path, &bytes)?;
            } else if saved_path.exists() {
                // A stage waiting again (votes withdrawn) has no decision to keep.
                std::fs::remove_file(&saved_path).map_err(|source| Error::Io {
                    path: saved_path.clone(),
                    source,
                })?;
            }
            outcome
        };
        match &outcome.status {
            StageStatus::Waiting { until } => {
                waiting = Some((stage.name().to_owned(), until.clone()));
            }
            StageStatus::Finished => {
                for result in &outcome.candidates {
                    match result.verdict {
                        Verdict::Advance => passed
                            .entry(result.candidate.clone())
                            .or_default()
                            .push(stage.name().to_owned()),
                        Verdict::Stop | Verdict::Inconclusive => {
                            let fate = if result.verdict == Verdict::Stop {
                                Fate::Stopped
                            } else {
                                Fate::Inconclusive
                            };
                            left.push((
                                result.candidate.clone(),
                                stage.name().to_owned(),
                                fate,
                                result.reasons.clone(),
                            ));
                            alive.retain(|c| c.name != result.candidate);
                        }
                    }
                }
            }
        }
        record.outcome = Some(outcome);
        records.push(record);
    }

    // The decision: the finalists' best by the last stage that ordered them.
    let last_order = records
        .iter()
        .rev()
        .filter_map(|r| r.outcome.as_ref())
        .find_map(|o| o.order.as_ref());
    let ranked: Vec<&Candidate> = {
        let mut v = alive.clone();
        if let Some(order) = last_order {
            v.sort_by(|x, y| {
                let value =
                    |c: &Candidate| order.score(&c.name).map_or(f64::NEG_INFINITY, |s| s.value);
                value(y).total_cmp(&value(x))
            });
        }
        v
    };
    let decision = if let Some((stage, until)) = &waiting {
        Decision {
            outcome: Outcome::Waiting,
            ship: None,
            reason: format!("stage `{stage}` waits for {until}"),
        }
    } else if let Some(best) = ranked.first() {
        let how = last_order
            .and_then(|o| {
                o.score(&best.name)
                    .map(|s| format!(" and leads by {} ({})", o.by, s.shown))
            })
            .unwrap_or_default();
        Decision {
            outcome: Outcome::Ship,
            ship: Some(best.name.clone()),
            reason: format!("`{}` passed every stage{how}", best.name),
        }
    } else if left.iter().any(|l| l.2 == Fate::Inconclusive) {
        Decision {
            outcome: Outcome::Inconclusive,
            ship: None,
            reason: format!(
                "no candidate passed every stage, and the evidence on {} is inconclusive: keep `{}` for now, or gather more",
                left.iter()
                    .filter(|l| l.2 == Fate::Inconclusive)
                    .map(|l| format!("`{}`", l.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                baseline.name
            ),
        }
    } else {
        Decision {
            outcome: Outcome::NoneShips,
            ship: None,
            reason: format!("every candidate stopped; keep `{}`", baseline.name),
        }
    };

    let mut funnel = vec![FunnelRow {
        candidate: baseline.name.clone(),
        model: baseline.model.clone(),
        passed: Vec::new(),
        at: None,
        fate: Fate::Baseline,
        reasons: vec!["the reference every candidate is measured against".into()],
    }];
    for c in pipeline
        .candidates
        .iter()
        .filter(|c| c.name != baseline.name)
    {
        let mine = passed.remove(&c.name).unwrap_or_default();
        let row = if let Some((_, stage, fate, reasons)) = left.iter().find(|l| l.0 == c.name) {
            FunnelRow {
                candidate: c.name.clone(),
                model: c.model.clone(),
                passed: mine,
                at: Some(stage.clone()),
                fate: *fate,
                reasons: reasons.clone(),
            }
        } else if let Some((stage, until)) = &waiting {
            FunnelRow {
                candidate: c.name.clone(),
                model: c.model.clone(),
                passed: mine,
                at: Some(stage.clone()),
                fate: Fate::Waiting,
                reasons: vec![format!("waits for {until}")],
            }
        } else if decision.ship.as_deref() == Some(&c.name) {
            FunnelRow {
                candidate: c.name.clone(),
                model: c.model.clone(),
                passed: mine,
                at: None,
                fate: Fate::Ships,
                reasons: vec![decision.reason.clone()],
            }
        } else {
            let behind = last_order
                .and_then(|o| {
                    o.score(&c.name)
                        .map(|s| format!(": {} by {}", s.shown, o.by))
                })
                .unwrap_or_default();
            FunnelRow {
                candidate: c.name.clone(),
                model: c.model.clone(),
                passed: mine,
                at: None,
                fate: Fate::Passed,
                reasons: vec![format!(
                    "passed every stage, behind `{}`{behind}",
                    decision.ship.as_deref().unwrap_or("-")
                )],
            }
        };
        funnel.push(row);
    }

    let orders: Vec<(&str, &crate::stage::Order)> = records
        .iter()
        .filter_map(|r| {
            let o = r.outcome.as_ref()?.order.as_ref()?;
            Some((r.name.as_str(), o))
        })
        .collect();
    let agreement = agreement(&orders);
    let mut warnings: Vec<String> = agreement.iter().filter_map(|a| a.warning.clone()).collect();
    for r in &records {
        if let Some(o) = &r.outcome {
            warnings.extend(o.notes.iter().map(|n| format!("stage `{}`: {n}", r.name)));
        }
    }
    let report = Report {
        schema: SCHEMA,
        pipeline: pipeline.path.display().to_string(),
        baseline: baseline.name.clone(),
        decision,
        funnel,
        stages: records,
        agreement,
        warnings,
        assay_version: execution.assay_version.clone(),
    };
    let json = serde_json::to_vec_pretty(&report).expect("report serializes");
    let junit = report::junit(&report);
    let summary = report::markdown(&report);
    assay_rundir::write_all_atomic(&[
        (&run_dir.join(RESULTS_FILE), &json),
        (&run_dir.join(JUNIT_FILE), junit.as_bytes()),
        (&run_dir.join(SUMMARY_FILE), summary.as_bytes()),
    ])?;
    Ok(report)
}

/// Where a pipeline run stands, read without touching it (it may be running).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub dir: PathBuf,
    pub stages: Vec<StageState>,
    /// The last report written (a decision, or a stop to wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageState {
    pub name: String,
    pub kind: String,
    /// `decided`, `started` (its folder exists, no outcome yet) or `not started`.
    pub state: &'static str,
}

pub fn status(dir: &Path) -> Result<Status, Error> {
    let run_dir = RunDir::existing(dir)?;
    #[derive(Deserialize)]
    struct Named {
        kind: String,
        name: String,
    }
    #[derive(Deserialize)]
    struct Identity {
        stages: Vec<Named>,
    }
    let identity: Identity = run_dir.spec()?;
    let stages = identity
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let folder = run_dir.join(stage_folder(i, &s.name));
            StageState {
                name: s.name.clone(),
                kind: s.kind.clone(),
                state: if folder.join(OUTCOME_FILE).is_file() {
                    "decided"
                } else if folder.is_dir() {
                    "started"
                } else {
                    "not started"
                },
            }
        })
        .collect();
    let results = run_dir.join(RESULTS_FILE);
    let report = if results.is_file() {
        let bytes = std::fs::read(&results).map_err(|source| Error::Io {
            path: results.clone(),
            source,
        })?;
        Some(serde_json::from_slice(&bytes).map_err(|e| {
            Error::Run(assay_rundir::Error::Damaged {
                path: results.clone(),
                message: e.to_string(),
            })
        })?)
    } else {
        None
    };
    Ok(Status {
        dir: dir.to_owned(),
        stages,
        report,
    })
}
