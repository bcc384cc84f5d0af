//! `kind = "benchmarks"`: every candidate (and the baseline) evaluated on the same items
//! of the same tasks, gates applied, and the best `top_k` by one metric moving on.
//!
//! ```toml
//! [[stage]]
//! kind = "benchmarks"
//! name = "offline"
//! tasks = ["arc_easy", "xstest"]          # built-in names or task files
//! limit = 200                             # or sample = 200 (seeded by sample_seed)
//! num_fewshot = 0                         # override the tasks' few-shot count
//! chat_template = false                   # wrap prompts in each model's chat template
//! max_tokens = 64                         # generation tasks' answer length (recorded)
//! judge = "default"                       # the model LLM-judged tasks ask (xstest_judged)
//! gates = [
//!   "xstest:unsafe_compliance <= 0.05",           # upper 95% bound at most 0.05
//!   "arc_easy:acc >= baseline - 0.02",            # non-inferior to the baseline
//! ]
//! rank_by = "arc_easy:acc"                # default: the first task's headline metric
//! lower_is_better = false
//! top_k = 2                               # default: every candidate that passes
//! ```
//!
//! A task graded by a served safety classifier (`kind = "remote"`) is connected through
//! the grader settings `assay pipeline run` takes (`--grader-model`, `--grader-base-url`).
//! A failed gate stops a candidate; a gate whose metric is undefined on this run makes
//! it inconclusive. Each candidate is compared with the baseline item by item
//! (`assay compare`'s paired tests), and each benchmark's BenchRisk profile is carried.

use crate::Error;
use crate::stage::{
    CandidateResult, Check, CheckOutcome, Order, Score, Setup, Stage, StageContext, StageOutcome,
    StageStatus, Verdict, keep_top,
};
use assay_eval::gate::{Baseline, Gate, GateVerdict};
use assay_tasks::{Selection, Task, TaskSource};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benchmarks {
    #[serde(skip_serializing)]
    kind: String,
    name: String,
    tasks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sample: Option<usize>,
    #[serde(default = "default_seed")]
    sample_seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    num_fewshot: Option<usize>,
    #[serde(default)]
    chat_template: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    judge: Option<String>,
    #[serde(default)]
    gates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rank_by: Option<String>,
    #[serde(default)]
    lower_is_better: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    /// Filled by `check`.
    #[serde(skip)]
    ready: Option<Ready>,
}

fn default_seed() -> u64 {
    1234
}

struct Ready {
    tasks: Vec<Task>,
    gates: Vec<Gate>,
    /// (task, metric) the order reads.
    rank_by: (String, String),
    selection: String,
}

pub(crate) fn build(item: Spanned<DeValue<'_>>) -> Result<Box<dyn Stage>, toml::de::Error> {
    Ok(Box::new(Benchmarks::deserialize(ValueDeserializer::from(
        item,
    ))?))
}

impl Benchmarks {
    fn ready(&self) -> &Ready {
        self.ready.as_ref().expect("checked before running")
    }
}

