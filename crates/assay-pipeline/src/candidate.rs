//! A candidate: a model with the settings it would ship with (a system prompt, its
//! decoding). [`CandidateModel`] puts those settings between the model and every stage,
//! so a benchmark, a side-by-side answer and a judge's view of it all see the same
//! candidate, and the settings go into the model's identity (a run with another system
//! prompt is another run, never resumed into this one).

use assay_core::{
    ChatMessage, GenerateRequest, GenerateResponse, LanguageModel, LoglikelihoodRequest,
    LoglikelihoodResponse, ModelError, ModelIdentity, RollingRequest, RollingResponse, UsageReport,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A `[[candidate]]` table of the pipeline file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Letters, digits, `-` and `_`: it names folders and test cases.
    pub name: String,
    /// `default`, `gemma3-270m`, a GGUF file, or `openai:NAME`.
    pub model: String,
    /// Put before every conversation the candidate's chat template formats (chat tasks,
    /// tasks run with `chat_template = true`, side-by-side answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Sampling temperature of every generation (default: what each task or stage asks,
    /// greedy for benchmarks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Seed of sampled generations (each request's seed is derived from it and the
    /// request, so reruns draw the same answers).
    #[serde(default)]
    pub seed: u64,
    /// Longest side-by-side answer, in tokens (default: the stage's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// A chat template (a Jinja file, relative to the pipeline file) for a local model
    /// whose GGUF has none, or to use instead of its own; recorded with the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<std::path::PathBuf>,
}

impl Candidate {
    /// The settings a candidate adds to its model's identity.
    fn settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut s = serde_json::Map::new();
        if let Some(p) = &self.system_prompt {
            s.insert("system_prompt".into(), p.clone().into());
        }
        if let Some(t) = self.temperature {
            s.insert("temperature".into(), t.into());
            s.insert("seed".into(), self.seed.into());
        }
        s
    }

    /// Its model, loaded (once, whichever stages ask) and seen through its settings.
    pub fn load(
        &self,
        models: &dyn crate::Models,
    ) -> Result<CandidateModel, Box<dyn std::error::Error + Send + Sync>> {
        let inner = models.load(&self.model, self.chat_template.as_deref())?;
        Ok(CandidateModel::new(inner, self.clone()))
    }
}

/// A loaded model seen through a candidate's settings.
pub struct CandidateModel {
    inner: Arc<dyn LanguageModel>,
    candidate: Candidate,
}

impl CandidateModel {
    pub fn new(inner: Arc<dyn LanguageModel>, candidate: Candidate) -> Self {
        Self { inner, candidate }
    }

    /// A request's seed when the candidate samples: the request's own, or one derived
    /// from the candidate's seed and the context (so the same prompt draws the same
    /// answer in a rerun, and a response cache can keep it).
    fn seed_for(&self, r: &GenerateRequest) -> u64 {
        r.seed.unwrap_or_else(|| {
            let digest = assay_rundir::sha256_hex(
                format!("{}\n{}", self.candidate.seed, r.context).as_bytes(),
            );
            u64::from_str_radix(&digest[..16], 16).expect("hex digits")
        })
    }
}

