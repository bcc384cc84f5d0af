//! The decoder forward pass, written for scoring, for the GGUF architectures assay runs
//! in-process: `llama` (SmolLM2, Llama 2/3, Mistral, TinyLlama), `qwen2` (QKV bias),
//! `qwen3` (per-head QK norm) and `gemma3` (QK norm, norms after attention and the
//! feed-forward block, GELU gating, sliding-window layers with their own rotary base,
//! scaled embeddings).
//!
//! candle's stock models return only the last position's logits and keep their KV cache
//! inside the model. An evaluator needs logits at every continuation position and one
//! context's cache shared by all the choices of a question, so this file keeps the
//! weights immutable ([`Decoder`]) and the cache outside ([`KvCache`]; cloning it is
//! cheap, its tensors are reference-counted). [`Decoder::forward_segments`] runs many
//! sequences in one pass: a question's context as one segment and each choice as a
//! segment that continues it.
//!
//! Weights are held in up to two formats chosen at load ([`Weights`]): candle has no SIMD
//! kernel for Q4_1 or Q5_0, so the shipped blocks are converted once, to f32 (fast for
//! many positions at once: scoring and prompt processing) and to Q8_0 (fast for one
//! position: decoding).

use crate::gguf::GgufFile;
use crate::int8::Int8Matrix;
use crate::{Error, Result};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use std::sync::Arc;

/// The GGUF architectures the decoder runs (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

impl Architecture {
    pub const SUPPORTED: &'static str = "llama, qwen2, qwen3, gemma3";

    fn from_gguf(name: &str) -> Option<Self> {
        Some(match name {
            "llama" => Self::Llama,
            "qwen2" => Self::Qwen2,
            "qwen3" => Self::Qwen3,
            "gemma3" => Self::Gemma3,
            _ => return None,
        })
    }
}

/// The gate's non-linearity in the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Silu,
    /// GELU with the tanh approximation (Gemma's `gelu_pytorch_tanh`, ggml's `gelu`).
    GeluTanh,
}

/// How rotary embeddings pair a head's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RopeStyle {
    /// Adjacent pairs (GGUF llama weights are permuted for it).
    Interleaved,
    /// Dimension `i` with `i + head_dim / 2` (GPT-NeoX; Qwen and Gemma).
    Halves,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecoderConfig {
    pub architecture: Architecture,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub hidden: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub rms_eps: f64,
    pub rope_base: f64,
    pub rope_style: RopeStyle,
    pub activation: Activation,
    /// Scores are `q . k * attention_scale`.
    pub attention_scale: f64,
    /// Embeddings are multiplied by this (Gemma: the square root of the width).
    pub embedding_scale: Option<f64>,
    /// Layers that attend only to the last `window` positions, with their rotary base.
    pub sliding_window: Option<SlidingWindow>,
    /// Longest sequence the model was trained on, from the GGUF.
    pub context_length: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlidingWindow {
    pub window: usize,
    pub rope_base: f64,
    /// Which layers slide (the others attend to every position).
    pub layers: Vec<bool>,
}

impl DecoderConfig {
    fn is_sliding(&self, layer: usize) -> bool {
        self.sliding_window
            .as_ref()
            .is_some_and(|s| s.layers.get(layer).copied().unwrap_or(false))
    }

    /// How many positions back layer `layer` sees, its own included (`usize::MAX`: all).
    fn window(&self, layer: usize) -> usize {
        match &self.sliding_window {
            Some(s) if self.is_sliding(layer) => s.window,
            _ => usize::MAX,
        }
    }
}

/// How one set of the model's matrices is stored in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WeightStorage {
    /// Dequantized to f32: matrix products go through `gemm`.
    F32,
    /// Re-quantized to Q8_0, which has AVX2/NEON kernels.
    Q8_0,
    /// As stored in the file (slow for Q4_1, which has no SIMD kernel in candle).
    Native,
}

impl Weights {
    /// Bytes of matrices a decoding step reads (every layer's and the output head), for
    /// comparing a decoding speed with the memory bandwidth.
    pub(crate) fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
            .chain([&self.head])
            .map(Linear::bytes)
            .sum()
    }
}

/// One weight matrix in the storage chosen for it.
pub(crate) enum Linear {
    /// candle's: f32 through `gemm`, or the file's own quantized blocks.
    Candle(QMatMul),
    /// 8-bit weights with f32 scales and AVX2 dot products ([`Int8Matrix`]).
    Int8(Int8Matrix),
}

impl Linear {
    fn bytes(&self) -> usize {
        match self {
            Linear::Int8(m) => m.bytes(),
            Linear::Candle(QMatMul::QTensor(q)) => q.storage_size_in_bytes(),
            Linear::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                t.elem_count() * t.dtype().size_in_bytes()
            }
        }
    }
}

fn convert(q: QTensor, storage: WeightStorage) -> Result<Linear> {
    let dev = Device::Cpu;
    Ok(match storage {
        WeightStorage::F32 => Linear::Candle(QMatMul::Tensor(q.dequantize(&dev)?)),
        WeightStorage::Q8_0 => {
            let (rows, cols) = q.shape().dims2()?;
            let values = q.dequantize(&dev)?;
            if cols.is_multiple_of(32) {
                let data: Vec<f32> = values.flatten_all()?.to_vec1()?;
                Linear::Int8(Int8Matrix::from_f32(&data, rows, cols))
            } else {
                // Blocks of 32 do not fit: f32.
                Linear::Candle(QMatMul::Tensor(values))
            }
        }
        WeightStorage::Native => Linear::Candle(match q.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                QMatMul::Tensor(q.dequantize(&dev)?)
            }
            _ => QMatMul::QTensor(Arc::new(q)),
        }),
    })
}

