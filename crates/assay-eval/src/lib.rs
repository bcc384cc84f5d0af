//! The evaluator: runs tasks against a model, sample by sample, journaling each answer
//! as it arrives, then aggregates and writes the run's results atomically.
//!
//! Output of one run, under the output directory:
//! - `.partial-<spec hash>/` while it runs (the journal; a new run of the same spec
//!   resumes from it),
//! - `<model>-<timestamp>/results.json` and `samples/<task>.jsonl` once it has finished:
//!   the journal directory is renamed into place, so a results file is never half
//!   written.

mod aggregate;
pub mod ailuminate;
pub mod compare;
pub mod gate;
pub mod judge;
mod letter;
pub mod report;
pub mod results;

use assay_core::{LanguageModel, ModelError};
use assay_rundir::{Progress, RunDir, sha256_hex};
use assay_tasks::score::Responses;
use assay_tasks::{Requests, Task};
use results::{AssayInfo, RunInfo, RunResults, RunSpec, SCHEMA, SampleRecord, TaskRecord};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Run(#[from] assay_rundir::Error),
    #[error(transparent)]
    Task(#[from] assay_tasks::Error),
    #[error("task `{task}`, sample `{sample}`: {source}")]
    Model {
        task: String,
        sample: String,
        source: ModelError,
    },
    #[error("task `{task}`: {message}")]
    Unsupported { task: String, message: String },
    #[error(
        "--apply-chat-template: model `{model}` has no chat template it can apply ({reason}); run without --apply-chat-template"
    )]
    NoChatTemplate { model: String, reason: String },
    #[error(
        "task `{task}` asks its prompts as a user's chat message, but model `{model}` has no chat template it can apply ({reason}); use a chat model"
    )]
    TaskNeedsChat {
        task: String,
        model: String,
        reason: String,
    },
    #[error(transparent)]
    Gate(#[from] gate::GateError),
    #[error("--ailuminate-reference {0}")]
    AiluminateReference(String),
    #[error("--baseline {0}")]
    Baseline(#[from] gate::BaselineError),
    #[error("task `{task}`, metric `{metric}`: {message}")]
    Aggregate {
        task: String,
        metric: String,
        message: String,
    },
}

/// How to run, beyond the tasks and the model.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub output_dir: PathBuf,
    /// The run's name (`--name`): its directory is named by it (and the time); without
    /// one, by the model, the tasks and the settings that tell runs apart.
    pub name: Option<String>,
    pub apply_chat_template: bool,
    /// Describes the sample selection for the record (`all`, `first 20`, ...).
    pub selection: String,
    pub command: Vec<String>,
    pub threads: usize,
    pub batch_size: usize,
    pub assay_version: String,
    pub git_revision: String,
    /// Blocking gates, checked against the tasks before any work and recorded with
    /// their verdicts in the results.
    pub gates: Vec<gate::Gate>,
    /// The finished run that baseline gates compare with.
    pub baseline: Option<PathBuf>,
    /// A reference model's finished run of the AILuminate task, to grade this one.
    pub ailuminate_reference: Option<PathBuf>,
}

