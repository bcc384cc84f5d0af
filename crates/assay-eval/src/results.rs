//! The results file (`results.json`, schema [`SCHEMA`]) and the per-sample records
//! (`samples/<task>.jsonl`). Everything needed to reproduce a run is in the file's
//! `spec`; everything measured is in `results`.

use assay_core::{ModelIdentity, SampleScore, Target};
use assay_stats::Estimate;
use assay_tasks::data::DataFile;
use assay_tasks::spec::TaskSpec;
use serde::{Deserialize, Serialize};

/// Version of the results schema; bumped on any incompatible change.
pub const SCHEMA: &str = "assay.results/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub schema: String,
    pub assay: AssayInfo,
    pub run: RunInfo,
    pub spec: RunSpec,
    pub results: Vec<TaskResult>,
    /// The blocking gates given for this run and their verdicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::gate::GateResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssayInfo {
    pub version: String,
    pub git_revision: String,
}

/// Facts about this execution that do not change the numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The name given to the run (`--name`), if any; not part of what it computes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hash of `spec`; an interrupted run's journal is `.partial-<spec_hash>`.
    pub spec_hash: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub command: Vec<String>,
    pub threads: usize,
    pub batch_size: usize,
    /// Samples answered in this process (the rest came from an interrupted run).
    pub samples_run: usize,
    pub samples_resumed: usize,
    /// The backend's accounting for this process (a remote model's requests, retries,
    /// cache hits, tokens, latency and cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_usage: Option<assay_core::UsageReport>,
}

/// Everything that determines the numbers. Its hash names the resumable journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub model: ModelIdentity,
    pub tasks: Vec<TaskRecord>,
    pub selection: String,
    pub apply_chat_template: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub name: String,
    pub origin: String,
    pub definition_sha256: String,
    pub definition: TaskSpec,
    pub num_fewshot: usize,
    pub data: Vec<DataFile>,
    pub samples: usize,
    /// Who grades its answers (grader, judges): a run graded by another model or
    /// classifier version is another run, never resumed into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graders: Vec<assay_grade::GraderId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub n: usize,
    /// How the model answered, when not the task's own way: `generated_letter` for a
    /// multiple-choice task run on a model that cannot score text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Things a reader of the numbers must know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub metrics: Vec<MetricResult>,
    /// Per-subtask results of a group task (MMLU's subjects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtasks: Vec<SubtaskResult>,
    /// Path of the per-sample records, relative to the results file.
    pub samples_file: String,
    /// How far the benchmark itself can be trusted, when it is in the BenchRisk
    /// registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchrisk: Option<RiskProfile>,
    /// The grader behind a graded task's rates (its numbers are only comparable with
    /// the same grader's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grader: Option<assay_grade::GraderId>,
    /// AILuminate's grades against a reference run (`--ailuminate-reference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ailuminate: Option<AiluminateGrades>,
    /// The judges of a judged task, and how their metrics go together across items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<assay_grade::GraderId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlations: Vec<Correlation>,
}

/// Pearson's correlation of two metrics over the items that have both (helpfulness
/// falls as safety rises: metrics that disagree are shown together), or why it is
/// undefined.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlation {
    pub a: String,
    pub b: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<assay_stats::Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// A run's AILuminate grades and the reference run they compare with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AiluminateGrades {
    /// The reference run's directory and model.
    pub reference: String,
    pub reference_model: String,
    pub hazards: Vec<crate::ailuminate::HazardGrade>,
}

/// A benchmark's BenchRisk profile (benchrisk.ai): the share of each reliability
/// dimension's risk its authors have mitigated, in [0, 1]; below 0.5 is "high risk".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskProfile {
    pub benchmark: String,
    pub registry: String,
    pub dimensions: std::collections::BTreeMap<String, f64>,
    pub average: f64,
    pub minimum: f64,
    pub high_risk: Vec<String>,
    /// Mitigations this run supplies itself (docs/benchrisk.md), credited on top of the
    /// benchmark's own, and the scores with them.
    pub credited: Vec<u32>,
    pub as_run_dimensions: std::collections::BTreeMap<String, f64>,
    pub as_run_average: f64,
    pub as_run_minimum: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubtaskResult {
    pub name: String,
    pub n: usize,
    pub metrics: Vec<MetricResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// One answered sample, as stored in `samples/<task>.jsonl` and in the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleRecord {
    pub subtask: String,
    /// Position within the subtask's selected samples.
    pub index: usize,
    pub id: String,
    /// Line of the data file the sample came from.
    pub line: usize,
    /// Indices of the few-shot examples in the subtask's pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fewshot: Vec<usize>,
    /// The prompt shared by all requests, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The requests: continuations when they share `prompt`, else full requests.
    pub requests: serde_json::Value,
    pub responses: serde_json::Value,
    pub target: Target,
    pub score: SampleScore,
}
