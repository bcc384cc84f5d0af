//! `assay serve`: the embedded model behind an OpenAI-compatible HTTP API, so that other
//! tools (lm-evaluation-harness's `local-completions`, promptfoo, inspect, assay's own
//! client) can evaluate it.
//!
//! Endpoints: `/v1/models`, `/v1/completions` (text or token-id prompts, one or many;
//! `echo` + `logprobs` for log-likelihood scoring; streaming), `/v1/chat/completions`
//! (the model's chat template; streaming), and vLLM's `/tokenize`, `/detokenize` and
//! `/tokenizer_info`, which lm-evaluation-harness uses as a remote tokenizer.
//!
//! One worker thread owns the model. Requests queue for it; scoring requests that are
//! waiting together run as one batch (the segment machinery packs them into shared
//! forward passes), and generations, streamed or not, decode together with continuous
//! batching: one forward pass per step for every live generation, a finished or
//! cancelled one (its client gone) leaving at once and a waiting one joining in its
//! place. Neither a score nor a greedy answer depends on which requests shared a batch
//! (the embedded model's invariance), so concurrency never changes an answer. At most
//! `max_batch` generations run at once and `max_queue` wait; past that a request gets
//! 503 at once instead of waiting without bound.

use assay_candle::{
    EmbeddedModel, Generation, GenerationBatch, GenerationEvent, JobId, TokenScore,
};
use assay_core::{ApiKey, ChatMessage, GenerateRequest, GenerateResponse, LanguageModel};
use assay_openai::protocol::{
    ApiMessage, ChatChoice, ChatChunk, ChatChunkChoice, ChatDelta, ChatRequest, ChatResponse,
    CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse, DetokenizeRequest,
    DetokenizeResponse, ErrorBody, ErrorDetail, ModelCard, ModelList, Prompt, TokenizeRequest,
    TokenizeResponse, Usage,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::{mpsc as tmpsc, oneshot};

/// Most scoring requests run together in one batch.
const MAX_BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The model id clients ask for.
    pub served_name: String,
    /// When set, every request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<ApiKey>,
    /// Most generations decoded together.
    pub max_batch: usize,
    /// Most generations waiting for a place in the batch; more get 503.
    pub max_queue: usize,
}

impl ServeConfig {
    pub fn new(served_name: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        Self {
            served_name: served_name.into(),
            api_key,
            max_batch: 32,
            max_queue: 256,
        }
    }
}

type ScoreReply = oneshot::Sender<Result<Vec<Vec<TokenScore>>, String>>;

enum Job {
    Score {
        prompts: Vec<Vec<u32>>,
        reply: ScoreReply,
    },
    Generate {
        request: GenerateRequest,
        ignore_eos: bool,
        stream: Option<tmpsc::UnboundedSender<String>>,
        reply: oneshot::Sender<Result<(GenerateResponse, Option<String>), String>>,
    },
}

struct AppState {
    model: Arc<EmbeddedModel>,
    config: ServeConfig,
    jobs: std::sync::Mutex<mpsc::Sender<Job>>,
    /// Generations submitted and not finished (running or waiting).
    generations: Arc<std::sync::atomic::AtomicUsize>,
    created: u64,
}

/// Starts the model worker and returns the router.
pub fn router(model: Arc<EmbeddedModel>, config: ServeConfig) -> Router {
    let (tx, rx) = mpsc::channel::<Job>();
    let worker_model = model.clone();
    let generations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let worker_generations = generations.clone();
    let max_batch = config.max_batch.max(1);
    std::thread::Builder::new()
        .name("assay-model".into())
        .spawn(move || worker(&worker_model, rx, max_batch, &worker_generations))
        .expect("the model thread starts");
    let state = Arc::new(AppState {
        model,
        config,
        jobs: std::sync::Mutex::new(tx),
        generations,
        created: time::OffsetDateTime::now_utc().unix_timestamp() as u64,
    });
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/tokenizer_info", get(tokenizer_info))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                message: format!("no endpoint {}", uri.path()),
            }
        })
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    kind: "invalid_request_error",
                    message: format!("{} does not take {method}", uri.path()),
                }
            },
        )
        .with_state(state)
        // A bug must cost one request a 500 answer, not its connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("the server failed on this request (a bug; please report it)")
                    .into_response()
            },
        ))
}

