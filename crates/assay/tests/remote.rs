//! Remote models end to end: `assay serve` + `assay eval --model openai:...` gives the
//! scores of the embedded model evaluated directly, and a remote run killed with
//! SIGKILL resumes without re-sending any answered request, ending with the results of
//! an uninterrupted run.

#[path = "../../assay-openai/tests/support/fake_server.rs"]
mod fake_server;

use fake_server::{FakeConfig, FakeServer, MODEL};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn data_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

fn toy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assay-openai/tests/fixtures/toy")
}

fn assay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay"))
}

/// The finished run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("results.json").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
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

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `assay serve` on a free port and waits for its address.
fn serve() -> Server {
    let mut child = assay()
        .args(["serve", "--port", "0", "--served-model-name", "smol"])
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
        .arg("--output")
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
        .arg("--output")
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
    .arg("--output")
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
