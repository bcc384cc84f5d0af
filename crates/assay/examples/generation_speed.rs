//! Generation speed of an embedded model, for `bench/generation.sh`: one stream of 256
//! forced tokens (end-of-sequence ignored, as `llama-bench` does) and 32 prompts x 128
//! forced tokens decoded together. Prints one JSON object.
//!
//! cargo run --release -p assay --example generation_speed -- MODEL THREADS [BATCH]
//! (MODEL: `default`, `gemma3-270m` or a GGUF path)

use assay_candle::{EmbeddedModel, Generation, GenerationBatch, GenerationEvent, LoadOptions};
use assay_core::GenerateRequest;
use std::time::Instant;

const PROMPT: &str = "Question: Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:";

fn run(
    model: &EmbeddedModel,
    prompts: &[String],
    max_tokens: usize,
) -> anyhow::Result<(f64, usize)> {
    let mut batch = GenerationBatch::new(model, prompts.len());
    let mut events = Vec::new();
    let t = Instant::now();
    let jobs = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| Generation {
            id: i as u64,
            request: GenerateRequest {
                context: p.clone(),
                until: vec![],
                max_tokens,
                temperature: 0.0,
                seed: None,
            },
            ignore_eos: true,
        })
        .collect();
    batch.admit(jobs, &mut events);
    let mut tokens = 0;
    while !batch.is_empty() {
        batch.step(&mut events);
        for e in events.drain(..) {
            if let GenerationEvent::Finished { result, .. } = e {
                tokens += result?.0.tokens;
            }
        }
    }
    Ok((t.elapsed().as_secs_f64(), tokens))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = &args[1];
    // SAFETY: set before any thread starts.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", &args[2]) };
    let batch: usize = args.get(3).map_or(Ok(32), |b| b.parse())?;
    let path = match assay_fetch::model_named(name) {
        Some(m) => m.ensure(&mut |l| eprintln!("{l}"))?,
        None => name.into(),
    };
    let model = EmbeddedModel::load(&path, LoadOptions::default())?;
    run(&model, &[PROMPT.to_owned()], 8)?; // warm-up
    // Prompt processing alone: one token generated.
    let (prefill_s, _) = run(&model, &[PROMPT.to_owned()], 1)?;
    let prompt_tokens = model.tokenize(PROMPT, true)?.len();
    let (single_s, single_tokens) = run(&model, &[PROMPT.to_owned()], 256)?;
    let prompts: Vec<String> = (0..batch)
        .map(|i| format!("{PROMPT} (variant {i})"))
        .collect();
    let (batch_s, batch_tokens) = run(&model, &prompts, 128)?;
    println!(
        "{}",
        serde_json::json!({
            "model": name,
            "prompt_tokens": prompt_tokens,
            "prefill_s": prefill_s,
            "single_tokens": single_tokens,
            "single_s": single_s,
            "single_decode_tok_s": (single_tokens - 1) as f64 / (single_s - prefill_s),
            "batch": batch,
            "batch_tokens": batch_tokens,
            "batch_s": batch_s,
            "batch_tok_s": batch_tokens as f64 / batch_s,
            "decoding_weight_bytes": model.decoding_weight_bytes(),
        })
    );
    Ok(())
}
