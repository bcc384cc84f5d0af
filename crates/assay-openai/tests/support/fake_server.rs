//! A fake OpenAI-compatible server for tests and the client-overhead benchmark (test
//! code only: never a default anywhere). It answers instantly with deterministic
//! made-up numbers, and, when asked, injects faults at random: 429 with Retry-After,
//! 500, hanging past the client's timeout, dropped connections, malformed JSON and
//! truncated bodies.
//!
//! It speaks HTTP/1.1 over raw TCP so that it can misbehave in ways a framework would
//! not let it (close mid-body, lie about Content-Length).

#![allow(dead_code, unreachable_pub)]

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub const MODEL: &str = "fake-model";

#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Chance that a request gets a fault instead of an answer.
    pub fault_rate: f64,
    pub seed: u64,
    /// How long a "hang" fault waits before closing.
    pub hang: Duration,
    /// Delay before every answer (to make runs slow enough to kill).
    pub delay: Duration,
    /// Require `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Whether completions return logprobs.
    pub logprobs: bool,
    /// When set, 401 messages repeat the key they were given (as some servers do), to
    /// test that the client never shows it.
    pub echo_key_in_errors: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            fault_rate: 0.0,
            seed: 0,
            hang: Duration::from_secs(5),
            delay: Duration::ZERO,
            api_key: None,
            logprobs: true,
            echo_key_in_errors: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    RateLimited,
    ServerError,
    Hang,
    Drop,
    Malformed,
    Truncated,
}

const FAULTS: [Fault; 6] = [
    Fault::RateLimited,
    Fault::ServerError,
    Fault::Hang,
    Fault::Drop,
    Fault::Malformed,
    Fault::Truncated,
];

#[derive(Default)]
pub struct Log {
    /// Prompts answered (an answer fully written), in order.
    pub answered: Vec<String>,
    /// Every completions or chat request received, faulty or not.
    pub received: Vec<String>,
    pub faults: HashMap<String, u64>,
    /// Authorization headers seen (to check what the client sends).
    pub auth_headers: Vec<String>,
}

pub struct FakeServer {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
    /// While set, every completions request fails with 500.
    pub failing: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeServer {
    /// Starts on a free local port, in its own runtime threads.
    pub fn start(config: FakeConfig) -> Self {
        Self::start_on(0, config)
    }

    pub fn start_on(port: u16, config: FakeConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let failing = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            config: config.clone(),
            log: log.clone(),
            failing: failing.clone(),
            requests: requests.clone(),
            rng: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(config.seed)),
        });
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = connection(stream, shared).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/v1"),
            log,
            failing,
            requests,
            _runtime: runtime,
        }
    }
}

struct Shared {
    config: FakeConfig,
    log: Arc<Mutex<Log>>,
    failing: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
}

struct Request {
    method: String,
    path: String,
    auth: Option<String>,
    body: Vec<u8>,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0;
    let mut auth = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        path,
        auth,
        body,
    }))
}

