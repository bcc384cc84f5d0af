//! Matrix products with 8-bit weights for decoding: [`Int8Matrix`].
//!
//! Decoding multiplies a few rows of activations by every weight matrix, so its speed is
//! the speed of reading the weights and of the dot products. candle's Q8_0 path converts
//! each block's f16 scale on every use and spins its thread pool between products; this
//! one keeps the scales in f32, quantizes the activations to 8 bits once per product
//! (blocks of 32, as ggml's Q8_0), and runs the integer dot products with AVX2 where the
//! processor has it. For several sequences each weight row is read once and used for
//! all of them, so a batch costs little more memory traffic than one sequence.
//!
//! Every output is one row's dot product summed in a fixed order, so it does not depend
//! on the number of rows multiplied together or on the thread count.

use rayon::prelude::*;

const BLOCK: usize = 32;

/// A `(rows, cols)` matrix as 8-bit integers with one f32 scale per 32 values of a row.
pub(crate) struct Int8Matrix {
    rows: usize,
    cols: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
}

/// `values` quantized in blocks of 32: `round(v / d)` with `d = max |v| / 127`.
fn quantize(values: &[f32], quants: &mut [i8], scales: &mut [f32]) {
    for ((block, q), d) in values
        .chunks_exact(BLOCK)
        .zip(quants.chunks_exact_mut(BLOCK))
        .zip(scales.iter_mut())
    {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for (q, v) in q.iter_mut().zip(block) {
            *q = (v * inv).round() as i8;
        }
        *d = scale;
    }
}

