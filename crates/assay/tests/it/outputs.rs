//! Snapshots (insta) of what a user reads: every command's `--help`, its main outputs
//! and its main error messages. A change to any of them shows up as a snapshot diff to
//! review, not as a silent drift.

use std::process::Output;

/// `assay ARGS` with no `ASSAY_*` or `OPENAI_*` variable set, since help shows their
/// values.
fn assay(args: &[&str]) -> Output {
    let mut command = crate::common::command();
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("ASSAY_") || text.starts_with("OPENAI_") {
            command.env_remove(&name);
        }
    }
    command.args(args).output().expect("assay runs")
}

/// Every command path, as a user types it after `assay`.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["eval"],
    &["grade"],
    &["compare"],
    &["serve"],
    &["pairwise"],
    &["annotate"],
    &["rank"],
    &["ab"],
    &["ab", "analyze"],
    &["ab", "plan"],
    &["ab", "srm"],
    &["ab", "correct"],
    &["pipeline"],
    &["pipeline", "run"],
    &["pipeline", "status"],
    &["risk"],
    &["risk", "score"],
    &["risk", "compare"],
    &["risk", "gaps"],
    &["risk", "what-if"],
    &["risk", "modes"],
    &["risk", "mitigations"],
    &["risk", "heatmap"],
    &["risk", "card"],
    &["risk", "questionnaire"],
    &["risk", "validate"],
    &["risk", "export"],
    &["view"],
    &["report"],
    &["cache"],
    &["cache", "list"],
    &["cache", "prune"],
    &["cache", "clear"],
    &["fetch"],
    &["tasks"],
];

#[test]
fn every_commands_help() {
    for path in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let o = assay(&args);
        assert!(o.status.success(), "assay {args:?} failed");
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", path.join("_"))
        };
        insta::assert_snapshot!(name, String::from_utf8_lossy(&o.stdout));
    }
}

/// Arguments in `help` with no description: an argument line (`  --flag <X>`, `  <ARG>`)
/// with nothing after it whose next line is not an indented description.
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let is_arg = (2..=6).contains(&indent)
            && (t.starts_with("--")
                || t.starts_with('<')
                || t.starts_with('[')
                || (t.starts_with('-') && t.as_bytes().get(2) == Some(&b',')));
        if !is_arg {
            continue;
        }
        // Short help: the description follows the argument on its own line, after two
        // or more spaces.
        let spec_end = t.find("  ").unwrap_or(t.len());
        let rest = t[spec_end..].trim();
        if !rest.is_empty() && !rest.starts_with('[') {
            continue;
        }
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        let described = !next.is_empty()
            && !next.starts_with('[')
            && !next.starts_with("Possible values")
            && lines[i + 1].starts_with("          ");
        if !described {
            missing.push(t[..spec_end].to_owned());
        }
    }
    missing
}

