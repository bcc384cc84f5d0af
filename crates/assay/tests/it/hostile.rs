//! Hostile and careless input, one test per failure found by trying (issue 14): each gets a
//! clear error naming the flag, file, line or column (exit 2, nothing written), or a
//! correct answer; never a panic, a hang, or a confident number computed from nothing.

use crate::common::experiment::*;
use crate::common::{stderr, stdout};
use std::path::Path;
use std::process::Output;

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// Exit 2 with a message containing every one of `words`, and nothing on stdout.
fn refused(o: &Output, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(code(o), 2, "{err}\n{}", stdout(o));
    for w in words {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

// ---- assay ab analyze ----

#[test]
fn unit_counts_beyond_exact_range_are_refused_not_saturated() {
    let dir = tempfile::tempdir().unwrap();
    // 1e20 and 2e20 both saturated to 2^64 − 1 once: the 1:2 split passed the sample-ratio
    // check and the verdict was SHIP with +120%.
    let f = write(
        dir.path(),
        "sums.csv",
        "variant,metric,units,main_sum,main_sum_squares\n\
         control,conv,1e20,1e19,1e19\ntreat,conv,2e20,2.2e19,2.2e19\n",
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--stats",
        "--control",
        "control",
        "--metrics",
        "conv",
    ]);
    refused(&o, &["sums.csv:2", "column `units`", "1e20", "2^53"]);
}

#[test]
fn impossible_sums_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let head = "variant,metric,units,main_sum,main_sum_squares\n";
    // Σx² below (Σx)²/n: a negative variance.
    let f = write(
        dir.path(),
        "neg.csv",
        &format!("{head}control,x,100,50,10\ntreat,x,100,50,40\n"),
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--stats",
        "--control",
        "control",
        "--metrics",
        "x",
    ]);
    refused(&o, &["neg.csv:2", "main_sum_squares", "impossible"]);
    // A proportion of 1.5.
    let f = write(
        dir.path(),
        "prop.csv",
        "variant,metric,metric_type,units,main_sum\n\
         control,c,proportion,100,10\ntreat,c,proportion,100,150\n",
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--stats",
        "--control",
        "control",
        "--metrics",
        "c",
    ]);
    refused(&o, &["prop.csv:3", "impossible"]);
}

#[test]
fn a_ratio_over_a_zero_denominator_is_undefined_and_decides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Control's denominators are +1 and −1, summing to exactly 0 (its running mean is
    // ~1e-17, not 0): once a control ratio of 7e17 and DO NOT SHIP with p = 2.6e-119.
    let mut s = String::from("variant,num,den\n");
    for i in 0..400 {
        let (variant, den) = if i % 2 == 0 {
            ("control", if (i / 2) % 2 == 0 { 1.0 } else { -1.0 })
        } else {
            ("treat", 1.0 + (i % 3) as f64)
        };
        s.push_str(&format!(
            "{variant},{},{den}\n",
            0.1 + (i % 7) as f64 / 10.0
        ));
    }
    let f = write(dir.path(), "ratio.csv", &s);
    let args = [
        "ab",
        "analyze",
        &f,
        "--control",
        "control",
        "--metrics",
        "r",
        "--ratio",
        "r=num/den",
    ];
    let o = assay(&args);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("| undefined |"), "{out}");
    assert!(out.contains("denominator sums to 0 in control"), "{out}");
    assert!(out.contains("INCONCLUSIVE"), "{out}");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&assay(&json_args).stdout).unwrap();
    let r = &v["metrics"][0]["results"][0];
    assert_eq!(r["verdict"], "no-test");
    assert!(r["control"]["mean"].is_null(), "{r}");
}

#[test]
fn values_that_overflow_are_undefined_not_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("variant,x\n");
    for i in 0..100 {
        s.push_str(&format!(
            "control,{}\ntreat,{:e}\n",
            i % 5,
            1.5e308 - i as f64 * 1e305
        ));
    }
    let f = write(dir.path(), "big.csv", &s);
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--control",
        "control",
        "--metrics",
        "x",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("too large for double precision"), "{out}");
    assert!(out.contains("goal metric x could not be tested"), "{out}");
    assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
}