impl Int8Matrix {
    /// `cols` must be a multiple of 32.
    pub(crate) fn from_f32(values: &[f32], rows: usize, cols: usize) -> Self {
        assert!(cols.is_multiple_of(BLOCK) && values.len() == rows * cols);
        let mut quants = vec![0i8; rows * cols];
        let mut scales = vec![0f32; rows * cols / BLOCK];
        quantize(values, &mut quants, &mut scales);
        Self {
            rows,
            cols,
            quants,
            scales,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Memory it holds: one byte per value and four per block scale.
    pub(crate) fn bytes(&self) -> usize {
        self.quants.len() + 4 * self.scales.len()
    }

    /// `x @ self^T` for `x` of `n` rows of `cols` values: `n` rows of `rows` values.
    pub(crate) fn matmul(&self, x: &[f32], n: usize) -> Vec<f32> {
        Self::matmul_many(&[self], x, n)
            .pop()
            .expect("one matrix, one product")
    }

    /// `x @ m^T` for every `m` of `matrices` (all with the same columns), in one parallel
    /// pass: the activations are quantized once and the threads woken once, which is
    /// what a decoding step with one or a few rows pays for most.
    pub(crate) fn matmul_many(matrices: &[&Int8Matrix], x: &[f32], n: usize) -> Vec<Vec<f32>> {
        let mut outs: Vec<Vec<f32>> = matrices.iter().map(|_| Vec::new()).collect();
        let mut targets: Vec<&mut Vec<f32>> = outs.iter_mut().collect();
        Self::matmul_many_into(matrices, x, n, &mut targets);
        outs
    }

    /// [`matmul_many`](Self::matmul_many) into `outs`, reusing their memory: each is
    /// resized to its product and every value overwritten.
    pub(crate) fn matmul_many_into(
        matrices: &[&Int8Matrix],
        x: &[f32],
        n: usize,
        outs: &mut [&mut Vec<f32>],
    ) {
        Self::matmul_with(kernels(), matrices, x, n, outs);
    }

    /// [`matmul_many_into`](Self::matmul_many_into) with the given kernels (tests run
    /// every path on one machine).
    fn matmul_with(
        kernels: Kernels,
        matrices: &[&Int8Matrix],
        x: &[f32],
        n: usize,
        outs: &mut [&mut Vec<f32>],
    ) {
        let cols = matrices[0].cols;
        assert!(matrices.iter().all(|m| m.cols == cols) && x.len() == n * cols);
        let blocks = cols / BLOCK;
        let mut xq = vec![0i8; n * cols];
        let mut xs = vec![0f32; n * blocks];
        quantize(x, &mut xq, &mut xs);
        let wide = kernels
            .wide
            .map(|tile| (tile, WideActivations::new(&xq, &xs, n, cols)));
        // Work items of a few thousand dot products: (matrix, first row, rows).
        let rows_per_task = (2048 / n.max(1)).clamp(4, 256);
        let tasks: Vec<(usize, usize, usize)> = matrices
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                (0..m.rows)
                    .step_by(rows_per_task)
                    .map(move |r| (i, r, rows_per_task.min(m.rows - r)))
            })
            .collect();
        for (out, m) in outs.iter_mut().zip(matrices) {
            out.resize(n * m.rows, 0.0);
        }
        let targets: Vec<OutPtr> = outs.iter_mut().map(|o| OutPtr(o.as_mut_ptr())).collect();
        tasks.par_iter().for_each(|&(i, first, count)| {
            let m = matrices[i];
            let mut part = vec![0f32; count * n];
            if let Some((tile, acts)) = &wide {
                tile(m, first, count, acts, &mut part);
            } else {
                for (r, out_row) in part.chunks_exact_mut(n).enumerate() {
                    let row = first + r;
                    let wq = &m.quants[row * cols..][..cols];
                    let ws = &m.scales[row * blocks..][..blocks];
                    // Four sequences at a time share each load of the weights.
                    let mut s = 0;
                    while s + 4 <= n {
                        let xs4 = std::array::from_fn(|k| &xq[(s + k) * cols..][..cols]);
                        let ss4 = std::array::from_fn(|k| &xs[(s + k) * blocks..][..blocks]);
                        out_row[s..s + 4].copy_from_slice(&(kernels.dot4)(wq, ws, xs4, ss4));
                        s += 4;
                    }
                    for (k, o) in out_row[s..].iter_mut().enumerate() {
                        let t = s + k;
                        *o = (kernels.dot)(
                            wq,
                            ws,
                            &xq[t * cols..][..cols],
                            &xs[t * blocks..][..blocks],
                        );
                    }
                }
            }
            // Each sequence's values of these rows are one run of its output row.
            for s in 0..n {
                let run = s * m.rows + first;
                for r in 0..count {
                    // SAFETY: the tasks cover disjoint rows of matrix `i`, so no two
                    // write the same element, and `run + r < n * rows`; `outs` is
                    // not otherwise touched until every task has finished.
                    unsafe { *targets[i].0.add(run + r) = part[r * n + s] };
                }
            }
        });
    }
}

type DotFn = fn(&[i8], &[f32], &[i8], &[f32]) -> f32;
type Dot4Fn = fn(&[i8], &[f32], [&[i8]; 4], [&[f32]; 4]) -> [f32; 4];
/// Rows `first..first + count` of a matrix against every sequence, into `out` (row-major:
/// `count` rows of `n` values).
type TileFn = fn(&Int8Matrix, usize, usize, &WideActivations, &mut [f32]);

/// The dot products: one weight row with one sequence, or with four; or, where the
/// processor has 512-bit integer dot products, whole tiles of rows and sequences.
#[derive(Clone, Copy)]
struct Kernels {
    dot: DotFn,
    dot4: Dot4Fn,
    wide: Option<TileFn>,
}

fn kernels() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            let wide = (std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512vnni"))
            .then_some(tile_avx512 as TileFn);
            return Kernels {
                // SAFETY: the processor has AVX2 and FMA.
                dot: |a, sa, b, sb| unsafe { dot_avx2(a, sa, b, sb) },
                dot4: |a, sa, b, sb| unsafe { dot4_avx2(a, sa, b, sb) },
                wide,
            };
        }
    }
    Kernels {
        dot: dot_scalar,
        dot4: |a, sa, b, sb| std::array::from_fn(|k| dot_scalar(a, sa, b[k], sb[k])),
        wide: None,
    }
}

