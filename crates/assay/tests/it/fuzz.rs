//! Fuzzing every parser and command-line entry: battle logs, A/B rows and per-arm sums,
//! Parquet, task files and their data, BenchRisk MDX, the HTTP bodies of `assay serve`,
//! and the command line itself. Each target mutates seed inputs (its corpus in
//! `tests/it/fuzz_corpus/<target>/` plus seeds built here) with byte edits, splices and
//! hostile tokens (NaN, inf, 1e308, 2^64, repeated keys, byte-order marks), and checks:
//! no panic, no hang (an input running past 30 s is a finding), and no number that is
//! not finite behind a decision or an exit status of 0.
//!
//! `scripts/test` runs each target for `ASSAY_FUZZ_SECONDS` (default 3 s). For a release,
//! run them long (see README, "Fuzzing"):
//! `ASSAY_FUZZ_SECONDS=600 ASSAY_FUZZ_SEED=$RANDOM cargo test --release -p assay --test it fuzz::`
//! A finding is written to `target/fuzz-findings/<target>/`; add it to the corpus once
//! fixed, so it is replayed on every run.

use crate::common::experiment::{experiment, write_parquet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Inputs larger than this are cut: the targets' bounds are tested elsewhere, and
/// fuzzing time is better spent on many small inputs.
const MAX_INPUT: usize = 64 * 1024;

/// One input running past this is a hang.
const HANG: Duration = Duration::from_secs(30);

/// Tokens a careless or hostile user writes where a number or a name goes.
const HOSTILE: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-320",
    "0",
    "-0",
    "-1",
    "1e20",
    "18446744073709551615",
    "18446744073709551616",
    "9007199254740993",
    "0.5",
    "1.5",
    "100%",
    "1e12",
    "\"\"",
    "null",
    "true",
    "[]",
    "{}",
    ",",
    "\n",
    "\r\n",
    "\"",
    "=",
    "\u{feff}",
    "\t",
    "{{",
    "}}",
    "%",
    "\\",
    "'",
    "é",
    "\0",
];