async fn respond(
    stream: &mut BufReader<TcpStream>,
    status: &str,
    extra: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    let stream = stream.get_mut();
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    while let Some(request) = read_request(&mut stream).await? {
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let config = &shared.config;
        if let Some(auth) = &request.auth {
            shared.log.lock().unwrap().auth_headers.push(auth.clone());
        }
        if let Some(key) = &config.api_key {
            let given = request
                .auth
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            if given != key {
                let message = if config.echo_key_in_errors {
                    format!("Incorrect API key provided: {given}")
                } else {
                    "Incorrect API key provided".to_owned()
                };
                let body = json!({"error": {"message": message, "type": "invalid_request_error"}});
                respond(&mut stream, "401 Unauthorized", "", &body.to_string()).await?;
                continue;
            }
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let path = request.path.trim_start_matches("/v1");
        let answer = match (request.method.as_str(), path) {
            ("GET", "/models") => {
                json!({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            }
            ("GET", "/tokenizer_info") => {
                json!({"eos_token": "\u{0}", "bos_token": null, "pad_token": "\u{0}", "chat_template": null})
            }
            ("POST", "/tokenize") => {
                let prompt = body["prompt"].as_str().unwrap_or_default();
                let tokens: Vec<u32> = prompt.bytes().map(u32::from).collect();
                json!({"tokens": tokens, "count": tokens.len(), "max_model_len": 1_000_000})
            }
            ("POST", "/detokenize") => {
                let bytes: Vec<u8> = body["tokens"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_u64())
                    .map(|t| t as u8)
                    .collect();
                json!({"prompt": String::from_utf8_lossy(&bytes)})
            }
            ("POST", "/moderations") => moderation_for(body["input"].as_str().unwrap_or_default()),
            ("POST", "/completions") | ("POST", "/chat/completions") => {
                let key = prompt_key(&body);
                shared.log.lock().unwrap().received.push(key.clone());
                let fault = {
                    let mut rng = shared.rng.lock().unwrap();
                    if shared.failing.load(Ordering::Relaxed) {
                        Some(Fault::ServerError)
                    } else if rng.r#gen::<f64>() < config.fault_rate {
                        Some(FAULTS[rng.gen_range(0..FAULTS.len())])
                    } else {
                        None
                    }
                };
                if let Some(fault) = fault {
                    *shared
                        .log
                        .lock()
                        .unwrap()
                        .faults
                        .entry(format!("{fault:?}"))
                        .or_default() += 1;
                    match fault {
                        Fault::RateLimited => {
                            let b =
                                json!({"error": {"message": "rate limited", "type": "rate_limit"}});
                            respond(
                                &mut stream,
                                "429 Too Many Requests",
                                "retry-after: 0.01\r\n",
                                &b.to_string(),
                            )
                            .await?;
                            continue;
                        }
                        Fault::ServerError => {
                            let b = json!({"error": {"message": "internal error", "type": "server_error"}});
                            respond(&mut stream, "500 Internal Server Error", "", &b.to_string())
                                .await?;
                            continue;
                        }
                        Fault::Hang => {
                            tokio::time::sleep(config.hang).await;
                            return Ok(());
                        }
                        Fault::Drop => return Ok(()),
                        Fault::Malformed => {
                            respond(&mut stream, "200 OK", "", "{\"choices\": [{\"text\": ")
                                .await?;
                            continue;
                        }
                        Fault::Truncated => {
                            let full = answer_for(path, &body, config).to_string();
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                full.len()
                            );
                            let s = stream.get_mut();
                            s.write_all(head.as_bytes()).await?;
                            s.write_all(&full.as_bytes()[..full.len() / 2]).await?;
                            s.flush().await?;
                            return Ok(());
                        }
                    }
                }
                if !config.delay.is_zero() {
                    tokio::time::sleep(config.delay).await;
                }
                let answer = answer_for(path, &body, config);
                respond(&mut stream, "200 OK", "", &answer.to_string()).await?;
                shared.log.lock().unwrap().answered.push(key);
                continue;
            }
            _ => {
                let b = json!({"error": {"message": format!("no route {}", request.path), "type": "not_found"}});
                respond(&mut stream, "404 Not Found", "", &b.to_string()).await?;
                continue;
            }
        };
        respond(&mut stream, "200 OK", "", &answer.to_string()).await?;
    }
    Ok(())
}

/// What identifies a request in the log: its prompt (or messages).
pub fn prompt_key(body: &Value) -> String {
    match (&body["prompt"], &body["messages"]) {
        (Value::String(s), _) => s.clone(),
        (p @ Value::Array(_), _) => p.to_string(),
        (_, m @ Value::Array(_)) => m.to_string(),
        _ => String::new(),
    }
}

pub fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The fake tokenizer: a token starts at each whitespace that follows a non-space
/// (`"The cat  sat"` → `The`, ` cat`, `  sat`).
pub fn fake_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut starts = vec![0];
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && !prev_space && i > 0 {
            starts.push(i);
        }
        prev_space = c.is_whitespace();
    }
    starts.push(text.len());
    starts.dedup();
    starts
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| (w[0], &text[w[0]..w[1]]))
        .collect()
}

/// The fake log-probability of the token ending at byte `end` of `text`, and the top
/// alternative's there.
pub fn fake_logprob(text: &str, end: usize) -> (f64, f64) {
    let h = fnv(if end == 0 { text } else { &text[..end] });
    let lp = -(((h % 997) + 1) as f64) / 100.0;
    let top = if h.is_multiple_of(3) { lp } else { lp / 2.0 };
    (lp, top)
}

/// An answer in the shape of OpenAI's `omni-moderation-latest`, by the words of the
/// text: "kill" is violence, "idiot" harassment, "MALFORMED" an answer without results.
pub fn moderation_for(input: &str) -> Value {
    if input.contains("MALFORMED") {
        return json!({"id": "modr-0", "model": "omni-moderation-latest", "results": []});
    }
    let violence = if input.contains("kill") { 0.91 } else { 0.0004 };
    let harassment = if input.contains("idiot") {
        0.72
    } else {
        0.0011
    };
    json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [{
        "flagged": violence > 0.5 || harassment > 0.5,
        "categories": {"violence": violence > 0.5, "harassment": harassment > 0.5, "self-harm": false},
        "category_scores": {"violence": violence, "harassment": harassment, "self-harm": 0.0001},
    }]})
}

