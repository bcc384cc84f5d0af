//! The pipeline's report for people and for CI: a Markdown summary (the funnel, each
//! stage's order, stage agreement, warnings) for a pull request, and JUnit XML with
//! one test case per candidate and check, which CI systems show as tests.

use crate::runner::{Fate, Report};
use crate::stage::CheckOutcome;
use assay_render::{Align, MarkdownTable, escape_html};
use std::fmt::Write;

fn fate(f: Fate) -> &'static str {
    match f {
        Fate::Ships => "ships",
        Fate::Passed => "passed",
        Fate::Stopped => "stopped",
        Fate::Inconclusive => "inconclusive",
        Fate::Waiting => "waiting",
        Fate::Baseline => "baseline",
    }
}

/// The funnel as a Markdown table: every candidate, where it ended and why.
pub fn funnel(report: &Report) -> String {
    let mut table = MarkdownTable::new(&[
        ("candidate", Align::Left),
        ("model", Align::Left),
        ("passed", Align::Left),
        ("result", Align::Left),
        ("why", Align::Left),
    ]);
    for row in &report.funnel {
        let result = match &row.at {
            Some(stage) => format!("{} at `{stage}`", fate(row.fate)),
            None => fate(row.fate).to_owned(),
        };
        table.row(&[
            format!("`{}`", row.candidate),
            row.model.clone(),
            if row.passed.is_empty() {
                "-".to_owned()
            } else {
                row.passed.join(", ")
            },
            result,
            row.reasons.join("; "),
        ]);
    }
    table.finish()
}