/// A generation the worker holds: where its text and answer go.
struct Client {
    stream: Option<tmpsc::UnboundedSender<String>>,
    reply: oneshot::Sender<Result<(GenerateResponse, Option<String>), String>>,
}

impl Client {
    /// The client has gone: its request was dropped or its stream closed.
    fn gone(&self) -> bool {
        self.reply.is_closed() || self.stream.as_ref().is_some_and(|s| s.is_closed())
    }
}

/// The model thread: takes every job waiting, runs the scoring jobs as one batch, admits
/// waiting generations to the decoding batch, and runs one decoding step; it sleeps only
/// when nothing is live.
fn worker(
    model: &EmbeddedModel,
    rx: mpsc::Receiver<Job>,
    max_batch: usize,
    generations: &std::sync::atomic::AtomicUsize,
) {
    let mut batch = GenerationBatch::new(model, max_batch);
    let mut waiting: std::collections::VecDeque<Generation> = Default::default();
    let mut clients: std::collections::HashMap<JobId, Client> = Default::default();
    let mut next_id: JobId = 0;
    let mut events = Vec::new();
    loop {
        let mut jobs = Vec::new();
        if batch.is_empty() && waiting.is_empty() {
            match rx.recv() {
                Ok(job) => jobs.push(job),
                Err(_) => return,
            }
        }
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut prompts = Vec::new();
        let mut replies = Vec::new();
        for job in jobs {
            match job {
                Job::Score { prompts: p, reply } => {
                    replies.push((p.len(), reply));
                    prompts.extend(p);
                }
                Job::Generate {
                    request,
                    ignore_eos,
                    stream,
                    reply,
                } => {
                    next_id += 1;
                    clients.insert(next_id, Client { stream, reply });
                    waiting.push_back(Generation {
                        id: next_id,
                        request,
                        ignore_eos,
                    });
                }
            }
        }
        if !prompts.is_empty() {
            score(model, &prompts, replies);
        }
        // Clients gone while waiting or running free their place at once.
        let gone: Vec<JobId> = clients
            .iter()
            .filter(|(_, c)| c.gone())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            batch.cancel(id);
            waiting.retain(|w| w.id != id);
            clients.remove(&id);
            generations.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        let joining: Vec<_> = (0..batch.free_slots().min(waiting.len()))
            .filter_map(|_| waiting.pop_front())
            .collect();
        if !joining.is_empty() {
            batch.admit(joining, &mut events);
        }
        if !batch.is_empty() {
            batch.step(&mut events);
        }
        for event in events.drain(..) {
            match event {
                GenerationEvent::Text { id, text } => {
                    if let Some(Client {
                        stream: Some(s), ..
                    }) = clients.get(&id)
                    {
                        // A closed stream is noticed before the next step.
                        let _ = s.send(text);
                    }
                }
                GenerationEvent::Finished { id, result } => {
                    if let Some(client) = clients.remove(&id) {
                        generations.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        // The job number is the worker's own: the reason alone is the
                        // client's business.
                        let _ = client.reply.send(result.map_err(|e| match e {
                            assay_core::ModelError::BadRequest { reason, .. } => reason,
                            e => e.to_string(),
                        }));
                    }
                }
            }
        }
    }
}