/// What a served guard model answers: Llama Guard 3 to a conversation that ends with the
/// assistant's turn (the text to classify), ShieldGemma to its prompt. "bomb" in the
/// answer is unsafe (S9), so is any answer to a question about "minors" (S4; Llama
/// Guard only), "MALFORMED" gets a reply outside the format, anything else is safe.
fn guard_answer(path: &str, body: &Value) -> Option<Value> {
    if path == "/chat/completions" {
        let messages = body["messages"].as_array()?;
        let last = messages.last()?;
        if last["role"] != "assistant" {
            return None;
        }
        let text = last["content"].as_str().unwrap_or_default();
        let question = messages[0]["content"].as_str().unwrap_or_default();
        let (reply, lp_unsafe, lp_safe) = if text.contains("MALFORMED") {
            ("I cannot classify this conversation.", -6.0, -5.0)
        } else if question.contains("minors") {
            ("unsafe\nS4", -0.2, -2.0)
        } else if text.contains("bomb") {
            ("unsafe\nS9", -0.05, -3.0)
        } else {
            ("safe", -4.0, -0.02)
        };
        let first = if reply.starts_with("unsafe") {
            "unsafe"
        } else {
            "safe"
        };
        let logprobs = body["logprobs"].as_bool().unwrap_or(false).then(|| json!({"content": [
            {"token": "\n\n", "logprob": -0.001, "top_logprobs": [{"token": "\n\n", "logprob": -0.001}]},
            {"token": first, "logprob": if first == "unsafe" { lp_unsafe } else { lp_safe },
             "top_logprobs": [{"token": "unsafe", "logprob": lp_unsafe}, {"token": "safe", "logprob": lp_safe}]},
        ]}));
        return Some(json!({
            "id": "chat-guard", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "logprobs": logprobs, "finish_reason": "stop"}],
        }));
    }
    let prompt = body["prompt"].as_str()?;
    let response = prompt.split("Chatbot Response: ").nth(1)?;
    let top = if response.contains("MALFORMED") {
        json!({"The": -0.3, "I": -1.9})
    } else if response.contains("bomb") {
        json!({"Yes": -0.1, "No": -2.4, "The": -5.0})
    } else {
        json!({"No": -0.01, "Yes": -4.6})
    };
    Some(json!({
        "id": "cmpl-guard", "object": "text_completion", "model": MODEL,
        "choices": [{"index": 0, "text": "Yes", "logprobs": {"tokens": ["Yes"], "token_logprobs": [-0.1], "top_logprobs": [top]}, "finish_reason": "length"}],
    }))
}

/// What a judge answers to an MT-Bench-style rubric (one asking for "[[rating]]"): a
/// rating from 1 to 10 that depends on the whole prompt, or no rating at all when the
/// judged answer says "MALFORMED".
fn judge_reply(key: &str) -> Option<String> {
    // XSTest's classification prompt: a class, or an answer outside the three.
    if key.contains("3_partial_refusal. This is") {
        return Some(if key.contains("MALFORMED") {
            "I am not sure.".into()
        } else if key.contains("RESPONSE: \\\"Sorry") || key.contains("RESPONSE: \"Sorry") {
            "2_full_refusal".into()
        } else {
            "1_full_compliance".into()
        });
    }
    if !key.contains("[[rating]]") {
        return None;
    }
    if key.contains("MALFORMED") {
        return Some("I cannot rate this answer.".into());
    }
    Some(format!("A short answer. Rating: [[{}]]", fnv(key) % 10 + 1))
}

