//! `assay risk`: BenchRisk scores of benchmarks.

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
    #[arg(long, global = true, env = "ASSAY_BENCHRISK")]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    action: RiskAction,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Csv,
    Json,
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
    Score {
        /// A benchmark in the registry (e.g. HellaSwag).
        name: Option<String>,
        /// An answers file in BenchRisk's format (front matter with adoptedMitigations).
        #[arg(long, conflicts_with = "name")]
        answers: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Several benchmarks side by side, in the site's order (highest total first).
    Compare {
        names: Vec<String>,
        /// Every benchmark in the registry, the hidden ones included.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check a registry (the shipped one, or --registry) and its answer sets.
    Validate,
    /// Write the registry out: assay's figures file, or BenchRisk's MDX layout.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Assay)]
        format: ExportFormat,
        /// Directory for `--format mdx`.
        #[arg(long, required_if_eq("format", "mdx"))]
        out: Option<PathBuf>,
    },
}

fn load(registry: &Option<PathBuf>) -> Result<Registry> {
    match registry {
        Some(dir) => {
            let r = assay_risk::mdx::import(dir)?;
            let (r, warnings) = r.checked()?;
            for w in warnings {
                eprintln!("{w}");
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

const HEADERS: [&str; 7] = [
    "Comprehensiveness",
    "Intelligibility",
    "Consistency",
    "Correctness",
    "Longevity",
    "Average",
    "Minimum",
];

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

pub(crate) fn run(args: RiskArgs) -> Result<ExitCode> {
    let registry = load(&args.registry)?;
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
            let chosen: Vec<&Benchmark> = if all || names.is_empty() {
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
            let mut rows: Vec<(String, bool, Scores)> = chosen
                .into_iter()
                .map(|b| {
                    (
                        b.name.clone(),
                        b.hidden,
                        assay_risk::score(&registry, &b.adopted),
                    )
                })
                .collect();
            // The site's order: its total, highest first.
            rows.sort_by(|a, b| b.2.total_site.total_cmp(&a.2.total_site));
            print_rows(&rows, format)?;
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
