//! Shared helpers for the model tests: where the default model is.

use std::path::PathBuf;

/// The default model, from `ASSAY_TEST_MODEL` or the cache that `assay fetch` fills.
pub(crate) fn model_path() -> PathBuf {
    cached_model(
        "ASSAY_TEST_MODEL",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "assay fetch",
    )
}

/// Gemma 3 270M, from `ASSAY_TEST_GEMMA` or the cache that `assay fetch gemma3-270m`
/// fills.
#[allow(dead_code)]
pub(crate) fn gemma_path() -> PathBuf {
    cached_model(
        "ASSAY_TEST_GEMMA",
        "gemma-3-270m-q4_k_m.gguf",
        "assay fetch gemma3-270m",
    )
}

fn cached_model(variable: &str, file: &str, fetch: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(variable) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("ASSAY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/assay"));
    let path = home.join("models").join(file);
    assert!(
        path.exists(),
        "{file} is missing at {}: run `cargo run -p assay -- {}` first (scripts/test does)",
        path.display(),
        fetch.trim_start_matches("assay ")
    );
    path
}

/// The default model with `batch_size` sequences per pass.
#[allow(dead_code)]
pub(crate) fn load_default(batch_size: usize) -> assay_candle::EmbeddedModel {
    assay_candle::EmbeddedModel::load(
        &model_path(),
        assay_candle::LoadOptions {
            batch_size,
            ..assay_candle::LoadOptions::default()
        },
    )
    .unwrap()
}

/// Writes a small random llama-architecture GGUF unlike the default model: 4 query
/// heads over 2 key/value heads, an explicit `output.weight`, F32 attention and Q8_0
/// feed-forward tensors, and the default model's tokenizer.
#[allow(dead_code)]
pub(crate) fn tiny_llama(dir: &std::path::Path) -> PathBuf {
    tiny_model(dir, "llama", &TinyOptions::default())
}

/// Shape of a synthetic model; see [`tiny_model`].
#[allow(dead_code)]
pub(crate) struct TinyOptions {
    /// Written as `attention.sliding_window` (Gemma 3 only).
    pub sliding_window: u32,
    /// Zero feed-forward output weights: candle's stock Gemma 3 gates with SiLU where
    /// Gemma (and llama.cpp) use GELU, so its comparison leaves the block out.
    pub zero_ffn_down: bool,
    /// Every tensor in F32 (no Q8_0 feed-forward), for exact comparisons.
    pub all_f32: bool,
}

impl Default for TinyOptions {
    fn default() -> Self {
        Self {
            sliding_window: 512,
            zero_ffn_down: false,
            all_f32: false,
        }
    }
}