fn seconds() -> f64 {
    std::env::var("ASSAY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fuzz_corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// A random edit of `input`: 1 to 4 byte flips, insertions, deletions, duplications,
/// hostile tokens, or a splice with another seed.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = out.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..=len) };
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                out[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => out.insert(at, rng.r#gen()),
            2 if len > 0 => {
                let end = (at + rng.gen_range(1..=16)).min(len);
                out.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                let start = rng.gen_range(0..len);
                let end = (start + rng.gen_range(1..=64)).min(len);
                let piece = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            4 => {
                // Replace the number (or word) at a random place with a hostile token.
                let token = HOSTILE[rng.gen_range(0..HOSTILE.len())].as_bytes();
                let mut end = at;
                while end < out.len()
                    && (out[end].is_ascii_alphanumeric() || b".-+".contains(&out[end]))
                {
                    end += 1;
                }
                out.splice(at..end, token.iter().copied());
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.gen_range(0..other.len());
                    let to = (from + rng.gen_range(1..=256)).min(other.len());
                    out.splice(at..at, other[from..to].iter().copied());
                }
            }
            6 => {
                let token = HOSTILE[rng.gen_range(0..HOSTILE.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            _ if len > 0 => {
                // Repeat a whole line (a repeated row, key or column).
                let lines: Vec<&[u8]> = out.split(|b| *b == b'\n').collect();
                let line = lines[rng.gen_range(0..lines.len())].to_vec();
                let mut l = line;
                l.push(b'\n');
                out.splice(at..at, l);
            }
            _ => {}
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// Runs `check` on the seeds, then on mutations of them until the time budget is spent.
/// `check` returns Err for a broken invariant; a panic or a hang is a finding too.
fn fuzz(target: &str, mut seeds: Vec<Vec<u8>>, check: impl Fn(&[u8]) -> Result<(), String>) {
    seeds.extend(corpus(target));
    assert!(!seeds.is_empty(), "{target}: no seeds");
    let seed: u64 = std::env::var("ASSAY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ target.len() as u64);
    let findings = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/fuzz-findings")
        .join(target);
    // The watchdog: an input running past HANG is saved and the run stops.
    let started_at = Arc::new(AtomicU64::new(u64::MAX));
    let current: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clock = Instant::now();
    let watchdog = {
        let (started_at, current, done, findings) = (
            started_at.clone(),
            current.clone(),
            done.clone(),
            findings.clone(),
        );
        let target = target.to_owned();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let s = started_at.load(Ordering::Relaxed);
                if s != u64::MAX && clock.elapsed().as_millis() as u64 - s > HANG.as_millis() as u64
                {
                    let input = current.lock().unwrap().clone();
                    let path = save(&findings, "hang", &input);
                    eprintln!("{target}: an input ran past {HANG:?}: {}", path.display());
                    std::process::abort();
                }
            }
        })
    };
    let budget = Duration::from_secs_f64(seconds());
    let begin = Instant::now();
    let mut runs = 0u64;
    let mut inputs = seeds.clone().into_iter();
    let result = loop {
        let input = match inputs.next() {
            Some(s) => s,
            None if begin.elapsed() < budget => {
                let base = &seeds[rng.gen_range(0..seeds.len())];
                mutate(&mut rng, base, &seeds)
            }
            None => break Ok(()),
        };
        *current.lock().unwrap() = input.clone();
        started_at.store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check(&input)));
        started_at.store(u64::MAX, Ordering::Relaxed);
        runs += 1;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => break Err((why, save(&findings, "invariant", &input))),
            Err(_) => break Err(("panicked".into(), save(&findings, "panic", &input))),
        }
    };
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    eprintln!(
        "{target}: {runs} inputs in {:.1} s",
        begin.elapsed().as_secs_f64()
    );
    if let Err((why, path)) = result {
        panic!("{target}: {why}; input saved at {}", path.display());
    }
}

fn save(dir: &Path, kind: &str, input: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{kind}-{}", assay_rundir::sha256_hex(input)));
    std::fs::write(&path, input).unwrap();
    path
}

/// Whether a text shows a number that is not one.
fn shows_non_finite(text: &str) -> bool {
    let re = regex::Regex::new(r"(?i)\b(nan|-?inf(inity)?)\b").unwrap();
    re.is_match(text)
}

// ---- battle logs ----

fn battle_seeds() -> Vec<Vec<u8>> {
    vec![
        b"model_a,model_b,winner\na,b,model_a\nb,a,model_a\na,b,tie\nb,c,model_a\nc,b,tie (bothbad)\nc,a,model_b\na,c,model_b\n".to_vec(),
        b"model_a,model_b,winner,length_a,length_b\na,b,model_a,10,20\nb,a,model_b,5,7\nb,c,model_a,1,2\nc,b,model_a,3,3\na,c,tie,4,5\nc,a,model_a,6,1\n".to_vec(),
        br#"{"model_a":"a","model_b":"b","winner":"model_a"}
{"model_a":"b","model_b":"a","winner":"model_a"}
{"model_a":"a","model_b":"c","winner":"tie"}
{"model_a":"c","model_b":"a","winner":"model_a"}
"#.to_vec(),
    ]
}

#[test]
fn battle_logs() {
    use assay_rank::battles::Battles;
    use assay_rank::bt::{self, IntervalMethod};
    let dir = tempfile::tempdir().unwrap();
    fuzz("battle_logs", battle_seeds(), |input| {
        for name in ["b.csv", "b.jsonl"] {
            let f = dir.path().join(name);
            std::fs::write(&f, input).unwrap();
            let Ok(b) = Battles::read(&f) else { continue };
            if b.models.len() > 64 {
                continue;
            }
            for method in [
                IntervalMethod::Sandwich,
                IntervalMethod::Bootstrap {
                    rounds: 20,
                    seed: 1,
                },
            ] {
                if let Ok(r) = bt::rank(&b, method, None) {
                    let all = r.ratings.iter().chain(&r.lower).chain(&r.upper);
                    if let Some(x) = all.clone().find(|x| !x.is_finite()) {
                        return Err(format!("a rating or bound is {x}"));
                    }
                }
            }
            if let Some(x) = bt::online_elo(&b, 4.0).iter().find(|x| !x.is_finite()) {
                return Err(format!("an online Elo rating is {x}"));
            }
        }
        Ok(())
    });
}

// ---- A/B ----

/// The analysis may be read: every verdict other than "no test" rests on finite
/// numbers, and the report shows no NaN or infinity.
fn check_analysis(a: &assay_ab::analyze::Analysis) -> Result<(), String> {
    for m in &a.metrics {
        for r in &m.results {
            if r.verdict == assay_ab::analyze::MetricVerdict::NoTest {
                continue;
            }
            match assay_ab::analyze::decision_effect(&r.comparison) {
                Some(e) if e.is_finite() => {}
                other => return Err(format!("{}: a verdict from {other:?}", m.name)),
            }
            if r.adjusted_p_value
                .is_some_and(|p| !(0.0..=1.0).contains(&p))
            {
                return Err(format!("{}: p-value {:?}", m.name, r.adjusted_p_value));
            }
        }
    }
    if !a.srm.p_value.is_finite() || !a.srm.chi_square.is_finite() {
        return Err(format!("sample-ratio check {:?}", a.srm));
    }
    // Names are the user's (a variant may be called `inf`): only the numbers count.
    let mut table = assay_ab::report::markdown(a);
    let mut names: Vec<&str> = a
        .arms
        .iter()
        .map(|x| x.name.as_str())
        .chain(a.metrics.iter().map(|m| m.name.as_str()))
        .chain([a.source.as_str()])
        .collect();
    // Longest first, so that a name inside another (`a` in `a-inf`) does not split it.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        table = table.replace(name, "NAME");
    }
    if shows_non_finite(&table) {
        return Err(format!("the table shows a non-number:\n{table}"));
    }
    let _ = assay_ab::report::html(a);
    let _ = assay_ab::report::csv(a);
    Ok(())
}

fn ab_options(control: &str, weights: Option<Vec<(String, f64)>>) -> assay_ab::analyze::Options {
    assay_ab::analyze::Options {
        control: control.into(),
        weights,
        settings: assay_ab::effect::Settings::default(),
        correction: assay_ab::correct::Correction::Holm,
        decide_with: assay_ab::analyze::TestKind::Sequential,
        srm_threshold: assay_ab::srm::SRM_THRESHOLD,
    }
}

fn metric(
    name: &str,
    column: &str,
    denominator: Option<&str>,
    covariate: Option<&str>,
    role: assay_ab::aggregate::Role,
) -> assay_ab::aggregate::MetricSpec {
    assay_ab::aggregate::MetricSpec {
        denominator: denominator.map(Into::into),
        covariate: covariate.map(Into::into),
        role,
        ..assay_ab::aggregate::MetricSpec::new(name, column)
    }
}

fn ab_specs() -> Vec<assay_ab::aggregate::MetricSpec> {
    use assay_ab::aggregate::Role;
    vec![
        metric("x", "x", None, Some("pre"), Role::Goal),
        metric("r", "x", Some("y"), None, Role::Guardrail),
        metric("c", "c", None, None, Role::Secondary),
    ]
}

fn ab_row_seeds() -> Vec<Vec<u8>> {
    let mut csv = String::from("variant,x,y,pre,c,t\n");
    let mut jsonl = String::new();
    for i in 0..40 {
        let v = if i % 2 == 0 { "a" } else { "b" };
        let (x, y, pre, c) = (i as f64 * 1.5 % 7.0, 1 + i % 3, i % 5, i % 2);
        csv.push_str(&format!(
            "{v},{x},{y},{pre},{c},2026-01-0{}T00:00:00Z\n",
            1 + i % 5
        ));
        jsonl.push_str(&format!(
            "{{\"variant\":\"{v}\",\"x\":{x},\"y\":{y},\"pre\":{pre},\"c\":{c},\"t\":\"2026-01-0{}\"}}\n",
            1 + i % 5
        ));
    }
    vec![csv.into_bytes(), jsonl.into_bytes()]
}

#[test]
fn ab_rows() {
    use assay_ab::aggregate::{Missing, aggregate};
    use assay_ab::source::Source;
    let dir = tempfile::tempdir().unwrap();
    let specs = ab_specs();
    fuzz("ab_rows", ab_row_seeds(), |input| {
        for name in ["rows.csv", "rows.jsonl"] {
            let f = dir.path().join(name);
            std::fs::write(&f, input).unwrap();
            for time in [None, Some("t")] {
                for missing in [Missing::Error, Missing::Skip] {
                    let Ok(data) = aggregate(
                        &Source::File(f.clone()),
                        "variant",
                        time,
                        &specs,
                        missing,
                        2,
                    ) else {
                        continue;
                    };
                    if let Ok(a) = assay_ab::analyze::analyze(&data, &ab_options("a", None)) {
                        check_analysis(&a)?;
                    }
                }
            }
        }
        Ok(())
    });
}

fn ab_stats_seeds() -> Vec<Vec<u8>> {
    vec![
        b"variant,metric,units,main_sum,main_sum_squares\na,conv,1000,100,100\nb,conv,1010,130,130\na,rev,1000,5000,90000\nb,rev,990,5200,95000\n".to_vec(),
        b"variant,metric,metric_type,units,main_sum,main_sum_squares,denominator_sum,denominator_sum_squares,main_denominator_sum_product\na,r,mean,500,300,400,900,2000,700\nb,r,mean,510,330,450,910,2100,760\n".to_vec(),
        b"variant,metric,units,main_sum,main_sum_squares,covariate_sum,covariate_sum_squares,main_covariate_sum_product\na,m,400,800,2400,780,2300,2200\nb,m,420,900,2800,800,2350,2500\n".to_vec(),
        br#"{"variant":"a","metric":"conv","units":1000,"main_sum":100}
{"variant":"b","metric":"conv","units":1000,"main_sum":120}
"#.to_vec(),
    ]
}

#[test]
fn ab_stats() {
    let dir = tempfile::tempdir().unwrap();
    fuzz("ab_stats", ab_stats_seeds(), |input| {
        for name in ["s.csv", "s.jsonl"] {
            let f = dir.path().join(name);
            std::fs::write(&f, input).unwrap();
            let Ok(data) = assay_ab::aggregate::read_stats(&f, "variant") else {
                continue;
            };
            for weights in [None, Some(vec![("a".into(), 1.0), ("b".into(), 2.0)])] {
                if let Ok(a) = assay_ab::analyze::analyze(&data, &ab_options("a", weights)) {
                    check_analysis(&a)?;
                }
            }
        }
        Ok(())
    });
}

#[test]
fn parquet() {
    use assay_ab::aggregate::{MetricSpec, Missing, Role, aggregate};
    use assay_ab::source::Source;
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.parquet");
    write_parquet(&experiment(300, 5, 0.0), &seed);
    let specs: Vec<MetricSpec> = ["revenue", "converted"]
        .iter()
        .map(|m| metric(m, m, None, None, Role::Goal))
        .collect();
    let f = dir.path().join("fuzzed.parquet");
    fuzz("parquet", vec![std::fs::read(&seed).unwrap()], |input| {
        std::fs::write(&f, input).unwrap();
        if let Ok(data) = aggregate(
            &Source::File(f.clone()),
            "variant",
            None,
            &specs,
            Missing::Error,
            2,
        ) && let Ok(a) = assay_ab::analyze::analyze(&data, &ab_options("control", None))
        {
            check_analysis(&a)?;
        }
        Ok(())
    });
}

// ---- task files and data ----

const TASK: &str = r#"name = "fz"
output = "multiple_choice"
metrics = ["acc", "acc_norm"]

[data]
path = "data.jsonl"
format = "jsonl"

[fewshot]
path = "data.jsonl"
k = 1

[prompt]
description = "Questions about {{ subtask }}.\n\n"
input = "Question: {{ question | trim }}\nAnswer:"
choices = "choices"
target = "gold"
"#;

const TASK_GENERATE: &str = r#"name = "fz"
output = "generate"
metrics = ["exact_match"]
until = ["\n\n"]
max_tokens = 8

[data]
path = "data.jsonl"
format = "jsonl"

[prompt]
input = "{{ question }}"
target = "{{ answer | string }}"

[[extract]]
name = "num"
regex = "(-?[0-9.]+)"
"#;

const DATA: &str = "{\"question\": \"2+2?\", \"choices\": [\"3\", \"4\"], \"gold\": 1, \"answer\": 4}\n\
                    {\"question\": \"1+1?\", \"choices\": [\"2\", \"5\"], \"gold\": 0, \"answer\": 2}\n";

fn load_task(dir: &Path, toml: &[u8], data: &[u8]) {
    use assay_tasks::{Selection, Task, TaskSource};
    let task = dir.join("task.toml");
    std::fs::write(&task, toml).unwrap();
    std::fs::write(dir.join("data.jsonl"), data).unwrap();
    let Ok(source) = TaskSource::resolve(task.to_str().unwrap()) else {
        return;
    };
    if let Ok(t) = Task::load(source, dir, None, Selection::All) {
        for sub in &t.subtasks {
            for (i, prep) in sub.samples.iter().enumerate() {
                let prefix = t.prefix(sub, &t.fewshot_indices(sub, i));
                let _ = t.requests(prep, &prefix, None);
            }
        }
    }
}

#[test]
fn task_files() {
    let dir = tempfile::tempdir().unwrap();
    fuzz(
        "task_files",
        vec![TASK.as_bytes().to_vec(), TASK_GENERATE.as_bytes().to_vec()],
        |input| {
            load_task(dir.path(), input, DATA.as_bytes());
            Ok(())
        },
    );
}

#[test]
fn task_data() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"question,choices,gold\n\"2+2?\",\"[3, 4]\",1\n".to_vec();
    fuzz("task_data", vec![DATA.as_bytes().to_vec(), csv], |input| {
        load_task(dir.path(), TASK.as_bytes(), input);
        load_task(dir.path(), TASK_GENERATE.as_bytes(), input);
        Ok(())
    });
}

