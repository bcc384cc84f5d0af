use super::model::{EmbeddedArgs, RemoteArgs, recorded_command};
use anyhow::{Result, bail};
use assay_tasks::{Selection, Task, TaskSource};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    model: EmbeddedArgs,
    #[command(flatten, next_help_heading = "Remote models (--model openai:NAME)")]
    remote: RemoteArgs,
    /// Comma-separated task names (`assay tasks` lists them) or task files (`.toml`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hellaswag,arc_easy,gsm8k"
    )]
    tasks: Vec<String>,
    /// Directory holding the benchmark data files the tasks name.
    #[arg(long, env = "ASSAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Only the first N samples of each task (each subtask, for MMLU).
    #[arg(long, conflicts_with = "sample")]
    limit: Option<usize>,
    /// A seeded random subset of N samples of each task.
    #[arg(long)]
    sample: Option<usize>,
    /// Seed of `--sample`.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Override the tasks' number of few-shot examples.
    #[arg(long)]
    num_fewshot: Option<usize>,
    /// Where results go: a directory per run, named after the model and time.
    #[arg(long, default_value = "results")]
    output: PathBuf,
    /// CPU threads (scores do not depend on it). Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Wrap prompts in the model's chat template.
    #[arg(long)]
    apply_chat_template: bool,
    /// Also print each subtask's row (MMLU's subjects).
    #[arg(long)]
    show_subtasks: bool,
}

pub(crate) fn run(args: EvalArgs) -> Result<ExitCode> {
    let threads = crate::threads::use_threads(args.threads)?;
    args.model.check()?;

    let Some(data_dir) = args.data_dir.clone() else {
        bail!(
            "no data directory: pass --data-dir DIR or set ASSAY_DATA_DIR (the directory holding e.g. `hellaswag/`, `arc/`, `mmlu/`)"
        );
    };
    let selection = match (args.limit, args.sample) {
        (Some(n), _) => Selection::First(n),
        (_, Some(n)) => Selection::Random { n, seed: args.seed },
        _ => Selection::All,
    };
    let selection_text = match selection {
        Selection::All => "all".to_owned(),
        Selection::First(n) => format!("first {n}"),
        Selection::Random { n, seed } => format!("random {n} (seed {seed})"),
    };
    // Tasks first: a bad task file or data row fails before the model loads.
    let tasks = args
        .tasks
        .iter()
        .map(|name| {
            let source = TaskSource::resolve(name.trim())?;
            Ok(Task::load(source, &data_dir, args.num_fewshot, selection)?)
        })
        .collect::<Result<Vec<_>>>()?;

    let model = args.model.load(&args.remote)?;
    let config = assay_eval::RunConfig {
        output_dir: args.output.clone(),
        apply_chat_template: args.apply_chat_template,
        selection: selection_text,
        command: recorded_command(),
        threads,
        batch_size: args.model.batch_size,
        assay_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_revision: env!("ASSAY_GIT_REVISION").to_owned(),
    };
    let mut bar = crate::progress::Bar::new();
    let finished = assay_eval::run(model.as_ref(), &tasks, &config, &mut bar)?;
    println!(
        "{}",
        assay_eval::report::markdown(&finished.results, args.show_subtasks)
    );
    println!(
        "model: {} (sha256 {})",
        finished.results.spec.model.name,
        finished.results.spec.model.sha256.as_deref().unwrap_or("-")
    );
    if let Some(u) = &finished.results.run.model_usage {
        let n = |k: &str| u.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let retries: u64 = u
            .get("retries")
            .and_then(|r| r.as_object())
            .map_or(0, |r| r.values().filter_map(|v| v.as_u64()).sum());
        let cost = u
            .get("cost_usd")
            .and_then(|v| v.as_f64())
            .map_or(String::new(), |c| format!(", cost ${c:.4}"));
        println!(
            "requests: {} answered, {} from cache, {} retries; tokens: {} prompt, {} completion{cost}",
            n("answered"),
            n("cache_hits"),
            retries,
            n("prompt_tokens"),
            n("completion_tokens"),
        );
    }
    println!("results: {}", finished.dir.join("results.json").display());
    Ok(ExitCode::SUCCESS)
}
