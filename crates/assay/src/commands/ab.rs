//! `assay ab`: analyse an online A/B test and plan one.

use super::{Format, SummaryFormat};
use anyhow::{Context, Result, bail};
use assay_ab::aggregate::Missing;
use assay_ab::analyze::{self, TestKind};
use assay_ab::config::{AnalysisConfig, Overrides};
use assay_ab::correct::Correction;
use assay_ab::effect::Alternative;
use assay_ab::power::{Plan, PlanResult};
use assay_ab::source::Source;
use assay_rundir::write_all_atomic;
use assay_stats::domain::{DomainError, Finite, NonNegative, Positive, Probability};
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
    /// Sample-ratio mismatch from unit counts alone (a dashboard's numbers): is the
    /// split what the experiment was set up to give? Exit status: 0 no mismatch, 4
    /// mismatch, 2 error.
    #[command(after_help = SRM_EXAMPLES)]
    Srm(SrmArgs),
    /// Correct p-values for multiple comparisons (Holm or Benjamini-Hochberg), from
    /// tests run elsewhere or in several experiments.
    #[command(after_help = CORRECT_EXAMPLES)]
    Correct(CorrectArgs),
}

const CORRECT_EXAMPLES: &str = "\
Examples:
  # Four goal metrics' p-values, Holm's correction
  assay ab correct --p-values 0.01,0.04,0.03,0.005

  # Named p-values, Benjamini-Hochberg (false discovery rate), as JSON
  assay ab correct --p-values ctr=0.012,revenue=0.04,retention=0.3 --correction bh --format json";

#[derive(Args)]
pub(crate) struct CorrectArgs {
    /// The p-values, `P` or `NAME=P` (comma-separated or repeated).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_hyphen_values = true
    )]
    p_values: Vec<String>,
    /// The correction.
    #[arg(long, value_enum, default_value_t = Correction::Holm)]
    correction: Correction,
    /// Significance level the corrected p-values are compared with (below 0.5).
    #[arg(long, default_value = "0.05")]
    alpha: Probability,
    /// How the result is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