impl LanguageModel for CandidateModel {
    fn identity(&self) -> ModelIdentity {
        let mut id = self.inner.identity();
        for (k, v) in self.candidate.settings() {
            id.settings.insert(format!("candidate.{k}"), v);
        }
        id
    }

    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
        self.inner.loglikelihood(requests)
    }

    fn loglikelihood_rolling(
        &self,
        requests: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError> {
        self.inner.loglikelihood_rolling(requests)
    }

    fn generate(&self, requests: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
        let Some(temperature) = self.candidate.temperature else {
            return self.inner.generate(requests);
        };
        let adjusted: Vec<GenerateRequest> = requests
            .iter()
            .map(|r| GenerateRequest {
                temperature,
                seed: (temperature > 0.0).then(|| self.seed_for(r)),
                ..r.clone()
            })
            .collect();
        self.inner.generate(&adjusted)
    }

    fn supports_loglikelihood(&self) -> bool {
        self.inner.supports_loglikelihood()
    }

    fn samples_per_call(&self, generation: bool) -> usize {
        self.inner.samples_per_call(generation)
    }

    fn usage(&self) -> Option<UsageReport> {
        self.inner.usage()
    }

    fn chats_natively(&self) -> bool {
        self.inner.chats_natively()
    }

    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        match &self.candidate.system_prompt {
            Some(system) if messages.first().is_none_or(|m| m.role != "system") => {
                let mut with = Vec::with_capacity(messages.len() + 1);
                with.push(ChatMessage {
                    role: "system".into(),
                    content: system.clone(),
                });
                with.extend_from_slice(messages);
                self.inner.apply_chat_template(&with)
            }
            _ => self.inner.apply_chat_template(messages),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that echoes what it was asked: the template it was given and the
    /// decoding of each request.
    struct Echo;
    impl LanguageModel for Echo {
        fn identity(&self) -> ModelIdentity {
            ModelIdentity {
                name: "echo".into(),
                backend: "test".into(),
                source: "-".into(),
                sha256: None,
                settings: Default::default(),
            }
        }
        fn loglikelihood(
            &self,
            _: &[LoglikelihoodRequest],
        ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
            Err(ModelError::Unsupported("scoring"))
        }
        fn loglikelihood_rolling(
            &self,
            _: &[RollingRequest],
        ) -> Result<Vec<RollingResponse>, ModelError> {
            Err(ModelError::Unsupported("scoring"))
        }
        fn generate(&self, r: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
            Ok(r.iter()
                .map(|r| GenerateResponse {
                    text: format!("{} {:?}", r.temperature, r.seed),
                    finish_reason: assay_core::FinishReason::Stop,
                    tokens: 1,
                    reasoning: None,
                })
                .collect())
        }
        fn apply_chat_template(&self, m: &[ChatMessage]) -> Result<String, ModelError> {
            Ok(m.iter()
                .map(|m| format!("<{}>{}", m.role, m.content))
                .collect())
        }
    }

    fn candidate(system: Option<&str>, temperature: Option<f64>) -> Candidate {
        Candidate {
            name: "c".into(),
            model: "echo".into(),
            system_prompt: system.map(str::to_owned),
            temperature,
            seed: 7,
            max_tokens: None,
            chat_template: None,
        }
    }

    fn ask(model: &CandidateModel, context: &str) -> String {
        let request = GenerateRequest {
            context: context.into(),
            until: vec![],
            max_tokens: 4,
            temperature: 0.0,
            seed: None,
        };
        model.generate(&[request]).unwrap()[0].text.clone()
    }

    #[test]
    fn the_system_prompt_goes_first_once() {
        let m = CandidateModel::new(Arc::new(Echo), candidate(Some("Be brief."), None));
        let text = m.apply_chat_template(&[ChatMessage::user("hi")]).unwrap();
        assert_eq!(text, "<system>Be brief.<user>hi");
        // A conversation that brings its own system message keeps it.
        let own = [
            ChatMessage {
                role: "system".into(),
                content: "Judge.".into(),
            },
            ChatMessage::user("hi"),
        ];
        assert_eq!(
            m.apply_chat_template(&own).unwrap(),
            "<system>Judge.<user>hi"
        );
        assert_eq!(
            m.identity().settings["candidate.system_prompt"],
            "Be brief."
        );
    }

    #[test]
    fn sampling_seeds_are_stable_per_prompt_and_differ_across_prompts() {
        let plain = CandidateModel::new(Arc::new(Echo), candidate(None, None));
        assert_eq!(ask(&plain, "a"), "0 None");
        assert!(plain.identity().settings.is_empty());
        let warm = CandidateModel::new(Arc::new(Echo), candidate(None, Some(0.8)));
        let (a1, a2, b) = (ask(&warm, "a"), ask(&warm, "a"), ask(&warm, "b"));
        assert!(a1.starts_with("0.8 Some("), "{a1}");
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        // A greedy override sends no seed.
        let cold = CandidateModel::new(Arc::new(Echo), candidate(None, Some(0.0)));
        assert_eq!(ask(&cold, "a"), "0 None");
    }
}
