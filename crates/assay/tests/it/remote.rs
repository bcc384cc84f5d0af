//! Remote models end to end: `assay serve` + `assay eval --model openai:...` gives the
//! scores of the embedded model evaluated directly, and a remote run killed with
//! SIGKILL resumes without re-sending any answered request, ending with the results of
//! an uninterrupted run.

use crate::common::{command as assay, data_dir, run_dir};
use crate::fake_server::{FakeConfig, FakeServer, MODEL};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn toy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assay-openai/tests/fixtures/toy")
}

/// (task, index) → sample record.
fn samples(dir: &Path) -> BTreeMap<(String, u64), Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("samples")).unwrap() {
        let path = entry.unwrap().path();
        let task = path.file_stem().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            let key = (task.clone(), r["index"].as_u64().unwrap());
            assert!(out.insert(key, r).is_none(), "a sample recorded twice");
        }
    }
    out
}

pub(crate) struct Server(Child, pub(crate) String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `assay serve` on a free port and waits for its address.
pub(crate) fn serve() -> Server {
    serve_with(&[])
}

/// `assay serve` with more arguments.
pub(crate) fn serve_with(args: &[&str]) -> Server {
    let mut child = assay()
        .args(["serve", "--port", "0", "--served-model-name", "smol"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("assay serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("assay serve prints its address")
            .unwrap();
        if let Some(rest) = line.split(" at ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server(child, url)
}

#[test]
fn served_embedded_model_scores_as_the_embedded_model() {
    let server = serve();
    let data = data_dir();
    let tasks = "hellaswag,arc_easy,gsm8k";
    let direct = tempfile::tempdir().unwrap();
    let o = assay()
        .args(["eval", "--tasks", tasks, "--limit", "3", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(direct.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let remote = tempfile::tempdir().unwrap();
    let o = assay()
        .args([
            "eval",
            "--model",
            "openai:smol",
            "--base-url",
            &server.1,
            "--no-cache",
        ])
        .args(["--tasks", tasks, "--limit", "3", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(remote.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let a = samples(&run_dir(direct.path()));
    let b = samples(&run_dir(remote.path()));
    assert_eq!(a.len(), 9);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut compared = 0;
    for (key, x) in &a {
        let y = &b[key];
        match (x["responses"].as_array(), y["responses"].as_array()) {
            (Some(rx), Some(ry)) => {
                for (p, q) in rx.iter().zip(ry) {
                    let d = (p["logprob"].as_f64().unwrap() - q["logprob"].as_f64().unwrap()).abs();
                    assert!(d < 1e-4, "{key:?}: {p} vs {q}");
                    assert_eq!(p["tokens"], q["tokens"], "{key:?}");
                    assert_eq!(p["is_greedy"], q["is_greedy"], "{key:?}");
                    compared += 1;
                }
            }
            _ => {
                // Greedy generation: the same text, the same reason to stop.
                assert_eq!(x["responses"]["text"], y["responses"]["text"], "{key:?}");
                assert_eq!(
                    x["responses"]["finish_reason"], y["responses"]["finish_reason"],
                    "{key:?}"
                );
                compared += 1;
            }
        }
        assert_eq!(x["score"]["values"], y["score"]["values"], "{key:?}");
    }
    assert_eq!(
        compared,
        3 * 4 + 3 * 4 + 3,
        "hellaswag and arc_easy choices, gsm8k answers"
    );
    served_protocol_details(&server.1);
}

/// Streaming, the echo convention lm-evaluation-harness relies on, and error shapes.
fn served_protocol_details(base: &str) {
    // Streamed chat: server-sent events, a role first, text pieces, a finish reason,
    // then [DONE].
    let body = r#"{"model":"smol","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":12,"temperature":0,"stream":true}"#;
    let (status, text) = http_post(base, "/chat/completions", body);
    assert_eq!(status, 200, "{text}");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(streamed.contains("Paris"), "{streamed}");
    assert!(chunks.last().unwrap()["choices"][0]["finish_reason"].is_string());
    // The same request unstreamed gives the same text.
    let (status, text) = http_post(base, "/chat/completions", &body.replace("true", "false"));
    assert_eq!(status, 200);
    let whole: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(whole["choices"][0]["message"]["content"], streamed.as_str());

    // Echo with one generated token lists prompt tokens + 1, also when the greedy next
    // token ends the sequence: lm-evaluation-harness drops the last entry as the
    // generated one, so a missing entry would cost it the prompt's last token.
    let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nThe capital of France is Paris.";
    let body = serde_json::json!({"model": "smol", "prompt": prompt, "max_tokens": 1, "echo": true, "logprobs": 1, "temperature": 0});
    let (status, text) = http_post(base, "/completions", &body.to_string());
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let choice = &answer["choices"][0];
    let root = base.trim_end_matches("/v1");
    let (_, count) = http_post(
        root,
        "/tokenize",
        &serde_json::json!({"prompt": prompt}).to_string(),
    );
    let count = serde_json::from_str::<Value>(&count).unwrap()["count"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(
        choice["finish_reason"], "stop",
        "the model ends its answer here"
    );
    assert_eq!(
        choice["logprobs"]["token_logprobs"]
            .as_array()
            .unwrap()
            .len(),
        count + 1
    );
    assert_eq!(
        choice["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "<|im_end|>"
    );

    // Errors come in OpenAI's shape.
    let (status, text) = http_post(base, "/completions", r#"{"model":"gpt-9","prompt":"x"}"#);
    assert_eq!(status, 404);
    assert!(
        text.contains(r#""error""#) && text.contains("gpt-9"),
        "{text}"
    );
    let (status, text) = http_post(base, "/completions", r#"{"model":"smol","prompt":"#);
    assert_eq!(status, 400);
    assert!(text.contains("invalid request body"), "{text}");
}

/// A minimal HTTP/1.1 POST (the test needs no HTTP client library): status and body.
/// `base` is `http://host:port` with an optional path prefix.
fn http_post(base: &str, path: &str, body: &str) -> (u16, String) {
    http_request(base, "POST", path, body)
}

pub(crate) fn http_request(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = base.strip_prefix("http://").unwrap();
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, String::new()),
    };
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {prefix}{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// Sends a POST and returns the open connection without reading the answer (a client
/// that may leave early).
fn start_post(base: &str, path: &str, body: &str) -> std::net::TcpStream {
    use std::io::Write;
    let rest = base.strip_prefix("http://").unwrap();
    let (host, prefix) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST /{prefix}{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

fn remote_eval(url: &str, cache: &Path, out: &Path) -> Command {
    let mut c = assay();
    c.args([
        "eval",
        "--model",
        &format!("openai:{MODEL}"),
        "--base-url",
        url,
    ])
    .args([
        "--concurrency",
        "4",
        "--initial-concurrency",
        "4",
        "--tasks",
    ])
    .arg(format!(
        "{},{}",
        toy_dir().join("mc.toml").display(),
        toy_dir().join("gen.toml").display()
    ))
    .arg("--data-dir")
    .arg(toy_dir())
    .arg("--cache")
    .arg(cache)
    .arg("--out")
    .arg(out);
    c
}

#[test]
fn a_killed_remote_run_resends_nothing_it_had_and_ends_the_same() {
    let server = FakeServer::start(FakeConfig {
        delay: Duration::from_millis(25),
        ..FakeConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.sqlite");
    let out = dir.path().join("out");

    let mut child = remote_eval(&server.url, &cache, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = assay_cache_len(&cache);
        if n >= 60 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run makes progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "killed before it finished"
        );
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let had: Vec<String> = cached_prompts(&cache);
    assert!(had.len() >= 60);
    let received_before = server.log.lock().unwrap().received.len();

    let o = remote_eval(&server.url, &cache, &out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = server.log.lock().unwrap();
    let resent: Vec<&String> = log.received[received_before..]
        .iter()
        .filter(|p| had.contains(p))
        .collect();
    assert!(
        resent.is_empty(),
        "re-sent {} answered requests: {resent:?}",
        resent.len()
    );
    drop(log);
    let resumed = samples(&run_dir(&out));

    // The same command, uninterrupted, with its own cache.
    let fresh = tempfile::tempdir().unwrap();
    let o = remote_eval(
        &server.url,
        &fresh.path().join("c.sqlite"),
        &fresh.path().join("out"),
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let uninterrupted = samples(&run_dir(&fresh.path().join("out")));
    assert_eq!(resumed.len(), 80);
    for (key, a) in &uninterrupted {
        let b = &resumed[key];
        assert_eq!(a["responses"], b["responses"], "{key:?}");
        assert_eq!(a["score"], b["score"], "{key:?}");
    }

    // `assay cache` lists the model's answers and prunes them.
    let o = assay()
        .args(["cache", "list", "--cache"])
        .arg(&cache)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains(MODEL), "{text}");
    let o = assay()
        .args(["cache", "prune", "--model", MODEL, "--cache"])
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("deleted "),
        "{o:?}"
    );
    assert_eq!(assay_cache_len(&cache), 0);
}

fn assay_cache_len(path: &Path) -> usize {
    if !path.exists() {
        return 0;
    }
    cached_prompts(path).len()
}

/// The prompts (as the client sends them) of every cached answer.
fn cached_prompts(path: &Path) -> Vec<String> {
    let cache = assay_cache::ResponseCache::open(path).unwrap();
    cache
        .requests()
        .unwrap()
        .into_iter()
        .map(|(kind, r)| match kind.as_str() {
            "loglikelihood" => format!(
                "{}{}",
                r["context"].as_str().unwrap(),
                r["continuation"].as_str().unwrap()
            ),
            _ => r["context"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Requests the server cannot answer as asked get a 400 in OpenAI's shape (once: a
/// panic, a prompt cut without a word, one choice for `n: 5`); a client that goes away
/// stops its generation, so the next request does not wait behind it.
#[test]
fn served_model_refuses_what_it_cannot_answer_and_drops_abandoned_work() {
    let server = serve();
    let base = server.1.as_str();
    let long_prompt = "word ".repeat(100_000);
    for (body, words) in [
        (
            serde_json::json!({"model": "smol", "prompt": "", "echo": true, "logprobs": 1, "max_tokens": 1, "temperature": 0}),
            vec!["prompt 0 is empty"],
        ),
        (
            serde_json::json!({"model": "smol", "prompt": "Hi", "max_tokens": 1_000_000}),
            vec!["maximum context length is", "1000000 to generate"],
        ),
        (
            serde_json::json!({"model": "smol", "prompt": long_prompt, "max_tokens": 5}),
            vec!["maximum context length is", "in the prompt"],
        ),
        (
            serde_json::json!({"model": "smol", "prompt": "Hi", "logprobs": 1000}),
            vec!["at most 1 alternative"],
        ),
        (
            serde_json::json!({"model": "smol", "prompt": "Hi", "temperature": -5}),
            vec!["temperature -5"],
        ),
        (
            serde_json::json!({"model": "smol", "prompt": "Hi", "n": 500}),
            vec!["n = 500"],
        ),
    ] {
        let (status, text) = http_post(base, "/completions", &body.to_string());
        assert_eq!(status, 400, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        for w in words {
            assert!(message.contains(w), "`{w}` not in {message}");
        }
    }
    let (status, text) = http_post(
        base,
        "/chat/completions",
        r#"{"model":"smol","messages":[{"role":"user","content":"Hi"}],"max_tokens":9000}"#,
    );
    assert_eq!(status, 400, "{text}");
    // A repeated key is refused, not resolved to either copy.
    let (status, text) = http_post(
        base,
        "/completions",
        r#"{"model":"smol","prompt":"Hi","prompt":"Bye"}"#,
    );
    assert_eq!(status, 400);
    assert!(text.contains("`prompt` is repeated"), "{text}");
    // n answers, distinct when sampling.
    let (status, text) = http_post(
        base,
        "/completions",
        r#"{"model":"smol","prompt":"Once upon a time","n":3,"max_tokens":6,"temperature":1}"#,
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let texts: Vec<&str> = v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(texts[0] != texts[1] || texts[1] != texts[2], "{texts:?}");
    // Unknown paths and methods answer with a body too.
    let (status, text) = http_post(base, "/nothing", "{}");
    assert_eq!(status, 404);
    assert!(text.contains("no endpoint"), "{text}");
    let (status, text) = http_request(base, "GET", "/completions", "");
    assert_eq!(status, 405);
    assert!(text.contains("does not take GET"), "{text}");

    // A client that asks for 4,000 tokens and leaves after a moment: the worker stops,
    // so a short request right after answers at once (it took minutes when the
    // abandoned generation ran to its end).
    {
        let _stream = start_post(
            base,
            "/completions",
            r#"{"model":"smol","prompt":"Write a long story.","max_tokens":4000,"temperature":1,"stop":["zzqqzz"]}"#,
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let started = std::time::Instant::now();
    let (status, _) = http_post(
        base,
        "/completions",
        r#"{"model":"smol","prompt":"Hi","max_tokens":2,"temperature":0}"#,
    );
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the next request waited {:?} behind an abandoned one",
        started.elapsed()
    );
}

/// The text of a streamed chat: every `delta.content` of its server-sent events, and
/// whether it ended with `[DONE]`.
fn streamed_chat(base: &str, content: &str, max_tokens: u32) -> (String, bool) {
    let body = serde_json::json!({
        "model": "smol",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": true,
    });
    let (status, text) = http_post(base, "/chat/completions", &body.to_string());
    assert_eq!(status, 200, "{text}");
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        out.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
    }
    (out, done)
}

#[test]
fn concurrent_streamed_chats_are_batched_and_each_equals_its_answer_alone() {
    // 32 streamed chats at once share the decoding batch; each answer, greedy, equals
    // the one the same server gives when it is the only request.
    let server = serve_with(&["--max-batch", "32"]);
    let base = server.1.clone();
    let questions: Vec<String> = (0..32)
        .map(|i| format!("In one sentence, what is {} times {}?", i + 2, 7 + i % 5))
        .collect();
    let together: Vec<(String, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = questions
            .iter()
            .map(|q| {
                let base = base.clone();
                s.spawn(move || streamed_chat(&base, q, 24))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (q, (text, done)) in questions.iter().zip(&together) {
        assert!(done, "{q}: the stream ended without [DONE]");
        assert!(!text.is_empty(), "{q}: no text");
        let (alone, _) = streamed_chat(&base, q, 24);
        assert_eq!(text, &alone, "{q}: batched and alone differ");
    }
}

#[test]
fn a_client_that_disconnects_mid_stream_frees_its_slot() {
    // One place in the batch and none in the queue: while a generation runs, another
    // request is refused with 503; once its client disconnects mid-stream, the place is
    // free again long before the abandoned generation could have finished.
    use std::io::Read;
    let server = serve_with(&["--max-batch", "1", "--max-queue", "0"]);
    let base = server.1.as_str();
    let mut stream = start_post(
        base,
        "/chat/completions",
        r#"{"model":"smol","messages":[{"role":"user","content":"Write a very long story."}],"max_tokens":3000,"temperature":1,"stream":true,"stop":["zzqqzz"]}"#,
    );
    // Wait for the first streamed bytes: the generation is running.
    let mut first = [0u8; 256];
    let n = stream.read(&mut first).unwrap();
    assert!(n > 0 && String::from_utf8_lossy(&first[..n]).contains("200"));
    let (status, text) = http_post(
        base,
        "/completions",
        r#"{"model":"smol","prompt":"Hi","max_tokens":2,"temperature":0}"#,
    );
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("busy"), "{text}");
    drop(stream);
    let started = std::time::Instant::now();
    loop {
        let (status, text) = http_post(
            base,
            "/completions",
            r#"{"model":"smol","prompt":"Hi","max_tokens":2,"temperature":0}"#,
        );
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{text}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the slot of a disconnected stream was not freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
