//! A [`LanguageModel`] served by any OpenAI-compatible server (vLLM, llama.cpp, Ollama,
//! TGI, a vendor API, `assay serve`).
//!
//! - Log-likelihoods come from the completions API with `echo` and `logprobs`: the
//!   server returns the prompt's token log-probabilities and character offsets, and the
//!   continuation is every token whose text reaches past the context (the context's
//!   trailing whitespace moves to the continuation, as lm-evaluation-harness does).
//! - Generation uses the completions API, or chat completions for chat-only servers.
//! - Requests run concurrently under an adaptive limit ([`crate::limiter`]), each with a
//!   timeout, bounded retries with exponential backoff (honouring `Retry-After`) and an
//!   overall deadline. A permanent error (401, 404, a refused request) stops the retries
//!   of the others at once; answers already received stay in the cache.
//! - Every answer is written to the response cache as soon as it arrives, so a killed
//!   run resumes without re-sending it.
//! - The API key goes only into the `Authorization` header (marked sensitive); it is
//!   cut out of any server message before that message is shown.

use crate::limiter::{Limiter, Outcome};
use crate::protocol::{
    ApiMessage, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, ErrorBody,
    ModelList, Prompt, Stop,
};
use assay_cache::{Entry, ResponseCache};
use assay_core::{
    ApiKey, FinishReason, GenerateRequest, GenerateResponse, LanguageModel, LoglikelihoodRequest,
    LoglikelihoodResponse, ModelError, ModelIdentity, RollingRequest, RollingResponse, UsageReport,
    redact_url, scrub_url,
};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Which endpoint generates text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum GenerationApi {
    /// Completions when the server has them, otherwise chat completions.
    Auto,
    /// `/completions` (text in, text out).
    Completions,
    /// `/chat/completions` (messages in, a message out).
    Chat,
}

/// Price per million tokens, for cost accounting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL including the version prefix, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub generation_api: GenerationApi,
    /// Requests in flight at the start; the limit then adapts.
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    /// Retries of one request after its first attempt.
    pub max_retries: u32,
    /// Limit on one attempt (connect, send, whole answer).
    pub attempt_timeout: Duration,
    /// Limit on one request with all its retries and waits.
    pub request_deadline: Duration,
    /// First backoff; doubles per retry, up to `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub price: Option<Price>,
    /// Log-likelihood prompts sent per completions request (a list `prompt`). 1 works
    /// with every server; more cuts HTTP overhead where the server accepts lists.
    pub prompts_per_request: usize,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            generation_api: GenerationApi::Auto,
            initial_concurrency: 8,
            max_concurrency: 64,
            max_retries: 8,
            attempt_timeout: Duration::from_secs(120),
            request_deadline: Duration::from_secs(600),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            price: None,
            prompts_per_request: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the server at {url} refused the API key ({status}): {message}; check the key in the environment variable the run names (--api-key-env)"
    )]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the server at {url} has no model `{model}`; it serves: {available}")]
    UnknownModel {
        url: String,
        model: String,
        available: String,
    },
    #[error("{url} refused the request ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "{url}: no answer within the request deadline of {deadline:?} ({attempts} attempts; last: {last}); answers received so far are cached: run the same command again to resume"
    )]
    Deadline {
        url: String,
        deadline: Duration,
        attempts: u32,
        last: String,
    },
    #[error(
        "{url}: gave up after {attempts} attempts (last: {last}); answers received so far are cached: run the same command again to resume"
    )]
    RetriesExhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("{url}: {message}")]
    Protocol { url: String, message: String },
    #[error("stopped because another request failed permanently")]
    Aborted,
    #[error("response cache: {0}")]
    Cache(#[from] assay_cache::Error),
}

impl ClientError {
    /// Whether the failure may pass, so that running again (which resumes from the
    /// response cache) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Deadline { .. }
                | ClientError::RetriesExhausted { .. }
                | ClientError::Aborted
        )
    }
}

