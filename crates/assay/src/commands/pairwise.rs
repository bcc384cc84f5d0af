//! `assay pairwise`: contestants answer a prompt set, an LLM judge compares the answers
//! (both orders) and/or grades them, and the verdicts become a ranking.

use super::SummaryFormat;
use super::model::{LocalArgs, RemoteArgs};
use anyhow::{Context, Result, bail};
use assay_arena::run::{Combine, Contestant, Judge, JudgeMethod, Options};
use assay_core::LanguageModel;
use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  # The embedded model against itself at two temperatures, judged by itself
  assay pairwise examples/prompts.jsonl --contestant cold=default --contestant warm=default,temperature=1.0

  # Two server models, a third as judge, MT-Bench's rule for the two orders
  assay pairwise prompts.jsonl --contestant a=openai:model-a --contestant b=openai:model-b \\
    --judge openai:judge-model --combine agree-or-tie --base-url http://127.0.0.1:8000/v1

  # Grade each answer 1-10 as well, and print everything as JSON
  assay pairwise prompts.jsonl --contestant a=default --contestant b=model.gguf --mode both --format json";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct PairwiseArgs {
    /// Prompt set: JSONL with `prompt` (and optionally `id`, `reference`, `category`).
    prompts: PathBuf,
    /// A contestant: `NAME=MODEL[,temperature=T][,seed=S][,max_tokens=N]`, where MODEL is
    /// `default` (the embedded model), `gemma3-270m`, a GGUF file or `openai:NAME` (see
    /// --base-url).
    /// Give two or more.
    #[arg(
        long = "contestant",
        value_name = "NAME=MODEL[,OPTIONS]",
        required = true
    )]
    contestants: Vec<String>,
    /// The judge model (same forms as a contestant's MODEL).
    #[arg(long, default_value = "default")]
    judge: String,
    /// How the judge answers: `logprobs` reads the verdict from the labels'
    /// probabilities (needs a model that scores text), `generate` parses it from the
    /// judge's text; `auto` picks logprobs when the judge can.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    judge_method: Method,
    /// Longest judge explanation (generate method).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    judge_max_tokens: u32,
    /// What the judge does.
    #[arg(long, value_enum, default_value_t = Mode::Pairwise)]
    mode: Mode,
    /// How the two orders of a comparison count.
    #[arg(long, value_enum, default_value_t = Combine::CountBoth)]
    combine: Combine,
    /// Default longest answer, in tokens.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_tokens: u32,
    /// Run directory (answers, judgements, battles.csv, results.json). Running the same
    /// command again continues an interrupted run.
    #[arg(long, default_value = "runs/pairwise")]
    out: PathBuf,
    /// Bootstrap rounds for the ranking's intervals (2 to 100,000).
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(2..=assay_rank::bt::MAX_BOOTSTRAP_ROUNDS as u64))]
    rounds: u64,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Embedded models: most sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Method {
    Auto,
    Logprobs,
    Generate,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Mode {
    /// Compare answers two at a time, in both orders.
    Pairwise,
    /// Grade each answer on a 1-10 rubric (MT-Bench single-answer grading).
    Grade,
    Both,
}

/// Models by their spec, so that contestants (and the judge) sharing one load it once.
struct Models<'a> {
    loaded: HashMap<String, Arc<dyn LanguageModel>>,
    remote: &'a RemoteArgs,
    batch_size: usize,
}

impl Models<'_> {
    fn get(&mut self, spec: &str) -> Result<Arc<dyn LanguageModel>> {
        if let Some(m) = self.loaded.get(spec) {
            return Ok(m.clone());
        }
        let local = LocalArgs {
            batch_size: self.batch_size,
            ..LocalArgs::default()
        };
        let model: Arc<dyn LanguageModel> = Arc::from(local.load(spec, self.remote)?);
        self.loaded.insert(spec.to_owned(), model.clone());
        Ok(model)
    }
}

fn contestant(text: &str, default_max_tokens: usize, models: &mut Models) -> Result<Contestant> {
    let (name, rest) = text
        .split_once('=')
        .with_context(|| format!("--contestant `{text}`: write NAME=MODEL[,temperature=T,...]"))?;
    let mut parts = rest.split(',');
    let spec = parts.next().unwrap_or("").trim();
    if spec.is_empty() {
        bail!("--contestant `{text}`: the model is missing after `=`");
    }
    let (mut temperature, mut seed, mut max_tokens) = (0.0, 0u64, default_max_tokens);
    for option in parts {
        let (key, value) = option.split_once('=').with_context(|| {
            format!("--contestant `{text}`: option `{option}` is not KEY=VALUE")
        })?;
        let bad = || format!("--contestant `{text}`: `{value}` is not a valid {key}");
        match key.trim() {
            "temperature" => {
                temperature = value.trim().parse().with_context(bad)?;
                if !(0.0..=5.0).contains(&temperature) {
                    bail!("--contestant `{text}`: temperature must be between 0 and 5");
                }
            }
            "seed" => seed = value.trim().parse().with_context(bad)?,
            "max_tokens" => {
                max_tokens = value.trim().parse().with_context(bad)?;
                if max_tokens == 0 {
                    bail!("--contestant `{text}`: max_tokens must be at least 1");
                }
            }
            other => bail!(
                "--contestant `{text}`: unknown option `{other}` (known: temperature, seed, max_tokens)"
            ),
        }
    }
    Ok(Contestant {
        name: name.trim().to_owned(),
        model: models.get(spec)?,
        temperature,
        seed,
        max_tokens,
    })
}

pub(crate) fn run(args: PairwiseArgs) -> Result<ExitCode> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    // The prompt set first: a bad file fails before any model loads.
    let prompts = assay_arena::prompts::read(&args.prompts)?;
    let mut models = Models {
        loaded: HashMap::new(),
        remote: &args.remote,
        batch_size: args.batch_size,
    };
    let contestants = args
        .contestants
        .iter()
        .map(|c| contestant(c, args.max_tokens as usize, &mut models))
        .collect::<Result<Vec<_>>>()?;
    let judge_model = models.get(&args.judge)?;
    let method = match args.judge_method {
        Method::Logprobs => JudgeMethod::Logprobs,
        Method::Generate => JudgeMethod::Generate,
        Method::Auto if judge_model.supports_loglikelihood() => JudgeMethod::Logprobs,
        Method::Auto => JudgeMethod::Generate,
    };
    let judge = Judge {
        model: judge_model,
        method,
        max_tokens: args.judge_max_tokens as usize,
    };
    let options = Options {
        out: args.out.clone(),
        pairwise: args.mode != Mode::Grade,
        grade: args.mode != Mode::Pairwise,
        combine: args.combine,
        rounds: args.rounds as usize,
        seed: args.seed,
    };
    let mut bar = crate::progress::Bar::new();
    let results = assay_arena::run::run(&prompts, &contestants, Some(&judge), &options, &mut bar)?;
    bar.clear();
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        SummaryFormat::Table => print!("{}", assay_arena::report::markdown(&results)),
    }
    eprintln!("\nwritten: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
