//! `assay rank`: ratings from pairwise votes.

use super::Format;
use anyhow::{Context, Result, bail};
use assay_rank::battles::Battles;
use assay_rank::bt::{self, IntervalMethod};
use assay_rank::style;
use assay_stats::domain::{Finite, NonNegative, Positive};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Bradley-Terry ratings with bootstrap intervals, Elo and win rates
  assay rank battles.csv

  # Held to equal answer length (LMArena's style control), as CSV
  assay rank battles.csv --control length --format csv

  # Sandwich intervals, one model pinned at 1000
  assay rank battles.jsonl --interval sandwich --anchor gpt-4-0314=1000";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct RankArgs {
    /// Battle log: CSV with a header, or JSONL, with `model_a`, `model_b` and `winner`
    /// (`model_a`, `model_b`, `tie` or `tie (bothbad)`).
    file: PathBuf,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// How intervals are computed.
    #[arg(long, value_enum, default_value_t = Method::Bootstrap)]
    interval: Method,
    /// Bootstrap rounds (2 to 100,000).
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(2..=assay_rank::bt::MAX_BOOTSTRAP_ROUNDS as u64))]
    rounds: u64,
    /// Bootstrap seed (results do not depend on the thread count).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pin a model's rating, e.g. `--anchor gpt-4-0314=1000`.
    #[arg(long)]
    anchor: Option<String>,
    /// Control for style (LMArena's style control): ratings with the named measurement
    /// held equal, read from the columns/fields `NAME_a` and `NAME_b` (e.g. `--control
    /// length` reads `length_a`, `length_b`). Repeat for several. Intervals are sandwich.
    #[arg(long = "control", value_name = "NAME")]
    controls: Vec<String>,
    /// Penalty on style coefficients: mean log-loss + reg/2·|β|² (arena-rank's default is
    /// 1.0; 0 is plain maximum likelihood).
    #[arg(long, default_value = "0")]
    style_reg: NonNegative,
    /// K of the online Elo shown for comparison (above 0, at most 1,000).
    #[arg(long, default_value = "4")]
    elo_k: Positive,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Method {
    /// Percentiles of ratings refitted on resampled battles.
    Bootstrap,
    /// The fit's robust (sandwich) covariance, without refitting.
    Sandwich,
}

/// The largest anchor rating: offsets of a few hundred Elo still have 1e-3 precision.
const MAX_ANCHOR: f64 = 1e9;

