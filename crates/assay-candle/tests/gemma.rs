//! Gemma 3 270M, the second real model: its SentencePiece token ids and its next-token
//! distribution against llama.cpp's on the same file (fixtures recorded once from
//! llama.cpp's `llama-tokenize` and `llama-server`), and generation.

mod common;

use assay_candle::{EmbeddedModel, LoadOptions, WeightFormat};
use assay_core::{GenerateRequest, LanguageModel};
use std::sync::OnceLock;

fn gemma() -> &'static EmbeddedModel {
    static MODEL: OnceLock<EmbeddedModel> = OnceLock::new();
    MODEL
        .get_or_init(|| EmbeddedModel::load(&common::gemma_path(), LoadOptions::default()).unwrap())
}

#[test]
fn sentencepiece_ids_equal_llama_cpp() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/gemma_tokenizer_ids.json")).unwrap();
    let m = gemma();
    assert_eq!(m.tokenizer.kind(), "llama");
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let ids = m.tokenizer.encode(text).unwrap();
        assert_eq!(ids, expected, "{text:?}");
        assert_eq!(m.tokenizer.decode(&ids).unwrap(), text, "round trip");
    }
    // The model asks for a BOS token; `tokenize(.., true)` adds it.
    assert_eq!(m.tokenize("Hi", true).unwrap()[0], 2);
}

#[test]
fn next_token_distribution_equals_llama_cpp() {
    // llama.cpp multiplies its quantized weights by activations rounded to 8 bits; assay
    // scores with the same weights dequantized to f32 and f32 activations, so the two
    // differ by that rounding. Gemma is sensitive to it: assay's own 8-bit decoding
    // path differs from its f32 path by up to 0.2 nats on these prompts, and llama.cpp
    // from assay's f32 by 0.09 on average and 0.29 at most (measured). So: each of the
    // top 8 within 0.35, their mean within 0.15, and the same greedy token.
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/gemma_next_token_logprobs.json")).unwrap();
    let m = EmbeddedModel::load(
        &common::gemma_path(),
        LoadOptions {
            weights: WeightFormat::F32,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let (mut worst, mut total, mut count) = (0f64, 0f64, 0usize);
    for case in fixture["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let tokens = m.tokenize(prompt, true).unwrap();
        assert_eq!(
            tokens.len() as u64,
            case["prompt_tokens"].as_u64().unwrap(),
            "{prompt:?}"
        );
        let top = case["top"].as_array().unwrap();
        for (rank, t) in top.iter().enumerate() {
            let id = t["id"].as_u64().unwrap() as u32;
            let mut seq = tokens.clone();
            seq.push(id);
            let ours = *m.reference_token_logprobs(&seq).unwrap().last().unwrap();
            let theirs = t["logprob"].as_f64().unwrap();
            worst = worst.max((ours - theirs).abs());
            total += (ours - theirs).abs();
            count += 1;
            assert!(
                (ours - theirs).abs() < 0.35,
                "{prompt:?} rank {rank} {:?}: ours {ours} vs llama.cpp {theirs}",
                t["token"]
            );
        }
        // The greedy choice is llama.cpp's first.
        let out = m
            .generate(&[GenerateRequest {
                context: prompt.into(),
                until: vec![],
                max_tokens: 1,
                temperature: 0.0,
                seed: None,
            }])
            .unwrap();
        assert_eq!(out[0].text, top[0]["token"].as_str().unwrap(), "{prompt:?}");
    }
    let mean = total / count as f64;
    eprintln!("difference from llama.cpp: mean {mean:.4}, largest {worst:.4} nats");
    assert!(mean < 0.15, "mean difference {mean}");
}

#[test]
fn gemma_generates_the_same_alone_and_batched() {
    let m = gemma();
    let requests: Vec<GenerateRequest> = [
        "The capital of France is",
        "def fibonacci(n):\n    ",
        "Once upon a time, in a small village,",
        "Q: What is 12 + 30?\nA:",
    ]
    .iter()
    .map(|p| GenerateRequest {
        context: (*p).into(),
        until: vec!["\n\n".into()],
        max_tokens: 20,
        temperature: 0.0,
        seed: None,
    })
    .collect();
    let together = m.generate(&requests).unwrap();
    for (r, t) in requests.iter().zip(&together) {
        let alone = m.generate(std::slice::from_ref(r)).unwrap();
        assert_eq!(&alone[0], t, "{:?}", r.context);
        assert!(t.tokens > 0);
    }
}
