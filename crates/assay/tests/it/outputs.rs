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
    &["serve"],
    &["pairwise"],
    &["annotate"],
    &["rank"],
    &["ab"],
    &["ab", "analyze"],
    &["ab", "plan"],
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