pub(crate) fn run(args: RankArgs) -> Result<ExitCode> {
    if args.elo_k.get() > 1000.0 {
        bail!("--elo-k {}: at most 1000 (LMArena uses 4)", args.elo_k);
    }
    let (battles, controls) = Battles::read_with_controls(&args.file, &args.controls)?;
    let anchor = match &args.anchor {
        Some(text) => {
            let (name, value) = text
                .rsplit_once('=')
                .with_context(|| format!("--anchor `{text}`: write MODEL=RATING"))?;
            let value = value
                .parse::<Finite>()
                .map_err(|e| anyhow::anyhow!("--anchor `{text}`: {e}"))?
                .get();
            // Ratings are the anchor plus Elo-scale offsets; far out, those offsets are lost
            // to rounding (and past 1e308 the sums overflow).
            if value.abs() > MAX_ANCHOR {
                bail!("--anchor `{text}`: a rating between -{MAX_ANCHOR:e} and {MAX_ANCHOR:e}");
            }
            let Some(i) = battles.models.iter().position(|m| m == name.trim()) else {
                bail!("--anchor: no model `{name}` in the battles");
            };
            Some((i, value))
        }
        None => None,
    };
    let interval = match args.interval {
        Method::Bootstrap => IntervalMethod::Bootstrap {
            rounds: args.rounds as usize,
            seed: args.seed,
        },
        Method::Sandwich => IntervalMethod::Sandwich,
    };
    let counts = battles.counts();
    let once: Vec<&str> = battles
        .models
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n == 1)
        .map(|(m, _)| m.as_str())
        .collect();
    if !once.is_empty() {
        eprintln!(
            "warning: {} model(s) appear in a single battle, so their ratings are little more than a guess: {}",
            once.len(),
            once.join(", ")
        );
    }
    let (ranking, style) = if args.controls.is_empty() {
        (bt::rank(&battles, interval, anchor)?, None)
    } else {
        if args.interval == Method::Bootstrap && args.rounds != 1000 {
            eprintln!(
                "note: with --control, intervals are sandwich (robust) intervals; --rounds is not used"
            );
        }
        let (ranking, fit) = style::rank(&battles, &controls, args.style_reg.get(), anchor)?;
        (ranking, Some(fit))
    };
    let records = bt::records(&battles);
    let elo = bt::online_elo(&battles, args.elo_k.get());
    let mut order: Vec<usize> = (0..battles.models.len()).collect();
    order.sort_by(|&a, &b| ranking.ratings[b].total_cmp(&ranking.ratings[a]));
    match args.format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "model",
                "rating",
                "lower",
                "upper",
                "rank",
                "battles",
                "wins",
                "losses",
                "ties",
                "win_rate",
                "win_rate_stderr",
                "online_elo",
            ])?;
            for &i in &order {
                let r = &records[i];
                w.write_record([
                    ranking.models[i].clone(),
                    ranking.ratings[i].to_string(),
                    ranking.lower[i].to_string(),
                    ranking.upper[i].to_string(),
                    ranking.ranks[i].to_string(),
                    r.battles.to_string(),
                    r.wins.to_string(),
                    r.losses.to_string(),
                    r.ties.to_string(),
                    r.win_rate.to_string(),
                    r.stderr.to_string(),
                    elo[i].to_string(),
                ])?;
            }
            w.flush()?;
        }
        Format::Json => {
            let models: Vec<serde_json::Value> = order
                .iter()
                .map(|&i| {
                    serde_json::json!({
                        "model": ranking.models[i],
                        "rating": ranking.ratings[i],
                        "lower": ranking.lower[i],
                        "upper": ranking.upper[i],
                        "rank": ranking.ranks[i],
                        "record": records[i],
                        "online_elo": elo[i],
                        "win_probability": order.iter().map(|&j| (ranking.models[j].clone(), serde_json::json!(bt::win_probability(ranking.ratings[i], ranking.ratings[j])))).collect::<serde_json::Map<_, _>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "battles": battles.rows.len(),
                    "method": ranking.method,
                    "scale": "Elo-like: 1000 + 400·log10(odds); a 400-point gap is 10:1",
                    "models": models,
                    "style_coefficients": style.as_ref().map(|f| &f.coefficients),
                }))?
            );
        }
        Format::Table => {
            println!(
                "Bradley-Terry ratings from {} battles among {} models; {}.\n",
                battles.rows.len(),
                battles.models.len(),
                ranking.method
            );
            println!(
                "| rank | model | rating | 95% interval | battles | W / L / T | win rate | online Elo |"
            );
            println!("|---:|---|---:|---|---:|---|---:|---:|");
            for &i in &order {
                let r = &records[i];
                println!(
                    "| {} | {} | {:.1} | [{:.1}, {:.1}] | {} | {} / {} / {} | {:.3} ± {:.3} | {:.0} |",
                    ranking.ranks[i],
                    ranking.models[i],
                    ranking.ratings[i],
                    ranking.lower[i],
                    ranking.upper[i],
                    r.battles,
                    r.wins,
                    r.losses,
                    r.ties,
                    r.win_rate,
                    r.stderr,
                    elo[i]
                );
            }
            println!(
                "\nRanks tie where intervals overlap: a model's rank is 1 + the number of models whose interval lies wholly above its own."
            );
            if let Some(fit) = &style {
                println!(
                    "\nStyle effects (log-odds of winning per standard deviation of the style difference; > 0: voters favour more):\n"
                );
                println!("| control | effect | 95% interval |");
                println!("|---|---:|---|");
                for c in &fit.coefficients {
                    println!(
                        "| {} | {:.4} | [{:.4}, {:.4}] |",
                        c.name, c.value, c.lower, c.upper
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
