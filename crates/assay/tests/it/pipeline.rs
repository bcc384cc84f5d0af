//! `assay pipeline`: the example end to end with a kill -9 in each stage (the same
//! result, no model call made twice), people's votes as a waiting state, and bad
//! pipeline files refused with their place before any model works.

use crate::common::{command, data_dir, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipeline/release.toml")
}

fn run_args(file: &Path, out: &Path) -> Vec<String> {
    vec![
        "pipeline".into(),
        "run".into(),
        file.to_string_lossy().into_owned(),
        "--data-dir".into(),
        data_dir().to_string_lossy().into_owned(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
    ]
}

fn run(file: &Path, out: &Path) -> Output {
    command().args(run_args(file, out)).output().unwrap()
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

/// Whole lines in the files below `dir` whose path ends with `suffix`.
fn lines_under(dir: &Path, suffix: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                n += std::fs::read_to_string(&p)
                    .unwrap_or_default()
                    .matches('\n')
                    .count();
            }
        }
    }
    n
}

/// Starts the pipeline and kills it (SIGKILL) once `ready` holds; false when the run
/// ended first.
fn kill_when(file: &Path, out: &Path, ready: impl Fn() -> bool) -> bool {
    let mut child: Child = command()
        .args(run_args(file, out))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the pipeline did not reach the point to kill it within 10 minutes");
}

/// What must not depend on interruptions: the decision, the funnel, every stage's
/// order and verdicts (paths and timings aside).
fn decided(r: &Value) -> Value {
    let stages: Vec<Value> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s["name"],
                "entrants": s["entrants"],
                "candidates": s["outcome"]["candidates"],
                "order": s["outcome"]["order"],
            })
        })
        .collect();
    serde_json::json!({
        "decision": r["decision"],
        "funnel": r["funnel"],
        "stages": stages,
        "agreement": r["agreement"],
    })
}

