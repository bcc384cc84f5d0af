//! Our llama forward pass against candle's stock `quantized_llama`, an independent
//! implementation, on the default model: the last position's log-probabilities agree.
//! (Its own process: the stock model reads `CANDLE_DEQUANTIZE_ALL` once.)

mod common;

use assay_candle::{EmbeddedModel, LoadOptions, WeightFormat};
use candle_core::{Device, Tensor};

fn dequantize_all() {
    // Both in f32, so the comparison is not blurred by 8-bit activation rounding.
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: tests call this first, before candle reads the environment.
    ONCE.call_once(|| unsafe { std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1") });
}

#[test]
fn last_position_matches_candle_quantized_llama() {
    dequantize_all();
    compare(&common::model_path());
}

#[test]
fn another_llama_gguf_matches_candle_quantized_llama() {
    dequantize_all();
    let dir = tempfile::tempdir().unwrap();
    compare(&common::tiny_llama(dir.path()));
}

fn compare(path: &std::path::Path) {
    let ours = EmbeddedModel::load(
        path,
        LoadOptions {
            weights: WeightFormat::F32,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut stock = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        content,
        &mut file,
        &Device::Cpu,
    )
    .unwrap();
    for text in [
        "The capital of France is",
        "Question: Which piece of safety equipment is used to keep mold spores from entering the respiratory system?\nAnswer:",
    ] {
        let mut tokens = ours.tokenizer.encode(text).unwrap();
        tokens.push(0); // a dummy target: the reference returns predictions for tokens[1..]
        let reference = ours.reference_token_logprobs(&tokens).unwrap();
        assert_eq!(reference.len(), tokens.len() - 1);
        let input = Tensor::new(&tokens[..tokens.len() - 1], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = stock.forward(&input, 0).unwrap().squeeze(0).unwrap();
        let stock_logp: Vec<f32> = candle_nn::ops::log_softmax(&logits, 0)
            .unwrap()
            .to_vec1()
            .unwrap();
        // Our full distribution at the last position, from the same helper.
        let ours_last = {
            let mut best = Vec::new();
            for probe in [0u32, 100, 5000, 49151] {
                let mut t = tokens.clone();
                *t.last_mut().unwrap() = probe;
                best.push((
                    probe,
                    *ours.reference_token_logprobs(&t).unwrap().last().unwrap(),
                ));
            }
            best
        };
        for (tok, lp) in ours_last {
            let s = stock_logp[tok as usize] as f64;
            assert!(
                (lp - s).abs() < 2e-3,
                "{text:?} token {tok}: ours {lp} vs stock {s}"
            );
        }
        stock.clear_kv_cache();
    }
}