// Every path sums the same way, so that a product does not depend on which path ran or
// on how many sequences were multiplied together: per block, eight lanes of four
// products each; the lanes of even blocks and of odd blocks in two accumulators
// (`acc = d * lane + acc`, fused), added at the end, then the eight lanes in a fixed
// tree.

fn dot_scalar(a: &[i8], sa: &[f32], b: &[i8], sb: &[f32]) -> f32 {
    let mut acc = [[0f32; 8]; 2];
    for (i, ((qa, qb), (da, db))) in a
        .chunks_exact(BLOCK)
        .zip(b.chunks_exact(BLOCK))
        .zip(sa.iter().zip(sb))
        .enumerate()
    {
        let d = da * db;
        for (lane, acc) in acc[i % 2].iter_mut().enumerate() {
            let j = lane * 4;
            let s: i32 = (0..4).map(|k| qa[j + k] as i32 * qb[j + k] as i32).sum();
            *acc = d.mul_add(s as f32, *acc);
        }
    }
    horizontal_sum(std::array::from_fn(|l| acc[0][l] + acc[1][l]))
}

/// The eight lanes added in the order the AVX2 path adds them.
fn horizontal_sum(l: [f32; 8]) -> f32 {
    let h = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let h = [h[0] + h[2], h[1] + h[3]];
    h[0] + h[1]
}

/// One block's eight lanes of `a . b`: `|a|` times `b` with `a`'s sign, unsigned-by-signed
/// products summed in pairs into 16 bits (at most 2 * 127 * 127: no saturation), then
/// into 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_lanes(
    abs_a: std::arch::x86_64::__m256i,
    a: std::arch::x86_64::__m256i,
    b: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let pairs = _mm256_maddubs_epi16(abs_a, _mm256_sign_epi8(b, a));
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn finish(acc0: std::arch::x86_64::__m256, acc1: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds eight f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc0, acc1)) };
    horizontal_sum(lanes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[i8], sa: &[f32], b: &[i8], sb: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = sa.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY (loads): both slices hold `n` blocks of 32 bytes and every `i < n`.
    let step = |i: usize, acc: __m256| unsafe {
        let qa = _mm256_loadu_si256(pa.add(i * BLOCK) as *const __m256i);
        let qb = _mm256_loadu_si256(pb.add(i * BLOCK) as *const __m256i);
        let lanes = block_lanes(_mm256_sign_epi8(qa, qa), qa, qb);
        _mm256_fmadd_ps(_mm256_set1_ps(sa[i] * sb[i]), lanes, acc)
    };
    let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 1 < n {
        even = step(i, even);
        odd = step(i + 1, odd);
        i += 2;
    }
    if i < n {
        even = step(i, even);
    }
    finish(even, odd)
}

