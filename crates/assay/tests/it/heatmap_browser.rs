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
