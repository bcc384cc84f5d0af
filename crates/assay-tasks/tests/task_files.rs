//! A task file that does not fit together is refused at load with the file, the line and
//! the field, never a panic later. Each case here was once a panic reachable from a
//! user's task file (a numeric target for a text protocol, a scorer that cannot score
//! the task's output).

use assay_tasks::{Selection, Task, TaskSource};
use std::path::Path;

/// Loads a task file written to a temporary directory with `data.jsonl` beside it: its
/// number of samples, or the error as the user reads it.
fn load(toml: &str, data: &str) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.toml");
    std::fs::write(&path, toml).unwrap();
    std::fs::write(dir.path().join("data.jsonl"), data).unwrap();
    let source = TaskSource::resolve(path.to_str().unwrap()).map_err(|e| e.to_string())?;
    Task::load(source, dir.path(), None, Selection::All)
        .map(|t| t.len())
        .map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
}

fn task(output: &str, extra_top: &str, target: &str) -> String {
    format!(
        r#"name = "t"
description = "test"
output = "{output}"
{extra_top}
[data]
path = "data.jsonl"
format = "jsonl"

[prompt]
input = "{{{{ question }}}}"
target = "{target}"
"#
    )
}

const ROWS: &str = "{\"question\": \"two plus two\", \"answer\": 4, \"text\": \"four\"}\n\
                    {\"question\": \"one plus one\", \"answer\": 2, \"text\": \"two\"}\n";

#[test]
fn a_numeric_target_for_a_generate_task_is_a_load_error() {
    let e = load(
        &task("generate", "metrics = [\"exact_match\"]", "answer"),
        ROWS,
    )
    .unwrap_err();
    assert_eq!(
        e,
        "DIR/data.jsonl:1: prompt.target: `4` is not text, but a `generate` task compares text \
         (write the target as text, e.g. `{{ answer | string }}`)"
    );
    // The fix the message suggests loads.
    let fixed = task("generate", "metrics = [\"exact_match\"]", "answer | string");
    assert_eq!(load(&fixed, ROWS), Ok(2));
}

#[test]
fn a_numeric_target_for_a_loglikelihood_task_is_a_load_error() {
    let e = load(
        &task("loglikelihood", "metrics = [\"perplexity\"]", "answer"),
        ROWS,
    )
    .unwrap_err();
    assert!(
        e.starts_with("DIR/data.jsonl:1: prompt.target: `4` is not text"),
        "{e}"
    );
    assert!(
        load(
            &task("loglikelihood", "metrics = [\"perplexity\"]", "text"),
            ROWS
        )
        .is_ok()
    );
}

#[test]
fn a_scorer_that_cannot_score_the_output_is_a_load_error() {
    let text = task(
        "loglikelihood_rolling",
        "scorer = \"exact_match\"\nmetrics = [\"exact_match\"]",
        "text",
    );
    let e = load(&text, ROWS).unwrap_err();
    assert_eq!(
        e,
        "DIR/task.toml:4: `scorer`: `exact_match` cannot score a `loglikelihood_rolling` task \
         (`choice` and `mc2` score `multiple_choice`, `exact_match` and `grader` score `generate`, \
         `perplexity` scores `loglikelihood` and `loglikelihood_rolling`)"
    );
    for (output, scorer) in [("generate", "choice"), ("loglikelihood", "mc2")] {
        let text = task(
            output,
            &format!("scorer = \"{scorer}\"\nmetrics = [\"acc\"]"),
            "text",
        );
        let e = load(&text, ROWS).unwrap_err();
        assert!(e.contains("`scorer`") && e.contains("cannot score"), "{e}");
    }
}

#[test]
fn bad_regexes_and_metrics_name_their_field_and_line() {
    let text = format!(
        "{}\n[[extract]]\nname = \"strict\"\nregex = \"(unclosed\"\n",
        task("generate", "metrics = [\"exact_match,strict\"]", "text")
    );
    let e = load(&text, ROWS).unwrap_err();
    assert!(
        e.starts_with("DIR/task.toml:15: `extract.regex`: extract `strict`:"),
        "{e}"
    );
    let e = load(&task("generate", "metrics = [\"acc\"]", "text"), ROWS).unwrap_err();
    assert!(
        e.starts_with("DIR/task.toml:4: `metrics`: metric `acc` is not available"),
        "{e}"
    );
}

#[test]
fn built_in_tasks_all_compile() {
    for name in assay_tasks::builtin_names() {
        let source = TaskSource::resolve(name).unwrap();
        // Loading needs data; parsing and checking the spec must not fail on any
        // built-in: a missing data file is the only error allowed here.
        match Task::load(source, Path::new("/nonexistent"), None, Selection::First(1)) {
            Ok(_) => {}
            Err(e) => assert!(e.to_string().contains("/nonexistent"), "{name}: {e}"),
        }
    }
}

/// A grader task: `task()` with `scorer = "grader"` and a `[grader]` section appended.
fn graded(metrics: &str, grader: &str) -> String {
    format!(
        "{}\n{grader}",
        task(
            "generate",
            &format!("scorer = \"grader\"\nmetrics = [{metrics}]"),
            "text"
        )
    )
}

