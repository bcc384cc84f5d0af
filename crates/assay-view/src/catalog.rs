//! What a results folder holds: every run of every kind, found by the files each kind
//! writes, with what tells runs apart (models, tasks, settings), their date, whether
//! they finished, and their headline numbers. Reading only: nothing here writes.
//!
//! - an evaluation: `results.json` with schema `assay.results/v1` (and `samples/`);
//!   while it runs, `.partial-<hash>/` with its journal (`run.json` holds the spec, so
//!   the number of samples to answer is known);
//! - a pairwise run: `results.json` with `contestants` and a spec of contestants;
//! - a pipeline: `results.json` beside `summary.md` and `junit.xml`; without them yet,
//!   a pipeline under way (`run.json` and stage folders);
//! - an A/B analysis: `analysis.json` with format `assay-ab/1`.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// How deep below the root runs are looked for (results/candidates-x/name/run is 3).
const MAX_DEPTH: usize = 4;

/// Most runs listed: a folder with more is listed in part, and says so.
pub const MAX_RUNS: usize = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Eval,
    Pairwise,
    Pipeline,
    Ab,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Eval => "eval",
            Kind::Pairwise => "pairwise",
            Kind::Pipeline => "pipeline",
            Kind::Ab => "ab",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Eval, Kind::Pairwise, Kind::Pipeline, Kind::Ab]
            .into_iter()
            .find(|k| k.name() == text)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Finished,
    /// Under way (or stopped): `done` of `total` items, when known.
    Partial {
        done: usize,
        total: Option<usize>,
    },
}

