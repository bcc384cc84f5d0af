//! The BenchRisk scorer, computed as benchrisk.ai computes it (`app/score/page.tsx` at
//! BenchRisk commit f520c3c; `../shared/benchrisk/SPEC.md` §2):
//!
//! - per failure mode f, starting from likelihood 1 and severity s_f, each adopted
//!   mitigation of f in list order applies `sev -= σ·sev; lik -= λ·lik` (σ, λ the
//!   percentages / 100): the reductions compound multiplicatively;
//! - mitigated risk g_f = s_f − sev·lik;
//! - a dimension's score = Σ g_f / Σ s_f over its failure modes (the share of its
//!   severity that is mitigated), in [0, 1];
//! - average = the unweighted mean of the five, minimum = the smallest;
//! - the site's "total" (its sort key) leaves Comprehensiveness out of the numerator but
//!   not the denominator; [`Scores::total_site`] reproduces it, [`Scores::total`] is
//!   Σ g / Σ s over all five.
//!
//! Unknown mitigation ids are ignored, and an id listed twice is applied twice, as on the
//! site ([`crate::Registry::check_answers`] warns about both). A dimension whose total
//! severity is zero has no score (`None`) instead of the site's NaN.

use crate::{Dimension, Registry};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Per dimension, in [`Dimension::ALL`] order, in [0, 1].
    pub dimensions: [Option<f64>; 5],
    pub average: f64,
    pub minimum: f64,
    /// The site's sort key, with its quirk (see the module docs).
    pub total_site: f64,
    /// Mitigated share of all severity.
    pub total: f64,
}

/// The site's words for a score: ≥ 0.70 lower risk, ≥ 0.50 moderate, else high
/// (`layouts/ScoreLayout.tsx`, `scoreFindings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Lower,
    Moderate,
    High,
}

impl RiskLevel {
    pub fn of(score: f64) -> Self {
        if score >= 0.70 {
            RiskLevel::Lower
        } else if score >= 0.50 {
            RiskLevel::Moderate
        } else {
            RiskLevel::High
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            RiskLevel::Lower => "lower risk",
            RiskLevel::Moderate => "moderate risk",
            RiskLevel::High => "high risk",
        }
    }
}

impl Scores {
    pub fn dimension(&self, d: Dimension) -> Option<f64> {
        self.dimensions[d.index()]
    }

    /// The dimensions scored as high risk.
    pub fn high_risk(&self) -> Vec<Dimension> {
        Dimension::ALL
            .into_iter()
            .filter(|&d| {
                self.dimension(d)
                    .is_some_and(|s| RiskLevel::of(s) == RiskLevel::High)
            })
            .collect()
    }
}

/// The risk left in one failure mode (severity × likelihood after its adopted
/// mitigations), as the site computes it.
fn residual(
    mode: &crate::FailureMode,
    adopted: &[u32],
    by_id: &HashMap<u32, &crate::Mitigation>,
) -> f64 {
    let (mut sev, mut lik) = (mode.severity, 1.0f64);
    for m in adopted.iter().filter_map(|id| by_id.get(id)) {
        if m.mode == mode.id {
            sev -= m.severity_reduction * sev / 100.0;
            lik -= m.likelihood_reduction * lik / 100.0;
        }
    }
    sev * lik
}

/// The risk left in each failure mode of the registry, by mode id.
pub fn residuals(registry: &Registry, adopted: &[u32]) -> Vec<(u32, f64)> {
    let by_id: HashMap<u32, &crate::Mitigation> =
        registry.mitigations.iter().map(|m| (m.id, m)).collect();
    registry
        .modes
        .iter()
        .map(|m| (m.id, residual(m, adopted, &by_id)))
        .collect()
}

