//! A generated experiment with known true effects, written as CSV, JSONL or Parquet, for
//! the `assay ab` tests.

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use std::path::Path;
use std::sync::Arc;

/// One user of a generated experiment.
pub(crate) struct Unit {
    pub variant: &'static str,
    pub converted: i64,
    pub revenue: f64,
    pub pre_revenue: f64,
    pub latency_ms: f64,
    pub day: String,
}

/// True effects of the generator: conversion 10% → 11% (+10% relative); revenue's
/// population mean 10·(1 + 0.05) = +5% relative; latency unchanged unless `slower`.
pub(crate) const TRUE_CONVERSION_LIFT: f64 = 0.10;
pub(crate) const TRUE_REVENUE_LIFT: f64 = 0.05;

pub(crate) fn experiment(n: usize, seed: u64, slower: f64) -> Vec<Unit> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Lognormal(μ, σ) has mean e^(μ + σ²/2); μ chosen so that the base mean is 8.
    let sigma: f64 = 0.6;
    let base = LogNormal::new(8f64.ln() - sigma * sigma / 2.0, sigma).unwrap();
    let noise = Normal::new(0.0, 1.0).unwrap();
    (0..n)
        .map(|i| {
            let treated = rng.gen_bool(0.5);
            let pre: f64 = base.sample(&mut rng);
            // Revenue = 0.5·pre (mean 4) + independent part (mean 6) = 10 in control;
            // the treatment multiplies it by 1.05 on average.
            let own: f64 = 6.0 * (1.0 + 0.3 * noise.sample(&mut rng));
            let revenue = (0.5 * pre + own)
                * if treated {
                    1.0 + TRUE_REVENUE_LIFT
                } else {
                    1.0
                };
            let p = if treated { 0.11 } else { 0.10 };
            Unit {
                variant: if treated { "candidate" } else { "current" },
                converted: i64::from(rng.gen_bool(p)),
                revenue,
                pre_revenue: pre,
                latency_ms: 400.0
                    * (1.0 + 0.2 * noise.sample(&mut rng))
                    * if treated { 1.0 + slower } else { 1.0 },
                day: format!("2026-05-{:02}", 1 + i * 10 / n),
            }
        })
        .collect()
}

pub(crate) fn write_csv(units: &[Unit], path: &Path) {
    let mut s = String::from("user,variant,converted,revenue,pre_revenue,latency_ms,exposed_at\n");
    for (i, u) in units.iter().enumerate() {
        s.push_str(&format!(
            "u{i},{},{},{},{},{},{}T12:00:00Z\n",
            u.variant, u.converted, u.revenue, u.pre_revenue, u.latency_ms, u.day
        ));
    }
    std::fs::write(path, s).unwrap();
}

pub(crate) fn write_jsonl(units: &[Unit], path: &Path) {
    let mut s = String::new();
    for u in units {
        s.push_str(
            &serde_json::json!({
                "variant": u.variant, "converted": u.converted == 1, "revenue": u.revenue,
                "pre_revenue": u.pre_revenue, "latency_ms": u.latency_ms,
                "exposed_at": format!("{}T12:00:00Z", u.day),
            })
            .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

pub(crate) fn write_parquet(units: &[Unit], path: &Path) {
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "variant",
            Arc::new(StringArray::from_iter_values(
                units.iter().map(|u| u.variant),
            )),
        ),
        (
            "converted",
            Arc::new(Int64Array::from_iter_values(
                units.iter().map(|u| u.converted),
            )),
        ),
        (
            "revenue",
            Arc::new(Float64Array::from_iter_values(
                units.iter().map(|u| u.revenue),
            )),
        ),
        (
            "pre_revenue",
            Arc::new(Float64Array::from_iter_values(
                units.iter().map(|u| u.pre_revenue),
            )),
        ),
        (
            "latency_ms",
            Arc::new(Float64Array::from_iter_values(
                units.iter().map(|u| u.latency_ms),
            )),
        ),
        (
            "exposed_at",
            Arc::new(StringArray::from_iter_values(
                units.iter().map(|u| format!("{}T12:00:00Z", u.day)),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(4096))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

pub(crate) use super::assay;

/// The analysis of a generated experiment: two goals, a guardrail, CUPED, days.
pub(crate) const ANALYZE: &[&str] = &[
    "--variant",
    "variant",
    "--control",
    "current",
    "--metrics",
    "converted,revenue",
    "--guardrails",
    "latency_ms",
    "--lower-is-better",
    "latency_ms",
    "--covariate",
    "revenue=pre_revenue",
    "--time",
    "exposed_at",
];
