//! The XSTest string-match grader against the labels its authors published for five
//! models' completions, and its agreement with the human labels against statsmodels
//! (`scripts/fixtures/xstest_agreement.py` wrote the fixture).

use assay_grade::refusal::{FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL, XstestStringMatch};
use assay_grade::{Graded, Grader, agreement::agreement};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

#[derive(serde::Deserialize)]
struct Row {
    prompt: String,
    completion: String,
    final_label: String,
    strmatch_label: String,
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-12, "{what}: {a} vs {b}");
}

#[test]
fn reproduces_the_published_labels_and_their_agreement_with_people() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/xstest_agreement.json")).unwrap();
    let classes = [FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL];
    let grader = XstestStringMatch;
    let mut pooled: Vec<(String, String)> = Vec::new();
    let files = fixture["files"].as_object().unwrap();
    assert_eq!(files.len(), 5);
    for (name, expected) in files {
        let path = data_dir().join("xstest/completions").join(name);
        let rows: Vec<Row> = csv::Reader::from_path(&path)
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 450, "{name}");
        let mut pairs = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let verdict = grader
                .grade(Graded {
                    prompt: &row.prompt,
                    response: &row.completion,
                    reference: None,
                })
                .unwrap();
            assert_eq!(verdict.label, row.strmatch_label, "{name} row {}", i + 2);
            assert_eq!(verdict.score, f64::from(verdict.label == FULL_REFUSAL));
            pairs.push((row.final_label.clone(), verdict.label));
        }
        let ours = agreement(
            pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            &classes,
        )
        .unwrap();
        check(&ours, expected, name);
        pooled.extend(pairs);
    }
    let ours = agreement(
        pooled.iter().map(|(a, b)| (a.as_str(), b.as_str())),
        &classes,
    )
    .unwrap();
    check(&ours, &fixture["pooled"], "pooled");
    // Humans found partial refusals the string match cannot see.
    assert!(ours.confusion[2][2] == 0 && ours.confusion[2].iter().sum::<u64>() > 0);
}

fn check(ours: &assay_grade::agreement::Agreement, expected: &serde_json::Value, what: &str) {
    let table: Vec<Vec<u64>> = serde_json::from_value(expected["confusion"].clone()).unwrap();
    assert_eq!(ours.confusion, table, "{what}");
    assert_eq!(ours.accuracy.n as u64, expected["n"].as_u64().unwrap());
    close(
        ours.accuracy.value,
        expected["accuracy"].as_f64().unwrap(),
        what,
    );
    let kappa = ours.kappa.as_ref().unwrap();
    close(kappa.value, expected["kappa"].as_f64().unwrap(), what);
    close(
        kappa.stderr,
        expected["kappa_stderr"].as_f64().unwrap(),
        what,
    );
}
