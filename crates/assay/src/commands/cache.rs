use super::model::default_cache_path;
use anyhow::Result;
use assay_render::{Align, MarkdownTable};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct CacheArgs {
    /// Response cache file (default: responses.sqlite in assay's cache directory).
    #[arg(long, global = true, env = crate::env::RESPONSE_CACHE)]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    action: CacheAction,
}

#[derive(Subcommand)]
enum CacheAction {
    /// Models with stored answers: how many, how large, how old.
    #[command(
        after_help = "Examples:\n  assay cache list\n  assay cache list --cache other.sqlite"
    )]
    List,
    /// Delete old answers, or those of some models.
    #[command(
        after_help = "Examples:\n  # Answers older than a week\n  assay cache prune --older-than 7d\n\n  # Every answer of one server's models\n  assay cache prune --model '@ http://127.0.0.1:8000'"
    )]
    Prune {
        /// Answers stored longer ago than this (e.g. 7d, 12h).
        #[arg(long, value_parser = assay_cache::parse_duration)]
        older_than: Option<Duration>,
        /// Only models whose label (`name @ url`) contains this text.
        #[arg(long)]
        model: Option<String>,
    },
    /// Delete every stored answer.
    #[command(after_help = "Examples:\n  assay cache clear")]
    Clear,
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

pub(crate) fn run(args: CacheArgs) -> Result<ExitCode> {
    let path = args.cache.unwrap_or_else(default_cache_path);
    let cache = assay_cache::ResponseCache::open(&path)?;
    match args.action {
        CacheAction::List => {
            let rows = cache.list()?;
            println!("cache: {}", path.display());
            if rows.is_empty() {
                println!("(empty)");
            } else {
                let mut table = MarkdownTable::new(&[
                    ("model", Align::Left),
                    ("answers", Align::Right),
                    ("size", Align::Right),
                    ("oldest", Align::Left),
                    ("newest", Align::Left),
                ]);
                for r in rows {
                    table.row(&[
                        r.model.clone(),
                        r.entries.to_string(),
                        format!("{:.1} MB", r.bytes as f64 / 1e6),
                        date(r.oldest),
                        date(r.newest),
                    ]);
                }
                print!("{}", table.finish());
            }
        }
        CacheAction::Prune { older_than, model } => {
            if older_than.is_none() && model.is_none() {
                anyhow::bail!(
                    "assay cache prune needs --older-than and/or --model (assay cache clear deletes everything)"
                );
            }
            let n = cache.prune(older_than, model.as_deref())?;
            println!("deleted {n} answers from {}", path.display());
        }
        CacheAction::Clear => {
            let n = cache.clear()?;
            println!("deleted {n} answers from {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
