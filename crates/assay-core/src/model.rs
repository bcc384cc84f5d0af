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

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A request the model cannot answer (too long, empty, not supported).
    #[error("request {index} cannot be answered: {reason}")]
    BadRequest { index: usize, reason: String },
    #[error("{0} is not supported by this model")]
    Unsupported(&'static str),
    #[error("model failure: {0}")]
    Backend(String),
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

    /// Renders a conversation with the model's chat template, ending with the prompt for
    /// the assistant's turn.
    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let _ = messages;
        Err(ModelError::Unsupported("chat templates"))
    }
}