/// Scores the prompts of several requests in one batch; one bad prompt does not fail the
/// others.
fn score(model: &EmbeddedModel, prompts: &[Vec<u32>], replies: Vec<(usize, ScoreReply)>) {
    match model.prompt_logprobs(prompts) {
        Ok(scores) => {
            let mut scores = scores.into_iter();
            for (n, reply) in replies {
                let _ = reply.send(Ok(scores.by_ref().take(n).collect()));
            }
        }
        Err(_) if replies.len() > 1 => {
            let mut offset = 0;
            for (n, reply) in replies {
                let mine = &prompts[offset..offset + n];
                offset += n;
                let _ = reply.send(model.prompt_logprobs(mine).map_err(|e| e.to_string()));
            }
        }
        Err(e) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}

/// An OpenAI-style error response.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: self.message,
                kind: self.kind.into(),
                code: None,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl AppState {
    fn check(&self, headers: &HeaderMap, model: Option<&str>) -> Result<(), ApiError> {
        if let Some(key) = &self.config.api_key {
            let given = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !key.matches(given) {
                return Err(ApiError {
                    status: StatusCode::UNAUTHORIZED,
                    kind: "invalid_request_error",
                    message: "invalid or missing API key".into(),
                });
            }
        }
        if let Some(m) = model
            && m != self.config.served_name
        {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                message: format!(
                    "The model `{m}` does not exist; this server serves `{}`",
                    self.config.served_name
                ),
            });
        }
        Ok(())
    }

    fn submit(&self, job: Job) -> Result<(), ApiError> {
        if matches!(job, Job::Generate { .. }) {
            use std::sync::atomic::Ordering;
            let limit = self.config.max_batch.max(1) + self.config.max_queue;
            let taken = self
                .generations
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < limit).then_some(n + 1)
                });
            if taken.is_err() {
                return Err(ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    kind: "server_overloaded",
                    message: format!(
                        "the server is busy: {} generations are running and {} waiting (--max-batch, --max-queue); retry later",
                        self.config.max_batch, self.config.max_queue
                    ),
                });
            }
        }
        let generation = matches!(job, Job::Generate { .. });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| {
                if generation {
                    self.generations
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                ApiError::internal("the model worker has stopped")
            })
    }

    async fn score(&self, prompts: Vec<Vec<u32>>) -> Result<Vec<Vec<TokenScore>>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Score { prompts, reply })?;
        rx.await
            .map_err(|_| ApiError::internal("the model worker stopped"))?
            .map_err(ApiError::bad_request)
    }

    /// Submits one generation, unstreamed; its answer (and the stop string that ended
    /// it) arrives through [`await_answer`]. Submitting every answer a request needs before
    /// awaiting any lets them decode in one batch.
    fn start_generation(
        &self,
        request: GenerateRequest,
        ignore_eos: bool,
    ) -> Result<PendingAnswer, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Generate {
            request,
            ignore_eos,
            stream: None,
            reply,
        })?;
        Ok(rx)
    }

    fn token_string(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.model.tokenizer.token_bytes(id)).into_owned()
    }
}

type PendingAnswer = oneshot::Receiver<Result<(GenerateResponse, Option<String>), String>>;

/// The answer of a generation [`AppState::start_generation`] submitted.
async fn await_answer(
    pending: PendingAnswer,
) -> Result<(GenerateResponse, Option<String>), ApiError> {
    pending
        .await
        .map_err(|_| ApiError::internal("the model worker stopped"))?
        .map_err(ApiError::bad_request)
}

/// A request body: JSON (a key given twice is refused, not resolved to either copy).
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let invalid =
        |e: serde_json::Error| ApiError::bad_request(format!("invalid request body: {e}"));
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: not UTF-8: {e}")))?;
    let value = assay_core::input::parse_strict(text).map_err(invalid)?;
    serde_json::from_value(value).map_err(invalid)
}

/// The most completions one request may ask for (`n`).
const MAX_N: usize = 16;

/// Sampling settings every generation endpoint checks the same way: OpenAI's ranges,
/// refused rather than clamped.
fn check_sampling(temperature: Option<f64>, n: Option<usize>) -> Result<(f64, usize), ApiError> {
    let temperature = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad_request(format!(
            "temperature {temperature} is outside 0 to 2"
        )));
    }
    let n = n.unwrap_or(1);
    if !(1..=MAX_N).contains(&n) {
        return Err(ApiError::bad_request(format!(
            "n = {n}: this server returns 1 to {MAX_N} completions per prompt"
        )));
    }
    Ok((temperature, n))
}

/// Refuses a generation that does not fit the context: the prompt is never cut without a
/// word. `max_tokens` None takes what is left, at most `default`.
fn fit_context(
    state: &AppState,
    prompt_tokens: usize,
    max_tokens: Option<usize>,
    default: usize,
) -> Result<usize, ApiError> {
    let limit = state.model.max_length();
    let left = limit.saturating_sub(prompt_tokens);
    let wanted = max_tokens.unwrap_or(default.min(left));
    if left == 0 || prompt_tokens + wanted > limit {
        return Err(ApiError::bad_request(format!(
            "this model's maximum context length is {limit} tokens; the request asks for \
             {} ({prompt_tokens} in the prompt, {wanted} to generate): shorten the prompt or \
             lower max_tokens",
            prompt_tokens + wanted
        )));
    }
    Ok(wanted)
}

fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

fn request_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.check(&headers, None)?;
    Ok(axum::Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.config.served_name.clone(),
            object: "model".into(),
            created: state.created,
            owned_by: "assay".into(),
        }],
    })
    .into_response())
}

async fn tokenize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.check(&headers, None)?;
    let req: TokenizeRequest = parse(&body)?;
    let tokens = state
        .model
        .tokenize(&req.prompt, req.add_special_tokens.unwrap_or(true))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(axum::Json(TokenizeResponse {
        count: tokens.len(),
        tokens,
        max_model_len: state.model.max_length(),
    })
    .into_response())
}

async fn detokenize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.check(&headers, None)?;
    let req: DetokenizeRequest = parse(&body)?;
    check_ids(&state, &req.tokens)?;
    let prompt = state
        .model
        .detokenize(&req.tokens)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(axum::Json(DetokenizeResponse { prompt }).into_response())
}

async fn tokenizer_info(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.check(&headers, None)?;
    let t = &state.model.tokenizer;
    let text = |id: Option<u32>| id.and_then(|i| t.token_text(i)).map(str::to_owned);
    Ok(axum::Json(serde_json::json!({
        "eos_token": text(t.eos_token),
        "bos_token": text(t.bos_token),
        "pad_token": text(t.eos_token),
        "chat_template": state.model.chat_template_source(),
        "model_max_length": state.model.max_length(),
        "add_bos_token": t.add_bos,
    }))
    .into_response())
}

/// A prompt as the model sees it: its tokens, how many leading tokens were added by
/// the server (a BOS), which take no room in the text, and its text when it came as
/// text.
struct PromptTokens {
    tokens: Vec<u32>,
    added: usize,
    text: Option<String>,
}

impl PromptTokens {
    /// The prompt's text: as given, or decoded from its token ids.
    fn text(&self, state: &AppState) -> Result<String, ApiError> {
        match &self.text {
            Some(t) => Ok(t.clone()),
            None => state
                .model
                .detokenize(&self.tokens[self.added..])
                .map_err(|e| ApiError::bad_request(e.to_string())),
        }
    }
}

/// Refuses token ids outside the model's vocabulary.
fn check_ids(state: &AppState, tokens: &[u32]) -> Result<(), ApiError> {
    match tokens
        .iter()
        .find(|&&t| t as usize >= state.model.tokenizer.vocab_size)
    {
        Some(bad) => Err(ApiError::bad_request(format!(
            "token id {bad} is outside the vocabulary"
        ))),
        None => Ok(()),
    }
}

fn prompts(state: &AppState, prompt: Prompt) -> Result<Vec<PromptTokens>, ApiError> {
    let t = &state.model.tokenizer;
    // `tokenize(text, true)` puts the BOS first exactly when the model asks for one.
    let added = usize::from(t.add_bos && t.bos_token.is_some());
    let encode = |text: String| -> Result<PromptTokens, ApiError> {
        let tokens = state
            .model
            .tokenize(&text, true)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(PromptTokens {
            tokens,
            added,
            text: Some(text),
        })
    };
    let ids = |tokens: Vec<u32>| -> Result<PromptTokens, ApiError> {
        check_ids(state, &tokens)?;
        Ok(PromptTokens {
            tokens,
            added: 0,
            text: None,
        })
    };
    let list = match prompt {
        Prompt::Text(t) => vec![encode(t)?],
        Prompt::Texts(ts) => ts.into_iter().map(encode).collect::<Result<_, _>>()?,
        Prompt::Tokens(t) => vec![ids(t)?],
        Prompt::TokenLists(ls) => ls.into_iter().map(ids).collect::<Result<_, _>>()?,
    };
    if list.is_empty() {
        return Err(ApiError::bad_request("the prompt is empty"));
    }
    if let Some(i) = list.iter().position(|p| p.tokens.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "prompt {i} is empty (no tokens): there is nothing to condition on or score"
        )));
    }
    Ok(list)
}

