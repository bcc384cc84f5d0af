//! `kind = "ab"`: each candidate that reached it has run as the treatment of an online
//! experiment against the baseline (control); its rows are analysed as `assay ab
//! analyze` does (per-arm statistics, Welch or sequential intervals, CUPED, sample-ratio
//! check, correction across goal metrics, guardrails) and its decision is the verdict:
//! ship advances, do-not-ship (or a sample-ratio mismatch) stops, inconclusive waits.
//!
//! ```toml
//! [[stage]]
//! kind = "ab"
//! name = "online"
//! data = { brief = "ab/brief.csv", gemma = { sql = "SELECT ..." } }  # per candidate
//! variant = "variant"            # the column naming each unit's arm
//! control = "control"            # the baseline's arm
//! metrics = ["converted"]        # goals
//! guardrails = ["latency_ms"]
//! lower_is_better = ["latency_ms"]
//! ratio = { ctr = "clicks/views" }
//! covariate = { revenue = "pre_revenue" }   # CUPED
//! cap = { revenue = "99%" }
//! margin = { latency_ms = "2%" }
//! test = "sequential"            # or fixed
//! alternative = "two-sided"      # or greater / less (one-sided, in the effect's direction)
//! alpha = 0.05
//! correction = "holm"            # none | holm | benjamini-hochberg
//! database_env = "ASSAY_AB_DATABASE_URL"   # for `sql` sources
//! ```
//!
//! Besides `kind`, `name`, `data`, `database_env` and `top_k`, every key is the
//! analysis's, exactly as an experiment's file for `assay ab analyze --config` has it
//! ([`assay_ab::config::AnalysisConfig`]: also `post_stratify`, `prior_sd`, `weights`,
//! `time`, `missing`, ...); a team's experiment file can be pasted into the stage.
//!
//! Every candidate other than the baseline needs its data, checked (and analysed once)
//! before any model works, so a missing file or column never surfaces after hours.

use crate::Error;
use crate::stage::{
    CandidateResult, Check, CheckOutcome, Order, Score, Setup, Stage, StageContext, StageOutcome,
    StageStatus, Verdict, keep_top,
};
use assay_ab::analyze::{Analysis, Outcome, TestKind};
use assay_ab::config::AnalysisConfig;
use assay_ab::effect::Scale;
use assay_ab::source::Source;
use serde::de::Error as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Data {
    File(PathBuf),
    Query { sql: String },
}

/// An `ab` stage: its own keys, and an analysis (every other key, as an experiment's
/// file for `assay ab analyze --config` writes them).
#[derive(Clone, Debug, Serialize)]
pub struct Ab {
    #[serde(skip_serializing)]
    kind: String,
    name: String,
    data: BTreeMap<String, Data>,
    database_env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    #[serde(flatten)]
    analysis: AnalysisConfig,
    /// Resolved by `check`: each candidate's source.
    #[serde(skip)]
    sources: BTreeMap<String, Source>,
    /// A file's analysis and SHA-256, made once by `check` (the run reads them, so a
    /// file is read twice in all, not once per use).
    #[serde(skip)]
    checked: BTreeMap<String, (Analysis, String)>,
}

/// The keys that are the stage's rather than the analysis's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageKeys {
    kind: String,
    name: String,
    data: BTreeMap<String, Data>,
    #[serde(default = "default_database_env")]
    database_env: String,
    #[serde(default)]
    top_k: Option<usize>,
}

const STAGE_KEYS: [&str; 5] = ["kind", "name", "data", "database_env", "top_k"];

fn default_database_env() -> String {
    assay_ab::source::DATABASE_URL_VARIABLE.into()
}

/// The stage's table split in two, each half read strictly: a misspelt key or a value
/// out of its domain is reported at its own line and column.
pub(crate) fn build<'i>(item: Spanned<DeValue<'i>>) -> Result<Box<dyn Stage>, toml::de::Error> {
    let span = item.span();
    let DeValue::Table(table) = item.into_inner() else {
        // The pipeline's reader hands over tables only.
        return Err(toml::de::Error::custom("a stage must be a table"));
    };
    let (own, rest): (DeTable<'i>, DeTable<'i>) = table
        .into_iter()
        .partition(|(k, _)| STAGE_KEYS.contains(&k.get_ref().as_ref()));
    let table = |t: DeTable<'i>| -> ValueDeserializer<'i> {
        ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(t)))
    };
    let keys = StageKeys::deserialize(table(own))?;
    let analysis = AnalysisConfig::deserialize(table(rest))?;
    Ok(Box::new(Ab {
        kind: keys.kind,
        name: keys.name,
        data: keys.data,
        database_env: keys.database_env,
        top_k: keys.top_k,
        analysis,
        sources: BTreeMap::new(),
        checked: BTreeMap::new(),
    }))
}

