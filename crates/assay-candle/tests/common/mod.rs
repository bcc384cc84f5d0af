//! Shared helpers for the model tests: where the default model is.

use std::path::PathBuf;

/// The default model, from `ASSAY_TEST_MODEL` or the cache that `assay fetch` fills.
pub(crate) fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ASSAY_TEST_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("ASSAY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/assay"));
    let path = home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "the default model is missing at {}: run `cargo run -p assay -- fetch` first (scripts/test does)",
        path.display()
    );
    path
}

/// Writes a small random llama-architecture GGUF unlike the default model: 4 query
/// heads over 2 key/value heads, an explicit `output.weight`, F32 attention and Q8_0
/// feed-forward tensors, and the default model's tokenizer.
#[allow(dead_code)]
pub(crate) fn tiny_llama(dir: &std::path::Path) -> PathBuf {
    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    let mut real = std::fs::File::open(model_path()).unwrap();
    let content = gguf_file::Content::read(&mut real).unwrap();
    let vocab = 49_152usize;
    let (hidden, heads, kv_heads, ffn, layers) = (64usize, 4usize, 2usize, 128usize, 2usize);
    let head_dim = hidden / heads;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = |rows: usize, cols: usize, scale: f32| {
        let data: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            })
            .collect();
        Tensor::from_vec(data, (rows, cols), &Device::Cpu).unwrap()
    };
    let f32t = |t: Tensor| QTensor::quantize(&t, GgmlDType::F32).unwrap();
    let q8 = |t: Tensor| QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
    let ones = |n: usize| {
        QTensor::quantize(
            &Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), f32t(random(vocab, hidden, 1.0))),
        ("output.weight".into(), q8(random(vocab, hidden, 1.0))),
        ("output_norm.weight".into(), ones(hidden)),
    ];
    for i in 0..layers {
        let p = format!("blk.{i}");
        tensors.push((format!("{p}.attn_norm.weight"), ones(hidden)));
        tensors.push((format!("{p}.ffn_norm.weight"), ones(hidden)));
        tensors.push((
            format!("{p}.attn_q.weight"),
            f32t(random(hidden, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_k.weight"),
            f32t(random(kv_heads * head_dim, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_v.weight"),
            f32t(random(kv_heads * head_dim, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_output.weight"),
            f32t(random(hidden, hidden, 0.5)),
        ));
        tensors.push((format!("{p}.ffn_gate.weight"), q8(random(ffn, hidden, 0.5))));
        tensors.push((format!("{p}.ffn_up.weight"), q8(random(ffn, hidden, 0.5))));
        tensors.push((format!("{p}.ffn_down.weight"), q8(random(hidden, ffn, 0.5))));
    }
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        (
            "general.name".into(),
            Value::String("tiny-random-llama".into()),
        ),
        ("llama.block_count".into(), Value::U32(layers as u32)),
        ("llama.embedding_length".into(), Value::U32(hidden as u32)),
        ("llama.feed_forward_length".into(), Value::U32(ffn as u32)),
        (
            "llama.attention.head_count".into(),
            Value::U32(heads as u32),
        ),
        (
            "llama.attention.head_count_kv".into(),
            Value::U32(kv_heads as u32),
        ),
        ("llama.context_length".into(), Value::U32(256)),
        ("llama.rope.freq_base".into(), Value::F32(10_000.0)),
        (
            "llama.rope.dimension_count".into(),
            Value::U32(head_dim as u32),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
    ];
    for (k, v) in &content.metadata {
        if k.starts_with("tokenizer.ggml.") {
            metadata.push((k.clone(), v.clone()));
        }
    }
    let path = dir.join("tiny-llama.gguf");
    let mut out = std::fs::File::create(&path).unwrap();
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut out, &md, &ts).unwrap();
    path
}