#[test]
fn the_example_decides_and_a_kill_in_each_stage_changes_nothing() {
    let file = example();
    // Uninterrupted.
    let reference = tempfile::tempdir().unwrap();
    let o = run(&file, reference.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = report(reference.path());
    assert_eq!(want["decision"]["ship"], "brief", "{}", stdout(&o));
    let summary = stdout(&o);
    assert!(
        summary.contains("| `gemma` | gemma3-270m | - | stopped at `offline` |"),
        "{summary}"
    );
    assert!(summary.contains("**Ship `brief`.**"), "{summary}");
    let junit = std::fs::read_to_string(reference.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"offline\" tests=\"4\" failures=\""),
        "{junit}"
    );
    assert!(reference.path().join("summary.md").is_file());
    view_the_pipeline(reference.path(), &want);

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_owned();
    // 1. Offline: killed while the second candidate is being evaluated.
    let killed = kill_when(&file, &dir, || {
        lines_under(&dir.join("01-offline/brief"), ".jsonl") > 0
    });
    assert!(
        killed,
        "the offline stage finished before it could be killed"
    );
    assert!(!dir.join("01-offline/outcome.json").exists());
    let partial_brief = lines_under(&dir.join("01-offline/brief"), ".jsonl");
    // 2. Preference: killed once some answers are journaled.
    let killed = kill_when(&file, &dir, || {
        lines_under(&dir.join("02-preference/arena"), "journal.jsonl") > 0
    });
    assert!(
        killed,
        "the preference stage finished before it could be killed"
    );
    assert!(dir.join("01-offline/outcome.json").is_file());
    assert!(!dir.join("02-preference/outcome.json").exists());
    // 3. Online: killed as soon as the preference stage has decided (the A/B analysis
    //    takes a moment, so the kill may come after the end; either way must hold).
    kill_when(&file, &dir, || {
        dir.join("02-preference/outcome.json").is_file()
    });
    let o = run(&file, &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stage `offline`: decided before"),
        "{}",
        stderr(&o)
    );
    let got = report(&dir);
    assert_eq!(decided(&got), decided(&want));

    // No model call twice: each candidate has one finished run of the offline tasks,
    // whose records add up to the items once (the resumed one took up its journal), and
    // the side-by-side journal holds each answer and judgement once.
    for c in ["current", "brief", "gemma"] {
        let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("01-offline").join(c))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(runs.len(), 1, "{c}: {runs:?}");
        let results: Value =
            serde_json::from_slice(&std::fs::read(runs[0].join("results.json")).unwrap()).unwrap();
        let (ran, resumed) = (
            results["run"]["samples_run"].as_u64().unwrap(),
            results["run"]["samples_resumed"].as_u64().unwrap(),
        );
        assert_eq!(ran + resumed, 120, "{c}");
        if c == "brief" {
            assert!(
                resumed as usize >= partial_brief,
                "{resumed} < {partial_brief}"
            );
        }
    }
    let journal = std::fs::read_to_string(dir.join("02-preference/arena/journal.jsonl")).unwrap();
    let entries: Vec<&str> = journal.lines().collect();
    let unique: std::collections::HashSet<&str> = entries.iter().copied().collect();
    assert_eq!(entries.len(), unique.len(), "an entry was journaled twice");
    // 12 prompts: 2 contestants' answers and 2 orders of the one pair.
    assert_eq!(entries.len(), 12 * 2 + 12 * 2);

    let o = command()
        .args(["pipeline", "status", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let status = stdout(&o);
    for stage in ["offline", "preference", "online"] {
        assert!(status.contains(&format!("stage `{stage}`")), "{status}");
    }
    assert!(status.contains("decided"), "{status}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const HEAD: &str = r#"baseline = "current"

[[candidate]]
name = "current"
model = "default"

[[candidate]]
name = "other"
model = "default"
"#;

/// A pipeline file of the two `HEAD` candidates and one stage (its table's body).
fn with_stage(dir: &Path, name: &str, stage: &str) -> PathBuf {
    write(dir, name, &format!("{HEAD}\n[[stage]]\n{stage}"))
}

const OFFLINE: &str = r#"
[[stage]]
kind = "benchmarks"
name = "offline"
tasks = ["arc_easy"]
limit = 4
"#;

/// Every mistake a pipeline file can hold is refused with its place (file:line:column)
/// and says what is wrong, with exit status 2, before any model works and without
/// creating the output folder.
#[test]
fn bad_pipeline_files_are_refused_with_their_place_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "prompts.jsonl", "{\"prompt\": \"hi\"}\n");
    write(dir, "empty.jsonl", "\n");
    write(dir, "ab.csv", "variant,converted\ncontrol,1\nother,0\n");
    let ab = |data: &str| {
        format!(
            "{HEAD}{OFFLINE}\n[[stage]]\nkind = \"ab\"\nname = \"online\"\ndata = {data}\nmetrics = [\"converted\"]\n"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{HEAD}{OFFLINE}colour = 1\n"),
            ":16:1: unknown field `colour`",
        ),
        (
            format!("nickname = 2\n{HEAD}{OFFLINE}"),
            ":1:1: unknown field `nickname`",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("limit = 4", "limit = \"four\""),
            ":15:9: invalid type: string \"four\", expected usize",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("kind = \"benchmarks\"", "kind = \"benchmark\""),
            ":12:8: unknown stage kind `benchmark` (kinds: benchmarks, side_by_side, ab)",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("baseline = \"current\"", "baseline = \"prod\""),
            ":1:12: baseline `prod` is not a candidate (candidates: current, other)",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("name = \"other\"", "name = \"current\""),
            ":7:1: candidate `current` is named twice",
        ),
        (HEAD.to_owned(), "no stages: add `[[stage]]` tables"),
        (
            format!("{HEAD}{OFFLINE}{OFFLINE}"),
            ":17:1: stage `offline` is named twice",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("arc_easy", "arc_eazy"),
            ":11:1: stage `offline`: unknown task `arc_eazy`",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("[\"arc_easy\"]", "[]"),
            "stage `offline`: no tasks",
        ),
        (
            format!("{HEAD}{OFFLINE}")
                .replace("model = \"default\"\n\n[[c", "model = \"defualt\"\n\n[[c"),
            ":3:1: candidate `current`: `defualt` is neither a model assay fetches",
        ),
        (
            format!("{HEAD}{OFFLINE}gates = [\"arc_easy:accuracy >= baseline - 0.02\"]\n"),
            "stage `offline`: gate `arc_easy:accuracy >= baseline - 0.02`: task `arc_easy` has no metric `accuracy`",
        ),
        (
            format!(
                "{HEAD}{OFFLINE}\n[[stage]]\nkind = \"side_by_side\"\nname = \"people\"\nprompts = \"empty.jsonl\"\njudge = \"default\"\n"
            ),
            "empty.jsonl: no prompts",
        ),
        (
            ab("{}"),
            "stage `online`: no experiment data for candidate `other`",
        ),
        (
            ab("{ other = \"ab.csv\", stranger = \"ab.csv\" }"),
            "`data` names `stranger`, which is not a candidate",
        ),
        (
            ab("{ other = \"missing.csv\" }"),
            "candidate `other`: experiment data `",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("[\"arc_easy\"]", "[\"xstest_judged\"]"),
            "stage `offline`: task `xstest_judged` is scored by an LLM judge: name the judging model with `judge = \"MODEL\"`",
        ),
        (
            format!("{HEAD}{OFFLINE}judge = \"default\"\n"),
            "`judge`: none of these tasks is scored by an LLM judge",
        ),
        (
            format!("{HEAD}{OFFLINE}").replace("[\"arc_easy\"]", "[\"ailuminate\"]"),
            "task `ailuminate`: graded by a served safety classifier (LlamaGuard3): name it with --grader-model NAME and --grader-base-url URL",
        ),
        (
            ab("{ other = \"ab.csv\" }").replace("[\"converted\"]", "[\"revenue\"]"),
            "ab.csv: no column `revenue`",
        ),
        // The analysis's keys are read by assay_ab::config, strictly and in place.
        (
            ab("{ other = \"ab.csv\" }") + "alpha = 2\n",
            "`2` is not a probability strictly between 0 and 1",
        ),
        (
            ab("{ other = \"ab.csv\" }") + "metricz = [\"x\"]\n",
            "unknown field `metricz`",
        ),
        (
            ab("{ other = \"ab.csv\" }") + "post_stratify = \"platform\"\n",
            "ab.csv: no column `platform`",
        ),
        (
            ab("{ other = \"ab.csv\" }") + "segment = [\"converted\"]\n",
            "a pipeline's A/B stage decides on the whole experiment",
        ),
        // A long list of candidates is cut in messages.
        (
            format!(
                "{HEAD}{}{OFFLINE}",
                (0..23)
                    .map(|k| format!("\n[[candidate]]\nname = \"c{k}\"\nmodel = \"default\"\n"))
                    .collect::<String>()
            )
            .replace("baseline = \"current\"", "baseline = \"prod\""),
            "c17 and 5 more)",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = write(dir, &format!("bad{i}.toml"), text);
        let out = dir.join(format!("out{i}"));
        let o = run(&file, &out);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(needle),
            "case {i}: wanted `{needle}` in: {err}"
        );
        assert!(
            err.contains(&format!("bad{i}.toml")),
            "case {i}: no file named: {err}"
        );
        assert!(
            !err.contains("model `default`:"),
            "case {i}: a model was loaded: {err}"
        );
        assert!(!out.exists(), "case {i}: the output folder was created");
    }
}

/// With `judge = "people"` the side-by-side stage writes the answers and waits (exit
/// 3, the way to the annotation page said); once people have voted, the same command
/// goes on and decides from their votes.
#[test]
fn people_votes_are_a_waiting_state_that_the_same_command_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "prompts.jsonl",
        "{\"id\": \"a\", \"prompt\": \"Name a fruit.\"}\n{\"id\": \"b\", \"prompt\": \"Name a colour.\"}\n{\"id\": \"c\", \"prompt\": \"Name a city.\"}\n",
    );
    let text = format!(
        "{}\n[[stage]]\nkind = \"side_by_side\"\nname = \"people\"\nprompts = \"prompts.jsonl\"\njudge = \"people\"\nmax_tokens = 12\nmin_votes = 3\nmin_win_rate = 0.5\n",
        HEAD.replace(
            "name = \"other\"\nmodel = \"default\"",
            "name = \"other\"\nmodel = \"default\"\nsystem_prompt = \"Answer with one word.\""
        )
    );
    let file = write(dir, "people.toml", &text);
    let out = dir.join("out");
    let o = run(&file, &out);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let waiting = report(&out);
    assert_eq!(waiting["decision"]["outcome"], "waiting");
    let reason = waiting["decision"]["reason"].as_str().unwrap();
    assert!(reason.contains("`other` has 0"), "{reason}");
    assert!(reason.contains("assay annotate "), "{reason}");
    assert!(!out.join("01-people/outcome.json").exists());

    // Two annotators vote on every comparison: `other` wins two of three prompts for
    // each, loses the third.
    let arena = out.join("01-people/arena");
    let saved = assay_arena::run::load(&arena).unwrap();
    let items = assay_annotate::items(&saved);
    assert_eq!(items.len(), 3);
    let store = assay_annotate::store::Store::open(&arena.join("annotations.sqlite")).unwrap();
    for annotator in ["ana", "ben"] {
        store.token_for(annotator).unwrap();
        for item in &items {
            let other_wins = item.prompt_id != "c";
            let (left, right) = (item.x.as_str(), item.y.as_str());
            let choice = if (left == "other") == other_wins {
                assay_annotate::store::Choice::Left
            } else {
                assay_annotate::store::Choice::Right
            };
            store.record(annotator, item, left, right, choice).unwrap();
        }
    }
    drop(store);
    let o = run(&file, &out);
    let decided = report(&out);
    let stage = &decided["stages"][0]["outcome"];
    // Win rate 4/6 clustered by prompt: per-prompt means 1, 1, 0 (each prompt's two
    // votes agree), so the mean is 2/3 with SE sqrt(Σ(x−x̄)²)/n over the six votes.
    let win = &stage["details"]["win_rate_against_baseline"]["other"];
    assert!(
        (win["value"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-12,
        "{win}"
    );
    // statsmodels OLS(y, 1).fit(cov_type="cluster", groups, use_correction=False):
    // residuals 1/3, 1/3, 1/3, 1/3, −2/3, −2/3 → cluster sums 2/3, 2/3, −4/3; SE =
    // sqrt((4/9 + 4/9 + 16/9)) / 6 = sqrt(24/9)/6.
    let se = (24.0f64 / 9.0).sqrt() / 6.0;
    assert!(
        (win["stderr"].as_f64().unwrap() - se).abs() < 1e-12,
        "{win}"
    );
    // Its lower bound (t with 2 degrees of freedom) is far below 0.5: the gate fails.
    assert_eq!(stage["candidates"][0]["verdict"], "stop");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(decided["decision"]["outcome"], "none_ships");
    assert!(out.join("01-people/outcome.json").is_file());

    // A third annotator's votes come in later: the decision is taken again with them.
    let store = assay_annotate::store::Store::open(&arena.join("annotations.sqlite")).unwrap();
    store.token_for("cy").unwrap();
    for item in &items {
        let choice = if item.x == "other" {
            assay_annotate::store::Choice::Left
        } else {
            assay_annotate::store::Choice::Right
        };
        store.record("cy", item, &item.x, &item.y, choice).unwrap();
    }
    drop(store);
    let o = run(&file, &out);
    assert!(
        stderr(&o).contains("stage `people`: its inputs changed"),
        "{}",
        stderr(&o)
    );
    let again = report(&out);
    let win = &again["stages"][0]["outcome"]["details"]["win_rate_against_baseline"]["other"];
    assert!(
        (win["value"].as_f64().unwrap() - 7.0 / 9.0).abs() < 1e-12,
        "{win}"
    );
    // Unchanged votes: read back, not decided again.
    let o = run(&file, &out);
    assert!(
        stderr(&o).contains("stage `people`: decided before"),
        "{}",
        stderr(&o)
    );
}

/// An experiment keeps collecting rows: a rerun analyses the A/B stage again when its
/// file changed (and only then), while the pipeline file stays the same. No model is
/// needed for an A/B-only pipeline.
#[test]
fn the_ab_stage_decides_again_when_its_rows_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rows = |n: usize| {
        let mut s = String::from("variant,converted\n");
        for i in 0..n {
            let arm = if i % 2 == 0 { "control" } else { "other" };
            s.push_str(&format!("{arm},{}\n", u8::from(i % 7 == 0 || i % 5 == 1)));
        }
        s
    };
    write(dir, "ab.csv", &rows(400));
    let file = with_stage(
        dir,
        "ab.toml",
        "kind = \"ab\"\nname = \"online\"\ndata = { other = \"ab.csv\" }\nmetrics = [\"converted\"]\n",
    );
    let out = dir.join("out");
    let o = run(&file, &out);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
    let units = |r: &Value| {
        // The lift with its interval, which narrows with ten times the rows.
        r["stages"][0]["outcome"]["order"]["scores"][1]["shown"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = report(&out);
    let o = run(&file, &out);
    assert!(
        stderr(&o).contains("stage `online`: decided before"),
        "{}",
        stderr(&o)
    );
    write(dir, "ab.csv", &rows(4000));
    let o = run(&file, &out);
    assert!(
        stderr(&o).contains("stage `online`: its inputs changed"),
        "{}",
        stderr(&o)
    );
    let analysis: Value =
        serde_json::from_slice(&std::fs::read(out.join("01-online/other/analysis.json")).unwrap())
            .unwrap();
    assert_eq!(analysis["rows"], 4000);
    assert_ne!(units(&first), units(&report(&out)));
}

/// A benchmarks stage with a task an LLM judges (`xstest_judged`): the stage's `judge`
/// model grades every candidate's answers, and each run records the judge it was graded
/// by (so a run graded by another judge is never resumed into it).
#[test]
fn a_judged_task_is_graded_by_the_stages_judge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = with_stage(
        dir,
        "judged.toml",
        "kind = \"benchmarks\"\nname = \"safety\"\ntasks = [\"xstest_judged\"]\nsample = 4\nmax_tokens = 16\njudge = \"default\"\n",
    );
    let out = dir.join("out");
    let o = run(&file, &out);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", stderr(&o));
    for candidate in ["current", "other"] {
        let runs: Vec<PathBuf> = std::fs::read_dir(out.join("01-safety").join(candidate))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let results: Value =
            serde_json::from_slice(&std::fs::read(runs[0].join("results.json")).unwrap()).unwrap();
        let graders = results["spec"]["tasks"][0]["graders"].to_string();
        assert!(graders.contains("SmolLM2"), "{candidate}: {graders}");
    }
}

/// A finished pipeline in `assay view`, in Chromium: listed with the runs it holds (each
/// candidate's evaluation, the side-by-side run, the A/B analyses); its page's funnel is
/// results.json's (each candidate's fate), with the decision; no console error.
fn view_the_pipeline(dir: &Path, want: &Value) {
    let viewer = crate::common::view(dir);
    let url = viewer.url.clone();
    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    let js = |code: &str| tab.evaluate(code, false).unwrap().value.unwrap_or_default();
    tab.navigate_to(&url).unwrap();
    tab.wait_until_navigated().unwrap();
    let kinds: Vec<String> = serde_json::from_str(
        js("JSON.stringify([...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.kind))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("pipeline"), 1, "{kinds:?}");
    assert_eq!(count("eval"), 3, "{kinds:?}");
    assert_eq!(count("pairwise"), 1, "{kinds:?}");
    assert!(count("ab") >= 1, "{kinds:?}");
    tab.navigate_to(&format!("{url}run?id=.")).unwrap();
    tab.wait_until_navigated().unwrap();
    crate::common::screenshot(&tab, "view-pipeline");
    let rows: Vec<Value> = serde_json::from_str(
        js("JSON.stringify([...document.querySelectorAll('#funnel tbody tr')].map(r => ({...r.dataset})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let funnel = want["funnel"].as_array().unwrap();
    assert_eq!(rows.len(), funnel.len());
    for (row, f) in rows.iter().zip(funnel) {
        assert_eq!(row["candidate"], f["candidate"]);
        let fate = match f["fate"].as_str().unwrap() {
            "passed" => "passed every stage",
            other => other,
        };
        assert_eq!(row["fate"], fate, "{row}");
    }
    assert!(
        js("document.getElementById('decision').textContent")
            .as_str()
            .unwrap()
            .contains("ship brief")
    );
    tab.navigate_to(&format!("{url}run?id=02-preference/arena"))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    assert_eq!(
        js("document.querySelectorAll('details.comparison').length"),
        Value::from(12)
    );
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
}