/// One run, as the list shows it.
#[derive(Clone, Debug)]
pub struct RunEntry {
    /// Its folder, relative to the root (`/`-separated): its address in the viewer.
    pub id: String,
    pub dir: PathBuf,
    pub kind: Kind,
    pub status: Status,
    /// The model(s), the candidates, or the experiment's source.
    pub title: String,
    pub tasks: Vec<String>,
    /// The settings that tell runs apart, as (name, value).
    pub settings: Vec<(String, String)>,
    /// When it finished (or started), as written in its files.
    pub date: String,
    /// Headline numbers, as (what, value) already formatted.
    pub headline: Vec<(String, String)>,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every run under `root`, newest first, and whether the list was cut at [`MAX_RUNS`].
pub fn scan(root: &Path) -> (Vec<RunEntry>, bool) {
    let mut out = Vec::new();
    let mut cut = false;
    walk(root, root, 0, &mut out, &mut cut);
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
    (out, cut)
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<RunEntry>, cut: &mut bool) {
    if out.len() >= MAX_RUNS {
        *cut = true;
        return;
    }
    if let Some(entry) = entry(root, dir) {
        out.push(entry);
        // A pipeline holds runs of its own (its stages' evaluations): listed too.
        if out.last().is_some_and(|e| e.kind != Kind::Pipeline) {
            return;
        }
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut children: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        walk(root, &child, depth + 1, out, cut);
    }
}

/// The run in `dir`, if it holds one.
pub fn entry(root: &Path, dir: &Path) -> Option<RunEntry> {
    let id = dir
        .strip_prefix(root)
        .ok()?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    // The folder shown may be a run itself (`assay view results/pipeline-release`).
    let id = if id.is_empty() { ".".to_owned() } else { id };
    let base = |kind, title: String| RunEntry {
        id: id.clone(),
        dir: dir.to_owned(),
        kind,
        status: Status::Finished,
        title,
        tasks: Vec::new(),
        settings: Vec::new(),
        date: String::new(),
        headline: Vec::new(),
    };
    if let Some(a) = read_json(&dir.join("analysis.json"))
        && a["format"] == assay_ab::analyze::FORMAT
    {
        let mut e = base(Kind::Ab, text(&a["source"]));
        e.tasks = a["metrics"]
            .as_array()
            .map(|m| m.iter().map(|m| text(&m["name"])).collect())
            .unwrap_or_default();
        e.settings = vec![
            ("control".into(), text(&a["control"])),
            ("test".into(), text(&a["decide_with"])),
        ];
        e.date = modified(&dir.join("analysis.json"));
        e.headline = vec![("decision".into(), text(&a["decision"]["outcome"]))];
        return Some(e);
    }
    let results = read_json(&dir.join("results.json"));
    if let Some(r) = &results
        && r["schema"] == assay_eval::results::SCHEMA
    {
        let mut e = base(Kind::Eval, text(&r["spec"]["model"]["name"]));
        eval_details(&mut e, &r["spec"]);
        e.date = text(&r["run"]["finished_at"]);
        if let Some(name) = r["run"]["name"].as_str() {
            e.settings.insert(0, ("name".into(), name.to_owned()));
        }
        for t in r["results"].as_array().into_iter().flatten() {
            if let Some(m) = t["metrics"].get(0) {
                e.headline.push((
                    format!("{} {}", text(&t["task"]), text(&m["name"])),
                    format!("{:.3}", m["value"].as_f64().unwrap_or(f64::NAN)),
                ));
            }
        }
        return Some(e);
    }
    if let Some(r) = &results
        && r.get("contestants").is_some()
        && r.get("spec")
            .is_some_and(|s| s.get("contestants").is_some())
    {
        let names: Vec<String> = r["contestants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| text(&c["name"]))
            .collect();
        let mut e = base(Kind::Pairwise, names.join(" vs "));
        e.settings = vec![("prompts".into(), text(&r["prompts"]))];
        e.date = modified(&dir.join("results.json"));
        if let Some(top) = r["pairwise"]["ranking"]["Ok"].get(0) {
            e.headline = vec![(
                "top".into(),
                format!(
                    "{} ({:.0})",
                    text(&top["model"]),
                    top["rating"].as_f64().unwrap_or(f64::NAN)
                ),
            )];
        }
        return Some(e);
    }
    if dir.join("summary.md").is_file() && dir.join("junit.xml").is_file() {
        let mut e = base(Kind::Pipeline, pipeline_title(dir));
        e.date = modified(&dir.join("summary.md"));
        if let Some(r) = &results {
            e.headline = vec![("decision".into(), decision_text(r))];
        }
        return Some(e);
    }
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let spec = read_json(&dir.join("run.json"));
    if name.starts_with(".partial-")
        && let Some(spec) = &spec
        && spec[0] == assay_eval::results::SCHEMA
    {
        let s = &spec[1];
        let mut e = base(Kind::Eval, text(&s["model"]["name"]));
        eval_details(&mut e, s);
        let total: usize = s["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["samples"].as_u64())
            .sum::<u64>() as usize;
        e.status = Status::Partial {
            done: journal_lines(&dir.join("samples")),
            total: Some(total),
        };
        e.date = modified(&dir.join("run.json"));
        return Some(e);
    }
    None
}

/// Tasks and the settings of an evaluation's spec that tell runs apart.
fn eval_details(e: &mut RunEntry, spec: &Value) {
    let tasks = spec["tasks"].as_array().cloned().unwrap_or_default();
    e.tasks = tasks.iter().map(|t| text(&t["name"])).collect();
    let mut shots: Vec<String> = tasks.iter().map(|t| text(&t["num_fewshot"])).collect();
    shots.dedup();
    e.settings = vec![
        ("shots".into(), shots.join("/")),
        (
            "chat template".into(),
            if spec["apply_chat_template"] == true {
                "yes".into()
            } else {
                "no".into()
            },
        ),
        ("selection".into(), text(&spec["selection"])),
    ];
}

/// Lines of every journal (`*.jsonl`) in `dir`: the items answered so far.
fn journal_lines(dir: &Path) -> usize {
    let Ok(read) = std::fs::read_dir(dir) else {
        return 0;
    };
    read.filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .sum()
}

fn pipeline_title(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("summary.md"))
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.trim_start_matches('#').trim().to_owned())
        })
        .unwrap_or_else(|| "pipeline".into())
}

fn decision_text(r: &Value) -> String {
    let d = &r["decision"];
    match d["ship"].as_str() {
        Some(c) => format!("ship {c}"),
        None => text(&d["outcome"]),
    }
}

/// A file's modification time in RFC 3339 (for runs whose files carry no date of
/// their own).
fn modified(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| {
            time::OffsetDateTime::from(t)
                .replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The folder of run `id` under `root`, if `id` names one there: no `..`, no absolute
/// path, no link leading outside; `.` is the root itself.
pub fn resolve(root: &Path, id: &str) -> Option<PathBuf> {
    if id == "." {
        return Some(root.to_owned());
    }
    if id.is_empty()
        || id.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || id.starts_with('/')
    {
        return None;
    }
    let dir = root.join(id);
    let canonical = dir.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    canonical.starts_with(&root).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_inside_the_root_resolve() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        assert!(resolve(dir.path(), "a/b").is_some());
        assert_eq!(resolve(dir.path(), "."), Some(dir.path().to_owned()));
        for bad in ["", "../x", "a/../..", "/etc", "a//b", "a/./b", "nope"] {
            assert!(resolve(dir.path(), bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dates_are_civil() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "").unwrap();
        let d = modified(&f);
        assert!(d.starts_with("20") && d.ends_with('Z'), "{d}");
    }
}
