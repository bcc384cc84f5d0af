//! The `assay` binary end to end: invariance of scores to threads and batch size,
//! what a results file holds, resuming a killed run, and clear errors on bad input.

use crate::common::{assay, data_dir, eval, run_dir, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn results(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

fn samples(dir: &Path, task: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("samples").join(format!("{task}.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn loglikelihoods(dir: &Path, task: &str) -> Vec<f64> {
    samples(dir, task)
        .iter()
        .flat_map(|s| {
            s["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["logprob"].as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

const TASKS: &str = "hellaswag,winogrande,arc_challenge,truthfulqa_mc2";

#[test]
fn threads_and_batch_size_do_not_change_scores_or_greedy_answers() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let o = eval(
        a.path(),
        &[
            "--tasks",
            &format!("{TASKS},gsm8k"),
            "--limit",
            "3",
            "--threads",
            "1",
            "--batch-size",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = eval(
        b.path(),
        &[
            "--tasks",
            &format!("{TASKS},gsm8k"),
            "--limit",
            "3",
            "--threads",
            "2",
            "--batch-size",
            "8",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (da, db) = (run_dir(a.path()), run_dir(b.path()));
    for task in TASKS.split(',') {
        let (la, lb) = (loglikelihoods(&da, task), loglikelihoods(&db, task));
        assert_eq!(la.len(), lb.len());
        assert!(!la.is_empty());
        for (x, y) in la.iter().zip(&lb) {
            assert!((x - y).abs() < 1e-5, "{task}: {x} vs {y}");
        }
    }
    // Greedy answers, decoded one at a time on one thread and three together on two,
    // are the same text.
    let answers = |dir: &Path| -> Vec<String> {
        samples(dir, "gsm8k")
            .iter()
            .map(|s| s["responses"]["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let (aa, ab) = (answers(&da), answers(&db));
    assert_eq!(aa.len(), 3);
    assert_eq!(
        aa, ab,
        "greedy answers differ across threads and batch sizes"
    );
    let (ra, rb) = (results(&da), results(&db));
    assert_eq!(ra["results"], rb["results"], "identical metrics");
    assert_eq!(
        ra["run"]["spec_hash"], rb["run"]["spec_hash"],
        "threads and batch size are not part of the spec"
    );
}

#[test]
fn results_file_holds_what_reproduces_the_run() {
    let out = tempfile::tempdir().unwrap();
    let o = eval(out.path(), &["--tasks", "arc_easy,gsm8k", "--limit", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("| arc_easy | acc |") && stdout.contains("exact_match,strict-match"),
        "{stdout}"
    );
    let dir = run_dir(out.path());
    let r = results(&dir);
    assert_eq!(r["schema"], "assay.results/v1");
    assert!(!r["assay"]["git_revision"].as_str().unwrap().is_empty());
    assert_eq!(
        r["spec"]["model"]["sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    let tasks = r["spec"]["tasks"].as_array().unwrap();
    let gsm = tasks.iter().find(|t| t["name"] == "gsm8k").unwrap();
    assert_eq!(gsm["num_fewshot"], 5);
    let data: Vec<&str> = gsm["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(data.len(), 2, "test split and few-shot pool");
    assert!(
        gsm["definition"]["prompt"]["input"]
            .as_str()
            .unwrap()
            .contains("Question:")
    );
    let arc = &r["results"][0];
    assert_eq!(arc["task"], "arc_easy");
    let acc = &arc["metrics"][0];
    assert_eq!(acc["name"], "acc");
    for key in ["value", "stderr", "ci_low", "ci_high", "n"] {
        assert!(acc.get(key).is_some(), "{key}");
    }
    let gsm_samples = samples(&dir, "gsm8k");
    assert_eq!(gsm_samples.len(), 2);
    let s = &gsm_samples[0];
    assert_eq!(s["fewshot"].as_array().unwrap().len(), 5);
    assert!(s["prompt"].as_str().unwrap().ends_with("\nAnswer:"));
    assert!(s["responses"]["text"].is_string());
    assert!(s["score"]["extra"]["extracted"]["strict-match"].is_string());
    assert!(!out.path().read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".partial")
    }));
}

/// Run folders say what tells runs apart: the model, the tasks, the shots, the chat
/// template and the selection (then the time); `--name` names a run, and results.json
/// records it; a name that could not name a folder is refused before any work.
#[test]
fn run_folders_are_named_by_what_differs_or_by_name() {
    let out = tempfile::tempdir().unwrap();
    for extra in [
        &["--tasks", "arc_easy", "--limit", "2"][..],
        &[
            "--tasks",
            "arc_easy,arc_challenge",
            "--limit",
            "2",
            "--num-fewshot",
            "1",
        ],
        &[
            "--tasks",
            "arc_easy",
            "--sample",
            "2",
            "--sample-seed",
            "3",
            "--apply-chat-template",
        ],
        &[
            "--tasks",
            "arc_easy",
            "--limit",
            "2",
            "--name",
            "release-candidate_2",
        ],
    ] {
        let o = eval(out.path(), extra);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
    }
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Without the time stamp (`-YYYYMMDDTHHMMSS`).
    let labels: Vec<&str> = names.iter().map(|n| &n[..n.len() - 16]).collect();
    assert_eq!(
        labels,
        [
            "SmolLM2-135M-Instruct.Q4_1-arc_easy+arc_challenge-1shot-first2",
            "SmolLM2-135M-Instruct.Q4_1-arc_easy-chat-random2-seed3",
            "SmolLM2-135M-Instruct.Q4_1-arc_easy-first2",
            "release-candidate_2",
        ]
    );
    let named = out.path().join(&names[3]);
    assert_eq!(results(&named)["run"]["name"], "release-candidate_2");
    let o = eval(out.path(), &["--tasks", "arc_easy", "--name", "../escape"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("use 1 to 64 letters, digits, `-` and `_`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_killed_run_resumes_without_redoing_finished_samples() {
    let out = tempfile::tempdir().unwrap();
    let args = |o: &Path| {
        vec![
            "eval".to_string(),
            "--data-dir".into(),
            data_dir().to_string_lossy().into_owned(),
            "--out".into(),
            o.to_string_lossy().into_owned(),
            "--tasks".into(),
            "hellaswag".into(),
            "--limit".into(),
            "40".into(),
        ]
    };
    let mut child = crate::common::command()
        .args(args(out.path()))
        .spawn()
        .unwrap();
    // Wait for the first call's answers in the journal (16 samples a call), then kill -9.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let journal_lines = || -> usize {
        std::fs::read_dir(out.path())
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".partial"))
            .map(|e| {
                // Whole lines only: a line torn by the kill is not a finished sample.
                std::fs::read_to_string(e.path().join("samples/hellaswag.jsonl"))
                    .unwrap_or_default()
                    .matches('\n')
                    .count()
            })
            .sum()
    };
    while journal_lines() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_with = journal_lines();
    assert!(killed_with >= 1, "the run answered nothing in time");
    assert!(
        !out.path()
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().join("results.json").exists()),
        "no results file for an unfinished run"
    );
    let o = crate::common::command()
        .args(args(out.path()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = results(&run_dir(out.path()));
    let reference_out = tempfile::tempdir().unwrap();
    let o = crate::common::command()
        .args(args(reference_out.path()))
        .output()
        .unwrap();
    assert!(o.status.success());
    let reference = results(&run_dir(reference_out.path()));
    let done = resumed["run"]["samples_resumed"].as_u64().unwrap() as usize;
    assert!(
        done >= killed_with && done < 40,
        "{done} resumed after {killed_with}"
    );
    assert_eq!(
        resumed["run"]["samples_run"].as_u64().unwrap() as usize,
        40 - done
    );
    assert_eq!(resumed["results"], reference["results"]);
    let a = loglikelihoods(&run_dir(out.path()), "hellaswag");
    let b = loglikelihoods(&run_dir(reference_out.path()), "hellaswag");
    assert_eq!(a.len(), 160);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

const ARC_LIKE: &str = r#"
name = "mini"
output = "multiple_choice"
metrics = ["acc"]
[data]
path = "mini/test.jsonl"
format = "jsonl"
[prompt]
input = "Question: {{ question }}\nAnswer:"
choices = "choices"
target = "gold"
"#;

fn expect_failure(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {}", stderr(o));
    let e = stderr(o);
    for n in needles {
        assert!(e.contains(n), "missing `{n}` in: {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn unknown_task_field_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let task = write(
        dir.path(),
        "mini.toml",
        &ARC_LIKE.replace("metrics = [\"acc\"]", "metrics = [\"acc\"]\nbogus = 1"),
    );
    let o = assay(&[
        "eval",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--tasks",
        task.to_str().unwrap(),
    ]);
    expect_failure(&o, &["mini.toml:5", "bogus"]);
}

#[test]
fn data_row_missing_a_field_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let task = write(dir.path(), "mini.toml", ARC_LIKE);
    write(
        dir.path(),
        "mini/test.jsonl",
        "{\"question\": \"q1\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"question\": \"q2\", \"gold\": 1}\n",
    );
    let out = dir.path().join("out");
    let o = assay(&[
        "eval",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--tasks",
        task.to_str().unwrap(),
    ]);
    expect_failure(&o, &["test.jsonl:2", "field `choices` is missing"]);
    assert!(
        !out.exists(),
        "nothing is written for a run that did not start"
    );
}

#[test]
fn choice_index_out_of_range_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let task = write(dir.path(), "mini.toml", ARC_LIKE);
    write(
        dir.path(),
        "mini/test.jsonl",
        "{\"question\": \"q1\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n\n{\"question\": \"q2\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n",
    );
    let o = assay(&[
        "eval",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--tasks",
        task.to_str().unwrap(),
    ]);
    expect_failure(
        &o,
        &[
            "test.jsonl:3",
            "prompt.target",
            "choice index 2 is out of range for 2 choices",
        ],
    );
}

#[test]
fn missing_and_corrupt_models_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = eval(
        &out,
        &[
            "--tasks",
            "arc_easy",
            "--limit",
            "1",
            "--model",
            "/nonexistent/model.gguf",
        ],
    );
    expect_failure(&o, &["/nonexistent/model.gguf"]);
    let bad = write(dir.path(), "bad.gguf", "GGUF but not really");
    let o = eval(
        &out,
        &[
            "--tasks",
            "arc_easy",
            "--limit",
            "1",
            "--model",
            bad.to_str().unwrap(),
        ],
    );
    expect_failure(&o, &["bad.gguf", "not a valid GGUF"]);
    assert!(
        !out.read_dir()
            .map(|mut d| d.any(|e| e.unwrap().path().join("results.json").exists()))
            .unwrap_or(false)
    );
}

#[test]
fn unknown_task_and_missing_data_dir_are_clear() {
    let o = assay(&["eval", "--data-dir", "/tmp", "--tasks", "hellaswagg"]);
    expect_failure(&o, &["unknown task `hellaswagg`", "hellaswag"]);
    let o = crate::common::command()
        .args(["eval", "--tasks", "arc_easy"])
        .env_remove("ASSAY_DATA_DIR")
        .output()
        .unwrap();
    expect_failure(&o, &["--data-dir"]);
    let o = assay(&[
        "eval",
        "--data-dir",
        "/nonexistent-data",
        "--tasks",
        "arc_easy",
    ]);
    expect_failure(&o, &["/nonexistent-data/arc/ARC-Easy-Test.jsonl"]);
}

fn eval_task(dir: &Path, task: &Path, out: &Path) -> std::process::Command {
    let mut c = crate::common::command();
    c.args([
        "eval",
        "--data-dir",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--tasks",
        task.to_str().unwrap(),
    ]);
    c
}

#[test]
fn template_mistakes_name_the_task_file_line_not_the_data() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "mini/test.jsonl",
        "{\"question\": \"q1\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n",
    );
    let out = dir.path().join("out");
    for (input, needles) in [
        (
            "{{ question }",
            vec!["mini.toml:9", "`prompt.input`", "syntax error"],
        ),
        (
            "{{ question | nofilter }}",
            vec!["mini.toml:9", "unknown filter", "rendering", "test.jsonl:1"],
        ),
        (
            "{{ questoin }}",
            vec![
                "test.jsonl:1",
                "`questoin` is missing",
                "prompt.input` at",
                "mini.toml:9",
            ],
        ),
    ] {
        let text = ARC_LIKE.replace("Question: {{ question }}\\nAnswer:", input);
        let task = write(dir.path(), "mini.toml", &text);
        let o = eval_task(dir.path(), &task, &out).output().unwrap();
        expect_failure(&o, &needles);
    }
    // A bad regex written inline still names its line.
    let text = r#"
name = "mini"
output = "generate"
metrics = ["exact_match"]
exact_match = { regexes_to_ignore = ["(open"] }
[data]
path = "mini/test.jsonl"
format = "jsonl"
[prompt]
input = "Question: {{ question }}"
target = "question"
"#;
    let task = write(dir.path(), "mini.toml", text);
    let o = eval_task(dir.path(), &task, &out).output().unwrap();
    expect_failure(&o, &["mini.toml:5", "regexes_to_ignore"]);
    assert!(!out.exists());
}

#[test]
fn an_empty_data_file_is_named_before_the_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let task = write(dir.path(), "mini.toml", ARC_LIKE);
    write(dir.path(), "mini/test.jsonl", "");
    let out = dir.path().join("out");
    let o = eval_task(dir.path(), &task, &out)
        .args(["--model", "/nonexistent/model.gguf"])
        .output()
        .unwrap();
    // The data is checked first: the (missing) model is never reached.
    expect_failure(&o, &["test.jsonl", "no rows", "empty"]);
    assert!(!stderr(&o).contains("model.gguf"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_second_run_into_the_same_folder_is_refused_while_the_first_works() {
    let dir = tempfile::tempdir().unwrap();
    let task = write(dir.path(), "mini.toml", ARC_LIKE);
    let mut rows = String::new();
    for i in 0..400 {
        rows.push_str(&format!(
            "{{\"question\": \"What is {i} plus {i}? Think of the numbers one by one.\", \"choices\": [\"{}\", \"{}\", \"many\"], \"gold\": 0}}\n",
            2 * i,
            2 * i + 1
        ));
    }
    write(dir.path(), "mini/test.jsonl", &rows);
    let out = dir.path().join("out");
    let mut first = eval_task(dir.path(), &task, &out)
        .args(["--batch-size", "1"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run has opened its run directory.
    let started = std::time::Instant::now();
    while !std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            started.elapsed().as_secs() < 120,
            "the first run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = eval_task(dir.path(), &task, &out).output().unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    let _ = first.kill();
    let _ = first.wait();
    assert!(
        still_running,
        "the first run ended before the second started"
    );
    expect_failure(&second, &["in use by another assay run"]);
    assert!(
        !stderr(&second).contains("cannot write"),
        "{}",
        stderr(&second)
    );
}