/// Per-token detail in the legacy completions format: token strings, log-probabilities
/// (none for the first token), the top alternative, and character offsets.
fn logprobs_detail(
    state: &AppState,
    tokens: &[u32],
    scores: &[TokenScore],
    added: usize,
) -> CompletionLogprobs {
    let mut out = CompletionLogprobs::default();
    // Characters of the text so far, and the bytes of a character not yet complete.
    let mut chars = 0;
    let mut pending: Vec<u8> = Vec::new();
    for (i, &t) in tokens.iter().enumerate() {
        // The offset counts the characters of the text before this token; a token that
        // starts inside a character is placed at that character.
        out.text_offset.push(chars);
        out.tokens.push(state.token_string(t));
        if i >= added {
            pending.extend(state.model.tokenizer.token_bytes(t));
            let complete = match std::str::from_utf8(&pending) {
                Ok(text) => text.len(),
                Err(e) => e.valid_up_to(),
            };
            chars += std::str::from_utf8(&pending[..complete]).map_or(0, |s| s.chars().count());
            pending.drain(..complete);
        }
        if i == 0 {
            out.token_logprobs.push(None);
            out.top_logprobs.push(None);
        } else {
            let s = scores[i - 1];
            out.token_logprobs.push(Some(s.logprob));
            let mut top = BTreeMap::new();
            top.insert(state.token_string(s.top_token), s.top_logprob);
            out.top_logprobs.push(Some(top));
        }
    }
    out
}

