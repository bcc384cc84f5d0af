//! `assay ab`: analyse an online A/B test and plan one.

use super::{Format, SummaryFormat};
use anyhow::{Context, Result, bail};
use assay_ab::aggregate::{self, Cap, MetricSpec, Missing, Role};
use assay_ab::analyze::{self, Options, TestKind};
use assay_ab::correct::Correction;
use assay_ab::effect::Settings;
use assay_ab::power::Plan;
use assay_ab::source::Source;
use assay_rundir::write_atomic;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct AbArgs {
    #[command(subcommand)]
    command: AbCommand,
}

#[derive(Subcommand)]
enum AbCommand {
    /// Analyse per-unit rows (or per-arm statistics) and decide whether to ship.
    /// Exit status: 0 ship, 1 do not ship, 3 inconclusive, 4 invalid (sample ratio
    /// mismatch), 2 error.
    #[command(after_help = ANALYZE_EXAMPLES)]
    Analyze(Box<AnalyzeArgs>),
    /// Power and sample size: the minimum detectable effect for a traffic and duration,
    /// or the traffic needed for an effect.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
}

const ANALYZE_EXAMPLES: &str = "\
Examples:
  # One goal metric and a guardrail from per-user rows, CUPED on last month's revenue
  assay ab analyze users.parquet --control current --metrics revenue --guardrails latency_ms \\
    --lower-is-better latency_ms --covariate revenue=pre_revenue

  # Rows straight from PostgreSQL (URL from $ASSAY_AB_DATABASE_URL), report in a folder
  assay ab analyze --sql query.sql --control current --metrics converted --out report/

  # Per-arm sums exported by a warehouse (GrowthBook's columns), as CSV
  assay ab analyze sums.csv --stats --control current --metrics revenue --format csv";

const PLAN_EXAMPLES: &str = "\
Examples:
  # Users needed to detect a 2% lift on a 10% conversion rate
  assay ab plan --baseline-rate 0.10 --mde 2%

  # The smallest effect 20,000 users a day for 14 days can detect, sequentially
  assay ab plan --mean 12.5 --sd 30 --daily-units 20000 --days 14 --sequential";

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// Per-unit rows: .csv, .tsv, .jsonl or .parquet (with --stats: per-arm statistics,
    /// .csv or .jsonl). Leave out with --sql.
    file: Option<PathBuf>,
    /// Column holding each unit's variant.
    #[arg(long, default_value = "variant")]
    variant: String,
    /// The control variant's name.
    #[arg(long)]
    control: String,
    /// Goal metrics (columns, or names defined by --ratio), comma-separated.
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
    /// Guardrail metrics: a significant harm blocks the launch (not corrected, so that
    /// they stay sensitive).
    #[arg(long, value_delimiter = ',')]
    guardrails: Vec<String>,
    /// Metrics reported without a say in the decision.
    #[arg(long, value_delimiter = ',')]
    secondary: Vec<String>,
    /// Metrics where a decrease is an improvement (latency, complaints).
    #[arg(long, value_delimiter = ',')]
    lower_is_better: Vec<String>,
    /// A ratio metric NAME=NUMERATOR/DENOMINATOR (columns), analysed by the delta method.
    #[arg(long, value_name = "NAME=NUM/DEN")]
    ratio: Vec<String>,
    /// CUPED: METRIC=COLUMN, the metric's pre-period value per unit.
    #[arg(long, value_name = "METRIC=COLUMN")]
    covariate: Vec<String>,
    /// Winsorise: METRIC=VALUE caps at a value, METRIC=99% at that quantile of all units.
    #[arg(long, value_name = "METRIC=CAP")]
    cap: Vec<String>,
    /// Guardrail tolerance: METRIC=2% waits while the interval allows a relative harm
    /// above 2%.
    #[arg(long, value_name = "METRIC=PCT")]
    margin: Vec<String>,
    /// Column with each unit's first exposure time, for the cumulative view by day.
    #[arg(long)]
    time: Option<String>,
    /// Empty metric values: stop (error), count as 0 (zero), or leave the unit out of
    /// that metric (skip). Missing covariates always count as 0, with a warning.
    #[arg(long, value_enum, default_value_t = Missing::Error)]
    missing: Missing,
    /// Intended traffic split, e.g. `control=50,treatment=50` (default: equal).
    #[arg(long, value_delimiter = ',')]
    weights: Vec<String>,
    /// Intervals are 1 − α.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// The test the decision reads.
    #[arg(long, value_enum, default_value_t = TestKind::Sequential)]
    test: TestKind,
    /// N* of the sequential interval: the total units at which it is tightest
    /// (GrowthBook's default 5,000; set it near the planned sample size).
    #[arg(long, default_value_t = 5000.0)]
    tuning: f64,
    /// Proper N(0, sd²) prior on the relative lift for the Bayesian view (default flat).
    #[arg(long)]
    prior_sd: Option<f64>,
    /// Multiple-comparison correction over goal metrics × variants.
    #[arg(long, value_enum, default_value_t = Correction::Holm)]
    correction: Correction,
    /// Sample-ratio-mismatch threshold on the χ² p-value.
    #[arg(long, default_value_t = assay_ab::srm::SRM_THRESHOLD)]
    srm_threshold: f64,
    /// FILE holds per-arm sufficient statistics (GrowthBook's column names).
    #[arg(long)]
    stats: bool,
    /// Read the rows from this PostgreSQL query instead of a file.
    #[arg(long, requires = "database")]
    sql: Option<String>,
    /// PostgreSQL connection string for --sql (never printed).
    #[arg(long, env = crate::env::AB_DATABASE_URL, hide_env_values = true)]
    database: Option<String>,
    /// How results are printed (CSV: one row per metric and variant).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Workers decoding a Parquet file (results do not depend on it). Default: all
    /// cores, at most 8.
    #[arg(long, env = crate::env::THREADS)]
    threads: Option<usize>,
    /// Also write `analysis.json` and `report.html` (atomically) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn pairs<'a>(flag: &str, items: &'a [String]) -> Result<Vec<(&'a str, &'a str)>> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(a, b)| (a.trim(), b.trim()))
                .with_context(|| format!("--{flag} `{s}`: write METRIC=VALUE"))
        })
        .collect()
}