#[test]
fn grader_sections_that_do_not_fit_are_load_errors() {
    let rate = "[[grader.rates]]\nname = \"refusal\"\ncounts = \"flagged\"\n";
    let ok = graded(
        "\"refusal\"",
        &format!("[grader]\nkind = \"xstest_string_match\"\n{rate}"),
    );
    assert_eq!(load(&ok, ROWS), Ok(2));
    let cases = [
        (
            task(
                "generate",
                "scorer = \"grader\"\nmetrics = [\"refusal\"]",
                "text",
            ),
            "`scorer`: `grader` needs a `[grader]` section",
        ),
        (
            graded(
                "\"refusal\"",
                &format!("[grader]\nkind = \"keywords\"\n{rate}"),
            ),
            "`grader.patterns`: is empty: a keyword or regex grader needs at least one",
        ),
        (
            graded(
                "\"refusal\"",
                &format!("[grader]\nkind = \"regex\"\npatterns = [\"(\"]\n{rate}"),
            ),
            "`grader.patterns`: regex parse error",
        ),
        (
            graded(
                "\"refusal\"",
                "[grader]\nkind = \"xstest_string_match\"\n[[grader.rates]]\nname = \"refusal\"\ncounts = \"flagged\"\nwhen = \"safe\"\n",
            ),
            "rate `refusal` selects a class with `when`, but `grader.class` is not set",
        ),
        (
            graded(
                "\"refusal\"",
                &format!("[grader]\nkind = \"xstest_string_match\"\n{rate}{rate}"),
            ),
            "rate `refusal` is named twice",
        ),
        (
            graded(
                "\"compliance\"",
                &format!("[grader]\nkind = \"xstest_string_match\"\n{rate}"),
            ),
            "metric `compliance` is not available for this task (available: refusal)",
        ),
        (
            format!(
                "{}\n[grader]\nkind = \"xstest_string_match\"\n{rate}",
                task("generate", "metrics = [\"exact_match\"]", "text")
            ),
            "a `[grader]` section needs `scorer = \"grader\"` (this task's scorer is `exact_match`)",
        ),
        (
            graded("\"refusal\"", &format!("[grader]\nkind = \"llm\"\n{rate}")),
            "unknown variant `llm`",
        ),
    ];
    for (toml, message) in cases {
        let e = load(&toml, ROWS).unwrap_err();
        assert!(e.contains(message), "{e}\n--- expected: {message}");
        assert!(e.starts_with("DIR/task.toml"), "{e}");
    }
}

/// An ensemble of the two ported classifiers, from a task file: each answer's value is
/// the mean of the members' flag scores (or the share of members that flag), computed
/// here from the classifiers directly; members with rates, or a served model as a
/// member, are load errors.
#[test]
fn an_ensemble_of_classifiers_combines_their_scores() {
    let ensemble = |combine: &str, extra: &str| {
        format!(
            "{}\n[grader]\nkind = \"ensemble\"\ncombine = \"{combine}\"\n\n[[grader.members]]\nkind = \"classifier\"\nclassifier = \"hatesonar\"\n{extra}\n[[grader.members]]\nkind = \"classifier\"\nclassifier = \"alt-profanity-check\"\n\n[[grader.rates]]\nname = \"toxic\"\ncounts = \"flagged\"\n",
            task(
                "generate",
                "scorer = \"grader\"\nmetrics = [\"toxic\"]",
                "text"
            )
        )
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.jsonl"), ROWS).unwrap();
    let answer = "you are a stupid idiot";
    let flag = |c: &assay_classify::Catalogued| {
        let c = c.ensure(&mut |_| {}).unwrap();
        c.flag_score(&c.predict(answer))
    };
    let (hate, profane) = (
        flag(&assay_classify::HATESONAR),
        flag(&assay_classify::PROFANITY_CHECK),
    );
    for (combine, want) in [
        ("mean", (hate + profane) / 2.0),
        (
            "majority",
            (f64::from(u8::from(hate >= 0.5)) + f64::from(u8::from(profane >= 0.5))) / 2.0,
        ),
    ] {
        let path = dir.path().join(format!("{combine}.toml"));
        std::fs::write(&path, ensemble(combine, "")).unwrap();
        let source = TaskSource::resolve(path.to_str().unwrap()).unwrap();
        let task = Task::load(source, dir.path(), None, Selection::All).unwrap();
        assert_eq!(task.grader().unwrap().name, combine);
        let prep = &task.subtasks[0].samples[0];
        let g = [assay_core::GenerateResponse {
            text: answer.into(),
            finish_reason: assay_core::FinishReason::EndOfSequence,
            tokens: 5,
            reasoning: None,
        }];
        let score =
            assay_tasks::score(&task, prep, assay_tasks::score::Responses::Generate(&g)).unwrap();
        assert!(
            (score.values["toxic"] - want).abs() < 1e-15,
            "{combine}: {} vs {want}",
            score.values["toxic"]
        );
    }
    let bad = load(
        &ensemble(
            "mean",
            "[[grader.members.rates]]\nname = \"x\"\ncounts = \"flagged\"\n",
        ),
        ROWS,
    )
    .unwrap_err();
    assert!(bad.contains("members have no rates"), "{bad}");
    let served = ensemble("mean", "").replacen(
        "kind = \"classifier\"\nclassifier = \"hatesonar\"",
        "kind = \"remote\"\nprotocol = \"llama_guard_3\"",
        1,
    );
    let bad = load(&served, ROWS).unwrap_err();
    assert!(bad.contains("cannot be a member"), "{bad}");
}
