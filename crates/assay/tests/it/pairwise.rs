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
}