fn correct(args: CorrectArgs) -> Result<ExitCode> {
    if args.alpha.get() >= 0.5 {
        bail!("--alpha {}: must be below 0.5", args.alpha);
    }
    let mut names: Vec<String> = Vec::new();
    let mut raw: Vec<f64> = Vec::new();
    for (k, item) in args.p_values.iter().enumerate() {
        let (name, text) = match item.split_once('=') {
            Some((n, v)) => (n.trim().to_owned(), v),
            None => ((k + 1).to_string(), item.as_str()),
        };
        if names.contains(&name) {
            bail!("--p-values: `{name}` is given twice");
        }
        let p = text
            .trim()
            .parse::<assay_stats::domain::PValue>()
            .map_err(|e| anyhow::anyhow!("--p-values {name}: {e}"))?;
        names.push(name);
        raw.push(p.get());
    }
    let adjusted = assay_ab::correct::adjust(&raw, args.correction);
    let alpha = args.alpha.get();
    match args.format {
        SummaryFormat::Json => {
            let rows: Vec<serde_json::Value> = names
                .iter()
                .zip(raw.iter().zip(&adjusted))
                .map(|(n, (p, q))| {
                    serde_json::json!({"name": n, "p_value": p, "adjusted_p_value": q, "significant": *q < alpha})
                })
                .collect();
            let v = serde_json::json!({"correction": args.correction, "alpha": alpha, "p_values": rows});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        SummaryFormat::Table => {
            let mut table = assay_render::MarkdownTable::new(&[
                ("name", assay_render::Align::Left),
                ("p", assay_render::Align::Right),
                ("corrected p", assay_render::Align::Right),
                (&format!("below {alpha}"), assay_render::Align::Left),
            ]);
            for (n, (p, q)) in names.iter().zip(raw.iter().zip(&adjusted)) {
                table.row(&[
                    n.clone(),
                    assay_ab::analyze::format_p(*p),
                    assay_ab::analyze::format_p(*q),
                    if *q < alpha { "yes" } else { "no" }.to_owned(),
                ]);
            }
            print!("{}", table.finish());
        }
    }
    Ok(ExitCode::SUCCESS)
}

const SRM_EXAMPLES: &str = "\
Examples:
  # An even split that came out 1,000 against 1,200
  assay ab srm --counts control=1000,treatment=1200

  # A 75/25 split, as JSON
  assay ab srm --counts control=310,treatment=98 --weights control=75,treatment=25 --format json";

#[derive(Args)]
pub(crate) struct SrmArgs {
    /// Units per arm, `NAME=COUNT` (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required = true)]
    counts: Vec<String>,
    /// Intended traffic split, `NAME=WEIGHT` (default: equal). An arm with weight 0, or a
    /// weight for an arm without a count, is left out of the test, as GrowthBook does.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<String>,
    /// Mismatch threshold on the χ² p-value.
    #[arg(long, default_value_t = Probability::new(assay_ab::srm::SRM_THRESHOLD).expect("in (0, 1)"))]
    threshold: Probability,
    /// How the check is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

fn srm(args: SrmArgs) -> Result<ExitCode> {
    let mut arms: Vec<String> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    for (name, value) in pairs("counts", &args.counts)? {
        let n = value
            .parse::<assay_stats::domain::Count>()
            .map_err(|e| anyhow::anyhow!("--counts {name}: {e}"))?;
        arms.push(name.to_owned());
        counts.push(n.get());
    }
    let mut weights = vec![if args.weights.is_empty() { 1.0 } else { 0.0 }; arms.len()];
    let mut notes = Vec::new();
    for (name, value) in pairs("weights", &args.weights)? {
        let w = domain::<NonNegative>("weights", value)?.get();
        match arms.iter().position(|a| a == name) {
            Some(i) => weights[i] = w,
            None => notes.push(format!(
                "--weights names `{name}`, which has no count: left out, as GrowthBook does"
            )),
        }
    }
    if !args.weights.is_empty() {
        for (a, w) in arms.iter().zip(&weights) {
            if *w == 0.0 {
                notes.push(format!("arm `{a}` has weight 0: left out of the test"));
            }
        }
    }
    let check = assay_ab::srm::check(&counts, &weights, args.threshold.get());
    let tested = weights.iter().filter(|w| **w > 0.0).count();
    if tested < 2 {
        notes.push("fewer than two arms to compare: no test (p = 1)".into());
    } else if counts
        .iter()
        .zip(&weights)
        .all(|(c, w)| *w == 0.0 || *c == 0)
    {
        notes.push("no units in the tested arms: no test (p = 1)".into());
    }
    match args.format {
        SummaryFormat::Json => {
            let v =
                serde_json::json!({"arms": arms, "weights": weights, "srm": check, "notes": notes});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        SummaryFormat::Table => {
            let mut table = assay_render::MarkdownTable::new(&[
                ("arm", assay_render::Align::Left),
                ("weight", assay_render::Align::Right),
                ("units", assay_render::Align::Right),
                ("expected", assay_render::Align::Right),
            ]);
            for (i, a) in arms.iter().enumerate() {
                table.row(&[
                    a.clone(),
                    format!("{}", weights[i]),
                    counts[i].to_string(),
                    if weights[i] > 0.0 {
                        format!("{:.1}", check.expected[i])
                    } else {
                        "-".into()
                    },
                ]);
            }
            print!("{}", table.finish());
            println!(
                "χ² = {:.3} on {} degrees of freedom, p = {}: {}",
                check.chi_square,
                check.dof,
                assay_ab::analyze::format_p(check.p_value),
                if check.mismatch {
                    format!("MISMATCH (below {})", check.threshold)
                } else {
                    "no mismatch".to_owned()
                }
            );
            for n in &notes {
                println!("note: {n}");
            }
        }
    }
    Ok(ExitCode::from(if check.mismatch { 4 } else { 0 }))
}

const ANALYZE_EXAMPLES: &str = "\
Examples:
  # One goal metric and a guardrail from per-user rows, CUPED on last month's revenue
  assay ab analyze users.parquet --control current --metrics revenue --guardrails latency_ms \\
    --lower-is-better latency_ms --covariate revenue=pre_revenue

  # Rows straight from PostgreSQL (URL from $ASSAY_AB_DATABASE_URL), report in a folder
  assay ab analyze --sql query.sql --control current --metrics converted --out report/

  # Per-arm sums exported by a warehouse (GrowthBook's columns), as CSV
  assay ab analyze sums.csv --stats --control current --metrics revenue --format csv

  # The experiment's settings kept in its repository; a flag given overrides the file
  assay ab analyze users.parquet --config experiments/checkout.toml --alpha 0.01

  # Post-stratified on platform, CUPED on a ratio metric with its pre-period ratio
  assay ab analyze users.csv --control current --metrics ctr --ratio ctr=clicks/views \
    --covariate ctr=pre_clicks/pre_views --post-stratify platform";

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
    /// The experiment's settings in a TOML file (the keys are the flags' names with `_`
    /// for `-`: metrics, guardrails, ratio, covariate, cap, margin, alpha, ...; see
    /// docs/ab.md). Flags given as well override the file's values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Column holding each unit's variant [default: variant].
    #[arg(long)]
    variant: Option<String>,
    /// The control variant's name [default: control].
    #[arg(long)]
    control: Option<String>,
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
    /// A quantile metric NAME=COLUMN@Q (e.g. p95_latency=latency_ms@95%): the arms'
    /// Q-quantiles are compared instead of their means (GrowthBook's quantile metrics).
    #[arg(long, value_name = "NAME=COLUMN@Q")]
    quantile: Vec<String>,
    /// CUPED: METRIC=COLUMN, the metric's pre-period value per unit; for a ratio metric
    /// METRIC=PRE_NUM/PRE_DEN, the same ratio before the experiment.
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
    /// Empty metric values: stop (error, the default), count as 0 (zero), or leave the
    /// unit out of that metric (skip). Missing covariates always count as 0, with a
    /// warning.
    #[arg(long, value_enum)]
    missing: Option<Missing>,
    /// Intended traffic split, e.g. `control=50,treatment=50` (default: equal).
    #[arg(long, value_delimiter = ',')]
    weights: Vec<String>,
    /// Intervals are 1 − α (below 0.5) [default: 0.05].
    #[arg(long)]
    alpha: Option<Probability>,
    /// The test the decision reads [default: sequential].
    #[arg(long, value_enum)]
    test: Option<TestKind>,
    /// What the tests ask, in each effect's own direction (treatment − control):
    /// two-sided (the default), or one-sided `greater` (an interval [lower, +∞)) or
    /// `less`.
    #[arg(long, value_enum)]
    alternative: Option<Alternative>,
    /// N* of the sequential interval: the total units at which it is tightest
    /// (GrowthBook's default 5,000; set it near the planned sample size).
    #[arg(long)]
    tuning: Option<Positive>,
    /// Proper N(mean, sd²) prior on the relative lift for the Bayesian view (default
    /// flat); its mean is --prior-mean.
    #[arg(long)]
    prior_sd: Option<Positive>,
    /// Mean of the prior on the relative lift (e.g. 0.02 for an expected +2%), with
    /// --prior-sd.
    #[arg(long, allow_hyphen_values = true)]
    prior_mean: Option<Finite>,
    /// Multiple-comparison correction over goal metrics × variants [default: holm].
    #[arg(long, value_enum)]
    correction: Option<Correction>,
    /// Sample-ratio-mismatch threshold on the χ² p-value [default: 0.0005].
    #[arg(long)]
    srm_threshold: Option<Probability>,
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
    /// Also write `analysis.json` and `report.html` (atomically) into this directory
    /// (and `segments.json` with --segment).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also analyse each value of this column on its own rows (country, platform), with
    /// its own sample-ratio check, p-values corrected across the segments, and a warning
    /// when every segment points against the pooled effect (Simpson's paradox).
    /// Repeatable; the decision stays the pooled one.
    #[arg(long, value_name = "COLUMN")]
    segment: Vec<String>,
    /// Post-stratify on this pre-experiment column (country, platform, a spend bucket):
    /// each effect is estimated within its values and weighted by their shares of all
    /// units, as GrowthBook does, which removes the noise of chance imbalance between
    /// arms. With --stats, the file has one row per value, variant and metric.
    #[arg(long, value_name = "COLUMN")]
    post_stratify: Option<String>,
}

/// `NAME=VALUE` entries of a repeatable flag; a name given twice is an error (which of
/// the two was meant cannot be guessed).
fn pairs<'a>(flag: &str, items: &'a [String]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for s in items {
        let (name, value) = s
            .split_once('=')
            .map(|(a, b)| (a.trim(), b.trim()))
            .with_context(|| format!("--{flag} `{s}`: write NAME=VALUE"))?;
        if out.iter().any(|(n, _)| *n == name) {
            bail!("--{flag}: `{name}` is given twice");
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A value of a flag in a domain (`2%` allowed): the error names the flag and the domain.
fn domain<T: std::str::FromStr<Err = DomainError>>(flag: &str, text: &str) -> Result<T> {
    text.parse::<T>()
        .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

/// The analysis's settings, resolved in one place: the file's (`--config`), with the
/// flags given over them, and the defaults under both. Returns the prefix messages name
/// settings with: `--` when everything came from flags, none when a file is involved.
fn resolve(args: &AnalyzeArgs) -> Result<(AnalysisConfig, &'static str)> {
    let named = |flag: &str, items: &[String]| -> Result<Vec<(String, String)>> {
        Ok(pairs(flag, items)?
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    };
    let mut weights = Vec::new();
    for (name, value) in pairs("weights", &args.weights)? {
        weights.push((name.to_owned(), domain::<NonNegative>("weights", value)?));
    }
    let overrides = Overrides {
        variant: args.variant.clone(),
        control: args.control.clone(),
        metrics: args.metrics.clone(),
        guardrails: args.guardrails.clone(),
        secondary: args.secondary.clone(),
        lower_is_better: args.lower_is_better.clone(),
        ratio: named("ratio", &args.ratio)?,
        quantile: named("quantile", &args.quantile)?,
        covariate: named("covariate", &args.covariate)?,
        cap: named("cap", &args.cap)?,
        margin: named("margin", &args.margin)?,
        missing: args.missing,
        time: args.time.clone(),
        test: args.test,
        alternative: args.alternative,
        alpha: args.alpha,
        tuning: args.tuning,
        prior_sd: args.prior_sd,
        prior_mean: args.prior_mean,
        correction: args.correction,
        srm_threshold: args.srm_threshold,
        weights,
        segment: args.segment.clone(),
        post_stratify: args.post_stratify.clone(),
    };
    Ok(match &args.config {
        Some(path) => (AnalysisConfig::load(path)?.merge(overrides), ""),
        None => (AnalysisConfig::default().merge(overrides), "--"),
    })
}

/// Per-unit rows to aggregate: where they come from and the workers.
struct Rows {
    source: Source,
    threads: usize,
}

fn rows_source(args: &AnalyzeArgs) -> Result<Rows> {
    let source = match (&args.file, &args.sql) {
        (Some(f), None) => Source::File(f.clone()),
        (None, Some(q)) => Source::Postgres {
            url: args.database.clone().context("--sql needs --database")?,
            query: q.clone(),
        },
        (Some(_), Some(_)) => bail!("give either FILE or --sql, not both"),
        (None, None) => bail!("give a FILE of per-unit rows, or --sql with --database"),
    };
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        // Decoding Parquet stops gaining past 8 workers.
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
    };
    Ok(Rows { source, threads })
}

fn analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    let (config, prefix) = resolve(&args)?;
    if !config.segment.is_empty() {
        if args.stats {
            bail!("--segment needs per-unit rows: per-arm statistics (--stats) have no segments");
        }
        if matches!(args.format, Format::Csv) {
            bail!("--segment prints several tables: use --format table or json");
        }
        if config.post_stratify.is_some() {
            bail!(
                "--post-stratify and --segment cannot be used together yet: analyse the \
                 segments without post-stratification, or post-stratify the pooled analysis"
            );
        }
    }
    let specs = config.specs(prefix)?;
    let options = config.options(prefix)?;
    let (data, rows) = if args.stats {
        let Some(file) = &args.file else {
            bail!("--stats needs a FILE of per-arm statistics");
        };
        (config.read_stats(file, &specs)?, None)
    } else {
        let rows = rows_source(&args)?;
        (
            config.aggregate(&rows.source, &specs, rows.threads)?,
            Some(rows),
        )
    };
    let analysis = analyze::analyze(&data, &options)?;
    let segmented = match &rows {
        Some(rows) => config.segments(&rows.source, &specs, rows.threads, &analysis, &options)?,
        None => Vec::new(),
    };
    let json = serde_json::to_string_pretty(&analysis)?;
    if let Some(dir) = &args.out {
        // All files or none: a failure leaves the folder as it was.
        let created = !dir.exists();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (report, record) = (dir.join("report.html"), dir.join("analysis.json"));
        let by_segment = dir.join("segments.json");
        let html = assay_ab::report::html(&analysis);
        let json_line = json.clone() + "\n";
        let segments_line = serde_json::to_string_pretty(&segmented)? + "\n";
        let mut files: Vec<(&std::path::Path, &[u8])> =
            vec![(&report, html.as_bytes()), (&record, json_line.as_bytes())];
        if !segmented.is_empty() {
            files.push((&by_segment, segments_line.as_bytes()));
        }
        if let Err(e) = write_all_atomic(&files) {
            if created {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(e.into());
        }
    }
    match args.format {
        Format::Table => {
            print!("{}", assay_ab::report::markdown(&analysis));
            for s in &segmented {
                print!("{}", assay_ab::segments::markdown(s, options.decide_with));
            }
        }
        Format::Json if segmented.is_empty() => println!("{json}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"pooled": analysis, "by_segment": segmented})
            )?
        ),
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
    baseline_rate: Option<Probability>,
    /// Baseline mean of the metric (with --sd; not 0, effects are relative to it).
    #[arg(long, requires = "sd")]
    mean: Option<Finite>,
    /// Per-unit standard deviation of the metric.
    #[arg(long)]
    sd: Option<Positive>,
    /// The effect to detect, relative to the baseline (e.g. 2%); asks for the traffic.
    #[arg(long)]
    mde: Option<Positive>,
    /// Total units over all arms; asks for the detectable effect.
    #[arg(long)]
    units: Option<Positive>,
    /// Units entering per day over all arms (with --days, or to turn a traffic into days).
    #[arg(long)]
    daily_units: Option<Positive>,
    /// Duration of the test in days (with --daily-units).
    #[arg(long)]
    days: Option<Positive>,
    /// Number of arms, control included, sharing traffic equally (2 to 1,000).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=1000))]
    arms: u16,
    /// False-positive rate of the test (two-sided, below 0.5).
    #[arg(long, default_value = "0.05")]
    alpha: Probability,
    /// Chance of detecting the effect when it is there (above α).
    #[arg(long, default_value = "0.8")]
    power: Probability,
    /// Plan for reading results with the sequential interval (tuned to N*).
    #[arg(long)]
    sequential: bool,
    /// N*: the sample size the sequential interval is tightest at (with --sequential).
    #[arg(long, default_value = "5000")]
    tuning: Positive,
    /// How the plan is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

/// Plans past this many units are not plans: the effect is too small to detect.
const MAX_PLANNED_UNITS: f64 = 1e12;

fn plan(args: PlanArgs) -> Result<ExitCode> {
    let (mean, sd) = match (args.baseline_rate, args.mean, args.sd) {
        (Some(p), _, _) => {
            let p = p.get();
            (p, (p * (1.0 - p)).sqrt())
        }
        (None, Some(m), Some(s)) => (m.get(), s.get()),
        _ => bail!("give --baseline-rate, or --mean and --sd"),
    };
    if mean == 0.0 {
        bail!("--mean 0: a relative effect is undefined over a baseline of 0");
    }
    let (alpha, power) = (args.alpha.get(), args.power.get());
    if alpha >= 0.5 {
        bail!("--alpha {alpha}: must be below 0.5");
    }
    if power <= alpha {
        bail!("--power {power}: must be above --alpha {alpha} (chance alone reaches α)");
    }
    let plan = Plan {
        alpha,
        power,
        sd,
        ratio: 1.0,
        sequential_tuning: args.sequential.then_some(args.tuning.get()),
    };
    let arms = f64::from(args.arms);
    let base = PlanResult {
        baseline_mean: mean,
        sd,
        alpha,
        power,
        arms: args.arms,
        sequential: args.sequential,
        relative_mde: 0.0,
        absolute_mde: 0.0,
        units_per_arm: 0.0,
        total_units: 0.0,
        days: None,
    };
    let out = match (args.mde, args.units, args.daily_units, args.days) {
        (Some(mde), None, _, None) => {
            let rel = mde.get();
            let per_arm = plan.control_units_needed(rel * mean.abs()).ceil();
            let total = per_arm * arms;
            if total.is_nan() || total > MAX_PLANNED_UNITS {
                bail!(
                    "--mde {rel}: detecting it needs more than {MAX_PLANNED_UNITS:e} units; \
                     plan for a larger effect"
                );
            }
            PlanResult {
                relative_mde: rel,
                absolute_mde: rel * mean.abs(),
                units_per_arm: per_arm,
                total_units: total,
                days: args.daily_units.map(|d| (total / d.get()).ceil()),
                ..base
            }
        }
        (None, Some(units), None, None) | (None, None, Some(units), Some(_)) => {
            let total = units.get() * args.days.map_or(1.0, |d| d.get());
            if total < arms || total > MAX_PLANNED_UNITS {
                bail!(
                    "{total} units over {arms} arms: give between one unit per arm and \
                     {MAX_PLANNED_UNITS:e} in all"
                );
            }
            let abs = plan.minimum_detectable_effect(total / arms);
            PlanResult {
                relative_mde: abs / mean.abs(),
                absolute_mde: abs,
                units_per_arm: total / arms,
                total_units: total,
                ..base
            }
        }
        _ => bail!(
            "give --mde (to get the traffic, --daily-units turns it into days), or --units, \
             or --daily-units with --days (to get the effect)"
        ),
    };
    if ![
        out.relative_mde,
        out.absolute_mde,
        out.units_per_arm,
        out.total_units,
    ]
    .iter()
    .all(|v| v.is_finite())
    {
        bail!("the plan is undefined for these settings (a result is not a finite number)");
    }
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        SummaryFormat::Table => {
            println!(
                "{} test, α = {alpha}, power = {power}, {} arms, baseline {mean} (sd {sd:.4}):",
                if args.sequential {
                    "Sequential"
                } else {
                    "Fixed-horizon"
                },
                args.arms
            );
            println!(
                "  detectable effect: {:+.2}% relative ({:+.5} absolute)",
                100.0 * out.relative_mde,
                out.absolute_mde
            );
            println!(
                "  units: {:.0} per arm, {:.0} in all{}",
                out.units_per_arm,
                out.total_units,
                out.days.map_or(String::new(), |d| format!(", {d:.0} days"))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: AbArgs) -> Result<ExitCode> {
    match args.command {
        AbCommand::Analyze(a) => analyze(*a),
        AbCommand::Plan(p) => plan(p),
        AbCommand::Srm(a) => srm(a),
        AbCommand::Correct(a) => correct(a),
    }
}
