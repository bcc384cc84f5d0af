//! The llama forward pass, written for scoring.
//!
//! candle's stock `quantized_llama` returns only the last position's logits and keeps its
//! KV cache inside the model. An evaluator needs logits at every continuation position and
//! one context's cache shared by all the choices of a question, so this file keeps the
//! weights immutable ([`Llama`]) and the cache outside ([`KvCache`]; cloning it is cheap,
//! its tensors are reference-counted). [`Llama::forward_segments`] runs many sequences in
//! one pass: a question's context as one segment and each choice as a segment that
//! continues it.
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
pub(crate) enum WeightStorage {
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
pub(crate) struct Weights {
    pub storage: WeightStorage,
    layers: Vec<LayerMatrices>,
    head: QMatMul,
}

struct Norms {
    attn: Tensor,
    ffn: Tensor,
}

/// A llama-family model, immutable once loaded; share it between threads.
pub(crate) struct Llama {
    pub config: LlamaConfig,
    embedding: Tensor,
    norms: Vec<Norms>,
    output_norm: Tensor,
    cos: Tensor,
    sin: Tensor,
}

/// Keys and values of the positions processed so far, per layer, shaped
/// `(1, kv_heads, positions, head_dim)`. Cloning is cheap (tensors are shared).
#[derive(Clone)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub(crate) fn new(config: &LlamaConfig) -> Self {
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

/// A run of new tokens for [`Llama::forward_segments`]: it continues `past`, then (if
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

impl Llama {
    /// Reads the weights, returning the model and its matrices in each requested storage.
    pub(crate) fn load(
        file: &mut GgufFile,
        storages: &[WeightStorage],
    ) -> Result<(Self, Vec<Weights>)> {
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
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
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
        if end > self.cos.dim(0)? {
            return Err(candle_core::Error::Msg(format!(
                "sequence of {end} positions exceeds the model's context of {}",
                self.cos.dim(0)?
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
        let cos = self.cos.index_select(&positions, 0)?;
        let sin = self.sin.index_select(&positions, 0)?;
        let mut x = self.embedding.index_select(&ids, 0)?; // (rows, hidden)
        let mut new_kv: Vec<Vec<(Tensor, Tensor)>> =
            vec![Vec::with_capacity(cfg.n_layer); segments.len()];
        let masks: Vec<(Tensor, usize)> = segments
            .iter()
            .zip(&first_pos)
            .map(|(s, &p)| {
                let width = padded_keys(p + s.tokens.len());
                Ok((causal_mask(s.tokens.len(), p, group, width)?, width))
            })
            .collect::<Result<_>>()?;

        for (layer, (m, norms)) in weights.layers.iter().zip(&self.norms).enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &norms.attn, cfg.rms_eps as f32)?;
            let heads = |w: &QMatMul, n: usize| -> candle_core::Result<Tensor> {
                linear(w, &h)?
                    .reshape((1, rows, n, cfg.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = candle_nn::rotary_emb::rope_i(&heads(&m.wq, cfg.n_head)?, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&heads(&m.wk, cfg.n_kv_head)?, &cos, &sin)?;
            let v = heads(&m.wv, cfg.n_kv_head)?;
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
                let att =
                    (at_least_two_rows(&qi, |q| q.matmul(&kt))? * scale)?.broadcast_add(mask)?;
                let att = candle_nn::ops::softmax_last_dim(&att)?;
                outputs.push(
                    weighted_values(&att, &vv)?
                        .reshape((1, cfg.n_head, n, cfg.head_dim))?
                        .transpose(1, 2)?
                        .reshape((n, cfg.hidden))?,
                );
                new_kv[i].push((ki, vi));
            }
            let y = Tensor::cat(&outputs, 0)?;
            x = (x + linear(&m.wo, &y)?)?;
            let h = candle_nn::ops::rms_norm(&x, &norms.ffn, cfg.rms_eps as f32)?;
            let ff = (candle_nn::ops::silu(&linear(&m.gate, &h)?)? * linear(&m.up, &h)?)?;
            x = (x + linear(&m.down, &ff)?)?;
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
            let h = candle_nn::ops::rms_norm(
                &Tensor::cat(&wanted, 0)?,
                &self.output_norm,
                cfg.rms_eps as f32,
            )?;
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
pub(crate) fn log_softmax_row(row: &[f32]) -> (f64, usize) {
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