/// Writes a small random GGUF of architecture `arch` (`llama`, `qwen2`, `qwen3`,
/// `gemma3`) with the default model's tokenizer: the tensors and metadata keys that
/// llama.cpp's converter writes for it (biases for Qwen2; per-head query and key norms
/// and heads wider than `hidden / heads` for Qwen3 and Gemma 3; Gemma 3's norms after
/// attention and feed-forward, sliding window and local rotary base).
#[allow(dead_code)]
pub(crate) fn tiny_model(dir: &std::path::Path, arch: &str, options: &TinyOptions) -> PathBuf {
    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    let mut real = std::fs::File::open(model_path()).unwrap();
    let content = gguf_file::Content::read(&mut real).unwrap();
    let vocab = 49_152usize;
    let (hidden, heads, kv_heads, ffn, layers) = (64usize, 4usize, 2usize, 128usize, 2usize);
    let wide_heads = matches!(arch, "qwen3" | "gemma3");
    let head_dim = if wide_heads { 32 } else { hidden / heads };
    let q_dim = heads * head_dim;
    let kv_dim = kv_heads * head_dim;
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ arch.len() as u64;
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
    let all_f32 = options.all_f32;
    let q8 = |t: Tensor| {
        QTensor::quantize(
            &t,
            if all_f32 {
                GgmlDType::F32
            } else {
                GgmlDType::Q8_0
            },
        )
        .unwrap()
    };
    let vector = |t: Tensor| f32t(t.flatten_all().unwrap());
    let ones = |n: usize| {
        QTensor::quantize(
            &Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), f32t(random(vocab, hidden, 1.0))),
        ("output_norm.weight".into(), ones(hidden)),
    ];
    // Gemma ties its output to the embeddings; the others get their own head here.
    if arch != "gemma3" {
        tensors.push(("output.weight".into(), q8(random(vocab, hidden, 1.0))));
    }
    for i in 0..layers {
        let p = format!("blk.{i}");
        // Norm weights away from 1, so that a norm applied twice or not at all shows.
        tensors.push((
            format!("{p}.attn_norm.weight"),
            vector((random(1, hidden, 0.5) + 1.0).unwrap()),
        ));
        tensors.push((
            format!("{p}.ffn_norm.weight"),
            vector((random(1, hidden, 0.5) + 1.0).unwrap()),
        ));
        tensors.push((
            format!("{p}.attn_q.weight"),
            f32t(random(q_dim, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_k.weight"),
            f32t(random(kv_dim, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_v.weight"),
            f32t(random(kv_dim, hidden, 0.5)),
        ));
        tensors.push((
            format!("{p}.attn_output.weight"),
            f32t(random(hidden, q_dim, 0.5)),
        ));
        tensors.push((format!("{p}.ffn_gate.weight"), q8(random(ffn, hidden, 0.5))));
        tensors.push((format!("{p}.ffn_up.weight"), q8(random(ffn, hidden, 0.5))));
        let down = if options.zero_ffn_down {
            Tensor::zeros((hidden, ffn), candle_core::DType::F32, &Device::Cpu).unwrap()
        } else {
            random(hidden, ffn, 0.5)
        };
        tensors.push((format!("{p}.ffn_down.weight"), q8(down)));
        if arch == "qwen2" {
            tensors.push((format!("{p}.attn_q.bias"), vector(random(1, q_dim, 0.5))));
            tensors.push((format!("{p}.attn_k.bias"), vector(random(1, kv_dim, 0.5))));
            tensors.push((format!("{p}.attn_v.bias"), vector(random(1, kv_dim, 0.5))));
        }
        if wide_heads {
            tensors.push((
                format!("{p}.attn_q_norm.weight"),
                vector((random(1, head_dim, 0.5) + 1.0).unwrap()),
            ));
            tensors.push((
                format!("{p}.attn_k_norm.weight"),
                vector((random(1, head_dim, 0.5) + 1.0).unwrap()),
            ));
        }
        if arch == "gemma3" {
            tensors.push((
                format!("{p}.post_attention_norm.weight"),
                vector((random(1, hidden, 0.5) + 1.0).unwrap()),
            ));
            tensors.push((
                format!("{p}.post_ffw_norm.weight"),
                vector((random(1, hidden, 0.5) + 1.0).unwrap()),
            ));
        }
    }
    let key = |k: &str| format!("{arch}.{k}");
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (
            "general.name".into(),
            Value::String(format!("tiny-random-{arch}")),
        ),
        (key("block_count"), Value::U32(layers as u32)),
        (key("embedding_length"), Value::U32(hidden as u32)),
        (key("feed_forward_length"), Value::U32(ffn as u32)),
        (key("attention.head_count"), Value::U32(heads as u32)),
        (key("attention.head_count_kv"), Value::U32(kv_heads as u32)),
        (key("context_length"), Value::U32(256)),
        (
            key("rope.freq_base"),
            Value::F32(if arch == "llama" {
                10_000.0
            } else {
                1_000_000.0
            }),
        ),
        (key("rope.dimension_count"), Value::U32(head_dim as u32)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
    ];
    if wide_heads {
        metadata.push((key("attention.key_length"), Value::U32(head_dim as u32)));
        metadata.push((key("attention.value_length"), Value::U32(head_dim as u32)));
    }
    if arch == "gemma3" {
        metadata.push((
            key("attention.sliding_window"),
            Value::U32(options.sliding_window),
        ));
        // llama.cpp's key, and the one candle's stock model reads.
        metadata.push((key("rope.freq_base_swa"), Value::F32(10_000.0)));
        metadata.push((key("rope.local_freq_base"), Value::F32(10_000.0)));
        // One sliding layer then one global one, so both kinds run.
        metadata.push((key("attention.sliding_window_pattern"), Value::U32(2)));
        metadata.push((key("attention.sliding_window_type"), Value::U32(2)));
    }
    for (k, v) in &content.metadata {
        if k.starts_with("tokenizer.ggml.") {
            metadata.push((k.clone(), v.clone()));
        }
    }
    let name = if arch == "llama" {
        "tiny-llama".to_owned()
    } else {
        format!("tiny-{arch}-w{}", options.sliding_window)
    };
    let path = dir.join(format!("{name}.gguf"));
    let mut out = std::fs::File::create(&path).unwrap();
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut out, &md, &ts).unwrap();
    path
}
