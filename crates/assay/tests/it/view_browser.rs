//! `assay view` and `assay report` in a real headless Chromium, on a results folder with
//! two evaluations, an evaluation under way, a 10,000-sample run and an A/B analysis:
//! every run listed with its kind and status, the list filtered by kind, an evaluation's
//! metrics equal to its results.json, two evaluations compared item by item as `assay
//! compare` does, the sample browser's filters giving exactly the
//! samples they should, model text carrying markup shown as text, no console error, a
//! non-blank screenshot, the big run's first page and filter timed, and a static report
//! that needs no network.

use crate::common::experiment::{ANALYZE, experiment, write_csv};
use crate::common::{assay, eval, run_dir, stderr};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const PAYLOAD: &str = "<img src=x onerror=\"document.title='pwned'\"><b id=\"injected\">b</b>";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn the_viewer_lists_every_run_and_shows_an_evaluations_numbers_and_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    // Two evaluations with different settings.
    let first = tmp.path().join("first");
    let o = eval(&first, &["--tasks", "arc_easy", "--limit", "12"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let small = run_dir(&first);
    copy_dir(&small, &root.join(small.file_name().unwrap()));
    let o = eval(
        &root,
        &[
            "--tasks",
            "arc_easy,gsm8k",
            "--limit",
            "2",
            "--name",
            "named",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // An evaluation under way: its spec and one answered sample.
    let partial = root.join(".partial-0123");
    std::fs::create_dir_all(partial.join("samples")).unwrap();
    std::fs::copy(small.join("run.json"), partial.join("run.json")).unwrap();
    let first_sample = std::fs::read_to_string(small.join("samples/arc_easy.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(
        partial.join("samples/arc_easy.jsonl"),
        format!("{first_sample}\n"),
    )
    .unwrap();
    // A run of 10,000 samples (the small run's, repeated), some carrying markup.
    let big = root.join("big-run");
    copy_dir(&small, &big);
    let base: Vec<Value> = std::fs::read_to_string(small.join("samples/arc_easy.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut lines = String::new();
    for k in 0..10_000 {
        let mut s = base[k % base.len()].clone();
        s["index"] = k.into();
        s["id"] = format!("item-{k}").into();
        if k % 1000 == 7 {
            s["prompt"] = format!("Question: {PAYLOAD}\nAnswer:").into();
        }
        lines.push_str(&s.to_string());
        lines.push('\n');
    }
    std::fs::write(big.join("samples/arc_easy.jsonl"), lines).unwrap();
    // An A/B analysis with its report.
    let csv = tmp.path().join("units.csv");
    write_csv(&experiment(4000, 3, 0.0), &csv);
    let ab_out = root.join("ab-checkout");
    let mut args = vec![
        "ab",
        "analyze",
        csv.to_str().unwrap(),
        "--out",
        ab_out.to_str().unwrap(),
    ];
    args.extend_from_slice(ANALYZE);
    let o = assay(&args);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));

    let viewer = crate::common::view(&root);
    let url = viewer.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    let eval_js = |js: &str| {
        tab.evaluate(js, false)
            .unwrap()
            .value
            .unwrap_or(Value::Null)
    };
    let open = |path: &str| {
        let start = Instant::now();
        tab.navigate_to(&format!("{url}{}", path.trim_start_matches('/')))
            .unwrap();
        tab.wait_until_navigated().unwrap();
        start.elapsed()
    };

    // The list.
    open("/");
    crate::common::screenshot(&tab, "view-runs");
    let rows: Vec<Value> = serde_json::from_str(
        eval_js("JSON.stringify([...document.querySelectorAll('#runs tbody tr')].map(r => ({...r.dataset, status: r.cells[6].textContent})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "eval").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "ab").count(), 1);
    let under_way = rows.iter().find(|r| r["id"] == ".partial-0123").unwrap();
    assert_eq!(under_way["status"], "partial: 1 of 12");
    open("/?kind=ab");
    assert_eq!(
        eval_js("document.querySelectorAll('#runs tbody tr').length"),
        Value::from(1)
    );

    // An evaluation: its numbers are its results file's.
    let id = small.file_name().unwrap().to_string_lossy().into_owned();
    open(&format!("/run?id={id}"));
    crate::common::screenshot(&tab, "view-eval");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(small.join("results.json")).unwrap())
            .unwrap();
    let shown: Vec<Value> = serde_json::from_str(
        eval_js("JSON.stringify([...document.querySelectorAll('#metrics tbody tr')].map(r => ({...r.dataset})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let metrics = results["results"][0]["metrics"].as_array().unwrap();
    assert_eq!(shown.len(), metrics.len());
    for (row, m) in shown.iter().zip(metrics) {
        assert_eq!(row["metric"], m["name"]);
        for (attr, key) in [("value", "value"), ("low", "ci_low"), ("high", "ci_high")] {
            let got: f64 = row[attr].as_str().unwrap().parse().unwrap();
            assert_eq!(got, m[key].as_f64().unwrap(), "{attr}");
        }
    }
    assert_eq!(
        eval_js("document.querySelectorAll('#forest g.row').length"),
        Value::from(metrics.len())
    );
    // Every table exports: the metrics as CSV (full precision) and Markdown.
    assert_eq!(
        eval_js(
            "[...document.querySelectorAll('small.export a')].map(a => a.textContent).join(',')"
        ),
        "CSV,Markdown,CSV,Markdown"
    );
    open(&format!("/export?table=metrics&id={id}&format=csv"));
    let csv = eval_js("document.body.textContent");
    let lines: Vec<&str> = csv.as_str().unwrap().lines().collect();
    assert_eq!(
        lines[0],
        "task,metric,value,stderr,ci_low,ci_high,n,interval"
    );
    assert_eq!(lines.len(), 1 + metrics.len());
    for (line, m) in lines[1..].iter().zip(metrics) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[1], m["name"].as_str().unwrap());
        assert_eq!(
            cells[2].parse::<f64>().unwrap(),
            m["value"].as_f64().unwrap()
        );
        assert_eq!(
            cells[5].parse::<f64>().unwrap(),
            m["ci_high"].as_f64().unwrap()
        );
    }
    open(&format!("/export?table=metrics&id={id}&format=md"));
    let md = eval_js("document.body.textContent");
    assert!(
        md.as_str().unwrap().starts_with("| task | metric |"),
        "{md}"
    );
    open("/export?table=runs&format=csv");
    let runs_csv = eval_js("document.body.textContent");
    assert_eq!(runs_csv.as_str().unwrap().lines().count(), 1 + 5);

    // The browser's filters: exactly the incorrect samples (acc 0) of the file.
    let wrong = base
        .iter()
        .filter(|s| s["score"]["values"]["acc"] == 0.0)
        .count();
    open(&format!("/run?id={id}&outcome=incorrect"));
    assert_eq!(
        eval_js("Number(document.getElementById('matched').dataset.matched)"),
        Value::from(wrong)
    );
    assert_eq!(
        eval_js(
            "[...document.querySelectorAll('details.sample')].every(d => d.dataset.outcome === 'incorrect')"
        ),
        Value::Bool(true)
    );

    // The big run: the first page, then a filter, timed; markup in prompts is text.
    let first_paint = open("/run?id=big-run");
    assert_eq!(
        eval_js("Number(document.getElementById('matched').dataset.matched)"),
        Value::from(10_000)
    );
    assert_eq!(
        eval_js("document.querySelectorAll('details.sample').length"),
        Value::from(50)
    );
    let filtered = open("/run?id=big-run&q=onerror");
    assert_eq!(
        eval_js("Number(document.getElementById('matched').dataset.matched)"),
        Value::from(10)
    );
    tab.evaluate(
        "document.querySelectorAll('details.sample').forEach(d => d.open = true)",
        false,
    )
    .unwrap();
    assert_eq!(
        eval_js("document.getElementById('injected') === null"),
        Value::Bool(true)
    );
    assert_ne!(eval_js("document.title"), Value::from("pwned"));
    assert_eq!(
        eval_js(&format!(
            "document.querySelector('pre.prompt').textContent.includes({})",
            serde_json::to_string(PAYLOAD).unwrap()
        )),
        Value::Bool(true)
    );
    println!(
        "10,000-sample run: first page in {:.0} ms, a search in {:.0} ms",
        first_paint.as_secs_f64() * 1e3,
        filtered.as_secs_f64() * 1e3
    );
    assert!(first_paint < Duration::from_secs(5) && filtered < Duration::from_secs(5));

    // Two evaluations item by item: the numbers `assay compare` gives.
    let named = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("named-"))
        .unwrap();
    open(&format!("/compare?a={id}&b={named}"));
    let o = assay(&[
        "compare",
        small.to_str().unwrap(),
        root.join(&named).to_str().unwrap(),
        "--format",
        "json",
    ]);
    let want: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", stderr(&o)));
    let rows: Vec<Value> = serde_json::from_str(
        eval_js("JSON.stringify([...document.querySelectorAll('#differences tbody tr[data-metric]')].map(r => ({...r.dataset})))")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let want_rows: Vec<&Value> = want["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["metrics"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), want_rows.len());
    for (row, w) in rows.iter().zip(want_rows) {
        assert_eq!(row["metric"], w["metric"]);
        let got: f64 = row["difference"].as_str().unwrap().parse().unwrap();
        assert_eq!(got, w["difference"]["value"].as_f64().unwrap());
    }
    open(&format!(
        "/export?table=differences&a={id}&b={named}&format=csv"
    ));
    let diff_csv = eval_js("document.body.textContent");
    assert_eq!(
        diff_csv.as_str().unwrap().lines().count(),
        1 + rows.len(),
        "{diff_csv}"
    );
    open(&format!("/compare?a={id}&b={named}"));
    let changed = want["tasks"][0]["changed"].as_array().unwrap().len();
    assert_eq!(
        eval_js("document.querySelectorAll('details.changed').length"),
        Value::from(changed)
    );

    // The A/B analysis's page is its report.
    open("/run?id=ab-checkout");
    assert_eq!(
        eval_js(
            "document.getElementById('decision') !== null && document.getElementById('results') !== null"
        ),
        Value::Bool(true)
    );
    // A path out of the folder is not a run.
    open("/run?id=../first");
    assert!(
        eval_js("document.body.textContent")
            .as_str()
            .unwrap()
            .contains("no run `../first`")
    );
    let seen: Vec<String> = errors.lock().unwrap().clone();
    // The one 404 page asked for above is the only error allowed.
    assert!(
        seen.iter().all(|e| e.contains("404")) && seen.len() <= 1,
        "console errors: {seen:?}"
    );

    // A static report of the evaluation: one file, no script, nothing fetched.
    let report = tmp.path().join("report.html");
    let o = assay(&[
        "report",
        small.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    let page = browser.new_tab().unwrap();
    let page_errors = crate::common::console_errors(&page);
    page.navigate_to(&format!("file://{}", report.display()))
        .unwrap();
    page.wait_until_navigated().unwrap();
    let n = page
        .evaluate(
            "document.querySelectorAll('#metrics tbody tr').length",
            false,
        )
        .unwrap()
        .value
        .unwrap();
    assert_eq!(n, Value::from(metrics.len()));
    let samples = page
        .evaluate("document.querySelectorAll('details.sample').length", false)
        .unwrap()
        .value
        .unwrap();
    assert_eq!(samples, Value::from(12));
    assert!(
        page_errors.lock().unwrap().is_empty(),
        "{:?}",
        page_errors.lock().unwrap()
    );
}