/// The whole summary, for a terminal or a pull request.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let headline = match &report.decision.ship {
        Some(c) => format!("**Ship `{c}`.** {}", report.decision.reason),
        None => format!("**No candidate ships.** {}", report.decision.reason),
    };
    let _ = writeln!(out, "# Release pipeline\n\n{headline}\n");
    let _ = writeln!(out, "## Funnel\n\n{}", funnel(report));
    for stage in &report.stages {
        let _ = write!(out, "\n## Stage `{}` ({})\n\n", stage.name, stage.kind);
        let Some(outcome) = &stage.outcome else {
            let _ = writeln!(out, "Not reached.");
            continue;
        };
        if let crate::stage::StageStatus::Waiting { until } = &outcome.status {
            let _ = writeln!(out, "Waiting for {until}.");
            continue;
        }
        if let Some(order) = &outcome.order {
            let mut table = MarkdownTable::new(&[
                ("candidate", Align::Left),
                (order.by.as_str(), Align::Right),
                ("verdict", Align::Left),
            ]);
            for score in &order.scores {
                let verdict = outcome
                    .candidates
                    .iter()
                    .find(|c| c.candidate == score.candidate)
                    .map_or("baseline".to_owned(), |c| {
                        format!("{:?}", c.verdict).to_lowercase()
                    });
                table.row(&[
                    format!("`{}`", score.candidate),
                    score.shown.clone(),
                    verdict,
                ]);
            }
            let _ = write!(out, "{}", table.finish());
        }
        for c in &outcome.candidates {
            for check in &c.checks {
                let mark = match check.outcome {
                    CheckOutcome::Pass => "pass",
                    CheckOutcome::Fail => "FAIL",
                    CheckOutcome::Undefined => "undefined",
                };
                let _ = writeln!(
                    out,
                    "- `{}` {mark}: {} — {}",
                    c.candidate, check.name, check.detail
                );
            }
        }
        if let Some(models) = outcome.details["ratings"]["models"].as_array() {
            let shown: Vec<String> = models
                .iter()
                .map(|m| {
                    format!(
                        "`{}` {:.0} [{:.0}, {:.0}]",
                        m["model"].as_str().unwrap_or(""),
                        m["rating"].as_f64().unwrap_or(f64::NAN),
                        m["lower"].as_f64().unwrap_or(f64::NAN),
                        m["upper"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "\nBradley-Terry ratings (95% intervals, {}): {}",
                outcome.details["ratings"]["method"].as_str().unwrap_or(""),
                shown.join(", ")
            );
        } else if let Some(why) = outcome.details["ratings"]["undefined"].as_str() {
            let _ = writeln!(out, "\nBradley-Terry ratings undefined: {why}");
        }
        if let Some(risks) = outcome.details.get("benchrisk").and_then(|b| b.as_array())
            && !risks.is_empty()
        {
            let _ = writeln!(
                out,
                "\nBenchRisk (share of each reliability dimension's risk mitigated, as run):"
            );
            for r in risks {
                let task = r["task"].as_str().unwrap_or("");
                let p = &r["profile"];
                let _ = writeln!(
                    out,
                    "- `{task}` ({}): average {:.2}, weakest {:.2}{}",
                    p["benchmark"].as_str().unwrap_or(""),
                    p["as_run_average"].as_f64().unwrap_or(f64::NAN),
                    p["as_run_minimum"].as_f64().unwrap_or(f64::NAN),
                    p["high_risk"]
                        .as_array()
                        .filter(|h| !h.is_empty())
                        .map(|h| format!(
                            "; high risk: {}",
                            h.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .unwrap_or_default()
                );
            }
        }
    }
    if !report.agreement.is_empty() {
        let _ = writeln!(out, "\n## Stage agreement\n");
        for a in &report.agreement {
            let tau = match (&a.tau, &a.undefined) {
                (Some(t), _) => format!(
                    "Kendall's tau {:.2} (95% interval {:.2} to {:.2}) over {}",
                    t.value,
                    t.ci_low,
                    t.ci_high,
                    a.candidates.join(", ")
                ),
                (None, Some(why)) => format!("undefined: {why}"),
                (None, None) => "undefined".to_owned(),
            };
            let _ = writeln!(out, "- `{}` and `{}`: {tau}", a.a, a.b);
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\n## Warnings\n");
        for w in &report.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
    out
}

/// JUnit XML: a test suite per stage, a test case per candidate and check (a failed
/// check is a failure, an undefined one is skipped with its reason), so CI shows which
/// gate stopped which candidate.
pub fn junit(report: &Report) -> String {
    let mut suites = String::new();
    let (mut total, mut total_failures, mut total_skipped) = (0, 0, 0);
    for stage in &report.stages {
        let Some(outcome) = &stage.outcome else {
            continue;
        };
        let (mut tests, mut failures, mut skipped) = (0, 0, 0);
        let mut cases = String::new();
        for c in &outcome.candidates {
            for check in &c.checks {
                tests += 1;
                let name = escape_html(&format!("{}: {}", c.candidate, check.name));
                let class = escape_html(&format!("pipeline.{}", stage.name));
                let detail = escape_html(&check.detail);
                match check.outcome {
                    CheckOutcome::Pass => {
                        let _ = writeln!(
                            cases,
                            "    <testcase classname=\"{class}\" name=\"{name}\"/>"
                        );
                    }
                    CheckOutcome::Fail => {
                        failures += 1;
                        let _ = writeln!(
                            cases,
                            "    <testcase classname=\"{class}\" name=\"{name}\">\n      <failure message=\"{detail}\">{detail}</failure>\n    </testcase>"
                        );
                    }
                    CheckOutcome::Undefined => {
                        skipped += 1;
                        let _ = writeln!(
                            cases,
                            "    <testcase classname=\"{class}\" name=\"{name}\">\n      <skipped message=\"{detail}\"/>\n    </testcase>"
                        );
                    }
                }
            }
        }
        total += tests;
        total_failures += failures;
        total_skipped += skipped;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" errors=\"0\">\n{cases}  </testsuite>\n",
            escape_html(&stage.name)
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"assay pipeline\" tests=\"{total}\" failures=\"{total_failures}\" skipped=\"{total_skipped}\" errors=\"0\">\n{suites}</testsuites>\n"
    )
}