#[test]
fn every_argument_has_a_description_and_every_command_examples() {
    let mut problems = Vec::new();
    for path in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let help = crate::common::stdout(&assay(&args));
        let options = help.split("\nExamples:\n").next().unwrap_or_default();
        for arg in undescribed(options) {
            problems.push(format!(
                "assay {}: {arg} has no description",
                path.join(" ")
            ));
        }
        let leaf = !help.contains("\nCommands:\n");
        if leaf && !help.contains("\nExamples:\n") {
            problems.push(format!("assay {}: no Examples section", path.join(" ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Standard output and error of `assay ARGS` as a user reads them, with the exit status,
/// and `dir` (a temporary directory) written as `[TMP]`.
fn transcript(args: &[&str], dir: &std::path::Path) -> String {
    let o = assay(args);
    let text = format!(
        "exit status: {}\n--- stdout\n{}--- stderr\n{}",
        o.status.code().map_or("signal".into(), |c| c.to_string()),
        crate::common::stdout(&o),
        crate::common::stderr(&o)
    );
    text.replace(&dir.display().to_string(), "[TMP]")
}

/// A small battle log: b beats a, c sits between.
fn battle_log(dir: &std::path::Path) -> String {
    let path = dir.join("battles.csv");
    let mut text = String::from("model_a,model_b,winner,length_a,length_b\n");
    for (a, b, w, n, la, lb) in [
        ("a", "b", "model_b", 6, 100, 300),
        ("a", "b", "model_a", 2, 200, 100),
        ("b", "a", "tie", 2, 150, 150),
        ("c", "a", "model_a", 4, 300, 100),
        ("c", "a", "model_b", 2, 100, 200),
        ("c", "b", "model_b", 4, 120, 280),
        ("c", "b", "model_a", 2, 260, 90),
    ] {
        for _ in 0..n {
            text.push_str(&format!("{a},{b},{w},{la},{lb}\n"));
        }
    }
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn main_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = battle_log(d);
    let experiment = d.join("experiment.csv");
    crate::common::experiment::write_csv(
        &crate::common::experiment::experiment(4_000, 7, 0.0),
        &experiment,
    );
    let experiment = experiment.display().to_string();
    let cases: &[(&str, &[&str])] = &[
        ("tasks", &["tasks"]),
        ("rank_table", &["rank", &log, "--rounds", "200"]),
        (
            "rank_csv",
            &["rank", &log, "--rounds", "200", "--format", "csv"],
        ),
        (
            "rank_style_control",
            &["rank", &log, "--control", "length", "--format", "csv"],
        ),
        ("risk_score", &["risk", "score", "HellaSwag"]),
        ("risk_compare_csv", &["risk", "compare", "--format", "csv"]),
        ("risk_card", &["risk", "card", "HellaSwag"]),
        (
            "ab_plan",
            &["ab", "plan", "--baseline-rate", "0.1", "--mde", "2%"],
        ),
        (
            "ab_plan_sequential_json",
            &[
                "ab",
                "plan",
                "--mean",
                "12.5",
                "--sd",
                "30",
                "--daily-units",
                "20000",
                "--days",
                "14",
                "--sequential",
                "--format",
                "json",
            ],
        ),
        (
            "ab_analyze",
            &[
                "ab",
                "analyze",
                &experiment,
                "--control",
                "current",
                "--metrics",
                "converted,revenue",
                "--guardrails",
                "latency_ms",
                "--lower-is-better",
                "latency_ms",
            ],
        ),
    ];
    for (name, args) in cases {
        insta::assert_snapshot!(format!("output_{name}"), transcript(args, d));
    }
}

#[test]
fn main_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad_log = d.join("bad.csv");
    std::fs::write(&bad_log, "model_a,model_b,winner\nx,y,model_a\nx,y,maybe\n").unwrap();
    let bad_log = bad_log.display().to_string();
    let rows = d.join("rows.csv");
    std::fs::write(&rows, "variant,revenue\ncurrent,1\ncandidate,oops\n").unwrap();
    let rows = rows.display().to_string();
    let data = d.display().to_string();
    let cases: &[(&str, &[&str])] = &[
        ("eval_no_data_dir", &["eval", "--tasks", "hellaswag"]),
        (
            "eval_unknown_task",
            &["eval", "--tasks", "nope", "--data-dir", &data],
        ),
        (
            "eval_zero_threads",
            &["eval", "--threads", "0", "--data-dir", &data],
        ),
        (
            "pairwise_csv_refused",
            &[
                "pairwise",
                "p.jsonl",
                "--contestant",
                "a=default",
                "--format",
                "csv",
            ],
        ),
        ("rank_bad_winner", &["rank", &bad_log]),
        ("rank_missing_file", &["rank", "no-such-file.csv"]),
        (
            "ab_bad_number",
            &[
                "ab",
                "analyze",
                &rows,
                "--control",
                "current",
                "--metrics",
                "revenue",
            ],
        ),
        (
            "ab_plan_nothing_to_plan",
            &["ab", "plan", "--baseline-rate", "0.1"],
        ),
        ("risk_unknown_benchmark", &["risk", "score", "HelaSwag"]),
        (
            "serve_remote_model",
            &["serve", "--model", "openai:gpt-4o", "--port", "0"],
        ),
    ];
    for (name, args) in cases {
        let text = transcript(args, d);
        assert!(!text.starts_with("exit status: 0"), "{name}: {text}");
        insta::assert_snapshot!(format!("error_{name}"), text);
    }
}

/// `text` without the lines that name a run directory, whose name holds the time.
fn without_run_paths(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("results: ") {
                "results: [RUN]/results.json"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The outputs that need a model, from a fake OpenAI-compatible server that answers
/// with deterministic made-up numbers, and those that read a run or a cache.
#[test]
fn main_outputs_of_model_runs() {
    use crate::fake_server::{FakeConfig, FakeServer};
    let server = FakeServer::start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assay-openai/tests/fixtures/toy")
        .display()
        .to_string();
    let out = d.join("results").display().to_string();
    let model = format!("openai:{}", crate::fake_server::MODEL);
    let eval = |format: &str| {
        let tasks = format!("{toy}/mc.toml,{toy}/gen.toml");
        let args = [
            "eval",
            "--model",
            &model,
            "--base-url",
            &server.url,
            "--no-cache",
            "--tasks",
            &tasks,
            "--data-dir",
            &toy,
            "--out",
            &out,
            "--format",
            format,
        ];
        without_run_paths(&transcript(&args, d)).replace(&toy, "[TOY]")
    };
    insta::assert_snapshot!("output_eval_table", eval("table"));
    insta::assert_snapshot!("output_eval_csv", eval("csv"));

    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/pairwise/prompts.jsonl")
        .display()
        .to_string();
    let run = d.join("pairwise").display().to_string();
    let contestant = |name: &str| format!("{name}={model},max_tokens=16");
    let (a, b) = (contestant("a"), contestant("b"));
    let args = [
        "pairwise",
        &prompts,
        "--contestant",
        &a,
        "--contestant",
        &b,
        "--judge",
        &model,
        "--judge-method",
        "logprobs",
        "--base-url",
        &server.url,
        "--no-cache",
        "--rounds",
        "50",
        "--out",
        &run,
    ];
    insta::assert_snapshot!("output_pairwise", transcript(&args, d));

    let votes = d.join("votes");
    crate::annotate_browser::write_run(&votes);
    let votes = votes.display().to_string();
    insta::assert_snapshot!(
        "output_annotate_agreement",
        transcript(&["annotate", &votes, "--agreement"], d)
    );

    let cache = d.join("cache.sqlite").display().to_string();
    insta::assert_snapshot!(
        "output_cache_list_empty",
        transcript(&["cache", "list", "--cache", &cache], d)
    );
}