/// [`dot_avx2`] of one weight row with four sequences, each weight block loaded once.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(a: &[i8], sa: &[f32], b: [&[i8]; 4], sb: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = sa.len();
    let pa = a.as_ptr();
    let (p0, p1, p2, p3) = (b[0].as_ptr(), b[1].as_ptr(), b[2].as_ptr(), b[3].as_ptr());
    let (s0, s1, s2, s3) = (sb[0], sb[1], sb[2], sb[3]);
    let z = _mm256_setzero_ps();
    let (mut e0, mut e1, mut e2, mut e3) = (z, z, z, z);
    let (mut o0, mut o1, mut o2, mut o3) = (z, z, z, z);
    let mut i = 0;
    // SAFETY (loads): every slice holds `n` blocks of 32 bytes and every index is < n.
    macro_rules! block {
        ($i:expr, $a0:ident, $a1:ident, $a2:ident, $a3:ident) => {{
            let at = $i * BLOCK;
            let qa = unsafe { _mm256_loadu_si256(pa.add(at) as *const __m256i) };
            let abs_a = _mm256_sign_epi8(qa, qa);
            let w = sa[$i];
            let q0 = unsafe { _mm256_loadu_si256(p0.add(at) as *const __m256i) };
            $a0 = _mm256_fmadd_ps(_mm256_set1_ps(w * s0[$i]), block_lanes(abs_a, qa, q0), $a0);
            let q1 = unsafe { _mm256_loadu_si256(p1.add(at) as *const __m256i) };
            $a1 = _mm256_fmadd_ps(_mm256_set1_ps(w * s1[$i]), block_lanes(abs_a, qa, q1), $a1);
            let q2 = unsafe { _mm256_loadu_si256(p2.add(at) as *const __m256i) };
            $a2 = _mm256_fmadd_ps(_mm256_set1_ps(w * s2[$i]), block_lanes(abs_a, qa, q2), $a2);
            let q3 = unsafe { _mm256_loadu_si256(p3.add(at) as *const __m256i) };
            $a3 = _mm256_fmadd_ps(_mm256_set1_ps(w * s3[$i]), block_lanes(abs_a, qa, q3), $a3);
        }};
    }
    while i + 1 < n {
        block!(i, e0, e1, e2, e3);
        block!(i + 1, o0, o1, o2, o3);
        i += 2;
    }
    if i < n {
        block!(i, e0, e1, e2, e3);
    }
    [
        finish(e0, o0),
        finish(e1, o1),
        finish(e2, o2),
        finish(e3, o3),
    ]
}

/// Where a product's tasks write their disjoint rows.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: shared only with tasks that write disjoint elements (see `matmul_many`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// The activations as the 512-bit kernel reads them: each value plus 128 as an unsigned
/// byte (the integer dot product instruction multiplies unsigned by signed bytes), and
/// the block scales of each pair of blocks spread over the sixteen lanes the pair's
/// products land in (eight for the even block, eight for the odd one; zero past the
/// last block).
struct WideActivations {
    n: usize,
    cols: usize,
    biased: Vec<u8>,
    scales: Vec<f32>,
}

impl WideActivations {
    fn new(xq: &[i8], xs: &[f32], n: usize, cols: usize) -> Self {
        let blocks = cols / BLOCK;
        let pairs = blocks.div_ceil(2);
        let biased = xq.iter().map(|&q| (q as u8) ^ 0x80).collect();
        let mut scales = vec![0f32; n * pairs * 16];
        for t in 0..n {
            for b in 0..blocks {
                let at = (t * pairs + b / 2) * 16 + (b % 2) * 8;
                scales[at..at + 8].fill(xs[t * blocks + b]);
            }
        }
        Self {
            n,
            cols,
            biased,
            scales,
        }
    }
}

/// [`dot_avx2`]'s sums, 64 values at a time: the even block of each pair in the low
/// eight lanes and the odd block in the high eight, which are [`dot_avx2`]'s two
/// accumulators. Each lane's four products come from one `vpdpbusd` on `x + 128`,
/// started from `-128 * (sum of the four weights)` so that the lane holds exactly the
/// signed sum the other paths compute. Tiles of up to four rows by four sequences share
/// their loads; with fewer than four sequences rows go one at a time, which reads the
/// weights in one stream and measured faster (190 against 168 tokens/s on one stream).
#[cfg(target_arch = "x86_64")]
fn tile_avx512(m: &Int8Matrix, first: usize, count: usize, x: &WideActivations, out: &mut [f32]) {
    let n = x.n;
    let mut r = 0;
    while r < count {
        let rows4 = n >= 4 && count - r >= 4;
        let mut s = 0;
        while s < n {
            let seqs4 = n - s >= 4;
            let row = first + r;
            // SAFETY: `kernels` chose this path only where the processor has AVX-512 F,
            // BW, VL and VNNI.
            let (sums, rows, seqs) = unsafe {
                match (rows4, seqs4) {
                    (true, true) => (spread(tile_sums::<4, 4>(m, row, x, s)), 4, 4),
                    (true, false) => (spread(tile_sums::<4, 1>(m, row, x, s)), 4, 1),
                    (false, true) => (spread(tile_sums::<1, 4>(m, row, x, s)), 1, 4),
                    (false, false) => (spread(tile_sums::<1, 1>(m, row, x, s)), 1, 1),
                }
            };
            for i in 0..rows {
                for j in 0..seqs {
                    out[(r + i) * n + s + j] = sums[i * 4 + j];
                }
            }
            s += seqs;
        }
        r += if rows4 { 4 } else { 1 };
    }
}

