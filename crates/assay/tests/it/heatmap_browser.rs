//! The HTML heatmap in a real headless Chromium: the page renders (a screenshot is taken
//! and checked to be a non-blank PNG) and every cell's value, read back from the page's
//! DOM after loading, is the scorer's. Chromium is installed by `scripts/test`;
//! `ASSAY_CHROMIUM` names another binary.

use crate::common::chromium;
use std::path::PathBuf;
use std::process::Command;

fn headless(args: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_heatmap_renders_in_chromium_with_the_scorers_values() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("heatmap.html");
    let o = crate::common::command()
        .args([
            "risk",
            "heatmap",
            "--all",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = format!("file://{}", page.display());

    // A screenshot, kept next to the test outputs, must be a real, non-blank image.
    let shot = dir.path().join("heatmap.png");
    let o = headless(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1100,1000",
        &url,
    ]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page compresses to almost nothing: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("ASSAY_TEST_ARTIFACTS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&shot, PathBuf::from(keep).join("benchrisk-heatmap.png")).unwrap();
    }

    // The DOM as Chromium loaded it: every cell's benchmark, column, value and text.
    let o = headless(&["--dump-dom", &url]);
    assert!(o.status.success());
    let dom = String::from_utf8_lossy(&o.stdout);
    let cell = regex::Regex::new(
        r#"data-benchmark="([^"]+)" data-column="([^"]+)" data-value="([^"]*)">.*?<text[^>]*>([^<]*)</text>"#,
    )
    .unwrap();
    let registry = assay_risk::shipped();
    let mut seen = 0;
    for c in cell.captures_iter(&dom) {
        let b = registry.benchmark(&c[1]).unwrap();
        let s = assay_risk::score(registry, &b.adopted);
        let expected = match &c[2] {
            "Average" => s.average,
            "Minimum" => s.minimum,
            d => s
                .dimension(assay_risk::Dimension::parse(d).unwrap())
                .unwrap(),
        };
        let value: f64 = c[3].parse().unwrap();
        assert!(
            (value - expected * 100.0).abs() < 1e-9,
            "{} {}: {value}",
            &c[1],
            &c[2]
        );
        assert_eq!(
            &c[4],
            assay_risk::score::heatmap_text(expected),
            "{} {}",
            &c[1],
            &c[2]
        );
        seen += 1;
    }
    assert_eq!(
        seen,
        26 * 7,
        "every cell of the 26 benchmarks was read back"
    );
}

/// The page's reading aids, in Chromium: rows sorted by the column asked for (marked ▼),
/// a colour legend with the 50 and 70 thresholds, each cell's value and risk level on
/// hover (its `<title>`), and each benchmark's name a link to its card on the page; no
/// console error (the page runs no script, under a policy that allows none).
#[test]
fn the_heatmap_page_has_a_legend_hover_values_sorting_and_cards() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("heatmap.html");
    let o = crate::common::command()
        .args([
            "risk", "heatmap", "--format", "html", "--sort", "minimum", "--out",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    tab.navigate_to(&format!("file://{}", page.display()))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    crate::common::screenshot(&tab, "benchrisk-heatmap-sorted");
    let eval = |js: &str| {
        tab.evaluate(js, false)
            .unwrap()
            .value
            .unwrap_or(serde_json::Value::Null)
    };
    let minimum: Vec<f64> = serde_json::from_str(
        eval(r#"JSON.stringify([...document.querySelectorAll('g.cell[data-column="Minimum"]')].map(g => Number(g.dataset.value)))"#)
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(minimum.len() > 10);
    assert!(minimum.windows(2).all(|w| w[0] >= w[1]), "{minimum:?}");
    let heads =
        eval("[...document.querySelectorAll('text.head')].map(t => t.textContent).join('|')");
    assert!(heads.as_str().unwrap().contains("Minimum ▼"), "{heads}");
    // The legend: the scale's ends and both thresholds, with the bands named.
    let ticks = eval(
        "[...document.querySelectorAll('#legend text.legend-tick')].map(t => t.textContent).join(',')",
    );
    assert_eq!(ticks, "0,50,70,100");
    assert_eq!(
        eval("document.querySelectorAll('#legend line.threshold').length"),
        serde_json::Value::from(2)
    );
    let bands = eval(
        "[...document.querySelectorAll('#legend text.legend-band')].map(t => t.textContent).join(',')",
    );
    assert_eq!(bands, "high risk,moderate,lower risk");
    // Hover: every cell's title names it and gives its value to one decimal.
    let titles: Vec<(String, String, String, String)> = serde_json::from_str(
        eval(r#"JSON.stringify([...document.querySelectorAll('g.cell')].map(g => [g.dataset.benchmark, g.dataset.column, g.dataset.value, g.querySelector('title').textContent]))"#)
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for (b, c, v, title) in &titles {
        let want = match v.parse::<f64>() {
            Ok(v) => format!(
                "{b} · {c}: {v:.1} ({})",
                assay_risk::score::RiskLevel::of(v / 100.0).words()
            ),
            Err(_) => format!("{b} · {c}: unscored"),
        };
        assert_eq!(title, &want);
    }
    // Every name links to a card on the page that is that benchmark's.
    let links: Vec<(String, String, String)> = serde_json::from_str(
        eval(
            r#"JSON.stringify([...document.querySelectorAll('svg a')].map(a => {
            const id = a.getAttribute('href').slice(1);
            const card = document.getElementById(id);
            return [a.textContent, id, card ? card.querySelector('h2').textContent : ''];
        }))"#,
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(links.len(), minimum.len());
    for (name, id, heading) in &links {
        assert_eq!(heading, name, "{id}");
    }
    assert!(
        errors.lock().unwrap().is_empty(),
        "console errors: {:?}",
        errors.lock().unwrap()
    );
}
