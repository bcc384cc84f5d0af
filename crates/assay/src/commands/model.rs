//! Choosing and loading the model a command runs: the embedded GGUF backend, or any
//! OpenAI-compatible server (`--model openai:NAME`).

use anyhow::{Context, Result, bail};
use assay_candle::{EmbeddedModel, LoadOptions, WeightFormat};
use assay_core::LanguageModel;
use assay_core::{ApiKey, redact_url};
use assay_openai::{ClientConfig, GenerationApi, OpenAiModel, Price};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a model run in-process (a GGUF file).
#[derive(Args, Clone)]
pub(crate) struct LocalArgs {
    /// Most sequences (choices) per forward pass; several questions share a pass.
    /// Scores do not depend on it.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Weight formats held in memory.
    #[arg(long, value_enum, default_value_t = WeightFormat::Auto)]
    pub(crate) weight_format: WeightFormat,
    /// Longest sequence scored, in tokens (default: the model's context length).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub(crate) max_length: Option<u32>,
    /// A chat template (Jinja, as GGUF files carry) used instead of the GGUF's own, or for
    /// a model whose GGUF has none; recorded with the model in the results.
    #[arg(long, value_name = "FILE")]
    pub(crate) chat_template: Option<PathBuf>,
}

impl Default for LocalArgs {
    fn default() -> Self {
        Self {
            batch_size: 32,
            weight_format: WeightFormat::Auto,
            max_length: None,
            chat_template: None,
        }
    }
}

/// Options of `--model openai:NAME`.
#[derive(Args, Clone)]
pub(crate) struct RemoteArgs {
    /// Base URL of the OpenAI-compatible API, with its version prefix.
    #[arg(
        long,
        env = crate::env::OPENAI_BASE_URL,
        default_value = "https://api.openai.com/v1"
    )]
    pub(crate) base_url: String,
    /// Environment variable holding the API key (the key itself never goes on the
    /// command line, in logs or in results). Unset or empty: no key is sent.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub(crate) api_key_env: String,
    /// Endpoint for generation.
    #[arg(long, value_enum, default_value_t = GenerationApi::Auto)]
    pub(crate) api: GenerationApi,
    /// Most requests in flight; the client starts lower and adapts (halves on 429).
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Requests in flight at the start.
    #[arg(long, default_value_t = 8)]
    pub(crate) initial_concurrency: usize,
    /// Retries per request after the first attempt.
    #[arg(long, default_value_t = 8)]
    pub(crate) max_retries: u32,
    /// Limit on one attempt (e.g. 120s, 5m).
    #[arg(long, default_value = "120s", value_parser = assay_cache::parse_duration)]
    pub(crate) timeout: Duration,
    /// Limit on one request with all its retries (e.g. 10m).
    #[arg(long, default_value = "10m", value_parser = assay_cache::parse_duration)]
    pub(crate) deadline: Duration,
    /// Log-likelihood prompts per completions request (a list `prompt`); more cuts HTTP
    /// overhead on servers that accept lists (vLLM, OpenAI's legacy API, assay serve).
    #[arg(long, default_value_t = 1)]
    pub(crate) prompts_per_request: usize,
    /// Response cache file (default: responses.sqlite in assay's cache directory).
    #[arg(long, env = crate::env::RESPONSE_CACHE)]
    pub(crate) cache: Option<PathBuf>,
    /// Do not read or write the response cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Price of a million prompt tokens, for cost accounting.
    #[arg(long, requires = "price_output")]
    pub(crate) price_input: Option<f64>,
    /// Price of a million completion tokens.
    #[arg(long, requires = "price_input")]
    pub(crate) price_output: Option<f64>,
}

/// Whether `model` names something a command can load, without loading it (every
/// candidate is checked before any runs: a typo in the last one must not surface after
/// the first has worked for an hour).
pub(crate) fn check_model_name(model: &str) -> std::result::Result<(), String> {
    if model.is_empty() || model == "openai:" {
        return Err("no model named".into());
    }
    if !model.starts_with("openai:")
        && assay_fetch::model_named(model).is_none()
        && !std::path::Path::new(model).is_file()
    {
        return Err(format!(
            "`{model}` is neither a model assay fetches (default, gemma3-270m), a GGUF file, nor openai:NAME"
        ));
    }
    Ok(())
}

/// Where graders that are models come from: a served safety classifier, and the server
/// of a judging model named `openai:NAME`.
#[derive(Args, Clone)]
pub(crate) struct GraderArgs {
    /// The served model that grades the answers of tasks with a remote grader (Llama
    /// Guard 3, ShieldGemma or a moderation endpoint, as the task file says).
    #[arg(long, value_name = "NAME", help_heading = "Graders")]
    pub(crate) grader_model: Option<String>,
    /// Base URL of the grader's OpenAI-compatible API, with its version prefix.
    #[arg(long, value_name = "URL", help_heading = "Graders")]
    pub(crate) grader_base_url: Option<String>,
    /// Environment variable holding the grader server's API key (never on the command
    /// line, in logs or in results).
    #[arg(
        long,
        value_name = "VAR",
        default_value = "OPENAI_API_KEY",
        help_heading = "Graders"
    )]
    pub(crate) grader_api_key_env: String,
}

