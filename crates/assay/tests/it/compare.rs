//! `assay compare` on two real runs of the same tasks (the embedded model zero-shot and
//! one-shot on ARC-Easy): the paired differences, McNemar's exact test and the changed
//! items, each recomputed here from the two samples files.

use crate::common::{eval, run_dir, stderr, stdout};
use serde_json::Value;
use std::collections::HashMap;

fn samples(run: &std::path::Path) -> HashMap<String, Value> {
    std::fs::read_to_string(run.join("samples/arc_easy.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// McNemar's exact p-value by direct summation of binomial terms (an independent
/// computation: exact rationals in f64 for these small counts).
fn mcnemar(b: u64, c: u64) -> f64 {
    let n = b + c;
    let choose = |n: u64, k: u64| (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
    let tail: f64 = (0..=b.min(c)).map(|k| choose(n, k)).sum::<f64>() / 2f64.powi(n as i32);
    (2.0 * tail).min(1.0)
}

#[test]
fn two_runs_are_compared_item_by_item() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (out, shots) in [(&a, "0"), (&b, "1")] {
        let o = eval(
            out,
            &[
                "--tasks",
                "arc_easy",
                "--limit",
                "40",
                "--num-fewshot",
                shots,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (run_a, run_b) = (run_dir(&a), run_dir(&b));
    let o = crate::common::assay(&[
        "compare",
        run_a.to_str().unwrap(),
        run_b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let task = &got["tasks"][0];
    assert_eq!(task["task"], "arc_easy");
    assert_eq!(task["paired_items"], 40);
    let (sa, sb) = (samples(&run_a), samples(&run_b));
    let acc = |s: &Value| s["score"]["values"]["acc"].as_f64().unwrap();
    let (mut only_a, mut only_b, mut changed) = (0, 0, 0);
    for (id, x) in &sa {
        let y = &sb[id];
        match (acc(x), acc(y)) {
            (a, b) if a > b => only_a += 1,
            (a, b) if a < b => only_b += 1,
            _ => {}
        }
        if x["score"]["values"] != y["score"]["values"]
            || x["score"]["answer"] != y["score"]["answer"]
        {
            changed += 1;
        }
    }
    let m = task["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "acc")
        .unwrap();
    assert_eq!(m["test"], "mcnemar_exact");
    // One subtask: nothing to cluster by.
    assert!(m["clustered"].is_null());
    assert_eq!(m["discordant"], serde_json::json!([only_a, only_b]));
    assert!(
        (m["difference"]["value"].as_f64().unwrap() - (only_b as f64 - only_a as f64) / 40.0).abs()
            < 1e-12
    );
    assert!((m["p_value"].as_f64().unwrap() - mcnemar(only_a, only_b)).abs() < 1e-12);
    assert!(m["p_adjusted"].as_f64().unwrap() >= m["p_value"].as_f64().unwrap());
    assert_eq!(task["changed"].as_array().unwrap().len(), changed);

    // The table says the same in words; a run compared with a run of other tasks is an error.
    let o = crate::common::assay(&["compare", run_a.to_str().unwrap(), run_b.to_str().unwrap()]);
    assert!(
        stdout(&o).contains(&format!("arc_easy: {changed} of 40 paired items changed")),
        "{}",
        stdout(&o)
    );
    let other = dir.path().join("other");
    let o = eval(&other, &["--tasks", "piqa", "--limit", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = crate::common::assay(&[
        "compare",
        run_a.to_str().unwrap(),
        run_dir(&other).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no task in common"), "{}", stderr(&o));
}

/// Two candidates in one evaluation: each runs the same items in its own folder under
/// one directory, every pair is compared (the discordant counts recomputed here from the
/// two samples files), and the same command again resumes both without answering
/// anything again.
#[test]
fn several_candidates_are_evaluated_and_compared_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "--tasks",
        "arc_easy",
        "--limit",
        "12",
        "--model",
        "small=default",
        "--model",
        "gemma=gemma3-270m",
        "--format",
        "json",
    ];
    let o = eval(&out, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let candidates = summary["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    let run = |i: usize| std::path::PathBuf::from(candidates[i]["run"].as_str().unwrap());
    let (sa, sb) = (samples(&run(0)), samples(&run(1)));
    let acc = |s: &Value| s["score"]["values"]["acc"].as_f64().unwrap();
    let only_a = sa.iter().filter(|(id, x)| acc(x) > acc(&sb[*id])).count();
    let only_b = sa.iter().filter(|(id, x)| acc(x) < acc(&sb[*id])).count();
    let c = &summary["comparisons"][0];
    assert_eq!(
        (c["a"].as_str(), c["b"].as_str()),
        (Some("small"), Some("gemma"))
    );
    let m = c["comparison"]["tasks"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "acc")
        .unwrap();
    assert_eq!(m["discordant"], serde_json::json!([only_a, only_b]));
    // Again: both candidates' runs are found finished, nothing is answered again.
    let again = eval(&out, &args);
    assert!(again.status.success(), "{}", stderr(&again));
    let second: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(second["comparisons"], summary["comparisons"]);
    let unnamed = eval(
        &out,
        &[
            "--tasks",
            "arc_easy",
            "--model",
            "default",
            "--model",
            "gemma3-270m",
        ],
    );
    assert_eq!(unnamed.status.code(), Some(2));
    assert!(
        stderr(&unnamed).contains("name each of several candidates"),
        "{}",
        stderr(&unnamed)
    );
}