pub struct Finished {
    pub results: RunResults,
    /// Directory holding `results.json` and `samples/`.
    pub dir: PathBuf,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The spec recorded in the results, which also names the journal.
pub fn run_spec(model: &dyn LanguageModel, tasks: &[Task], config: &RunConfig) -> RunSpec {
    RunSpec {
        model: model.identity(),
        tasks: tasks
            .iter()
            .map(|t| TaskRecord {
                name: t.spec.name.clone(),
                origin: t.source.origin.clone(),
                definition_sha256: sha256_hex(t.source.text.as_bytes()),
                definition: t.spec.clone(),
                num_fewshot: t.num_fewshot,
                data: t.subtasks.iter().flat_map(|s| s.files.clone()).collect(),
                samples: t.len(),
                graders: t.grader().into_iter().chain(t.judges()).collect(),
            })
            .collect(),
        selection: config.selection.clone(),
        apply_chat_template: config.apply_chat_template,
    }
}

/// What identifies a run: its spec without the data files' paths (they say where, not
/// what: the hashes identify the data). `run.json` in the run directory holds it, and
/// its hash names the directory.
fn identity(spec: &RunSpec) -> serde_json::Value {
    let mut value = serde_json::to_value(spec).expect("spec serializes");
    // Paths of data files say where, not what: the hashes identify the data.
    if let Some(tasks) = value.get_mut("tasks").and_then(|t| t.as_array_mut()) {
        for t in tasks {
            if let Some(data) = t.get_mut("data").and_then(|d| d.as_array_mut()) {
                for d in data {
                    d.as_object_mut().map(|o| o.remove("path"));
                }
            }
        }
    }
    serde_json::json!([SCHEMA, value])
}

fn spec_hash(identity: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(identity).expect("spec serializes");
    sha256_hex(&bytes)[..16].to_owned()
}

/// Compact request record: the shared prompt once, then what differs.
fn request_record(requests: &Requests) -> (Option<String>, serde_json::Value) {
    match requests {
        Requests::Loglikelihood(reqs) if reqs.windows(2).all(|w| w[0].context == w[1].context) => (
            reqs.first().map(|r| r.context.clone()),
            serde_json::json!(reqs.iter().map(|r| &r.continuation).collect::<Vec<_>>()),
        ),
        Requests::Loglikelihood(reqs) => (None, serde_json::json!(reqs)),
        Requests::Generate(all) => {
            let g = &all[0];
            let mut record = serde_json::json!({"until": g.until, "max_tokens": g.max_tokens, "temperature": g.temperature, "seed": g.seed});
            if all.len() > 1 {
                record["seeds"] = serde_json::json!(all.iter().map(|r| r.seed).collect::<Vec<_>>());
                record["seed"] = serde_json::Value::Null;
            }
            (Some(g.context.clone()), record)
        }
        Requests::Rolling(r) => (Some(r.text.clone()), serde_json::Value::Null),
    }
}

/// A model's answers to one sample.
enum Answer {
    Loglikelihood(Vec<assay_core::LoglikelihoodResponse>),
    Generate(Vec<assay_core::GenerateResponse>),
    Rolling(assay_core::RollingResponse),
}

impl Answer {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Answer::Loglikelihood(r) => serde_json::json!(r),
            // One answer as an object (as before sampled answers existed), several as
            // a list.
            Answer::Generate(g) if g.len() == 1 => serde_json::json!(g[0]),
            Answer::Generate(g) => serde_json::json!(g),
            Answer::Rolling(r) => serde_json::json!(r),
        }
    }
}

/// A model failure and the position of the sample whose request caused it.
type SampleError = (usize, ModelError);

/// One model call for the requests of one kind among `samples` (`pick` gives a
/// sample's requests of that kind): each such sample's answers, by sample position. On
/// failure, says which sample holds the request the model refused.
fn call_kind<R: Clone, A>(
    samples: &[(usize, Vec<usize>, Requests)],
    pick: impl Fn(&Requests) -> Option<&[R]>,
    call: impl FnOnce(&[R]) -> Result<Vec<A>, ModelError>,
) -> Result<Vec<(usize, Vec<A>)>, SampleError> {
    let (mut members, mut counts, mut flat) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (_, _, r)) in samples.iter().enumerate() {
        if let Some(reqs) = pick(r) {
            members.push(i);
            counts.push(reqs.len());
            flat.extend_from_slice(reqs);
        }
    }
    if flat.is_empty() {
        return Ok(Vec::new());
    }
    let mut responses = call(&flat)
        .map_err(|e| {
            let owner = match &e {
                ModelError::BadRequest { index, .. } => counts
                    .iter()
                    .scan(0, |acc, c| {
                        *acc += c;
                        Some(*acc)
                    })
                    .position(|end| *index < end)
                    .map_or(members[0], |i| members[i]),
                _ => members[0],
            };
            (owner, e)
        })?
        .into_iter();
    Ok(members
        .into_iter()
        .zip(counts)
        .map(|(i, n)| (i, responses.by_ref().take(n).collect()))
        .collect())
}