impl GraderArgs {
    /// The served guard a task's `kind = "remote"` grader names, connected (and probed)
    /// now.
    pub(crate) fn remote_grader(
        &self,
        protocol: assay_tasks::spec::RemoteProtocol,
        policy: Option<&str>,
    ) -> Result<Arc<dyn assay_grade::Grader>> {
        use assay_openai::graders::{GuardKind, RemoteGrader};
        use assay_tasks::spec::RemoteProtocol;
        let (Some(model), Some(url)) = (&self.grader_model, &self.grader_base_url) else {
            bail!(
                "graded by a served safety classifier ({protocol:?}): name it with --grader-model NAME and --grader-base-url URL"
            );
        };
        let kind = match protocol {
            RemoteProtocol::LlamaGuard3 => GuardKind::LlamaGuard3,
            RemoteProtocol::Shieldgemma => GuardKind::ShieldGemma {
                policy: policy
                    .unwrap_or(assay_grade::guard::SHIELDGEMMA_DANGEROUS_CONTENT)
                    .to_owned(),
            },
            RemoteProtocol::OpenaiModeration => GuardKind::OpenAiModeration,
        };
        let mut config = ClientConfig::new(url, model);
        config.api_key = std::env::var(&self.grader_api_key_env)
            .ok()
            .and_then(ApiKey::new);
        Ok(Arc::new(RemoteGrader::connect(config, kind)?))
    }

    /// A judging model: local (`default`, a GGUF file), or `openai:NAME` at
    /// --grader-base-url with the grader's key.
    pub(crate) fn judge_model(
        &self,
        name: &str,
        local: &LocalArgs,
        remote: &RemoteArgs,
    ) -> Result<Arc<dyn LanguageModel>> {
        Ok(match name.strip_prefix("openai:") {
            Some(served) => {
                let Some(url) = &self.grader_base_url else {
                    bail!("judge {name}: give the judge's server with --grader-base-url URL");
                };
                let mut remote = remote.clone();
                remote.base_url = url.clone();
                remote.api_key_env = self.grader_api_key_env.clone();
                Arc::new(remote.connect(served)?)
            }
            None => Arc::new(local.load_embedded(name)?),
        })
    }
}

pub(crate) fn default_cache_path() -> PathBuf {
    assay_fetch::cache_dir().join("responses.sqlite")
}

impl LocalArgs {
    pub(crate) fn check(&self) -> Result<()> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        Ok(())
    }

    /// Loads `model`: `default` (fetched if missing) or a GGUF file.
    pub(crate) fn load_embedded(&self, model: &str) -> Result<EmbeddedModel> {
        self.check()?;
        if model.starts_with("openai:") {
            bail!(
                "`{model}` is a remote model; this command runs a local one: a GGUF file, `default` or `gemma3-270m`"
            );
        }
        let path = match assay_fetch::model_named(model) {
            Some(known) => super::fetch(known)?,
            None => PathBuf::from(model),
        };
        let options = LoadOptions {
            weights: self.weight_format,
            batch_size: self.batch_size,
            max_length: self.max_length.map(|n| n as usize),
        };
        let mut embedded = EmbeddedModel::load(&path, options)
            .with_context(|| format!("loading model `{}`", path.display()))?;
        if let Some(file) = &self.chat_template {
            let source = std::fs::read_to_string(file)
                .with_context(|| format!("--chat-template: cannot read `{}`", file.display()))?;
            embedded
                .set_chat_template(&source)
                .with_context(|| format!("--chat-template `{}`", file.display()))?;
        }
        Ok(embedded)
    }

    /// The model a command names: embedded, or remote when `openai:NAME`.
    pub(crate) fn load(&self, model: &str, remote: &RemoteArgs) -> Result<Box<dyn LanguageModel>> {
        match model.strip_prefix("openai:") {
            Some(name) => Ok(Box::new(remote.connect(name)?)),
            None => Ok(Box::new(self.load_embedded(model)?)),
        }
    }
}

impl RemoteArgs {
    pub(crate) fn connect(&self, name: &str) -> Result<OpenAiModel> {
        if name.is_empty() {
            bail!("--model openai:NAME needs the model's name after `openai:`");
        }
        let config = self.client_config(name)?;
        let cache = if self.no_cache {
            None
        } else {
            let path = self.cache.clone().unwrap_or_else(default_cache_path);
            Some(Arc::new(assay_cache::ResponseCache::open(&path)?))
        };
        let model = OpenAiModel::connect(config, cache)?;
        let caps = model.capabilities();
        if !caps.prompt_logprobs {
            eprintln!(
                "note: {} gives no prompt log-probabilities; only generation tasks can run",
                model.label()
            );
        }
        Ok(model)
    }

    /// The client settings these flags give, for the model `name`.
    pub(crate) fn client_config(&self, name: &str) -> Result<ClientConfig> {
        if self.concurrency == 0 || self.initial_concurrency == 0 {
            bail!("--concurrency and --initial-concurrency must be at least 1");
        }
        let mut config = ClientConfig::new(&self.base_url, name);
        config.api_key = std::env::var(&self.api_key_env).ok().and_then(ApiKey::new);
        config.generation_api = self.api;
        config.max_concurrency = self.concurrency;
        config.initial_concurrency = self.initial_concurrency.min(self.concurrency);
        config.max_retries = self.max_retries;
        config.prompts_per_request = self.prompts_per_request.max(1);
        config.attempt_timeout = self.timeout;
        config.request_deadline = self.deadline;
        config.price = self.price_input.zip(self.price_output).map(|(i, o)| Price {
            input_per_million: i,
            output_per_million: o,
        });
        Ok(config)
    }
}

/// The command line as recorded in results: URLs lose user info and query strings.
pub(crate) fn recorded_command() -> Vec<String> {
    std::env::args()
        .map(|a| {
            if a.contains("://") {
                match a.split_once('=') {
                    Some((flag, url)) if flag.starts_with("--") => {
                        format!("{flag}={}", redact_url(url))
                    }
                    _ => redact_url(&a),
                }
            } else {
                a
            }
        })
        .collect()
}
