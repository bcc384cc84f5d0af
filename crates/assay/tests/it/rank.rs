//! `assay rank` end to end: CSV output, and clear errors for bad battle logs.

use crate::common::assay;

#[test]
fn ranks_a_battle_log_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("votes.jsonl");
    // b beats a 3:1 (plus a tie), c sits between them.
    let mut lines = Vec::new();
    for (a, b, w, n) in [
        ("a", "b", "model_b", 3),
        ("a", "b", "model_a", 1),
        ("b", "a", "tie", 1),
        ("c", "a", "model_a", 2),
        ("c", "a", "model_b", 1),
        ("c", "b", "model_b", 2),
        ("c", "b", "model_a", 1),
    ] {
        for _ in 0..n {
            lines.push(format!(
                "{{\"model_a\":\"{a}\",\"model_b\":\"{b}\",\"winner\":\"{w}\"}}"
            ));
        }
    }
    std::fs::write(&path, lines.join("\n")).unwrap();
    let o = assay(&[
        "rank",
        path.to_str().unwrap(),
        "--format",
        "csv",
        "--rounds",
        "200",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "model,rating,lower,upper,rank,battles,wins,losses,ties,win_rate,win_rate_stderr,online_elo"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], "b", "the strongest first: {text}");
    let (rating, lower, upper): (f64, f64, f64) = (
        rows[0][1].parse().unwrap(),
        rows[0][2].parse().unwrap(),
        rows[0][3].parse().unwrap(),
    );
    assert!(lower < rating && rating < upper);
    // Ratings centre on 1000 without an anchor.
    let mean: f64 = rows
        .iter()
        .map(|r| r[1].parse::<f64>().unwrap())
        .sum::<f64>()
        / 3.0;
    assert!((mean - 1000.0).abs() < 1e-9);
}

#[test]
fn bad_logs_get_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("votes.csv");
    std::fs::write(&path, "model_a,model_b,winner\nx,y,model_a\nx,y,both\n").unwrap();
    let o = assay(&["rank", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("votes.csv:3") && err.contains("winner `both`"),
        "{err}"
    );

    // x always beats the others: its rating is unbounded.
    std::fs::write(
        &path,
        "model_a,model_b,winner\nx,y,model_a\nx,z,model_a\ny,z,model_a\nz,y,model_a\n",
    )
    .unwrap();
    let o = assay(&["rank", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("{x}") && err.contains("{y, z}") && !err.contains("NaN"),
        "{err}"
    );

    std::fs::write(&path, "model_a,model_b,winner\n").unwrap();
    let o = assay(&["rank", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no battles"));

    // A model seen once is warned about.
    std::fs::write(
        &path,
        "model_a,model_b,winner\nx,y,model_a\ny,x,model_a\nz,x,tie\n",
    )
    .unwrap();
    let o = assay(&["rank", path.to_str().unwrap(), "--rounds", "50"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a single battle") && err.trim_end().ends_with(": z"),
        "{err}"
    );
}

/// `--control` reads `NAME_a`/`NAME_b` columns and reports the style effects; the values
/// are arena-rank's (the library test checks every number, this checks the plumbing).
#[test]
fn style_control_from_the_command_line() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assay-rank/tests/fixtures/style_battles.csv"
    );
    let o = assay(&[
        "rank",
        fixture,
        "--control",
        "length",
        "--control",
        "bold",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let length = &v["style_coefficients"][0];
    assert_eq!(length["name"], "length");
    assert!((length["value"].as_f64().unwrap() - 0.649_481_756_921_607_8).abs() < 1e-8);
    assert_eq!(v["models"][0]["model"], "model-4");
    let o = assay(&["rank", fixture, "--control", "colour"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("style_battles.csv:1") && err.contains("no `colour_a` column"),
        "{err}"
    );
}