/// Scores a benchmark that adopts `adopted` (in that order).
pub fn score(registry: &Registry, adopted: &[u32]) -> Scores {
    let by_id: HashMap<u32, &crate::Mitigation> =
        registry.mitigations.iter().map(|m| (m.id, m)).collect();
    let mut mitigated = [0.0f64; 5];
    let mut severity = [0.0f64; 5];
    let (mut total_g_site, mut total_g, mut total_s) = (0.0, 0.0, 0.0);
    for mode in &registry.modes {
        let g = mode.severity * 1.0 - residual(mode, adopted, &by_id);
        let d = mode.dimension.index();
        mitigated[d] += g;
        severity[d] += mode.severity;
        total_g += g;
        total_s += mode.severity;
        if mode.dimension != Dimension::Comprehensiveness {
            total_g_site += g;
        }
    }
    let dimensions: [Option<f64>; 5] =
        std::array::from_fn(|d| (severity[d] > 0.0).then(|| mitigated[d] / severity[d]));
    let scored: Vec<f64> = dimensions.iter().flatten().copied().collect();
    let average = scored.iter().sum::<f64>() / scored.len().max(1) as f64;
    let minimum = scored.iter().copied().fold(f64::INFINITY, f64::min);
    Scores {
        dimensions,
        average,
        minimum: if scored.is_empty() { 0.0 } else { minimum },
        total_site: if total_s > 0.0 {
            total_g_site / total_s
        } else {
            0.0
        },
        total: if total_s > 0.0 {
            total_g / total_s
        } else {
            0.0
        },
    }
}

/// The integer the site prints for a score: `Math.round(score * 100)`.
pub fn display_integer(score: f64) -> i64 {
    // Math.round rounds halves up; for the non-negative scores here that is
    // `floor(x + 0.5)`.
    (score * 100.0 + 0.5).floor() as i64
}

/// The heatmap's text for a score: `score * 100` with d3-format `">-.2s"` (two
/// significant digits, SI prefix), e.g. 4.72 → "4.7", 74.55 → "75", 0 → "0.0".
pub fn heatmap_text(score: f64) -> String {
    let v = score * 100.0;
    if v == 0.0 {
        return "0.0".into();
    }
    // d3 picks the SI prefix from the value's exponent in steps of 3.
    let exponent = v.abs().log10().floor() as i32;
    let prefix_exp = (exponent.div_euclid(3)).clamp(-8, 8) * 3;
    let scaled = v / 10f64.powi(prefix_exp);
    let prefix = match prefix_exp {
        -3 => "m",
        -6 => "µ",
        3 => "k",
        0 => "",
        _ => "?",
    };
    // Two significant digits, halves rounded up (as JavaScript's toPrecision).
    let digits = (scaled.abs().log10().floor() as i32) + 1;
    let decimals = (2 - digits).max(0) as usize;
    let factor = 10f64.powi(2 - digits);
    let rounded = (scaled * factor + 0.5).floor() / factor;
    // Rounding may add a digit (9.96 → 10): keep two significant digits.
    let text = if rounded.abs() >= 10f64.powi(digits) && decimals > 0 {
        format!("{:.*}", decimals - 1, rounded)
    } else {
        format!("{rounded:.decimals$}")
    };
    format!("{text}{prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_rank_by_the_weakest_dimension_and_paths_reach_the_target() {
        let r = crate::shipped();
        let hs = r.benchmark("HellaSwag").unwrap();
        let g = gaps(r, &hs.adopted);
        assert_eq!(g.len(), r.offered().len() - hs.adopted.len());
        // HellaSwag's weakest dimension is Longevity: the top gap must be there.
        assert_eq!(g[0].dimension, Dimension::Longevity);
        assert!(g[0].minimum > 0.0);
        assert!(g.windows(2).all(|w| w[0].minimum >= w[1].minimum));
        // Each gain is what scoring with the mitigation added gives.
        let mut with = hs.adopted.clone();
        with.push(g[3].mitigation);
        let direct = score(r, &with).average - score(r, &hs.adopted).average;
        assert!((direct - g[3].average).abs() < 1e-15);
        let steps = path_to(r, &hs.adopted, 0.5);
        let last = &steps.last().unwrap().1;
        assert!(last.minimum >= 0.5, "{last:?}");
        assert!(steps.windows(2).all(|w| w[1].1.minimum >= w[0].1.minimum));
    }

    #[test]
    fn heatmap_text_matches_d3() {
        assert_eq!(heatmap_text(0.0472), "4.7");
        assert_eq!(heatmap_text(0.7455), "75");
        assert_eq!(heatmap_text(0.0), "0.0");
        assert_eq!(heatmap_text(1.0), "100");
        assert_eq!(heatmap_text(0.0996), "10");
        assert_eq!(heatmap_text(0.005), "500m");
        assert_eq!(heatmap_text(0.0535), "5.4");
    }

    #[test]
    fn display_rounds_halves_up() {
        assert_eq!(display_integer(0.745), 75);
        assert_eq!(display_integer(0.0472), 5);
        assert_eq!(display_integer(0.0), 0);
    }

    #[test]
    fn risk_words() {
        assert_eq!(RiskLevel::of(0.70), RiskLevel::Lower);
        assert_eq!(RiskLevel::of(0.6999), RiskLevel::Moderate);
        assert_eq!(RiskLevel::of(0.5), RiskLevel::Moderate);
        assert_eq!(RiskLevel::of(0.49), RiskLevel::High);
    }
}