impl Ab {
    /// The analysis of one candidate's experiment, as `assay ab analyze` makes it.
    fn analyse(&self, candidate: &str, source: &Source) -> Result<Analysis, String> {
        let a = &self.analysis;
        let specs = a.specs("").map_err(|e| e.to_string())?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let data = a
            .aggregate(source, &specs, threads)
            .map_err(|e| e.to_string())?;
        if !data.arms.iter().any(|arm| arm == &a.control) {
            return Err(format!(
                "{}: no unit in the control arm `{}` (arms: {})",
                data.source,
                a.control,
                data.arms.join(", ")
            ));
        }
        if data.arms.len() != 2 {
            return Err(format!(
                "{}: candidate `{candidate}`'s experiment must have two arms, the control `{}` and the candidate's; it has {}",
                data.source,
                a.control,
                data.arms.join(", ")
            ));
        }
        let options = a.options("").map_err(|e| e.to_string())?;
        assay_ab::analyze::analyze(&data, &options).map_err(|e| e.to_string())
    }
}

impl Stage for Ab {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        debug_assert_eq!(self.kind, "ab");
        "ab"
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("settings serialize")
    }

    fn check(&mut self, setup: &Setup<'_>) -> Result<(), Error> {
        let fail = |m: String| Error::stage(&self.name, m);
        if self.top_k == Some(0) {
            return Err(fail("top_k must be at least 1".into()));
        }
        if !self.analysis.segment.is_empty() {
            return Err(fail(
                "segment: a pipeline's A/B stage decides on the whole experiment; see the \
                 segments with `assay ab analyze --segment`"
                    .into(),
            ));
        }
        self.analysis.specs("").map_err(|e| fail(e.to_string()))?;
        self.analysis.options("").map_err(|e| fail(e.to_string()))?;
        for name in self.data.keys() {
            if name == &setup.baseline.name {
                return Err(fail(format!(
                    "`data` names the baseline `{name}`: it is the control arm of every candidate's experiment"
                )));
            }
            if !setup.candidates.iter().any(|c| &c.name == name) {
                return Err(fail(format!(
                    "`data` names `{name}`, which is not a candidate ({})",
                    crate::spec::names(setup.candidates)
                )));
            }
        }
        let mut sources = BTreeMap::new();
        let mut checked = BTreeMap::new();
        for c in setup
            .candidates
            .iter()
            .filter(|c| c.name != setup.baseline.name)
        {
            let Some(data) = self.data.get(&c.name) else {
                return Err(fail(format!(
                    "no experiment data for candidate `{}`: add it to `data` (every candidate that may reach this stage needs its own)",
                    c.name
                )));
            };
            let source = match data {
                Data::File(path) => {
                    let path = crate::stage::resolve(setup.dir, path);
                    if !path.is_file() {
                        return Err(fail(format!(
                            "candidate `{}`: experiment data `{}` does not exist",
                            c.name,
                            path.display()
                        )));
                    }
                    Source::File(path)
                }
                Data::Query { sql } => {
                    let url = std::env::var(&self.database_env).map_err(|_| {
                        fail(format!(
                            "candidate `{}` reads its experiment from SQL: set {} to the PostgreSQL connection string",
                            c.name, self.database_env
                        ))
                    })?;
                    Source::Postgres {
                        url,
                        query: sql.clone(),
                    }
                }
            };
            // A file is analysed now, so a missing column or arm fails before any model
            // works (a query is left for its turn: it may be costly).
            if let Source::File(path) = &source {
                let analysis = self
                    .analyse(&c.name, &source)
                    .map_err(|m| fail(format!("candidate `{}`: {m}", c.name)))?;
                let hash = assay_rundir::sha256_file(path)?;
                checked.insert(c.name.clone(), (analysis, hash));
            }
            sources.insert(c.name.clone(), source);
        }
        self.sources = sources;
        self.checked = checked;
        Ok(())
    }

    fn inputs(&self, _dir: &std::path::Path) -> Result<Option<serde_json::Value>, Error> {
        let mut hashes = serde_json::Map::new();
        for (candidate, source) in &self.sources {
            match (source, self.checked.get(candidate)) {
                (Source::File(_), Some((_, hash))) => {
                    hashes.insert(candidate.clone(), hash.clone().into());
                }
                // A query's rows keep coming: analyse again on every run.
                _ => return Ok(None),
            }
        }
        Ok(Some(serde_json::Value::Object(hashes)))
    }

    fn run(&self, ctx: &mut StageContext<'_>) -> Result<StageOutcome, Error> {
        let stage = self.name.as_str();
        let baseline = ctx.baseline.name.clone();
        let mut results = Vec::new();
        let mut scores = vec![Score {
            candidate: baseline.clone(),
            value: 0.0,
            stderr: Some(0.0),
            shown: "control".into(),
        }];
        let mut analyses = serde_json::Map::new();
        let mut by = String::new();
        for c in &ctx.entrants {
            let source = self
                .sources
                .get(&c.name)
                .expect("checked: every candidate has data");
            (ctx.say)(&format!(
                "stage `{stage}`: analysing candidate `{}`'s experiment",
                c.name
            ));
            let analysis = match self.checked.get(&c.name) {
                Some((analysis, _)) => analysis.clone(),
                None => self
                    .analyse(&c.name, source)
                    .map_err(|m| Error::work(stage, format!("candidate `{}`: {m}", c.name)))?,
            };
            // The report beside its numbers, as `assay ab analyze --out` writes them.
            let dir = ctx.dir.join(&c.name);
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let json = serde_json::to_string_pretty(&analysis).expect("analysis serializes") + "\n";
            let html = assay_ab::report::html(&analysis);
            assay_rundir::write_all_atomic(&[
                (&dir.join("report.html"), html.as_bytes()),
                (&dir.join("analysis.json"), json.as_bytes()),
            ])?;
            let decision = &analysis.decision;
            let outcome = match decision.outcome {
                Outcome::Ship => CheckOutcome::Pass,
                Outcome::DoNotShip | Outcome::Invalid => CheckOutcome::Fail,
                Outcome::Inconclusive => CheckOutcome::Undefined,
            };
            let verdict = match decision.outcome {
                Outcome::Ship => Verdict::Advance,
                Outcome::DoNotShip | Outcome::Invalid => Verdict::Stop,
                Outcome::Inconclusive => Verdict::Inconclusive,
            };
            let label = match decision.outcome {
                Outcome::Ship => "ship",
                Outcome::DoNotShip => "do not ship",
                Outcome::Inconclusive => "inconclusive",
                Outcome::Invalid => "invalid",
            };
            let reasons: Vec<String> = decision
                .reasons
                .iter()
                .map(|r| format!("A/B {label}: {r}"))
                .collect();
            results.push(CandidateResult {
                candidate: c.name.clone(),
                verdict,
                reasons: if verdict == Verdict::Advance {
                    Vec::new()
                } else {
                    reasons.clone()
                },
                checks: vec![Check {
                    name: format!(
                        "A/B decision ({} test)",
                        match self.analysis.test {
                            TestKind::Sequential => "sequential",
                            TestKind::Fixed => "fixed-horizon",
                        }
                    ),
                    outcome,
                    detail: format!("{label}: {}", decision.reasons.join("; ")),
                }],
            });
            // The order: the first goal metric's effect on the scale the decision reads.
            if let Some(metric) = analysis.metrics.first()
                && let Some(r) = metric.results.first()
            {
                let effect = match r.decision_scale {
                    Some(Scale::Relative) => r.comparison.relative.as_ref(),
                    _ => r.comparison.absolute.as_ref(),
                };
                let relative = matches!(r.decision_scale, Some(Scale::Relative));
                by = format!(
                    "{} lift of `{}` over `{baseline}`",
                    if relative { "relative" } else { "absolute" },
                    metric.name
                );
                if let Some(e) = effect.filter(|e| e.is_finite()) {
                    let sign = if metric.lower_is_better { -1.0 } else { 1.0 };
                    let interval = match self.analysis.test {
                        TestKind::Sequential => e.sequential,
                        TestKind::Fixed => e.fixed,
                    };
                    let fmt = |x: f64| {
                        if relative {
                            format!("{:+.2}%", 100.0 * x)
                        } else {
                            format!("{x:+.4}")
                        }
                    };
                    scores.push(Score {
                        candidate: c.name.clone(),
                        value: sign * e.estimate,
                        stderr: Some(e.std_error),
                        shown: format!(
                            "{} [{}, {}]",
                            fmt(e.estimate),
                            fmt(interval.lower),
                            fmt(interval.upper)
                        ),
                    });
                }
            }
            analyses.insert(
                c.name.clone(),
                serde_json::json!({
                    "dir": dir.display().to_string(),
                    "decision": decision,
                    "srm_p_value": analysis.srm.p_value,
                }),
            );
        }
        let order = Order { by, scores };
        keep_top(&mut results, &order, self.top_k);
        Ok(StageOutcome {
            status: StageStatus::Finished,
            candidates: results,
            order: Some(order),
            details: serde_json::Value::Object(analyses),
            notes: Vec::new(),
        })
    }
}
