use serde::{Deserialize, Serialize};

/// Log-probability of `continuation` given `context` (lm-evaluation-harness's
/// `loglikelihood`). The model splits the tokens the way the harness does: the whole
/// string is tokenized once and the continuation is what follows the context's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoglikelihoodRequest {
    pub context: String,
    pub continuation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoglikelihoodResponse {
    /// Sum of the continuation tokens' log-probabilities (natural log).
    pub logprob: f64,
    /// Whether every continuation token is the model's argmax at its position.
    pub is_greedy: bool,
    /// Number of continuation tokens scored.
    pub tokens: usize,
}

/// Log-probability of a whole text, for perplexity (lm-evaluation-harness's
/// `loglikelihood_rolling`): the text is scored in windows of the model's context length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RollingRequest {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RollingResponse {
    pub logprob: f64,
    pub tokens: usize,
}

/// Free generation from `context` until a stop string, an end-of-sequence token or
/// `max_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub context: String,
    /// Stop strings: the output is cut before the first occurrence of any of them.
    pub until: Vec<String>,
    pub max_tokens: usize,
    /// 0 means greedy decoding.
    pub temperature: f64,
    /// Seed for sampling; ignored when greedy.
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop string was produced (and cut off).
    Stop,
    /// The model produced an end-of-sequence token.
    EndOfSequence,
    /// `max_tokens` was reached.
    Length,
    /// A remote API withheld or cut the answer (OpenAI's `content_filter`).
    ContentFilter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    pub text: String,
    pub finish_reason: FinishReason,
    /// Generated tokens, the stop string's included.
    pub tokens: usize,
    /// A reasoning model's thinking text, when the API returns it separately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
}

/// One turn of a conversation, for models with a chat template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}