/// What adopting one more mitigation would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gain {
    pub mitigation: u32,
    pub mode: u32,
    pub dimension: Dimension,
    /// Change of the benchmark's weakest dimension score (its minimum).
    pub minimum: f64,
    /// Change of the average over the five dimensions.
    pub average: f64,
    /// Change of the mitigation's own dimension.
    pub own_dimension: f64,
}

/// Every offered mitigation the benchmark has not adopted, ranked by how much adopting it
/// alone would raise the weakest dimension, then the average, then its own dimension.
pub fn gaps(registry: &Registry, adopted: &[u32]) -> Vec<Gain> {
    let base = score(registry, adopted);
    let mut gains: Vec<Gain> = registry
        .offered()
        .into_iter()
        .filter(|m| !adopted.contains(&m.id))
        .map(|m| {
            let mut with = adopted.to_vec();
            with.push(m.id);
            let s = score(registry, &with);
            let dimension = registry
                .mode(m.mode)
                .expect("offered mitigations have a mode")
                .dimension;
            Gain {
                mitigation: m.id,
                mode: m.mode,
                dimension,
                minimum: s.minimum - base.minimum,
                average: s.average - base.average,
                own_dimension: s.dimension(dimension).unwrap_or(0.0)
                    - base.dimension(dimension).unwrap_or(0.0),
            }
        })
        .collect();
    gains.sort_by(|a, b| {
        b.minimum
            .total_cmp(&a.minimum)
            .then(b.average.total_cmp(&a.average))
            .then(b.own_dimension.total_cmp(&a.own_dimension))
            .then(a.mitigation.cmp(&b.mitigation))
    });
    gains
}

/// The cheapest path to lower risk: mitigations adopted one at a time, each the one that
/// most raises the weakest dimension (then the average), until every dimension reaches
/// `target` or nothing is left. Returns the steps and the scores after each.
pub fn path_to(registry: &Registry, adopted: &[u32], target: f64) -> Vec<(u32, Scores)> {
    let mut current = adopted.to_vec();
    let mut steps = Vec::new();
    loop {
        let now = score(registry, &current);
        if now.minimum >= target {
            break;
        }
        let Some(best) = gaps(registry, &current).into_iter().next() else {
            break;
        };
        if best.average <= 0.0 && best.minimum <= 0.0 {
            break;
        }
        current.push(best.mitigation);
        steps.push((best.mitigation, score(registry, &current)));
    }
    steps
}
