//! `assay pairwise` end to end with the embedded model, as the README runs it: the
//! model against itself at two temperatures, judged (pairwise and graded) by itself;
//! then run again, which finds all the work done.

fn pairwise(out: &std::path::Path) -> std::process::Output {
    crate::common::command()
        .args([
            "pairwise",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../examples/pairwise/prompts.jsonl"
            ),
            "--contestant",
            "greedy=default",
            "--contestant",
            "sampled=default,temperature=1.0,seed=7",
            "--max-tokens",
            "48",
            "--mode",
            "both",
            "--rounds",
            "200",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn the_embedded_model_against_itself_at_two_temperatures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = pairwise(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("| greedy |") && table.contains("Judge: "),
        "{table}"
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["prompts"], 8);
    assert_eq!(r["contestants"][0]["answers"], 8);
    let p = &r["pairwise"];
    // 8 prompts × 1 pair × 2 orders; the log-probability judge always gives a verdict.
    assert_eq!(
        (
            p["games"].as_u64(),
            p["unparsed"].as_u64(),
            p["battles"].as_u64()
        ),
        (Some(16), Some(0), Some(16))
    );
    let q = &p["judge"];
    let (first, second, ties) = (
        q["first_wins"].as_u64().unwrap(),
        q["second_wins"].as_u64().unwrap(),
        q["ties"].as_u64().unwrap(),
    );
    assert_eq!(first + second + ties, 16);
    // The battle log agrees with the summary.
    let csv = std::fs::read_to_string(out.join("battles.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 16);
    let first_position_wins = rows
        .iter()
        .filter(|r| r.split(',').nth(2) == Some("model_a"))
        .count();
    assert_eq!(first_position_wins as u64, first);
    // Every game's label probabilities sum to 1 and the verdict is the likeliest label.
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    let labels = [
        "a_much_better",
        "a_better",
        "tie",
        "b_better",
        "b_much_better",
        "both_bad",
    ];
    let mut games = 0;
    for line in journal.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["kind"] == "game" {
            games += 1;
            let p: Vec<f64> = serde_json::from_value(e["probabilities"].clone()).unwrap();
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let best = (0..6).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            assert_eq!(e["verdict"], labels[best]);
        }
        if e["kind"] == "answer" && e["contestant"] == "greedy" {
            assert!(e["tokens"].as_u64().unwrap() <= 48);
        }
    }
    assert_eq!(games, 16);
    // Grades: every answer graded, the mean inside the scale.
    for c in r["contestants"].as_array().unwrap() {
        let g = &c["grade"];
        assert_eq!(g["graded"], 8);
        let mean = g["mean"].as_f64().unwrap();
        assert!((1.0..=10.0).contains(&mean));
    }

    // Again: nothing left to do, same results.
    let again = pairwise(&out);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let r2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r2["resumed"], 16 + 16 + 16);
    assert_eq!(r2["pairwise"], r["pairwise"]);
    assert_eq!(
        std::fs::read_to_string(out.join("battles.csv")).unwrap(),
        csv
    );

    // The run in `assay view`, in Chromium: its ratings are results.json's, the head to
    // head matrix adds up with the battle log, the judge's position bias is shown, and
    // every comparison is listed with both answers; no console error.
    let viewer = crate::common::view(dir.path());
    let url = viewer.url.clone();
    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    tab.navigate_to(&format!("{url}run?id=run")).unwrap();
    tab.wait_until_navigated().unwrap();
    crate::common::screenshot(&tab, "view-pairwise");
    let js = |code: &str| tab.evaluate(code, false).unwrap().value.unwrap_or_default();
    let ratings: Vec<serde_json::Value> = serde_json::from_str(
        js("JSON.stringify([...document.querySelectorAll('#ratings tbody tr')].map(r => ({...r.dataset})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let want = r["pairwise"]["ranking"]["Ok"].as_array().unwrap();
    assert_eq!(ratings.len(), want.len());
    for (got, w) in ratings.iter().zip(want) {
        assert_eq!(got["model"], w["model"]);
        let rating: f64 = got["rating"].as_str().unwrap().parse().unwrap();
        assert_eq!(rating, w["rating"].as_f64().unwrap());
    }
    let battles = csv.lines().count() - 1;
    let cells: Vec<serde_json::Value> = serde_json::from_str(
        js("JSON.stringify([...document.querySelectorAll('#head-to-head td[data-battles]')].map(c => ({...c.dataset})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(cells.len(), 2);
    for c in &cells {
        assert_eq!(c["battles"], battles.to_string());
    }
    let scores: f64 = cells
        .iter()
        .map(|c| c["score"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(
        (scores - 1.0).abs() < 1e-12,
        "the two directions add up to 1"
    );
    let first: f64 = js("document.getElementById('position-bias').dataset.first")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first, q["first_position_rate"].as_f64().unwrap());
    assert_eq!(
        js("document.querySelectorAll('details.comparison').length"),
        serde_json::Value::from(8)
    );
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    // And as a file.
    let report = dir.path().join("pairwise.html");
    let o = crate::common::assay(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("id=\"head-to-head\"")
    );
}
