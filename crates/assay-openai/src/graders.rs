//! Safety classifiers served behind the OpenAI-compatible API, as graders: Llama Guard 3
//! (vLLM, Ollama or llama.cpp serving it; the server's own chat template builds its
//! classification prompt from the conversation), ShieldGemma (its prompt sent to
//! `/completions`; P(unsafe) from the first token's "Yes" and "No" log-probabilities)
//! and OpenAI's `/moderations` endpoint. Replies are parsed strictly by
//! [`assay_grade::guard`]; a reply that breaks the format is
//! [`GradeError::Unparsed`], a server that does not answer is
//! [`GradeError::Unavailable`], never a guessed verdict.

use crate::{ClientConfig, ClientError, GenerationApi, OpenAiModel};
use assay_grade::{GradeError, Graded, Grader, GraderId, Verdict, guard};
use serde_json::{Value, json};

/// Which protocol the served model speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardKind {
    LlamaGuard3,
    /// With the policy text the prompt states.
    ShieldGemma {
        policy: String,
    },
    OpenAiModeration,
}

pub struct RemoteGrader {
    model: OpenAiModel,
    kind: GuardKind,
    /// Named once at connect: results record it with every answer.
    id: GraderId,
}

impl RemoteGrader {
    /// Connects to the server (the model must be listed; no generation probe, since a
    /// moderation model generates nothing).
    pub fn connect(mut config: ClientConfig, kind: GuardKind) -> Result<Self, ClientError> {
        config.generation_api = GenerationApi::Chat;
        let model = OpenAiModel::connect(config, None)?;
        let (name, version) = match &kind {
            GuardKind::LlamaGuard3 => ("llama-guard-3", model.name().to_owned()),
            GuardKind::ShieldGemma { policy } => (
                "shieldgemma",
                format!(
                    "{}; policy sha256:{}",
                    model.name(),
                    &assay_rundir::sha256_hex(policy.as_bytes())[..12]
                ),
            ),
            GuardKind::OpenAiModeration => ("openai-moderation", model.name().to_owned()),
        };
        let id = GraderId {
            name: name.into(),
            version,
        };
        Ok(Self { model, kind, id })
    }

    fn call(&self, path: &str, body: &Value) -> Result<Value, GradeError> {
        self.model
            .post_json(path, body)
            .map_err(|e| GradeError::Unavailable(e.to_string()))
    }
}

/// The top alternatives of a generated token in either API's shape: chat's
/// `[{"token", "logprob"}]` or completions' `{token: logprob}`.
fn alternatives(top: &Value) -> Vec<(String, f64)> {
    match top {
        Value::Array(items) => items
            .iter()
            .filter_map(|t| Some((t["token"].as_str()?.to_owned(), t["logprob"].as_f64()?)))
            .collect(),
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
            .collect(),
        _ => Vec::new(),
    }
}

impl Grader for RemoteGrader {
    fn id(&self) -> GraderId {
        self.id.clone()
    }

    fn grade(&self, item: Graded<'_>) -> Result<Verdict, GradeError> {
        let model = self.model.name();
        match &self.kind {
            GuardKind::OpenAiModeration => {
                let body = self.call(
                    "/moderations",
                    &json!({"model": model, "input": item.response}),
                )?;
                guard::openai_moderation(&body.to_string())
            }
            GuardKind::LlamaGuard3 => {
                let body = self.call(
                    "/chat/completions",
                    &json!({
                        "model": model,
                        "messages": [
                            {"role": "user", "content": item.prompt},
                            {"role": "assistant", "content": item.response},
                        ],
                        "temperature": 0.0,
                        "max_tokens": 20,
                        "logprobs": true,
                        "top_logprobs": 5,
                    }),
                )?;
                let choice = &body["choices"][0];
                let reply =
                    choice["message"]["content"]
                        .as_str()
                        .ok_or_else(|| GradeError::Unparsed {
                            reply: body.to_string(),
                        })?;
                // P(unsafe): the probability of "unsafe" as the first word, where the
                // server gave the top alternatives of that token.
                let first_word = choice["logprobs"]["content"]
                    .as_array()
                    .and_then(|tokens| {
                        tokens
                            .iter()
                            .find(|t| t["token"].as_str().is_some_and(|s| !s.trim().is_empty()))
                    })
                    .map(|t| alternatives(&t["top_logprobs"]));
                let p_unsafe = first_word.and_then(|alts| {
                    alts.iter()
                        .find(|(t, _)| t.trim() == "unsafe")
                        .map(|(_, lp)| lp.exp())
                });
                guard::llama_guard(reply, p_unsafe)
            }
            GuardKind::ShieldGemma { policy } => {
                let body = self.call(
                    "/completions",
                    &json!({
                        "model": model,
                        "prompt": guard::shieldgemma_prompt(item.prompt, item.response, policy),
                        "temperature": 0.0,
                        "max_tokens": 1,
                        "logprobs": 20,
                    }),
                )?;
                let top = &body["choices"][0]["logprobs"]["top_logprobs"][0];
                guard::shieldgemma(&alternatives(top))
            }
        }
    }
}