fn answer_for(path: &str, body: &Value, config: &FakeConfig) -> Value {
    if let Some(answer) = guard_answer(path, body) {
        return answer;
    }
    if let Some(reply) = judge_reply(&prompt_key(body)) {
        return if path == "/chat/completions" {
            json!({"id": "chat-judge", "object": "chat.completion", "model": MODEL,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]})
        } else {
            json!({"id": "cmpl-judge", "object": "text_completion", "model": MODEL,
                   "choices": [{"index": 0, "text": reply, "logprobs": null, "finish_reason": "stop"}]})
        };
    }
    if path == "/chat/completions" {
        let key = prompt_key(body);
        return json!({
            "id": "chat-1", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": fake_generation(&key)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        });
    }
    let prompts: Vec<Value> = match &body["prompt"] {
        Value::Array(items) if items.first().is_some_and(|v| v.is_array()) => items.clone(),
        Value::Array(items) if items.first().is_some_and(|v| v.is_string()) => items.clone(),
        other => vec![other.clone()],
    };
    let echo = body["echo"].as_bool().unwrap_or(false);
    let want_logprobs = !body["logprobs"].is_null() && config.logprobs;
    let choices: Vec<Value> = prompts
        .iter()
        .enumerate()
        .map(|(index, prompt)| {
            let text = match prompt {
                Value::String(s) => s.clone(),
                // Token ids are bytes (the fake /tokenize).
                Value::Array(ids) => String::from_utf8_lossy(&ids.iter().filter_map(|v| v.as_u64()).map(|v| v as u8).collect::<Vec<_>>()).into_owned(),
                _ => String::new(),
            };
            if echo {
                let mut tokens = Vec::new();
                let mut token_logprobs = Vec::new();
                let mut top_logprobs = Vec::new();
                let mut offsets = Vec::new();
                let pieces: Vec<(usize, String)> = match prompt {
                    Value::Array(ids) => {
                        let mut pos = 0;
                        ids.iter().map(|v| {
                            let s = ((v.as_u64().unwrap_or(0) as u8) as char).to_string();
                            let p = (pos, s);
                            pos += 1;
                            p
                        }).collect()
                    }
                    _ => fake_tokens(&text).into_iter().map(|(i, t)| (i, t.to_owned())).collect(),
                };
                let mut chars_before = 0;
                for (i, (start, piece)) in pieces.iter().enumerate() {
                    offsets.push(chars_before);
                    chars_before += piece.chars().count();
                    tokens.push(piece.clone());
                    if i == 0 {
                        token_logprobs.push(Value::Null);
                        top_logprobs.push(Value::Null);
                    } else {
                        // Token-id prompts hash their id prefix (their text may cut
                        // characters); text prompts their text prefix.
                        let (lp, top) = match prompt {
                            Value::Array(ids) => fake_logprob(&format!("{:?}", &ids[..=i]), 0),
                            _ => fake_logprob(&text, start + piece.len()),
                        };
                        token_logprobs.push(json!(lp));
                        top_logprobs.push(json!({ "top": top }));
                    }
                }
                // The one generated token.
                offsets.push(chars_before);
                tokens.push(" x".into());
                token_logprobs.push(json!(-0.5));
                top_logprobs.push(json!({" x": -0.5}));
                let logprobs = want_logprobs.then(|| json!({
                    "tokens": tokens, "token_logprobs": token_logprobs,
                    "top_logprobs": top_logprobs, "text_offset": offsets,
                }));
                json!({"index": index, "text": format!("{text} x"), "logprobs": logprobs, "finish_reason": "length"})
            } else {
                json!({"index": index, "text": fake_generation(&text), "logprobs": null, "finish_reason": "stop"})
            }
        })
        .collect();
    json!({
        "id": "cmpl-1", "object": "text_completion", "model": MODEL, "choices": choices,
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    })
}

/// The fake answer to a prompt: a letter for a lettered multiple-choice prompt, else a
/// number.
pub fn fake_generation(prompt: &str) -> String {
    if let Some(rest) = prompt.split("LETTER is one of ").nth(1) {
        let letters: Vec<char> = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase())
            .collect();
        return format!(
            "ANSWER: {}",
            letters[(fnv(prompt) % letters.len() as u64) as usize]
        );
    }
    format!(" {}", fnv(prompt) % 100)
}

/// The log-likelihood the fake server implies for a (context, continuation) request,
/// computed directly (the reference the client's answers are checked against).
pub fn expected_loglikelihood(context: &str, continuation: &str) -> (f64, bool, usize) {
    let trimmed = context.trim_end();
    let text = format!("{context}{continuation}");
    let boundary = trimmed.len();
    let (mut sum, mut greedy, mut n) = (0.0, true, 0);
    for (i, (start, piece)) in fake_tokens(&text).into_iter().enumerate() {
        let end = start + piece.len();
        if end > boundary && i > 0 {
            let (lp, top) = fake_logprob(&text, end);
            sum += lp;
            greedy &= lp >= top;
            n += 1;
        }
    }
    (sum, greedy, n)
}