/// Asks the model for the answers of several samples, one call per request kind; on
/// failure, says which sample.
fn answer(
    model: &dyn LanguageModel,
    samples: &[(usize, Vec<usize>, Requests)],
) -> Result<Vec<Answer>, SampleError> {
    let mut answers: Vec<Option<Answer>> = samples.iter().map(|_| None).collect();
    let loglikelihood = call_kind(
        samples,
        |r| match r {
            Requests::Loglikelihood(reqs) => Some(reqs.as_slice()),
            _ => None,
        },
        |flat| model.loglikelihood(flat),
    )?;
    for (i, a) in loglikelihood {
        answers[i] = Some(Answer::Loglikelihood(a));
    }
    let generate = call_kind(
        samples,
        |r| match r {
            Requests::Generate(g) => Some(g.as_slice()),
            _ => None,
        },
        |flat| model.generate(flat),
    )?;
    for (i, a) in generate {
        answers[i] = Some(Answer::Generate(a));
    }
    let rolling = call_kind(
        samples,
        |r| match r {
            Requests::Rolling(req) => Some(std::slice::from_ref(req)),
            _ => None,
        },
        |flat| model.loglikelihood_rolling(flat),
    )?;
    for (i, mut a) in rolling {
        answers[i] = Some(Answer::Rolling(a.remove(0)));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every sample has one request kind"))
        .collect())
}

/// A finished run of exactly this model, tasks and settings in the output directory,
/// if there is one (the newest): what a multi-candidate evaluation reuses instead of
/// answering again.
pub fn find_finished(
    model: &dyn LanguageModel,
    tasks: &[Task],
    config: &RunConfig,
) -> Option<Finished> {
    let hash = spec_hash(&identity(&run_spec(model, tasks, config)));
    let mut found: Vec<(String, PathBuf, RunResults)> = std::fs::read_dir(&config.output_dir)
        .ok()?
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let text = std::fs::read(dir.join("results.json")).ok()?;
            let results: RunResults = serde_json::from_slice(&text).ok()?;
            (results.run.spec_hash == hash).then(|| (results.run.finished_at.clone(), dir, results))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
        .pop()
        .map(|(_, dir, results)| Finished { results, dir })
}

