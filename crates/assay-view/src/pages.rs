//! The pages: the list of runs, and a page per run of each kind. Plain HTML and inline
//! SVG, no script: every filter is a form the server answers (or, in a static report,
//! not there), and every text from a run is escaped, so model output carrying markup is
//! shown as text.

use crate::catalog::{Kind, RunEntry, Status};
use assay_eval::results::{RunResults, SampleRecord};
use assay_render::escape_html as esc;
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// Samples shown per page of the browser.
pub const PAGE_SIZE: usize = 50;

/// Samples per task a static report holds (the rest are counted, not shown).
pub const REPORT_SAMPLES: usize = 500;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1400px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}\
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums}small,.muted{color:#57606a}\
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px;margin:4px 0}\
details{border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:4px 8px}summary{cursor:pointer}\
.correct{color:#1a7f37}.incorrect{color:#cf222e}.partial{color:#9a6700}\
form{display:flex;gap:8px;flex-wrap:wrap;align-items:end;margin:8px 0}label{display:flex;flex-direction:column;font-size:12px;color:#57606a}\
nav a{margin-right:12px}svg text{font-size:12px;fill:#1f2328}.target{font-weight:600}";

/// A whole page, declaring [`POLICY`] (a served page gets it as a header too).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

/// No script, no outside resource; forms only to this server.
pub const POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'";

/// Query of the list: a kind, words to find, an order.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
}

fn status_text(s: &Status) -> (String, &'static str) {
    match s {
        Status::Finished => ("finished".into(), "correct"),
        Status::Partial { done, total } => (
            match total {
                Some(t) => format!("partial: {done} of {t}"),
                None => format!("partial: {done}"),
            },
            "partial",
        ),
    }
}

/// The list of runs, filtered and sorted as asked.
pub fn index(root: &Path, entries: &[RunEntry], cut: bool, q: &ListQuery) -> String {
    let kind = Kind::parse(&q.kind);
    let words = q.q.to_lowercase();
    let mut shown: Vec<&RunEntry> = entries
        .iter()
        .filter(|e| kind.is_none_or(|k| e.kind == k))
        .filter(|e| {
            words.is_empty()
                || [e.id.as_str(), e.title.as_str()]
                    .into_iter()
                    .chain(e.tasks.iter().map(String::as_str))
                    .any(|t| t.to_lowercase().contains(&words))
        })
        .collect();
    match q.sort.as_str() {
        "kind" => shown.sort_by_key(|e| (e.kind, e.id.clone())),
        "title" => shown.sort_by(|a, b| a.title.cmp(&b.title).then(a.id.cmp(&b.id))),
        "oldest" => shown.reverse(),
        _ => {}
    }
    let mut s = format!(
        "<h1>Runs in {}</h1><form method=\"get\" action=\"/\">",
        esc(&root.display().to_string())
    );
    s.push_str(&select(
        "kind",
        "kind",
        &[
            ("", "all"),
            ("eval", "eval"),
            ("pairwise", "pairwise"),
            ("pipeline", "pipeline"),
            ("ab", "A/B"),
        ],
        &q.kind,
    ));
    let _ = write!(
        s,
        "<label>find<input name=\"q\" value=\"{}\"></label>",
        esc(&q.q)
    );
    s.push_str(&select(
        "order",
        "sort",
        &[
            ("", "newest first"),
            ("oldest", "oldest first"),
            ("kind", "kind"),
            ("title", "model or source"),
        ],
        &q.sort,
    ));
    let _ = write!(
        s,
        "<button>show</button></form><p id=\"count\" data-shown=\"{}\" data-total=\"{}\">{} of {} runs{}{}</p>",
        shown.len(),
        entries.len(),
        shown.len(),
        entries.len(),
        if cut {
            " (the folder holds more: only the first ones were read)"
        } else {
            ""
        },
        crate::export::links("table=runs")
    );
    // Two finished evaluations side by side.
    let evals: Vec<&RunEntry> = entries
        .iter()
        .filter(|e| e.kind == Kind::Eval && e.status == Status::Finished)
        .collect();
    if evals.len() >= 2 {
        let options: Vec<(&str, &str)> = evals
            .iter()
            .map(|e| (e.id.as_str(), e.id.as_str()))
            .collect();
        s.push_str("<form id=\"compare\" method=\"get\" action=\"/compare\">");
        s.push_str(&select("run A", "a", &options, evals[1].id.as_str()));
        s.push_str(&select("run B", "b", &options, evals[0].id.as_str()));
        s.push_str("<button>compare item by item</button></form>");
    }
    s.push_str("<table id=\"runs\"><thead><tr><th>run</th><th>kind</th><th>model or source</th><th>tasks or metrics</th><th>settings</th><th>date</th><th>status</th><th>headline</th></tr></thead><tbody>");
    for e in shown {
        let (status, class) = status_text(&e.status);
        let settings = e
            .settings
            .iter()
            .map(|(k, v)| format!("{}: {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join("<br>");
        let headline = e
            .headline
            .iter()
            .map(|(k, v)| format!("{} {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            s,
            "<tr data-id=\"{id}\" data-kind=\"{kind}\"><td><a href=\"/run?id={link}\">{id}</a></td><td>{kind}</td><td>{}</td><td>{}</td><td><small>{settings}</small></td><td>{}</td><td class=\"{class}\">{}</td><td><small>{headline}</small></td></tr>",
            esc(&e.title),
            esc(&e.tasks.join(", ")),
            esc(&shown_date(&e.date)),
            esc(&status),
            id = esc(&e.id),
            link = esc(&encode(&e.id)),
            kind = e.kind.name(),
        );
    }
    s.push_str("</tbody></table>");
    page("assay view", &s)
}

/// A labelled drop-down of a GET form, `current` selected.
fn select(label: &str, name: &str, options: &[(&str, &str)], current: &str) -> String {
    let mut s = format!("<label>{label}<select name=\"{name}\">");
    for (value, text) in options {
        let selected = if *value == current { " selected" } else { "" };
        let _ = write!(
            s,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(value),
            esc(text)
        );
    }
    s.push_str("</select></label>");
    s
}

/// An RFC 3339 time to the second, as people read it (`2026-12-01 18:24:47`).
fn shown_date(date: &str) -> String {
    match (date.get(..10), date.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => date.to_owned(),
    }
}

/// Percent-encoding of a query value (letters, digits and `-._~/` kept).
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Query of an evaluation's sample browser.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SampleQuery {
    #[serde(default)]
    pub task: String,
    /// `correct`, `incorrect` or empty (all).
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: usize,
}

/// Why a page cannot be made: what is missing or damaged, said to the reader.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PageError(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| PageError(format!("{} is damaged: {e}", path.display())))
}

/// The samples of one task file, or why not.
fn samples(dir: &Path, file: &str) -> Result<Vec<SampleRecord>, PageError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| PageError(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l).map_err(|e| {
                PageError(format!("{}:{}: damaged sample: {e}", path.display(), k + 1))
            })
        })
        .collect()
}

