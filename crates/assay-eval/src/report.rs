//! The terminal summary: one row per task metric (and per subtask when asked).

use crate::results::{MetricResult, RunResults};
use std::fmt::Write;

fn row(out: &mut String, task: &str, n: usize, m: &MetricResult) {
    let e = &m.estimate;
    let _ = writeln!(
        out,
        "| {task} | {} | {:.4} | {:.4} | [{:.4}, {:.4}] | {n} |",
        m.name, e.value, e.stderr, e.ci_low, e.ci_high
    );
}

/// A Markdown table of every task's metrics, with standard error and 95% interval.
pub fn markdown(results: &RunResults, with_subtasks: bool) -> String {
    let mut out = String::new();
    out.push_str("| Task | Metric | Value | ± Stderr | 95% CI | n |\n");
    out.push_str("|---|---|---:|---:|---|---:|\n");
    let mut notes = Vec::new();
    for t in &results.results {
        let label = match &t.protocol {
            Some(p) => format!("{} ({p})", t.task),
            None => t.task.clone(),
        };
        for m in &t.metrics {
            row(&mut out, &label, t.n, m);
        }
        notes.extend(t.notes.iter().map(|n| format!("{}: {n}", t.task)));
        if with_subtasks {
            for s in &t.subtasks {
                for m in &s.metrics {
                    row(&mut out, &format!(" - {}", s.name), s.n, m);
                }
            }
        }
    }
    for n in notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}
