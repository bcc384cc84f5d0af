//! Tasks: a declarative task file ([`spec::TaskSpec`], TOML with minijinja templates)
//! read together with its data into [`PreparedSample`]s, the requests each sample makes
//! of a model, and the per-sample scores of the answers.
//!
//! The built-in tasks (`tasks/*.toml`, compiled into the binary) mirror
//! lm-evaluation-harness's formats, and their `_lighteval` variants the formats that
//! model cards (SmolLM2's among them) publish.

mod bbq;
pub mod data;
pub mod metric;
pub mod prompt;
pub mod score;
pub mod spec;

use assay_core::{GenerateRequest, LoglikelihoodRequest, RollingRequest, Sample, Target};
use data::{DataFile, Row};
pub use metric::Metric;
use minijinja::Value;
use rand::SeedableRng;
use rand::seq::SliceRandom;
pub use score::score;
use serde::Serialize;
use spec::{ChoicesAre, OutputKind, Sampler, ScorerKind, TaskSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    TaskFile { origin: String, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("unknown task `{0}` (built-in tasks: {1})")]
    UnknownTask(String, String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! builtin_tasks {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../tasks/", $file)))),*]
    };
}

/// Task files shipped with assay: (file name, text).
pub const BUILTIN: &[(&str, &str)] = builtin_tasks![
    "hellaswag.toml",
    "hellaswag_lighteval.toml",
    "arc_easy.toml",
    "arc_easy_lighteval.toml",
    "arc_challenge.toml",
    "arc_challenge_lighteval.toml",
    "piqa.toml",
    "piqa_lighteval.toml",
    "winogrande.toml",
    "winogrande_lighteval.toml",
    "mmlu.toml",
    "mmlu_cloze.toml",
    "truthfulqa_mc1.toml",
    "truthfulqa_mc2.toml",
    "gsm8k.toml",
    "lambada_openai.toml",
    "xstest.toml",
    "xstest_judged.toml",
    "advbench.toml",
    "bbq.toml",
    "toxigen.toml",
    "ailuminate.toml",
    "quality.toml",
];

/// A task file's text and where it came from.
#[derive(Debug, Clone)]
pub struct TaskSource {
    /// `builtin:hellaswag.toml` or a path.
    pub origin: String,
    pub text: String,
}

impl TaskSource {
    /// A built-in task by name, or a task file by path (anything ending in `.toml`).
    pub fn resolve(name: &str) -> Result<Self> {
        if name.ends_with(".toml") || name.contains('/') {
            let path = Path::new(name);
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
            return Ok(Self {
                origin: name.to_owned(),
                text,
            });
        }
        let file = format!("{name}.toml");
        BUILTIN
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(f, text)| Self {
                origin: format!("builtin:{f}"),
                text: (*text).to_owned(),
            })
            .ok_or_else(|| Error::UnknownTask(name.to_owned(), builtin_names().join(", ")))
    }

    pub fn parse(&self) -> Result<TaskSpec> {
        toml::from_str(&self.text).map_err(|e| {
            let line = e
                .span()
                .map(|s| assay_core::input::line_column(&self.text, s.start).0);
            Error::TaskFile {
                origin: match line {
                    Some(l) => format!("{}:{l}", self.origin),
                    None => self.origin.clone(),
                },
                message: e.message().to_owned(),
            }
        })
    }
}

pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN
        .iter()
        .map(|(f, _)| f.trim_end_matches(".toml"))
        .collect()
}

/// A sample with what its task needs beyond the [`Sample`] itself.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedSample {
    pub sample: Sample,
    /// The shared continuation, when the choices are contexts (WinoGrande).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    /// This sample's answer text when it serves as a few-shot example.
    pub fewshot_answer: String,
    /// Line of the data file it came from.
    pub line: usize,
    /// Its class (`grader.class`), which selects the rates it counts in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// What the bias scores need (a task with a `[bias]` section).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<BiasItem>,
}

/// One item's part in BBQ-style bias scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BiasItem {
    /// Choices that follow the stereotype.
    pub biased: Vec<usize>,
    /// Choices that say the answer is unknown.
    pub unknown: Vec<usize>,
    /// An ambiguous context (the right answer is "unknown"), or a disambiguated one.
    pub ambiguous: bool,
}

/// One subtask's samples (a task without subtasks has one, named after the task).
#[derive(Debug)]
pub struct Subtask {
    pub name: String,
    pub samples: Vec<PreparedSample>,
    pub fewshot_pool: Vec<PreparedSample>,
    pub files: Vec<DataFile>,
    /// The rendered description, once per subtask.
    pub description: String,
}

/// A task ready to run: its definition, its data, and a template environment.
pub struct Task {
    pub spec: TaskSpec,
    pub source: TaskSource,
    pub subtasks: Vec<Subtask>,
    pub num_fewshot: usize,
    /// What scoring needs, checked and compiled once at load.
    pub(crate) scoring: score::Scoring,
}

