use super::model::LocalArgs;
use anyhow::{Result, bail};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  # The embedded model at http://127.0.0.1:8000/v1
  assay serve

  # A GGUF file on all interfaces, with a key clients must send
  SERVE_KEY=... assay serve --model model.gguf --host 0.0.0.0 --api-key-env SERVE_KEY

  # Evaluate it from another terminal (or with lm-evaluation-harness's local-completions)
  assay eval --model openai:SmolLM2-135M-Instruct --base-url http://127.0.0.1:8000/v1 --data-dir DATA";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ServeArgs {
    /// `default` (SmolLM2-135M-Instruct), `gemma3-270m` (Gemma 3 270M), or a GGUF file
    /// (llama, qwen2, qwen3 or gemma3).
    #[arg(long, default_value = "default")]
    model: String,
    #[command(flatten)]
    local: LocalArgs,
    /// Address to listen on. The default keeps the server private to this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the one chosen is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The model id clients ask for (default: the GGUF file's name without extension).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Require `Authorization: Bearer <key>`, the key read from this environment variable.
    #[arg(long)]
    api_key_env: Option<String>,
    /// CPU threads. Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Most generations decoded together (continuous batching).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_batch: u32,
    /// Most generations waiting for a place in the batch; past that, requests get 503.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    max_queue: u32,
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.threads.is_some() {
        crate::threads::use_threads(args.threads)?;
    }
    let api_key = match &args.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.trim().is_empty() => assay_core::ApiKey::new(k),
            _ => bail!("--api-key-env {var}: the environment variable is unset or empty"),
        },
        None => None,
    };
    let model = Arc::new(args.local.load_embedded(&args.model)?);
    let served_name = args
        .served_model_name
        .clone()
        .unwrap_or_else(|| assay_core::LanguageModel::identity(model.as_ref()).name);
    let app = assay_serve::router(
        model,
        assay_serve::ServeConfig {
            max_batch: args.max_batch as usize,
            max_queue: args.max_queue as usize,
            ..assay_serve::ServeConfig::new(served_name.clone(), api_key)
        },
    );
    super::serve_http(app, &args.host, args.port, |addr| {
        eprintln!("serving `{served_name}` at http://{addr}/v1 (Ctrl-C stops)");
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