// ---- BenchRisk MDX ----

#[test]
fn mdx() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = vec![
        b"---\nnumber: 5\nseverity: high\nstage: (1) Task Definition\ndimension: Longevity\nshort: The data ages.\n---\n\nText.\n".to_vec(),
        b"---\nmitigationNumber: 34\nmitigatedNumber: 5\nseverityReductionPercent: 20\nlikelihoodReductionPercent: 50\nquestionStatement: Is it refreshed?\n---\n".to_vec(),
        b"---\nname: MyBench\nadoptedMitigations: [34, 35]\nabsentMitigations: [1, 2]\n---\n\n## Notes\n".to_vec(),
    ];
    let f = dir.path().join("x.mdx");
    fuzz("mdx", seeds, |input| {
        std::fs::write(&f, input).unwrap();
        let _ = assay_risk::mdx::read_mode(&f);
        let _ = assay_risk::mdx::read_mitigation(&f);
        if let Ok(b) = assay_risk::mdx::read_benchmark(&f) {
            let s = assay_risk::score(assay_risk::shipped(), &b.adopted);
            if !s.average.is_finite() || !s.minimum.is_finite() {
                return Err(format!("scores {s:?}"));
            }
        }
        Ok(())
    });
}

// ---- the HTTP API of `assay serve` ----