struct LayerMatrices {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The model's matrices in one storage format.
pub(crate) struct Weights {
    pub storage: WeightStorage,
    layers: Vec<LayerMatrices>,
    head: Linear,
}

/// A layer's vectors: norms (and Qwen2's biases), kept in f32 whatever the weights' format.
struct LayerVectors {
    attn_norm: Tensor,
    ffn_norm: Tensor,
    /// Per-head norms of queries and keys (Qwen3, Gemma 3).
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    /// Norms of the attention and feed-forward outputs before the residual (Gemma 3).
    post_attn_norm: Option<Tensor>,
    post_ffn_norm: Option<Tensor>,
    /// Biases of the query, key and value projections (Qwen2).
    qkv_bias: Option<[Tensor; 3]>,
}

/// A layer's vectors as plain values, for the decoding step.
struct PlainVectors {
    attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    post_attn_norm: Option<Vec<f32>>,
    post_ffn_norm: Option<Vec<f32>>,
    /// Query, key and value biases one after the other.
    qkv_bias: Option<Vec<f32>>,
}

impl PlainVectors {
    fn new(v: &LayerVectors) -> candle_core::Result<Self> {
        let plain = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let opt = |t: &Option<Tensor>| t.as_ref().map(plain).transpose();
        Ok(Self {
            attn_norm: plain(&v.attn_norm)?,
            ffn_norm: plain(&v.ffn_norm)?,
            q_norm: opt(&v.q_norm)?,
            k_norm: opt(&v.k_norm)?,
            post_attn_norm: opt(&v.post_attn_norm)?,
            post_ffn_norm: opt(&v.post_ffn_norm)?,
            qkv_bias: v
                .qkv_bias
                .as_ref()
                .map(|b| -> candle_core::Result<Vec<f32>> {
                    Ok([plain(&b[0])?, plain(&b[1])?, plain(&b[2])?].concat())
                })
                .transpose()?,
        })
    }
}

/// Rotary tables, `(positions, head_dim / 2)` each.
struct Rope {
    cos: Tensor,
    sin: Tensor,
    /// The same tables as plain rows, for the decoding step.
    cos_rows: Vec<f32>,
    sin_rows: Vec<f32>,
}

/// A decoder model, immutable once loaded; share it between threads.
pub(crate) struct Decoder {
    pub config: DecoderConfig,
    embedding: Tensor,
    layers: Vec<LayerVectors>,
    plain_layers: Vec<PlainVectors>,
    output_norm: Tensor,
    plain_output_norm: Vec<f32>,
    rope: Rope,
    /// Tables of the sliding-window layers when their base differs.
    rope_local: Option<Rope>,
}

/// Keys and values of the positions processed so far, per layer, shaped
/// `(1, kv_heads, positions, head_dim)`. Cloning is cheap (tensors are shared).
#[derive(Clone)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub(crate) fn new(config: &DecoderConfig) -> Self {
        Self {
            layers: vec![None; config.n_layer],
            len: 0,
        }
    }

    /// Number of positions cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first `n` positions only (a view: nothing is copied).
    pub(crate) fn truncate(&self, n: usize) -> Result<Self> {
        assert!(
            n <= self.len,
            "cannot truncate {} positions to {n}",
            self.len
        );
        if n == 0 {
            return Ok(Self {
                layers: vec![None; self.layers.len()],
                len: 0,
            });
        }
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|(k, v)| -> Result<_> { Ok((k.narrow(2, 0, n)?, v.narrow(2, 0, n)?)) })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers, len: n })
    }

    /// This cache followed by a segment's new keys and values.
    pub(crate) fn extend(&self, new: &SegmentKv) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .zip(&new.layers)
            .map(|(old, (k, v))| -> Result<_> {
                Ok(Some(match old {
                    Some((ok, ov)) => (Tensor::cat(&[ok, k], 2)?, Tensor::cat(&[ov, v], 2)?),
                    None => (k.clone(), v.clone()),
                }))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            len: self.len + new.len,
        })
    }
}

/// Keys and values of one sequence being decoded, in buffers written in place: a step
/// writes one position instead of copying the cache. The buffers start with room for
/// the prompt and some answer and double when full (up to the sequence's limit), so a
/// request for thousands of tokens that ends after ten does not hold memory for all.
pub(crate) struct DecodeCache {
    /// Per layer, `[kv_head][position][dim]` with room for `room` positions a head.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
    room: usize,
    /// Most positions the sequence may reach.
    capacity: usize,
    heads: usize,
    dim: usize,
}

/// Positions of answer a new cache has room for before it first grows.
const FIRST_ROOM: usize = 128;

impl DecodeCache {
    /// The cache of a prompt just processed (`prompt` holds its keys and values), which
    /// may grow to `capacity` positions in all.
    pub(crate) fn from_prompt(
        config: &DecoderConfig,
        prompt: &KvCache,
        capacity: usize,
    ) -> Result<Self> {
        let (heads, dim, len) = (config.n_kv_head, config.head_dim, prompt.len());
        let capacity = capacity.max(len);
        let room = capacity.min(len + FIRST_ROOM);
        let mut keys = Vec::with_capacity(config.n_layer);
        let mut values = Vec::with_capacity(config.n_layer);
        for layer in &prompt.layers {
            let (k, v) = layer
                .as_ref()
                .ok_or_else(|| candle_core::Error::Msg("an empty prompt has no cache".into()))?;
            let data = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1()?) };
            keys.push(relayout(&data(k)?, heads, dim, len, len, room));
            values.push(relayout(&data(v)?, heads, dim, len, len, room));
        }
        Ok(Self {
            keys,
            values,
            len,
            room,
            capacity,
            heads,
            dim,
        })
    }

    /// Positions cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Most positions the sequence may reach.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Makes room for one more position (doubling the buffers when full).
    fn reserve_one(&mut self) {
        if self.len < self.room {
            return;
        }
        let room = (self.room * 2).clamp(self.len + 1, self.capacity.max(self.len + 1));
        let (heads, dim, len, old) = (self.heads, self.dim, self.len, self.room);
        for buf in self.keys.iter_mut().chain(self.values.iter_mut()) {
            *buf = relayout(buf, heads, dim, len, old, room);
        }
        self.room = room;
    }
}