#[cfg(target_arch = "x86_64")]
fn spread<const R: usize, const S: usize>(sums: [[f32; S]; R]) -> [f32; 16] {
    let mut out = [0f32; 16];
    for i in 0..R {
        for j in 0..S {
            out[i * 4 + j] = sums[i][j];
        }
    }
    out
}

/// The dot products of rows `row..row + R` with sequences `seq..seq + S`.
// Indices run over several parallel register arrays at once.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn tile_sums<const R: usize, const S: usize>(
    m: &Int8Matrix,
    row: usize,
    x: &WideActivations,
    seq: usize,
) -> [[f32; S]; R] {
    use std::arch::x86_64::*;
    let cols = x.cols;
    let blocks = cols / BLOCK;
    let pairs = blocks.div_ceil(2);
    let bias = _mm512_set1_epi8(-128);
    // Lanes 0..8 take the even block's scale, 8..16 the odd block's.
    let spread_index = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut acc = [[_mm512_setzero_ps(); S]; R];
    for p in 0..pairs {
        let whole = 2 * p + 1 < blocks;
        let byte_mask: u64 = if whole { u64::MAX } else { u32::MAX as u64 };
        let mut w = [_mm512_setzero_si512(); R];
        let mut start = [_mm512_setzero_si512(); R];
        let mut ws = [_mm512_setzero_ps(); R];
        for i in 0..R {
            let r = row + i;
            // SAFETY: the masks keep both loads inside row `r`'s values and scales.
            unsafe {
                let at = m.quants.as_ptr().add(r * cols + p * 2 * BLOCK);
                w[i] = if whole {
                    _mm512_loadu_si512(at as *const __m512i)
                } else {
                    _mm512_maskz_loadu_epi8(byte_mask, at)
                };
                let at = m.scales.as_ptr().add(r * blocks + 2 * p);
                let pair = if whole {
                    _mm_castpd_ps(_mm_load_sd(at as *const f64))
                } else {
                    _mm_load_ss(at)
                };
                ws[i] = _mm512_permutexvar_ps(spread_index, _mm512_castps128_ps512(pair));
            }
            // bias is -128 as a signed byte and 128 as an unsigned one.
            let lifted = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, w[i]);
            start[i] = _mm512_sub_epi32(_mm512_setzero_si512(), lifted);
        }
        for j in 0..S {
            let t = seq + j;
            // SAFETY: sequence `t` has `cols` biased values and `pairs * 16` scales; the
            // mask keeps the load inside them.
            let (xv, xsv) = unsafe {
                (
                    {
                        let at = x.biased.as_ptr().add(t * cols + p * 2 * BLOCK) as *const i8;
                        if whole {
                            _mm512_loadu_si512(at as *const __m512i)
                        } else {
                            _mm512_maskz_loadu_epi8(byte_mask, at)
                        }
                    },
                    _mm512_loadu_ps(x.scales.as_ptr().add((t * pairs + p) * 16)),
                )
            };
            for i in 0..R {
                let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start[i], xv, w[i]));
                acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(ws[i], xsv), lanes, acc[i][j]);
            }
        }
    }
    acc.map(|row| {
        row.map(|a| {
            let mut lanes = [0f32; 16];
            // SAFETY: `lanes` holds sixteen f32.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), a) };
            horizontal_sum(std::array::from_fn(|l| lanes[l] + lanes[8 + l]))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f32_within_quantization_and_paths_agree() {
        let (rows, cols, n) = (37, 96, 3);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let w: Vec<f32> = (0..rows * cols).map(|_| next()).collect();
        let x: Vec<f32> = (0..n * cols).map(|_| next()).collect();
        let m = Int8Matrix::from_f32(&w, rows, cols);
        let got = m.matmul(&x, n);
        for s in 0..n {
            for r in 0..rows {
                let exact: f32 = (0..cols).map(|c| w[r * cols + c] * x[s * cols + c]).sum();
                let g = got[s * rows + r];
                assert!((g - exact).abs() < 0.02, "{g} vs {exact}");
            }
        }
        // One row at a time gives the same bits as three together.
        for s in 0..n {
            let alone = m.matmul(&x[s * cols..][..cols], 1);
            assert_eq!(alone, got[s * rows..][..rows]);
        }
        // The scalar path gives the AVX2 path's bits; four at a time gives one at a
        // time's.
        let (mut xq, mut xs) = (vec![0i8; cols], vec![0f32; cols / BLOCK]);
        quantize(&x[..cols], &mut xq, &mut xs);
        let k = kernels();
        for r in 0..rows {
            let (wq, ws) = (
                &m.quants[r * cols..][..cols],
                &m.scales[r * cols / BLOCK..][..cols / BLOCK],
            );
            let one = (k.dot)(wq, ws, &xq, &xs);
            assert_eq!(dot_scalar(wq, ws, &xq, &xs), one);
            assert_eq!((k.dot4)(wq, ws, [&xq; 4], [&xs; 4]), [one; 4]);
        }
        // The 512-bit tiles give the scalar path's bits, for every tile shape (37 rows:
        // nine tiles of four and one row alone; 6 sequences: four and two alone).
        if let Some(tile) = k.wide {
            let n = 6;
            let x6: Vec<f32> = (0..n * cols).map(|_| next()).collect();
            let (mut xq, mut xs) = (vec![0i8; n * cols], vec![0f32; n * cols / BLOCK]);
            quantize(&x6, &mut xq, &mut xs);
            let acts = WideActivations::new(&xq, &xs, n, cols);
            let mut out = vec![0f32; rows * n];
            tile(&m, 0, rows, &acts, &mut out);
            let blocks = cols / BLOCK;
            for r in 0..rows {
                for t in 0..n {
                    let scalar = dot_scalar(
                        &m.quants[r * cols..][..cols],
                        &m.scales[r * blocks..][..blocks],
                        &xq[t * cols..][..cols],
                        &xs[t * blocks..][..blocks],
                    );
                    assert_eq!(
                        out[r * n + t].to_bits(),
                        scalar.to_bits(),
                        "row {r}, seq {t}"
                    );
                }
            }
        }
        // Whole products through each path give the same bits: with the 512-bit tiles
        // where the processor has them, and with the row-by-row AVX2 (or scalar) loop.
        let x7: Vec<f32> = (0..7 * cols).map(|_| next()).collect();
        let mut by_path = Vec::new();
        for kernels in [k, Kernels { wide: None, ..k }] {
            let mut out = Vec::new();
            Int8Matrix::matmul_with(kernels, &[&m], &x7, 7, &mut [&mut out]);
            by_path.push(out);
        }
        assert_eq!(by_path[0], by_path[1]);
        // Five rows of activations: one group of four and one alone, equal to alone.
        let x5: Vec<f32> = (0..5 * cols).map(|_| next()).collect();
        let five = m.matmul(&x5, 5);
        for s in 0..5 {
            assert_eq!(
                m.matmul(&x5[s * cols..][..cols], 1),
                five[s * rows..][..rows]
            );
        }
    }
}
