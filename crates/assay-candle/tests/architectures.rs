//! Each architecture's forward pass against candle's stock quantized implementation of
//! it, an independent one, on a small random GGUF of that architecture written here: the
//! last position's log-probabilities agree. Gemma 3 with real weights is checked against
//! llama.cpp in `gemma.rs`.

mod common;

use assay_candle::{EmbeddedModel, LoadOptions, WeightFormat};
use assay_core::LanguageModel;
use candle_core::{Device, Tensor};
use common::{TinyOptions, tiny_model};
use std::path::Path;

type StockForward = Box<dyn FnMut(&[u32]) -> Vec<f32>>;

fn stock(arch: &str, path: &Path) -> StockForward {
    use candle_transformers::models::{quantized_gemma3, quantized_qwen2, quantized_qwen3};
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let input = |tokens: &[u32]| {
        Tensor::new(tokens, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap()
    };
    let last = |logits: Tensor| -> Vec<f32> {
        let logits = logits.flatten_all().unwrap();
        candle_nn::ops::log_softmax(&logits, 0)
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    match arch {
        "qwen2" => {
            let mut m =
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
            Box::new(move |t| last(m.forward(&input(t), 0).unwrap()))
        }
        "qwen3" => {
            let mut m =
                quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
            Box::new(move |t| {
                let out = last(m.forward(&input(t), 0).unwrap());
                m.clear_kv_cache();
                out
            })
        }
        "gemma3" => {
            let mut m = quantized_gemma3::ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
                .unwrap();
            Box::new(move |t| last(m.forward(&input(t), 0).unwrap()))
        }
        other => panic!("no stock model for {other}"),
    }
}

/// Our log-probabilities of a few tokens at the last position of `tokens`.
fn ours(model: &EmbeddedModel, tokens: &[u32], probes: &[u32]) -> Vec<f64> {
    probes
        .iter()
        .map(|&probe| {
            let mut t = tokens.to_vec();
            t.push(probe);
            *model.reference_token_logprobs(&t).unwrap().last().unwrap()
        })
        .collect()
}

fn compare(arch: &str, ours_path: &Path, stock_path: &Path, texts: &[&str]) {
    let model = EmbeddedModel::load(
        ours_path,
        LoadOptions {
            weights: WeightFormat::F32,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        model.identity().settings["config"]["architecture"],
        arch,
        "the architecture is read from the file"
    );
    let mut reference = stock(arch, stock_path);
    let probes = [0u32, 17, 100, 5000, 31000, 49151];
    for text in texts {
        let tokens = model.tokenize(text, true).unwrap();
        let expected = reference(&tokens);
        let got = ours(&model, &tokens, &probes);
        // The distribution is spread (random weights): compare where it is informative.
        let spread = expected.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
            - expected.iter().fold(f32::INFINITY, |a, &b| a.min(b));
        assert!(
            spread > 1.0,
            "{arch}: a flat distribution proves nothing ({spread})"
        );
        for (probe, g) in probes.iter().zip(&got) {
            let e = expected[*probe as usize] as f64;
            assert!(
                (g - e).abs() < 1e-3,
                "{arch} {text:?} token {probe}: ours {g} vs stock {e}"
            );
        }
    }
}

const TEXTS: &[&str] = &[
    "The capital of France is",
    "Question: Which piece of safety equipment keeps mold spores out of the lungs?\nAnswer:",
];

#[test]
fn qwen2_matches_candle_quantized_qwen2() {
    let dir = tempfile::tempdir().unwrap();
    let options = TinyOptions {
        all_f32: true,
        ..TinyOptions::default()
    };
    let path = tiny_model(dir.path(), "qwen2", &options);
    compare("qwen2", &path, &path, TEXTS);
}

#[test]
fn qwen3_matches_candle_quantized_qwen3() {
    let dir = tempfile::tempdir().unwrap();
    let options = TinyOptions {
        all_f32: true,
        ..TinyOptions::default()
    };
    let path = tiny_model(dir.path(), "qwen3", &options);
    compare("qwen3", &path, &path, TEXTS);
}

#[test]
fn gemma3_matches_candle_quantized_gemma3() {
    // candle's stock Gemma 3 gates the feed-forward block with SiLU (Gemma uses GELU,
    // as llama.cpp and Hugging Face do), so here the block's output weights are zero and
    // the real model's comparison with llama.cpp covers it. Its sliding window also
    // attends one position more than Gemma's (`i - j <= window` against `< window`), so
    // it reads a file whose window is one smaller; with prompts longer than the window,
    // the sliding layers' masks are compared too.
    let dir = tempfile::tempdir().unwrap();
    let options = |sliding_window| TinyOptions {
        sliding_window,
        zero_ffn_down: true,
        all_f32: true,
    };
    let ours_path = tiny_model(dir.path(), "gemma3", &options(6));
    let stock_path = tiny_model(dir.path(), "gemma3", &options(5));
    compare("gemma3", &ours_path, &stock_path, TEXTS);
}

/// `path` rewritten with `key` set to `value` in its metadata.
fn with_metadata(path: &Path, key: &str, value: &str, out: &Path) {
    use candle_core::quantized::gguf_file::{self, Value};
    let mut file = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let tensors: Vec<(String, candle_core::quantized::QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| {
            (
                name.clone(),
                content.tensor(&mut file, name, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    let mut metadata: Vec<(String, Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    metadata.retain(|(k, _)| k != key);
    metadata.push((key.to_owned(), Value::String(value.to_owned())));
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &candle_core::quantized::QTensor)> =
        tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut std::fs::File::create(out).unwrap(), &md, &ts).unwrap();
}

#[test]
fn an_unknown_architecture_or_tokenizer_is_one_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let llama = common::tiny_llama(dir.path());
    for (key, value, expected) in [
        (
            "general.architecture",
            "phi3",
            "architecture `phi3` is not supported (supported: llama, qwen2, qwen3, gemma3)",
        ),
        (
            "tokenizer.ggml.model",
            "bert",
            "tokenizer model `bert` (supported: `gpt2`, byte-level BPE; `llama`, SentencePiece)",
        ),
    ] {
        let path = dir.path().join(format!("{value}.gguf"));
        with_metadata(&llama, key, value, &path);
        let message = match EmbeddedModel::load(&path, LoadOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{value}: loaded"),
        };
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
}