/// Which samples to keep.
#[derive(Debug, Clone, Copy, Default)]
pub enum Selection {
    #[default]
    All,
    /// The first n of each subtask (lm-evaluation-harness's `--limit`).
    First(usize),
    /// A seeded random subset of n items across the whole task, in file order.
    Random { n: usize, seed: u64 },
}

impl Task {
    pub fn load(
        source: TaskSource,
        data_dir: &Path,
        num_fewshot: Option<usize>,
        selection: Selection,
    ) -> Result<Self> {
        let spec = source.parse()?;
        let scoring = compile(&spec, &source)?;
        let env = prompt::environment();
        let names = match &spec.subtasks {
            Some(s) => s.names.clone(),
            None => vec![spec.name.clone()],
        };
        let mut subtasks = Vec::with_capacity(names.len());
        for name in names {
            let path = data_dir.join(spec.data.path.replace("{subtask}", &name));
            let labels = spec.data.labels.as_ref().map(|l| data_dir.join(l));
            let (rows, mut files) = data::read_rows(
                &path,
                spec.data.format,
                &spec.data.columns,
                labels.as_deref(),
            )?;
            if rows.is_empty() {
                return Err(Error::Data {
                    path: path.clone(),
                    line: 1,
                    message: "no rows: the data file is empty".into(),
                });
            }
            let samples = prepare(&spec, &source, &env, &name, &path, rows)?;
            let mut fewshot_pool = Vec::new();
            if let Some(fs) = &spec.fewshot {
                let path = data_dir.join(fs.path.replace("{subtask}", &name));
                let (rows, fs_files) = data::read_rows(&path, spec.data.format, &fs.columns, None)?;
                fewshot_pool = prepare(&spec, &source, &env, &name, &path, rows)?;
                files.extend(fs_files);
            }
            let description = match &spec.prompt.description {
                Some(t) => env
                    .render_str(t, minijinja::context! { subtask => &name })
                    .map_err(|e| Error::TaskFile {
                        origin: source.origin.clone(),
                        message: format!("prompt.description: {e}"),
                    })?,
                None => String::new(),
            };
            subtasks.push(Subtask {
                name,
                samples,
                fewshot_pool,
                files,
                description,
            });
        }
        select(&mut subtasks, selection);
        let num_fewshot = num_fewshot.unwrap_or(spec.fewshot.as_ref().map_or(0, |f| f.k));
        if num_fewshot > 0 {
            for sub in &subtasks {
                if sub.fewshot_pool.len() < num_fewshot {
                    return Err(Error::TaskFile {
                        origin: source.origin.clone(),
                        message: format!(
                            "{num_fewshot} few-shot examples asked for, but subtask `{}` has {} (is `fewshot.path` set?)",
                            sub.name,
                            sub.fewshot_pool.len()
                        ),
                    });
                }
            }
        }
        Ok(Self {
            spec,
            source,
            subtasks,
            num_fewshot,
            scoring,
        })
    }

    /// The metrics the task reports, in its order (the first is the headline number).
    pub fn metrics(&self) -> &[Metric] {
        &self.scoring.metrics
    }

    /// The identity of the grader of a `grader`-scored task.
    pub fn grader(&self) -> Option<assay_grade::GraderId> {
        self.scoring.grader.as_ref().map(|g| g.id())
    }

    /// The protocol (and ShieldGemma policy) of a remote grader this task still needs
    /// ([`Task::set_grader`] gives it one).
    pub fn needs_remote_grader(&self) -> Option<(spec::RemoteProtocol, Option<&str>)> {
        let g = self.spec.grader.as_ref()?;
        match (g.protocol, &self.scoring.grader) {
            (Some(p), None) => Some((p, g.policy.as_deref())),
            _ => None,
        }
    }

    /// Gives a task its remote grader, connected by the caller.
    pub fn set_grader(&mut self, grader: std::sync::Arc<dyn assay_grade::Grader>) {
        self.scoring.grader = Some(grader);
    }

    /// The rubric of a `judge` grader this task still needs ([`Task::set_grader`]).
    pub fn needs_judge_grader(&self) -> Option<&spec::JudgeSpec> {
        match &self.scoring.grader {
            None => self.spec.grader.as_ref()?.judge.as_ref(),
            Some(_) => None,
        }
    }

    /// The judges this task still needs ([`Task::set_judges`] gives them).
    pub fn needs_judges(&self) -> &[spec::JudgeSpec] {
        if self.scoring.judges.is_empty() {
            &self.spec.judges
        } else {
            &[]
        }
    }

    /// Gives a task its judges, one per `[[judge]]` table, in order.
    pub fn set_judges(&mut self, judges: Vec<std::sync::Arc<dyn assay_grade::Grader>>) {
        assert_eq!(judges.len(), self.spec.judges.len(), "one judge per table");
        self.scoring.judges = judges;
    }

    /// The identities of a judged task's judges.
    pub fn judges(&self) -> Vec<assay_grade::GraderId> {
        self.scoring.judges.iter().map(|j| j.id()).collect()
    }

