mod common;

use assay_candle::{EmbeddedModel, LoadOptions};
use assay_core::{LanguageModel, LoglikelihoodRequest};

#[test]
fn smoke() {
    let t = std::time::Instant::now();
    let m = EmbeddedModel::load(&common::model_path(), LoadOptions::default()).unwrap();
    eprintln!("load {:?}", t.elapsed());
    let ctx = "Roof shingle removal: A man is sitting on a roof. He";
    let reqs: Vec<_> = [
        " is using wrap to wrap a pair of skis.",
        " is ripping level tiles off.",
        " is holding a rubik's cube.",
        " starts pulling up roofing on a roof.",
    ]
    .iter()
    .map(|c| LoglikelihoodRequest {
        context: ctx.into(),
        continuation: c.to_string(),
    })
    .collect();
    let t = std::time::Instant::now();
    let r = m.loglikelihood(&reqs).unwrap();
    eprintln!("ll {:?} {:?}", t.elapsed(), r);
    let g = m
        .generate(&[assay_core::GenerateRequest {
            context: m
                .apply_chat_template(&[assay_core::ChatMessage::user(
                    "What is the capital of France?",
                )])
                .unwrap(),
            until: vec![],
            max_tokens: 20,
            temperature: 0.0,
            seed: None,
        }])
        .unwrap();
    eprintln!("gen {:?}", g);
}
