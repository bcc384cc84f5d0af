//! The analysis as text (a Markdown table for terminals and CI logs) and as a standalone
//! HTML page: a forest plot of every metric's lift with its interval, and the cumulative
//! lift by exposure day with its always-valid band. The page is static SVG, no script,
//! under a Content-Security-Policy that allows none.

use crate::analyze::{Analysis, MetricVerdict, Outcome, TestKind, decision_effect};
use crate::effect::Scale;
use assay_render::escape_html as esc;
use std::fmt::Write;

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Ship => "SHIP",
        Outcome::DoNotShip => "DO NOT SHIP",
        Outcome::Inconclusive => "INCONCLUSIVE",
        Outcome::Invalid => "INVALID",
    }
}

fn show(scale: Scale, x: f64) -> String {
    crate::analyze::format_effect(scale, x)
}

/// A metric's verdict in words, as every table shows it.
pub fn verdict_text(v: MetricVerdict) -> &'static str {
    match v {
        MetricVerdict::Better => "better",
        MetricVerdict::Worse => "worse",
        MetricVerdict::Neutral => "no change",
        MetricVerdict::NoTest => "no test",
    }
}

pub fn markdown(a: &Analysis) -> String {
    let mut s = String::new();
    let units: Vec<String> = a
        .arms
        .iter()
        .map(|x| format!("{} {}", x.name, x.units))
        .collect();
    let _ = writeln!(
        s,
        "A/B analysis of {} ({} rows): {}. Control: {}.",
        a.source,
        a.rows,
        units.join(", "),
        a.control
    );
    let _ = writeln!(
        s,
        "Sample ratio: χ² = {:.3}, p = {:.3}{}.",
        a.srm.chi_square,
        a.srm.p_value,
        if a.srm.mismatch {
            " — MISMATCH"
        } else {
            " (ok)"
        }
    );
    let test = match a.decide_with {
        TestKind::Sequential => format!(
            "always-valid sequential intervals (N* = {})",
            a.settings.sequential_tuning
        ),
        TestKind::Fixed => "fixed-horizon Welch t intervals".into(),
    };
    let _ = writeln!(
        s,
        "Intervals: {:.0}%, {test}; goal metrics corrected by {:?}.\n",
        100.0 * (1.0 - a.settings.alpha),
        a.correction
    );
    if let Some(ps) = &a.post_stratification {
        let _ = writeln!(
            s,
            "Post-stratified by `{}` ({} strata): each effect is estimated within the strata and \
             weighted by their shares of all units (GrowthBook's method); a metric where that was \
             not possible says why among the warnings.\n",
            ps.column, ps.strata
        );
    }
    let _ = writeln!(
        s,
        "| metric | role | variant | control | treatment | lift | interval | p | chance to win | CUPED | verdict |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|");
    for m in &a.metrics {
        for r in &m.results {
            let c = &r.comparison;
            let (lift, iv, ctw) = match decision_effect(c) {
                Some(e) => {
                    let i = a.decide_with.interval(e);
                    let mut iv =
                        format!("[{}, {}]", show(e.scale, i.lower), show(e.scale, i.upper));
                    if let Some(adj) = r.adjusted_interval {
                        iv.push_str(&format!(
                            "; corrected [{}, {}]",
                            show(e.scale, adj.lower),
                            show(e.scale, adj.upper)
                        ));
                    }
                    (
                        show(e.scale, e.estimate),
                        iv,
                        format!("{:.1}%", 100.0 * e.bayes.chance_to_win),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            let p = r
                .adjusted_p_value
                .map_or("-".into(), crate::analyze::format_p);
            let cuped = c
                .variance_reduction
                .map_or("-".into(), |v| format!("-{:.0}% var", 100.0 * v));
            let _ = writeln!(
                s,
                "| {}{} | {:?} | {} | {} | {} | {lift} | {iv} | {p} | {ctw} | {cuped} | {} |",
                m.name,
                if m.lower_is_better {
                    " (lower is better)"
                } else {
                    ""
                },
                m.role,
                r.variant,
                arm_mean(c.control.mean),
                arm_mean(c.treatment.mean),
                verdict_text(r.verdict)
            );
        }
    }
    if !a.warnings.is_empty() {
        let _ = writeln!(s, "\nWarnings:");
        for w in &a.warnings {
            let _ = writeln!(s, "- {w}");
        }
    }
    let _ = writeln!(
        s,
        "\nDecision: {}{}",
        outcome_text(a.decision.outcome),
        a.decision
            .ship
            .as_ref()
            .map_or(String::new(), |v| format!(" {v}"))
    );
    for r in &a.decision.reasons {
        let _ = writeln!(s, "- {r}");
    }
    s
}

/// One row per metric and treatment, for spreadsheets: the decision's effect (relative
/// when possible), both intervals, p-values, the Bayesian view and the verdict.
pub fn csv(a: &Analysis) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "metric",
        "role",
        "lower_is_better",
        "variant",
        "units_control",
        "units_treatment",
        "mean_control",
        "mean_treatment",
        "scale",
        "lift",
        "std_error",
        "fixed_lower",
        "fixed_upper",
        "fixed_p",
        "sequential_lower",
        "sequential_upper",
        "sequential_p",
        "adjusted_p",
        "adjusted_lower",
        "adjusted_upper",
        "chance_to_win",
        "risk_control",
        "risk_treatment",
        "cuped_theta",
        "variance_reduction",
        "verdict",
    ]);
    // An undefined value (a ratio over a zero denominator) is an empty cell, never "NaN".
    let num = |x: Option<f64>| {
        // A one-sided interval's open end is `inf` or `-inf`; undefined is empty.
        x.filter(|v| !v.is_nan())
            .map_or(String::new(), |v| v.to_string())
    };
    for m in &a.metrics {
        for r in &m.results {
            let c = &r.comparison;
            let e = decision_effect(c);
            let _ = w.write_record([
                m.name.clone(),
                format!("{:?}", m.role).to_lowercase(),
                m.lower_is_better.to_string(),
                r.variant.clone(),
                c.control.units.to_string(),
                c.treatment.units.to_string(),
                num(Some(c.control.mean)),
                num(Some(c.treatment.mean)),
                e.map_or(String::new(), |e| match e.scale {
                    Scale::Relative => "relative".into(),
                    Scale::Absolute => "absolute".into(),
                }),
                num(e.map(|e| e.estimate)),
                num(e.map(|e| e.std_error)),
                num(e.map(|e| e.fixed.lower)),
                num(e.map(|e| e.fixed.upper)),
                num(e.map(|e| e.fixed.p_value)),
                num(e.map(|e| e.sequential.lower)),
                num(e.map(|e| e.sequential.upper)),
                num(e.map(|e| e.sequential.p_value)),
                num(r.adjusted_p_value),
                num(r.adjusted_interval.map(|i| i.lower)),
                num(r.adjusted_interval.map(|i| i.upper)),
                num(e.map(|e| e.bayes.chance_to_win)),
                num(e.map(|e| e.bayes.risk_control)),
                num(e.map(|e| e.bayes.risk_treatment)),
                num(c.theta),
                num(c.variance_reduction),
                verdict_text(r.verdict).into(),
            ]);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn colour(v: MetricVerdict) -> &'static str {
    match v {
        MetricVerdict::Better => "#1a7f37",
        MetricVerdict::Worse => "#cf222e",
        _ => "#57606a",
    }
}

/// A symmetric axis around 0 wide enough for every interval.
fn extent(values: impl Iterator<Item = f64>) -> f64 {
    let m = values
        .filter(|x| x.is_finite())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    if m == 0.0 { 1.0 } else { m * 1.1 }
}

fn forest(a: &Analysis) -> String {
    let rows: Vec<_> = a
        .metrics
        .iter()
        .flat_map(|m| m.results.iter().map(move |r| (m, r)))
        .collect();
    let pick = |e: &crate::effect::Effect| a.decide_with.interval(e);
    let span = extent(
        rows.iter()
            .filter_map(|(_, r)| decision_effect(&r.comparison))
            .flat_map(|e| {
                let i = pick(e);
                [i.lower, i.upper, e.fixed.lower, e.fixed.upper]
            }),
    );
    let (left, width, row_h) = (260.0, 520.0, 34.0);
    let height = 40.0 + row_h * rows.len() as f64;
    let x = |v: f64| left + width / 2.0 + v / span * width / 2.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="forest" role="img" aria-label="lift of each metric with its interval" width="{}" height="{height}" viewBox="0 0 {} {height}">"#,
        left + width + 260.0,
        left + width + 260.0
    );
    let _ = write!(
        s,
        r##"<line x1="{0}" x2="{0}" y1="10" y2="{1}" stroke="#8c959f" stroke-dasharray="3 3"/>"##,
        x(0.0),
        height - 20.0
    );
    for (k, tick) in [-span / 1.1, 0.0, span / 1.1].into_iter().enumerate() {
        let scale = rows
            .iter()
            .find_map(|(_, r)| decision_effect(&r.comparison).map(|e| e.scale))
            .unwrap_or(Scale::Relative);
        let _ = write!(
            s,
            r#"<text class="tick" x="{}" y="{}" text-anchor="{}">{}</text>"#,
            x(tick),
            height - 4.0,
            ["start", "middle", "end"][k],
            esc(&show(scale, tick))
        );
    }
    for (k, (m, r)) in rows.iter().enumerate() {
        let y = 24.0 + row_h * k as f64;
        let label = format!("{} · {}", m.name, r.variant);
        let _ = write!(
            s,
            r#"<g class="row" data-metric="{}" data-variant="{}" data-verdict="{}"><text x="8" y="{}">{}</text>"#,
            esc(&m.name),
            esc(&r.variant),
            verdict_text(r.verdict),
            y + 4.0,
            esc(&label)
        );
        if let Some(e) = decision_effect(&r.comparison) {
            let i = pick(e);
            let col = colour(r.verdict);
            let _ = write!(
                s,
                r##"<line class="fixed" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{col}" stroke-width="7" stroke-opacity="0.25"/><line class="interval" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{col}" stroke-width="2"/><circle class="estimate" cx="{}" cy="{y}" r="4.5" fill="{col}" data-estimate="{}" data-lower="{}" data-upper="{}"/><text x="{}" y="{}">{} [{}, {}]</text>"##,
                x(e.fixed.lower.max(-span)),
                x(e.fixed.upper.min(span)),
                x(i.lower.max(-span)),
                x(i.upper.min(span)),
                x(e.estimate),
                e.estimate,
                i.lower,
                i.upper,
                left + width + 8.0,
                y + 4.0,
                esc(&show(e.scale, e.estimate)),
                esc(&show(e.scale, i.lower)),
                esc(&show(e.scale, i.upper)),
            );
        } else {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">no test</text>"#,
                x(0.0) + 6.0,
                y + 4.0
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

fn cumulative(a: &Analysis) -> String {
    let mut s = String::new();
    for t in &a.timeline {
        if t.points.is_empty() {
            continue;
        }
        let (w, h, pad) = (600.0, 220.0, 72.0);
        // The first days' intervals are very wide; the scale follows the later three
        // quarters (earlier values are clipped at the edge).
        let skip = t.points.len() / 4;
        let span = extent(
            t.points
                .iter()
                .skip(skip)
                .flat_map(|p| [p.sequential_lower, p.sequential_upper, p.estimate]),
        );
        let n = t.points.len().max(2) as f64 - 1.0;
        let x = |k: usize| pad + (w - pad - 12.0) * k as f64 / n.max(1.0);
        let (top, bottom) = (12.0, h - 24.0);
        let y = |v: f64| {
            let mid = (top + bottom) / 2.0;
            mid - v.clamp(-span, span) / span * (bottom - top) / 2.0
        };
        let band: Vec<String> = t
            .points
            .iter()
            .enumerate()
            .map(|(k, p)| format!("{:.1},{:.1}", x(k), y(p.sequential_upper)))
            .chain(
                t.points
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(k, p)| format!("{:.1},{:.1}", x(k), y(p.sequential_lower))),
            )
            .collect();
        let line: Vec<String> = t
            .points
            .iter()
            .enumerate()
            .map(|(k, p)| format!("{:.1},{:.1}", x(k), y(p.estimate)))
            .collect();
        let last = t.points.last().expect("non-empty");
        let _ = write!(
            s,
            r##"<figure class="series" data-metric="{m}" data-variant="{v}" data-points="{np}"><figcaption>{m} · {v}: cumulative {scale} lift by exposure day, last {est} [{lo}, {hi}]</figcaption><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}"><polygon class="band" points="{band}" fill="#0969da" fill-opacity="0.15"/><line x1="{pad}" x2="{x2}" y1="{y0}" y2="{y0}" stroke="#8c959f" stroke-dasharray="3 3"/><polyline class="lift" points="{line}" fill="none" stroke="#0969da" stroke-width="2"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end">{top}</text><text class="tick" x="{tx}" y="{by}" text-anchor="end">{bottom}</text><text class="tick" x="{pad}" y="{yb}">{d0}</text><text class="tick" x="{x2}" y="{yb}" text-anchor="end">{d1}</text></svg></figure>"##,
            m = esc(&t.metric),
            v = esc(&t.variant),
            np = t.points.len(),
            scale = match t.scale {
                Scale::Relative => "relative",
                Scale::Absolute => "absolute",
            },
            est = esc(&show(t.scale, last.estimate)),
            lo = esc(&show(t.scale, last.sequential_lower)),
            hi = esc(&show(t.scale, last.sequential_upper)),
            band = band.join(" "),
            line = line.join(" "),
            x2 = w - 12.0,
            y0 = y(0.0),
            tx = pad - 6.0,
            ty = y(span) + 4.0,
            by = y(-span),
            top = esc(&show(t.scale, span)),
            bottom = esc(&show(t.scale, -span)),
            yb = h - 4.0,
            d0 = esc(&t.points[0].day),
            d1 = esc(&last.day),
        );
    }
    s
}

pub fn html(a: &Analysis) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>A/B analysis: {}</title><style>body{{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}}h1{{font-size:20px}}.decision{{font-size:18px;font-weight:600;padding:8px 12px;display:inline-block;border-radius:6px}}.ship{{background:#dafbe1}}.do-not-ship,.invalid{{background:#ffebe9}}.inconclusive{{background:#fff8c5}}svg text{{font-size:12px;fill:#1f2328}}.tick{{fill:#57606a}}figure{{display:inline-block;margin:8px}}ul.warnings li{{color:#9a6700}}</style></head><body>"#,
        esc(&a.source)
    );
    let _ = write!(
        s,
        r#"<h1>A/B analysis: {}</h1><p>{} rows; control <b>{}</b>; arms: {}. Sample ratio χ² = {:.3}, p = {:.3}{}.</p>"#,
        esc(&a.source),
        a.rows,
        esc(&a.control),
        esc(&a
            .arms
            .iter()
            .map(|x| format!("{} ({} units)", x.name, x.units))
            .collect::<Vec<_>>()
            .join(", ")),
        a.srm.chi_square,
        a.srm.p_value,
        if a.srm.mismatch { " — MISMATCH" } else { "" }
    );
    let class = match a.decision.outcome {
        Outcome::Ship => "ship",
        Outcome::DoNotShip => "do-not-ship",
        Outcome::Inconclusive => "inconclusive",
        Outcome::Invalid => "invalid",
    };
    let _ = write!(
        s,
        r#"<p id="decision" class="decision {class}">{}{}</p><ul class="reasons">"#,
        outcome_text(a.decision.outcome),
        esc(&a
            .decision
            .ship
            .as_ref()
            .map_or(String::new(), |v| format!(": {v}")))
    );
    for r in &a.decision.reasons {
        let _ = write!(s, "<li>{}</li>", esc(r));
    }
    s.push_str("</ul>");
    let _ = write!(
        s,
        "<h2>Lift by metric</h2><p>Dot: estimate; thin line: the decision's {} interval; pale bar: the fixed-horizon Welch interval. Green: better, red: worse, grey: no significant change.</p>",
        match a.decide_with {
            TestKind::Sequential => "always-valid sequential",
            TestKind::Fixed => "fixed-horizon",
        }
    );
    s.push_str(&forest(a));
    if !a.timeline.is_empty() {
        s.push_str("<h2>Cumulative lift over time</h2><p>Line: the lift of units exposed so far; band: the always-valid sequential interval, which may be read every day without inflating the error rate.</p>");
        s.push_str(&cumulative(a));
    }
    if !a.warnings.is_empty() {
        s.push_str(r#"<h2>Warnings</h2><ul class="warnings">"#);
        for w in &a.warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}

/// An arm's mean for the table: "undefined" when it is (a ratio whose denominator sums to
/// 0, values that overflow).
fn arm_mean(x: f64) -> String {
    if !x.is_finite() {
        "undefined".into()
    } else if x != 0.0 && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:.4e}")
    } else {
        format!("{x:.4}")
    }
}