impl From<ClientError> for ModelError {
    fn from(e: ClientError) -> Self {
        if e.is_transient() {
            ModelError::transient(e)
        } else {
            ModelError::fatal(e)
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    report: UsageReport,
    latencies: Vec<f64>,
}

/// What the probe found out about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub completions: bool,
    /// Completions return prompt log-probabilities with character offsets.
    pub prompt_logprobs: bool,
}

pub struct OpenAiModel {
    config: ClientConfig,
    base: String,
    /// `model @ base url` without credentials: the cache and results name the model so.
    label: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    limiter: Limiter,
    abort: AtomicBool,
    stats: Mutex<Stats>,
    cache: Option<Arc<ResponseCache>>,
    capabilities: Capabilities,
    generation_api: GenerationApi,
}

enum Failure {
    Retry {
        cause: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
    Permanent(ClientError),
}

impl OpenAiModel {
    /// Connects to the server and probes it: the model must exist, the key must be
    /// accepted, and the probe finds out whether completions give prompt
    /// log-probabilities. Each problem is one clear error here, before any work.
    pub fn connect(
        config: ClientConfig,
        cache: Option<Arc<ResponseCache>>,
    ) -> Result<Self, ClientError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&base).is_err() {
            return Err(ClientError::Unreachable {
                url: redact_url(&base),
                reason: "not a valid URL (expected e.g. http://127.0.0.1:8000/v1)".into(),
            });
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| ClientError::Unauthorized {
                        url: redact_url(&base),
                        status: 0,
                        message: "the API key holds characters that cannot go in an HTTP header"
                            .into(),
                    })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(config.max_concurrency)
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: redact_url(&base),
                reason: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: redact_url(&base),
                reason: format!("cannot start the async runtime: {e}"),
            })?;
        let label = format!("{} @ {}", config.model, redact_url(&base));
        let mut model = Self {
            limiter: Limiter::new(config.initial_concurrency, config.max_concurrency),
            generation_api: config.generation_api,
            config,
            base,
            label,
            http,
            runtime,
            abort: AtomicBool::new(false),
            stats: Mutex::new(Stats::default()),
            cache,
            capabilities: Capabilities {
                completions: false,
                prompt_logprobs: false,
            },
        };
        model.capabilities = model.runtime.block_on(model.probe())?;
        if model.generation_api == GenerationApi::Auto {
            model.generation_api = if model.capabilities.completions {
                GenerationApi::Completions
            } else {
                GenerationApi::Chat
            };
        }
        Ok(model)
    }

    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The API that generates text (after `Auto` was resolved by the probe).
    pub fn generation_api(&self) -> GenerationApi {
        self.generation_api
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The model's name on the server.
    pub fn name(&self) -> &str {
        &self.config.model
    }

    /// One JSON request to `path` (under the base URL) with this client's retries,
    /// limits and key, answered as JSON: for endpoints the evaluator does not model
    /// (`/moderations`, a guard model's chat with log-probabilities).
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.runtime.block_on(self.post(path, body, self.policy()))
    }

    pub fn usage_report(&self) -> UsageReport {
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = stats.report.clone();
        let mut l = stats.latencies.clone();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| (!l.is_empty()).then(|| l[((l.len() - 1) as f64 * p).round() as usize]);
        report.latency_p50_s = q(0.5);
        report.latency_p95_s = q(0.95);
        report.latency_max_s = l.last().copied();
        report.concurrency_final = self.limiter.limit();
        report.concurrency_peak = self.limiter.peak();
        report.cost_usd = self.config.price.map(|p| {
            (report.prompt_tokens as f64 * p.input_per_million
                + report.completion_tokens as f64 * p.output_per_million)
                / 1e6
        });
        report
    }

    /// Where requests to `path` go. It may hold credentials: never put it in a message.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `path` on the server as messages show it, without credentials.
    fn shown(&self, path: &str) -> String {
        format!("{}{}", redact_url(&self.base), path)
    }

    /// The first choice of an answer to `path`, or a protocol error when it has none.
    fn first_choice<C>(&self, choices: Vec<C>, path: &str) -> Result<C, ClientError> {
        choices
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol {
                url: self.shown(path),
                message: "the answer has no choices".into(),
            })
    }

    /// A server's or a library's message, without the key or the URL's credentials.
    fn redact(&self, text: &str) -> String {
        let mut text = scrub_url(text, &self.base);
        if let Some(key) = &self.config.api_key {
            text = key.scrub(&text);
        }
        if text.len() > 500 {
            let cut = (0..=500)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        text
    }

    /// The server's message out of an error body, or the body itself.
    fn server_message(&self, body: &[u8]) -> String {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        self.redact(message.trim())
    }

    async fn probe(&self) -> Result<Capabilities, ClientError> {
        // A server that refuses connections is reported at once; one that answers
        // badly gets a few tries.
        let quick = Policy {
            max_retries: 8,
            connect_retries: 1,
            deadline: Duration::from_secs(30),
            counted: false,
        };
        match self.get::<ModelList>("/models", quick).await {
            Ok(list) => {
                let ids: Vec<String> = list.data.into_iter().map(|m| m.id).collect();
                if !ids.iter().any(|id| id == &self.config.model) {
                    return Err(ClientError::UnknownModel {
                        url: redact_url(&self.base),
                        model: self.config.model.clone(),
                        available: if ids.is_empty() {
                            "(none)".into()
                        } else {
                            ids.join(", ")
                        },
                    });
                }
            }
            // Some servers have no model list; the first request will tell.
            Err(ClientError::Refused {
                status: 404 | 405, ..
            }) => {}
            Err(e) => return Err(e),
        }
        if self.config.generation_api == GenerationApi::Chat {
            return Ok(Capabilities {
                completions: false,
                prompt_logprobs: false,
            });
        }
        let body = CompletionRequest {
            model: self.config.model.clone(),
            prompt: Prompt::Text("The capital of France is".into()),
            max_tokens: Some(1),
            temperature: Some(0.0),
            seed: None,
            stop: None,
            logprobs: Some(1),
            echo: true,
            stream: false,
            n: None,
            ignore_eos: false,
        };
        match self
            .post::<_, CompletionResponse>("/completions", &body, quick)
            .await
        {
            Ok(r) => {
                let prompt_logprobs = r
                    .choices
                    .first()
                    .and_then(|c| c.logprobs.as_ref())
                    .is_some_and(|l| {
                        l.token_logprobs.len() > 1
                            && l.text_offset.len() == l.token_logprobs.len()
                            && l.token_logprobs[1].is_some()
                    });
                Ok(Capabilities {
                    completions: true,
                    prompt_logprobs,
                })
            }
            Err(ClientError::Refused { status, .. }) if status != 401 && status != 403 => {
                Ok(Capabilities {
                    completions: false,
                    prompt_logprobs: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, policy: Policy) -> Result<T, ClientError> {
        self.send(path, None::<&()>, policy).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        policy: Policy,
    ) -> Result<T, ClientError> {
        self.send(path, Some(body), policy).await
    }

    fn policy(&self) -> Policy {
        Policy {
            max_retries: self.config.max_retries,
            connect_retries: self.config.max_retries,
            deadline: self.config.request_deadline,
            counted: true,
        }
    }

    /// One request with its retries. Returns the parsed answer.
    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        policy: Policy,
    ) -> Result<T, ClientError> {
        let url = self.endpoint(path);
        let shown = self.shown(path);
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return Err(ClientError::Aborted);
            }
            let elapsed = started.elapsed();
            let Some(remaining) = policy
                .deadline
                .checked_sub(elapsed)
                .filter(|d| !d.is_zero())
            else {
                return Err(ClientError::Deadline {
                    url: shown,
                    deadline: policy.deadline,
                    attempts,
                    last: "no time left".into(),
                });
            };
            let permit = self.limiter.acquire().await;
            attempts += 1;
            self.with_stats(|s| s.report.attempts += 1);
            let request = match body {
                Some(b) => self.http.post(&url).json(b),
                None => self.http.get(&url),
            };
            let timeout = self.config.attempt_timeout.min(remaining);
            let result = tokio::time::timeout(timeout, async {
                let response = request.send().await?;
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
                let bytes = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, bytes))
            })
            .await;
            drop(permit);
            let failure = match result {
                Err(_) => Failure::Retry {
                    cause: "timeout",
                    detail: format!("no answer within {timeout:?}"),
                    retry_after: None,
                },
                Ok(Err(e)) => {
                    let detail = self.redact(&error_chain(&e));
                    if e.is_connect() && attempts > policy.connect_retries {
                        self.abort.store(true, Ordering::Relaxed);
                        return Err(ClientError::Unreachable {
                            url: shown,
                            reason: detail,
                        });
                    }
                    Failure::Retry {
                        cause: "connection",
                        detail,
                        retry_after: None,
                    }
                }
                Ok(Ok((status, retry_after, bytes))) => {
                    if status.is_success() {
                        match serde_json::from_slice::<T>(&bytes) {
                            Ok(parsed) => {
                                self.limiter.record(Outcome::Success);
                                let latency = started.elapsed().as_secs_f64();
                                if policy.counted {
                                    self.with_stats(|s| {
                                        s.report.answered += 1;
                                        s.latencies.push(latency);
                                    });
                                }
                                return Ok(parsed);
                            }
                            Err(e) => Failure::Retry {
                                cause: "malformed",
                                detail: format!(
                                    "the answer is not valid JSON of the expected shape: {e}"
                                ),
                                retry_after: None,
                            },
                        }
                    } else {
                        let message = self.server_message(&bytes);
                        match status.as_u16() {
                            429 => Failure::Retry {
                                cause: "429",
                                detail: format!("429 Too Many Requests: {message}"),
                                retry_after,
                            },
                            408 | 409 | 425 | 500..=599 => Failure::Retry {
                                cause: if status.is_server_error() {
                                    "5xx"
                                } else {
                                    "timeout"
                                },
                                detail: format!("{status}: {message}"),
                                retry_after,
                            },
                            401 | 403 => Failure::Permanent(ClientError::Unauthorized {
                                url: shown.clone(),
                                status: status.as_u16(),
                                message,
                            }),
                            code => Failure::Permanent(ClientError::Refused {
                                url: shown.clone(),
                                status: code,
                                message,
                            }),
                        }
                    }
                }
            };
            match failure {
                Failure::Permanent(e) => {
                    self.limiter.record(Outcome::Failed);
                    self.abort.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Failure::Retry {
                    cause,
                    detail,
                    retry_after,
                } => {
                    self.limiter.record(if cause == "429" {
                        Outcome::RateLimited
                    } else {
                        Outcome::Failed
                    });
                    if attempts > policy.max_retries {
                        return Err(ClientError::RetriesExhausted {
                            url: shown,
                            attempts,
                            last: detail,
                        });
                    }
                    self.with_stats(|s| {
                        *s.report.retries.entry(cause.to_owned()).or_default() += 1
                    });
                    let wait = retry_after
                        .map(|d| d.min(Duration::from_secs(120)))
                        .unwrap_or_else(|| self.backoff(attempts));
                    if started.elapsed() + wait >= policy.deadline {
                        return Err(ClientError::Deadline {
                            url: shown,
                            deadline: policy.deadline,
                            attempts,
                            last: detail,
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that
    /// requests that failed together do not come back together.
    fn backoff(&self, attempt: u32) -> Duration {
        let base =
            self.config.initial_backoff.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1) as i32);
        let capped = base.min(self.config.max_backoff.as_secs_f64());
        let jitter = rand::thread_rng().r#gen::<f64>();
        Duration::from_secs_f64(capped * (0.5 + 0.5 * jitter))
    }

    fn with_stats(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn count_usage(&self, usage: Option<crate::protocol::Usage>) {
        if let Some(u) = usage {
            self.with_stats(|s| {
                s.report.prompt_tokens += u.prompt_tokens;
                s.report.completion_tokens += u.completion_tokens;
            });
        }
    }

    /// The cached answer to a request, if there is one (and counts the hit).
    fn cache_get<R: Serialize, A: DeserializeOwned>(
        &self,
        kind: &str,
        request: &R,
    ) -> Result<Option<A>, ClientError> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        let key = assay_cache::key(
            &self.label,
            kind,
            &serde_json::to_value(request).expect("requests serialize"),
        );
        let hit = cache
            .get(&key)?
            .and_then(|v| serde_json::from_value::<A>(v).ok());
        if hit.is_some() {
            self.with_stats(|s| s.report.cache_hits += 1);
        }
        Ok(hit)
    }

    /// Stores an answer the moment it has arrived.
    fn cache_put<R: Serialize, A: Serialize>(
        &self,
        kind: &str,
        request: &R,
        answer: &A,
    ) -> Result<(), ClientError> {
        if let Some(cache) = &self.cache {
            cache.put(&Entry {
                model: &self.label,
                kind,
                request: &serde_json::to_value(request).expect("requests serialize"),
                response: &serde_json::to_value(answer).expect("answers serialize"),
            })?;
        }
        Ok(())
    }

    /// Looks the request up in the cache, or asks `fetch` and stores its answer.
    async fn cached<R, A, F>(
        &self,
        kind: &str,
        request: &R,
        cacheable: bool,
        fetch: F,
    ) -> Result<A, ClientError>
    where
        R: Serialize,
        A: Serialize + DeserializeOwned,
        F: std::future::Future<Output = Result<A, ClientError>>,
    {
        if cacheable && let Some(answer) = self.cache_get(kind, request)? {
            return Ok(answer);
        }
        let answer = fetch.await?;
        if cacheable {
            self.cache_put(kind, request, &answer)?;
        }
        Ok(answer)
    }

    /// Scores a group of requests with one HTTP request (`prompt` as a list when the
    /// group has several), caching each answer.
    async fn loglikelihood_group(
        &self,
        group: &[&LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ClientError> {
        let splits: Vec<(String, usize)> = group
            .iter()
            .map(|req| {
                let context = req.context.trim_end();
                let continuation = format!("{}{}", &req.context[context.len()..], req.continuation);
                (format!("{context}{continuation}"), context.chars().count())
            })
            .collect();
        let prompts: Vec<String> = splits.iter().map(|(p, _)| p.clone()).collect();
        let scored = self.prompt_logprobs(&prompts).await?;
        let mut answers = Vec::with_capacity(group.len());
        for ((req, (_, boundary)), tokens) in group.iter().zip(&splits).zip(scored) {
            let answer = self.continuation_score(&tokens, *boundary)?;
            self.cache_put("loglikelihood", req, &answer)?;
            answers.push(answer);
        }
        Ok(answers)
    }

    /// The continuation's score: every token whose text reaches past the context's end.
    fn continuation_score(
        &self,
        scored: &[ScoredToken],
        boundary: usize,
    ) -> Result<LoglikelihoodResponse, ClientError> {
        let mut answer = LoglikelihoodResponse {
            logprob: 0.0,
            is_greedy: true,
            tokens: 0,
        };
        for t in scored.iter().filter(|t| t.end > boundary) {
            let Some(lp) = t.logprob else {
                return Err(ClientError::Protocol {
                    url: self.shown("/completions"),
                    message: "the context is empty, so the server cannot score the first continuation token".into(),
                });
            };
            answer.logprob += lp;
            answer.is_greedy &= t
                .top
                .is_none_or(|top| lp >= top - 1e-9 * top.abs().max(1.0));
            answer.tokens += 1;
        }
        if answer.tokens == 0 {
            return Err(ClientError::Protocol {
                url: self.shown("/completions"),
                message: "the server returned no tokens for the continuation".into(),
            });
        }
        Ok(answer)
    }

    async fn rolling_one(&self, req: &RollingRequest) -> Result<RollingResponse, ClientError> {
        self.cached("loglikelihood_rolling", req, true, async {
            let scored = self
                .prompt_logprobs(std::slice::from_ref(&req.text))
                .await?
                .remove(0);
            let mut answer = RollingResponse {
                logprob: 0.0,
                tokens: 0,
            };
            // The first token has no context to be predicted from over this API.
            for lp in scored.iter().filter_map(|t| t.logprob) {
                answer.logprob += lp;
                answer.tokens += 1;
            }
            Ok(answer)
        })
        .await
    }

    /// Each prompt's tokens with their log-probabilities, the top alternative's and the
    /// character span each covers (tokens the server generated past the prompt are
    /// dropped). One HTTP request for all the prompts.
    async fn prompt_logprobs(
        &self,
        prompts: &[String],
    ) -> Result<Vec<Vec<ScoredToken>>, ClientError> {
        let protocol = |message: &str| ClientError::Protocol {
            url: self.shown("/completions"),
            message: message.to_owned(),
        };
        if !self.capabilities.prompt_logprobs {
            return Err(protocol(
                "the server returns no prompt log-probabilities (completions with echo and logprobs)",
            ));
        }
        let body = CompletionRequest {
            model: self.config.model.clone(),
            prompt: match prompts {
                [one] => Prompt::Text(one.clone()),
                many => Prompt::Texts(many.to_vec()),
            },
            max_tokens: Some(1),
            temperature: Some(0.0),
            seed: None,
            stop: None,
            logprobs: Some(1),
            echo: true,
            stream: false,
            n: None,
            ignore_eos: false,
        };
        let response: CompletionResponse = self.post("/completions", &body, self.policy()).await?;
        self.count_usage(response.usage);
        if response.choices.len() != prompts.len() {
            return Err(protocol(&format!(
                "{} prompts were sent, {} answers came back",
                prompts.len(),
                response.choices.len()
            )));
        }
        let mut choices = response.choices;
        choices.sort_by_key(|c| c.index);
        let mut out = Vec::with_capacity(prompts.len());
        for (prompt, choice) in prompts.iter().zip(choices) {
            let logprobs = choice
                .logprobs
                .ok_or_else(|| protocol("the answer has no logprobs"))?;
            let n = logprobs.token_logprobs.len();
            if logprobs.text_offset.len() != n {
                return Err(protocol(
                    "the answer's logprobs have no text_offset for every token",
                ));
            }
            let end = prompt.chars().count();
            let mut tokens = Vec::with_capacity(n);
            for i in 0..n {
                let start = logprobs.text_offset[i];
                if start >= end {
                    break;
                }
                let stop = logprobs
                    .text_offset
                    .get(i + 1)
                    .copied()
                    .unwrap_or(end)
                    .min(end);
                let top = logprobs
                    .top_logprobs
                    .get(i)
                    .and_then(|t| t.as_ref())
                    .and_then(|t| t.values().copied().reduce(f64::max));
                tokens.push(ScoredToken {
                    end: stop,
                    logprob: logprobs.token_logprobs[i],
                    top,
                });
            }
            out.push(tokens);
        }
        Ok(out)
    }

    async fn generate_one(&self, req: &GenerateRequest) -> Result<GenerateResponse, ClientError> {
        // A sampled answer without a seed cannot be reproduced, so it is not reused.
        let cacheable = req.temperature <= 0.0 || req.seed.is_some();
        let kind = match self.generation_api {
            GenerationApi::Chat => "generate_chat",
            _ => "generate",
        };
        self.cached(kind, req, cacheable, async {
            // OpenAI takes at most 4 stop strings; the rest are applied here.
            let stop = (!req.until.is_empty())
                .then(|| Stop::Many(req.until.iter().take(4).cloned().collect()));
            let (text, finish, stop_reason, reasoning, usage) = match self.generation_api {
                GenerationApi::Chat => {
                    let body = ChatRequest {
                        model: self.config.model.clone(),
                        messages: vec![ApiMessage {
                            role: "user".into(),
                            content: Some(req.context.clone()),
                            reasoning_content: None,
                            reasoning: None,
                        }],
                        max_tokens: Some(req.max_tokens),
                        max_completion_tokens: None,
                        temperature: Some(req.temperature),
                        seed: req.seed,
                        stop,
                        stream: false,
                        n: None,
                        ignore_eos: false,
                    };
                    let r: ChatResponse =
                        self.post("/chat/completions", &body, self.policy()).await?;
                    let c = self.first_choice(r.choices, "/chat/completions")?;
                    let reasoning = c.message.reasoning_content.or(c.message.reasoning);
                    (
                        c.message.content.unwrap_or_default(),
                        c.finish_reason,
                        c.stop_reason,
                        reasoning,
                        r.usage,
                    )
                }
                _ => {
                    let body = CompletionRequest {
                        model: self.config.model.clone(),
                        prompt: Prompt::Text(req.context.clone()),
                        max_tokens: Some(req.max_tokens),
                        temperature: Some(req.temperature),
                        seed: req.seed,
                        stop,
                        logprobs: None,
                        echo: false,
                        stream: false,
                        n: None,
                        ignore_eos: false,
                    };
                    let r: CompletionResponse =
                        self.post("/completions", &body, self.policy()).await?;
                    let c = self.first_choice(r.choices, "/completions")?;
                    (c.text, c.finish_reason, c.stop_reason, None, r.usage)
                }
            };
            self.count_usage(usage);
            let mut text = text;
            let cut = req
                .until
                .iter()
                .filter(|s| !s.is_empty())
                .filter_map(|s| text.find(s.as_str()))
                .min();
            if let Some(cut) = cut {
                text.truncate(cut);
            }
            let finish_reason = match finish.as_deref() {
                _ if cut.is_some() => FinishReason::Stop,
                Some("length") => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                // vLLM (and assay serve) name the stop string that ended the text;
                // a plain "stop" is the end-of-sequence token.
                _ if matches!(stop_reason, Some(serde_json::Value::String(_))) => {
                    FinishReason::Stop
                }
                _ => FinishReason::EndOfSequence,
            };
            Ok(GenerateResponse {
                text,
                finish_reason,
                tokens: usage.map_or(0, |u| u.completion_tokens as usize),
                reasoning,
            })
        })
        .await
    }

    /// Runs one future per request, all under the concurrency limit, and returns the
    /// answers in order or the first failure (after every request has settled, so the
    /// answers that did arrive are all in the cache).
    fn run_all<'a, T, A, F, Fut>(&'a self, requests: &'a [T], one: F) -> Result<Vec<A>, ModelError>
    where
        F: Fn(&'a T) -> Fut,
        Fut: std::future::Future<Output = Result<A, ClientError>>,
    {
        self.abort.store(false, Ordering::Relaxed);
        let results = self
            .runtime
            .block_on(futures_util::future::join_all(requests.iter().map(one)));
        let mut answers = Vec::with_capacity(results.len());
        let mut first_error: Option<(usize, ClientError)> = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(a) => answers.push(a),
                // A request stopped because another failed says nothing new.
                Err(ClientError::Aborted) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some((i, e));
                    }
                }
            }
        }
        match first_error {
            None if answers.len() == requests.len() => Ok(answers),
            None => Err(ModelError::Transient {
                source: "requests were stopped before they were answered".into(),
            }),
            Some((
                index,
                ClientError::Refused {
                    status: 400,
                    message,
                    ..
                },
            )) => Err(ModelError::BadRequest {
                index,
                reason: format!("the server refused it: {message}"),
            }),
            Some((_, e)) => Err(e.into()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    max_retries: u32,
    /// Retries after a refused connection.
    connect_retries: u32,
    deadline: Duration,
    /// Whether the request counts in the usage report (probes do not).
    counted: bool,
}

#[derive(Debug)]
struct ScoredToken {
    /// Character offset where the token's text ends.
    end: usize,
    logprob: Option<f64>,
    top: Option<f64>,
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl LanguageModel for OpenAiModel {
    fn chats_natively(&self) -> bool {
        self.generation_api == GenerationApi::Chat
    }

    fn identity(&self) -> ModelIdentity {
        let mut settings = serde_json::Map::new();
        settings.insert(
            "generation_api".into(),
            serde_json::json!(self.generation_api),
        );
        settings.insert("capabilities".into(), serde_json::json!(self.capabilities));
        ModelIdentity {
            name: self.config.model.clone(),
            backend: "openai-compatible".into(),
            source: redact_url(&self.base),
            sha256: None,
            settings,
        }
    }

    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
        // Cached answers first; the rest go out in groups of `prompts_per_request`.
        let mut answers: Vec<Option<LoglikelihoodResponse>> = Vec::with_capacity(requests.len());
        for r in requests {
            answers.push(
                self.cache_get("loglikelihood", r)
                    .map_err(ModelError::from)?,
            );
        }
        let missing: Vec<usize> = (0..requests.len())
            .filter(|&i| answers[i].is_none())
            .collect();
        let groups: Vec<Vec<usize>> = missing
            .chunks(self.config.prompts_per_request.max(1))
            .map(<[usize]>::to_vec)
            .collect();
        let fetched = self
            .run_all(&groups, |g| {
                let group: Vec<&LoglikelihoodRequest> = g.iter().map(|&i| &requests[i]).collect();
                async move { self.loglikelihood_group(&group).await }
            })
            .map_err(|e| match e {
                // Name the request, not the group.
                ModelError::BadRequest { index, reason } => ModelError::BadRequest {
                    index: groups[index][0],
                    reason,
                },
                other => other,
            })?;
        for (g, group_answers) in groups.iter().zip(fetched) {
            for (&i, a) in g.iter().zip(group_answers) {
                answers[i] = Some(a);
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request answered"))
            .collect())
    }

    fn loglikelihood_rolling(
        &self,
        requests: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError> {
        self.run_all(requests, |r| self.rolling_one(r))
    }

    fn generate(&self, requests: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
        self.run_all(requests, |r| self.generate_one(r))
    }

    fn supports_loglikelihood(&self) -> bool {
        self.capabilities.prompt_logprobs
    }

    fn samples_per_call(&self, _generation: bool) -> usize {
        // Enough to keep the largest allowed number of requests in flight.
        (self.config.max_concurrency * 2).max(16)
    }

    fn usage(&self) -> Option<UsageReport> {
        Some(self.usage_report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print() {
        let key = ApiKey::new("sk-secret-123").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let mut config = ClientConfig::new("http://x", "m");
        config.api_key = Some(key);
        assert!(!format!("{config:?}").contains("sk-secret-123"));
        assert!(ApiKey::new("  ").is_none());
    }
}
