//! A llama-family GGUF other than the default model loads, scores and generates, with
//! the same guarantees.

mod common;

use assay_candle::{EmbeddedModel, LoadOptions};
use assay_core::{GenerateRequest, LanguageModel, LoglikelihoodRequest};

#[test]
fn a_different_llama_gguf_scores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::tiny_llama(dir.path());
    let load = |batch_size| {
        EmbeddedModel::load(
            &path,
            LoadOptions {
                batch_size,
                ..LoadOptions::default()
            },
        )
        .unwrap()
    };
    let m = load(4);
    let id = m.identity();
    assert_eq!(id.name, "tiny-llama");
    assert_eq!(id.settings["general_name"], "tiny-random-llama");
    assert_eq!(id.settings["config"]["n_kv_head"], 2);
    let reqs: Vec<_> = [" red", " green and blue", " 12345"]
        .iter()
        .map(|c| LoglikelihoodRequest {
            context: "My favourite colour is".into(),
            continuation: c.to_string(),
        })
        .collect();
    let got = m.loglikelihood(&reqs).unwrap();
    let one = load(1).loglikelihood(&reqs).unwrap();
    for ((g, o), r) in got.iter().zip(&one).zip(&reqs) {
        let tokens = m
            .tokenizer
            .encode(&format!("{}{}", r.context, r.continuation))
            .unwrap();
        let ctx = m.tokenizer.encode(&r.context).unwrap().len();
        let expected: f64 = m.reference_token_logprobs(&tokens).unwrap()[ctx - 1..]
            .iter()
            .sum();
        assert!(
            (g.logprob - expected).abs() < 1e-4,
            "{} vs {expected}",
            g.logprob
        );
        assert!((g.logprob - o.logprob).abs() < 1e-5);
    }
    let out = m
        .generate(&[GenerateRequest {
            context: "Once upon a time".into(),
            until: vec![],
            max_tokens: 5,
            temperature: 0.0,
            seed: None,
        }])
        .unwrap();
    assert!(out[0].tokens <= 5);
}