async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CompletionRequest = parse(&body)?;
    state.check(&headers, Some(&req.model))?;
    let prompts = prompts(&state, req.prompt.clone())?;
    let (temperature, n) = check_sampling(req.temperature, req.n)?;
    // Scoring returns the one most likely alternative per token; asking for more must
    // not silently get fewer.
    if req.logprobs.is_some_and(|k| k > 1) {
        return Err(ApiError::bad_request(format!(
            "logprobs = {}: this server returns at most 1 alternative per token",
            req.logprobs.unwrap_or_default()
        )));
    }
    let max_tokens = req.max_tokens.unwrap_or(16);
    let until = req.stop.clone().map(|s| s.into_vec()).unwrap_or_default();
    let id = request_id("cmpl");

    if req.stream {
        if prompts.len() != 1 || n != 1 || req.echo || req.logprobs.is_some() {
            return Err(ApiError::bad_request(
                "streaming takes one prompt and n = 1, without echo or logprobs",
            ));
        }
        let max_tokens = fit_context(&state, prompts[0].tokens.len(), req.max_tokens, 16)?;
        let context = prompts[0].text(&state)?;
        let request = GenerateRequest {
            context,
            until,
            max_tokens,
            temperature,
            seed: req.seed,
        };
        let model_name = state.config.served_name.clone();
        let created = now();
        let chunk = move |text: String, finish: Option<String>| {
            serde_json::json!({
                "id": id, "object": "text_completion", "created": created, "model": model_name,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
            })
        };
        return stream_generation(&state, request, req.ignore_eos, chunk);
    }

    let mut choices = Vec::with_capacity(prompts.len());
    let (mut prompt_tokens, mut completion_tokens) = (0u64, 0u64);
    let echo_one_greedy =
        req.echo && req.logprobs.is_some() && max_tokens <= 1 && temperature <= 0.0;
    if echo_one_greedy && n > 1 {
        return Err(ApiError::bad_request(
            "n > 1 with echo and logprobs: scoring has one answer; ask for n = 1",
        ));
    }
    if echo_one_greedy {
        // Log-likelihood scoring: every prompt token's log-probability, plus (when one
        // token is asked for) the greedy next token, read off one more scored row. All
        // the prompts of this request go to the model as one batch.
        let dummy = 0;
        let inputs: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| {
                let mut t = p.tokens.clone();
                if max_tokens == 1 {
                    t.push(dummy);
                }
                t
            })
            .collect();
        let scores = state.score(inputs).await?;
        for (index, (p, mut s)) in prompts.iter().zip(scores).enumerate() {
            prompt_tokens += p.tokens.len() as u64;
            let mut tokens = p.tokens.clone();
            let mut text = String::new();
            let mut finish = "length";
            if max_tokens == 1 {
                // The generated token is listed even when it is end-of-sequence (as
                // vLLM does): clients such as lm-evaluation-harness drop the last entry
                // as "the generated one".
                let last = s
                    .last_mut()
                    .ok_or_else(|| ApiError::internal("no score for the next token"))?;
                let next = last.top_token;
                last.token = next;
                last.logprob = last.top_logprob;
                tokens.push(next);
                completion_tokens += 1;
                if state.model.tokenizer.end_of_generation.contains(&next) {
                    finish = "stop";
                } else {
                    text = state.model.detokenize(&[next]).unwrap_or_default();
                }
            }
            let detail = logprobs_detail(&state, &tokens, &s, p.added);
            let prompt_text = p.text(&state).unwrap_or_default();
            choices.push(CompletionChoice {
                index,
                text: format!("{prompt_text}{text}"),
                logprobs: Some(detail),
                finish_reason: Some(finish.into()),
                stop_reason: None,
            });
        }
    } else {
        let mut jobs = Vec::new();
        for p in &prompts {
            let max_tokens = fit_context(&state, p.tokens.len(), req.max_tokens, 16)?;
            for k in 0..n {
                jobs.push((p, max_tokens, k));
            }
        }
        let mut pending = Vec::with_capacity(jobs.len());
        for (p, max_tokens, k) in jobs {
            let context = p.text(&state)?;
            let request = GenerateRequest {
                context: context.clone(),
                until: until.clone(),
                max_tokens,
                temperature,
                seed: nth_seed(req.seed, k),
            };
            let started = state.start_generation(request, req.ignore_eos)?;
            pending.push((p, k, context, started));
        }
        for (index, (p, k, context, started)) in pending.into_iter().enumerate() {
            let (answer, matched) = await_answer(started).await?;
            if k == 0 {
                prompt_tokens += p.tokens.len() as u64;
            }
            completion_tokens += answer.tokens as u64;
            let logprobs = match req.logprobs {
                Some(_) => {
                    // Score the prompt followed by the answer's tokens.
                    let answer_tokens = state
                        .model
                        .tokenize(&answer.text, false)
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    let mut all = p.tokens.clone();
                    all.extend(&answer_tokens);
                    let scores = state.score(vec![all.clone()]).await?.remove(0);
                    let mut detail = logprobs_detail(&state, &all, &scores, p.added);
                    if !req.echo {
                        let n = p.tokens.len();
                        let base = context.chars().count();
                        detail.tokens.drain(..n);
                        detail.token_logprobs.drain(..n);
                        detail.top_logprobs.drain(..n);
                        detail.text_offset.drain(..n);
                        for o in &mut detail.text_offset {
                            *o -= base.min(*o);
                        }
                    }
                    Some(detail)
                }
                None => None,
            };
            choices.push(CompletionChoice {
                index,
                text: if req.echo {
                    format!("{context}{}", answer.text)
                } else {
                    answer.text.clone()
                },
                logprobs,
                finish_reason: Some(finish_reason(&answer).into()),
                stop_reason: matched.map(serde_json::Value::String),
            });
        }
    }
    Ok(axum::Json(CompletionResponse {
        id: request_id("cmpl"),
        object: "text_completion".into(),
        created: now(),
        model: state.config.served_name.clone(),
        choices,
        usage: Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }),
    })
    .into_response())
}

/// The seed of the k-th of n answers: distinct answers when sampling, the given seed for
/// the first (so n = 1 is unchanged).
fn nth_seed(seed: Option<u64>, k: usize) -> Option<u64> {
    match (seed, k) {
        (s, 0) => s,
        (s, k) => Some(s.unwrap_or(0).wrapping_add(k as u64)),
    }
}

fn finish_reason(answer: &GenerateResponse) -> &'static str {
    match answer.finish_reason {
        assay_core::FinishReason::Length => "length",
        assay_core::FinishReason::ContentFilter => "content_filter",
        _ => "stop",
    }
}