#[test]
fn settings_outside_their_domain_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let units = experiment(400, 1, 0.0);
    let f = dir.path().join("rows.csv");
    write_csv(&units, &f);
    let f = f.to_str().unwrap();
    for (flag, value, words) in [
        ("--tuning", "NaN", vec!["--tuning", "NaN", "greater than 0"]),
        ("--prior-sd", "0", vec!["--prior-sd", "greater than 0"]),
        (
            "--srm-threshold",
            "NaN",
            vec!["--srm-threshold", "probability"],
        ),
        ("--alpha", "inf", vec!["--alpha", "probability"]),
        ("--weights", "control=inf", vec!["--weights", "`inf`"]),
        ("--weights", "control=-1", vec!["--weights", "at least 0"]),
        ("--cap", "revenue=150%", vec!["--cap", "probability"]),
    ] {
        let arg = format!("{flag}={value}");
        let o = assay(&[
            "ab",
            "analyze",
            f,
            "--control",
            "control",
            "--metrics",
            "revenue",
            &arg,
        ]);
        refused(&o, &words);
    }
    // A repeated entry is refused, not resolved to one of the two.
    let o = assay(&[
        "ab",
        "analyze",
        f,
        "--control",
        "control",
        "--metrics",
        "revenue",
        "--weights",
        "control=1,treatment=1,control=3",
    ]);
    refused(&o, &["--weights", "`control` is given twice"]);
}

#[test]
fn duplicate_columns_and_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "dup.csv",
        "variant,x,x\ncontrol,1,2\ntreat,3,4\n",
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--control",
        "control",
        "--metrics",
        "x",
    ]);
    refused(&o, &["dup.csv", "`x` appears twice", "columns 2 and 3"]);
    // A repeated key in a JSONL row could flip the decision whichever copy won.
    let f = write(
        dir.path(),
        "dup.jsonl",
        "{\"variant\":\"control\",\"x\":1}\n{\"variant\":\"treat\",\"x\":1,\"x\":900}\n",
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--control",
        "control",
        "--metrics",
        "x",
    ]);
    refused(&o, &["dup.jsonl:2", "`x` is repeated", "column"]);
    let f = write(
        dir.path(),
        "dupstats.csv",
        "variant,metric,units,units,main_sum\ncontrol,x,10,10,1\n",
    );
    let o = assay(&[
        "ab",
        "analyze",
        &f,
        "--stats",
        "--control",
        "control",
        "--metrics",
        "x",
    ]);
    refused(&o, &["`units` appears twice"]);
}

