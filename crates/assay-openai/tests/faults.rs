//! The client against a server that misbehaves: every sample is counted exactly once
//! and scored as with a healthy server; past the deadline a run stops with a clear error
//! and resumes from the cache; bad servers and keys get one clear message; keys never
//! leak.

#[path = "support/fake_server.rs"]
mod fake_server;

use assay_cache::ResponseCache;
use assay_core::ApiKey;
use assay_core::{LanguageModel, LoglikelihoodRequest};
use assay_openai::{ClientConfig, ClientError, OpenAiModel};
use assay_tasks::{Selection, Task, TaskSource};
use fake_server::{FakeConfig, FakeServer, MODEL};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/toy")
}

fn tasks() -> Vec<Task> {
    ["mc.toml", "gen.toml"]
        .iter()
        .map(|f| {
            let source = TaskSource::resolve(fixtures().join(f).to_str().unwrap()).unwrap();
            Task::load(source, &fixtures(), None, Selection::All).unwrap()
        })
        .collect()
}

/// A client tuned for tests: short timeouts and backoffs.
fn config(url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url, MODEL);
    c.attempt_timeout = Duration::from_millis(400);
    c.initial_backoff = Duration::from_millis(2);
    c.max_backoff = Duration::from_millis(40);
    c.max_retries = 60;
    c.request_deadline = Duration::from_secs(60);
    c.initial_concurrency = 4;
    c.max_concurrency = 16;
    c
}

fn run_config(output: &Path) -> assay_eval::RunConfig {
    assay_eval::RunConfig {
        output_dir: output.to_owned(),
        name: None,
        apply_chat_template: false,
        selection: "all".into(),
        command: vec!["test".into()],
        threads: 1,
        batch_size: 1,
        assay_version: "test".into(),
        git_revision: "test".into(),
        gates: vec![],
        baseline: None,
        ailuminate_reference: None,
    }
}

/// Per-sample (task, index) → (scores, responses) of a finished run.
fn samples(
    dir: &Path,
) -> std::collections::BTreeMap<(String, usize), (serde_json::Value, serde_json::Value)> {
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("samples")).unwrap() {
        let path = entry.unwrap().path();
        let task = path.file_stem().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let index = r["index"].as_u64().unwrap() as usize;
            let previous = out.insert(
                (task.clone(), index),
                (r["score"].clone(), r["responses"].clone()),
            );
            assert!(previous.is_none(), "sample {task}/{index} recorded twice");
        }
    }
    out
}

