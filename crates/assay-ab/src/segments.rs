//! One experiment read by segment (country, platform, new or returning users): each
//! segment analysed on its own rows exactly as a file holding only those rows would be
//! (its own sample-ratio check, caps, tests and decision), the p-values of each metric
//! and variant corrected across the segments (many slices make chance findings), and a
//! warning when the pooled effect points one way while every segment points the other
//! (Simpson's paradox: the arms' traffic shares differ between segments).

use crate::analyze::{Analysis, decision_effect, format_effect};
use crate::correct::{Correction, adjust};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct SegmentResult {
    pub segment: String,
    /// The segment's own analysis, or why there is none (no control units in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// A metric and variant's p-value in one segment, before and after the correction
/// across segments.
#[derive(Clone, Debug, Serialize)]
pub struct AcrossSegments {
    pub metric: String,
    pub variant: String,
    pub segment: String,
    pub p_value: f64,
    pub adjusted_p_value: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Segmented {
    pub column: String,
    pub correction: Correction,
    pub segments: Vec<SegmentResult>,
    pub across_segments: Vec<AcrossSegments>,
    pub warnings: Vec<String>,
}

/// Puts the segments' analyses together with the pooled one.
pub fn combine(
    pooled: &Analysis,
    column: &str,
    segments: Vec<SegmentResult>,
    correction: Correction,
) -> Segmented {
    let mut warnings = Vec::new();
    for s in &segments {
        if let Some(a) = &s.analysis
            && a.srm.mismatch
        {
            warnings.push(format!(
                "segment `{}`: sample ratio mismatch (p = {:.2e}): its numbers cannot be trusted",
                shown(&s.segment),
                a.srm.p_value
            ));
        }
    }
    let mut across = Vec::new();
    for m in &pooled.metrics {
        for r in &m.results {
            // This metric and variant in every segment that tested it.
            let found: Vec<(&str, f64, f64)> = segments
                .iter()
                .filter_map(|s| {
                    let a = s.analysis.as_ref()?;
                    let sr = a
                        .metrics
                        .iter()
                        .find(|x| x.name == m.name)?
                        .results
                        .iter()
                        .find(|x| x.variant == r.variant)?;
                    let e = decision_effect(&sr.comparison)?;
                    Some((s.segment.as_str(), sr.p_value?, e.estimate))
                })
                .collect();
            let raw: Vec<f64> = found.iter().map(|f| f.1).collect();
            for (f, q) in found.iter().zip(adjust(&raw, correction)) {
                across.push(AcrossSegments {
                    metric: m.name.clone(),
                    variant: r.variant.clone(),
                    segment: f.0.to_owned(),
                    p_value: f.1,
                    adjusted_p_value: q,
                });
            }
            let Some(e) = decision_effect(&r.comparison) else {
                continue;
            };
            let signs: Vec<f64> = found.iter().map(|f| f.2.signum()).collect();
            if found.len() >= 2
                && e.estimate != 0.0
                && signs.iter().all(|s| *s == -e.estimate.signum())
            {
                warnings.push(format!(
                    "{} ({}): the pooled effect is {} but every segment of `{column}` points the other way ({}): Simpson's paradox, the arms' traffic shares differ between segments; read the segments, not the pooled number",
                    m.name,
                    r.variant,
                    format_effect(e.scale, e.estimate),
                    found
                        .iter()
                        .map(|f| format!("{} {}", shown(f.0), format_effect(e.scale, f.2)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Segmented {
        column: column.to_owned(),
        correction,
        segments,
        across_segments: across,
        warnings,
    }
}

/// A segment as tables name it: the rows without a value (JSON keeps "") are
/// `(empty)`, as GrowthBook shows its null dimension apart from the values.
pub fn shown(segment: &str) -> &str {
    if segment.is_empty() {
        "(empty)"
    } else {
        segment
    }
}

/// The segments as a Markdown table: units, sample-ratio p, and each metric's lift with
/// its interval, p-value corrected across segments, and verdict.
pub fn markdown(s: &Segmented, decide_with: crate::analyze::TestKind) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## By `{}` ({} segments; p corrected across segments by {:?})\n",
        s.column,
        s.segments.len(),
        s.correction
    );
    let _ = writeln!(
        out,
        "| segment | units | SRM p | metric | variant | lift | interval | p (across segments) | verdict |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---|---:|---|---:|---|");
    for seg in &s.segments {
        let Some(a) = &seg.analysis else {
            let _ = writeln!(
                out,
                "| {} | - | - | - | - | - | {} | - | - |",
                shown(&seg.segment),
                seg.undefined.as_deref().unwrap_or("undefined")
            );
            continue;
        };
        let units: u64 = a.arms.iter().map(|x| x.units).sum();
        for m in &a.metrics {
            for r in &m.results {
                let (lift, iv) = match decision_effect(&r.comparison) {
                    Some(e) => {
                        let i = decide_with.interval(e);
                        (
                            format_effect(e.scale, e.estimate),
                            format!(
                                "[{}, {}]",
                                format_effect(e.scale, i.lower),
                                format_effect(e.scale, i.upper)
                            ),
                        )
                    }
                    None => ("-".into(), "-".into()),
                };
                let q = s
                    .across_segments
                    .iter()
                    .find(|x| {
                        x.segment == seg.segment && x.metric == m.name && x.variant == r.variant
                    })
                    .map_or("-".into(), |x| crate::analyze::format_p(x.adjusted_p_value));
                let _ = writeln!(
                    out,
                    "| {} | {units} | {} | {} | {} | {lift} | {iv} | {q} | {} |",
                    shown(&seg.segment),
                    crate::analyze::format_p(a.srm.p_value),
                    m.name,
                    r.variant,
                    crate::report::verdict_text(r.verdict)
                );
            }
        }
    }
    for w in &s.warnings {
        let _ = writeln!(out, "\nwarning: {w}");
    }
    out
}