#[test]
fn a_parquet_footer_that_lies_about_its_row_count_is_damaged() {
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let dir = tempfile::tempdir().unwrap();
    let honest = dir.path().join("honest.parquet");
    write_parquet(&experiment(1000, 3, 0.0), &honest);
    let bytes = std::fs::read(&honest).unwrap();
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&std::fs::File::open(&honest).unwrap())
        .unwrap();
    assert_eq!(meta.row_groups().len(), 1);
    // The same pages under a footer that claims 1,000,000 rows.
    let groups = meta
        .row_groups()
        .iter()
        .map(|g| {
            g.clone()
                .into_builder()
                .set_num_rows(1_000_000)
                .build()
                .unwrap()
        })
        .collect();
    let lying = meta.into_builder().set_row_groups(groups).build();
    let footer_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    let mut out = bytes[..bytes.len() - 8 - footer_len as usize].to_vec();
    ParquetMetaDataWriter::new(&mut out, &lying)
        .finish()
        .unwrap();
    let f = dir.path().join("lying.parquet");
    std::fs::write(&f, out).unwrap();
    let o = assay(&[
        "ab",
        "analyze",
        f.to_str().unwrap(),
        "--control",
        "control",
        "--metrics",
        "revenue",
    ]);
    refused(&o, &["lying.parquet", "1000000 rows", "damaged"]);
    assert!(
        !stderr(&o).contains("1,000,000 rows over"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_failed_analysis_leaves_the_output_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("rows.csv");
    write_csv(&experiment(400, 2, 0.0), &f);
    let out = dir.path().join("report");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("analysis.json"), "old").unwrap();
    // report.html cannot be written (a directory stands there): analysis.json stays old
    // and nothing else appears.
    std::fs::create_dir(out.join("report.html")).unwrap();
    let o = assay(&[
        "ab",
        "analyze",
        f.to_str().unwrap(),
        "--control",
        "control",
        "--metrics",
        "revenue",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("analysis.json")).unwrap(),
        "old"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["analysis.json", "report.html"]);
    // A bad input with a fresh --out creates nothing.
    let fresh = dir.path().join("fresh");
    let o = assay(&[
        "ab",
        "analyze",
        f.to_str().unwrap(),
        "--control",
        "nobody",
        "--metrics",
        "revenue",
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(!fresh.exists());
}

// ---- assay ab plan ----

#[test]
fn plan_refuses_what_has_no_answer_and_never_hangs() {
    for (args, words) in [
        (
            vec!["--alpha", "nan", "--baseline-rate", "0.1", "--mde", "2%"],
            vec!["--alpha", "`nan`"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--units=-100"],
            vec!["--units", "`-100`"],
        ),
        (
            vec![
                "--baseline-rate",
                "0.1",
                "--daily-units",
                "100",
                "--days=-3",
            ],
            vec!["--days"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--mde", "0%"],
            vec!["--mde", "greater than 0"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--mde", "2%", "--power", "1"],
            vec!["--power"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--mde", "2%", "--power", "0.01"],
            vec!["--power", "above --alpha"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--mde", "1e-12"],
            vec!["--mde", "more than 1e12 units"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--units", "1"],
            vec!["one unit per arm"],
        ),
        (
            vec!["--mean", "0", "--sd", "1", "--mde", "2%"],
            vec!["--mean 0", "undefined"],
        ),
        (
            vec!["--mean", "inf", "--sd", "1", "--mde", "2%"],
            vec!["--mean"],
        ),
        (
            vec!["--baseline-rate", "0.1", "--mde", "2%", "--arms", "0"],
            vec!["--arms"],
        ),
    ] {
        let mut full = vec!["ab", "plan"];
        full.extend(&args);
        let o = assay(&full);
        refused(&o, &words);
    }
    // A sensible plan still answers, with finite numbers only.
    let o = assay(&[
        "ab",
        "plan",
        "--baseline-rate",
        "0.1",
        "--mde",
        "2%",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["units_per_arm"], 353199.0);
}

// ---- assay rank ----

fn battles(dir: &Path) -> String {
    write(
        dir,
        "battles.csv",
        "model_a,model_b,winner\na,b,model_a\nb,a,model_a\na,b,tie\nb,c,model_a\n\
         c,b,model_a\nc,a,model_b\na,c,model_b\n",
    )
}

#[test]
fn rank_bounds_its_work_and_refuses_ratings_that_cannot_be_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let f = battles(dir.path());
    for (args, words) in [
        // Once a capacity-overflow panic and an allocation abort.
        (
            vec!["--rounds", "18446744073709551615"],
            vec!["--rounds", "2..=100000"],
        ),
        (vec!["--rounds", "1e12"], vec!["--rounds"]),
        (vec!["--rounds", "1"], vec!["--rounds"]),
        (vec!["--anchor", "a=NaN"], vec!["--anchor", "`NaN`"]),
        (vec!["--anchor", "a=inf"], vec!["--anchor", "`inf`"]),
        (vec!["--anchor", "a=1e308"], vec!["--anchor", "between"]),
        (vec!["--elo-k", "NaN"], vec!["--elo-k"]),
        (vec!["--elo-k=-4"], vec!["--elo-k", "greater than 0"]),
        (vec!["--elo-k", "1e300"], vec!["--elo-k", "at most 1000"]),
        (vec!["--style-reg=-1"], vec!["--style-reg"]),
    ] {
        let mut full = vec!["rank", f.as_str()];
        full.extend(&args);
        refused(&assay(&full), &words);
    }
    let dup = write(
        dir.path(),
        "dup.csv",
        "model_a,model_b,winner,winner\na,b,model_a,model_b\n",
    );
    refused(
        &assay(&["rank", &dup]),
        &["dup.csv:1", "`winner` appears twice"],
    );
    let dup = write(
        dir.path(),
        "dup.jsonl",
        "{\"model_a\":\"a\",\"model_b\":\"b\",\"winner\":\"model_a\",\"winner\":\"model_b\"}\n",
    );
    refused(
        &assay(&["rank", &dup]),
        &["dup.jsonl:1", "`winner` is repeated"],
    );
}

#[test]
fn the_bootstrap_checks_its_memory_before_allocating() {
    use assay_rank::battles::Battles;
    use assay_rank::bt::{IntervalMethod, rank};
    // 100,000 rounds of 3,000 models would hold 2.2 GiB of replicates.
    let models: Vec<String> = (0..3000).map(|i| format!("m{i}")).collect();
    let mut rows = String::from("model_a,model_b,winner\n");
    for i in 0..3000 {
        let j = (i + 1) % 3000;
        rows.push_str(&format!(
            "{},{},model_a\n{},{},model_a\n",
            models[i], models[j], models[j], models[i]
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ring.csv");
    std::fs::write(&f, rows).unwrap();
    let b = Battles::read(&f).unwrap();
    let e = rank(
        &b,
        IntervalMethod::Bootstrap {
            rounds: 100_000,
            seed: 0,
        },
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("MiB of memory"), "{e}");
}

// ---- assay risk ----

#[test]
fn risk_counts_each_mitigation_once_and_names_what_is_wrong() {
    refused(
        &assay(&["risk", "what-if", "HellaSwag", "--adopt", "115,115"]),
        &["--adopt", "115 is given twice"],
    );
    refused(
        &assay(&["risk", "mitigations", "--mode", "999"]),
        &["--mode 999", "no such failure mode"],
    );
    refused(&assay(&["risk", "modes", "--stage", "9"]), &["--stage"]);
    // The OS error once, not "No such file (os error 2): No such file (os error 2)".
    let o = assay(&["risk", "score", "--answers", "/nonexistent/answers.mdx"]);
    refused(&o, &["/nonexistent/answers.mdx", "No such file"]);
    assert_eq!(
        stderr(&o).matches("os error 2").count(),
        1,
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_failed_export_says_write_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // `data/scores` cannot be created: a file stands where the folder would go.
    let out = dir.path().join("export");
    std::fs::create_dir_all(out.join("data")).unwrap();
    std::fs::write(out.join("data").join("scores"), "not a folder").unwrap();
    let o = assay(&[
        "risk",
        "export",
        "--format",
        "mdx",
        "--out",
        out.to_str().unwrap(),
    ]);
    refused(&o, &["cannot create", "scores"]);
    assert!(!stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let mut left: Vec<String> = walk(&out);
    left.sort();
    assert_eq!(left, ["data", "data/scores"], "{left:?}");
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

// ---- assay eval and pairwise: counts and lengths ----

#[test]
fn eval_and_pairwise_refuse_counts_that_mean_nothing_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for (args, words) in [
        (
            vec!["eval", "--tasks", "arc_easy", "--limit", "0"],
            vec!["--limit"],
        ),
        (
            vec!["eval", "--tasks", "arc_easy", "--sample", "0"],
            vec!["--sample"],
        ),
        (
            vec!["eval", "--tasks", "arc_easy", "--limit=-5"],
            vec!["--limit"],
        ),
        (
            vec!["eval", "--tasks", "arc_easy", "--max-length", "1"],
            vec!["--max-length"],
        ),
        (
            vec!["pairwise", "p.jsonl", "--rounds", "18446744073709551615"],
            vec!["--rounds"],
        ),
        (
            vec!["pairwise", "p.jsonl", "--max-tokens", "0"],
            vec!["--max-tokens"],
        ),
    ] {
        let mut full = args.clone();
        full.extend(["--out", out]);
        refused(&assay(&full), &words);
    }
    assert!(!Path::new(out).exists());
    // Longer than the model's context: refused, not clamped without a word.
    let data = crate::common::data_dir();
    let o = assay(&[
        "eval",
        "--tasks",
        "arc_easy",
        "--limit",
        "1",
        "--max-length",
        "99999999",
        "--out",
        out,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    refused(&o, &["99999999 tokens", "2 to 8192"]);
}
