//! `assay pipeline`: candidates through benchmarks, safety gates, side-by-side and A/B
//! stages to a release decision, with the funnel and its reasons.

use super::SummaryFormat;
use super::model::{GraderArgs, LocalArgs, RemoteArgs, check_model_name, recorded_command};
use anyhow::{Context, Result};
use assay_core::LanguageModel;
use assay_pipeline::spec::Pipeline;
use clap::{Args, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

#[derive(Args)]
pub(crate) struct PipelineArgs {
    #[command(subcommand)]
    command: PipelineCommand,
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Run (or continue) a pipeline file and print the funnel. Exit status: 0 a
    /// candidate ships, 1 none does, 3 waiting for votes or inconclusive, 2 error.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// Where a pipeline run stands: each stage decided, started or not started, and the
    /// last funnel written.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
}

const RUN_EXAMPLES: &str = "\
Examples:
  # The example: three candidates through benchmarks with gates, a judged side-by-side
  # and an A/B test (see examples/pipeline/README.md)
  assay pipeline run examples/pipeline/release.toml --data-dir ../shared/data

  # Killed or waiting for votes? The same command continues where it stopped
  assay pipeline run examples/pipeline/release.toml --data-dir ../shared/data

  # In CI: JUnit XML and a Markdown summary are written beside results.json
  assay pipeline run release.toml --out results/release && cat results/release/summary.md";

const STATUS_EXAMPLES: &str = "\
Examples:
  # While it runs, or after it stopped to wait for votes
  assay pipeline status results/pipeline-release

  # As JSON, for a script
  assay pipeline status results/pipeline-release --format json";

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The pipeline file (TOML; docs/pipeline.md describes it).
    file: PathBuf,
    /// The run directory (default: `results/pipeline-<file name>`). Running the same
    /// file again into it continues; another file is refused.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Benchmark data, when the file has no `data_dir` (the flag wins over the file).
    #[arg(long, env = crate::env::DATA_DIR)]
    data_dir: Option<PathBuf>,
    /// CPU threads (scores do not depend on it). Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// How the result is printed: the Markdown summary, or results.json.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
    #[command(
        flatten,
        next_help_heading = "Local models (a GGUF file, `default` or `gemma3-270m`)"
    )]
    local: LocalArgs,
    #[command(flatten, next_help_heading = "Remote models (openai:NAME)")]
    remote: RemoteArgs,
    #[command(flatten)]
    graders: GraderArgs,
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    /// A pipeline run directory.
    dir: PathBuf,
    /// How the status is printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
}

/// Models loaded once each, whichever stages and candidates share them.
struct Loader {
    local: LocalArgs,
    remote: RemoteArgs,
    graders: GraderArgs,
    loaded: Mutex<HashMap<String, Arc<dyn LanguageModel>>>,
}

impl assay_pipeline::Models for Loader {
    fn check(&self, model: &str) -> std::result::Result<(), String> {
        check_model_name(model)
    }

    fn load(
        &self,
        model: &str,
        chat_template: Option<&std::path::Path>,
    ) -> std::result::Result<Arc<dyn LanguageModel>, Box<dyn std::error::Error + Send + Sync>> {
        let key = format!(
            "{model}\n{}",
            chat_template.map_or(String::new(), |t| t.display().to_string())
        );
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = loaded.get(&key) {
            return Ok(m.clone());
        }
        let mut local = self.local.clone();
        if let Some(t) = chat_template {
            if model.starts_with("openai:") {
                return Err(format!(
                    "`{model}` is served: its server applies its own chat template, so `chat_template` does not apply"
                )
                .into());
            }
            local.chat_template = Some(t.to_owned());
        }
        let m: Arc<dyn LanguageModel> = Arc::from(
            local
                .load(model, &self.remote)
                .map_err(|e| crate::error_chain(&e))?,
        );
        loaded.insert(key, m.clone());
        Ok(m)
    }

    fn judge(
        &self,
        model: &str,
    ) -> std::result::Result<Arc<dyn LanguageModel>, Box<dyn std::error::Error + Send + Sync>> {
        if !model.starts_with("openai:") {
            // A local judge is loaded once, shared with a candidate of the same model.
            return self.load(model, None);
        }
        self.graders
            .judge_model(model, &self.local, &self.remote)
            .map_err(|e| crate::error_chain(&e).into())
    }

    fn remote_grader(
        &self,
        protocol: assay_tasks::spec::RemoteProtocol,
        policy: Option<&str>,
    ) -> std::result::Result<Arc<dyn assay_grade::Grader>, Box<dyn std::error::Error + Send + Sync>>
    {
        self.graders
            .remote_grader(protocol, policy)
            .map_err(|e| crate::error_chain(&e).into())
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let threads = crate::threads::use_threads(args.threads)?;
    args.local.check()?;
    let mut pipeline = Pipeline::read(&args.file)?;
    if let Some(dir) = &args.data_dir {
        pipeline.data_dir = Some(dir.clone());
    }
    let loader = Loader {
        local: args.local.clone(),
        remote: args.remote.clone(),
        graders: args.graders.clone(),
        loaded: Mutex::new(HashMap::new()),
    };
    // Every candidate, task, prompt set and experiment file is checked before any model
    // works.
    pipeline.check(&loader)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args
            .file
            .file_stem()
            .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("results").join(format!("pipeline-{stem}"))
    });
    let execution = assay_pipeline::Execution {
        command: recorded_command(),
        threads,
        batch_size: args.local.batch_size,
        assay_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_revision: env!("ASSAY_GIT_REVISION").to_owned(),
    };
    let mut bar = crate::progress::Bar::new();
    let say = |line: &str| eprintln!("{line}");
    let report = assay_pipeline::runner::run(&pipeline, &out, &loader, &execution, &mut bar, &say)
        .with_context(|| format!("pipeline `{}`", args.file.display()))?;
    bar.clear();
    match args.format {
        SummaryFormat::Table => print!("{}", assay_pipeline::report::markdown(&report)),
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    eprintln!(
        "\nwritten: {} ({}, {}, {})",
        out.display(),
        assay_pipeline::runner::RESULTS_FILE,
        assay_pipeline::runner::JUNIT_FILE,
        assay_pipeline::runner::SUMMARY_FILE
    );
    Ok(ExitCode::from(report.decision.outcome.exit_code()))
}

fn status(args: StatusArgs) -> Result<ExitCode> {
    let status = assay_pipeline::runner::status(&args.dir)?;
    if args.format == SummaryFormat::Json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    for s in &status.stages {
        println!("stage `{}` ({}): {}", s.name, s.kind, s.state);
    }
    match &status.report {
        Some(report) => {
            println!("\nlast decision: {}\n", report.decision.reason);
            print!("{}", assay_pipeline::report::funnel(report));
        }
        None => println!("\nno decision written yet"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_command(args: PipelineArgs) -> Result<ExitCode> {
    match args.command {
        PipelineCommand::Run(a) => run(*a),
        PipelineCommand::Status(a) => status(a),
    }
}
