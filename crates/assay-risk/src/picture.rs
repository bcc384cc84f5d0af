//! Pictures of scores: the site's heatmap (rows = benchmarks; the five dimensions,
//! Average and Minimum; diverging colours centred at 50; two significant digits) in the
//! terminal and as SVG or a standalone HTML page, and a card per benchmark with its
//! findings in words.

use crate::score::{RiskLevel, Scores, display_integer, heatmap_text};
use crate::{Benchmark, Dimension, Registry};
use assay_render::escape_html as escape;
use std::fmt::Write;

pub const COLUMNS: [&str; 7] = [
    "Comprehensiveness",
    "Intelligibility",
    "Consistency",
    "Correctness",
    "Longevity",
    "Average",
    "Minimum",
];

fn cells(s: &Scores) -> [Option<f64>; 7] {
    let d = s.dimensions;
    [
        d[0],
        d[1],
        d[2],
        d[3],
        d[4],
        Some(s.average),
        Some(s.minimum),
    ]
}

/// A diverging colour for a score in [0, 1]: red at 0, pale yellow at 0.5, green at 1
/// (ColorBrewer RdYlGn end and middle points).
pub fn colour(score: f64) -> (u8, u8, u8) {
    let low = (215.0, 48.0, 39.0);
    let mid = (255.0, 255.0, 191.0);
    let high = (26.0, 152.0, 80.0);
    let t = score.clamp(0.0, 1.0);
    let (a, b, u) = if t < 0.5 {
        (low, mid, t / 0.5)
    } else {
        (mid, high, (t - 0.5) / 0.5)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * u).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The heatmap for a terminal: cells coloured with 24-bit ANSI backgrounds when
/// `colour_output`, plain text otherwise.
pub fn terminal(rows: &[(String, Scores)], colour_output: bool) -> String {
    let name_width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let short = [
        "Compr.", "Intell.", "Consist.", "Correct.", "Longev.", "Average", "Minimum",
    ];
    let mut out = format!("{:name_width$}", "benchmark");
    for h in short {
        let _ = write!(out, " {h:>8}");
    }
    out.push('\n');
    for (name, s) in rows {
        let _ = write!(out, "{name:name_width$}");
        for c in cells(s) {
            let text = c.map_or_else(|| "-".to_owned(), heatmap_text);
            match (c, colour_output) {
                (Some(v), true) => {
                    let (r, g, b) = colour(v);
                    let _ = write!(
                        out,
                        " \x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m{text:>8}\x1b[0m"
                    );
                }
                _ => {
                    let _ = write!(out, " {text:>8}");
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Rows ordered by a shown column, highest first (an unscored cell last); ties keep
/// their order.
pub fn sort_by_column(rows: &mut [(String, Scores)], column: usize) {
    rows.sort_by(|a, b| {
        let (x, y) = (cells(&a.1)[column], cells(&b.1)[column]);
        match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
}

/// A name as an HTML id fragment: `card-` and its letters and digits, lowercased.
pub fn card_id(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("card-{slug}")
}

/// The heatmap as an SVG image. Each cell carries `data-benchmark`, `data-column` and
/// `data-value` (the score on 0-100, full precision) for tools that read it back, and a
/// `<title>` (its value and risk level, shown on hover); a colour legend with the 50 and
/// 70 thresholds is drawn under the rows.
pub fn svg(rows: &[(String, Scores)]) -> String {
    svg_with(rows, None, false)
}

/// [`svg`], with the column the rows are sorted by marked (▼), and each benchmark's name
/// a link to its card on the same page (`#card-...`, see [`card_id`]).
pub fn svg_with(rows: &[(String, Scores)], sorted_by: Option<usize>, card_links: bool) -> String {
    let (name_w, cell_w, cell_h, head_h) = (190.0, 118.0, 26.0, 34.0);
    let legend_h = 64.0;
    let width = name_w + cell_w * 7.0 + 10.0;
    let table_h = head_h + cell_h * rows.len() as f64 + 10.0;
    let height = table_h + legend_h;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="13" role="img" aria-label="BenchRisk heatmap">"#
    );
    out.push('\n');
    for (i, h) in COLUMNS.iter().enumerate() {
        let x = name_w + cell_w * (i as f64 + 0.5);
        let mark = if sorted_by == Some(i) { " ▼" } else { "" };
        let _ = writeln!(
            out,
            r#"<text class="head" x="{x}" y="{}" text-anchor="middle" font-weight="600" font-size="11">{h}{mark}</text>"#,
            head_h - 12.0
        );
    }
    for (r, (name, s)) in rows.iter().enumerate() {
        let y = head_h + cell_h * r as f64;
        let label = format!(
            r#"<text class="name" x="{}" y="{}" text-anchor="end">{}</text>"#,
            name_w - 8.0,
            y + cell_h * 0.65,
            escape(name)
        );
        if card_links {
            let _ = writeln!(
                out,
                r##"<a href="#{}">{label}</a>"##,
                escape(&card_id(name))
            );
        } else {
            out.push_str(&label);
            out.push('\n');
        }
        for (i, c) in cells(s).into_iter().enumerate() {
            let x = name_w + cell_w * i as f64;
            let (fill, text, value, hover) = match c {
                Some(v) => {
                    let (rr, gg, bb) = colour(v);
                    (
                        format!("rgb({rr},{gg},{bb})"),
                        heatmap_text(v),
                        format!("{}", v * 100.0),
                        format!("{:.1} ({})", v * 100.0, RiskLevel::of(v).words()),
                    )
                }
                None => (
                    "#dddddd".to_owned(),
                    "-".to_owned(),
                    String::new(),
                    "unscored".to_owned(),
                ),
            };
            let _ = writeln!(
                out,
                r#"<g class="cell" data-benchmark="{}" data-column="{}" data-value="{value}"><title>{} · {}: {hover}</title><rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{fill}" stroke="white"/><text x="{}" y="{}" text-anchor="middle">{text}</text></g>"#,
                escape(name),
                COLUMNS[i],
                escape(name),
                COLUMNS[i],
                x + cell_w / 2.0,
                y + cell_h * 0.65
            );
        }
    }
    out.push_str(&legend(name_w, table_h, 420.0));
    out.push_str("</svg>\n");
    out
}

/// The colour scale from 0 to 100 with the site's thresholds marked: below 50 high
/// risk, 50 to 70 moderate, from 70 lower risk.
fn legend(x0: f64, y0: f64, w: f64) -> String {
    let stops: String = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|&t| {
            let (r, g, b) = colour(t);
            format!(
                r#"<stop offset="{}%" stop-color="rgb({r},{g},{b})"/>"#,
                t * 100.0
            )
        })
        .collect();
    let bar_y = y0 + 8.0;
    let x = |v: f64| x0 + w * v / 100.0;
    let mut out = format!(
        r##"<g id="legend"><defs><linearGradient id="risk-scale">{stops}</linearGradient></defs><rect x="{x0}" y="{bar_y}" width="{w}" height="14" fill="url(#risk-scale)" stroke="#999"/>"##
    );
    for v in [0.0, 50.0, 70.0, 100.0] {
        // The thresholds are drawn heavier than the scale's ends.
        let (class, stroke) = if v == 50.0 || v == 70.0 {
            ("threshold", 2)
        } else {
            ("end", 1)
        };
        let _ = write!(
            out,
            r##"<line class="{class}" x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#222" stroke-width="{stroke}"/><text class="legend-tick" x="{x:.1}" y="{}" text-anchor="middle" font-size="11">{v}</text>"##,
            bar_y - 3.0,
            bar_y + 17.0,
            bar_y + 30.0,
            x = x(v),
        );
    }
    for (lo, hi, words) in [
        (0.0, 50.0, "high risk"),
        (50.0, 70.0, "moderate"),
        (70.0, 100.0, "lower risk"),
    ] {
        let _ = write!(
            out,
            r#"<text class="legend-band" x="{:.1}" y="{}" text-anchor="middle" font-size="11">{words}</text>"#,
            x((lo + hi) / 2.0),
            bar_y + 46.0
        );
    }
    out.push_str("</g>\n");
    out
}

/// A standalone HTML page holding the heatmap, the order of its rows said, and each
/// benchmark's card (see [`card`]) under it, linked from its row.
pub fn html(
    rows: &[(String, Scores)],
    source: &str,
    sorted_by: Option<usize>,
    cards: &[(String, String)],
) -> String {
    let order = match sorted_by {
        Some(c) => format!("Rows are sorted by {} (▼), highest first", COLUMNS[c]),
        None => "Rows are in the site's order (its total score, which is not a column here: it \
                 leaves Comprehensiveness out of the numerator); `--sort COLUMN` sorts by a \
                 column"
            .to_owned(),
    };
    let mut body = String::new();
    for (name, text) in cards {
        let _ = writeln!(
            body,
            "<section id=\"{}\"><h2>{}</h2><pre>{}</pre></section>",
            escape(&card_id(name)),
            escape(name),
            escape(text)
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>BenchRisk heatmap</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}p{{max-width:50rem}}pre{{white-space:pre-wrap;max-width:60rem}}svg a text{{fill:#0969da;text-decoration:underline}}</style></head><body>\n\
         <h1>How far each benchmark can be trusted</h1>\n\
         <p>Share of each BenchRisk dimension's risk that the benchmark's mitigations remove (0-100; \
         at least 70 is lower risk, 50-70 moderate, below 50 high; hover a cell for its value). \
         {}. Data: {}. A benchmark's name links to its card below.</p>\n{}\
         <p>BenchRisk: benchrisk.ai (MIT). Picture made by assay.</p>\n{}</body></html>\n",
        escape(&order),
        escape(source),
        svg_with(rows, sorted_by, !cards.is_empty()),
        body
    )
}

/// A benchmark's card: its scores with the site's words, and per dimension the failure
/// modes that leave the most risk, in words.
pub fn card(registry: &Registry, b: &Benchmark) -> String {
    let s = crate::score(registry, &b.adopted);
    let residuals = crate::score::residuals(registry, &b.adopted);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — minimum score of {} ({}), average {}",
        b.name,
        display_integer(s.minimum),
        RiskLevel::of(s.minimum).words(),
        display_integer(s.average)
    );
    for d in Dimension::ALL {
        let Some(v) = s.dimension(d) else {
            let _ = writeln!(out, "\n{d}: unscored (no failure mode with severity)");
            continue;
        };
        let _ = writeln!(
            out,
            "\n{d}: {} ({}) — {}",
            display_integer(v),
            RiskLevel::of(v).words(),
            d.question()
        );
        // The failure modes of this dimension by the risk left after mitigation.
        let mut left: Vec<(f64, u32)> = residuals
            .iter()
            .filter(|(id, _)| registry.mode(*id).is_some_and(|m| m.dimension == d))
            .map(|&(id, r)| (r, id))
            .collect();
        left.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (risk, id) in left.iter().take(3).filter(|(r, _)| *r > 1e-9) {
            let summary = registry.mode(*id).map_or_else(String::new, |m| m.text());
            let _ = writeln!(
                out,
                "  - failure mode {id} (risk left {risk:.2}): {summary}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_diverge_around_fifty() {
        assert_eq!(colour(0.0), (215, 48, 39));
        assert_eq!(colour(0.5), (255, 255, 191));
        assert_eq!(colour(1.0), (26, 152, 80));
    }

    #[test]
    fn svg_cells_carry_their_values_and_names_are_escaped() {
        let r = crate::shipped();
        let hs = r.benchmark("HellaSwag").unwrap();
        let s = crate::score(r, &hs.adopted);
        let svg = svg(&[("A<b>".into(), s.clone())]);
        assert!(svg.contains("A&lt;b&gt;") && !svg.contains("A<b>"));
        assert!(svg.contains(r#"data-column="Longevity""#));
        assert!(svg.contains(">5.3<"), "HellaSwag's Longevity shows as 5.3");
        assert_eq!(svg.matches("class=\"cell\"").count(), 7);
    }

    #[test]
    fn cards_name_the_riskiest_failure_modes() {
        let r = crate::shipped();
        let c = card(r, r.benchmark("HellaSwag").unwrap());
        assert!(
            c.starts_with("HellaSwag — minimum score of 5 (high risk), average 41"),
            "{c}"
        );
        assert!(c.contains("Longevity: 5 (high risk)"), "{c}");
        assert!(c.contains("failure mode"), "{c}");
    }
}
