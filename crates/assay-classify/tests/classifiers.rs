//! The ported classifiers against the Python packages' own probabilities on 1,119 texts
//! (`scripts/fixtures/classifiers.py` wrote the fixture): every ToxiGen demonstration,
//! every XSTest prompt, and hand-written edge cases (empty, non-ASCII, long). The wheels
//! are fetched from PyPI and converted here as a user's first run would.

use assay_classify::{CLASSIFIERS, Classifier, HATESONAR, PROFANITY_CHECK};
use std::collections::HashMap;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

/// The fixture's rows with their texts, looked up in the shared data by file and line.
fn rows() -> Vec<(String, serde_json::Value)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classifiers.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let data = data_dir();
    let mut files: HashMap<String, Vec<String>> = HashMap::new();
    let mut xstest: HashMap<String, String> = HashMap::new();
    let mut reader = csv::Reader::from_path(data.join("xstest/xstest_prompts.csv")).unwrap();
    for row in reader.deserialize::<HashMap<String, String>>() {
        let row = row.unwrap();
        xstest.insert(row["id"].clone(), row["prompt"].clone());
    }
    fixture["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let text = if let Some(text) = row["text"].as_str() {
                text.to_owned()
            } else if let Some(id) = row["id"].as_str() {
                xstest[id].clone()
            } else {
                let file = row["file"].as_str().unwrap();
                let lines = files.entry(file.to_owned()).or_insert_with(|| {
                    std::fs::read_to_string(data.join(file))
                        .unwrap()
                        .split('\n')
                        .map(str::to_owned)
                        .collect()
                });
                lines[row["line"].as_u64().unwrap() as usize - 1].clone()
            };
            (text, row.clone())
        })
        .collect()
}

fn check(classifier: &Classifier, rows: &[(String, serde_json::Value)]) {
    let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    let predicted = classifier.predict_many(&texts);
    let mut worst = 0.0f64;
    for ((text, row), p) in rows.iter().zip(&predicted) {
        let want: Vec<f64> = row[classifier.name.as_str()]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(p.len(), want.len());
        for (a, b) in p.iter().zip(&want) {
            worst = worst.max((a - b).abs());
            assert!(
                (a - b).abs() < 1e-6,
                "{}: {text:?}: {p:?} vs Python {want:?}",
                classifier.name
            );
        }
    }
    eprintln!(
        "{}: {} texts, largest difference {worst:.2e}",
        classifier.name,
        rows.len()
    );
}

#[test]
fn ported_classifiers_equal_the_python_packages() {
    let rows = rows();
    assert!(rows.len() >= 200 && rows.iter().any(|(t, _)| t.is_empty()));
    assert!(rows.iter().any(|(t, _)| !t.is_ascii()));
    for catalogued in CLASSIFIERS {
        let classifier = catalogued.ensure(&mut |line| eprintln!("{line}")).unwrap();
        check(&classifier, &rows);
        // Read back from the cache, it gives the same numbers.
        let again = catalogued
            .ensure(&mut |_| panic!("already converted"))
            .unwrap();
        assert_eq!(
            again.predict("you are a stupid idiot"),
            classifier.predict("you are a stupid idiot")
        );
    }
}

#[test]
fn labels_and_flag_scores_follow_the_upstream_classes() {
    let profanity = PROFANITY_CHECK.ensure(&mut |_| {}).unwrap();
    let p = profanity.predict("you are a stupid idiot");
    assert_eq!(profanity.label(&p), "profane");
    assert_eq!(profanity.flag_score(&p), p[1]);
    let sonar = HATESONAR.ensure(&mut |_| {}).unwrap();
    let p = sonar.predict("have a nice day");
    assert_eq!(sonar.label(&p), "neither");
    assert!((sonar.flag_score(&p) - (p[0] + p[1])).abs() < 1e-12);
    // No known word: the intercepts alone, softmaxed (0.0375, 0.2874, 0.6750 in Python).
    let empty = sonar.predict("");
    assert!((empty[2] - 0.67503821849823).abs() < 1e-6, "{empty:?}");
}

#[test]
fn a_damaged_converted_file_is_converted_again() {
    let path = PROFANITY_CHECK.path();
    PROFANITY_CHECK.ensure(&mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A copy of the cache with a damaged converted file, so parallel tests are unaffected.
    let cache = dir.path();
    std::fs::create_dir_all(cache.join("wheels")).unwrap();
    std::fs::create_dir_all(cache.join("classifiers")).unwrap();
    std::fs::copy(
        PROFANITY_CHECK.wheel.path(),
        cache
            .join("wheels")
            .join(PROFANITY_CHECK.wheel.path().file_name().unwrap()),
    )
    .unwrap();
    let damaged = cache.join("classifiers").join(path.file_name().unwrap());
    std::fs::write(&damaged, "{\"format\": 1, \"name\": ").unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "convert_in_child", "--nocapture"])
        .env(assay_fetch::CACHE_DIR_VARIABLE, cache)
        .env("ASSAY_CLASSIFY_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(&damaged).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
}

/// Runs in a child process with its own cache (see above).
#[test]
fn convert_in_child() {
    if std::env::var_os("ASSAY_CLASSIFY_CHILD").is_none() {
        return;
    }
    let mut lines = Vec::new();
    let c = PROFANITY_CHECK
        .ensure(&mut |l| lines.push(l.to_owned()))
        .unwrap();
    assert!(lines.iter().any(|l| l.contains("converted")), "{lines:?}");
    assert!(c.predict("you are a stupid idiot")[1] > 0.99);
}
