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

/// One row per metric and variant, each on its own scale (a 0.3% lift and a 40% one
/// are both readable), centred on a shared zero line; the row's scale is written at its
/// ends.
fn forest(a: &Analysis) -> String {
    let rows: Vec<_> = a
        .metrics
        .iter()
        .flat_map(|m| m.results.iter().map(move |r| (m, r)))
        .collect();
    let pick = |e: &crate::effect::Effect| a.decide_with.interval(e);
    let (left, width, row_h) = (260.0, 520.0, 40.0);
    let height = 24.0 + row_h * rows.len() as f64;
    let zero = left + width / 2.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="forest" role="img" aria-label="lift of each metric with its interval, each row on its own scale" width="{}" height="{height}" viewBox="0 0 {} {height}">"#,
        left + width + 260.0,
        left + width + 260.0
    );
    let _ = write!(
        s,
        r##"<line x1="{zero}" x2="{zero}" y1="6" y2="{}" stroke="#8c959f" stroke-dasharray="3 3"/>"##,
        height - 6.0
    );
    for (k, (m, r)) in rows.iter().enumerate() {
        let y = 22.0 + row_h * k as f64;
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
            // This row's scale: its own intervals, open ends aside.
            let span =
                extent([i.lower, i.upper, e.fixed.lower, e.fixed.upper, e.estimate].into_iter());
            let x = |v: f64| zero + v.clamp(-span, span) / span * width / 2.0;
            let col = colour(r.verdict);
            let _ = write!(
                s,
                r##"<line class="fixed" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{col}" stroke-width="7" stroke-opacity="0.25"/><line class="interval" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{col}" stroke-width="2"/><circle class="estimate" cx="{}" cy="{y}" r="4.5" fill="{col}" data-estimate="{}" data-lower="{}" data-upper="{}"/><text class="tick" x="{}" y="{}" text-anchor="start">{}</text><text class="tick" x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}">{} [{}, {}]</text>"##,
                x(e.fixed.lower),
                x(e.fixed.upper),
                x(i.lower),
                x(i.upper),
                x(e.estimate),
                e.estimate,
                i.lower,
                i.upper,
                left,
                y + 16.0,
                esc(&show(e.scale, -span)),
                left + width,
                y + 16.0,
                esc(&show(e.scale, span)),
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
                zero + 6.0,
                y + 4.0
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

/// Every number of the analysis in one table, a row per metric and variant; each cell's
/// raw value is also in a `data-` attribute (the page tests read them back).
fn results_table(a: &Analysis) -> String {
    let mut s = String::from(
        r#"<table id="results"><thead><tr><th>metric</th><th>role</th><th>variant</th><th>control (units)</th><th>treatment (units)</th><th>absolute lift</th><th>relative lift</th><th>decision interval</th><th>fixed-horizon interval</th><th>sequential interval</th><th>p</th><th>p corrected</th><th>chance to win</th><th>CUPED</th><th>verdict</th></tr></thead><tbody>"#,
    );
    let num = |x: Option<f64>| {
        x.filter(|v| v.is_finite())
            .map_or(String::new(), |v| v.to_string())
    };
    for m in &a.metrics {
        let mut name = esc(&m.name);
        if let Some(q) = m.quantile {
            let _ = write!(
                name,
                " <small>({} quantile)</small>",
                crate::effect::quantile_name(q)
            );
        }
        if m.lower_is_better {
            name.push_str(" <small>(lower is better)</small>");
        }
        for r in &m.results {
            let c = &r.comparison;
            let e = decision_effect(c);
            let iv = |i: Option<crate::effect::Interval>, scale: Scale| {
                i.map_or("-".into(), |i| {
                    format!(
                        "[{}, {}]",
                        esc(&show(scale, i.lower)),
                        esc(&show(scale, i.upper))
                    )
                })
            };
            let abs = c.absolute.as_ref();
            let rel = c.relative.as_ref();
            let scale = e.map_or(Scale::Relative, |e| e.scale);
            let mut decision = iv(e.map(|e| a.decide_with.interval(e)), scale);
            if let Some(adj) = r.adjusted_interval {
                let _ = write!(
                    decision,
                    "<br><small>corrected [{}, {}]</small>",
                    esc(&show(scale, adj.lower)),
                    esc(&show(scale, adj.upper))
                );
            }
            let cuped = match (c.variance_reduction, c.post_stratified) {
                (Some(v), _) => format!("−{:.0}% variance", 100.0 * v),
                (None, Some(true)) => "post-stratified".into(),
                _ => "-".into(),
            };
            let _ = write!(
                s,
                r#"<tr data-metric="{}" data-variant="{}" data-control-mean="{}" data-treatment-mean="{}" data-control-units="{}" data-treatment-units="{}" data-absolute="{}" data-relative="{}" data-p="{}" data-adjusted-p="{}" data-chance-to-win="{}" data-verdict="{}"><td>{name}</td><td>{}</td><td>{}</td><td>{} <small>({})</small></td><td>{} <small>({})</small></td><td>{}</td><td>{}</td><td>{decision}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{cuped}</td><td class="verdict {}">{}</td></tr>"#,
                esc(&m.name),
                esc(&r.variant),
                num(Some(c.control.mean)),
                num(Some(c.treatment.mean)),
                c.control.units,
                c.treatment.units,
                num(abs.map(|e| e.estimate)),
                num(rel.map(|e| e.estimate)),
                num(r.p_value),
                num(r.adjusted_p_value),
                num(e.map(|e| e.bayes.chance_to_win)),
                verdict_text(r.verdict),
                role_text(m.role),
                esc(&r.variant),
                arm_mean(c.control.mean),
                c.control.units,
                arm_mean(c.treatment.mean),
                c.treatment.units,
                abs.map_or("-".into(), |e| esc(&show(Scale::Absolute, e.estimate))),
                rel.map_or("-".into(), |e| esc(&show(Scale::Relative, e.estimate))),
                iv(e.map(|e| e.fixed), scale),
                iv(e.map(|e| e.sequential), scale),
                r.p_value.map_or("-".into(), crate::analyze::format_p),
                r.adjusted_p_value
                    .map_or("-".into(), crate::analyze::format_p),
                e.map_or("-".into(), |e| format!(
                    "{:.1}%",
                    100.0 * e.bayes.chance_to_win
                )),
                verdict_text(r.verdict).replace(' ', "-"),
                verdict_text(r.verdict),
            );
        }
    }
    s.push_str("</tbody></table>");
    s
}

fn role_text(r: crate::aggregate::Role) -> &'static str {
    match r {
        crate::aggregate::Role::Goal => "goal",
        crate::aggregate::Role::Guardrail => "guardrail",
        crate::aggregate::Role::Secondary => "secondary",
    }
}

/// The settings the numbers depend on, as a definition list.
fn settings_list(a: &Analysis) -> String {
    let st = &a.settings;
    let mut items: Vec<(&str, String)> = vec![
        (
            "decision reads",
            match a.decide_with {
                TestKind::Sequential => format!(
                    "always-valid sequential intervals (N* = {})",
                    st.sequential_tuning
                ),
                TestKind::Fixed => "fixed-horizon Welch t intervals".into(),
            },
        ),
        (
            "test",
            match st.alternative {
                crate::effect::Alternative::TwoSided => "two-sided".into(),
                crate::effect::Alternative::Greater => "one-sided: treatment greater".into(),
                crate::effect::Alternative::Less => "one-sided: treatment less".into(),
            },
        ),
        (
            "α",
            format!("{} (intervals {:.0}%)", st.alpha, 100.0 * (1.0 - st.alpha)),
        ),
        ("correction of goal metrics", format!("{:?}", a.correction)),
        (
            "prior on the relative lift",
            st.prior
                .map_or("flat".into(), |(m, sd)| format!("N({m}, {sd}²)")),
        ),
        ("sample-ratio threshold", format!("p < {}", a.srm.threshold)),
    ];
    if let Some(ps) = &a.post_stratification {
        items.push((
            "post-stratified by",
            format!("{} ({} strata)", ps.column, ps.strata),
        ));
    }
    let mut s = String::from(r#"<dl id="settings">"#);
    for (k, v) in items {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    s.push_str("</dl>");
    s
}

/// Up to five exposure days under a cumulative chart, evenly spread, first and last
/// included, as dates.
fn day_ticks(points: &[crate::analyze::TimelinePoint], x: &dyn Fn(usize) -> f64, y: f64) -> String {
    let last = points.len() - 1;
    let mut at: Vec<usize> = (0..5).map(|k| k * last / 4).collect();
    at.dedup();
    at.iter()
        .map(|&k| {
            let anchor = match k {
                0 => "start",
                _ if k == last => "end",
                _ => "middle",
            };
            format!(
                r#"<text class="tick day" x="{:.1}" y="{y}" text-anchor="{anchor}">{}</text>"#,
                x(k),
                esc(&points[k].day)
            )
        })
        .collect()
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
            r##"<figure class="series" data-metric="{m}" data-variant="{v}" data-points="{np}"><figcaption>{m} · {v}: cumulative {scale} lift by exposure day, last {est} [{lo}, {hi}]</figcaption><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}"><polygon class="band" points="{band}" fill="#0969da" fill-opacity="0.15"/><line x1="{pad}" x2="{x2}" y1="{y0}" y2="{y0}" stroke="#8c959f" stroke-dasharray="3 3"/><polyline class="lift" points="{line}" fill="none" stroke="#0969da" stroke-width="2"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end">{top}</text><text class="tick" x="{tx}" y="{by}" text-anchor="end">{bottom}</text>{days}</svg></figure>"##,
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
            days = day_ticks(&t.points, &x, h - 4.0),
        );
    }
    s
}

pub fn html(a: &Analysis) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>A/B analysis: {}</title><style>body{{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}}h1{{font-size:20px}}.decision{{font-size:18px;font-weight:600;padding:8px 12px;display:inline-block;border-radius:6px}}.ship{{background:#dafbe1}}.do-not-ship,.invalid{{background:#ffebe9}}.inconclusive{{background:#fff8c5}}svg text{{font-size:12px;fill:#1f2328}}.tick{{fill:#57606a}}figure{{display:inline-block;margin:8px}}ul.warnings li{{color:#9a6700}}table{{border-collapse:collapse;margin:8px 0}}th,td{{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:right;vertical-align:top}}th:nth-child(-n+3),td:nth-child(-n+3){{text-align:left}}td.better{{color:#1a7f37}}td.worse{{color:#cf222e}}dl{{display:grid;grid-template-columns:max-content auto;gap:2px 16px}}dt{{color:#57606a}}dd{{margin:0}}small{{color:#57606a}}</style></head><body>"#,
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
    s.push_str("<h2>Results</h2>");
    s.push_str(&results_table(a));
    s.push_str("<h2>Settings</h2>");
    s.push_str(&settings_list(a));
    let _ = write!(
        s,
        "<h2>Lift by metric</h2><p>Dot: estimate; thin line: the decision's {} interval; pale bar: the fixed-horizon Welch interval. Each row has its own scale, written at its ends, around the shared zero line. Green: better, red: worse, grey: no significant change.</p>",
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