/// `[head][position][dim]` data with `from` positions a head, copied into a buffer with
/// `to` positions a head (the first `len` of each).
fn relayout(
    data: &[f32],
    heads: usize,
    dim: usize,
    len: usize,
    from: usize,
    to: usize,
) -> Vec<f32> {
    let mut buf = vec![0f32; heads * to * dim];
    for h in 0..heads {
        buf[h * to * dim..][..len * dim].copy_from_slice(&data[h * from * dim..][..len * dim]);
    }
    buf
}

/// A run of new tokens for [`Decoder::forward_segments`]: it continues `past`, then (if
/// any) the tokens of an earlier segment of the same pass.
pub(crate) struct Segment<'a> {
    pub tokens: &'a [u32],
    pub past: &'a KvCache,
    /// Index of an earlier segment (with the same `past` and no parent of its own) whose
    /// tokens come between `past` and this segment's.
    pub parent: Option<usize>,
    /// Logits are returned for positions `logits_from..tokens.len()`.
    pub logits_from: usize,
}

/// The keys and values a segment added, per layer, shaped `(1, kv_heads, len, head_dim)`.
pub(crate) struct SegmentKv {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

pub(crate) struct SegmentOutput {
    /// `(n, vocab)` logits for positions `logits_from..`, if any were asked for.
    pub logits: Option<Tensor>,
    pub kv: SegmentKv,
}

impl Decoder {
    /// Reads the weights, returning the model and its matrices in each requested storage.
    pub(crate) fn load(
        file: &mut GgufFile,
        storages: &[WeightStorage],
    ) -> Result<(Self, Vec<Weights>)> {
        let name = file.string("general.architecture")?.to_owned();
        let architecture =
            Architecture::from_gguf(&name).ok_or_else(|| Error::UnsupportedArchitecture {
                path: file.path.clone(),
                arch: name.clone(),
                supported: Architecture::SUPPORTED,
            })?;
        let key = |k: &str| format!("{name}.{k}");
        let n_head = file.uint(&key("attention.head_count"))? as usize;
        let hidden = file.uint(&key("embedding_length"))? as usize;
        if n_head == 0 || hidden == 0 {
            return Err(Error::InvalidGguf {
                path: file.path.clone(),
                message: "no attention heads or a width of 0".into(),
            });
        }
        // Qwen3 and Gemma 3 heads are not hidden / heads wide.
        let head_dim = file
            .opt_uint(&key("attention.key_length"))
            .map_or(hidden / n_head, |v| v as usize);
        let value_dim = file
            .opt_uint(&key("attention.value_length"))
            .map_or(head_dim, |v| v as usize);
        if value_dim != head_dim || head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(Error::Unsupported {
                path: file.path.clone(),
                message: format!("attention heads of {head_dim} key and {value_dim} value dims"),
            });
        }
        let rope_dim = file
            .opt_uint(&key("rope.dimension_count"))
            .map_or(head_dim, |v| v as usize);
        if rope_dim != head_dim {
            return Err(Error::Unsupported {
                path: file.path.clone(),
                message: format!("partial rotary embeddings ({rope_dim} of {head_dim} dims)"),
            });
        }
        if let Some(kind) = file.opt_string(&key("rope.scaling.type"))
            && kind != "none"
            && file.opt_float(&key("rope.scaling.factor")).unwrap_or(1.0) != 1.0
        {
            return Err(Error::Unsupported {
                path: file.path.clone(),
                message: format!("rotary scaling `{kind}`"),
            });
        }
        let embedding_q = file.tensor("token_embd.weight")?;
        let vocab = embedding_q.shape().dims()[0];
        let gemma = architecture == Architecture::Gemma3;
        let n_layer = file.uint(&key("block_count"))? as usize;
        let sliding_window = match file.opt_uint(&key("attention.sliding_window")) {
            Some(window) if gemma && window > 0 => {
                // llama.cpp's rule: a list of flags, or every `pattern`-th layer global
                // (the last of each run; 6 for Gemma 3).
                let pattern_key = key("attention.sliding_window_pattern");
                let layers = match file.bools(&pattern_key) {
                    Some(flags) if flags.len() == n_layer => flags,
                    Some(flags) => {
                        return Err(Error::InvalidGguf {
                            path: file.path.clone(),
                            message: format!(
                                "`{pattern_key}` has {} entries for {n_layer} layers",
                                flags.len()
                            ),
                        });
                    }
                    None => {
                        let n = file.opt_uint(&pattern_key).map_or(6, |v| v as usize);
                        (0..n_layer).map(|l| n == 0 || l % n < n - 1).collect()
                    }
                };
                Some(SlidingWindow {
                    window: window as usize,
                    rope_base: file
                        .opt_float(&key("rope.freq_base_swa"))
                        .or_else(|| file.opt_float(&key("rope.local_freq_base")))
                        .unwrap_or(10_000.0),
                    layers,
                })
            }
            _ => None,
        };
        let config = DecoderConfig {
            architecture,
            n_layer,
            n_head,
            n_kv_head: file
                .opt_uint(&key("attention.head_count_kv"))
                .map_or(n_head, |v| v as usize),
            hidden,
            head_dim,
            vocab,
            rms_eps: file
                .opt_float(&key("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5),
            rope_base: file
                .opt_float(&key("rope.freq_base"))
                .unwrap_or(match architecture {
                    Architecture::Gemma3 => 1_000_000.0,
                    _ => 10_000.0,
                }),
            rope_style: match architecture {
                Architecture::Llama => RopeStyle::Interleaved,
                _ => RopeStyle::Halves,
            },
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            attention_scale: 1.0 / (head_dim as f64).sqrt(),
            embedding_scale: gemma.then(|| (hidden as f32).sqrt() as f64),
            sliding_window,
            context_length: file
                .opt_uint(&key("context_length"))
                .map_or(2048, |v| v as usize),
        };
        if config.n_kv_head == 0 || !config.n_head.is_multiple_of(config.n_kv_head) {
            return Err(Error::InvalidGguf {
                path: file.path.clone(),
                message: format!(
                    "{} attention heads are not a multiple of {} key/value heads",
                    config.n_head, config.n_kv_head
                ),
            });
        }
        if file
            .opt_float(&key("final_logit_softcapping"))
            .is_some_and(|c| c != 0.0)
            || file
                .opt_float(&key("attn_logit_softcapping"))
                .is_some_and(|c| c != 0.0)
        {
            return Err(Error::Unsupported {
                path: file.path.clone(),
                message: "logit soft-capping (Gemma 2)".into(),
            });
        }
        let dev = Device::Cpu;
        let embedding = embedding_q.dequantize(&dev)?;
        let output_norm = file.tensor("output_norm.weight")?.dequantize(&dev)?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut vector = |name: &str| -> Result<Tensor> {
                Ok(file.tensor(&format!("blk.{i}.{name}"))?.dequantize(&dev)?)
            };
            let qk_norm = matches!(architecture, Architecture::Qwen3 | Architecture::Gemma3);
            layers.push(LayerVectors {
                attn_norm: vector("attn_norm.weight")?,
                ffn_norm: vector("ffn_norm.weight")?,
                q_norm: qk_norm.then(|| vector("attn_q_norm.weight")).transpose()?,
                k_norm: qk_norm.then(|| vector("attn_k_norm.weight")).transpose()?,
                post_attn_norm: gemma
                    .then(|| vector("post_attention_norm.weight"))
                    .transpose()?,
                post_ffn_norm: gemma.then(|| vector("post_ffw_norm.weight")).transpose()?,
                qkv_bias: if architecture == Architecture::Qwen2 {
                    Some([
                        vector("attn_q.bias")?,
                        vector("attn_k.bias")?,
                        vector("attn_v.bias")?,
                    ])
                } else {
                    None
                },
            });
        }
        // Tied embeddings (SmolLM2, Gemma) have no `output.weight`.
        let head_name = if file.has_tensor("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let mut sets = Vec::new();
        for &storage in storages {
            let mut matrices = Vec::with_capacity(config.n_layer);
            for i in 0..config.n_layer {
                let mut m = |name: &str| -> Result<Linear> {
                    convert(file.tensor(&format!("blk.{i}.{name}.weight"))?, storage)
                };
                matrices.push(LayerMatrices {
                    wq: m("attn_q")?,
                    wk: m("attn_k")?,
                    wv: m("attn_v")?,
                    wo: m("attn_output")?,
                    gate: m("ffn_gate")?,
                    up: m("ffn_up")?,
                    down: m("ffn_down")?,
                });
            }
            let head = convert(file.tensor(head_name)?, storage)?;
            sets.push(Weights {
                storage,
                layers: matrices,
                head,
            });
        }
        let rope = rope_tables(&config, config.rope_base)?;
        let rope_local = config
            .sliding_window
            .as_ref()
            .filter(|s| s.rope_base != config.rope_base)
            .map(|s| rope_tables(&config, s.rope_base))
            .transpose()?;
        Ok((
            Self {
                config,
                embedding,
                plain_layers: layers
                    .iter()
                    .map(PlainVectors::new)
                    .collect::<candle_core::Result<_>>()?,
                layers,
                plain_output_norm: output_norm.to_vec1()?,
                output_norm,
                rope,
                rope_local,
            },
            sets,
        ))
    }

    /// Runs one sequence on `cache`, extending it, and returns the logits of positions
    /// `logits_from..tokens.len()` as `(n, vocab)` (`None` when there are none).
    pub(crate) fn forward(
        &self,
        weights: &Weights,
        tokens: &[u32],
        cache: &mut KvCache,
        logits_from: usize,
    ) -> Result<Option<Tensor>> {
        let mut out = self.forward_segments(
            weights,
            &[Segment {
                tokens,
                past: cache,
                parent: None,
                logits_from,
            }],
        )?;
        let out = out.pop().expect("one segment in, one out");
        *cache = cache.extend(&out.kv)?;
        Ok(out.logits)
    }

    /// One decoding step for several sequences: `tokens[i]` is the next token of the
    /// sequence cached in `caches[i]`, which gains its keys and values. Leaves the
    /// `(sequences, vocab)` logits of the next position in `logits`, whose memory is
    /// reused from step to step (with a large vocabulary it is tens of megabytes).
    ///
    /// Plain loops over f32 values: each layer's products are two parallel passes
    /// (queries, keys and values together; gate and up together) plus two, and
    /// attention runs per sequence over its own buffer, in a fixed order. Each
    /// sequence's numbers do not depend on the others: the 8-bit products are row by
    /// row, and f32 weights go through the same padded products as scoring.
    pub(crate) fn decode_step(
        &self,
        weights: &Weights,
        tokens: &[u32],
        caches: &mut [&mut DecodeCache],
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        let cfg = &self.config;
        let (b, hidden, hd) = (tokens.len(), cfg.hidden, cfg.head_dim);
        assert_eq!(b, caches.len(), "one cache per token");
        for c in caches.iter_mut() {
            if c.len >= c.capacity || c.len >= cfg.context_length {
                return Err(candle_core::Error::Msg(format!(
                    "sequence of {} positions is full (room for {}, context {})",
                    c.len + 1,
                    c.capacity,
                    cfg.context_length
                ))
                .into());
            }
            c.reserve_one();
        }
        let (n_head, n_kv) = (cfg.n_head, cfg.n_kv_head);
        let (q_dim, kv_dim) = (n_head * hd, n_kv * hd);
        let group = n_head / n_kv;
        let eps = cfg.rms_eps as f32;
        let ids = Tensor::from_vec(tokens.to_vec(), b, &Device::Cpu)?;
        let mut x: Vec<f32> = self
            .embedding
            .index_select(&ids, 0)?
            .flatten_all()?
            .to_vec1()?;
        if let Some(scale) = cfg.embedding_scale {
            let scale = scale as f32;
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let mut attended = vec![0f32; b * q_dim];
        for (layer, (m, v)) in weights.layers.iter().zip(&self.plain_layers).enumerate() {
            let h = rms_norm_rows(&x, &v.attn_norm, hidden, eps);
            let mut qkv = products(&[&m.wq, &m.wk, &m.wv], &h, b)?.into_iter();
            let (mut q, mut k, mut vals) = (
                qkv.next().expect("queries"),
                qkv.next().expect("keys"),
                qkv.next().expect("values"),
            );
            if let Some(bias) = &v.qkv_bias {
                for (rows, bias, width) in [
                    (&mut q, &bias[..q_dim], q_dim),
                    (&mut k, &bias[q_dim..q_dim + kv_dim], kv_dim),
                    (&mut vals, &bias[q_dim + kv_dim..], kv_dim),
                ] {
                    for row in rows.chunks_exact_mut(width) {
                        row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
                    }
                }
            }
            if let Some(w) = &v.q_norm {
                q = rms_norm_rows(&q, w, hd, eps);
            }
            if let Some(w) = &v.k_norm {
                k = rms_norm_rows(&k, w, hd, eps);
            }
            let rope = match (&self.rope_local, cfg.is_sliding(layer)) {
                (Some(local), true) => local,
                _ => &self.rope,
            };
            for (s, cache) in caches.iter().enumerate() {
                let pos = cache.len;
                for head in q[s * q_dim..][..q_dim].chunks_exact_mut(hd) {
                    rotate(head, rope, pos, cfg.rope_style);
                }
                for head in k[s * kv_dim..][..kv_dim].chunks_exact_mut(hd) {
                    rotate(head, rope, pos, cfg.rope_style);
                }
            }
            for (s, cache) in caches.iter_mut().enumerate() {
                let (len, cap) = (cache.len, cache.room);
                for g in 0..n_kv {
                    let src = s * kv_dim + g * hd;
                    let dst = (g * cap + len) * hd;
                    cache.keys[layer][dst..dst + hd].copy_from_slice(&k[src..src + hd]);
                    cache.values[layer][dst..dst + hd].copy_from_slice(&vals[src..src + hd]);
                }
            }
            let window = cfg.window(layer);
            let scale = cfg.attention_scale as f32;
            let caches_ref: &[&mut DecodeCache] = caches;
            let attend = |(i, out): (usize, &mut [f32])| {
                let (s, head) = (i / n_head, i % n_head);
                let cache = &caches_ref[s];
                let keys_seen = cache.len + 1;
                let first = keys_seen.saturating_sub(window);
                let base = (head / group) * cache.room * hd;
                attend_one(
                    &q[s * q_dim + head * hd..][..hd],
                    &cache.keys[layer][base..],
                    &cache.values[layer][base..],
                    first..keys_seen,
                    hd,
                    scale,
                    out,
                );
            };
            if b * n_head * caches[0].len >= 1 << 14 {
                use rayon::prelude::*;
                attended.par_chunks_mut(hd).enumerate().for_each(attend);
            } else {
                attended.chunks_mut(hd).enumerate().for_each(attend);
            }
            let mut o = products(&[&m.wo], &attended, b)?.remove(0);
            if let Some(w) = &v.post_attn_norm {
                o = rms_norm_rows(&o, w, hidden, eps);
            }
            x.iter_mut().zip(&o).for_each(|(x, o)| *x += o);
            let h = rms_norm_rows(&x, &v.ffn_norm, hidden, eps);
            let mut gu = products(&[&m.gate, &m.up], &h, b)?.into_iter();
            let (mut g, u) = (gu.next().expect("gate"), gu.next().expect("up"));
            match cfg.activation {
                Activation::Silu => g
                    .iter_mut()
                    .zip(&u)
                    .for_each(|(g, u)| *g = *g / (1.0 + (-*g).exp()) * u),
                Activation::GeluTanh => g.iter_mut().zip(&u).for_each(|(g, u)| {
                    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
                    let x = *g;
                    *g = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh()) * u
                }),
            }
            let mut d = products(&[&m.down], &g, b)?.remove(0);
            if let Some(w) = &v.post_ffn_norm {
                d = rms_norm_rows(&d, w, hidden, eps);
            }
            x.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
        }
        for c in caches.iter_mut() {
            c.len += 1;
        }
        let h = rms_norm_rows(&x, &self.plain_output_norm, hidden, eps);
        match &weights.head {
            Linear::Int8(head) => Int8Matrix::matmul_many_into(&[head], &h, b, &mut [logits]),
            other => *logits = products(&[other], &h, b)?.remove(0),
        }
        Ok(())
    }

    /// Runs several segments in one pass: the rows of all segments go through the
    /// linear layers together (large products), while attention runs per segment over
    /// exactly its own keys, so a segment's numbers do not depend on its companions.
    pub(crate) fn forward_segments(
        &self,
        weights: &Weights,
        segments: &[Segment<'_>],
    ) -> Result<Vec<SegmentOutput>> {
        let cfg = &self.config;
        let group = cfg.n_head / cfg.n_kv_head;
        // Where each segment's rows start, and the position of its first token.
        let mut row_start = Vec::with_capacity(segments.len());
        let mut first_pos = Vec::with_capacity(segments.len());
        let mut rows = 0;
        for (i, seg) in segments.iter().enumerate() {
            assert!(!seg.tokens.is_empty(), "segments have tokens");
            let parent_len = match seg.parent {
                Some(p) => {
                    assert!(
                        p < i && segments[p].parent.is_none(),
                        "parents come first and have none"
                    );
                    assert!(
                        std::ptr::eq(segments[p].past, seg.past),
                        "a parent shares its child's past"
                    );
                    segments[p].tokens.len()
                }
                None => 0,
            };
            row_start.push(rows);
            first_pos.push(seg.past.len + parent_len);
            rows += seg.tokens.len();
        }
        let end = first_pos
            .iter()
            .zip(segments)
            .map(|(p, s)| p + s.tokens.len())
            .max()
            .unwrap_or(0);
        if end > cfg.context_length {
            return Err(candle_core::Error::Msg(format!(
                "sequence of {end} positions exceeds the model's context of {}",
                cfg.context_length
            ))
            .into());
        }
        let flat: Vec<u32> = segments
            .iter()
            .flat_map(|s| s.tokens.iter().copied())
            .collect();
        let positions: Vec<u32> = segments
            .iter()
            .zip(&first_pos)
            .flat_map(|(s, &p)| (p..p + s.tokens.len()).map(|x| x as u32))
            .collect();
        let ids = Tensor::from_vec(flat, rows, &Device::Cpu)?;
        let positions = Tensor::from_vec(positions, rows, &Device::Cpu)?;
        let select = |r: &Rope| -> candle_core::Result<(Tensor, Tensor)> {
            Ok((
                r.cos.index_select(&positions, 0)?,
                r.sin.index_select(&positions, 0)?,
            ))
        };
        let rope = select(&self.rope)?;
        let rope_local = self.rope_local.as_ref().map(select).transpose()?;
        let mut x = self.embedding.index_select(&ids, 0)?; // (rows, hidden)
        if let Some(scale) = cfg.embedding_scale {
            x = (x * scale)?;
        }
        let mut new_kv: Vec<Vec<(Tensor, Tensor)>> =
            vec![Vec::with_capacity(cfg.n_layer); segments.len()];
        // One mask per segment for the global layers, and one for the sliding ones.
        let masks = |window: usize| -> Result<Vec<(Tensor, usize)>> {
            segments
                .iter()
                .zip(&first_pos)
                .map(|(s, &p)| {
                    let width = padded_keys(p + s.tokens.len());
                    Ok((causal_mask(s.tokens.len(), p, group, width, window)?, width))
                })
                .collect()
        };
        let global_masks = masks(usize::MAX)?;
        let local_masks = match &cfg.sliding_window {
            Some(s) => Some(masks(s.window)?),
            None => None,
        };
        let eps = cfg.rms_eps as f32;

        for (layer, (m, vectors)) in weights.layers.iter().zip(&self.layers).enumerate() {
            let sliding = cfg.is_sliding(layer);
            let h = candle_nn::ops::rms_norm(&x, &vectors.attn_norm, eps)?;
            let heads = |w: &Linear,
                         bias: Option<&Tensor>,
                         norm: Option<&Tensor>,
                         n: usize|
             -> candle_core::Result<Tensor> {
                let mut y = linear(w, &h)?;
                if let Some(b) = bias {
                    y = y.broadcast_add(b)?;
                }
                let y = y
                    .reshape((1, rows, n, cfg.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?;
                match norm {
                    Some(w) => candle_nn::ops::rms_norm(&y, w, eps),
                    None => Ok(y),
                }
            };
            let (cos, sin) = match (&rope_local, sliding) {
                (Some(local), true) => local,
                _ => &rope,
            };
            let rotate = |t: &Tensor| match cfg.rope_style {
                RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(t, cos, sin),
                RopeStyle::Halves => candle_nn::rotary_emb::rope(t, cos, sin),
            };
            let bias = |i: usize| vectors.qkv_bias.as_ref().map(|b| &b[i]);
            let q = rotate(&heads(&m.wq, bias(0), vectors.q_norm.as_ref(), cfg.n_head)?)?;
            let k = rotate(&heads(
                &m.wk,
                bias(1),
                vectors.k_norm.as_ref(),
                cfg.n_kv_head,
            )?)?;
            let v = heads(&m.wv, bias(2), None, cfg.n_kv_head)?;
            let masks = match (&local_masks, sliding) {
                (Some(local), true) => local,
                _ => &global_masks,
            };
            let mut outputs = Vec::with_capacity(segments.len());
            for (i, seg) in segments.iter().enumerate() {
                let n = seg.tokens.len();
                let take = |t: &Tensor| t.narrow(2, row_start[i], n)?.contiguous();
                let (ki, vi) = (take(&k)?, take(&v)?);
                let mut ks: Vec<&Tensor> = Vec::new();
                let mut vs: Vec<&Tensor> = Vec::new();
                if let Some((pk, pv)) = &seg.past.layers[layer] {
                    ks.push(pk);
                    vs.push(pv);
                }
                if let Some(p) = seg.parent {
                    let (pk, pv) = &new_kv[p][layer];
                    ks.push(pk);
                    vs.push(pv);
                }
                ks.push(&ki);
                vs.push(&vi);
                let keys = first_pos[i] + n;
                let (mask, width) = &masks[i];
                let zeros = (*width > keys)
                    .then(|| {
                        Tensor::zeros(
                            (1, cfg.n_kv_head, width - keys, cfg.head_dim),
                            DType::F32,
                            &Device::Cpu,
                        )
                    })
                    .transpose()?;
                if let Some(z) = &zeros {
                    ks.push(z);
                    vs.push(z);
                }
                let kk = Tensor::cat(&ks, 2)?;
                let vv = Tensor::cat(&vs, 2)?;
                // Grouped-query attention without copying keys: the `group` query heads
                // sharing a key/value head are stacked along the position axis.
                let qi = take(&q)?.reshape((1, cfg.n_kv_head, group * n, cfg.head_dim))?;
                let kt = kk.t()?;
                let att = (at_least_two_rows(&qi, |q| q.matmul(&kt))? * cfg.attention_scale)?
                    .broadcast_add(mask)?;
                let att = candle_nn::ops::softmax_last_dim(&att)?;
                outputs.push(
                    weighted_values(&att, &vv)?
                        .reshape((1, cfg.n_head, n, cfg.head_dim))?
                        .transpose(1, 2)?
                        .reshape((n, cfg.n_head * cfg.head_dim))?,
                );
                new_kv[i].push((ki, vi));
            }
            let y = Tensor::cat(&outputs, 0)?;
            let mut attn = linear(&m.wo, &y)?;
            if let Some(w) = &vectors.post_attn_norm {
                attn = candle_nn::ops::rms_norm(&attn, w, eps)?;
            }
            x = (x + attn)?;
            let h = candle_nn::ops::rms_norm(&x, &vectors.ffn_norm, eps)?;
            let gate = linear(&m.gate, &h)?;
            let gate = match cfg.activation {
                Activation::Silu => candle_nn::ops::silu(&gate)?,
                Activation::GeluTanh => gate.gelu()?,
            };
            let mut ff = linear(&m.down, &(gate * linear(&m.up, &h)?)?)?;
            if let Some(w) = &vectors.post_ffn_norm {
                ff = candle_nn::ops::rms_norm(&ff, w, eps)?;
            }
            x = (x + ff)?;
        }

        // Logits for the rows asked for, all through the head at once.
        let wanted: Vec<Tensor> = segments
            .iter()
            .zip(&row_start)
            .filter(|(s, _)| s.logits_from < s.tokens.len())
            .map(|(s, &r)| x.narrow(0, r + s.logits_from, s.tokens.len() - s.logits_from))
            .collect::<candle_core::Result<_>>()?;
        let mut logits = if wanted.is_empty() {
            None
        } else {
            let h = candle_nn::ops::rms_norm(&Tensor::cat(&wanted, 0)?, &self.output_norm, eps)?;
            Some(linear(&weights.head, &h)?.to_dtype(DType::F32)?)
        };
        let mut offset = 0;
        let outputs = segments
            .iter()
            .zip(new_kv)
            .map(|(s, layers)| {
                let n = s.tokens.len().saturating_sub(s.logits_from);
                let l = match (&mut logits, n) {
                    (Some(all), n) if n > 0 => Some(all.narrow(0, offset, n)?),
                    _ => None,
                };
                offset += n;
                Ok(SegmentOutput {
                    logits: l,
                    kv: SegmentKv {
                        layers,
                        len: s.tokens.len(),
                    },
                })
            })
            .collect::<Result<_>>()?;
        Ok(outputs)
    }
}

/// `cos`/`sin` tables for rotary embeddings with base `base`, up to the model's context
/// length.
fn rope_tables(cfg: &DecoderConfig, base: f64) -> Result<Rope> {
    let half = cfg.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / base.powf(2.0 * i as f64 / cfg.head_dim as f64) as f32)
        .collect();
    let positions = cfg.context_length;
    let mut angles = Vec::with_capacity(positions * half);
    for p in 0..positions {
        angles.extend(inv_freq.iter().map(|f| p as f32 * f));
    }
    let angles = Tensor::from_vec(angles, (positions, half), &Device::Cpu)?;
    let (cos, sin) = (angles.cos()?, angles.sin()?);
    Ok(Rope {
        cos_rows: cos.flatten_all()?.to_vec1()?,
        sin_rows: sin.flatten_all()?.to_vec1()?,
        cos,
        sin,
    })
}

/// Additive mask for `seq` new queries at positions `pos..pos+seq` (each repeated `group`
/// times) over `width` keys, of which `pos + seq` are real; a query sees the keys at or
/// before it and less than `window` positions back (llama.cpp's and Hugging Face's
/// sliding window).
fn causal_mask(
    seq: usize,
    pos: usize,
    group: usize,
    width: usize,
    window: usize,
) -> Result<Tensor> {
    let mut data = Vec::with_capacity(group * seq * width);
    for _ in 0..group {
        for i in 0..seq {
            let query = pos + i;
            data.extend((0..width).map(|j| {
                if j <= query && query - j < window {
                    0f32
                } else {
                    f32::NEG_INFINITY
                }
            }));
        }
    }
    Ok(Tensor::from_vec(data, (group * seq, width), &Device::Cpu)?)
}

// Why the padding below: a score must not depend on how the work was split (batch size,
// shared-prefix reuse, chunking). The kernels underneath choose their summation order by
// shape: `gemm` has a matrix-vector path for one row, a "horizontal" path when
// rows x columns <= 256, and splits the summed dimension into blocks whose size depends
// on its length above 512; candle's softmax sums 32 lanes and then a scalar tail. So every
// product here is given shapes of one class: at least two rows, at least 160 keys, keys
// padded to a multiple of 32 (of 512 beyond 512) with zero keys and values that get
// probability exactly 0, and attention-times-values summed in fixed 512-key blocks.
// Appending exact zeros to a sum leaves it bit-identical, so the real rows come out the
// same whatever else was computed with them.

const KEY_BLOCK: usize = 512;
/// With at least 2 query rows, 160 keys keep rows x keys above gemm's 256 threshold.
const MIN_KEYS: usize = 160;

/// Keys attended over, padded to a shape class that does not depend on the batch.
fn padded_keys(keys: usize) -> usize {
    if keys <= KEY_BLOCK {
        keys.next_multiple_of(32).max(MIN_KEYS)
    } else {
        keys.next_multiple_of(KEY_BLOCK)
    }
}

/// `att @ v` summed over fixed blocks of keys, in order.
fn weighted_values(att: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
    let keys = v.dim(2)?;
    if keys <= KEY_BLOCK {
        return at_least_two_rows(att, |a| a.matmul(v));
    }
    let mut total: Option<Tensor> = None;
    for start in (0..keys).step_by(KEY_BLOCK) {
        let a = att.narrow(3, start, KEY_BLOCK)?.contiguous()?;
        let vb = v.narrow(2, start, KEY_BLOCK)?.contiguous()?;
        let part = at_least_two_rows(&a, |a| a.matmul(&vb))?;
        total = Some(match total {
            Some(t) => (t + part)?,
            None => part,
        });
    }
    Ok(total.expect("keys > 0"))
}

/// Runs `f` on `x` with at least two rows in its second-to-last dimension (gemm takes a
/// different path for a single row), dropping the padding row afterwards.
fn at_least_two_rows(
    x: &Tensor,
    f: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    let rows_dim = x.rank() - 2;
    if x.dim(rows_dim)? >= 2 {
        return f(x);
    }
    let doubled = Tensor::cat(&[x, x], rows_dim)?;
    f(&doubled)?.narrow(rows_dim, 0, 1)
}

/// Attention of one query over keys and values `[position][dim]` at `positions`, into
/// `out`; summed in position order, so the result depends on nothing but its inputs.
fn attend_one(
    query: &[f32],
    keys: &[f32],
    values: &[f32],
    positions: std::ops::Range<usize>,
    hd: usize,
    scale: f32,
    out: &mut [f32],
) {
    let scores: Vec<f32> = positions
        .clone()
        .map(|p| dot(query, &keys[p * hd..][..hd]) * scale)
        .collect();
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f32 = weights.iter().sum();
    out.fill(0.0);
    for (p, w) in positions.zip(&weights) {
        let w = w / total;
        for (o, v) in out.iter_mut().zip(&values[p * hd..][..hd]) {
            *o += w * v;
        }
    }
}

/// `x @ m^T` for each of `matrices`, `x` holding `rows` rows: one parallel pass when
/// all are 8-bit, else each through [`linear`].
fn products(matrices: &[&Linear], x: &[f32], rows: usize) -> Result<Vec<Vec<f32>>> {
    let int8: Option<Vec<&Int8Matrix>> = matrices
        .iter()
        .map(|m| match m {
            Linear::Int8(m) => Some(m),
            Linear::Candle(_) => None,
        })
        .collect();
    if let Some(int8) = int8 {
        return Ok(Int8Matrix::matmul_many(&int8, x, rows));
    }
    let input = Tensor::from_slice(x, (rows, x.len() / rows), &Device::Cpu)?;
    matrices
        .iter()
        .map(|m| {
            Ok(linear(m, &input)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1()?)
        })
        .collect()
}

/// Root-mean-square norm of each `width`-wide row of `x`, times `w`.
fn rms_norm_rows(x: &[f32], w: &[f32], width: usize, eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(width) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let inv = 1.0 / (mean + eps).sqrt();
        out.extend(row.iter().zip(w).map(|(v, w)| v * inv * w));
    }
    out
}

/// Rotary embedding of one head at position `pos`, as candle's `rope_i` (adjacent
/// pairs) or `rope` (halves) compute it.
fn rotate(head: &mut [f32], rope: &Rope, pos: usize, style: RopeStyle) {
    let half = head.len() / 2;
    let cos = &rope.cos_rows[pos * half..][..half];
    let sin = &rope.sin_rows[pos * half..][..half];
    for i in 0..half {
        let (a, b) = match style {
            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
            RopeStyle::Halves => (i, i + half),
        };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos[i] - x1 * sin[i];
        head[b] = x0 * sin[i] + x1 * cos[i];
    }
}

/// A dot product in eight interleaved partial sums (vectorised by the compiler), added in
/// a fixed order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, y) in a[chunks..].iter().zip(&b[chunks..]) {
        sum += x * y;
    }
    sum
}

/// `x @ w^T` for `x` of shape `(rows, in)`, with f32 weights never on the one-row path.
fn linear(w: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    match w {
        Linear::Candle(m @ QMatMul::Tensor(_)) => at_least_two_rows(x, |x| m.forward(x)),
        Linear::Candle(m) => m.forward(x),
        Linear::Int8(m) => {
            let (n, cols) = x.dims2()?;
            if cols != m.cols() {
                candle_core::bail!("a product of {cols} columns with a matrix of {}", m.cols());
            }
            let data: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            Tensor::from_vec(m.matmul(&data, n), (n, m.rows()), x.device())
        }
    }
}

/// Log-softmax of one row of logits, in f64 so sums over long continuations stay exact
/// to well below the tolerance we promise.
/// The index of the largest value (the first of equals; 0 for an empty row).
pub(crate) fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}

pub(crate) fn log_softmax_row(row: &[f32]) -> (f64, usize) {
    let argmax = argmax(row);
    let max = row[argmax] as f64;
    let sum: f64 = row.iter().map(|&v| ((v as f64) - max).exp()).sum();
    (max + sum.ln(), argmax)
}
