//! The llama forward pass, written for scoring.
//!
//! candle's stock `quantized_llama` returns only the last position's logits and keeps its
//! KV cache inside the model. An evaluator needs logits at every continuation position and
//! one context's cache shared by all the choices of a question, so this file keeps the
//! weights immutable ([`Llama`]) and the cache outside ([`KvCache`]): a cache can be
//! cloned (tensors are reference-counted) and expanded to a batch.
//!
//! Weights are held in up to two formats chosen at load ([`Weights`]): candle has no SIMD
//! kernel for Q4_1, so the shipped blocks are converted once, to f32 (fast for many
//! positions at once: scoring and prompt processing) and to Q8_0 (fast for one position:
//! decoding).

use crate::gguf::GgufFile;
use crate::{Error, Result};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub hidden: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub rms_eps: f64,
    pub rope_base: f64,
    /// Longest sequence the model was trained on, from the GGUF.
    pub context_length: usize,
}

/// How one set of the model's matrices is stored in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStorage {
    /// Dequantized to f32: matrix products go through `gemm`.
    F32,
    /// Re-quantized to Q8_0, which has AVX2/NEON kernels.
    Q8_0,
    /// As stored in the file (slow for Q4_1, which has no SIMD kernel in candle).
    Native,
}

fn convert(q: QTensor, storage: WeightStorage) -> Result<QMatMul> {
    let dev = Device::Cpu;
    Ok(match storage {
        WeightStorage::F32 => QMatMul::Tensor(q.dequantize(&dev)?),
        WeightStorage::Q8_0 if q.dtype() != GgmlDType::Q8_0 => {
            let shape = q.shape().dims().to_vec();
            if shape.last().is_some_and(|k| k % 32 != 0) {
                // Q8_0 works on blocks of 32; fall back to f32 for odd shapes.
                QMatMul::Tensor(q.dequantize(&dev)?)
            } else {
                QMatMul::QTensor(Arc::new(QTensor::quantize(
                    &q.dequantize(&dev)?,
                    GgmlDType::Q8_0,
                )?))
            }
        }
        WeightStorage::Q8_0 | WeightStorage::Native => match q.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                QMatMul::Tensor(q.dequantize(&dev)?)
            }
            _ => QMatMul::QTensor(Arc::new(q)),
        },
    })
}

struct LayerMatrices {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The model's matrices in one storage format.
pub struct Weights {
    pub storage: WeightStorage,
    layers: Vec<LayerMatrices>,
    head: QMatMul,
}

struct Norms {
    attn: Tensor,
    ffn: Tensor,
}

/// A llama-family model, immutable once loaded; share it between threads.
pub struct Llama {
    pub config: LlamaConfig,
    embedding: Tensor,
    norms: Vec<Norms>,
    output_norm: Tensor,
    cos: Tensor,
    sin: Tensor,
}

/// Keys and values of the positions processed so far, per layer, shaped
/// `(batch, kv_heads, positions, head_dim)`.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    batch: usize,
}

