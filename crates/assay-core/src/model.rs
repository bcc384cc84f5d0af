use crate::{
    ChatMessage, GenerateRequest, GenerateResponse, LoglikelihoodRequest, LoglikelihoodResponse,
    RollingRequest, RollingResponse,
};
use serde::{Deserialize, Serialize};

/// What a results file records about the model, so a run can be reproduced and two runs
/// can be told apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// Short name shown in tables (`SmolLM2-135M-Instruct`).
    pub name: String,
    /// The backend that ran it (`candle`).
    pub backend: String,
    /// Where the weights came from (a file path, a URL).
    pub source: String,
    /// SHA-256 of the weights file, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Backend settings that change numbers (weight formats, context length, ...).
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// What a remote model's calls cost, for the results file: requests, retries, tokens,
/// latency, concurrency and money.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// HTTP attempts made (first tries and retries).
    pub attempts: u64,
    /// Requests answered by the server in this process.
    pub answered: u64,
    /// Requests answered from the response cache.
    pub cache_hits: u64,
    /// Retries by cause (`429`, `5xx`, `timeout`, `connection`, `malformed`).
    pub retries: std::collections::BTreeMap<String, u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Latency of answered requests (first attempt to answer), in seconds.
    pub latency_p50_s: Option<f64>,
    pub latency_p95_s: Option<f64>,
    pub latency_max_s: Option<f64>,
    pub concurrency_final: usize,
    pub concurrency_peak: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// The cause of a model failure, kept whole for the caller.
pub type ErrorSource = Box<dyn std::error::Error + Send + Sync>;

/// Why a model did not answer, in the four kinds a caller acts on differently.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A request the model cannot answer (too long, empty): the input must change.
    #[error("request {index} cannot be answered: {reason}")]
    BadRequest { index: usize, reason: String },
    /// Something this model does not do at all (scoring text, chat templates).
    #[error("{0} is not supported by this model")]
    Unsupported(&'static str),
    /// A failure that may pass (a server that stopped answering, timed out or was
    /// overloaded): work finished so far is kept, so running the same command again
    /// resumes.
    #[error("{source}")]
    Transient { source: ErrorSource },
    /// A failure that running again will not fix (a refused key, an unknown model, a
    /// broken model file, an answer that breaks the protocol).
    #[error("{source}")]
    Fatal { source: ErrorSource },
}

impl ModelError {
    pub fn transient(source: impl Into<ErrorSource>) -> Self {
        Self::Transient {
            source: source.into(),
        }
    }

    pub fn fatal(source: impl Into<ErrorSource>) -> Self {
        Self::Fatal {
            source: source.into(),
        }
    }

    /// Whether running the same command again may succeed, resuming the finished work.
    pub fn is_resumable(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// A language model that answers batches of requests.
///
/// Requests in one call may share work: the embedded model computes the longest common
/// token prefix of a `loglikelihood` batch once, so callers should pass the requests of
/// one multiple-choice item together. Answers come back in request order, and a batch's
/// answers must not depend on how the caller split the work into batches.
pub trait LanguageModel: Send + Sync {
    fn identity(&self) -> ModelIdentity;

    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError>;

    fn loglikelihood_rolling(
        &self,
        requests: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError>;

    fn generate(&self, requests: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError>;

    /// Whether the model can score given text (`loglikelihood`, `loglikelihood_rolling`).
    /// A chat-only API cannot; the evaluator then runs multiple-choice tasks by a
    /// generated letter answer and says so in the results.
    fn supports_loglikelihood(&self) -> bool {
        true
    }

    /// How many samples the evaluator should hand over per call (of generation samples
    /// when `generation`): an in-process model packs a few log-likelihood samples into
    /// large forward passes and generates one at a time, a remote one wants many
    /// requests in flight.
    fn samples_per_call(&self, generation: bool) -> usize {
        if generation { 1 } else { 16 }
    }

    /// Usage accounting for the results file (requests, retries, tokens, latency,
    /// cost), if the backend keeps any.
    fn usage(&self) -> Option<UsageReport> {
        None
    }

    /// Whether a generation request's context reaches the model as a user's chat
    /// message that the server formats with the model's own template (a chat-only API):
    /// chat tasks then send their prompts as they are, with no template applied here.
    fn chats_natively(&self) -> bool {
        false
    }

    /// Renders a conversation with the model's chat template, ending with the prompt for
    /// the assistant's turn.
    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let _ = messages;
        Err(ModelError::Unsupported("chat templates"))
    }
}
