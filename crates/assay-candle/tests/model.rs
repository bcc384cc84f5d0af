//! The embedded model against references computed another way: llama.cpp's token ids,
//! a plain full forward pass, and itself under other batch sizes and cache states.

mod common;

use assay_candle::{EmbeddedModel, LoadOptions, WeightFormat};
use assay_core::{
    ChatMessage, FinishReason, GenerateRequest, LanguageModel, LoglikelihoodRequest, RollingRequest,
};
use std::sync::OnceLock;

fn model() -> &'static EmbeddedModel {
    static MODEL: OnceLock<EmbeddedModel> = OnceLock::new();
    MODEL
        .get_or_init(|| EmbeddedModel::load(&common::model_path(), LoadOptions::default()).unwrap())
}

fn load(batch_size: usize) -> EmbeddedModel {
    common::load_default(batch_size)
}

fn req(context: &str, continuation: &str) -> LoglikelihoodRequest {
    LoglikelihoodRequest {
        context: context.into(),
        continuation: continuation.into(),
    }
}

/// A HellaSwag item (validation, first row), a WinoGrande-style pair whose contexts
/// differ, and a continuation with an empty context.
fn items() -> Vec<Vec<LoglikelihoodRequest>> {
    let hs = "Roof shingle removal: A man is sitting on a roof. He";
    vec![
        [
            " is using wrap to wrap a pair of skis.",
            " is ripping level tiles off.",
            " is holding a rubik's cube.",
            " starts pulling up roofing on a roof.",
        ]
        .iter()
        .map(|c| req(hs, c))
        .collect(),
        vec![
            req(
                "Sarah was a much better surgeon than Maria so Sarah",
                " always got the easier cases.",
            ),
            req(
                "Sarah was a much better surgeon than Maria so Maria",
                " always got the easier cases.",
            ),
        ],
        vec![req("", "The quick brown fox jumps over the lazy dog.")],
        vec![req("Question: What is 12 + 30?\nAnswer: ", "42")],
        // Longer than one 512-token pass: scored in chunks.
        vec![
            req(
                &"The quick brown fox jumps over the lazy dog. ".repeat(60),
                " The end.",
            ),
            req(
                &"The quick brown fox jumps over the lazy dog. ".repeat(60),
                &" And again.".repeat(60),
            ),
        ],
    ]
}

#[test]
fn tokenizer_ids_equal_llama_cpp() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/tokenizer_ids.json")).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let ids = model().tokenizer.encode(text).unwrap();
        assert_eq!(ids, expected, "{text:?}");
        assert_eq!(model().tokenizer.decode(&ids).unwrap(), text, "round trip");
    }
}

#[test]
fn loglikelihood_equals_sum_of_full_forward_logprobs() {
    let m = model();
    for item in items() {
        let got = m.loglikelihood(&item).unwrap();
        for (r, g) in item.iter().zip(&got) {
            // Split as lm-evaluation-harness does: trailing context whitespace moves to
            // the continuation; the context's own tokens end the context.
            let ctx = r.context.trim_end();
            let cont = format!("{}{}", &r.context[ctx.len()..], r.continuation);
            let (tokens, ctx_len) = if ctx.is_empty() {
                let mut t = vec![m.tokenizer.prefix_token];
                t.extend(m.tokenizer.encode(&cont).unwrap());
                (t, 1)
            } else {
                let whole = m.tokenizer.encode(&format!("{ctx}{cont}")).unwrap();
                (whole, m.tokenizer.encode(ctx).unwrap().len())
            };
            let lp = m.reference_token_logprobs(&tokens).unwrap();
            let expected: f64 = lp[ctx_len - 1..].iter().sum();
            assert!(
                (g.logprob - expected).abs() < 1e-4,
                "{r:?}: {} vs {expected}",
                g.logprob
            );
            assert_eq!(g.tokens, tokens.len() - ctx_len);
        }
    }
}

#[test]
fn batch_size_and_prefix_cache_do_not_change_scores() {
    // One request per call on a fresh model (cold prefix cache): the most separate way.
    let reference: Vec<Vec<f64>> = items()
        .iter()
        .map(|item| {
            item.iter()
                .map(|r| load(1).loglikelihood(std::slice::from_ref(r)).unwrap()[0].logprob)
                .collect()
        })
        .collect();
    for batch in [1, 3, 8] {
        let m = load(batch);
        // Items one after another, so the prefix cache is warm from the previous item.
        for (item, expected) in items().iter().zip(&reference) {
            let got = m.loglikelihood(item).unwrap();
            for (g, e) in got.iter().zip(expected) {
                assert!(
                    (g.logprob - e).abs() < 1e-5,
                    "batch {batch}: {} vs {e}",
                    g.logprob
                );
            }
        }
        // All items in one call.
        let all: Vec<_> = items().into_iter().flatten().collect();
        let got = m.loglikelihood(&all).unwrap();
        for (g, e) in got.iter().zip(reference.iter().flatten()) {
            assert!(
                (g.logprob - e).abs() < 1e-5,
                "batch {batch}, one call: {} vs {e}",
                g.logprob
            );
        }
    }
}

