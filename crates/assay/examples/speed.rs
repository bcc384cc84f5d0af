//! Speed of the embedded model, for `bench/run.sh`: HellaSwag items scored per second
//! (model load excluded) and greedy decoding tokens per second. Prints one JSON object.
//!
//! cargo run --release -p assay --example speed -- DATA_DIR ITEMS THREADS [BATCH_SIZE]

use assay_candle::{EmbeddedModel, LoadOptions};
use assay_core::{GenerateRequest, LanguageModel};
use assay_tasks::{Requests, Selection, Task, TaskSource};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let data = std::path::PathBuf::from(&args[1]);
    let items: usize = args[2].parse()?;
    let threads = &args[3];
    // SAFETY: set before any thread starts.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads) };
    let path = assay_fetch::DEFAULT_MODEL.ensure(&mut |l| eprintln!("{l}"))?;
    let t = Instant::now();
    let batch_size = args.get(4).map_or(Ok(32), |b| b.parse())?;
    let model = EmbeddedModel::load(
        &path,
        LoadOptions {
            batch_size,
            ..LoadOptions::default()
        },
    )?;
    let load_s = t.elapsed().as_secs_f64();
    let task = Task::load(
        TaskSource::resolve("hellaswag")?,
        &data,
        None,
        Selection::First(items),
    )?;
    let sub = &task.subtasks[0];
    // Warm-up on an item outside the timed set.
    let warm = &Task::load(
        TaskSource::resolve("hellaswag")?,
        &data,
        None,
        Selection::First(items + 1),
    )?
    .subtasks[0]
        .samples[items];
    if let Requests::Loglikelihood(r) = task.requests(warm, "", None) {
        model.loglikelihood(&r)?;
    }
    let (mut tokens, mut correct) = (0usize, 0usize);
    let t = Instant::now();
    // As `assay eval` does: 16 items per call, which the model packs into passes.
    for chunk in sub.samples.chunks(16) {
        let mut flat = Vec::new();
        for prep in chunk {
            let Requests::Loglikelihood(reqs) = task.requests(prep, "", None) else {
                unreachable!()
            };
            // Useful work: the context once plus every ending.
            tokens += model.tokenizer.encode(&reqs[0].context)?.len();
            flat.extend(reqs);
        }
        let r = model.loglikelihood(&flat)?;
        tokens += r.iter().map(|x| x.tokens).sum::<usize>();
        for (prep, answers) in chunk.iter().zip(r.chunks(4)) {
            let best = answers
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.logprob.total_cmp(&b.1.logprob))
                .unwrap()
                .0;
            correct += usize::from(prep.sample.target == assay_core::Target::Index(best));
        }
    }
    let score_s = t.elapsed().as_secs_f64();

    let prompt = "Question: Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:";
    let generate = |max_tokens| -> anyhow::Result<(f64, usize)> {
        let t = Instant::now();
        let out = model.generate(&[GenerateRequest {
            context: prompt.into(),
            until: vec![],
            max_tokens,
            temperature: 0.0,
            seed: None,
        }])?;
        Ok((t.elapsed().as_secs_f64(), out[0].tokens))
    };
    generate(8)?; // warm-up
    // Decode rate from the difference of two lengths, so prompt processing cancels out.
    let (t_short, n_short) = generate(1)?;
    let (t_long, n_long) = generate(129)?;
    let prompt_tokens = model.tokenizer.encode(prompt)?.len();
    println!(
        "{}",
        serde_json::json!({
            "engine": "assay",
            "threads": threads.parse::<usize>()?,
            "batch_size": batch_size,
            "load_s": load_s,
            "items": items,
            "score_s": score_s,
            "items_per_s": items as f64 / score_s,
            "useful_tokens": tokens,
            "tokens_per_s": tokens as f64 / score_s,
            "acc": correct as f64 / items as f64,
            "prompt_tokens": prompt_tokens,
            "prefill_tokens_per_s": prompt_tokens as f64 / t_short,
            "decode_tokens": n_long - n_short,
            "decode_tokens_per_s": (n_long - n_short) as f64 / (t_long - t_short),
        })
    );
    Ok(())
}