    /// The few-shot examples for a sample: indices into the subtask's pool.
    pub fn fewshot_indices(&self, subtask: &Subtask, sample_index: usize) -> Vec<usize> {
        let k = self.num_fewshot;
        if k == 0 {
            return Vec::new();
        }
        let fs = self
            .spec
            .fewshot
            .as_ref()
            .expect("validated: k > 0 has a pool");
        match fs.sampler {
            Sampler::FirstN => (0..k).collect(),
            Sampler::Random => {
                // Seeded per sample, so a sample's examples do not depend on which other
                // samples run (`--limit`) or in what order.
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                    fs.seed ^ (sample_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let mut idx: Vec<usize> = (0..subtask.fewshot_pool.len()).collect();
                idx.shuffle(&mut rng);
                idx.truncate(k);
                idx
            }
        }
    }

    /// The text before the sample's own question: description and few-shot examples.
    pub fn prefix(&self, subtask: &Subtask, fewshot: &[usize]) -> String {
        let p = &self.spec.prompt;
        let mut out = subtask.description.clone();
        for &i in fewshot {
            let ex = &subtask.fewshot_pool[i];
            match p.choices_are {
                ChoicesAre::Continuations => {
                    out.push_str(&ex.sample.input);
                    out.push_str(&p.target_delimiter);
                    out.push_str(&ex.fewshot_answer);
                }
                ChoicesAre::Contexts => {
                    out.push_str(&ex.fewshot_answer);
                    out.push_str(&p.target_delimiter);
                    out.push_str(ex.continuation.as_deref().unwrap_or_default());
                }
            }
            out.push_str(&p.fewshot_delimiter);
        }
        out
    }

    /// The requests one sample makes, given its prefix. `chat` wraps a prompt in the
    /// model's chat template; the target delimiter is then dropped, as
    /// lm-evaluation-harness does.
    pub fn requests(
        &self,
        prep: &PreparedSample,
        prefix: &str,
        chat: Option<&dyn Fn(&str) -> String>,
    ) -> Requests {
        let p = &self.spec.prompt;
        let wrap = |s: String| chat.map_or_else(|| s.clone(), |f| f(&s));
        let delimiter = if chat.is_some() {
            ""
        } else {
            p.target_delimiter.as_str()
        };
        let s = &prep.sample;
        match self.spec.output {
            OutputKind::MultipleChoice => Requests::Loglikelihood(match p.choices_are {
                ChoicesAre::Continuations => {
                    let context = wrap(format!("{prefix}{}", s.input));
                    s.choices
                        .iter()
                        .map(|c| LoglikelihoodRequest {
                            context: context.clone(),
                            continuation: format!("{delimiter}{c}"),
                        })
                        .collect()
                }
                ChoicesAre::Contexts => {
                    let cont = prep.continuation.as_deref().unwrap_or_default();
                    s.choices
                        .iter()
                        .map(|c| LoglikelihoodRequest {
                            context: wrap(format!("{prefix}{c}")),
                            continuation: format!("{delimiter}{cont}"),
                        })
                        .collect()
                }
            }),
            OutputKind::Loglikelihood => {
                // Targets of these tasks are text (checked at load).
                let t = s.target.text().unwrap_or_default();
                Requests::Loglikelihood(vec![LoglikelihoodRequest {
                    context: wrap(format!("{prefix}{}", s.input)),
                    continuation: format!("{delimiter}{t}"),
                }])
            }
            OutputKind::Generate => {
                let g = self.spec.generate.clone().unwrap_or_default();
                let context = wrap(format!("{prefix}{}", s.input));
                let request = |seed| GenerateRequest {
                    context: context.clone(),
                    until: g.until.clone(),
                    max_tokens: g.max_tokens,
                    temperature: g.temperature,
                    seed,
                };
                if g.samples <= 1 {
                    Requests::Generate(vec![request(None)])
                } else {
                    // Each answer's seed comes from the task, the item and its number,
                    // so a resumed or repeated run samples the same answers.
                    Requests::Generate(
                        (0..g.samples)
                            .map(|j| {
                                let key = format!("{}\u{0}{}\u{0}{j}", self.spec.name, s.id);
                                let digest = assay_rundir::sha256(key.as_bytes());
                                let seed =
                                    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
                                request(Some(seed))
                            })
                            .collect(),
                    )
                }
            }
            OutputKind::LoglikelihoodRolling => Requests::Rolling(RollingRequest {
                text: s.input.clone(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.subtasks.iter().map(|s| s.samples.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The requests of one sample, by kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requests {
    Loglikelihood(Vec<LoglikelihoodRequest>),
    /// One answer, or several sampled ones (`generate.samples`).
    Generate(Vec<GenerateRequest>),
    Rolling(RollingRequest),
}

/// The line of a task file where `key` is set (`key = ...` at the start of a line,
/// after the `[section]` header when one is named; of the `nth` such table for arrays
/// of tables like `[[extract]]`), for errors about that field.
fn field_line(text: &str, section: Option<&str>, key: &str, nth: usize) -> Option<usize> {
    let mut in_section = section.is_none();
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_matches(|c| c == '[' || c == ']').trim();
            in_section = section.is_some_and(|s| s == name);
            continue;
        }
        let is_key = t
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_section && is_key {
            if seen == nth {
                return Some(i + 1);
            }
            seen += 1;
        }
    }
    None
}

/// The first line of a task file holding `needle` (as written, or TOML-escaped).
fn line_containing(text: &str, needle: &str) -> Option<usize> {
    let escaped = needle.replace('\\', "\\\\").replace('"', "\\\"");
    text.lines()
        .position(|l| l.contains(needle) || l.contains(&escaped))
        .map(|i| i + 1)
}

/// A minijinja error as one line: its message without minijinja's "(in <string>:1)",
/// which names the template string, not the task file.
fn template_error(e: &minijinja::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (in <") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Checks that the task's parts fit together (output, scorer, metrics, regexes) and
/// compiles what scoring needs. Every mismatch names the file, line and field.
fn compile(spec: &TaskSpec, source: &TaskSource) -> Result<score::Scoring> {
    let err_nth = |section: Option<&str>, key: &str, nth: usize, message: String| {
        let line = field_line(&source.text, section, key, nth);
        let field = section.map_or_else(|| key.to_owned(), |s| format!("{s}.{key}"));
        Error::TaskFile {
            origin: match line {
                Some(l) => format!("{}:{l}", source.origin),
                None => source.origin.clone(),
            },
            message: format!("`{field}`: {message}"),
        }
    };
    let err = |section: Option<&str>, key: &str, message: String| err_nth(section, key, 0, message);
    // Template syntax is the task file's, so its errors point there, not at a data row.
    let env = prompt::environment();
    let p = &spec.prompt;
    for (key, template) in [
        ("input", Some(&p.input)),
        ("continuation", p.continuation.as_ref()),
        ("fewshot_target", p.fewshot_target.as_ref()),
        ("description", p.description.as_ref()),
    ] {
        if let Some(t) = template
            && let Err(e) = env.template_from_str(t)
        {
            return Err(err(Some("prompt"), key, template_error(&e)));
        }
    }
    for (key, expression) in [("choices", p.choices.as_ref()), ("target", Some(&p.target))] {
        if let Some(x) = expression
            && let Err(e) = env.compile_expression(x)
        {
            return Err(err(Some("prompt"), key, template_error(&e)));
        }
    }
    if spec.metrics.is_empty() {
        return Err(err(None, "metrics", "is empty".into()));
    }
    match spec.output {
        OutputKind::MultipleChoice if spec.prompt.choices.is_none() => {
            return Err(err(
                None,
                "output",
                "multiple_choice tasks need `prompt.choices`".into(),
            ));
        }
        _ => {}
    }
    if spec.prompt.choices_are == ChoicesAre::Contexts && spec.prompt.continuation.is_none() {
        return Err(err(
            Some("prompt"),
            "choices_are",
            "`contexts` needs `prompt.continuation`".into(),
        ));
    }
    let scorer = score::scorer(spec);
    let fits = match scorer {
        ScorerKind::Choice | ScorerKind::Mc2 => spec.output == OutputKind::MultipleChoice,
        ScorerKind::ExactMatch | ScorerKind::Grader | ScorerKind::Judge => {
            spec.output == OutputKind::Generate
        }
        ScorerKind::Perplexity => matches!(
            spec.output,
            OutputKind::Loglikelihood | OutputKind::LoglikelihoodRolling
        ),
    };
    if !fits {
        return Err(err(
            None,
            "scorer",
            format!(
                "`{}` cannot score a `{}` task ({})",
                scorer.name(),
                spec.output.name(),
                score::SCORERS_BY_OUTPUT
            ),
        ));
    }
    let mut extract = Vec::with_capacity(spec.extract.len());
    for (i, e) in spec.extract.iter().enumerate() {
        let re = regex::Regex::new(&e.regex).map_err(|x| {
            err_nth(
                Some("extract"),
                "regex",
                i,
                format!("extract `{}`: {x}", e.name),
            )
        })?;
        extract.push(re);
    }
    let mut ignore = Vec::with_capacity(spec.exact_match.regexes_to_ignore.len());
    for r in &spec.exact_match.regexes_to_ignore {
        let re = regex::Regex::new(r).map_err(|x| {
            let mut e = err(Some("exact_match"), "regexes_to_ignore", x.to_string());
            // Written inline (`exact_match = { ... }`): the line that holds the pattern.
            if let Error::TaskFile { origin, .. } = &mut e
                && *origin == source.origin
                && let Some(l) = line_containing(&source.text, r)
            {
                *origin = format!("{}:{l}", source.origin);
            }
            e
        })?;
        ignore.push(re);
    }
    let grader = match (scorer, &spec.grader) {
        (ScorerKind::Grader, None) => {
            return Err(err(
                None,
                "scorer",
                "`grader` needs a `[grader]` section".into(),
            ));
        }
        (ScorerKind::Grader, Some(g)) => grader(g, &err, false)?,
        (_, Some(_)) => {
            return Err(err(
                None,
                "grader",
                format!(
                    "a `[grader]` section needs `scorer = \"grader\"` (this task's scorer is `{}`)",
                    scorer.name()
                ),
            ));
        }
        (_, None) => None,
    };
    if let Some(g) = &spec.generate {
        if g.samples == 0 {
            return Err(err(
                Some("generate"),
                "samples",
                "is 0: an item needs at least one answer".into(),
            ));
        }
        if g.samples > 1 && !matches!(scorer, ScorerKind::Grader | ScorerKind::Judge) {
            return Err(err(
                Some("generate"),
                "samples",
                format!(
                    "is {}: several answers per item are graded (`scorer = \"grader\"`), not `{}`",
                    g.samples,
                    scorer.name()
                ),
            ));
        }
        if g.samples > 1 && g.temperature <= 0.0 {
            return Err(err(
                Some("generate"),
                "samples",
                format!(
                    "is {}, but greedy decoding (temperature 0) gives the same answer every time: set a temperature above 0",
                    g.samples
                ),
            ));
        }
    }
    check_judges(spec, scorer, &err)?;
    if spec.bias.is_some() && scorer != ScorerKind::Choice {
        return Err(err(
            None,
            "bias",
            format!(
                "a `[bias]` section needs a multiple-choice task scored by `choice` (this task's scorer is `{}`)",
                scorer.name()
            ),
        ));
    }
    let available = Metric::available(spec, scorer);
    let mut metrics = Vec::with_capacity(spec.metrics.len());
    for m in &spec.metrics {
        let Some(metric) = available.iter().find(|a| a.name() == m) else {
            let names: Vec<&str> = available.iter().map(Metric::name).collect();
            return Err(err(
                None,
                "metrics",
                format!(
                    "metric `{m}` is not available for this task (available: {})",
                    names.join(", ")
                ),
            ));
        };
        metrics.push(metric.clone());
    }
    Ok(score::Scoring {
        scorer,
        extract,
        ignore,
        metrics,
        grader,
        judges: Vec::new(),
    })
}

/// `[[judge]]` tables go with `scorer = "judge"` and back: distinct names, a rubric
/// that compiles, and either a scale or labels (with the flagged ones among them).
fn check_judges(
    spec: &TaskSpec,
    scorer: ScorerKind,
    err: &dyn Fn(Option<&str>, &str, String) -> Error,
) -> Result<()> {
    if (scorer == ScorerKind::Judge) == spec.judges.is_empty() {
        return Err(err(
            None,
            "scorer",
            "`scorer = \"judge\"` needs `[[judge]]` tables, and `[[judge]]` tables need it".into(),
        ));
    }
    for (i, j) in spec.judges.iter().enumerate() {
        let bad = |message: String| err(Some("judge"), &j.name, message);
        if spec.judges[..i].iter().any(|o| o.name == j.name) {
            return Err(bad("is named twice".into()));
        }
        if let Err(e) = prompt::environment().template_from_str(&j.rubric) {
            return Err(bad(format!("rubric: {}", template_error(&e))));
        }
        match (&j.scale, j.labels.is_empty()) {
            (Some([lo, hi]), true) if lo < hi => {}
            (Some(_), true) => {
                return Err(bad("scale: the lower end must be below the upper".into()));
            }
            (None, false) => {
                if let Some(f) = j.flagged.iter().find(|f| !j.labels.contains(f)) {
                    return Err(bad(format!("flagged label `{f}` is not among its labels")));
                }
            }
            _ => return Err(bad("give either a `scale` or `labels`".into())),
        }
        if j.max_tokens == 0 {
            return Err(bad("max_tokens is 0".into()));
        }
    }
    if let Some(g) = &spec.generate
        && scorer == ScorerKind::Judge
        && g.samples > 1
    {
        return Err(err(
            Some("generate"),
            "samples",
            "a judged task takes one answer per item".into(),
        ));
    }
    Ok(())
}

/// The grader a `[grader]` section describes, checked: patterns where the kind needs
/// them (and compiling), rates with distinct names, and `when` only with `class`.
fn grader(
    g: &spec::GraderSpec,
    err: &dyn Fn(Option<&str>, &str, String) -> Error,
    member: bool,
) -> Result<Option<std::sync::Arc<dyn assay_grade::Grader>>> {
    use spec::GraderKind;
    let needs_patterns = matches!(g.kind, GraderKind::Keywords | GraderKind::Regex);
    if needs_patterns && g.patterns.is_empty() {
        return Err(err(
            Some("grader"),
            "patterns",
            "is empty: a keyword or regex grader needs at least one".into(),
        ));
    }
    if !needs_patterns && !g.patterns.is_empty() {
        return Err(err(
            Some("grader"),
            "patterns",
            "only `keywords` and `regex` graders take patterns".into(),
        ));
    }
    if g.rates.is_empty() && !member {
        return Err(err(
            Some("grader"),
            "rates",
            "is empty: name at least one rate to report".into(),
        ));
    }
    if member && (!g.rates.is_empty() || g.class.is_some()) {
        return Err(err(
            Some("grader.members"),
            "rates",
            "an ensemble's members have no rates or class of their own (the ensemble's count)"
                .into(),
        ));
    }
    if (g.kind == GraderKind::Ensemble) != (g.combine.is_some() || !g.members.is_empty()) {
        return Err(err(
            Some("grader"),
            "members",
            "an `ensemble` grader has `combine` (`mean` or `majority`) and `[[grader.members]]`, and only it does".into(),
        ));
    }
    for (i, r) in g.rates.iter().enumerate() {
        if g.rates[..i].iter().any(|o| o.name == r.name) {
            return Err(err(
                Some("grader"),
                "rates",
                format!("rate `{}` is named twice", r.name),
            ));
        }
        if r.when.is_some() && g.class.is_none() {
            return Err(err(
                Some("grader"),
                "rates",
                format!(
                    "rate `{}` selects a class with `when`, but `grader.class` is not set",
                    r.name
                ),
            ));
        }
        if let Some(t) = r.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(err(
                Some("grader"),
                "rates",
                format!("rate `{}`: threshold {t} is not in [0, 1]", r.name),
            ));
        }
    }
    if (g.kind == GraderKind::Classifier) != g.classifier.is_some() {
        return Err(err(
            Some("grader"),
            "classifier",
            format!(
                "a `classifier` grader names one (`classifier = \"NAME\"`, one of: {}), and only it does",
                assay_classify::classifier_names()
            ),
        ));
    }
    if let Some(t) = &g.class
        && let Err(e) = prompt::environment().template_from_str(t)
    {
        return Err(err(Some("grader"), "class", template_error(&e)));
    }
    if (g.kind == GraderKind::Remote) != g.protocol.is_some() {
        return Err(err(
            Some("grader"),
            "protocol",
            "a `remote` grader names its protocol (`llama_guard_3`, `shieldgemma` or `openai_moderation`), and only it does".into(),
        ));
    }
    if g.policy.is_some() && g.protocol != Some(spec::RemoteProtocol::Shieldgemma) {
        return Err(err(
            Some("grader"),
            "policy",
            "only a ShieldGemma grader takes a policy".into(),
        ));
    }
    if (g.kind == GraderKind::Judge) != g.judge.is_some() {
        return Err(err(
            Some("grader"),
            "judge",
            "a `judge` grader has a `[grader.judge]` table (rubric, labels or scale), and only it does".into(),
        ));
    }
    if let Some(j) = &g.judge {
        if let Err(e) = prompt::environment().template_from_str(&j.rubric) {
            return Err(err(Some("grader.judge"), "rubric", template_error(&e)));
        }
        if j.labels.is_empty() || j.scale.is_some() {
            return Err(err(
                Some("grader.judge"),
                "labels",
                "a judge grader classifies: give its `labels` (and the `flagged` ones), not a scale".into(),
            ));
        }
    }
    let known: Vec<&String> = g.judge.iter().flat_map(|j| &j.labels).collect();
    for r in &g.rates {
        if let Some(l) = r.labels.iter().find(|l| !known.contains(l)) {
            return Err(err(
                Some("grader"),
                "rates",
                format!(
                    "rate `{}` counts label `{l}`, which is not one of the judge's labels",
                    r.name
                ),
            ));
        }
    }
    Ok(Some(match g.kind {
        // Connected when the task runs, with the server or model the user names.
        GraderKind::Remote | GraderKind::Judge if member => {
            return Err(err(
                Some("grader.members"),
                "kind",
                "an ensemble's members are rule and classifier graders (a served or judging model cannot be a member yet)".into(),
            ));
        }
        GraderKind::Remote | GraderKind::Judge => return Ok(None),
        GraderKind::Ensemble => {
            let mut members = Vec::with_capacity(g.members.len());
            for m in &g.members {
                members.push(grader(m, err, true)?.expect("members are built at load"));
            }
            let combine = g.combine.expect("checked above");
            std::sync::Arc::new(
                assay_grade::ensemble::Ensemble::new(members, combine).ok_or_else(|| {
                    err(
                        Some("grader"),
                        "members",
                        "an ensemble has at least two members".into(),
                    )
                })?,
            )
        }
        GraderKind::XstestStringMatch => {
            std::sync::Arc::new(assay_grade::refusal::XstestStringMatch)
        }
        GraderKind::Keywords => std::sync::Arc::new(
            assay_grade::rules::Patterns::keywords(&g.patterns)
                .map_err(|e| err(Some("grader"), "patterns", e.to_string()))?,
        ),
        GraderKind::Regex => std::sync::Arc::new(
            assay_grade::rules::Patterns::regex(&g.patterns)
                .map_err(|e| err(Some("grader"), "patterns", e.to_string()))?,
        ),
        GraderKind::Classifier => {
            let name = g.classifier.as_deref().expect("checked above");
            let catalogued = assay_classify::classifier_named(name).ok_or_else(|| {
                err(
                    Some("grader"),
                    "classifier",
                    format!(
                        "no classifier is called `{name}` (assay has: {})",
                        assay_classify::classifier_names()
                    ),
                )
            })?;
            // Fetched and converted at first use, like the default model (quietly: a
            // library does not print; `assay fetch NAME` shows the steps).
            let classifier = catalogued
                .ensure(&mut |_| {})
                .map_err(|e| err(Some("grader"), "classifier", e.to_string()))?;
            std::sync::Arc::new(assay_classify::ClassifierGrader::new(std::sync::Arc::new(
                classifier,
            )))
        }
    }))
}

/// Keeps the selected samples.
fn select(subtasks: &mut [Subtask], selection: Selection) {
    match selection {
        Selection::All => {}
        Selection::First(n) => {
            for s in subtasks {
                s.samples.truncate(n);
            }
        }
        Selection::Random { n, seed } => {
            let all: Vec<(usize, usize)> = subtasks
                .iter()
                .enumerate()
                .flat_map(|(si, s)| (0..s.samples.len()).map(move |i| (si, i)))
                .collect();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut chosen: Vec<(usize, usize)> = all
                .choose_multiple(&mut rng, n.min(all.len()))
                .copied()
                .collect();
            chosen.sort_unstable();
            for (si, s) in subtasks.iter_mut().enumerate() {
                let keep: std::collections::HashSet<usize> = chosen
                    .iter()
                    .filter(|(a, _)| *a == si)
                    .map(|(_, i)| *i)
                    .collect();
                let mut i = 0;
                s.samples.retain(|_| {
                    let k = keep.contains(&i);
                    i += 1;
                    k
                });
            }
        }
    }
}

/// Checks that every field a template names exists in the row, so a missing field is
/// reported by name.
fn check_fields(
    env: &minijinja::Environment<'static>,
    spec: &TaskSpec,
    source: &TaskSource,
    row: &Row,
    path: &Path,
) -> Result<()> {
    let p = &spec.prompt;
    // (field name, the template key that uses it), in the order a reader meets them.
    let mut uses: Vec<(String, &str)> = Vec::new();
    for (key, t) in [
        ("input", Some(&p.input)),
        ("continuation", p.continuation.as_ref()),
        ("fewshot_target", p.fewshot_target.as_ref()),
    ] {
        if let Some(Ok(tpl)) = t.map(|t| env.template_from_str(t)) {
            let mut names: Vec<String> = tpl.undeclared_variables(true).into_iter().collect();
            names.sort();
            uses.extend(names.into_iter().map(|n| (n, key)));
        }
    }
    for (key, e) in [("choices", p.choices.as_ref()), ("target", Some(&p.target))] {
        if let Some(Ok(expr)) = e.map(|e| env.compile_expression(e)) {
            let mut names: Vec<String> = expr.undeclared_variables(true).into_iter().collect();
            names.sort();
            uses.extend(names.into_iter().map(|n| (n, key)));
        }
    }
    for (name, key) in uses {
        // Functions the environment provides (`range`, `bbq_choices`) are not fields.
        let root = name.split('.').next().unwrap_or_default();
        if name == "subtask" || env.globals().any(|(g, _)| g == root) {
            continue;
        }
        let mut value = Some(serde_json::Value::Object(row.fields.clone()));
        for part in name.split('.') {
            value = value.and_then(|v| v.get(part).cloned());
        }
        if value.is_none() {
            let at = field_line(&source.text, Some("prompt"), key, 0).map_or_else(
                || source.origin.clone(),
                |l| format!("{}:{l}", source.origin),
            );
            let mut have: Vec<&str> = row.fields.keys().map(String::as_str).collect();
            have.sort();
            return Err(Error::Data {
                path: path.to_owned(),
                line: row.line,
                message: format!(
                    "field `{name}` is missing (used by `prompt.{key}` at {at}; the row has: {})",
                    have.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn prepare(
    spec: &TaskSpec,
    source: &TaskSource,
    env: &minijinja::Environment<'static>,
    subtask: &str,
    path: &Path,
    rows: Vec<Row>,
) -> Result<Vec<PreparedSample>> {
    let p = &spec.prompt;
    rows.into_iter()
        .enumerate()
        .map(|(index, row)| {
            check_fields(env, spec, source, &row, path)?;
            let line = row.line;
            let fail = |what: &str, e: &dyn std::fmt::Display| Error::Data {
                path: path.to_owned(),
                line,
                message: format!("{what}: {e}"),
            };
            // An unknown filter, test, function or method is the template's fault, not
            // the row's: it is reported at the task file's line, naming the row too.
            let template_fail = |what: &str, e: minijinja::Error| {
                use minijinja::ErrorKind::*;
                match e.kind() {
                    UnknownFilter | UnknownTest | UnknownFunction | UnknownMethod
                    | SyntaxError | BadEscape => {
                        let key = what.trim_start_matches("prompt.");
                        let at = field_line(&source.text, Some("prompt"), key, 0)
                            .map_or_else(|| source.origin.clone(), |l| format!("{}:{l}", source.origin));
                        Error::TaskFile {
                            origin: at,
                            message: format!(
                                "`{what}`: {} (rendering {}:{line})",
                                template_error(&e),
                                path.display()
                            ),
                        }
                    }
                    _ => fail(what, &template_error(&e)),
                }
            };
            let mut ctx: BTreeMap<String, Value> = row
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v))))
                .collect();
            ctx.insert("subtask".into(), Value::from(subtask));
            let ctx = Value::from(ctx);
            let render =
                |what: &str, t: &str| env.render_str(t, &ctx).map_err(|e| template_fail(what, e));
            let eval = |what: &str, e: &str| {
                env.compile_expression(e)
                    .and_then(|x| x.eval(&ctx))
                    .map_err(|e| template_fail(what, e))
            };
            let input = render("prompt.input", &p.input)?;
            let choices: Vec<String> = match &p.choices {
                Some(expr) => {
                    let v = eval("prompt.choices", expr)?;
                    v.try_iter()
                        .map_err(|e| fail("prompt.choices", &e))?
                        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
                        .collect()
                }
                None => Vec::new(),
            };
            let target_value = eval("prompt.target", &p.target)?;
            let target = to_target(&target_value, !choices.is_empty())
                .map_err(|m| fail("prompt.target", &m))?;
            // Generated answers and scored continuations are compared as text.
            let needs_text = matches!(spec.output, OutputKind::Generate | OutputKind::Loglikelihood);
            if needs_text && !matches!(target, Target::Text(_)) {
                return Err(fail(
                    "prompt.target",
                    &format!(
                        "`{target_value}` is not text, but a `{}` task compares text (write the target as text, e.g. `{{{{ answer | string }}}}`)",
                        spec.output.name()
                    ),
                ));
            }
            if let Some(indices) = target.indices() {
                if indices.is_empty() {
                    return Err(fail("prompt.target", &"no correct choice"));
                }
                if let Some(bad) = indices.iter().find(|&&i| i >= choices.len()) {
                    return Err(fail(
                        "prompt.target",
                        &format!(
                            "choice index {bad} is out of range for {} choices",
                            choices.len()
                        ),
                    ));
                }
            }
            let continuation = match &p.continuation {
                Some(t) => Some(render("prompt.continuation", t)?),
                None => None,
            };
            let class = match spec.grader.as_ref().and_then(|g| g.class.as_ref()) {
                Some(t) => Some(render("grader.class", t)?),
                None => None,
            };
            let bias = match &spec.bias {
                Some(b) => {
                    let indices = |what: &str, expr: &str| -> Result<Vec<usize>> {
                        let v = eval(what, expr)?;
                        let list: Option<Vec<usize>> = v
                            .try_iter()
                            .ok()
                            .map(|it| it.map(|x| usize::try_from(x).ok()).collect())
                            .and_then(|x: Option<Vec<usize>>| x);
                        match list {
                            Some(l) if l.iter().all(|&i| i < choices.len()) => Ok(l),
                            _ => Err(fail(
                                what,
                                &format!(
                                    "`{v}` is not a list of choice indices (0 to {})",
                                    choices.len().saturating_sub(1)
                                ),
                            )),
                        }
                    };
                    let context = render("bias.context", &b.context)?;
                    let ambiguous = match context.as_str() {
                        "ambig" => true,
                        "disambig" => false,
                        other => {
                            return Err(fail(
                                "bias.context",
                                &format!("`{other}` is neither `ambig` nor `disambig`"),
                            ));
                        }
                    };
                    Some(BiasItem {
                        biased: indices("bias.biased", &b.biased)?,
                        unknown: indices("bias.unknown", &b.unknown)?,
                        ambiguous,
                    })
                }
                None => None,
            };
            let fewshot_answer = match (&p.fewshot_target, &target) {
                (Some(t), _) => render("prompt.fewshot_target", t)?,
                (None, Target::Index(i)) => choices[*i].clone(),
                (None, Target::Indices(v)) => choices[v[0]].clone(),
                (None, Target::Text(t)) => t.clone(),
            };
            let id = row
                .fields
                .get("id")
                .or_else(|| row.fields.get("qID"))
                .and_then(|v| v.as_str())
                .map_or_else(|| format!("{subtask}/{index}"), str::to_owned);
            Ok(PreparedSample {
                sample: Sample {
                    id,
                    input,
                    choices,
                    target,
                    metadata: BTreeMap::new(),
                },
                continuation,
                fewshot_answer,
                line,
                class,
                bias,
            })
        })
        .collect()
}

fn to_target(v: &Value, has_choices: bool) -> std::result::Result<Target, String> {
    if let Some(s) = v.as_str() {
        if has_choices {
            return s
                .trim()
                .parse::<usize>()
                .map(Target::Index)
                .map_err(|_| format!("`{s}` is not a choice index"));
        }
        return Ok(Target::Text(s.to_owned()));
    }
    if let Ok(i) = usize::try_from(v.clone()) {
        return Ok(Target::Index(i));
    }
    if v.kind() == minijinja::value::ValueKind::Seq {
        let items: std::result::Result<Vec<usize>, _> = v
            .try_iter()
            .map_err(|e| e.to_string())?
            .map(|x| usize::try_from(x).map_err(|_| "indices must be whole numbers".to_string()))
            .collect();
        return items.map(Target::Indices);
    }
    Err(format!(
        "{v} is neither an index, a list of indices nor text"
    ))
}
