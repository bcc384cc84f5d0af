//! Snapshots (insta) of what a user reads: every command's `--help`, its main outputs
//! and its main error messages. A change to any of them shows up as a snapshot diff to
//! review, not as a silent drift.

use crate::common::assay;

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