impl Stage for Benchmarks {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        debug_assert_eq!(self.kind, "benchmarks");
        "benchmarks"
    }

    fn settings(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("settings serialize");
        // The task definitions (not only their names) decide the numbers.
        if let (Some(ready), Some(map)) = (&self.ready, v.as_object_mut()) {
            map.insert(
                "definitions".into(),
                ready
                    .tasks
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "task": t.spec.name,
                            "sha256": assay_rundir::sha256_hex(t.source.text.as_bytes()),
                        })
                    })
                    .collect(),
            );
        }
        v
    }

    fn check(&mut self, setup: &Setup<'_>) -> Result<(), Error> {
        let fail = |m: String| Error::stage(&self.name, m);
        if self.tasks.is_empty() {
            return Err(fail("no tasks: name at least one in `tasks`".into()));
        }
        if self.top_k == Some(0) || self.max_tokens == Some(0) {
            return Err(fail("top_k and max_tokens must be at least 1".into()));
        }
        let selection = match (self.limit, self.sample) {
            (Some(_), Some(_)) => return Err(fail("give `limit` or `sample`, not both".into())),
            (Some(0), _) | (_, Some(0)) => {
                return Err(fail("`limit` and `sample` must be at least 1".into()));
            }
            (Some(n), None) => Selection::First(n),
            (None, Some(n)) => Selection::Random {
                n,
                seed: self.sample_seed,
            },
            (None, None) => Selection::All,
        };
        let Some(data_dir) = setup.data_dir else {
            return Err(fail(
                "no benchmark data: set `data_dir` in the pipeline file, --data-dir, or ASSAY_DATA_DIR".into(),
            ));
        };
        let mut tasks = Vec::new();
        for name in &self.tasks {
            let source = if name.ends_with(".toml") {
                TaskSource::resolve(
                    &crate::stage::resolve(setup.dir, std::path::Path::new(name)).to_string_lossy(),
                )
            } else {
                TaskSource::resolve(name)
            }
            .map_err(|e| fail(e.to_string()))?;
            let mut task = Task::load(source, data_dir, self.num_fewshot, selection)
                .map_err(|e| fail(e.to_string()))?;
            if let Some(n) = self.max_tokens
                && task.spec.output == assay_tasks::spec::OutputKind::Generate
            {
                task.spec.generate.get_or_insert_default().max_tokens = n;
            }
            // A served safety classifier is connected (and probed) now, before any work.
            if let Some((protocol, policy)) = task.needs_remote_grader() {
                let grader = setup
                    .models
                    .remote_grader(protocol, policy)
                    .map_err(|e| fail(format!("task `{name}`: {e}")))?;
                task.set_grader(grader);
            }
            tasks.push(task);
        }
        let judged = tasks
            .iter()
            .find(|t| !t.needs_judges().is_empty() || t.needs_judge_grader().is_some());
        match (judged, &self.judge) {
            (Some(t), None) => {
                return Err(fail(format!(
                    "task `{}` is scored by an LLM judge: name the judging model with `judge = \"MODEL\"`",
                    t.spec.name
                )));
            }
            (None, Some(_)) => {
                return Err(fail(
                    "`judge`: none of these tasks is scored by an LLM judge".into(),
                ));
            }
            (Some(_), Some(judge)) => {
                setup
                    .models
                    .check(judge)
                    .map_err(|m| fail(format!("judge: {m}")))?;
                let model = setup
                    .models
                    .judge(judge)
                    .map_err(|e| fail(format!("judge `{judge}`: {e}")))?;
                assay_eval::judge::connect(&mut tasks, &model);
            }
            (None, None) => {}
        }
        // A chat task on a model that cannot format one fails now, not after the other
        // candidates have run.
        if let Some(task) = tasks
            .iter()
            .find(|t| self.chat_template || t.spec.prompt.chat)
        {
            for c in setup.candidates {
                let model = c
                    .load(setup.models)
                    .map_err(|e| fail(format!("candidate `{}`: {e}", c.name)))?;
                if let Some(why) = assay_eval::chat_problem(&model) {
                    return Err(fail(format!(
                        "candidate `{}` cannot run task `{}`, whose prompts are chat messages: {why}; give the candidate a `chat_template` file",
                        c.name, task.spec.name
                    )));
                }
            }
        }
        let gates = self
            .gates
            .iter()
            .map(|g| g.parse::<Gate>().map_err(|e| fail(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        assay_eval::check_gates_before_baseline(&tasks, &gates).map_err(|e| fail(e.to_string()))?;
        let rank_by = match &self.rank_by {
            Some(text) => {
                let (task, metric) = text
                    .split_once(':')
                    .ok_or_else(|| fail(format!("rank_by `{text}`: write TASK:METRIC")))?;
                let t = tasks.iter().find(|t| t.spec.name == task).ok_or_else(|| {
                    fail(format!(
                        "rank_by `{text}`: `{task}` is not a task of this stage"
                    ))
                })?;
                if !t.metrics().iter().any(|m| m.name() == metric) {
                    return Err(fail(format!(
                        "rank_by `{text}`: task `{task}` reports {}",
                        t.metrics()
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                (task.to_owned(), metric.to_owned())
            }
            None => {
                let t = &tasks[0];
                let metric = t
                    .metrics()
                    .first()
                    .map(|m| m.name().to_owned())
                    .ok_or_else(|| fail(format!("task `{}` reports no metric", t.spec.name)))?;
                (t.spec.name.clone(), metric)
            }
        };
        self.ready = Some(Ready {
            tasks,
            gates,
            rank_by,
            selection: match selection {
                Selection::All => "all".to_owned(),
                Selection::First(n) => format!("first {n}"),
                Selection::Random { n, seed } => format!("random {n} (seed {seed})"),
            },
        });
        Ok(())
    }

    fn run(&self, ctx: &mut StageContext<'_>) -> Result<StageOutcome, Error> {
        let ready = self.ready();
        let stage = self.name.as_str();
        let config =
            |dir: std::path::PathBuf, gates: Vec<Gate>, baseline: Option<std::path::PathBuf>| {
                assay_eval::RunConfig {
                    output_dir: dir,
                    name: None,
                    apply_chat_template: self.chat_template,
                    selection: ready.selection.clone(),
                    command: ctx.execution.command.clone(),
                    threads: ctx.execution.threads,
                    batch_size: ctx.execution.batch_size,
                    assay_version: ctx.execution.assay_version.clone(),
                    git_revision: ctx.execution.git_revision.clone(),
                    gates,
                    baseline,
                    ailuminate_reference: None,
                }
            };
        // The baseline first: gates against it need its finished run. Gates relative to
        // the baseline do not apply to itself.
        let absolute: Vec<Gate> = ready
            .gates
            .iter()
            .filter(|g| !g.baseline)
            .cloned()
            .collect();
        let baseline = ctx.baseline.clone();
        let base_run = evaluate(
            ctx,
            stage,
            &baseline,
            &ready.tasks,
            &config(ctx.dir.join(&baseline.name), absolute, None),
        )?;
        let mut runs = Vec::new();
        for candidate in ctx.entrants.clone() {
            let run = evaluate(
                ctx,
                stage,
                candidate,
                &ready.tasks,
                &config(
                    ctx.dir.join(&candidate.name),
                    ready.gates.clone(),
                    Some(base_run.dir.clone()),
                ),
            )?;
            runs.push((candidate, run));
        }

        let (task, metric) = &ready.rank_by;
        let by = format!("{task}:{metric}");
        let value_of = |run: &assay_eval::Finished| -> Option<assay_stats::Estimate> {
            run.results
                .results
                .iter()
                .find(|r| &r.task == task)?
                .metrics
                .iter()
                .find(|m| &m.name == metric)
                .map(|m| m.estimate)
        };
        let sign = if self.lower_is_better { -1.0 } else { 1.0 };
        let mut notes: Vec<String> = base_run
            .results
            .gates
            .iter()
            .filter(|g| g.verdict != GateVerdict::Pass)
            .map(|g| {
                format!(
                    "the baseline `{}` does not pass gate `{}` either: {}",
                    baseline.name, g.gate, g.reason
                )
            })
            .collect();
        let mut scores = Vec::new();
        for (name, run) in std::iter::once((baseline.name.as_str(), &base_run))
            .chain(runs.iter().map(|(c, r)| (c.name.as_str(), r)))
        {
            match value_of(run) {
                Some(e) => scores.push(Score {
                    candidate: name.to_owned(),
                    value: sign * e.value,
                    stderr: Some(e.stderr),
                    shown: format!("{:.4} [{:.4}, {:.4}]", e.value, e.ci_low, e.ci_high),
                }),
                None => notes.push(format!(
                    "`{by}` is undefined for `{name}` on this run: it cannot be ordered by it"
                )),
            }
        }
        let order = Order { by, scores };

        let mut results = Vec::new();
        let mut comparisons = serde_json::Map::new();
        let base = Baseline::open(&base_run.dir).map_err(|e| Error::work(stage, e))?;
        for (candidate, run) in &runs {
            let checks: Vec<Check> = run
                .results
                .gates
                .iter()
                .map(|g| Check {
                    name: g.gate.to_string(),
                    outcome: match g.verdict {
                        GateVerdict::Pass => CheckOutcome::Pass,
                        GateVerdict::Fail => CheckOutcome::Fail,
                        GateVerdict::Undefined => CheckOutcome::Undefined,
                    },
                    detail: g.reason.clone(),
                })
                .collect();
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| c.outcome == CheckOutcome::Fail)
                .map(|c| format!("gate `{}` failed: {}", c.name, c.detail))
                .collect();
            let undefined: Vec<String> = checks
                .iter()
                .filter(|c| c.outcome == CheckOutcome::Undefined)
                .map(|c| format!("gate `{}` undefined: {}", c.name, c.detail))
                .collect();
            let verdict = if !failed.is_empty() {
                Verdict::Stop
            } else if !undefined.is_empty() {
                Verdict::Inconclusive
            } else {
                Verdict::Advance
            };
            results.push(CandidateResult {
                candidate: candidate.name.clone(),
                verdict,
                reasons: failed.into_iter().chain(undefined).collect(),
                checks,
            });
            let other = Baseline::open(&run.dir).map_err(|e| Error::work(stage, e))?;
            let comparison =
                assay_eval::compare::compare(&base, &other).map_err(|e| Error::work(stage, e))?;
            comparisons.insert(
                candidate.name.clone(),
                serde_json::to_value(&comparison).expect("comparison serializes"),
            );
            if candidate.system_prompt.is_some()
                && !self.chat_template
                && !ready.tasks.iter().any(|t| t.spec.prompt.chat)
            {
                notes.push(format!(
                    "candidate `{}`'s system prompt reaches no prompt of this stage (no chat task, `chat_template = false`)",
                    candidate.name
                ));
            }
        }
        keep_top(&mut results, &order, self.top_k);

        let run_of = |name: &str, run: &assay_eval::Finished| {
            serde_json::json!({
                "candidate": name,
                "run": run.dir.display().to_string(),
                "metrics": run.results.results.iter().map(|r| serde_json::json!({
                    "task": r.task,
                    "n": r.n,
                    "metrics": r.metrics,
                })).collect::<Vec<_>>(),
            })
        };
        let details = serde_json::json!({
            "runs": std::iter::once(run_of(&baseline.name, &base_run))
                .chain(runs.iter().map(|(c, r)| run_of(&c.name, r)))
                .collect::<Vec<_>>(),
            "against_baseline": comparisons,
            "benchrisk": base_run.results.results.iter()
                .filter_map(|r| r.benchrisk.as_ref().map(|p| serde_json::json!({"task": r.task, "profile": p})))
                .collect::<Vec<_>>(),
        });
        Ok(StageOutcome {
            status: StageStatus::Finished,
            candidates: results,
            order: Some(order),
            details,
            notes,
        })
    }
}

/// A candidate's finished run of the stage's tasks: found from an earlier attempt, or
/// run now (resuming its journal when a run was interrupted).
fn evaluate(
    ctx: &mut StageContext<'_>,
    stage: &str,
    candidate: &crate::candidate::Candidate,
    tasks: &[Task],
    config: &assay_eval::RunConfig,
) -> Result<assay_eval::Finished, Error> {
    let model = candidate
        .load(ctx.models)
        .map_err(|e| Error::work(stage, format!("candidate `{}`: {e}", candidate.name)))?;
    if let Some(done) = assay_eval::find_finished(&model, tasks, config) {
        (ctx.say)(&format!(
            "stage `{stage}`: candidate `{}` finished before ({})",
            candidate.name,
            done.dir.display()
        ));
        return Ok(done);
    }
    (ctx.say)(&format!(
        "stage `{stage}`: evaluating candidate `{}` ({})",
        candidate.name, candidate.model
    ));
    assay_eval::run(&model, tasks, config, ctx.progress)
        .map_err(|e| Error::work(stage, format!("candidate `{}`: {e}", candidate.name)))
}
