//! `assay compare RUN_A RUN_B`: two finished runs of the same tasks, item by item.

use super::SummaryFormat;
use anyhow::{Context, Result};
use assay_eval::compare::Comparison;
use assay_eval::gate::Baseline;
use assay_stats::paired::PairedTest;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Did the new checkpoint change ARC-Easy? Difference, interval, test, and the items that changed
  assay compare results/old-run results/new-run
  # Everything, for a program
  assay compare results/old-run results/new-run --format json";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct CompareArgs {
    /// The first run (its directory or results.json): differences are B − A.
    run_a: PathBuf,
    /// The second run.
    run_b: PathBuf,
    /// How many changed items to list per task in the table (all are in the JSON).
    #[arg(long, default_value_t = 10)]
    changed: usize,
    /// Markdown tables, or JSON with every field (every changed item).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

pub(crate) fn run(args: CompareArgs) -> Result<ExitCode> {
    let a = Baseline::open(&args.run_a).context("RUN_A")?;
    let b = Baseline::open(&args.run_b).context("RUN_B")?;
    let comparison = assay_eval::compare::compare(&a, &b)?;
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&comparison)?),
        SummaryFormat::Table => print!("{}", table(&comparison, args.changed)),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn table(c: &Comparison, changed: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "A: {} ({})\nB: {} ({})\n",
        c.a.dir, c.a.model, c.b.dir, c.b.model
    );
    out.push_str("| Task | Metric | A | B | B − A | 95% CI (paired t; clustered by subtask) | 95% CI (bootstrap) | Test | p | p (Holm) | n |\n");
    out.push_str("|---|---|---:|---:|---:|---|---|---|---:|---:|---:|\n");
    for t in &c.tasks {
        for m in &t.metrics {
            let d = &m.paired.difference;
            let test = match (m.paired.test, m.paired.discordant) {
                (PairedTest::McnemarExact, Some((only_a, only_b))) => {
                    format!("McNemar exact ({only_a} only A, {only_b} only B)")
                }
                _ => "paired t".to_owned(),
            };
            let p =
                |v: Option<f64>| v.map_or_else(|| "undefined".to_owned(), |p| format!("{p:.4}"));
            let mut interval = if d.interval == assay_stats::IntervalMethod::None {
                "no interval".to_owned()
            } else {
                format!("[{:+.4}, {:+.4}]", d.ci_low, d.ci_high)
            };
            if let Some(c) = &m.clustered {
                interval.push_str(&format!(
                    "; by subtask [{:+.4}, {:+.4}]",
                    c.ci_low, c.ci_high
                ));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {:.4} | {:+.4} | {interval} | [{:+.4}, {:+.4}] | {test} | {} | {} | {} |",
                t.task,
                m.metric,
                m.mean_a,
                m.mean_b,
                d.value,
                m.paired.bootstrap.0,
                m.paired.bootstrap.1,
                p(m.paired.p_value),
                p(m.p_adjusted),
                d.n
            );
        }
    }
    for t in &c.tasks {
        for u in &t.undefined {
            let _ = writeln!(
                out,
                "| {} | {} | undefined: {} |",
                t.task, u.metric, u.reason
            );
        }
    }
    for t in &c.tasks {
        let _ = writeln!(
            out,
            "\n{}: {} of {} paired items changed",
            t.task,
            t.changed.len(),
            t.paired_items
        );
        for item in t.changed.iter().take(changed) {
            let values: Vec<String> = item
                .values
                .iter()
                .map(|(m, (x, y))| format!("{m} {x} → {y}"))
                .collect();
            let shown = |a: &Option<String>| a.as_deref().unwrap_or("—").replace('\n', " ");
            let _ = writeln!(
                out,
                "- {}/{}: {:?} → {:?}{}",
                item.subtask,
                item.id,
                shown(&item.answer_a),
                shown(&item.answer_b),
                if values.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", values.join(", "))
                }
            );
        }
        if t.changed.len() > changed {
            let _ = writeln!(
                out,
                "- … {} more (--changed N, or --format json)",
                t.changed.len() - changed
            );
        }
    }
    if !c.skipped.is_empty() {
        let _ = writeln!(
            out,
            "\nnot compared (in one run only, or run with different definitions): {}",
            c.skipped.join(", ")
        );
    }
    out
}