#[test]
fn serve_http_bodies() {
    let server = crate::remote::serve();
    let base = server.1.clone();
    let seeds: Vec<Vec<u8>> = [
        r#"/v1/completions {"model":"smol","prompt":"The capital of France is","max_tokens":2,"temperature":0}"#,
        r#"/v1/completions {"model":"smol","prompt":["a b","c"],"max_tokens":1,"echo":true,"logprobs":1,"temperature":0}"#,
        r#"/v1/completions {"model":"smol","prompt":[[1,2,3]],"max_tokens":0,"echo":true,"logprobs":0}"#,
        r#"/v1/completions {"model":"smol","prompt":"x","max_tokens":3,"stop":["\n"],"n":2,"seed":4,"temperature":0.7}"#,
        r#"/v1/completions {"model":"smol","prompt":"x","max_tokens":3,"stream":true}"#,
        r#"/v1/chat/completions {"model":"smol","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0}"#,
        r#"/tokenize {"prompt":"Hello world","add_special_tokens":false}"#,
        r#"/detokenize {"tokens":[19556,905]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("serve_http", seeds, |input| {
        let text = String::from_utf8_lossy(input);
        let (path, body) = text.split_once(' ').unwrap_or(("/v1/completions", &text));
        // A request line hyper cannot parse gets its bare 400 before any handler: only
        // paths that make a valid request line are sent as they are.
        let path = if path.starts_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
        {
            path
        } else {
            "/v1/completions"
        };
        let path = path.strip_prefix("/v1").unwrap_or(path);
        // Long generations are bounded so the run tests parsing, not patience: the
        // context check has its own test.
        let body = match serde_json::from_str::<serde_json::Value>(body) {
            Ok(mut v) if v.is_object() => {
                for key in ["max_tokens", "max_completion_tokens"] {
                    if v[key].as_u64().is_some_and(|m| m > 8) {
                        v[key] = 8.into();
                    }
                }
                if v["n"].as_u64().is_some_and(|n| n > 2) {
                    v["n"] = 2.into();
                }
                v.to_string()
            }
            _ => body.to_owned(),
        };
        let root = base.trim_end_matches("/v1");
        let full = if ["/tokenize", "/detokenize"].contains(&path) {
            (root.to_owned(), path.to_owned())
        } else {
            (base.clone(), path.to_owned())
        };
        let (status, answer) = crate::remote::http_request(&full.0, "POST", &full.1, &body);
        match status {
            200 => Ok(()),
            400 | 404 | 405 | 413 | 415 | 422 => {
                if answer.trim().is_empty() {
                    Err(format!("{status} with an empty body for {body}"))
                } else {
                    Ok(())
                }
            }
            other => Err(format!("status {other} for {path} {body}: {answer}")),
        }
    });
}