#[test]
fn the_obvious_continuation_wins() {
    let r = model()
        .loglikelihood(&[
            req("The capital of France is", " Paris"),
            req("The capital of France is", " banana"),
        ])
        .unwrap();
    assert!(r[0].logprob > r[1].logprob + 5.0, "{r:?}");
    assert!(r[0].is_greedy);
    assert!(!r[1].is_greedy);
}

#[test]
fn rolling_loglikelihood_covers_every_token() {
    let m = model();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(3);
    let r = m
        .loglikelihood_rolling(&[RollingRequest { text: text.clone() }])
        .unwrap();
    assert_eq!(r[0].tokens, m.tokenizer.encode(&text).unwrap().len());
    // With one window, rolling scoring is the continuation of the prefix token.
    let ll = m.loglikelihood(&[req("", &text)]).unwrap();
    assert!((r[0].logprob - ll[0].logprob).abs() < 1e-6);
    // Short windows see less context, so the text is less likely, but still every token.
    let short = EmbeddedModel::load(
        &common::model_path(),
        LoadOptions {
            max_length: Some(8),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let w = short
        .loglikelihood_rolling(&[RollingRequest { text }])
        .unwrap();
    assert_eq!(w[0].tokens, r[0].tokens);
    assert!(w[0].logprob < r[0].logprob);
}

#[test]
fn greedy_generation_answers_and_stops() {
    // f32 weights throughout: the answer's first token is a near-tie under 8-bit
    // activations (see the embedded-model study), so text is only asserted loosely.
    let m = EmbeddedModel::load(
        &common::model_path(),
        LoadOptions {
            weights: WeightFormat::F32,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let prompt = m
        .apply_chat_template(&[ChatMessage::user("What is the capital of France?")])
        .unwrap();
    assert!(prompt.ends_with("<|im_start|>assistant\n"));
    let g = |until: Vec<String>| {
        m.generate(&[GenerateRequest {
            context: prompt.clone(),
            until,
            max_tokens: 30,
            temperature: 0.0,
            seed: None,
        }])
        .unwrap()
        .remove(0)
    };
    let free = g(vec![]);
    assert!(free.text.contains("Paris"), "{free:?}");
    assert_eq!(free.finish_reason, FinishReason::EndOfSequence);
    let stopped = g(vec!["Paris".into()]);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert!(!stopped.text.contains("Paris") && free.text.starts_with(&stopped.text));
    let sampled = |seed| {
        m.generate(&[GenerateRequest {
            context: prompt.clone(),
            until: vec![],
            max_tokens: 12,
            temperature: 1.0,
            seed: Some(seed),
        }])
        .unwrap()
        .remove(0)
        .text
    };
    assert_eq!(sampled(7), sampled(7), "a seed fixes a sampled answer");
}

#[test]
fn missing_and_corrupt_files_are_named() {
    let missing = EmbeddedModel::load(
        std::path::Path::new("/nonexistent/m.gguf"),
        LoadOptions::default(),
    );
    let err = missing.err().unwrap().to_string();
    assert!(err.contains("/nonexistent/m.gguf"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"this is not a gguf file at all").unwrap();
    let err = EmbeddedModel::load(&junk, LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("junk.gguf") && err.contains("not a valid GGUF"),
        "{err}"
    );

    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(common::model_path()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = EmbeddedModel::load(&truncated, LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

/// `prompt_logprobs` (what `assay serve` answers `echo` + `logprobs` with) scores every
/// position as a plain full forward pass does, whether prompts share a prefix (choices
/// sent as separate requests), stand alone, or are longer than one pass; and a prompt's
/// scores do not depend on which others share its batch.
#[test]
fn prompt_logprobs_equal_full_forward_logprobs_in_any_batch() {
    let m = model();
    let mut prompts: Vec<Vec<u32>> = items()
        .iter()
        .flatten()
        .map(|r| {
            m.tokenize(&format!("{}{}", r.context, r.continuation), false)
                .unwrap()
        })
        .filter(|t| t.len() > 1)
        .collect();
    prompts.push(vec![42, 43]);
    let together = m.prompt_logprobs(&prompts).unwrap();
    for (p, got) in prompts.iter().zip(&together) {
        let reference = m.reference_token_logprobs(p).unwrap();
        assert_eq!(got.len(), p.len() - 1);
        for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
            assert_eq!(
                g.token,
                p[i + 1],
                "prompt of {} tokens, position {i}",
                p.len()
            );
            assert!(
                (g.logprob - r).abs() < 1e-4,
                "position {i}: {} vs {r}",
                g.logprob
            );
            assert!(g.top_logprob >= g.logprob);
        }
        let alone = &m.prompt_logprobs(std::slice::from_ref(p)).unwrap()[0];
        for (a, b) in alone.iter().zip(got) {
            assert!((a.logprob - b.logprob).abs() < 1e-5);
        }
    }
    // The four HellaSwag choices really did share their context (a group formed).
    assert!(prompts[..4].windows(2).all(|w| w[0][..8] == w[1][..8]));
}