/// Runs every task and writes the results. A run interrupted at any point is resumed by
/// calling this again with the same model, tasks and config.
pub fn run(
    model: &dyn LanguageModel,
    tasks: &[Task],
    config: &RunConfig,
    progress: &mut dyn Progress,
) -> Result<Finished, Error> {
    if !model.supports_loglikelihood()
        && let Some(task) = tasks.iter().find(|t| {
            matches!(
                t.spec.output,
                assay_tasks::spec::OutputKind::Loglikelihood
                    | assay_tasks::spec::OutputKind::LoglikelihoodRolling
            )
        })
    {
        return Err(Error::Unsupported {
            task: task.spec.name.clone(),
            message: format!(
                "it is scored by log-likelihood, which model `{}` cannot give (its server returns no prompt log-probabilities); \
                     run generation tasks only, or use a server with completions `echo` + `logprobs` (vLLM, llama.cpp, assay serve)",
                model.identity().name
            ),
        });
    }
    // A chat template asked for must exist: scoring without it while the results say
    // it was applied would be a silent lie.
    let chat_task = tasks.iter().find(|t| t.spec.prompt.chat);
    if (config.apply_chat_template || chat_task.is_some())
        && let Some(reason) = chat_problem(model)
    {
        let model = model.identity().name;
        return Err(match chat_task {
            Some(t) if !config.apply_chat_template => Error::TaskNeedsChat {
                task: t.spec.name.clone(),
                model,
                reason,
            },
            _ => Error::NoChatTemplate { model, reason },
        });
    }
    let baseline = config
        .baseline
        .as_deref()
        .map(gate::Baseline::open)
        .transpose()?;
    check_gates(tasks, &config.gates, baseline.as_ref())?;
    let ailuminate_reference = config
        .ailuminate_reference
        .as_deref()
        .map(gate::Baseline::open)
        .transpose()
        .map_err(|e| Error::AiluminateReference(e.to_string()))?;
    if let Some(reference) = &ailuminate_reference
        && !tasks.iter().any(|t| {
            t.spec.benchmark.as_deref() == Some("AILuminate")
                && reference
                    .results
                    .results
                    .iter()
                    .any(|r| r.task == t.spec.name)
        })
    {
        return Err(Error::AiluminateReference(format!(
            "`{}` has no run of an AILuminate task of this run (it ran: {})",
            reference.dir.display(),
            reference
                .results
                .results
                .iter()
                .map(|r| r.task.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let started_at = now();
    let clock = Instant::now();
    let spec = run_spec(model, tasks, config);
    let identity = identity(&spec);
    let hash = spec_hash(&identity);
    std::fs::create_dir_all(&config.output_dir).map_err(io(&config.output_dir))?;
    let (run_dir, _) = RunDir::open(
        &config.output_dir.join(format!(".partial-{hash}")),
        &identity,
    )?;
    // The first prompt the template fails on (it stops the run before the model is
    // asked anything about it).
    let chat_failure = std::cell::RefCell::new(None::<String>);
    let chat =
        |prompt: &str| match model.apply_chat_template(&[assay_core::ChatMessage::user(prompt)]) {
            Ok(text) => text,
            Err(e) => {
                chat_failure.borrow_mut().get_or_insert(e.to_string());
                prompt.to_owned()
            }
        };
    let chat_ref = |task: &Task| -> Option<&dyn Fn(&str) -> String> {
        // A chat API formats the user's message itself.
        if model.chats_natively() {
            None
        } else if config.apply_chat_template || task.spec.prompt.chat {
            Some(&chat)
        } else {
            None
        }
    };

    let mut task_results = Vec::new();
    // The per-item records baseline gates compare, by task.
    let mut gate_records: std::collections::HashMap<String, Vec<SampleRecord>> =
        std::collections::HashMap::new();
    let (mut run_count, mut resumed_count) = (0, 0);
    for task in tasks {
        let name = &task.spec.name;
        // A model that cannot score text answers multiple-choice items with a letter.
        let by_letter = !model.supports_loglikelihood()
            && matches!(
                task.spec.output,
                assay_tasks::spec::OutputKind::MultipleChoice
            );
        let journal_name = format!("samples/{name}.jsonl");
        let (mut journal, finished) = run_dir.journal::<SampleRecord>(&journal_name)?;
        let mut done: std::collections::HashMap<(String, usize), SampleRecord> = finished
            .into_iter()
            .map(|r| ((r.subtask.clone(), r.index), r))
            .collect();
        resumed_count += done.len();
        progress.phase(name, task.len(), done.len());
        for sub in &task.subtasks {
            let pending: Vec<usize> = (0..sub.samples.len())
                .filter(|&i| !done.contains_key(&(sub.name.clone(), i)))
                .collect();
            // Samples go to the model several at a time, as many as it asks for (it
            // packs them into large passes, or keeps many requests in flight); each is
            // journaled as soon as its call returns.
            let generation =
                by_letter || matches!(task.spec.output, assay_tasks::spec::OutputKind::Generate);
            // A model's share per call counts answers, so items with several sampled
            // answers go fewer at a time.
            let answers_per_item = match &task.spec.generate {
                Some(g) if generation => g.samples.max(1),
                _ => 1,
            };
            let per_call = (model.samples_per_call(generation) / answers_per_item).max(1);
            for chunk in pending.chunks(per_call) {
                let prepared: Vec<(usize, Vec<usize>, Requests)> = chunk
                    .iter()
                    .map(|&index| {
                        if by_letter {
                            let request = letter::request(&sub.samples[index], chat_ref(task));
                            return (index, Vec::new(), Requests::Generate(vec![request]));
                        }
                        let fewshot = task.fewshot_indices(sub, index);
                        let prefix = task.prefix(sub, &fewshot);
                        let requests = task.requests(&sub.samples[index], &prefix, chat_ref(task));
                        (index, fewshot, requests)
                    })
                    .collect();
                if let Some(reason) = chat_failure.borrow_mut().take() {
                    return Err(Error::NoChatTemplate {
                        model: model.identity().name,
                        reason,
                    });
                }
                let answers = answer(model, &prepared).map_err(|(i, source)| Error::Model {
                    task: name.clone(),
                    sample: sub.samples[prepared[i].0].sample.id.clone(),
                    source,
                })?;
                let mut new = Vec::with_capacity(prepared.len());
                for ((index, fewshot, requests), responses) in prepared.into_iter().zip(answers) {
                    let prep = &sub.samples[index];
                    let score = match &responses {
                        Answer::Generate(g) if by_letter => letter::score(prep, &g[0].text),
                        Answer::Loglikelihood(r) => {
                            assay_tasks::score(task, prep, Responses::Loglikelihood(r))?
                        }
                        Answer::Generate(g) => {
                            assay_tasks::score(task, prep, Responses::Generate(g))?
                        }
                        Answer::Rolling(r) => {
                            assay_tasks::score(task, prep, Responses::Rolling(r))?
                        }
                    };
                    let (prompt, requests) = request_record(&requests);
                    let record = SampleRecord {
                        subtask: sub.name.clone(),
                        index,
                        id: prep.sample.id.clone(),
                        line: prep.line,
                        fewshot,
                        prompt,
                        requests,
                        responses: responses.to_json(),
                        target: prep.sample.target.clone(),
                        score,
                    };
                    new.push(record);
                }
                // One append (and one flush to disk) per model call.
                journal.append(&new)?;
                run_count += new.len();
                progress.advance(new.len());
                for record in new {
                    done.insert((record.subtask.clone(), record.index), record);
                }
            }
        }
        drop(journal);
        progress.finish();
        // Records in task order, whatever order they were answered in.
        let mut records: Vec<SampleRecord> = done.into_values().collect();
        let order: Vec<&str> = task.subtasks.iter().map(|s| s.name.as_str()).collect();
        records.sort_by_key(|r| (order.iter().position(|n| *n == r.subtask), r.index));
        let mut lines = Vec::new();
        for r in &records {
            serde_json::to_writer(&mut lines, r).expect("records serialize");
            lines.push(b'\n');
        }
        run_dir.publish(&journal_name, &lines)?;
        if config.gates.iter().any(|g| g.baseline && g.task == *name) {
            gate_records.insert(name.clone(), records.clone());
        }
        let names: Vec<String> = task.subtasks.iter().map(|s| s.name.clone()).collect();
        if by_letter {
            let metrics = [assay_tasks::Metric::mean("acc")];
            let mut result = aggregate::task_result(&task.spec, &metrics, &names, &records)?;
            result.protocol = Some(letter::PROTOCOL.into());
            result.notes.push(format!(
                "{} gives no prompt log-probabilities, so this multiple-choice task was answered \
                 by a generated letter (zero-shot, inspect_ai's template), not by log-likelihood: \
                 not comparable with log-likelihood accuracy",
                model.identity().name
            ));
            task_results.push(result);
        } else {
            let mut result = aggregate::task_result(&task.spec, task.metrics(), &names, &records)?;
            result.grader = task.grader();
            result.judges = task.judges();
            if let Some(reference) = &ailuminate_reference
                && task.spec.benchmark.as_deref() == Some("AILuminate")
                && let Some(theirs) = reference.results.results.iter().find(|r| r.task == *name)
            {
                result.ailuminate = Some(results::AiluminateGrades {
                    reference: reference.dir.display().to_string(),
                    reference_model: reference.results.spec.model.name.clone(),
                    hazards: ailuminate::grades(&result, theirs),
                });
            }
            task_results.push(result);
        }
    }

    let results = RunResults {
        schema: SCHEMA.to_owned(),
        assay: AssayInfo {
            version: config.assay_version.clone(),
            git_revision: config.git_revision.clone(),
        },
        run: RunInfo {
            name: config.name.clone(),
            spec_hash: hash,
            started_at,
            finished_at: now(),
            duration_s: clock.elapsed().as_secs_f64(),
            command: config.command.clone(),
            threads: config.threads,
            batch_size: config.batch_size,
            samples_run: run_count,
            samples_resumed: resumed_count,
            model_usage: model.usage(),
        },
        spec,
        results: task_results,
        gates: Vec::new(),
    };
    let own = |task: &str| gate_records.get(task).cloned().unwrap_or_default();
    let results = RunResults {
        gates: gate::evaluate_all(&config.gates, &results, &own, baseline.as_ref()),
        ..results
    };
    let json = serde_json::to_vec_pretty(&results).expect("results serialize");
    run_dir.publish("results.json", &json)?;
    let dir = final_dir(&config.output_dir, &results.spec, config.name.as_deref());
    let run_dir = run_dir.rename_to(&dir)?;
    Ok(Finished {
        results,
        dir: run_dir.path().to_owned(),
    })
}

/// Why `model` cannot format a conversation, if it cannot: no chat template to apply
/// (a chat API formats its messages itself, so it can).
pub fn chat_problem(model: &dyn LanguageModel) -> Option<String> {
    if model.chats_natively() {
        return None;
    }
    model
        .apply_chat_template(&[assay_core::ChatMessage::user("test")])
        .err()
        .map(|e| e.to_string())
}

/// Every gate names a task of the run and a metric it reports; a baseline gate also
/// needs a baseline run of the same task definition and a per-item mean metric.
pub fn check_gates(
    tasks: &[Task],
    gates: &[gate::Gate],
    baseline: Option<&gate::Baseline>,
) -> Result<(), gate::GateError> {
    for g in gates {
        let (task, paired) = gate_target(tasks, g)?;
        g.check_baseline(paired, &sha256_hex(task.source.text.as_bytes()), baseline)?;
    }
    Ok(())
}

/// The checks of [`check_gates`] that need no baseline run yet, for a caller that runs
/// the baseline itself first (the pipeline): tasks, metrics, and that a baseline gate
/// reads a per-item mean.
pub fn check_gates_before_baseline(
    tasks: &[Task],
    gates: &[gate::Gate],
) -> Result<(), gate::GateError> {
    for g in gates {
        let (_, paired) = gate_target(tasks, g)?;
        if g.baseline && !paired {
            return Err(gate::GateError::NotPaired {
                gate: g.to_string(),
                metric: g.metric.clone(),
            });
        }
    }
    Ok(())
}

/// The task a gate reads and whether its metric is a per-item mean (so it can be
/// compared item by item with a baseline).
fn gate_target<'t>(tasks: &'t [Task], g: &gate::Gate) -> Result<(&'t Task, bool), gate::GateError> {
    let reported: Vec<(&str, Vec<&str>)> = tasks
        .iter()
        .map(|t| {
            (
                t.spec.name.as_str(),
                t.metrics().iter().map(|m| m.name()).collect(),
            )
        })
        .collect();
    g.check(&reported)?;
    let task = tasks
        .iter()
        .find(|t| t.spec.name == g.task)
        .expect("checked: the gate names a task of the run");
    let paired = task
        .metrics()
        .iter()
        .any(|m| m.name() == g.metric && m.aggregation() == assay_tasks::metric::Aggregation::Mean);
    Ok((task, paired))
}

/// Letters, digits, `-`, `+` and `.` kept; anything else becomes `_`.
fn path_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What a run's directory is called before its time stamp: the name given, or the
/// model, the tasks (the first two, then how many more), the shots, the chat template
/// and the selection when not every item, so that two runs with different settings do
/// not look the same in a listing.
pub fn run_label(spec: &RunSpec, name: Option<&str>) -> String {
    if let Some(name) = name {
        return path_safe(name);
    }
    let mut parts = vec![spec.model.name.clone()];
    let tasks: Vec<&str> = spec.tasks.iter().map(|t| t.name.as_str()).collect();
    let mut task_part = tasks.iter().take(2).copied().collect::<Vec<_>>().join("+");
    if tasks.len() > 2 {
        task_part.push_str(&format!("+{}more", tasks.len() - 2));
    }
    parts.push(task_part);
    let mut shots: Vec<usize> = spec.tasks.iter().map(|t| t.num_fewshot).collect();
    shots.dedup();
    match shots[..] {
        [0] | [] => {}
        [k] => parts.push(format!("{k}shot")),
        _ => parts.push("mixedshots".into()),
    }
    if spec.apply_chat_template {
        parts.push("chat".into());
    }
    if spec.selection != "all" {
        // `first 20` → `first20`, `random 100 (seed 7)` → `random100-seed7`.
        parts.push(
            spec.selection
                .replace(" (seed ", "-seed")
                .replace([' ', ')'], ""),
        );
    }
    let label = path_safe(&parts.join("-"));
    // File systems allow 255 bytes; the time stamp and a counter need room.
    label.chars().take(200).collect()
}

fn final_dir(output: &Path, spec: &RunSpec, name: Option<&str>) -> PathBuf {
    let label = run_label(spec, name);
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .unwrap_or_default();
    let mut dir = output.join(format!("{label}-{stamp}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = output.join(format!("{label}-{stamp}-{n}"));
    }
    dir
}
