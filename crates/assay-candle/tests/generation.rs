//! Batched generation: answers do not depend on which others were decoded with them,
//! sequences join and leave the batch, and bad requests are refused.

mod common;

use assay_candle::{EmbeddedModel, Generation, GenerationBatch, GenerationEvent, LoadOptions};
use assay_core::{FinishReason, GenerateRequest, LanguageModel, ModelError};
use std::sync::OnceLock;

fn load(batch_size: usize) -> EmbeddedModel {
    common::load_default(batch_size)
}

fn model() -> &'static EmbeddedModel {
    static MODEL: OnceLock<EmbeddedModel> = OnceLock::new();
    MODEL.get_or_init(|| load(32))
}

/// Prompts of different lengths; several share a few-shot prefix (run once) and some
/// stop early on a stop string or at the end of their answer.
fn requests() -> Vec<GenerateRequest> {
    let shots = "Question: What is 2 + 3?\nAnswer: 5\n\nQuestion: What is 7 - 4?\nAnswer: 3\n\n";
    let mut out = Vec::new();
    for (i, q) in [
        "What is 10 + 5?",
        "What is 9 - 1?",
        "What is 6 + 6?",
        "What is 100 - 1?",
        "What is 3 + 4?",
    ]
    .iter()
    .enumerate()
    {
        out.push(GenerateRequest {
            context: format!("{shots}Question: {q}\nAnswer:"),
            until: vec!["\n\n".into(), "Question:".into()],
            max_tokens: 12 + 4 * i,
            temperature: 0.0,
            seed: None,
        });
    }
    for (i, p) in [
        "Once upon a time",
        "The three primary colours are",
        "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n",
        "def add(a, b):",
    ]
    .iter()
    .enumerate()
    {
        out.push(GenerateRequest {
            context: (*p).into(),
            until: vec![],
            max_tokens: 30 - 5 * i,
            temperature: if i == 1 { 0.8 } else { 0.0 },
            seed: Some(7),
        });
    }
    out
}

#[test]
fn answers_do_not_depend_on_their_batch() {
    let requests = requests();
    let alone: Vec<_> = requests
        .iter()
        .map(|r| model().generate(std::slice::from_ref(r)).unwrap().remove(0))
        .collect();
    // All at once; then three at a time, so that waiting ones join as others finish.
    let together = model().generate(&requests).unwrap();
    let three = load(3).generate(&requests).unwrap();
    for ((a, t), h) in alone.iter().zip(&together).zip(&three) {
        assert_eq!(a, t, "alone and in a batch of {}", requests.len());
        assert_eq!(a, h, "alone and in a batch of 3");
    }
    assert!(alone.iter().any(|a| a.finish_reason == FinishReason::Stop));
    assert!(
        alone
            .iter()
            .any(|a| a.finish_reason == FinishReason::Length)
    );
    // The few-shot answers are numbers, cut before the next question. (Which numbers
    // depends on the machine: the 135M model's arithmetic is fragile and candle picks
    // its matrix kernels by processor features; the same build answers "10 + 5" with 15
    // on an AVX2 machine and 8 on an AVX-512 one.)
    for a in &alone[..5] {
        let t = a.text.trim();
        assert!(
            !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()),
            "{:?}",
            a.text
        );
        assert_eq!(a.finish_reason, FinishReason::Stop, "{:?}", a.text);
    }
}

#[test]
fn streaming_pieces_add_up_to_the_answer() {
    let r = &requests()[5];
    let mut pieces = String::new();
    let (answer, _) = model()
        .generate_streaming(r, &mut |p| {
            pieces.push_str(p);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(pieces, answer.text);
    assert_eq!(
        answer,
        model().generate(std::slice::from_ref(r)).unwrap()[0]
    );
}

#[test]
fn a_cancelled_sequence_leaves_the_batch_at_once() {
    let mut batch = GenerationBatch::new(model(), 2);
    let mut events = Vec::new();
    let long = GenerateRequest {
        context: "Write a long story.".into(),
        until: vec![],
        max_tokens: 400,
        temperature: 0.0,
        seed: None,
    };
    batch.admit(
        vec![Generation::new(1, long.clone()), Generation::new(2, long)],
        &mut events,
    );
    assert_eq!(batch.free_slots(), 0);
    batch.step(&mut events);
    let partial = batch.cancel(1).expect("sequence 1 was live");
    assert_eq!(partial.finish_reason, FinishReason::Length);
    assert_eq!(batch.free_slots(), 1);
    assert!(batch.cancel(1).is_none());
    batch.step(&mut events);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, GenerationEvent::Finished { id: 1, .. })),
        "a cancelled sequence reports nothing more"
    );
}