fn percent(flag: &str, text: &str) -> Result<f64> {
    let (num, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("--{flag}: `{text}` is not a number"))?;
    Ok(v * scale)
}

fn specs(args: &AnalyzeArgs) -> Result<Vec<MetricSpec>> {
    let ratios: Vec<(&str, (&str, &str))> = pairs("ratio", &args.ratio)?
        .into_iter()
        .map(|(name, expr)| {
            expr.split_once('/')
                .map(|(n, d)| (name, (n.trim(), d.trim())))
                .with_context(|| format!("--ratio {name}={expr}: write NAME=NUMERATOR/DENOMINATOR"))
        })
        .collect::<Result<_>>()?;
    let mut out: Vec<MetricSpec> = Vec::new();
    for (list, role) in [
        (&args.metrics, Role::Goal),
        (&args.guardrails, Role::Guardrail),
        (&args.secondary, Role::Secondary),
    ] {
        for name in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if out.iter().any(|m| m.name == name) {
                bail!("metric `{name}` is named twice (in --metrics, --guardrails or --secondary)");
            }
            let (column, denominator) = match ratios.iter().find(|(n, _)| *n == name) {
                Some((_, (num, den))) => (num.to_string(), Some(den.to_string())),
                None => (name.to_string(), None),
            };
            out.push(MetricSpec {
                name: name.into(),
                column,
                denominator,
                covariate: None,
                role,
                lower_is_better: false,
                cap: None,
                margin: None,
            });
        }
    }
    if out.is_empty() {
        bail!("no metrics: name them with --metrics (goals) and/or --guardrails");
    }
    let find = |out: &mut Vec<MetricSpec>, flag: &str, name: &str| -> Result<usize> {
        out.iter().position(|m| m.name == name).with_context(|| {
            format!(
                "--{flag} names `{name}`, which is not in --metrics, --guardrails or --secondary"
            )
        })
    };
    for name in args.lower_is_better.iter().map(|s| s.trim()) {
        let i = find(&mut out, "lower-is-better", name)?;
        out[i].lower_is_better = true;
    }
    for (name, col) in pairs("covariate", &args.covariate)? {
        let i = find(&mut out, "covariate", name)?;
        if out[i].denominator.is_some() {
            bail!("--covariate {name}: CUPED on ratio metrics is not supported");
        }
        out[i].covariate = Some(col.into());
    }
    for (name, cap) in pairs("cap", &args.cap)? {
        let i = find(&mut out, "cap", name)?;
        out[i].cap = Some(if cap.ends_with('%') {
            let q = percent("cap", cap)?;
            if !(0.0 < q && q < 1.0) {
                bail!("--cap {name}={cap}: a quantile must be between 0% and 100%");
            }
            Cap::Quantile(q)
        } else {
            Cap::Value(percent("cap", cap)?)
        });
    }
    for (name, m) in pairs("margin", &args.margin)? {
        let i = find(&mut out, "margin", name)?;
        if out[i].role != Role::Guardrail {
            bail!("--margin {name}: margins apply to guardrail metrics");
        }
        out[i].margin = Some(percent("margin", m)?);
    }
    Ok(out)
}