impl KvCache {
    pub fn new(config: &LlamaConfig) -> Self {
        Self {
            layers: vec![None; config.n_layer],
            len: 0,
            batch: 1,
        }
    }

    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `n` positions only (a view: nothing is copied).
    pub fn truncate(&self, n: usize) -> Result<Self> {
        assert!(
            n <= self.len,
            "cannot truncate {} positions to {n}",
            self.len
        );
        if n == 0 {
            return Ok(Self {
                layers: vec![None; self.layers.len()],
                len: 0,
                batch: self.batch,
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
        Ok(Self {
            layers,
            len: n,
            batch: self.batch,
        })
    }

    /// The same cache repeated for `n` sequences that continue one shared prefix.
    pub fn expand(&self, n: usize) -> Result<Self> {
        assert_eq!(self.batch, 1, "only a batch-1 cache can be expanded");
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|(k, v)| -> Result<_> {
                        Ok((Tensor::cat(&vec![k; n], 0)?, Tensor::cat(&vec![v; n], 0)?))
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            len: self.len,
            batch: n,
        })
    }
}

impl Llama {
    /// Reads the weights, returning the model and its matrices in each requested storage.
    pub fn load(file: &mut GgufFile, storages: &[WeightStorage]) -> Result<(Self, Vec<Weights>)> {
        let arch = file.string("general.architecture")?.to_owned();
        if arch != "llama" {
            return Err(Error::UnsupportedArchitecture {
                path: file.path.clone(),
                arch,
            });
        }
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = file.uint(&key("attention.head_count"))? as usize;
        let hidden = file.uint(&key("embedding_length"))? as usize;
        let head_dim = hidden / n_head;
        let rope_dim = file
            .opt_uint(&key("rope.dimension_count"))
            .map_or(head_dim, |v| v as usize);
        if rope_dim != head_dim {
            return Err(Error::Unsupported {
                path: file.path.clone(),
                message: format!("partial rotary embeddings ({rope_dim} of {head_dim} dims)"),
            });
        }
        let embedding_q = file.tensor("token_embd.weight")?;
        let vocab = embedding_q.shape().dims()[0];
        let config = LlamaConfig {
            n_layer: file.uint(&key("block_count"))? as usize,
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
            rope_base: file.opt_float(&key("rope.freq_base")).unwrap_or(10_000.0),
            context_length: file
                .opt_uint(&key("context_length"))
                .map_or(2048, |v| v as usize),
        };
        if !config.n_head.is_multiple_of(config.n_kv_head) {
            return Err(Error::InvalidGguf {
                path: file.path.clone(),
                message: format!(
                    "{} attention heads are not a multiple of {} key/value heads",
                    config.n_head, config.n_kv_head
                ),
            });
        }
        let dev = Device::Cpu;
        let embedding = embedding_q.dequantize(&dev)?;
        let output_norm = file.tensor("output_norm.weight")?.dequantize(&dev)?;
        let mut norms = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            norms.push(Norms {
                attn: file
                    .tensor(&format!("blk.{i}.attn_norm.weight"))?
                    .dequantize(&dev)?,
                ffn: file
                    .tensor(&format!("blk.{i}.ffn_norm.weight"))?
                    .dequantize(&dev)?,
            });
        }
        // Tied embeddings (SmolLM2) have no `output.weight`.
        let head_name = if file.has_tensor("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let mut sets = Vec::new();
        for &storage in storages {
            let mut layers = Vec::with_capacity(config.n_layer);
            for i in 0..config.n_layer {
                let mut m = |name: &str| -> Result<QMatMul> {
                    convert(file.tensor(&format!("blk.{i}.{name}.weight"))?, storage)
                };
                layers.push(LayerMatrices {
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
                layers,
                head,
            });
        }
        let (cos, sin) = rope_tables(&config)?;
        Ok((
            Self {
                config,
                embedding,
                norms,
                output_norm,
                cos,
                sin,
            },
            sets,
        ))
    }

    /// Runs `tokens` (`batch × seq`, every row continuing `cache` at the same position)
    /// and returns the logits of positions `logits_from..seq` as `batch × n × vocab`.
    /// With `logits_from == seq` it only fills the cache and returns `None`.
    pub fn forward(
        &self,
        weights: &Weights,
        tokens: &[Vec<u32>],
        cache: &mut KvCache,
        logits_from: usize,
    ) -> Result<Option<Tensor>> {
        let cfg = &self.config;
        let batch = tokens.len();
        let seq = tokens[0].len();
        assert!(
            tokens.iter().all(|t| t.len() == seq),
            "rows must be padded to one length"
        );
        assert_eq!(batch, cache.batch, "cache batch must match the input batch");
        let pos = cache.len;
        if pos + seq > self.cos.dim(0)? {
            return Err(candle_core::Error::Msg(format!(
                "sequence of {} positions exceeds the model's context of {}",
                pos + seq,
                self.cos.dim(0)?
            ))
            .into());
        }
        let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
        let ids = Tensor::from_vec(flat, batch * seq, &Device::Cpu)?;
        let mut x = self.embedding.index_select(&ids, 0)?; // (b*s, hidden)
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let group = cfg.n_head / cfg.n_kv_head;
        let keys = pos + seq;
        let padded = padded_keys(keys);
        let mask = causal_mask(seq, pos, group, padded)?;
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
        let pad_kv = (padded > keys)
            .then(|| {
                Tensor::zeros(
                    (batch, cfg.n_kv_head, padded - keys, cfg.head_dim),
                    DType::F32,
                    &Device::Cpu,
                )
            })
            .transpose()?;

        for (layer, (m, norms)) in weights.layers.iter().zip(&self.norms).enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &norms.attn, cfg.rms_eps as f32)?;
            let heads = |w: &QMatMul, n: usize| -> candle_core::Result<Tensor> {
                linear(w, &h)?
                    .reshape((batch, seq, n, cfg.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = candle_nn::rotary_emb::rope_i(&heads(&m.wq, cfg.n_head)?, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&heads(&m.wk, cfg.n_kv_head)?, &cos, &sin)?;
            let v = heads(&m.wv, cfg.n_kv_head)?;
            let (k, v) = match &cache.layers[layer] {
                Some((kc, vc)) => (Tensor::cat(&[kc, &k], 2)?, Tensor::cat(&[vc, &v], 2)?),
                None => (k, v),
            };
            cache.layers[layer] = Some((k.clone(), v.clone()));
            let (k, v) = match &pad_kv {
                Some(z) => (Tensor::cat(&[&k, z], 2)?, Tensor::cat(&[&v, z], 2)?),
                None => (k, v),
            };
            // Grouped-query attention without copying keys: the `group` query heads that
            // share a key/value head are stacked along the position axis.
            let q = q.reshape((batch, cfg.n_kv_head, group * seq, cfg.head_dim))?;
            let kt = k.t()?;
            let att = (at_least_two_rows(&q, |q| q.matmul(&kt))? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = weighted_values(&att, &v)?
                .reshape((batch, cfg.n_head, seq, cfg.head_dim))?
                .transpose(1, 2)?
                .reshape((batch * seq, cfg.hidden))?;
            x = (x + linear(&m.wo, &y)?)?;
            let h = candle_nn::ops::rms_norm(&x, &norms.ffn, cfg.rms_eps as f32)?;
            let ff = (candle_nn::ops::silu(&linear(&m.gate, &h)?)? * linear(&m.up, &h)?)?;
            x = (x + linear(&m.down, &ff)?)?;
        }
        cache.len += seq;
        if logits_from >= seq {
            return Ok(None);
        }
        let n = seq - logits_from;
        let x = x
            .reshape((batch, seq, cfg.hidden))?
            .narrow(1, logits_from, n)?
            .contiguous()?
            .reshape((batch * n, cfg.hidden))?;
        let x = candle_nn::ops::rms_norm(&x, &self.output_norm, cfg.rms_eps as f32)?;
        let logits = linear(&weights.head, &x)?.reshape((batch, n, cfg.vocab))?;
        Ok(Some(logits.to_dtype(DType::F32)?))
    }
}

/// `cos`/`sin` tables for interleaved rotary embeddings (GGUF llama weights are permuted
/// for that layout), up to the model's context length.
fn rope_tables(cfg: &LlamaConfig) -> Result<(Tensor, Tensor)> {
    let half = cfg.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / cfg.rope_base.powf(2.0 * i as f64 / cfg.head_dim as f64) as f32)
        .collect();
    let positions = cfg.context_length;
    let mut angles = Vec::with_capacity(positions * half);
    for p in 0..positions {
        angles.extend(inv_freq.iter().map(|f| p as f32 * f));
    }
    let angles = Tensor::from_vec(angles, (positions, half), &Device::Cpu)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Additive mask for `seq` new queries at positions `pos..pos+seq` (each repeated `group`
/// times) over `width` keys, of which `pos + seq` are real.
fn causal_mask(seq: usize, pos: usize, group: usize, width: usize) -> Result<Tensor> {
    let mut data = Vec::with_capacity(group * seq * width);
    for _ in 0..group {
        for i in 0..seq {
            data.extend((0..width).map(|j| {
                if j <= pos + i {
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

/// `x @ w^T` for `x` of shape `(rows, in)`, with f32 weights never on the one-row path.
fn linear(w: &QMatMul, x: &Tensor) -> candle_core::Result<Tensor> {
    match w {
        QMatMul::Tensor(_) => at_least_two_rows(x, |x| w.forward(x)),
        _ => w.forward(x),
    }
}

/// Log-softmax of one row of logits, in f64 so sums over long continuations stay exact
/// to well below the tolerance we promise.
pub fn log_softmax_row(row: &[f32]) -> (f64, usize) {
    let (argmax, max) = row
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        });
    let max = max as f64;
    let sum: f64 = row.iter().map(|&v| ((v as f64) - max).exp()).sum();
    (max + sum.ln(), argmax)
}
