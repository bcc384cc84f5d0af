//! `assay risk`: BenchRisk scores of benchmarks.

use super::Format;
use anyhow::{Context, Result, bail};
use assay_risk::score::{display_integer, heatmap_text};
use assay_risk::{Benchmark, Dimension, Registry, RiskLevel, Scores};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct RiskArgs {
    /// A BenchRisk checkout (or a local extension in its layout) to use instead of the
    /// registry shipped with assay; its texts are shown where assay's wording is.
    #[arg(long, global = true, env = crate::env::BENCHRISK)]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    action: RiskAction,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum PictureFormat {
    /// Text with 24-bit colours when standard output is a terminal.
    Terminal,
    /// A standalone SVG image.
    Svg,
    /// An HTML page with each cell's values in `data-*` attributes.
    Html,
}

/// How the heatmap's rows are ordered.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum HeatmapOrder {
    /// The site's order (its total score).
    Site,
    Comprehensiveness,
    Intelligibility,
    Consistency,
    Correctness,
    Longevity,
    Average,
    Minimum,
}

impl HeatmapOrder {
    /// The column of [`assay_risk::picture::COLUMNS`] the rows are sorted by.
    fn column(self) -> Option<usize> {
        match self {
            HeatmapOrder::Site => None,
            HeatmapOrder::Comprehensiveness => Some(0),
            HeatmapOrder::Intelligibility => Some(1),
            HeatmapOrder::Consistency => Some(2),
            HeatmapOrder::Correctness => Some(3),
            HeatmapOrder::Longevity => Some(4),
            HeatmapOrder::Average => Some(5),
            HeatmapOrder::Minimum => Some(6),
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ExportFormat {
    /// assay's figures file (JSON, no texts), as shipped.
    Assay,
    /// BenchRisk's MDX layout (`data/modes`, `data/mitigations`, `data/scores`).
    Mdx,
}

#[derive(Subcommand)]
enum RiskAction {
    /// One benchmark's scores per dimension, with the site's risk words.
    #[command(after_help = EXAMPLES_SCORE)]
    Score {
        /// A benchmark in the registry (e.g. HellaSwag).
        name: Option<String>,
        /// An answers file in BenchRisk's format (front matter with adoptedMitigations).
        #[arg(long, conflicts_with = "name")]
        answers: Option<PathBuf>,
        /// How results are printed.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Several benchmarks side by side, in the site's order (highest total first).
    #[command(after_help = EXAMPLES_COMPARE)]
    Compare {
        /// Benchmarks to compare (default: those the site shows).
        names: Vec<String>,
        /// Every benchmark in the registry, the hidden ones included.
        #[arg(long)]
        all: bool,
        /// How results are printed.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The absent mitigations ranked by how much each would raise the weakest
    /// dimension and the average, and the cheapest path to a target.
    #[command(after_help = EXAMPLES_GAPS)]
    Gaps {
        /// A benchmark in the registry (e.g. HellaSwag).
        name: Option<String>,
        /// An answers file in BenchRisk's format (front matter with adoptedMitigations).
        #[arg(long, conflicts_with = "name")]
        answers: Option<PathBuf>,
        /// Rows of the ranking.
        #[arg(long, default_value_t = 15)]
        top: usize,
        /// Target for every dimension (0-100) for the path: 50 leaves "high risk", 70
        /// reaches "lower risk".
        #[arg(long, default_value_t = 50.0)]
        target: f64,
        /// How results are printed.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Scores after adopting some more mitigations.
    #[command(after_help = EXAMPLES_WHAT_IF)]
    WhatIf {
        /// A benchmark in the registry (e.g. HellaSwag).
        name: Option<String>,
        /// An answers file in BenchRisk's format (front matter with adoptedMitigations).
        #[arg(long, conflicts_with = "name")]
        answers: Option<PathBuf>,
        /// Mitigation numbers to adopt.
        #[arg(long, value_delimiter = ',', required = true)]
        adopt: Vec<u32>,
    },
    /// List or search the failure modes.
    #[command(after_help = EXAMPLES_MODES)]
    Modes {
        /// Only those of this dimension (e.g. `correctness`).
        #[arg(long)]
        dimension: Option<String>,
        /// Stage number 1-7.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
        stage: Option<u8>,
        /// Text to look for in the wording (and the original texts, with --registry).
        #[arg(long)]
        search: Option<String>,
    },
    /// List or search the mitigations, with the benchmarks that adopt each.
    #[command(after_help = EXAMPLES_MITIGATIONS)]
    Mitigations {
        /// Only those of this failure mode.
        #[arg(long)]
        mode: Option<u32>,
        /// Text to look for in the wording (and the original texts, with --registry).
        #[arg(long)]
        search: Option<String>,
    },
    /// The heatmap: in the terminal (coloured when it is one), or as SVG or HTML.
    #[command(after_help = EXAMPLES_HEATMAP)]
    Heatmap {
        /// Benchmarks to show (default: those the site shows).
        names: Vec<String>,
        /// Every benchmark, the hidden ones included.
        #[arg(long)]
        all: bool,
        /// What to draw.
        #[arg(long, value_enum, default_value_t = PictureFormat::Terminal)]
        format: PictureFormat,
        /// Order of the rows: the site's (by its total score, as benchrisk.ai shows them)
        /// or a shown column, highest first.
        #[arg(long, value_enum, default_value_t = HeatmapOrder::Site)]
        sort: HeatmapOrder,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One benchmark's card: scores in words and the failure modes that leave most risk.
    #[command(after_help = EXAMPLES_CARD)]
    Card {
        /// A benchmark in the registry (e.g. HellaSwag).
        name: Option<String>,
        /// An answers file in BenchRisk's format (front matter with adoptedMitigations).
        #[arg(long, conflicts_with = "name")]
        answers: Option<PathBuf>,
    },
    /// Walk a benchmark's author through the offered questions (by stage, resumable),
    /// keeping the answers in BenchRisk's format; at the end print the submission text.
    #[command(after_help = EXAMPLES_QUESTIONNAIRE)]
    Questionnaire {
        /// The benchmark's name.
        name: String,
        /// Answers file (created, or resumed when it exists).
        #[arg(long)]
        answers: PathBuf,
        /// One sentence on the benchmark's purpose, for the submission.
        #[arg(long)]
        description: Option<String>,
        /// Documentation to show beside its scores (a paper, a URL), for the submission.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Check a registry (the shipped one, or --registry) and its answer sets.
    #[command(after_help = EXAMPLES_VALIDATE)]
    Validate,
    /// Write the registry out: assay's figures file, or BenchRisk's MDX layout.
    #[command(after_help = EXAMPLES_EXPORT)]
    Export {
        /// Which layout to write.
        #[arg(long, value_enum, default_value_t = ExportFormat::Assay)]
        format: ExportFormat,
        /// Directory for `--format mdx`.
        #[arg(long, required_if_eq("format", "mdx"))]
        out: Option<PathBuf>,
    },
}

const EXAMPLES_SCORE: &str = "Examples:\n  # HellaSwag's five dimensions, in words\n  assay risk score HellaSwag\n\n  # Your own benchmark, from its answers file\n  assay risk score --answers my_bench.mdx --format json";
const EXAMPLES_COMPARE: &str = "Examples:\n  # Every benchmark, hidden ones too, as CSV\n  assay risk compare --all --format csv\n\n  # Two side by side\n  assay risk compare HellaSwag MMLU";
const EXAMPLES_GAPS: &str = "Examples:\n  # What HellaSwag's authors could do next, and the cheapest path out of high risk\n  assay risk gaps HellaSwag --top 10 --target 50";
const EXAMPLES_WHAT_IF: &str = "Examples:\n  # HellaSwag after adopting mitigations 34 and 35\n  assay risk what-if HellaSwag --adopt 34,35";
const EXAMPLES_MODES: &str = "Examples:\n  # Failure modes of the correctness dimension\n  assay risk modes --dimension correctness\n\n  # Those that mention contamination\n  assay risk modes --search contamination";
const EXAMPLES_MITIGATIONS: &str = "Examples:\n  # Mitigations of failure mode 12, with who adopts them\n  assay risk mitigations --mode 12";
const EXAMPLES_HEATMAP: &str = "Examples:\n  # In the terminal\n  assay risk heatmap\n\n  # As a page, every benchmark\n  assay risk heatmap --all --format html --out heatmap.html";
const EXAMPLES_CARD: &str = "Examples:\n  # HellaSwag's card\n  assay risk card HellaSwag";
const EXAMPLES_QUESTIONNAIRE: &str = "Examples:\n  # Answer BenchRisk's questions for your benchmark (resumes where you stopped)\n  assay risk questionnaire MyBench --answers my_bench.mdx";
const EXAMPLES_VALIDATE: &str = "Examples:\n  # Check the shipped registry\n  assay risk validate\n\n  # Check a BenchRisk checkout\n  assay risk validate --registry path/to/benchrisk";
const EXAMPLES_EXPORT: &str = "Examples:\n  # BenchRisk's MDX layout, for a pull request\n  assay risk export --format mdx --out benchrisk-data/";

/// The registry to use; its warnings are printed once, here, unless `validate` prints
/// them as its output.
fn load(registry: &Option<PathBuf>, print_warnings: bool) -> Result<Registry> {
    match registry {
        Some(dir) => {
            let r = assay_risk::mdx::import(dir)?;
            let (r, warnings) = r.checked()?;
            if print_warnings {
                for w in warnings {
                    eprintln!("{w}");
                }
            }
            Ok(r)
        }
        None => Ok(assay_risk::shipped().clone()),
    }
}

fn percent(x: f64) -> f64 {
    x * 100.0
}

/// The columns of a comparison: the five dimensions, Average, Minimum.
fn columns(s: &Scores) -> Vec<Option<f64>> {
    let mut v: Vec<Option<f64>> = s.dimensions.to_vec();
    v.push(Some(s.average));
    v.push(Some(s.minimum));
    v
}

use assay_risk::picture::COLUMNS as HEADERS;

fn print_rows(rows: &[(String, bool, Scores)], format: Format) -> Result<()> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let mut header = vec!["benchmark"];
            header.extend(HEADERS);
            w.write_record(&header)?;
            for (name, _, s) in rows {
                let mut record = vec![name.clone()];
                record.extend(
                    columns(s)
                        .into_iter()
                        .map(|c| c.map_or_else(String::new, |v| percent(v).to_string())),
                );
                w.write_record(&record)?;
            }
            w.flush()?;
        }
        Format::Json => {
            let out: Vec<serde_json::Value> = rows
                .iter()
                .map(|(name, hidden, s)| {
                    serde_json::json!({
                        "benchmark": name,
                        "hidden_on_site": hidden,
                        "scores": Dimension::ALL.iter().map(|d| (d.name().to_owned(), serde_json::json!(s.dimension(*d)))).collect::<serde_json::Map<_, _>>(),
                        "average": s.average,
                        "minimum": s.minimum,
                        "total": s.total,
                        "total_site": s.total_site,
                        "high_risk": s.high_risk(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => {
            println!("| benchmark | {} |", HEADERS.join(" | "));
            println!("|---|{}", "---:|".repeat(HEADERS.len()));
            for (name, hidden, s) in rows {
                let cells: Vec<String> = columns(s)
                    .into_iter()
                    .map(|c| c.map_or_else(|| "unscored".into(), heatmap_text))
                    .collect();
                let mark = if *hidden { " (hidden on site)" } else { "" };
                println!("| {name}{mark} | {} |", cells.join(" | "));
            }
            println!(
                "\nScores are the share of each dimension's risk that the benchmark's mitigations remove (0-100, higher is better; BenchRisk, benchrisk.ai)."
            );
        }
    }
    Ok(())
}

fn print_one(registry: &Registry, b: &Benchmark, format: Format) -> Result<()> {
    for issue in registry.check_answers(b) {
        eprintln!("{issue}");
    }
    let s = assay_risk::score(registry, &b.adopted);
    if format != Format::Table {
        return print_rows(&[(b.name.clone(), b.hidden, s)], format);
    }
    println!("{} (BenchRisk, {})", b.name, registry.source);
    println!("| dimension | score | risk | what it asks |");
    println!("|---|---:|---|---|");
    for d in Dimension::ALL {
        let (score, words) = match s.dimension(d) {
            Some(v) => (display_integer(v).to_string(), RiskLevel::of(v).words()),
            None => ("unscored".into(), "-"),
        };
        println!("| {d} | {score} | {words} | {} |", d.question());
    }
    println!(
        "| Average | {} | {} | |",
        display_integer(s.average),
        RiskLevel::of(s.average).words()
    );
    println!(
        "| Minimum | {} | {} | |",
        display_integer(s.minimum),
        RiskLevel::of(s.minimum).words()
    );
    let adopted = b
        .adopted
        .iter()
        .filter(|id| registry.mitigation(**id).is_some())
        .count();
    println!(
        "\n{adopted} of {} offered mitigations adopted.",
        registry.offered().len()
    );
    Ok(())
}

/// The benchmark a command names, or the answers file it reads.
fn chosen(
    registry: &Registry,
    name: Option<String>,
    answers: Option<PathBuf>,
) -> Result<Benchmark> {
    match (name, answers) {
        (Some(n), _) => Ok(registry.benchmark(&n)?.clone()),
        (None, Some(path)) => assay_risk::mdx::read_benchmark(&path)
            .with_context(|| format!("reading answers `{}`", path.display())),
        (None, None) => {
            bail!("name a benchmark (`assay risk compare --all` lists them) or pass --answers FILE")
        }
    }
}

/// A record's text: assay's wording, else the original from a checkout.
/// The named benchmarks (or all shown on the site, hidden ones too with `all`), scored,
/// in the site's order: its total, highest first.
fn in_site_order<'a>(
    registry: &'a Registry,
    names: &[String],
    all: bool,
) -> Result<Vec<(&'a Benchmark, Scores)>> {
    let chosen: Vec<&Benchmark> = if names.is_empty() {
        registry
            .benchmarks
            .iter()
            .filter(|b| all || !b.hidden)
            .collect()
    } else {
        names
            .iter()
            .map(|n| registry.benchmark(n))
            .collect::<Result<_, _>>()?
    };
    let mut rows: Vec<(&Benchmark, Scores)> = chosen
        .into_iter()
        .map(|b| (b, assay_risk::score(registry, &b.adopted)))
        .collect();
    rows.sort_by(|a, b| b.1.total_site.total_cmp(&a.1.total_site));
    Ok(rows)
}

fn mitigation_words(registry: &Registry, id: u32) -> String {
    registry
        .mitigation(id)
        .map_or_else(String::new, |m| m.text())
}

fn mode_words(registry: &Registry, id: u32) -> String {
    registry.mode(id).map_or_else(String::new, |m| m.text())
}

fn matches(text: &str, search: &Option<String>) -> bool {
    search
        .as_ref()
        .is_none_or(|s| text.to_lowercase().contains(&s.to_lowercase()))
}

fn print_comparison(before: &Scores, after: &Scores) {
    println!("| dimension | before | after | change |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => println!(
            "| {name} | {} ({}) | {} ({}) | {:+.1} |",
            display_integer(a),
            RiskLevel::of(a).words(),
            display_integer(b),
            RiskLevel::of(b).words(),
            (b - a) * 100.0
        ),
        _ => println!("| {name} | unscored | unscored | |"),
    };
    for d in Dimension::ALL {
        row(d.name(), before.dimension(d), after.dimension(d));
    }
    row("Average", Some(before.average), Some(after.average));
    row("Minimum", Some(before.minimum), Some(after.minimum));
}

pub(crate) fn run(args: RiskArgs) -> Result<ExitCode> {
    let registry = load(&args.registry, !matches!(args.action, RiskAction::Validate))?;
    match args.action {
        RiskAction::Score {
            name,
            answers,
            format,
        } => {
            let b = match (name, answers) {
                (Some(n), _) => registry.benchmark(&n)?.clone(),
                (None, Some(path)) => assay_risk::mdx::read_benchmark(&path)
                    .with_context(|| format!("reading answers `{}`", path.display()))?,
                (None, None) => bail!(
                    "name a benchmark (`assay risk compare --all` lists them) or pass --answers FILE"
                ),
            };
            print_one(&registry, &b, format)?;
        }
        RiskAction::Compare { names, all, format } => {
            // `--all` means every benchmark, whatever else is named.
            let names = if all { Vec::new() } else { names };
            let rows: Vec<(String, bool, Scores)> = in_site_order(&registry, &names, all)?
                .into_iter()
                .map(|(b, s)| (b.name.clone(), b.hidden, s))
                .collect();
            print_rows(&rows, format)?;
        }
        RiskAction::Gaps {
            name,
            answers,
            top,
            target,
            format,
        } => {
            let b = chosen(&registry, name, answers)?;
            if !(0.0..=100.0).contains(&target) {
                bail!("--target must be between 0 and 100, not {target}");
            }
            let gaps = assay_risk::score::gaps(&registry, &b.adopted);
            let path = assay_risk::score::path_to(&registry, &b.adopted, target / 100.0);
            if format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "benchmark": b.name,
                        "gaps": gaps,
                        "path": path.iter().map(|(m, s)| serde_json::json!({"adopt": m, "scores": s})).collect::<Vec<_>>(),
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let now = assay_risk::score(&registry, &b.adopted);
            let weakest = Dimension::ALL
                .into_iter()
                .min_by(|x, y| {
                    now.dimension(*x)
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&now.dimension(*y).unwrap_or(f64::INFINITY))
                })
                .expect("five dimensions");
            println!(
                "{}: weakest dimension {weakest} ({}), average {}. Absent mitigations by what each alone would add:\n",
                b.name,
                display_integer(now.minimum),
                display_integer(now.average)
            );
            println!(
                "| mitigation | failure mode | dimension | + minimum | + average | + own dimension | what it asks |"
            );
            println!("|---:|---:|---|---:|---:|---:|---|");
            for g in gaps.iter().take(top) {
                println!(
                    "| {} | {} | {} | {:+.2} | {:+.2} | {:+.2} | {} |",
                    g.mitigation,
                    g.mode,
                    g.dimension,
                    g.minimum * 100.0,
                    g.average * 100.0,
                    g.own_dimension * 100.0,
                    mitigation_words(&registry, g.mitigation)
                );
            }
            println!(
                "\nCheapest path to {target:.0} in every dimension ({} mitigations):",
                path.len()
            );
            for (i, (m, s)) in path.iter().enumerate() {
                println!(
                    "{:>3}. adopt {m:>3}: minimum {}, average {}",
                    i + 1,
                    display_integer(s.minimum),
                    display_integer(s.average)
                );
            }
            if path.last().is_none_or(|(_, s)| s.minimum < target / 100.0)
                && now.minimum < target / 100.0
            {
                println!("(the target cannot be reached with the offered mitigations)");
            }
        }
        RiskAction::WhatIf {
            name,
            answers,
            adopt,
        } => {
            let b = chosen(&registry, name, answers)?;
            let mut seen = Vec::new();
            for id in &adopt {
                if seen.contains(id) {
                    bail!("--adopt: mitigation {id} is given twice");
                }
                seen.push(*id);
            }
            let already: Vec<u32> = adopt
                .iter()
                .copied()
                .filter(|id| b.adopted.contains(id))
                .collect();
            if !already.is_empty() {
                eprintln!(
                    "note: {} already adopts {already:?}; they change nothing",
                    b.name
                );
            }
            let unknown: Vec<u32> = adopt
                .iter()
                .copied()
                .filter(|id| registry.mitigation(*id).is_none())
                .collect();
            if !unknown.is_empty() {
                bail!("mitigations {unknown:?} are not in the registry");
            }
            let mut with = b.adopted.clone();
            let new: Vec<u32> = adopt
                .iter()
                .copied()
                .filter(|id| !b.adopted.contains(id))
                .collect();
            with.extend(&new);
            println!("{} adopting {new:?}:", b.name);
            print_comparison(
                &assay_risk::score(&registry, &b.adopted),
                &assay_risk::score(&registry, &with),
            );
        }
        RiskAction::Modes {
            dimension,
            stage,
            search,
        } => {
            let dimension = dimension
                .map(|d| {
                    Dimension::ALL
                        .into_iter()
                        .find(|x| x.name().eq_ignore_ascii_case(&d))
                        .with_context(|| format!("unknown dimension `{d}`"))
                })
                .transpose()?;
            println!("| mode | severity | stage | dimension | mitigations | failure |");
            println!("|---:|---:|---|---|---:|---|");
            for m in &registry.modes {
                let text = mode_words(&registry, m.id);
                if dimension.is_some_and(|d| d != m.dimension)
                    || stage.is_some_and(|s| s != m.stage)
                    || !matches(&text, &search)
                {
                    continue;
                }
                let n = registry
                    .mitigations
                    .iter()
                    .filter(|x| x.mode == m.id)
                    .count();
                println!(
                    "| {} | {:.1} | {} | {} | {n} | {text} |",
                    m.id,
                    m.severity,
                    assay_risk::stage_label(m.stage),
                    m.dimension
                );
            }
        }
        RiskAction::Mitigations { mode, search } => {
            if let Some(id) = mode
                && !registry.modes.iter().any(|m| m.id == id)
            {
                bail!(
                    "--mode {id}: no such failure mode in {} (see `assay risk modes`)",
                    registry.source
                );
            }
            println!(
                "| mitigation | mode | likelihood -% | severity -% | adopted by | what it asks |"
            );
            println!("|---:|---:|---:|---:|---|---|");
            for m in &registry.mitigations {
                let text = mitigation_words(&registry, m.id);
                if mode.is_some_and(|x| x != m.mode) || !matches(&text, &search) {
                    continue;
                }
                let by: Vec<&str> = registry
                    .benchmarks
                    .iter()
                    .filter(|b| b.adopted.contains(&m.id))
                    .map(|b| b.name.as_str())
                    .collect();
                let by = if by.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{} ({})", by.len(), by.join(", "))
                };
                println!(
                    "| {} | {} | {:.2} | {:.2} | {by} | {text} |",
                    m.id, m.mode, m.likelihood_reduction, m.severity_reduction
                );
            }
        }
        RiskAction::Heatmap {
            names,
            all,
            format,
            sort,
            out,
        } => {
            let chosen = in_site_order(&registry, &names, all)?;
            let mut rows: Vec<(String, Scores)> = chosen
                .iter()
                .map(|(b, s)| (b.name.clone(), s.clone()))
                .collect();
            if let Some(column) = sort.column() {
                assay_risk::picture::sort_by_column(&mut rows, column);
            }
            let tty = out.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
            let text = match format {
                PictureFormat::Terminal => assay_risk::picture::terminal(&rows, tty),
                PictureFormat::Svg => assay_risk::picture::svg_with(&rows, sort.column(), false),
                PictureFormat::Html => {
                    let cards: Vec<(String, String)> = rows
                        .iter()
                        .filter_map(|(name, _)| chosen.iter().find(|(b, _)| &b.name == name))
                        .map(|(b, _)| (b.name.clone(), assay_risk::picture::card(&registry, b)))
                        .collect();
                    assay_risk::picture::html(&rows, &registry.source, sort.column(), &cards)
                }
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing `{}`", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
        }
        RiskAction::Card { name, answers } => {
            let b = chosen(&registry, name, answers)?;
            print!("{}", assay_risk::picture::card(&registry, &b));
        }
        RiskAction::Questionnaire {
            name,
            answers,
            description,
            reference,
        } => {
            let today = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year]-[month]-[day]"))
                .unwrap_or_default();
            let mut submission = assay_risk::questionnaire::Submission::placeholders(&today);
            if let Some(d) = description {
                submission.description = d;
            }
            if let Some(r) = reference {
                submission.reference = r;
            }
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut output = std::io::stdout();
            let outcome = assay_risk::questionnaire::run(
                &registry,
                &name,
                &submission,
                &answers,
                &mut input,
                &mut output,
            )?;
            if !outcome.complete() {
                // Unfinished is not an error: the file holds what was answered.
                return Ok(ExitCode::SUCCESS);
            }
        }
        RiskAction::Validate => {
            let issues = registry.validate();
            for i in &issues {
                println!("{i}");
            }
            println!(
                "{}: {} failure modes, {} mitigations ({} offered), {} benchmarks; {} warnings",
                registry.source,
                registry.modes.len(),
                registry.mitigations.len(),
                registry.offered().len(),
                registry.benchmarks.len(),
                issues.len()
            );
        }
        RiskAction::Export { format, out } => match format {
            ExportFormat::Assay => {
                let mut figures = registry.figures_only();
                figures.source = "BenchRisk figures".into();
                figures.modes.iter_mut().for_each(|m| m.summary.clear());
                figures
                    .mitigations
                    .iter_mut()
                    .for_each(|m| m.summary.clear());
                println!("{}", serde_json::to_string_pretty(&figures)?);
            }
            ExportFormat::Mdx => {
                let out = out.expect("clap requires --out");
                assay_risk::mdx::export(&registry, &out)?;
                eprintln!("wrote {}", out.join("data").display());
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
