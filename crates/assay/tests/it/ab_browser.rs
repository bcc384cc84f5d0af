//! The A/B report page in a real headless Chromium: the decision, the full table (every
//! number equal to analysis.json), the settings, one forest-plot row per metric and
//! variant on its own scale with each dot on the right side of zero, every label inside
//! the picture, one cumulative chart per series with a point per day and dates under it,
//! a non-blank screenshot, no console error, and names carrying markup shown as text,
//! never run.

use crate::common::experiment::{ANALYZE, assay, experiment, write_csv};
use serde_json::Value;

#[test]
fn the_report_renders_the_analysis_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("units.csv");
    write_csv(&experiment(12_000, 9, 0.0), &csv);
    // A variant name with markup in it, as a careless export might carry.
    let hostile = r#"cand<img src=x onerror="document.title='pwned'">"#;
    let text = std::fs::read_to_string(&csv).unwrap().replace(
        ",candidate,",
        &format!(",\"{}\",", hostile.replace('"', "\"\"")),
    );
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("report");
    let mut args = vec![
        "ab",
        "analyze",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(ANALYZE);
    let o = assay(&args);
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let analysis: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();

    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    tab.navigate_to(&format!("file://{}", out.join("report.html").display()))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    crate::common::screenshot(&tab, "ab-report");
    let eval = |js: &str| {
        tab.evaluate(js, false)
            .unwrap()
            .value
            .unwrap_or(Value::Null)
    };

    let decision = eval("document.getElementById('decision').textContent");
    let want = match analysis["decision"]["outcome"].as_str().unwrap() {
        "ship" => format!("SHIP: {}", analysis["decision"]["ship"].as_str().unwrap()),
        "inconclusive" => "INCONCLUSIVE".into(),
        other => panic!("unexpected outcome {other}"),
    };
    assert_eq!(decision, Value::String(want));

    // The forest plot: a row per metric × variant, read back from the laid-out page.
    let rows = eval(
        r#"JSON.stringify([...document.querySelectorAll('#forest g.row')].map(g => {
            const c = g.querySelector('circle');
            return {metric: g.dataset.metric, variant: g.dataset.variant, verdict: g.dataset.verdict,
                    estimate: c ? Number(c.dataset.estimate) : null,
                    cx: c ? c.getBoundingClientRect().x + c.getBoundingClientRect().width / 2 : null};
        }))"#,
    );
    let rows: Vec<Value> = serde_json::from_str(rows.as_str().unwrap()).unwrap();
    let zero = eval(
        "(() => { const l = document.querySelector('#forest > line'); const r = l.getBoundingClientRect(); return r.x + r.width / 2; })()",
    )
    .as_f64()
    .unwrap();
    let metrics = analysis["metrics"].as_array().unwrap();
    assert_eq!(rows.len(), metrics.len());
    for (row, m) in rows.iter().zip(metrics) {
        let r = &m["results"][0];
        assert_eq!(row["metric"], m["name"]);
        assert_eq!(row["variant"].as_str().unwrap(), hostile);
        let estimate = r["relative"]["estimate"].as_f64().unwrap();
        assert_eq!(row["estimate"].as_f64().unwrap(), estimate);
        let cx = row["cx"].as_f64().unwrap();
        assert_eq!(cx > zero, estimate > 0.0, "{row} vs zero line at {zero}");
        let verdict = r["verdict"]
            .as_str()
            .unwrap()
            .replace("neutral", "no change");
        assert_eq!(row["verdict"].as_str().unwrap(), verdict);
    }
    // Every label lies inside its picture (none cut off at the right edge).
    let clipped = eval(
        r#"[...document.querySelectorAll('svg')].flatMap(svg => {
            const box = svg.getBoundingClientRect();
            return [...svg.querySelectorAll('text')].filter(t => {
                const r = t.getBoundingClientRect();
                return r.right > box.right + 1 || r.left < box.left - 1;
            }).map(t => t.textContent);
        }).length"#,
    );
    assert_eq!(clipped, Value::from(0));

    // The cumulative view: one chart per series, one vertex per exposure day.
    let series = eval(
        r#"JSON.stringify([...document.querySelectorAll('figure.series')].map(f =>
            [Number(f.dataset.points), f.querySelector('polyline.lift').points.numberOfItems,
             f.querySelector('polygon.band').points.numberOfItems]))"#,
    );
    let series: Vec<Vec<u64>> = serde_json::from_str(series.as_str().unwrap()).unwrap();
    assert_eq!(series.len(), analysis["timeline"].as_array().unwrap().len());
    for s in series {
        assert_eq!(s, vec![10, 10, 20]);
    }

    // The table: a row per metric and variant, its raw values those of analysis.json.
    let table = eval(
        r#"JSON.stringify([...document.querySelectorAll('#results tbody tr')].map(tr => ({
            ...tr.dataset, cells: [...tr.cells].map(c => c.textContent)})))"#,
    );
    let table: Vec<Value> = serde_json::from_str(table.as_str().unwrap()).unwrap();
    assert_eq!(table.len(), metrics.len());
    let number = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    for (row, m) in table.iter().zip(metrics) {
        let r = &m["results"][0];
        assert_eq!(row["metric"], m["name"]);
        assert_eq!(row["cells"][1], m["role"]);
        assert_eq!(
            number(&row["controlMean"]),
            r["control"]["mean"].as_f64().unwrap()
        );
        assert_eq!(
            number(&row["treatmentMean"]),
            r["treatment"]["mean"].as_f64().unwrap()
        );
        assert_eq!(
            number(&row["controlUnits"]),
            r["control"]["units"].as_f64().unwrap()
        );
        assert_eq!(
            number(&row["relative"]),
            r["relative"]["estimate"].as_f64().unwrap()
        );
        assert_eq!(
            number(&row["absolute"]),
            r["absolute"]["estimate"].as_f64().unwrap()
        );
        assert_eq!(number(&row["p"]), r["p_value"].as_f64().unwrap());
        assert_eq!(
            number(&row["adjustedP"]),
            r["adjusted_p_value"].as_f64().unwrap()
        );
        assert_eq!(
            number(&row["chanceToWin"]),
            r["relative"]["bayes"]["chance_to_win"].as_f64().unwrap()
        );
        // The shown relative lift is the JSON's, as a percentage to two decimals.
        let shown = format!(
            "{:+.2}%",
            100.0 * r["relative"]["estimate"].as_f64().unwrap()
        );
        assert_eq!(row["cells"][6].as_str().unwrap(), shown);
        // CUPED's variance reduction is said where a covariate was used.
        let cuped = row["cells"][13].as_str().unwrap();
        assert_eq!(
            cuped.contains("variance"),
            r["variance_reduction"].is_number(),
            "{cuped}"
        );
    }
    let settings = eval("document.getElementById('settings').textContent");
    let settings = settings.as_str().unwrap();
    assert!(
        settings.contains("always-valid sequential intervals (N* = 5000)"),
        "{settings}"
    );
    assert!(settings.contains("Holm"), "{settings}");
    // Each forest row has its own scale, written at both ends.
    let scales = eval(
        r#"[...document.querySelectorAll('#forest g.row')].every(g => g.querySelectorAll('text.tick').length == 2)"#,
    );
    assert_eq!(scales, Value::Bool(true));
    // Dates under every cumulative chart, first to last day.
    let days = eval(
        r#"JSON.stringify([...document.querySelectorAll('figure.series')].map(f =>
            [...f.querySelectorAll('text.day')].map(t => t.textContent)))"#,
    );
    let days: Vec<Vec<String>> = serde_json::from_str(days.as_str().unwrap()).unwrap();
    for d in &days {
        assert_eq!(d.len(), 5, "{d:?}");
        assert_eq!(d[0], "2026-05-01");
        assert_eq!(d[4], "2026-05-10");
        assert!(d.windows(2).all(|w| w[0] < w[1]), "{d:?}");
    }
    assert!(
        errors.lock().unwrap().is_empty(),
        "console errors: {:?}",
        errors.lock().unwrap()
    );

    // The markup in the variant's name is text: no image element, no script ran.
    assert_eq!(
        eval("document.querySelectorAll('img').length"),
        Value::from(0)
    );
    assert_ne!(eval("document.title"), Value::from("pwned"));
    assert_eq!(
        eval(&format!(
            "document.body.textContent.includes({})",
            serde_json::to_string(hostile).unwrap()
        )),
        Value::Bool(true)
    );
}