#[test]
fn faults_change_nothing_and_every_sample_counts_once() {
    let tasks = tasks();
    let total: usize = tasks.iter().map(|t| t.len()).sum();

    // Reference: a healthy server, no cache.
    let healthy = FakeServer::start(FakeConfig::default());
    let model = OpenAiModel::connect(config(&healthy.url), None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let reference = assay_eval::run(
        &model,
        &tasks,
        &run_config(out.path()),
        &mut assay_rundir::Quiet,
    )
    .unwrap();
    let reference = samples(&reference.dir);
    assert_eq!(reference.len(), total);

    // The client's log-likelihoods are the fake server's, computed directly.
    let request = LoglikelihoodRequest {
        context: "Question: alpha beta\nAnswer:".into(),
        continuation: " gamma delta".into(),
    };
    let got = model.loglikelihood(std::slice::from_ref(&request)).unwrap()[0];
    let (lp, greedy, n) =
        fake_server::expected_loglikelihood(&request.context, &request.continuation);
    assert!((got.logprob - lp).abs() < 1e-12);
    assert_eq!((got.is_greedy, got.tokens), (greedy, n));

    // A server where 35% of requests fail, in every way it can.
    let faulty = FakeServer::start(FakeConfig {
        fault_rate: 0.35,
        seed: 42,
        hang: Duration::from_secs(2),
        ..FakeConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ResponseCache::open(&dir.path().join("cache.sqlite")).unwrap());
    let model = OpenAiModel::connect(config(&faulty.url), Some(cache.clone())).unwrap();
    let finished = assay_eval::run(
        &model,
        &tasks,
        &run_config(&dir.path().join("out")),
        &mut assay_rundir::Quiet,
    )
    .unwrap();
    let got = samples(&finished.dir);
    assert_eq!(got.len(), total, "every sample once");
    assert_eq!(
        got, reference,
        "the same answers and scores as with a healthy server"
    );

    let log = faulty.log.lock().unwrap();
    let faults_seen = log.faults.clone();
    drop(log);
    for fault in [
        "RateLimited",
        "ServerError",
        "Hang",
        "Drop",
        "Malformed",
        "Truncated",
    ] {
        assert!(
            faults_seen.get(fault).copied().unwrap_or(0) > 0,
            "fault {fault} was exercised: {faults_seen:?}"
        );
    }
    // One cached answer per distinct request (a few synthetic items repeat a choice).
    let mut distinct = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(finished.dir.join("samples")).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            match r["requests"].as_array() {
                Some(continuations) => {
                    for c in continuations {
                        distinct.insert(format!("{}|{}", r["prompt"], c));
                    }
                }
                None => {
                    distinct.insert(r["prompt"].to_string());
                }
            }
        }
    }
    assert_eq!(
        cache.len().unwrap(),
        distinct.len() as u64,
        "one cached answer per request"
    );
    let requests = 60 * 4 + 20;
    let usage = model.usage_report();
    assert_eq!(
        usage.answered, requests as u64,
        "each request answered once"
    );
    assert!(usage.retries.values().sum::<u64>() > 0);

    // Several prompts per HTTP request: the same answers, through the same faults.
    let mut batched = config(&faulty.url);
    batched.prompts_per_request = 7;
    let model_b = OpenAiModel::connect(batched, None).unwrap();
    let out_b = tempfile::tempdir().unwrap();
    let finished_b = assay_eval::run(
        &model_b,
        &tasks,
        &run_config(out_b.path()),
        &mut assay_rundir::Quiet,
    )
    .unwrap();
    assert_eq!(samples(&finished_b.dir), reference);
    // 60 items x 4 choices in calls of up to 32 samples: groups of 7 within each call.
    assert!(
        model_b.usage_report().answered < 60 + 20,
        "{:?}",
        model_b.usage_report()
    );
    assert_eq!(
        finished.results.run.model_usage.as_ref().unwrap().answered,
        requests as u64
    );
}

#[test]
fn past_the_deadline_the_run_stops_clearly_and_resumes_from_the_cache() {
    let server = FakeServer::start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ResponseCache::open(&dir.path().join("cache.sqlite")).unwrap());
    let mut c = config(&server.url);
    c.request_deadline = Duration::from_millis(600);
    let model = OpenAiModel::connect(c.clone(), Some(cache.clone())).unwrap();

    // Some answers arrive, then the server breaks.
    let reqs: Vec<LoglikelihoodRequest> = (0..40)
        .map(|i| LoglikelihoodRequest {
            context: format!("ctx {i}:"),
            continuation: format!(" word{i}"),
        })
        .collect();
    model.loglikelihood(&reqs[..10]).unwrap();
    server
        .failing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let err = model.loglikelihood(&reqs).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no endless retry loop"
    );
    assert!(err.contains("deadline") || err.contains("gave up"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    assert_eq!(cache.len().unwrap(), 10, "what arrived is kept");

    // The server recovers; the same call resends only the 30 unanswered requests.
    server
        .failing
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let before = server.log.lock().unwrap().answered.len();
    let model = OpenAiModel::connect(c, Some(cache.clone())).unwrap();
    model.loglikelihood(&reqs).unwrap();
    let log = server.log.lock().unwrap();
    let prompt = |r: &LoglikelihoodRequest| format!("{}{}", r.context, r.continuation);
    let sent: Vec<&String> = log.answered[before..]
        .iter()
        .filter(|p| reqs.iter().any(|r| **p == prompt(r)))
        .collect();
    assert_eq!(
        sent.len(),
        30,
        "the connection probe aside, only what was missing"
    );
    let resent: Vec<_> = sent
        .iter()
        .filter(|p| reqs[..10].iter().any(|r| ***p == prompt(r)))
        .collect();
    assert!(
        resent.is_empty(),
        "answered requests were sent again: {resent:?}"
    );
    assert_eq!(model.usage_report().cache_hits, 10);
}

#[test]
fn unreachable_server_is_one_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = OpenAiModel::connect(config(&format!("http://127.0.0.1:{port}/v1")), None)
        .err()
        .unwrap();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = OpenAiModel::connect(config("not a url"), None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a valid URL"), "{err}");
}

#[test]
fn unknown_model_lists_what_the_server_has() {
    let server = FakeServer::start(FakeConfig::default());
    let mut c = config(&server.url);
    c.model = "gpt-9".into();
    let err = OpenAiModel::connect(c, None).err().unwrap().to_string();
    assert!(
        err.contains("no model `gpt-9`") && err.contains(MODEL),
        "{err}"
    );
}

#[test]
fn wrong_key_is_refused_once_and_never_shown() {
    let secret = "sk-test-DO-NOT-LEAK-4242";
    let server = FakeServer::start(FakeConfig {
        api_key: Some("sk-the-right-one".into()),
        echo_key_in_errors: true,
        ..FakeConfig::default()
    });
    let mut c = config(&server.url);
    c.api_key = ApiKey::new(secret);
    let err = OpenAiModel::connect(c.clone(), None).err().unwrap();
    let text = format!("{err} {err:?}");
    assert!(
        matches!(err, ClientError::Unauthorized { status: 401, .. }),
        "{text}"
    );
    assert!(!text.contains(secret), "the key leaked: {text}");
    assert!(text.contains("***"), "{text}");
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "a 401 is not retried"
    );
    assert!(!format!("{c:?}").contains(secret));
}

