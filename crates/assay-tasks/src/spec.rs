//! The task file format: what a task file may say, checked strictly (an unknown field is
//! an error naming its line).

use serde::{Deserialize, Serialize};

/// A task definition, as written in a `.toml` task file. See `docs/tasks.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Task name, as given to `--tasks`.
    pub name: String,
    /// Version of this definition; bump it when prompts or scoring change.
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub description: String,
    /// Name of the benchmark this task measures (links to its BenchRisk profile).
    #[serde(default)]
    pub benchmark: Option<String>,
    /// Which format this mirrors (`lm-evaluation-harness`, `lighteval`).
    #[serde(default)]
    pub format: Option<String>,
    pub output: OutputKind,
    /// How per-sample values are computed: `choice` (argmax over choices), `mc2`
    /// (probability mass of the true choices), `exact_match`, `perplexity`, `grader`
    /// (a verdict on the generated answer, see `grader`), `judge` (LLM judges with
    /// rubrics, see `judge`).
    #[serde(default)]
    pub scorer: Option<ScorerKind>,
    /// Metrics to report, in order; the first is the headline number.
    pub metrics: Vec<String>,
    pub data: DataSpec,
    #[serde(default)]
    pub fewshot: Option<FewshotSpec>,
    pub prompt: PromptSpec,
    #[serde(default)]
    pub generate: Option<GenerateSpec>,
    /// Answer extraction for generation tasks; one metric per extractor.
    #[serde(default)]
    pub extract: Vec<ExtractSpec>,
    #[serde(default)]
    pub exact_match: ExactMatchSpec,
    /// A task made of subtasks (MMLU's subjects): `{subtask}` in data paths and
    /// `subtask` in templates take each name in turn.
    #[serde(default)]
    pub subtasks: Option<SubtasksSpec>,
    /// How a `grader`-scored task judges each answer (safety and quality tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grader: Option<GraderSpec>,
    /// LLM judges of a `judge`-scored task, each a rubric and a metric of its own
    /// (`[[judge]]` tables); the judging model is given when the task runs
    /// (`assay eval --judge MODEL`).
    #[serde(default, rename = "judge", skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<JudgeSpec>,
    /// Bias scores of a multiple-choice task in BBQ's design (ambiguous and
    /// disambiguated contexts, stereotyped answers, "unknown" answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<BiasSpec>,
}

/// One LLM judge: a rubric (a template over `prompt`, `response` and `reference`) and
/// how its reply is read: a rating on `scale` in MT-Bench's `[[N]]` format (the metric is
/// the mean rating), or one of `labels` (the metric is the share in `flagged`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// The metric's name (`helpfulness`).
    pub name: String,
    pub rubric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
    /// Longest judge reply, in tokens.
    #[serde(default = "default_judge_tokens")]
    pub max_tokens: usize,
}

fn default_judge_tokens() -> usize {
    256
}

/// What BBQ's bias scores need from each item: which choices follow the stereotype,
/// which say "unknown", and whether the context is ambiguous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiasSpec {
    /// Expression giving the indices of the stereotyped choices.
    pub biased: String,
    /// Expression giving the indices of the "unknown" choices.
    pub unknown: String,
    /// Template giving `ambig` or `disambig`.
    pub context: String,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// One log-likelihood request per choice; the best-scoring choice is the answer.
    MultipleChoice,
    /// Free generation, then answer extraction.
    Generate,
    /// Log-likelihood of the target given the input (LAMBADA).
    Loglikelihood,
    /// Log-likelihood of the whole input (perplexity).
    LoglikelihoodRolling,
}