fn analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    if !(0.0 < args.alpha && args.alpha < 0.5) {
        bail!("--alpha {}: must be between 0 and 0.5", args.alpha);
    }
    if args.tuning <= 0.0 {
        bail!("--tuning must be positive");
    }
    let data = if args.stats {
        let Some(file) = &args.file else {
            bail!("--stats needs a FILE of per-arm statistics");
        };
        let mut data = aggregate::read_stats(file, &args.variant)?;
        // Roles and directions come from the flags; statistics name their own metrics.
        let wanted = specs(&args)?;
        let mut kept = Vec::new();
        for spec in wanted {
            let Some(m) = data.metrics.iter().find(|m| m.spec.name == spec.name) else {
                bail!(
                    "{}: no statistics for metric `{}`; it has: {}",
                    file.display(),
                    spec.name,
                    data.metrics
                        .iter()
                        .map(|m| m.spec.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let mut m = m.clone();
            m.spec.role = spec.role;
            m.spec.lower_is_better = spec.lower_is_better;
            m.spec.margin = spec.margin;
            kept.push(m);
        }
        data.metrics = kept;
        data
    } else {
        let source = match (&args.file, &args.sql) {
            (Some(f), None) => Source::File(f.clone()),
            (None, Some(q)) => Source::Postgres {
                url: args.database.clone().context("--sql needs --database")?,
                query: q.clone(),
            },
            (Some(_), Some(_)) => bail!("give either FILE or --sql, not both"),
            (None, None) => bail!("give a FILE of per-unit rows, or --sql with --database"),
        };
        let missing = args.missing;
        aggregate::aggregate(
            &source,
            &args.variant,
            args.time.as_deref(),
            &specs(&args)?,
            missing,
            match args.threads {
                Some(0) => bail!("--threads must be at least 1"),
                Some(n) => n,
                // Decoding Parquet stops gaining past 8 workers.
                None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            },
        )?
    };
    if data.rows == 0 {
        bail!("{}: no rows", data.source);
    }
    let weights = if args.weights.is_empty() {
        None
    } else {
        let mut w = Vec::new();
        for (name, value) in pairs("weights", &args.weights)? {
            let v = percent("weights", value)?;
            if v < 0.0 {
                bail!("--weights {name}={value}: a weight can't be negative");
            }
            w.push((name.to_string(), v));
        }
        Some(w)
    };
    let options = Options {
        control: args.control.clone(),
        weights,
        settings: Settings {
            alpha: args.alpha,
            sequential_tuning: args.tuning,
            prior: args.prior_sd.map(|sd| (0.0, sd)),
        },
        correction: args.correction,
        decide_with: args.test,
        srm_threshold: args.srm_threshold,
    };
    let analysis = analyze::analyze(&data, &options)?;
    let json = serde_json::to_string_pretty(&analysis)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(
            &dir.join("report.html"),
            assay_ab::report::html(&analysis).as_bytes(),
        )?;
        // Written last: its presence marks a finished analysis.
        write_atomic(&dir.join("analysis.json"), (json.clone() + "\n").as_bytes())?;
    }
    match args.format {
        Format::Table => print!("{}", assay_ab::report::markdown(&analysis)),
        Format::Json => println!("{json}"),
        Format::Csv => print!("{}", assay_ab::report::csv(&analysis)),
    }
    if analysis.srm.mismatch {
        eprintln!("warning: {}", analysis.warnings[0]);
    }
    Ok(ExitCode::from(analysis.decision.outcome.exit_code()))
}

#[derive(Args)]
pub(crate) struct PlanArgs {
    /// Baseline conversion rate of a 0/1 metric (its sd is √(p(1 − p))).
    #[arg(long, conflicts_with_all = ["mean", "sd"])]
    baseline_rate: Option<f64>,
    /// Baseline mean of the metric (with --sd).
    #[arg(long, requires = "sd")]
    mean: Option<f64>,
    /// Per-unit standard deviation of the metric.
    #[arg(long)]
    sd: Option<f64>,
    /// The effect to detect, relative to the baseline (e.g. 2%); asks for the traffic.
    #[arg(long)]
    mde: Option<String>,
    /// Total units over all arms; asks for the detectable effect.
    #[arg(long)]
    units: Option<f64>,
    /// Units entering per day over all arms (with --days, or to turn a traffic into days).
    #[arg(long)]
    daily_units: Option<f64>,
    /// Duration of the test in days (with --daily-units).
    #[arg(long)]
    days: Option<f64>,
    /// Number of arms, control included, sharing traffic equally.
    #[arg(long, default_value_t = 2)]
    arms: usize,
    /// False-positive rate of the test (two-sided).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Chance of detecting the effect when it is there.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    /// Plan for reading results with the sequential interval (tuned to N*).
    #[arg(long)]
    sequential: bool,
    /// N*: the sample size the sequential interval is tightest at (with --sequential).
    #[arg(long, default_value_t = 5000.0)]
    tuning: f64,
    /// How the plan is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

fn plan(args: PlanArgs) -> Result<ExitCode> {
    let (mean, sd) = match (args.baseline_rate, args.mean, args.sd) {
        (Some(p), _, _) => {
            if !(0.0 < p && p < 1.0) {
                bail!("--baseline-rate {p}: must be between 0 and 1");
            }
            (p, (p * (1.0 - p)).sqrt())
        }
        (None, Some(m), Some(s)) => (m, s),
        _ => bail!("give --baseline-rate, or --mean and --sd"),
    };
    if args.arms < 2 {
        bail!("--arms: at least 2 (control and one treatment)");
    }
    if mean == 0.0 {
        bail!("the baseline mean is 0: a relative effect is undefined");
    }
    let plan = Plan {
        alpha: args.alpha,
        power: args.power,
        sd,
        ratio: 1.0,
        sequential_tuning: args.sequential.then_some(args.tuning),
    };
    let arms = args.arms as f64;
    let result = match (&args.mde, args.units, args.daily_units, args.days) {
        (Some(mde), _, _, _) => {
            let rel = percent("mde", mde)?;
            let per_arm = plan.control_units_needed(rel * mean.abs()).ceil();
            let total = per_arm * arms;
            serde_json::json!({
                "relative_mde": rel, "absolute_mde": rel * mean.abs(),
                "units_per_arm": per_arm, "total_units": total,
                "days": args.daily_units.map(|d| (total / d).ceil()),
            })
        }
        (None, Some(units), _, _) | (None, None, Some(units), Some(_)) => {
            let total = if args.units.is_some() {
                units
            } else {
                units * args.days.unwrap_or(1.0)
            };
            let abs = plan.minimum_detectable_effect(total / arms);
            serde_json::json!({
                "total_units": total, "units_per_arm": total / arms,
                "absolute_mde": abs, "relative_mde": abs / mean.abs(),
            })
        }
        _ => bail!(
            "give --mde (to get the traffic) or --units / --daily-units with --days (to get the effect)"
        ),
    };
    let mut out = serde_json::json!({
        "baseline_mean": mean, "sd": sd, "alpha": args.alpha, "power": args.power,
        "arms": args.arms, "sequential": args.sequential,
    });
    out.as_object_mut()
        .unwrap()
        .extend(result.as_object().unwrap().clone());
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        SummaryFormat::Table => {
            let rel = out["relative_mde"].as_f64().unwrap_or(f64::NAN);
            println!(
                "{} test, α = {}, power = {}, {} arms, baseline {mean} (sd {sd:.4}):",
                if args.sequential {
                    "Sequential"
                } else {
                    "Fixed-horizon"
                },
                args.alpha,
                args.power,
                args.arms
            );
            println!(
                "  detectable effect: {:+.2}% relative ({:+.5} absolute)",
                100.0 * rel,
                out["absolute_mde"].as_f64().unwrap_or(f64::NAN)
            );
            println!(
                "  units: {:.0} per arm, {:.0} in all{}",
                out["units_per_arm"].as_f64().unwrap_or(f64::NAN),
                out["total_units"].as_f64().unwrap_or(f64::NAN),
                out["days"]
                    .as_f64()
                    .map_or(String::new(), |d| format!(", {d:.0} days"))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: AbArgs) -> Result<ExitCode> {
    match args.command {
        AbCommand::Analyze(a) => analyze(*a),
        AbCommand::Plan(p) => plan(p),
    }
}
