//! `assay ab` end to end: a generated experiment with a known true effect, the decision
//! and its exit status, the same data as CSV, JSONL, Parquet and per-arm statistics, and
//! bad input named by file, line and column.

use crate::common::experiment::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn analyze(file: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["ab", "analyze", file.to_str().unwrap()];
    args.extend_from_slice(ANALYZE);
    args.extend_from_slice(extra);
    if !extra.contains(&"--format") {
        args.extend_from_slice(&["--format", "json"]);
    }
    let o = assay(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, v)
}

/// Equal JSON, numbers to 1e-9 relative.
fn same_up_to_rounding(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300),
                "{at}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (k, (x, y)) in x.iter().zip(y).enumerate() {
                same_up_to_rounding(x, y, &format!("{at}[{k}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, v) in x {
                same_up_to_rounding(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

fn metric<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_known_effect_is_covered_and_the_candidate_ships() {
    let dir = tmp();
    let csv = dir.path().join("units.csv");
    write_csv(&experiment(20_000, 1, 0.0), &csv);
    let out = dir.path().join("report");
    let (o, v) = analyze(&csv, &["--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["format"], "assay-ab/1");
    assert_eq!(v["decision"]["outcome"], "ship");
    assert_eq!(v["decision"]["ship"], "candidate");
    for (name, truth) in [
        ("converted", TRUE_CONVERSION_LIFT),
        ("revenue", TRUE_REVENUE_LIFT),
    ] {
        let rel = &metric(&v, name)["results"][0]["relative"];
        for kind in ["fixed", "sequential"] {
            let (lo, hi) = (
                rel[kind]["lower"].as_f64().unwrap(),
                rel[kind]["upper"].as_f64().unwrap(),
            );
            assert!(
                lo < truth && truth < hi,
                "{name} {kind}: [{lo}, {hi}] misses {truth}"
            );
        }
    }
    // CUPED removes the part of revenue's variance that the pre-period explains.
    let r = &metric(&v, "revenue")["results"][0];
    assert!(r["variance_reduction"].as_f64().unwrap() > 0.2, "{r}");
    assert_eq!(v["timeline"].as_array().unwrap().len(), 3);
    assert_eq!(v["timeline"][0]["points"].as_array().unwrap().len(), 10);
    // The written analysis is the printed one.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(saved, v);
    assert!(out.join("report.html").exists());

    // The CSV export: one row per metric, the same numbers as the JSON.
    let (o, _) = analyze(&csv, &["--format", "csv"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let revenue = rows.iter().find(|r| r[0] == "revenue").unwrap();
    let want = &metric(&v, "revenue")["results"][0]["relative"];
    assert_eq!(
        revenue[col("lift")].parse::<f64>().unwrap(),
        want["estimate"].as_f64().unwrap()
    );
    assert_eq!(
        revenue[col("sequential_upper")].parse::<f64>().unwrap(),
        want["sequential"]["upper"].as_f64().unwrap()
    );
    assert_eq!(revenue[col("verdict")], "better");
}

#[test]
fn a_harmed_guardrail_blocks_the_launch_and_a_split_mismatch_invalidates_it() {
    let dir = tmp();
    let csv = dir.path().join("slower.csv");
    write_csv(&experiment(20_000, 2, 0.03), &csv);
    let (o, v) = analyze(&csv, &["--format", "table"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("Decision: DO NOT SHIP"), "{out}");
    assert!(
        out.contains("guardrail harmed: latency_ms +2.81% [+1.90%, +3.73%], p = <0.0001"),
        "{out}"
    );
    assert_eq!(v, Value::Null);

    // No harm, but a guardrail margin tighter than the interval can show: keep running.
    let fine = dir.path().join("fine.csv");
    write_csv(&experiment(20_000, 1, 0.0), &fine);
    let (o, v) = analyze(&fine, &["--margin", "latency_ms=0.1%"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let reasons = v["decision"]["reasons"].to_string();
    assert!(
        reasons.contains("guardrail latency_ms could still be harmed by"),
        "{reasons}"
    );
    assert!(reasons.contains("(margin 0.10%)"), "{reasons}");
    let (o, v) = analyze(&fine, &["--margin", "latency_ms=5%"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["decision"]["outcome"], "ship");
    // Read once at the end with the fixed-horizon test, the intervals are narrower.
    let (_, fixed) = analyze(&fine, &["--test", "fixed"]);
    assert_eq!(fixed["decide_with"], "fixed");
    let p_fixed = metric(&fixed, "revenue")["results"][0]["p_value"]
        .as_f64()
        .unwrap();
    let p_seq = metric(&v, "revenue")["results"][0]["p_value"]
        .as_f64()
        .unwrap();
    assert!(p_fixed < p_seq, "{p_fixed} vs {p_seq}");

    // The same experiment read with a 60/40 intended split.
    let (o, v) = analyze(&csv, &["--weights", "current=60,candidate=40"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(v["decision"]["outcome"], "invalid");
    assert!(v["srm"]["mismatch"].as_bool().unwrap());
    assert!(text(&o).contains("SAMPLE RATIO MISMATCH"));
}

#[test]
fn csv_jsonl_parquet_and_per_arm_statistics_give_the_same_analysis() {
    let dir = tmp();
    let units = experiment(5_000, 3, 0.0);
    let paths: Vec<PathBuf> = ["units.csv", "units.jsonl", "units.parquet"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    write_csv(&units, &paths[0]);
    write_jsonl(&units, &paths[1]);
    write_parquet(&units, &paths[2]);
    let results: Vec<Value> = paths
        .iter()
        .map(|p| {
            let (o, mut v) = analyze(p, &[]);
            assert!(
                matches!(o.status.code(), Some(0 | 3)),
                "{}: {}",
                p.display(),
                text(&o)
            );
            v["source"] = Value::Null;
            v
        })
        .collect();
    assert_eq!(results[0], results[1], "CSV vs JSONL");
    // Parquet row groups are folded on separate threads and joined, so sums run in
    // another order: equal to rounding.
    same_up_to_rounding(&results[0], &results[2], "CSV vs Parquet");
    // Without a time column, Parquet batches are folded column by column (shifted sums)
    // rather than row by row (Welford): the same numbers again.
    let untimed: Vec<Value> = [&paths[0], &paths[2]]
        .iter()
        .map(|p| {
            let mut args = vec!["ab", "analyze", p.to_str().unwrap(), "--format", "json"];
            let mut skip = false;
            for a in ANALYZE {
                if *a == "--time" {
                    skip = true;
                } else if skip {
                    skip = false;
                } else {
                    args.push(a);
                }
            }
            let mut v: Value = serde_json::from_slice(&assay(&args).stdout).unwrap();
            v["source"] = Value::Null;
            v
        })
        .collect();
    assert!(untimed[0]["timeline"].as_array().unwrap().is_empty());
    same_up_to_rounding(&untimed[0], &untimed[1], "CSV vs Parquet, columnar");

    // Per-arm raw sums, as a warehouse query returns them (GrowthBook's column names).
    let mut s = String::from(
        "variant,metric,users,main_sum,main_sum_squares,covariate_sum,covariate_sum_squares,main_covariate_sum_product\n",
    );
    for arm in ["current", "candidate"] {
        let group: Vec<&Unit> = units.iter().filter(|u| u.variant == arm).collect();
        let n = group.len();
        let sum = |f: &dyn Fn(&Unit) -> f64| group.iter().map(|u| f(u)).sum::<f64>();
        s.push_str(&format!(
            "{arm},converted,{n},{},{},,,\n",
            sum(&|u| u.converted as f64),
            sum(&|u| u.converted as f64)
        ));
        s.push_str(&format!(
            "{arm},revenue,{n},{},{},{},{},{}\n",
            sum(&|u| u.revenue),
            sum(&|u| u.revenue * u.revenue),
            sum(&|u| u.pre_revenue),
            sum(&|u| u.pre_revenue * u.pre_revenue),
            sum(&|u| u.revenue * u.pre_revenue)
        ));
        s.push_str(&format!(
            "{arm},latency_ms,{n},{},{},,,\n",
            sum(&|u| u.latency_ms),
            sum(&|u| u.latency_ms * u.latency_ms)
        ));
    }
    let stats = dir.path().join("stats.csv");
    std::fs::write(&stats, s).unwrap();
    let o = assay(&[
        "ab",
        "analyze",
        stats.to_str().unwrap(),
        "--stats",
        "--control",
        "current",
        "--metrics",
        "converted,revenue",
        "--guardrails",
        "latency_ms",
        "--lower-is-better",
        "latency_ms",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    for name in ["converted", "revenue", "latency_ms"] {
        let a = &metric(&results[0], name)["results"][0]["relative"];
        let b = &metric(&v, name)["results"][0]["relative"];
        for key in ["estimate", "std_error"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            // Raw sums of squares lose a few digits against the streamed centred sums.
            assert!((x - y).abs() <= 1e-8 * x.abs(), "{name} {key}: {x} vs {y}");
        }
    }
}

#[test]
fn bad_input_is_named_by_file_line_and_column() {
    let dir = tmp();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let run = |p: &Path, extra: &[&str]| {
        let mut args = vec!["ab", "analyze", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        if !extra.contains(&"--control") {
            args.extend_from_slice(&["--control", "a"]);
        }
        if !extra.contains(&"--metrics") {
            args.extend_from_slice(&["--metrics", "x"]);
        }
        assay(&args)
    };
    let expect_error = |o: Output, want: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let msg = text(&o);
        assert!(msg.contains(want), "expected `{want}` in: {msg}");
    };
    let one = write("one.csv", "variant,x\na,1\na,2\n");
    expect_error(
        run(&one, &[]),
        "one.csv: the variant column has only one value, `a`",
    );
    // Written by a spreadsheet, with a byte-order mark before the header.
    let good = write("good.csv", "\u{feff}variant,x\na,1\nb,2\na,3\nb,5\n");
    let o = run(&good, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    expect_error(
        run(&good, &["--control", "c"]),
        "control `c` is not a variant in",
    );
    expect_error(run(&good, &["--control", "c"]), "the variants are: a, b");
    let two = write("two.csv", "variant,x,pre\na,1,3\nb,2,\na,3,4\nb,abc,1\n");
    expect_error(
        run(&two, &[]),
        "two.csv:5: column `x`: `abc` is not a number",
    );
    expect_error(
        run(&two, &["--metrics", "y"]),
        "no column `y`; the columns are: variant, x, pre",
    );
    let gap = write("gap.csv", "variant,x\na,1\nb,\na,3\nb,2\n");
    expect_error(
        run(&gap, &[]),
        "gap.csv:3: column `x` is empty (metric `x`); choose --missing",
    );
    let o = run(&gap, &["--missing", "skip", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(metric(&v, "x")["missing"], 1);
    expect_error(
        run(&gap, &["--lower-is-better", "z"]),
        "--lower-is-better names `z`",
    );

    // Where the analysis can go on, it does, and says what it could not do.
    let flat = write(
        "flat.csv",
        "variant,x,pre\na,1,1\na,1,2\nb,1,3\nb,1,\nb,1,5\n",
    );
    let o = run(
        &flat,
        &[
            "--covariate",
            "x=pre",
            "--weights",
            "a=1,b=1,c=1",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("zero variance in both arms"),
        "{warnings}"
    );
    assert!(
        warnings.contains("arm `c` has a weight but no units"),
        "{warnings}"
    );
    assert!(
        warnings.contains("1 units have no covariate `pre` (first at"),
        "{warnings}"
    );
    assert!(warnings.contains("flat.csv:5"), "{warnings}");
    let r = &metric(&v, "x")["results"][0];
    assert_eq!(r["verdict"], "no-test");
    assert_eq!(r["p_value"], Value::Null);
    // No NaN anywhere: JSON would have failed to encode it, and the text says "no test".
    assert!(!String::from_utf8_lossy(&o.stdout).contains("NaN"));
}

#[test]
fn plan_gives_the_textbook_sample_size_and_its_inverse() {
    // 10% baseline, +10% relative (1 point): (1.95996 + 0.84162)²·0.09·2/0.01² = 14,128
    // per arm with σ from the baseline (Cohen's normal approximation).
    let o = assay(&[
        "ab",
        "plan",
        "--baseline-rate",
        "0.1",
        "--mde",
        "10%",
        "--daily-units",
        "2000",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let per_arm = v["units_per_arm"].as_f64().unwrap();
    assert!((per_arm - 14_128.0).abs() <= 1.0, "{per_arm}");
    assert_eq!(v["days"].as_f64().unwrap(), (2.0 * per_arm / 2000.0).ceil());
    let total = format!("{}", 2.0 * per_arm);
    let o = assay(&[
        "ab",
        "plan",
        "--baseline-rate",
        "0.1",
        "--units",
        &total,
        "--format",
        "json",
    ]);
    let back: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        (back["relative_mde"].as_f64().unwrap() - 0.10).abs() < 1e-3,
        "{back}"
    );
    let o = assay(&[
        "ab",
        "plan",
        "--baseline-rate",
        "0.1",
        "--mde",
        "10%",
        "--sequential",
        "--tuning",
        "28256",
        "--format",
        "json",
    ]);
    let seq: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(seq["units_per_arm"].as_f64().unwrap() > per_arm);
}

/// `--prior-mean` with `--prior-sd`: GrowthBook's informative-prior case
/// (`TestNorm.test_bayesian_gaussian_ab_test_informative` at growthbook/growthbook
/// 8f1db44: prior N(0.1, 0.1) on the relative lift) through the command line, from
/// per-arm sums.
#[test]
fn a_prior_with_a_mean_gives_growthbooks_informative_posterior() {
    let dir = tmp();
    let stats = dir.path().join("stats.csv");
    std::fs::write(
        &stats,
        "variant,metric,metric_type,users,main_sum,main_sum_squares\n\
         a,m,mean,10,100,1002.25\nb,m,mean,10,105,1111.5\n",
    )
    .unwrap();
    let sd = 0.1f64.sqrt().to_string();
    let analyze = |prior: &[&str]| {
        let mut args = vec![
            "ab",
            "analyze",
            stats.to_str().unwrap(),
            "--stats",
            "--control",
            "a",
            "--metrics",
            "m",
            "--format",
            "json",
        ];
        args.extend_from_slice(prior);
        assay(&args)
    };
    let o = analyze(&["--prior-sd", &sd, "--prior-mean", "0.1"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let bayes = &metric(&v, "m")["results"][0]["relative"]["bayes"];
    for (key, want) in [
        ("chance_to_win", 0.92315),
        ("lower", -0.01893),
        ("upper", 0.12019),
        ("risk_control", 0.05186),
        ("risk_treatment", 0.00123),
    ] {
        let got = bayes[key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-5,
            "{key}: {got} vs GrowthBook {want}"
        );
    }
    // A mean without a spread is refused by clap.
    let o = analyze(&["--prior-mean", "0.1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--prior-sd"), "{}", text(&o));
}

/// `assay ab srm` from counts alone, on GrowthBook's back-end cases (`checkSrm` in
/// growthbook/growthbook 8f1db44 `packages/back-end/test/stats.test.ts`): exit 4 on a
/// mismatch, and p = 1 (exit 0, said) when no unit arrived or one arm is left.
#[test]
fn the_sample_ratio_check_runs_from_counts_alone() {
    let srm = |args: &[&str]| {
        let mut all = vec!["ab", "srm", "--format", "json"];
        all.extend_from_slice(args);
        let o = assay(&all);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        (
            o.status.code(),
            v["srm"]["p_value"].as_f64().unwrap(),
            v["notes"].clone(),
        )
    };
    let (code, p, _) = srm(&["--counts", "control=1000,treatment=1200"]);
    assert_eq!(code, Some(4));
    assert!((p - 0.000020079).abs() < 5e-10, "{p}");
    let (code, p, _) = srm(&["--counts", "a=310,b=98", "--weights", "a=0.75,b=0.25"]);
    assert_eq!(code, Some(0));
    assert!((p - 0.647434186).abs() < 5e-10, "{p}");
    let (code, p, notes) = srm(&["--counts", "a=0,b=0,c=0"]);
    assert_eq!((code, p), (Some(0), 1.0));
    assert!(notes.to_string().contains("no units"), "{notes}");
    let (code, p, notes) = srm(&["--counts", "a=1000", "--weights", "a=0.5,b=0.5"]);
    assert_eq!((code, p), (Some(0), 1.0));
    assert!(
        notes.to_string().contains("`b`, which has no count"),
        "{notes}"
    );
    let o = assay(&["ab", "srm", "--counts", "a=1.5,b=2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--counts a"), "{}", text(&o));
}

/// `assay ab analyze CSV --control current` with more arguments.
fn analyze_units(csv: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "ab",
        "analyze",
        csv.to_str().unwrap(),
        "--control",
        "current",
    ];
    args.extend_from_slice(extra);
    assay(&args)
}

/// `--alternative greater|less`: one-sided intervals with an open end (`null` in JSON,
/// ∞ in tables), the fixed-horizon p-value half the two-sided one on the effect's side
/// (Student's t is symmetric), and a sequential interval whose finite end is tighter
/// than the two-sided one's.
#[test]
fn one_sided_tests_have_an_open_end_and_half_the_p_value() {
    let dir = tmp();
    let csv = dir.path().join("units.csv");
    write_csv(&experiment(6_000, 11, 0.0), &csv);
    let run = |extra: &[&str]| {
        let mut args = vec!["--metrics", "revenue", "--format", "json"];
        args.extend_from_slice(extra);
        let o = analyze_units(&csv, &args);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        metric(&v, "revenue")["results"][0]["relative"].clone()
    };
    let two = run(&[]);
    let (est, p2) = (
        two["estimate"].as_f64().unwrap(),
        two["fixed"]["p_value"].as_f64().unwrap(),
    );
    let (toward, away) = if est > 0.0 {
        ("greater", "less")
    } else {
        ("less", "greater")
    };
    let one = run(&["--alternative", toward]);
    let p1 = one["fixed"]["p_value"].as_f64().unwrap();
    assert!((p1 - p2 / 2.0).abs() < 1e-12, "{p1} vs {p2}/2");
    let other = run(&["--alternative", away]);
    assert!((other["fixed"]["p_value"].as_f64().unwrap() - (1.0 - p2 / 2.0)).abs() < 1e-12);
    let (open, finite) = if toward == "greater" {
        ("upper", "lower")
    } else {
        ("lower", "upper")
    };
    assert!(
        one["fixed"][open].is_null() && one["sequential"][open].is_null(),
        "{one}"
    );
    let tighter = |a: &Value, b: &Value| {
        let (a, b) = (a[finite].as_f64().unwrap(), b[finite].as_f64().unwrap());
        if finite == "lower" { a > b } else { a < b }
    };
    assert!(tighter(&one["fixed"], &two["fixed"]));
    assert!(tighter(&one["sequential"], &two["sequential"]));
    let table = text(&analyze_units(
        &csv,
        &["--metrics", "revenue", "--alternative", toward],
    ));
    assert!(table.contains('∞'), "{table}");
}

/// With a correction, a goal's interval is widened to agree with its corrected p-value
/// (GrowthBook's adjusted interval): present only where the correction raised p and
/// the result is wider, in JSON, CSV and the table.
#[test]
fn a_corrected_goal_gets_a_wider_interval() {
    let dir = tmp();
    let csv = dir.path().join("units.csv");
    write_csv(&experiment(20_000, 1, 0.0), &csv);
    let run = |format: &str| {
        analyze_units(
            &csv,
            &[
                "--metrics",
                "revenue,converted",
                "--test",
                "fixed",
                "--correction",
                "holm",
                "--format",
                format,
            ],
        )
    };
    let o = run("json");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let r = &metric(&v, "revenue")["results"][0];
    let (p, p_adj) = (
        r["p_value"].as_f64().unwrap(),
        r["adjusted_p_value"].as_f64().unwrap(),
    );
    assert!(p_adj > p, "{r}");
    let (fixed, adj) = (&r["relative"]["fixed"], &r["adjusted_interval"]);
    let f = |x: &Value, k: &str| x[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert!(
        f(adj, "lower") < f(fixed, "lower") && f(adj, "upper") > f(fixed, "upper"),
        "{r}"
    );
    // Its half-width over 1.96 is the standard error a normal test would need to give
    // the corrected p: |estimate| / z(1 − p_adj/2). Checked with the inverse normal of
    // the estimate and width: p_adj = 2(1 − Φ(|estimate| · 1.959964 / half-width)).
    let est = r["relative"]["estimate"].as_f64().unwrap();
    let half = (f(adj, "upper") - f(adj, "lower")) / 2.0;
    let z = est.abs() * 1.959_963_984_540_054 / half;
    let implied = assay_stats::normal_cdf(-z) * 2.0;
    assert!(
        (implied - p_adj).abs() < 1e-9 * p_adj.max(1e-300),
        "{implied} vs {p_adj}"
    );
    assert!(text(&run("table")).contains("; corrected ["));
    assert!(text(&run("csv")).contains("adjusted_lower,adjusted_upper"));
}

/// `assay ab correct`: p-values from anywhere, corrected as GrowthBook's shared code's
/// own cases (`adjustPValuesHolmBonferroni`, `adjustPValuesBenjaminiHochberg` in
/// growthbook/growthbook 8f1db44 `packages/shared/test/experiments.test.ts`).
#[test]
fn p_values_from_anywhere_are_corrected_as_growthbook_does() {
    let corrected = |args: &[&str]| -> Vec<f64> {
        let mut all = vec!["ab", "correct", "--format", "json"];
        all.extend_from_slice(args);
        let o = assay(&all);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        v["p_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["adjusted_p_value"].as_f64().unwrap())
            .collect()
    };
    let holm = corrected(&["--p-values", "0.01,0.04,0.03,0.005,0.55,0.6"]);
    for (g, w) in holm.iter().zip([0.05, 0.12, 0.12, 0.03, 1.0, 1.0]) {
        assert!((g - w).abs() < 1e-12, "{holm:?}");
    }
    let bh = corrected(&[
        "--p-values",
        "0.898,0.138,0.007,0.964,0.538,0.006,0.138",
        "--correction",
        "bh",
    ]);
    for (g, w) in bh
        .iter()
        .zip([0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415])
    {
        assert!((g - w).abs() < 5e-9, "{bh:?}");
    }
    for (bad, says) in [
        ("1.5", "not a p-value"),
        ("-0.1", "`-0.1` is not a p-value"),
        ("nan", "`nan` is not a p-value"),
        ("0.2,,0.3", "--p-values 2: `` is not a p-value"),
        ("a=0.1,a=0.2", "`a` is given twice"),
    ] {
        let o = assay(&["ab", "correct", "--p-values", bad]);
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
}

/// `--segment COL`: each segment's analysis is the analysis of a file holding only its
/// rows (CSV and Parquet alike), p-values are corrected across segments, a segment's own
/// sample-ratio mismatch is said, and a pooled effect every segment contradicts is
/// called Simpson's paradox.
#[test]
fn segments_are_analysed_as_their_own_files() {
    let dir = tmp();
    // Per segment: (control units, control rate, treatment units, treatment rate). The
    // treatment wins in both segments but sits mostly in the low-rate one, so pooled it
    // loses.
    let plan = [
        ("north", 900, 0.80, 100, 0.85),
        ("south", 100, 0.20, 900, 0.25),
    ];
    let mut rows = String::from("country,variant,converted,revenue\n");
    let mut by_segment: std::collections::BTreeMap<&str, String> = Default::default();
    for (country, nc, pc, nt, pt) in plan {
        for (arm, n, p) in [("current", nc, pc), ("candidate", nt, pt)] {
            for i in 0..n {
                let converted = u8::from((i as f64 + 0.5) / n as f64 <= p);
                let revenue = f64::from(converted) * (10.0 + (i % 7) as f64);
                // Some units of the south have no revenue (counted as 0, and counted
                // per segment).
                let revenue = if country == "south" && i % 37 == 0 {
                    String::new()
                } else {
                    revenue.to_string()
                };
                let line = format!("{arm},{converted},{revenue}\n");
                rows.push_str(&format!("{country},{line}"));
                by_segment
                    .entry(country)
                    .or_insert_with(|| String::from("variant,converted,revenue\n"))
                    .push_str(&line);
            }
        }
    }
    let all = dir.path().join("units.csv");
    std::fs::write(&all, &rows).unwrap();
    let args = [
        "--metrics",
        "converted,revenue",
        "--missing",
        "zero",
        "--format",
        "json",
    ];
    let mut segmented = args.to_vec();
    segmented.extend_from_slice(&["--segment", "country"]);
    // Segments come from one pass (each segment × variant an arm); with a cap at a
    // quantile, from a pass per segment (its own rows' quantile). Both must give what a
    // file of the segment's rows gives, counts of capped and missing values included.
    for caps in [&[][..], &["--cap", "revenue=14"], &["--cap", "revenue=90%"]] {
        let o = analyze_units(&all, &[&segmented[..], caps].concat());
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        let by = &v["by_segment"][0];
        assert_eq!(by["column"], "country");
        for (k, (country, _, _, _, _)) in plan.iter().enumerate() {
            let alone = dir.path().join(format!("{country}.csv"));
            std::fs::write(&alone, &by_segment[country]).unwrap();
            let o = analyze_units(&alone, &[&args[..], caps].concat());
            let mut separate: Value = serde_json::from_slice(&o.stdout).unwrap();
            let mut inside = by["segments"][k]["analysis"].clone();
            assert_eq!(by["segments"][k]["segment"], *country);
            // The first missing value is placed in each one's own file.
            for x in [&mut separate, &mut inside] {
                x["source"] = Value::Null;
                for w in x["warnings"].as_array_mut().unwrap() {
                    let t = w.as_str().unwrap();
                    *w = t.split(" (first at ").next().unwrap().into();
                }
            }
            assert_eq!(inside, separate, "{country} {caps:?}");
            if *country == "south" {
                let w = inside["warnings"].to_string();
                assert!(w.contains("revenue: 28 units had no value"), "{w}");
            }
        }
    }
    let o = analyze_units(&all, &segmented);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let by = &v["by_segment"][0];
    let warnings = by["warnings"].to_string();
    assert!(warnings.contains("Simpson's paradox"), "{warnings}");
    assert!(
        warnings.contains("segment `north`: sample ratio mismatch"),
        "{warnings}"
    );
    // Holm across the two segments: each p-value at most doubled, never lowered.
    for x in by["across_segments"].as_array().unwrap() {
        let (p, q) = (
            x["p_value"].as_f64().unwrap(),
            x["adjusted_p_value"].as_f64().unwrap(),
        );
        assert!(q >= p && q <= (2.0 * p).min(1.0) + 1e-15, "{x}");
    }
    // The same from Parquet (the columnar path splits batches by segment).
    let parquet = dir.path().join("units.parquet");
    write_parquet_from_csv(&all, &parquet);
    let o = analyze_units(&parquet, &segmented);
    let mut w: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let mut v = v;
    // The first missing value is the same row, named in each file's own terms.
    let pooled_warnings = format!("{}{}", v["pooled"]["warnings"], w["pooled"]["warnings"]);
    assert!(
        pooled_warnings.contains("units.csv:1002")
            && pooled_warnings.contains("units.parquet: row 1001"),
        "{pooled_warnings}"
    );
    let unplace = |x: &mut Value| {
        for w in x["warnings"].as_array_mut().unwrap() {
            let t = w.as_str().unwrap();
            *w = t.split(" (first at ").next().unwrap().into();
        }
    };
    for x in [&mut v, &mut w] {
        x["pooled"]["source"] = Value::Null;
        unplace(&mut x["pooled"]);
        for s in x["by_segment"][0]["segments"].as_array_mut().unwrap() {
            s["analysis"]["source"] = Value::Null;
            unplace(&mut s["analysis"]);
        }
    }
    same_up_to_rounding(&v, &w, "CSV vs Parquet, by segment");
    let table = text(&analyze_units(
        &all,
        &["--metrics", "converted", "--segment", "country"],
    ));
    assert!(table.contains("## By `country`"), "{table}");
    let o = analyze_units(&all, &["--metrics", "converted", "--segment", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no column `nope`"), "{}", text(&o));
}

/// A CSV of `country,variant,converted,revenue` as Parquet, in small row groups (so the
/// segments' rows are split across groups folded on several workers).
fn write_parquet_from_csv(csv: &Path, parquet: &Path) {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let text = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let strings = |k: usize| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[k])))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("country", strings(0)),
        ("variant", strings(1)),
        (
            "converted",
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r[2].parse::<i64>().unwrap()),
            )),
        ),
        (
            "revenue",
            // An empty revenue is a null.
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| r[3].parse::<f64>().ok()),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(300))
        .build();
    let file = std::fs::File::create(parquet).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A quantile metric from rows: the p95 of latency per arm is numpy's interpolated p95
/// of that arm's values, the same from CSV (row by row) and Parquet (columns, several
/// workers), and the 5% slowdown is inside the interval of its relative change.
#[test]
fn a_latency_quantile_is_compared_from_csv_and_parquet_alike() {
    let dir = tmp();
    let units = experiment(6000, 21, 0.05);
    let (csv, parquet) = (dir.path().join("u.csv"), dir.path().join("u.parquet"));
    write_csv(&units, &csv);
    write_parquet(&units, &parquet);
    let extra = [
        "--quantile",
        "p95_latency=latency_ms@95%",
        "--guardrails",
        "p95_latency",
        "--lower-is-better",
        "p95_latency",
    ];
    let (o, from_csv) = analyze(&csv, &extra);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", text(&o));
    let (o, from_parquet) = analyze(&parquet, &[&extra[..], &["--threads", "3"]].concat());
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", text(&o));
    let m = metric(&from_csv, "p95_latency");
    assert_eq!(m["quantile"], 0.95);
    let r = &m["results"][0];
    // The p95 of each arm's latencies, by numpy's rule (h = (n − 1)·0.95).
    let p95 = |variant: &str| {
        let mut v: Vec<f64> = units
            .iter()
            .filter(|u| u.variant == variant)
            .map(|u| u.latency_ms)
            .collect();
        v.sort_by(f64::total_cmp);
        let h = (v.len() - 1) as f64 * 0.95;
        let lo = h.floor() as usize;
        v[lo] + (h - h.floor()) * (v[lo + 1] - v[lo])
    };
    let close = |x: &Value, want: f64| (x.as_f64().unwrap() - want).abs() < 1e-9 * want;
    assert!(close(&r["control"]["mean"], p95("current")), "{r}");
    assert!(close(&r["treatment"]["mean"], p95("candidate")), "{r}");
    let rel = &r["relative"];
    assert!(rel["fixed"]["lower"].as_f64().unwrap() < 0.05);
    assert!(rel["fixed"]["upper"].as_f64().unwrap() > 0.05);
    same_up_to_rounding(
        &metric(&from_csv, "p95_latency")["results"],
        &metric(&from_parquet, "p95_latency")["results"],
        "p95_latency",
    );
    // A quantile takes neither a covariate nor a cap.
    let o = analyze_units(
        &csv,
        &[
            "--metrics",
            "p95_latency",
            "--quantile",
            "p95_latency=latency_ms@95%",
            "--covariate",
            "p95_latency=pre_revenue",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("CUPED adjusts means"), "{}", text(&o));
}

/// The same analysis from flags and from an experiment's TOML file; a flag given with
/// the file overrides its value; a mistake in the file is named by line and column.
#[test]
fn an_experiment_file_gives_the_flags_analysis_and_flags_override_it() {
    let dir = tmp();
    let units = experiment(3000, 5, 0.0);
    let csv = dir.path().join("u.csv");
    write_csv(&units, &csv);
    let config = dir.path().join("experiment.toml");
    std::fs::write(
        &config,
        r#"# The checkout experiment, as the team keeps it.
variant = "variant"
control = "current"
metrics = ["converted", "revenue"]
guardrails = ["latency_ms"]
lower_is_better = ["latency_ms"]
covariate = { revenue = "pre_revenue" }
time = "exposed_at"
"#,
    )
    .unwrap();
    let (o, flags) = analyze(&csv, &[]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", text(&o));
    let file = csv.to_str().unwrap();
    let cfg = config.to_str().unwrap();
    let o = assay(&["ab", "analyze", file, "--config", cfg, "--format", "json"]);
    let from_file: Value = serde_json::from_slice(&o.stdout).unwrap();
    same_up_to_rounding(&flags, &from_file, "analysis");
    let o = assay(&[
        "ab", "analyze", file, "--config", cfg, "--alpha", "0.1", "--format", "json",
    ]);
    let overridden: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(overridden["settings"]["alpha"], 0.1);
    assert_eq!(overridden["metrics"].as_array().unwrap().len(), 3);
    for (text_in_file, want) in [
        ("metrics = [\"converted\"]\nalpha = 2\n", ":2:9:"),
        (
            "metrics = [\"converted\"]\nguardrail = [\"x\"]\n",
            ":2:1: unknown field `guardrail`",
        ),
        ("metrics = \"converted\"\n", ":1:11: invalid type"),
    ] {
        std::fs::write(&config, text_in_file).unwrap();
        let o = assay(&["ab", "analyze", file, "--config", cfg]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("experiment.toml{want}")),
            "{}",
            text(&o)
        );
    }
}

/// `--post-stratify`: the effects are post-stratified (the report says so), CUPED on a
/// ratio is accepted with its pre-period ratio, and a column with too many values or
/// the combination with --segment is refused.
#[test]
fn post_stratification_is_applied_and_said() {
    let dir = tmp();
    let units = experiment(4000, 8, 0.0);
    let csv = dir.path().join("u.csv");
    // The day of exposure stands in for a pre-experiment attribute (10 values).
    write_csv(&units, &csv);
    let o = analyze_units(
        &csv,
        &[
            "--metrics",
            "revenue,per_latency",
            "--ratio",
            "per_latency=revenue/latency_ms",
            "--covariate",
            "per_latency=pre_revenue/latency_ms",
            "--covariate",
            "revenue=pre_revenue",
            "--post-stratify",
            "exposed_at",
        ],
    );
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", text(&o));
    assert!(
        text(&o).contains("Post-stratified by `exposed_at` (10 strata)"),
        "{}",
        text(&o)
    );
    let o = analyze_units(&csv, &["--metrics", "revenue", "--post-stratify", "user"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("more than 100 values"), "{}", text(&o));
    let o = analyze_units(
        &csv,
        &[
            "--metrics",
            "revenue",
            "--post-stratify",
            "exposed_at",
            "--segment",
            "exposed_at",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot be used together"), "{}", text(&o));
}