#[test]
fn requests_that_cannot_fit_are_refused() {
    let m = EmbeddedModel::load(
        &common::model_path(),
        LoadOptions {
            max_length: Some(64),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let ask = |context: String, max_tokens| GenerateRequest {
        context,
        until: vec![],
        max_tokens,
        temperature: 0.0,
        seed: None,
    };
    for (request, words) in [
        (
            ask("word ".repeat(200), 4),
            "more than the model's length of 64",
        ),
        (ask("Hi".into(), 64), "leaves no room for the prompt"),
        (ask("Hi".into(), 0), "nothing to generate"),
    ] {
        match m.generate(&[request]) {
            Err(ModelError::BadRequest { reason, .. }) => {
                assert!(reason.contains(words), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // A prompt that fits but leaves less room than asked is cut on the left, as
    // lm-evaluation-harness does, and the answer stops at the model's length.
    let out = m.generate(&[ask("word ".repeat(60), 20)]).unwrap();
    assert!(out[0].tokens <= 20);
}

#[test]
fn f32_weights_decode_through_the_same_step() {
    // `--weight-format f32` decodes with f32 matrices (through the padded products of
    // scoring) instead of 8-bit ones: the same few-shot answer.
    let m = EmbeddedModel::load(
        &common::model_path(),
        LoadOptions {
            weights: assay_candle::WeightFormat::F32,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let r = &requests()[0];
    let out = m.generate(std::slice::from_ref(r)).unwrap();
    assert!(out[0].text.trim().starts_with("15"), "{:?}", out[0].text);
    // Batched or alone, the same bits here too.
    let all = requests();
    let together = m.generate(&all[..4]).unwrap();
    assert_eq!(together[0], out[0]);
}

#[test]
fn long_answers_stay_right_after_the_cache_grows() {
    // A cache starts with room for 128 answer tokens and doubles when full. 300 forced
    // tokens cross two growths; every greedy token must still be what a plain forward
    // pass over the whole text (the scoring path, f32) ranks first, up to near-ties
    // between 8-bit and f32 weights.
    let m = model();
    let request = GenerateRequest {
        context: "Once upon a time".into(),
        until: vec![],
        max_tokens: 300,
        temperature: 0.0,
        seed: None,
    };
    let mut batch = GenerationBatch::new(m, 2);
    let mut events = Vec::new();
    batch.admit(
        vec![Generation {
            id: 0,
            request,
            ignore_eos: true,
        }],
        &mut events,
    );
    let mut answer = None;
    while answer.is_none() {
        batch.step(&mut events);
        for e in events.drain(..) {
            if let GenerationEvent::Finished { result, .. } = e {
                answer = Some(result.unwrap().0);
            }
        }
    }
    let answer = answer.unwrap();
    assert_eq!(answer.tokens, 300);
    let prompt = m.tokenize("Once upon a time", true).unwrap();
    let generated = m.tokenize(&answer.text, false).unwrap();
    let mut all = prompt.clone();
    all.extend(&generated);
    let scores = m
        .prompt_logprobs(std::slice::from_ref(&all))
        .unwrap()
        .remove(0);
    // Score i predicts token i + 1; the answer's tokens start at `prompt.len()`.
    let late: Vec<_> = scores[prompt.len() - 1..].iter().skip(200).collect();
    assert!(late.len() > 50, "{} late tokens", late.len());
    let agree = late.iter().filter(|s| s.token == s.top_token).count();
    assert!(
        agree * 100 >= late.len() * 90,
        "{agree} of {} late tokens are the full pass's first choice",
        late.len()
    );
}