/// Whether a sample counts as answered correctly: its task's first metric's per-sample
/// value is positive (1 for an accuracy, an exact match).
fn correct(s: &SampleRecord, metric: &str) -> Option<bool> {
    s.score.values.get(metric).map(|v| *v > 0.0)
}

/// A finished evaluation's page: its settings, the metrics table with intervals, a
/// forest plot, each benchmark's BenchRisk profile, and the samples. `browser`: the
/// served page's filters and pages; otherwise (a static report) the first
/// [`REPORT_SAMPLES`] of each task.
pub fn eval_page(
    dir: &Path,
    id: &str,
    q: &SampleQuery,
    browser: bool,
) -> Result<String, PageError> {
    let r: RunResults = load(&dir.join("results.json"))?;
    let mut s = String::new();
    let _ = write!(
        s,
        "{}<h1>Evaluation: {}</h1><p class=\"muted\">{}</p>",
        nav(browser),
        esc(&r.spec.model.name),
        esc(id)
    );
    // Settings that matter.
    let shots: Vec<String> = r
        .spec
        .tasks
        .iter()
        .map(|t| format!("{} {}", t.name, t.num_fewshot))
        .collect();
    let mut settings = vec![
        (
            "model",
            format!("{} ({})", r.spec.model.name, r.spec.model.backend),
        ),
        (
            "model SHA-256",
            r.spec.model.sha256.clone().unwrap_or_else(|| "-".into()),
        ),
        ("tasks and shots", shots.join(", ")),
        (
            "chat template",
            if r.spec.apply_chat_template {
                "applied"
            } else {
                "not applied"
            }
            .into(),
        ),
        ("selection", r.spec.selection.clone()),
        ("started (UTC)", shown_date(&r.run.started_at)),
        ("finished (UTC)", shown_date(&r.run.finished_at)),
        ("duration", format!("{:.1} s", r.run.duration_s)),
        ("command", r.run.command.join(" ")),
        (
            "assay",
            format!("{} ({})", r.assay.version, r.assay.git_revision),
        ),
    ];
    if let Some(name) = &r.run.name {
        settings.insert(0, ("name", name.clone()));
    }
    s.push_str("<table id=\"settings\">");
    for (k, v) in &settings {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    s.push_str("</table>");
    // Metrics with intervals.
    let _ = write!(s, "<h2>Metrics{}</h2>", exports(browser, "metrics", id));
    s.push_str("<table id=\"metrics\"><thead><tr><th>task</th><th>metric</th><th>value</th><th>95% interval</th><th>n</th><th>interval</th><th>BenchRisk (average, minimum)</th></tr></thead><tbody>");
    let registry = assay_risk::shipped();
    let mut rows: Vec<(String, String, f64, f64, f64)> = Vec::new();
    for t in &r.results {
        let risk = t
            .benchmark
            .as_deref()
            .and_then(|b| registry.benchmark(b).ok())
            .map(|b| {
                let sc = assay_risk::score(registry, &b.adopted);
                format!(
                    "{}: {} ({}), {} ({})",
                    b.name,
                    assay_risk::score::display_integer(sc.average),
                    assay_risk::score::RiskLevel::of(sc.average).words(),
                    assay_risk::score::display_integer(sc.minimum),
                    assay_risk::score::RiskLevel::of(sc.minimum).words(),
                )
            })
            .unwrap_or_else(|| "-".into());
        for m in &t.metrics {
            let e = &m.estimate;
            let _ = write!(
                s,
                "<tr data-task=\"{}\" data-metric=\"{}\" data-value=\"{}\" data-low=\"{}\" data-high=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{:.4}</td><td class=\"num\">[{:.4}, {:.4}]</td><td class=\"num\">{}</td><td>{:?}</td><td><small>{}</small></td></tr>",
                esc(&t.task),
                esc(&m.name),
                e.value,
                e.ci_low,
                e.ci_high,
                esc(&t.task),
                esc(&m.name),
                e.value,
                e.ci_low,
                e.ci_high,
                e.n,
                e.interval,
                esc(&risk)
            );
            rows.push((t.task.clone(), m.name.clone(), e.value, e.ci_low, e.ci_high));
        }
    }
    s.push_str("</tbody></table>");
    s.push_str(&forest(&rows));
    // Samples.
    let _ = write!(s, "<h2>Samples{}</h2>", exports(browser, "samples", id));
    let tasks: Vec<(&str, &str, &str)> = r
        .results
        .iter()
        .map(|t| {
            (
                t.task.as_str(),
                t.samples_file.as_str(),
                t.metrics.first().map_or("", |m| m.name.as_str()),
            )
        })
        .filter(|(_, f, _)| !f.is_empty())
        .collect();
    if browser {
        s.push_str(&sample_browser(dir, id, &tasks, q)?);
    } else {
        for (task, file, metric) in &tasks {
            let all = samples(dir, file)?;
            let _ = write!(
                s,
                "<h3>{}</h3><p class=\"muted\">{} samples{}</p>",
                esc(task),
                all.len(),
                if all.len() > REPORT_SAMPLES {
                    format!("; the first {REPORT_SAMPLES} are shown")
                } else {
                    String::new()
                }
            );
            for x in all.iter().take(REPORT_SAMPLES) {
                s.push_str(&sample(task, x, metric));
            }
        }
    }
    Ok(page(&format!("assay: {}", r.spec.model.name), &s))
}

fn sample_browser(
    dir: &Path,
    id: &str,
    tasks: &[(&str, &str, &str)],
    q: &SampleQuery,
) -> Result<String, PageError> {
    let mut s = String::new();
    let _ = write!(
        s,
        "<form method=\"get\" action=\"/run\"><input type=\"hidden\" name=\"id\" value=\"{}\">",
        esc(id)
    );
    let mut task_options = vec![("", "all")];
    task_options.extend(tasks.iter().map(|(t, _, _)| (*t, *t)));
    s.push_str(&select("task", "task", &task_options, &q.task));
    s.push_str(&select(
        "outcome",
        "outcome",
        &[
            ("", "all"),
            ("correct", "correct"),
            ("incorrect", "incorrect"),
        ],
        &q.outcome,
    ));
    let _ = write!(
        s,
        "<label>find in prompt, answer or id<input name=\"q\" value=\"{}\"></label><button>filter</button></form>",
        esc(&q.q)
    );
    let words = q.q.to_lowercase();
    let mut matched: Vec<(&str, &str, SampleRecord)> = Vec::new();
    let mut total = 0;
    for (task, file, metric) in tasks {
        if !q.task.is_empty() && q.task != *task {
            continue;
        }
        for x in samples(dir, file)? {
            total += 1;
            let outcome_ok = match q.outcome.as_str() {
                "correct" => correct(&x, metric) == Some(true),
                "incorrect" => correct(&x, metric) == Some(false),
                _ => true,
            };
            let words_ok = words.is_empty()
                || x.id.to_lowercase().contains(&words)
                || x.prompt
                    .as_deref()
                    .is_some_and(|p| p.to_lowercase().contains(&words))
                || x.score
                    .answer
                    .as_deref()
                    .is_some_and(|a| a.to_lowercase().contains(&words))
                || x.requests.to_string().to_lowercase().contains(&words);
            if outcome_ok && words_ok {
                matched.push((task, metric, x));
            }
        }
    }
    let pages = matched.len().div_ceil(PAGE_SIZE).max(1);
    let current = q.page.min(pages - 1);
    let _ = write!(
        s,
        "<p id=\"matched\" data-matched=\"{}\" data-total=\"{total}\">{} of {total} samples match; page {} of {pages}</p>",
        matched.len(),
        matched.len(),
        current + 1
    );
    for (task, metric, x) in matched.iter().skip(current * PAGE_SIZE).take(PAGE_SIZE) {
        s.push_str(&sample(task, x, metric));
    }
    let link = |p: usize| {
        format!(
            "/run?id={}&task={}&outcome={}&q={}&page={p}",
            encode(id),
            encode(&q.task),
            encode(&q.outcome),
            encode(&q.q)
        )
    };
    s.push_str("<nav id=\"pages\">");
    if current > 0 {
        let _ = write!(
            s,
            "<a rel=\"prev\" href=\"{}\">previous</a>",
            esc(&link(current - 1))
        );
    }
    if current + 1 < pages {
        let _ = write!(
            s,
            "<a rel=\"next\" href=\"{}\">next</a>",
            esc(&link(current + 1))
        );
    }
    s.push_str("</nav>");
    Ok(s)
}

/// One sample, collapsed to a line until opened: the prompt, each choice with its
/// log-likelihood (or the generation), the extracted answer, the target and the score.
fn sample(task: &str, x: &SampleRecord, metric: &str) -> String {
    let outcome = match correct(x, metric) {
        Some(true) => ("correct", "correct"),
        Some(false) => ("incorrect", "incorrect"),
        None => ("", "-"),
    };
    let scores = x
        .score
        .values
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = format!(
        "<details class=\"sample\" data-task=\"{}\" data-id=\"{}\" data-outcome=\"{}\"><summary><span class=\"{}\">{}</span> · {} #{} <small>{}</small></summary>",
        esc(task),
        esc(&x.id),
        outcome.0,
        outcome.0,
        outcome.1,
        esc(task),
        x.index,
        esc(&x.id)
    );
    if let Some(p) = &x.prompt {
        let _ = write!(s, "<h4>Prompt</h4><pre class=\"prompt\">{}</pre>", esc(p));
    }
    let target: Vec<usize> = match &x.target {
        assay_core::Target::Index(i) => vec![*i],
        assay_core::Target::Indices(v) => v.clone(),
        assay_core::Target::Text(_) => Vec::new(),
    };
    match (&x.requests, &x.responses) {
        (Value::Array(reqs), Value::Array(resps))
            if resps.iter().all(|r| r.get("logprob").is_some()) =>
        {
            s.push_str("<h4>Choices</h4><table class=\"choices\"><thead><tr><th></th><th>continuation</th><th>log-likelihood</th><th>tokens</th></tr></thead><tbody>");
            for (k, (req, resp)) in reqs.iter().zip(resps).enumerate() {
                let class = if target.contains(&k) {
                    " class=\"target\""
                } else {
                    ""
                };
                let text = req.as_str().map_or_else(|| req.to_string(), str::to_owned);
                let _ = write!(
                    s,
                    "<tr{class}><td>{}</td><td><pre>{}</pre></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    if target.contains(&k) { "target" } else { "" },
                    esc(&text),
                    resp["logprob"],
                    resp["tokens"]
                );
            }
            s.push_str("</tbody></table>");
        }
        (_, resp) => {
            let text = resp
                .get("text")
                .and_then(Value::as_str)
                .map_or_else(|| resp.to_string(), str::to_owned);
            let _ = write!(
                s,
                "<h4>Generation</h4><pre class=\"generation\">{}</pre>",
                esc(&text)
            );
        }
    }
    if let Some(a) = &x.score.answer {
        let _ = write!(s, "<p>Extracted answer: <code>{}</code></p>", esc(a));
    }
    if let assay_core::Target::Text(t) = &x.target {
        let _ = write!(s, "<p>Target: <code>{}</code></p>", esc(t));
    }
    let _ = write!(
        s,
        "<p class=\"muted\">Score: {}</p></details>",
        esc(&scores)
    );
    s
}

/// Each metric's value and interval, a row each; rows of values in [0, 1] share that
/// scale, others get their own.
fn forest(rows: &[(String, String, f64, f64, f64)]) -> String {
    let (left, width, row_h) = (260.0, 420.0, 26.0);
    let height = 16.0 + row_h * rows.len() as f64;
    let mut s = format!(
        "<svg id=\"forest\" role=\"img\" aria-label=\"each metric with its 95% interval\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        left + width + 200.0,
        left + width + 200.0
    );
    for (k, (task, metric, v, lo, hi)) in rows.iter().enumerate() {
        let unit = [*v, *lo, *hi].iter().all(|x| (0.0..=1.0).contains(x));
        let (a, b) = if unit {
            (0.0, 1.0)
        } else {
            let (a, b) = (lo.min(*v), hi.max(*v));
            let pad = ((b - a) * 0.1).max(1e-9);
            (a - pad, b + pad)
        };
        let x = |t: f64| left + (t - a) / (b - a) * width;
        let y = 14.0 + row_h * k as f64;
        let _ = write!(
            s,
            "<g class=\"row\"><text x=\"8\" y=\"{}\">{} · {}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#d0d7de\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#0969da\" stroke-width=\"3\"/><circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"#0969da\"/><text x=\"{}\" y=\"{}\">{v:.3} [{lo:.3}, {hi:.3}]{}</text></g>",
            y + 4.0,
            esc(task),
            esc(metric),
            left + width,
            x(*lo),
            x(*hi),
            x(*v),
            left + width + 8.0,
            y + 4.0,
            if unit { "" } else { " (own scale)" }
        );
    }
    s.push_str("</svg>");
    s
}

/// An A/B analysis: its report, made again from `analysis.json` (so an older analysis
/// gets today's report).
pub fn ab_page(dir: &Path) -> Result<String, PageError> {
    let a: assay_ab::analyze::Analysis = load(&dir.join("analysis.json"))?;
    Ok(assay_ab::report::html(&a))
}

/// A pipeline: the decision, the funnel (each candidate across the stages: passed,
/// where it stopped or waits, and why), the stages' agreement, and the summary as the
/// run wrote it.
pub fn pipeline_page(dir: &Path, id: &str, browser: bool) -> Result<String, PageError> {
    use assay_pipeline::runner::{Fate, Report};
    let summary = std::fs::read_to_string(dir.join("summary.md"))
        .map_err(|e| PageError(format!("cannot read the summary: {e}")))?;
    let r: Report = load(&dir.join("results.json"))?;
    let fate = |f: Fate| match f {
        Fate::Ships => ("ships", "correct"),
        Fate::Passed => ("passed every stage", "correct"),
        Fate::Stopped => ("stopped", "incorrect"),
        Fate::Inconclusive => ("inconclusive", "partial"),
        Fate::Waiting => ("waiting", "partial"),
        Fate::Baseline => ("baseline", "muted"),
    };
    let mut s = format!(
        "{}<h1>Pipeline: {}</h1><p class=\"muted\">{}</p><p id=\"decision\" data-outcome=\"{}\">Decision: <b>{}</b> — {}</p>",
        nav(browser),
        esc(&r.pipeline),
        esc(id),
        esc(&serde_json::to_value(r.decision.outcome)
            .map(|v| v.to_string())
            .unwrap_or_default()),
        esc(&match &r.decision.ship {
            Some(c) => format!("ship {c}"),
            None => format!("{:?}", r.decision.outcome).to_lowercase(),
        }),
        esc(&r.decision.reason)
    );
    let _ = write!(s, "<h2>Funnel{}</h2>", exports(browser, "funnel", id));
    s.push_str("<table id=\"funnel\"><thead><tr><th>candidate</th><th>model</th>");
    for st in &r.stages {
        let _ = write!(
            s,
            "<th>{} <small>({})</small></th>",
            esc(&st.name),
            esc(&st.kind)
        );
    }
    s.push_str("<th>fate</th><th>why</th></tr></thead><tbody>");
    for row in &r.funnel {
        let (fate_text, class) = fate(row.fate);
        let _ = write!(
            s,
            "<tr data-candidate=\"{}\" data-fate=\"{}\"><td>{}</td><td><small>{}</small></td>",
            esc(&row.candidate),
            fate_text,
            esc(&row.candidate),
            esc(&row.model)
        );
        for st in &r.stages {
            let cell = if row.passed.contains(&st.name) {
                "<td class=\"correct\">passed</td>".to_owned()
            } else if row.at.as_deref() == Some(st.name.as_str()) {
                format!("<td class=\"{class}\">{fate_text}</td>")
            } else {
                "<td class=\"muted\">-</td>".to_owned()
            };
            s.push_str(&cell);
        }
        let _ = write!(
            s,
            "<td class=\"{class}\">{fate_text}</td><td><small>{}</small></td></tr>",
            row.reasons
                .iter()
                .map(|x| esc(x))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    s.push_str("</tbody></table>");
    if !r.agreement.is_empty() {
        s.push_str("<h2>Do the stages agree?</h2><table id=\"agreement\"><thead><tr><th>stages</th><th>candidates</th><th>Kendall τ</th><th>swapped pairs</th></tr></thead><tbody>");
        for a in &r.agreement {
            let tau = match (&a.tau, &a.undefined) {
                (Some(t), _) => format!("{:+.2} [{:+.2}, {:+.2}]", t.value, t.ci_low, t.ci_high),
                (None, Some(why)) => format!("undefined: {why}"),
                _ => "-".into(),
            };
            let _ = write!(
                s,
                "<tr><td>{} vs {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.a),
                esc(&a.b),
                esc(&a.candidates.join(", ")),
                esc(&tau),
                esc(&a
                    .swaps
                    .iter()
                    .map(|(x, y)| format!("{x} over {y}"))
                    .collect::<Vec<_>>()
                    .join("; "))
            );
        }
        s.push_str("</tbody></table>");
    }
    for w in &r.warnings {
        let _ = write!(s, "<p class=\"partial\">warning: {}</p>", esc(w));
    }
    let _ = write!(
        s,
        "<h2>Summary</h2><details><summary>as the run wrote it (summary.md)</summary><pre id=\"summary\">{}</pre></details>",
        esc(&summary)
    );
    Ok(page(&format!("assay pipeline {}", r.pipeline), &s))
}

/// Comparisons a pairwise page lists (the rest are counted).
pub const COMPARISONS_SHOWN: usize = 500;

/// A pairwise run: the ratings with their intervals, the head-to-head matrix of its
/// battles, the judge's position bias and order agreement, the contestants' answers, and
/// each comparison with both answers and the verdicts of both orders.
pub fn pairwise_page(dir: &Path, id: &str, browser: bool) -> Result<String, PageError> {
    let r: Value = load(&dir.join("results.json"))?;
    let saved = assay_arena::run::load(dir).map_err(|e| PageError(e.to_string()))?;
    let mut s = format!(
        "{}<h1>Pairwise: {}</h1><p>{} prompts; contestants: {}</p>",
        nav(browser),
        esc(id),
        esc(&r["prompts"].to_string()),
        esc(&saved.contestants.join(", "))
    );
    let p = &r["pairwise"];
    // Ratings (a Result: `Ok` the ranking, `Err` why there is none).
    let _ = write!(s, "<h2>Ratings{}</h2>", exports(browser, "ratings", id));
    match (p["ranking"].get("Ok"), p["ranking"].get("Err")) {
        (Some(Value::Array(rows)), _) => {
            let _ = write!(
                s,
                "<p class=\"muted\">{}</p><table id=\"ratings\"><thead><tr><th>rank</th><th>contestant</th><th>rating</th><th>95% interval</th></tr></thead><tbody>",
                esc(p["ranking_method"].as_str().unwrap_or(""))
            );
            for m in rows {
                let _ = write!(
                    s,
                    "<tr data-model=\"{}\" data-rating=\"{}\"><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">[{:.1}, {:.1}]</td></tr>",
                    esc(m["model"].as_str().unwrap_or("")),
                    m["rating"],
                    m["rank"],
                    esc(m["model"].as_str().unwrap_or("")),
                    m["rating"].as_f64().unwrap_or(f64::NAN),
                    m["lower"].as_f64().unwrap_or(f64::NAN),
                    m["upper"].as_f64().unwrap_or(f64::NAN),
                );
            }
            s.push_str("</tbody></table>");
        }
        (_, Some(why)) => {
            let _ = write!(s, "<p>No ratings: {}</p>", esc(&why.to_string()));
        }
        _ => s.push_str("<p>No ratings: the run was graded, not judged in pairs.</p>"),
    }
    // Head to head, from the battle log the run wrote.
    if let Ok(b) = assay_rank::battles::Battles::read(&dir.join("battles.csv")) {
        let h = b.head_to_head();
        s.push_str("<h2>Head to head</h2><p class=\"muted\">The row's score against the column: wins + ½ ties over their battles.</p><table id=\"head-to-head\"><thead><tr><th></th>");
        for m in &b.models {
            let _ = write!(s, "<th>{}</th>", esc(m));
        }
        s.push_str("</tr></thead><tbody>");
        for (i, row) in h.iter().enumerate() {
            let _ = write!(s, "<tr><th>{}</th>", esc(&b.models[i]));
            for (j, cell) in row.iter().enumerate() {
                match cell {
                    Some((score, n)) => {
                        let _ = write!(
                            s,
                            "<td class=\"num\" data-row=\"{}\" data-column=\"{}\" data-score=\"{score}\" data-battles=\"{n}\">{:.0}% <small>({n})</small></td>",
                            esc(&b.models[i]),
                            esc(&b.models[j]),
                            100.0 * score
                        );
                    }
                    None => s.push_str("<td class=\"num\">-</td>"),
                }
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
    }
    // The judge.
    let j = &p["judge"];
    if j.is_object() {
        let rate = j["first_position_rate"].as_f64();
        let interval = j["first_position_interval"]
            .as_array()
            .map(|v| {
                format!(
                    " [{:.0}%, {:.0}%]",
                    100.0 * v[0].as_f64().unwrap_or(f64::NAN),
                    100.0 * v[1].as_f64().unwrap_or(f64::NAN)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            s,
            "<h2>Judge</h2><p id=\"position-bias\" data-first=\"{}\">Decisive verdicts for the answer shown first: {}{interval} (an unbiased judge sits at 50%: every comparison is judged in both orders). Both orders agree on {} of {} comparisons. {} games, {} without a verdict.</p>",
            rate.map_or(String::new(), |r| r.to_string()),
            rate.map_or("undefined (no decisive verdict)".into(), |r| format!(
                "{:.0}%",
                100.0 * r
            )),
            j["order_agreement"]
                .as_f64()
                .map_or("-".into(), |a| format!("{:.0}%", 100.0 * a)),
            esc(&j["comparisons"].to_string()),
            esc(&p["games"].to_string()),
            esc(&p["unparsed"].to_string()),
        );
    }
    // Contestants.
    s.push_str("<h2>Contestants</h2><table id=\"contestants\"><thead><tr><th>contestant</th><th>answers</th><th>mean tokens</th><th>cut by the token limit</th></tr></thead><tbody>");
    for c in r["contestants"].as_array().into_iter().flatten() {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(c["name"].as_str().unwrap_or("")),
            esc(&c["answers"].to_string()),
            esc(&c["mean_tokens"].to_string()),
            esc(&c["truncated"].to_string())
        );
    }
    s.push_str("</tbody></table>");
    // Each comparison: the prompt, both answers, the verdict of each order.
    let answers: std::collections::HashMap<(&str, &str), &assay_arena::run::Answer> = saved
        .answers
        .iter()
        .map(|a| ((a.contestant.as_str(), a.prompt_id.as_str()), a))
        .collect();
    let mut shown = 0;
    let mut total = 0;
    let mut list = String::new();
    for prompt in &saved.prompts {
        for (k, x) in saved.contestants.iter().enumerate() {
            for y in &saved.contestants[k + 1..] {
                let (Some(ax), Some(ay)) = (
                    answers.get(&(x.as_str(), prompt.id.as_str())),
                    answers.get(&(y.as_str(), prompt.id.as_str())),
                ) else {
                    continue;
                };
                total += 1;
                if shown >= COMPARISONS_SHOWN {
                    continue;
                }
                shown += 1;
                let verdicts: Vec<String> = saved
                    .games
                    .iter()
                    .filter(|g| {
                        g.prompt_id == prompt.id
                            && ((&g.first == x && &g.second == y)
                                || (&g.first == y && &g.second == x))
                    })
                    .map(|g| {
                        format!(
                            "{} shown first: {}",
                            g.first,
                            g.verdict.map_or("no verdict".into(), |v| format!(
                                "{} (A = {}, B = {})",
                                v.label(),
                                g.first,
                                g.second
                            ))
                        )
                    })
                    .collect();
                let cut = |a: &assay_arena::run::Answer| {
                    if a.finish_reason == assay_core::FinishReason::Length {
                        " <small class=\"partial\">(cut at the token limit)</small>"
                    } else {
                        ""
                    }
                };
                let _ = write!(
                    list,
                    "<details class=\"comparison\" data-prompt=\"{}\"><summary>{} <small>{} vs {}</small></summary><h4>Prompt</h4><pre>{}</pre><h4>{}{}</h4><pre>{}</pre><h4>{}{}</h4><pre>{}</pre><ul>{}</ul></details>",
                    esc(&prompt.id),
                    esc(&prompt.id),
                    esc(x),
                    esc(y),
                    esc(&prompt.prompt),
                    esc(x),
                    cut(ax),
                    esc(&ax.text),
                    esc(y),
                    cut(ay),
                    esc(&ay.text),
                    verdicts
                        .iter()
                        .map(|v| format!("<li>{}</li>", esc(v)))
                        .collect::<String>()
                );
            }
        }
    }
    let _ = write!(
        s,
        "<h2>Comparisons</h2><p id=\"comparisons\" data-total=\"{total}\">{total} comparisons{}</p>{list}",
        if total > shown {
            format!("; the first {shown} are listed")
        } else {
            String::new()
        }
    );
    Ok(page(&format!("assay pairwise {id}"), &s))
}

/// A run still under way: how far it got.
pub fn partial_page(e: &RunEntry) -> String {
    let (status, _) = status_text(&e.status);
    page(
        "assay: a run under way",
        &format!(
            "<nav><a href=\"/\">all runs</a></nav><h1>Under way: {}</h1><p id=\"progress\">{}</p><p>Tasks: {}</p><p class=\"muted\">The page shows the run as it is now; reload to follow it. Its results appear when it finishes.</p>",
            esc(&e.title),
            esc(&status),
            esc(&e.tasks.join(", "))
        ),
    )
}

/// The export links of run `id`'s table, on a served page only.
fn exports(browser: bool, table: &str, id: &str) -> String {
    if browser {
        crate::export::links(&format!("table={table}&id={}", encode(id)))
    } else {
        String::new()
    }
}

/// The way back to the list, on a served page only.
fn nav(browser: bool) -> &'static str {
    if browser {
        "<nav><a href=\"/\">all runs</a></nav>"
    } else {
        ""
    }
}

/// The page of run `e`, whatever its kind.
pub fn run_page(e: &RunEntry, q: &SampleQuery, browser: bool) -> Result<String, PageError> {
    match (&e.kind, &e.status) {
        (_, Status::Partial { .. }) => Ok(partial_page(e)),
        (Kind::Eval, _) => eval_page(&e.dir, &e.id, q, browser),
        (Kind::Ab, _) => ab_page(&e.dir),
        (Kind::Pipeline, _) => pipeline_page(&e.dir, &e.id, browser),
        (Kind::Pairwise, _) => pairwise_page(&e.dir, &e.id, browser),
    }
}

/// Most changed items a comparison page lists per task (the rest are counted).
pub const CHANGED_SHOWN: usize = 200;

/// Two evaluations side by side: per metric, each run's mean and the paired difference
/// B − A with its interval, test and corrected p-value (as `assay compare` computes
/// them), then the items whose answer or score changed, browsable.
pub fn compare_page(a: &Path, a_id: &str, b: &Path, b_id: &str) -> Result<String, PageError> {
    let open =
        |dir: &Path| assay_eval::gate::Baseline::open(dir).map_err(|e| PageError(e.to_string()));
    let c =
        assay_eval::compare::compare(&open(a)?, &open(b)?).map_err(|e| PageError(e.to_string()))?;
    let mut s = format!(
        "<nav><a href=\"/\">all runs</a></nav><h1>A/B of two evaluations</h1><p>A: <a href=\"/run?id={}\">{}</a> ({})<br>B: <a href=\"/run?id={}\">{}</a> ({})</p><p class=\"muted\">Paired over the items both runs answered; p-values corrected across every task and metric by {}.</p>",
        esc(&encode(a_id)),
        esc(a_id),
        esc(&c.a.model),
        esc(&encode(b_id)),
        esc(b_id),
        esc(&c.b.model),
        esc(c.correction)
    );
    s.push_str(&crate::export::links(&format!(
        "table=differences&a={}&b={}",
        encode(a_id),
        encode(b_id)
    )));
    s.push_str("<table id=\"differences\"><thead><tr><th>task</th><th>metric</th><th>items</th><th>A</th><th>B</th><th>B − A</th><th>95% interval</th><th>test</th><th>p</th><th>p corrected</th><th>only A right / only B right</th></tr></thead><tbody>");
    for t in &c.tasks {
        for m in &t.metrics {
            let d = &m.paired;
            let _ = write!(
                s,
                "<tr data-task=\"{}\" data-metric=\"{}\" data-difference=\"{}\" data-p=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:+.4}</td><td class=\"num\">[{:+.4}, {:+.4}]</td><td>{:?}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&t.task),
                esc(&m.metric),
                d.difference.value,
                d.p_value.map_or(String::new(), |p| p.to_string()),
                esc(&t.task),
                esc(&m.metric),
                t.paired_items,
                m.mean_a,
                m.mean_b,
                d.difference.value,
                d.difference.ci_low,
                d.difference.ci_high,
                d.test,
                d.p_value.map_or("undefined".into(), |p| format!("{p:.4}")),
                m.p_adjusted.map_or("-".into(), |p| format!("{p:.4}")),
                d.discordant
                    .map_or("-".into(), |(x, y)| format!("{x} / {y}")),
            );
        }
        for u in &t.undefined {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td colspan=\"9\">undefined: {}</td></tr>",
                esc(&t.task),
                esc(&u.metric),
                esc(&u.reason)
            );
        }
    }
    s.push_str("</tbody></table>");
    if !c.skipped.is_empty() {
        let _ = write!(
            s,
            "<p class=\"muted\">Not compared: {}</p>",
            esc(&c.skipped.join("; "))
        );
    }
    for t in &c.tasks {
        let _ = write!(
            s,
            "<h2>{}: {} items changed</h2>",
            esc(&t.task),
            t.changed.len()
        );
        for ch in t.changed.iter().take(CHANGED_SHOWN) {
            let values = ch
                .values
                .iter()
                .map(|(k, (x, y))| format!("{k}: {x} → {y}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                s,
                "<details class=\"changed\" data-task=\"{}\" data-id=\"{}\"><summary>{} <small>{}</small></summary><p>A answered: <code>{}</code><br>B answered: <code>{}</code></p></details>",
                esc(&t.task),
                esc(&ch.id),
                esc(&ch.id),
                esc(&values),
                esc(ch.answer_a.as_deref().unwrap_or("-")),
                esc(ch.answer_b.as_deref().unwrap_or("-")),
            );
        }
        if t.changed.len() > CHANGED_SHOWN {
            let _ = write!(
                s,
                "<p class=\"muted\">The first {CHANGED_SHOWN} of {} are listed.</p>",
                t.changed.len()
            );
        }
    }
    Ok(page("assay: two evaluations", &s))
}