impl OutputKind {
    /// The name a task file uses.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::MultipleChoice => "multiple_choice",
            OutputKind::Generate => "generate",
            OutputKind::Loglikelihood => "loglikelihood",
            OutputKind::LoglikelihoodRolling => "loglikelihood_rolling",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScorerKind {
    Choice,
    Mc2,
    ExactMatch,
    Perplexity,
    Grader,
    Judge,
}

impl ScorerKind {
    /// The name a task file uses.
    pub fn name(self) -> &'static str {
        match self {
            ScorerKind::Choice => "choice",
            ScorerKind::Mc2 => "mc2",
            ScorerKind::ExactMatch => "exact_match",
            ScorerKind::Perplexity => "perplexity",
            ScorerKind::Grader => "grader",
            ScorerKind::Judge => "judge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Path relative to the data directory (`--data-dir`), may contain `{subtask}`.
    pub path: String,
    pub format: DataFormat,
    /// For headerless CSV: the column names.
    #[serde(default)]
    pub columns: Vec<String>,
    /// A file with one label per line, joined to the rows as field `label` (PIQA).
    #[serde(default)]
    pub labels: Option<String>,
    /// Where the data lives on the Hugging Face Hub (`repo[:config]:split`), for reference.
    #[serde(default)]
    pub hub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    Jsonl,
    /// A JSON array of objects.
    Json,
    Csv,
    /// llama.cpp's HellaSwag text: 6 lines per item (context, gold, 4 endings).
    HellaswagText,
    /// Plain text, one item per non-blank line, as field `text`.
    Lines,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewshotSpec {
    /// Number of examples (`--num-fewshot` overrides).
    pub k: usize,
    /// Where examples come from (same format as `data`); may contain `{subtask}`.
    pub path: String,
    #[serde(default = "default_sampler")]
    pub sampler: Sampler,
    #[serde(default = "default_fewshot_seed")]
    pub seed: u64,
    #[serde(default)]
    pub columns: Vec<String>,
}

fn default_sampler() -> Sampler {
    Sampler::Random
}

fn default_fewshot_seed() -> u64 {
    1234
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// The first k examples, in file order (MMLU's dev set).
    FirstN,
    /// k examples drawn without replacement per sample, from a seeded generator.
    Random,
}

/// How a data row becomes a prompt. Templates and expressions are minijinja (Jinja2);
/// the row's fields are variables, and `subtask` holds the subtask's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// Template of the question text.
    pub input: String,
    /// Expression giving the list of choices (multiple choice).
    #[serde(default)]
    pub choices: Option<String>,
    /// Expression giving the correct choice index (or list of indices), or the target
    /// text for generation and log-likelihood tasks.
    pub target: String,
    /// Template prepended once before the few-shot examples.
    #[serde(default)]
    pub description: Option<String>,
    /// Template for a few-shot example's answer (default: the correct choice's text, or
    /// the target).
    #[serde(default)]
    pub fewshot_target: Option<String>,
    /// Put between a question and its answer (lm-evaluation-harness: one space).
    #[serde(default = "default_target_delimiter")]
    pub target_delimiter: String,
    /// Put between few-shot examples.
    #[serde(default = "default_fewshot_delimiter")]
    pub fewshot_delimiter: String,
    /// `continuations` (default): each choice is scored after the question.
    /// `contexts` (WinoGrande's partial scoring): each choice completes the context and
    /// the shared `continuation` is scored after it.
    #[serde(default)]
    pub choices_are: ChoicesAre,
    /// Template of the shared continuation when `choices_are = "contexts"`.
    #[serde(default)]
    pub continuation: Option<String>,
    /// The input is a user's message: it always goes through the model's chat template
    /// (a model without one is refused), as safety prompts are asked of chat models.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chat: bool,
}

fn default_target_delimiter() -> String {
    " ".into()
}

fn default_fewshot_delimiter() -> String {
    "\n\n".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoicesAre {
    #[default]
    Continuations,
    Contexts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    #[serde(default)]
    pub until: Vec<String>,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    #[serde(default)]
    pub temperature: f64,
    /// Answers sampled per item (RealToxicityPrompts' k = 25): each with its own seed,
    /// derived from the item, so a rerun draws the same ones. More than one needs a
    /// temperature above 0.
    #[serde(default = "one_sample", skip_serializing_if = "is_one")]
    pub samples: usize,
}

fn one_sample() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn default_max_tokens() -> usize {
    256
}

impl Default for GenerateSpec {
    /// What a generation task without a `[generate]` section asks for.
    fn default() -> Self {
        Self {
            until: Vec::new(),
            max_tokens: default_max_tokens(),
            temperature: 0.0,
            samples: 1,
        }
    }
}

/// Pulls an answer out of generated text with a regex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    /// Metric suffix: `exact_match,<name>`.
    pub name: String,
    pub regex: String,
    /// Which match: `first` or `last`.
    #[serde(default = "default_take")]
    pub take: Take,
    /// Answer when nothing matches.
    #[serde(default = "default_fallback")]
    pub fallback: String,
}

fn default_take() -> Take {
    Take::First
}

fn default_fallback() -> String {
    "[invalid]".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Take {
    First,
    Last,
}

/// lm-evaluation-harness's `exact_match` options, applied to answer and target alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactMatchSpec {
    #[serde(default)]
    pub ignore_case: bool,
    #[serde(default)]
    pub ignore_punctuation: bool,
    #[serde(default)]
    pub regexes_to_ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtasksSpec {
    pub names: Vec<String>,
    /// Name of the group score (defaults to the task name).
    #[serde(default)]
    pub group: Option<String>,
}

/// How a `grader`-scored task judges each generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraderSpec {
    /// `xstest_string_match` (XSTest's published refusal classifier), `keywords` (flags
    /// an answer containing any of `patterns`, ignoring case) or `regex` (any of
    /// `patterns` matches).
    pub kind: GraderKind,
    #[serde(default)]
    pub patterns: Vec<String>,
    /// The classifier of a `classifier` grader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    /// The reply format of a `remote` grader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<RemoteProtocol>,
    /// The rubric and labels of a `judge` grader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSpec>,
    /// The policy text of a ShieldGemma grader (default: its "No Dangerous Content").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Template giving each item's class (`"{{ label }}"`), which a rate's `when`
    /// selects.
    #[serde(default)]
    pub class: Option<String>,
    /// The rates the task can report, each a metric (none in an ensemble's members).
    #[serde(default)]
    pub rates: Vec<RateSpec>,
    /// How an `ensemble` grader combines its members: `mean` or `majority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine: Option<assay_grade::ensemble::Combine>,
    /// The graders of an `ensemble` (`[[grader.members]]`): rule and classifier graders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GraderSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraderKind {
    XstestStringMatch,
    Keywords,
    Regex,
    /// A ported offline classifier named by `classifier` (`alt-profanity-check`,
    /// `hatesonar`); its score is the flag probability.
    Classifier,
    /// An LLM judge with the rubric and labels of `judge` (XSTest's refusal classes);
    /// the judging model is given when the task runs (`assay eval --judge MODEL`).
    Judge,
    /// Several graders as one (`members`), by `combine`.
    Ensemble,
    /// A safety classifier served behind the OpenAI-compatible API, speaking
    /// `protocol`; which server and model is given when the task runs
    /// (`assay eval --grader-model NAME --grader-base-url URL`).
    Remote,
}

/// The reply format of a served safety classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteProtocol {
    #[serde(rename = "llama_guard_3")]
    LlamaGuard3,
    Shieldgemma,
    OpenaiModeration,
}

/// A rate over the graded answers: the mean verdict score (`flagged`: refusals for a
/// refusal grader, matches for a pattern grader) or its complement (`not_flagged`), over
/// the items of class `when`, or over all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    pub name: String,
    pub counts: Counts,
    #[serde(default)]
    pub when: Option<String>,
    /// Count a verdict as flagged when its score is at least this (a classifier's
    /// probability), instead of counting the score itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Count the answers whose verdict has one of these labels (a judge's
    /// `3_partial_refusal`), instead of the flag score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// How an item's several sampled answers make its value: their `mean`, or their
    /// `max` (RealToxicityPrompts' expected maximum toxicity; with a threshold, whether
    /// any answer was flagged: its toxicity probability).
    #[serde(default, skip_serializing_if = "is_mean")]
    pub over_samples: OverSamples,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverSamples {
    #[default]
    Mean,
    Max,
}

fn is_mean(o: &OverSamples) -> bool {
    *o == OverSamples::Mean
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    Flagged,
    NotFlagged,
}