#[test]
fn the_key_reaches_the_server_but_not_the_cache_or_results() {
    let secret = "sk-right-key-SECRET-777";
    let server = FakeServer::start(FakeConfig {
        api_key: Some(secret.into()),
        ..FakeConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("cache.sqlite");
    let cache = Arc::new(ResponseCache::open(&cache_path).unwrap());
    let mut c = config(&server.url);
    c.api_key = ApiKey::new(secret);
    let model = OpenAiModel::connect(c, Some(cache)).unwrap();
    let finished = assay_eval::run(
        &model,
        &tasks(),
        &run_config(&dir.path().join("out")),
        &mut assay_rundir::Quiet,
    )
    .unwrap();
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .auth_headers
            .iter()
            .all(|h| h == &format!("Bearer {secret}"))
    );
    drop(model);
    let mut leaked = Vec::new();
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
            leaked.push(entry);
        }
    }
    assert!(leaked.is_empty(), "the key is in {leaked:?}");
    assert!(finished.dir.join("results.json").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn without_prompt_logprobs_multiple_choice_is_answered_by_letter_and_says_so() {
    let server = FakeServer::start(FakeConfig {
        logprobs: false,
        ..FakeConfig::default()
    });
    let model = OpenAiModel::connect(config(&server.url), None).unwrap();
    assert!(!model.capabilities().prompt_logprobs);
    assert!(!model.supports_loglikelihood());
    let dir = tempfile::tempdir().unwrap();
    let finished = assay_eval::run(
        &model,
        &tasks(),
        &run_config(dir.path()),
        &mut assay_rundir::Quiet,
    )
    .unwrap();
    let mc = &finished.results.results[0];
    assert_eq!(mc.protocol.as_deref(), Some("generated_letter"));
    assert!(
        mc.notes[0].contains("not by log-likelihood"),
        "{:?}",
        mc.notes
    );
    assert_eq!(
        mc.metrics.len(),
        1,
        "only acc: length normalisation has no meaning here"
    );
    let table = assay_eval::report::markdown(&finished.results, false);
    assert!(
        table.contains("toy_mc (generated_letter)") && table.contains("note: toy_mc"),
        "{table}"
    );

    // Accuracy is the share of letters that name the gold choice, checked from the
    // raw answers.
    let lines = std::fs::read_to_string(finished.dir.join("samples/toy_mc.jsonl")).unwrap();
    let (mut right, mut n) = (0, 0);
    for line in lines.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = r["responses"]["text"].as_str().unwrap();
        let letter = text.strip_prefix("ANSWER: ").unwrap().as_bytes()[0];
        right += usize::from((letter - b'A') as u64 == r["target"]["index"].as_u64().unwrap());
        n += 1;
        assert!(r["prompt"].as_str().unwrap().contains("A) "));
    }
    assert_eq!(n, 60);
    assert!((mc.metrics[0].estimate.value - right as f64 / n as f64).abs() < 1e-12);
    // The generation task runs as usual.
    assert_eq!(finished.results.results[1].protocol, None);
}
