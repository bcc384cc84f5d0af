//! `assay risk` end to end: the comparison CSV reproduces benchrisk.ai's scores, one
//! benchmark's card, and clear errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn benchrisk_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHARED_BENCHRISK").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/benchrisk"),
        PathBuf::from,
    )
}

fn assay(args: &[&str]) -> std::process::Output {
    crate::common::command()
        .args(args)
        .env_remove("ASSAY_BENCHRISK")
        .output()
        .unwrap()
}

#[test]
fn compare_all_as_csv_gives_the_sites_scores() {
    let mut site: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut reader = csv::Reader::from_path(benchrisk_dir().join("site_scores.csv")).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        site.insert(
            (row[0].to_owned(), row[1].to_owned()),
            row[2].parse::<f64>().unwrap() * 100.0,
        );
    }
    let registry = benchrisk_dir();
    for extra in [vec![], vec!["--registry", registry.to_str().unwrap()]] {
        let mut args = vec!["risk", "compare", "--all", "--format", "csv"];
        args.extend(extra.iter().copied());
        let o = assay(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut reader = csv::Reader::from_reader(&o.stdout[..]);
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            header,
            [
                "benchmark",
                "Comprehensiveness",
                "Intelligibility",
                "Consistency",
                "Correctness",
                "Longevity",
                "Average",
                "Minimum"
            ]
        );
        let mut rows = 0;
        for row in reader.records() {
            let row = row.unwrap();
            for (i, column) in header.iter().enumerate().skip(1) {
                let value: f64 = row[i].parse().unwrap();
                let expected = site[&(row[0].to_owned(), column.clone())];
                assert!(
                    (value - expected).abs() < 1e-10,
                    "{} {column}: {value} vs {expected}",
                    &row[0]
                );
            }
            rows += 1;
        }
        assert_eq!(rows, 26);
    }
}

#[test]
fn one_benchmark_in_words_and_unknown_names() {
    let o = assay(&["risk", "score", "HellaSwag"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("| Longevity | 5 | high risk |"), "{text}");
    assert!(
        text.contains("| Comprehensiveness | 58 | moderate risk |"),
        "{text}"
    );
    let o = assay(&["risk", "score", "Hellaswg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `HellaSwag`"));
}

#[test]
fn a_broken_registry_is_named_with_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for sub in ["modes", "mitigations", "scores"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    std::fs::write(
        data.join("modes/1.mdx"),
        "---\nnumber: 1\nseverity: 0.5\nstage: (1) Task Definition\ndimension: Longevity\n---\n",
    )
    .unwrap();
    std::fs::write(
        data.join("mitigations/1.mdx"),
        "---\nmitigationNumber: 1\nmitigatedNumber: 7\nlikelihoodReductionPercent: 150\nseverityReductionPercent: 0\n---\n",
    )
    .unwrap();
    let o = assay(&[
        "risk",
        "--registry",
        dir.path().to_str().unwrap(),
        "validate",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mitigation 1, field `mitigatedNumber`: points at failure mode 7"),
        "{err}"
    );
    assert!(
        err.contains("field `likelihoodReductionPercent`: 150 is outside [0, 100]"),
        "{err}"
    );
    std::fs::write(
        data.join("modes/1.mdx"),
        "---\nnumber: 1\nseverity: [\n---\n",
    )
    .unwrap();
    let o = assay(&[
        "risk",
        "--registry",
        dir.path().to_str().unwrap(),
        "validate",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("modes/1.mdx") && err.contains("malformed YAML"),
        "{err}"
    );
}

#[test]
fn the_questionnaire_reads_answers_from_the_terminal_and_resumes() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("Mine.mdx");
    let run = |script: &str| {
        let mut child = crate::common::command()
            .args([
                "risk",
                "questionnaire",
                "Mine",
                "--answers",
                answers.to_str().unwrap(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = run("y\nn\nq\n");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Run the same command again"));
    let o = run("y\n");
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 answered already"));
    let text = std::fs::read_to_string(&answers).unwrap();
    assert!(text.starts_with("---\nname: Mine\n"), "{text}");
    let o = assay(&["risk", "score", "--answers", answers.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