/// Streams a generation as server-sent events, one `chunk` per piece of text, then a
/// final chunk with the finish reason and `[DONE]`.
fn stream_generation<F>(
    state: &AppState,
    request: GenerateRequest,
    ignore_eos: bool,
    chunk: F,
) -> Result<Response, ApiError>
where
    F: Fn(String, Option<String>) -> serde_json::Value + Send + 'static,
{
    let (pieces, mut pieces_rx) = tmpsc::unbounded_channel::<String>();
    let (reply, reply_rx) = oneshot::channel();
    state.submit(Job::Generate {
        request,
        ignore_eos,
        stream: Some(pieces),
        reply,
    })?;
    let (events, events_rx) = tmpsc::unbounded_channel::<Result<Event, Infallible>>();
    tokio::spawn(async move {
        let send =
            |value: serde_json::Value| events.send(Ok(Event::default().data(value.to_string())));
        while let Some(piece) = pieces_rx.recv().await {
            if send(chunk(piece, None)).is_err() {
                return;
            }
        }
        // After an error the stream ends without `[DONE]`, which clients read as a
        // failed request.
        if let Ok(Ok((answer, _))) = reply_rx.await {
            let _ = send(chunk(String::new(), Some(finish_reason(&answer).into())));
            let _ = events.send(Ok(Event::default().data("[DONE]")));
        }
    });
    Ok(
        Sse::new(tokio_stream::wrappers::UnboundedReceiverStream::new(
            events_rx,
        ))
        .into_response(),
    )
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse(&body)?;
    state.check(&headers, Some(&req.model))?;
    if req.messages.is_empty() {
        return Err(ApiError::bad_request("`messages` is empty"));
    }
    let messages: Vec<ChatMessage> = req
        .messages
        .iter()
        .map(|m| ChatMessage {
            role: m.role.clone(),
            content: m.content.clone().unwrap_or_default(),
        })
        .collect();
    let (temperature, n) = check_sampling(req.temperature, req.n)?;
    let context = state
        .model
        .apply_chat_template(&messages)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let prompt_tokens = state
        .model
        .tokenize(&context, true)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .len();
    let max_tokens = fit_context(
        &state,
        prompt_tokens,
        req.max_completion_tokens.or(req.max_tokens),
        512,
    )?;
    let prompt_tokens = prompt_tokens as u64;
    let request = GenerateRequest {
        context,
        until: req.stop.clone().map(|s| s.into_vec()).unwrap_or_default(),
        max_tokens,
        temperature,
        seed: req.seed,
    };
    let id = request_id("chatcmpl");
    let model_name = state.config.served_name.clone();
    let created = now();
    if req.stream {
        if n != 1 {
            return Err(ApiError::bad_request("streaming takes n = 1"));
        }
        let first = std::sync::atomic::AtomicBool::new(true);
        return stream_generation(&state, request, req.ignore_eos, move |piece, finish| {
            let role = first
                .swap(false, std::sync::atomic::Ordering::Relaxed)
                .then(|| "assistant".to_owned());
            serde_json::to_value(ChatChunk {
                id: id.clone(),
                object: "chat.completion.chunk".into(),
                created,
                model: model_name.clone(),
                choices: vec![ChatChunkChoice {
                    index: 0,
                    delta: ChatDelta {
                        role,
                        content: (finish.is_none()).then_some(piece),
                    },
                    finish_reason: finish,
                }],
            })
            .expect("chunks serialize")
        });
    }
    let mut choices = Vec::with_capacity(n);
    let mut completion_tokens = 0u64;
    let pending = (0..n)
        .map(|k| {
            state.start_generation(
                GenerateRequest {
                    seed: nth_seed(request.seed, k),
                    ..request.clone()
                },
                req.ignore_eos,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (k, started) in pending.into_iter().enumerate() {
        let (answer, matched) = await_answer(started).await?;
        completion_tokens += answer.tokens as u64;
        choices.push(ChatChoice {
            index: k,
            message: ApiMessage {
                role: "assistant".into(),
                content: Some(answer.text.clone()),
                reasoning_content: None,
                reasoning: None,
            },
            finish_reason: Some(finish_reason(&answer).into()),
            stop_reason: matched.map(serde_json::Value::String),
        });
    }
    Ok(axum::Json(ChatResponse {
        id,
        object: "chat.completion".into(),
        created,
        model: model_name,
        choices,
        usage: Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }),
    })
    .into_response())
}
