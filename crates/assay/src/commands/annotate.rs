//! `assay annotate`: the human annotation page for a side-by-side run, and its votes
//! (export as a battle log, agreement between annotators and with the judge).

use super::SummaryFormat;
use anyhow::{Context, Result, bail};
use assay_annotate::store::{self, Store};
use assay_render::{Align, MarkdownTable};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  # A page for two annotators on a pairwise run (each gets a private link)
  assay annotate runs/pairwise --annotator ana --annotator ben

  # Their votes as a battle log, then ranked
  assay annotate runs/pairwise --export votes.csv && assay rank votes.csv

  # How far the annotators agree with each other and with the judge
  assay annotate runs/pairwise --agreement";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct AnnotateArgs {
    /// A run directory written by `assay pairwise`.
    run: PathBuf,
    /// An annotator's name; each gets a private link. Repeat for several.
    #[arg(long = "annotator", value_name = "NAME")]
    annotators: Vec<String>,
    /// Address to listen on (local only by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Write the votes as a battle log (CSV for `assay rank`) and stop.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// Print agreement between annotators and between the judge and people, and stop.
    #[arg(long)]
    agreement: bool,
    /// How the agreement is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.3}"))
}

pub(crate) fn run(args: AnnotateArgs) -> Result<ExitCode> {
    let saved = assay_arena::run::load(&args.run).with_context(|| {
        format!(
            "`{}` is not a finished `assay pairwise` run directory",
            args.run.display()
        )
    })?;
    let items = assay_annotate::items(&saved);
    if items.is_empty() {
        bail!("`{}` has no pair of answers to compare", args.run.display());
    }
    let store = Store::open(&args.run.join("annotations.sqlite"))?;
    if let Some(path) = &args.export {
        let votes = store.votes()?;
        if votes.is_empty() {
            bail!("no votes yet in `{}`", args.run.display());
        }
        assay_rundir::write_atomic(path, &store::battle_log(&votes))?;
        eprintln!("{} votes written to {}", votes.len(), path.display());
        return Ok(ExitCode::SUCCESS);
    }
    if args.agreement {
        let a = assay_annotate::agreement::agreement(&items, &store.votes()?, &saved.games);
        if args.format == SummaryFormat::Json {
            println!("{}", serde_json::to_string_pretty(&a)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "Votes: {}",
            a.annotators
                .iter()
                .map(|(n, v)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "Krippendorff's alpha {}; Fleiss' kappa {} (on {} items every annotator labelled).\n",
            opt(a.krippendorff_alpha),
            opt(a.fleiss_kappa),
            a.fleiss_items
        );
        let mut table = MarkdownTable::new(&[
            ("between", Align::Left),
            ("and", Align::Left),
            ("items", Align::Right),
            ("agreement", Align::Right),
            ("Cohen's kappa", Align::Right),
        ]);
        for p in a.between_annotators.iter().chain(&a.judge_vs_people) {
            table.row(&[
                p.a.clone(),
                p.b.clone(),
                p.items.to_string(),
                opt(p.agreement),
                opt(p.cohen_kappa),
            ]);
        }
        print!("{}", table.finish());
        println!(
            "\nLabels: which of the pair is better, or a tie (tie and both-bad count alike); the judge's label needs both orders to agree, else tie."
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.annotators.is_empty() {
        bail!("name at least one annotator (--annotator NAME), or use --export / --agreement");
    }
    for name in &args.annotators {
        if name.trim().is_empty() {
            bail!("an annotator name is empty");
        }
        store.token_for(name.trim())?;
    }
    let tokens = store.annotators()?;
    let app = Arc::new(assay_annotate::App::new(items, store)?);
    let organiser = app.organiser_token().to_owned();
    let store_path = args.run.join("annotations.sqlite");
    super::serve_http(assay_annotate::router(app), &args.host, args.port, |addr| {
        let shown = super::link_address(addr);
        // Best effort: a reader that stopped reading (`| head -2`) must not stop the
        // server.
        let mut out = std::io::stdout().lock();
        for (name, token) in tokens
            .iter()
            .filter(|(n, _)| args.annotators.iter().any(|a| a.trim() == n))
        {
            let _ = writeln!(out, "{name}: http://{shown}/?token={token}");
        }
        let _ = writeln!(out, "progress: http://{shown}/progress?token={organiser}");
        let _ = out.flush();

        eprintln!(
            "annotation page at http://{addr}/ ; votes are saved in {} (Ctrl-C stops)",
            store_path.display()
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