// ---- the command line ----

#[test]
fn command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("battles.csv"), &battle_seeds()[0]).unwrap();
    std::fs::write(d.join("rows.csv"), &ab_row_seeds()[0]).unwrap();
    std::fs::write(d.join("sums.csv"), &ab_stats_seeds()[0]).unwrap();
    // One command per line, arguments separated by spaces.
    let seeds: Vec<Vec<u8>> = [
        "ab plan --baseline-rate 0.1 --mde 2%",
        "ab plan --mean 12.5 --sd 30 --daily-units 20000 --days 14 --sequential --tuning 5000",
        "ab plan --baseline-rate 0.2 --units 1000 --arms 3 --alpha 0.01 --power 0.9 --format json",
        "ab analyze rows.csv --control a --metrics x --guardrails c --covariate x=pre --alpha 0.05 --tuning 5000",
        "ab analyze rows.csv --control a --metrics r --ratio r=x/y --weights a=50,b=50 --srm-threshold 0.001 --format csv",
        "ab analyze rows.csv --control a --metrics x --cap x=99% --prior-sd 0.1 --test fixed --correction bh --margin c=2% --guardrails c",
        "ab analyze sums.csv --stats --control a --metrics conv,rev --format json",
        "rank battles.csv --rounds 50 --seed 3 --anchor a=1000 --elo-k 4",
        "rank battles.csv --interval sandwich --format json",
        "risk what-if HellaSwag --adopt 34,35",
        "risk gaps HellaSwag --top 3 --target 50",
        "risk mitigations --mode 12",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("command_line", seeds, |input| {
        let text = String::from_utf8_lossy(input);
        let args: Vec<&str> = text
            .split([' ', '\n', '\0'])
            .filter(|a| !a.is_empty())
            .collect();
        // Only the commands that answer at once; model commands have their own tests.
        if !matches!(args.first(), Some(&"ab" | &"rank" | &"risk")) {
            return Ok(());
        }
        let o = crate::common::command()
            .current_dir(d)
            .args(&args)
            .env_remove("ASSAY_BENCHRISK")
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        match o.status.code() {
            None => Err(format!("killed by a signal: {args:?}\n{err}")),
            Some(_) if err.contains("panicked") => Err(format!("panic: {args:?}\n{err}")),
            Some(0) if shows_non_finite(&out) => {
                Err(format!("exit 0 with a non-number: {args:?}\n{out}"))
            }
            Some(0..=4) => Ok(()),
            Some(c) => Err(format!("exit status {c}: {args:?}\n{err}")),
        }
    });
}
