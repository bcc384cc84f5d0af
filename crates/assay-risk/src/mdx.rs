//! BenchRisk's own format: one MDX file per record, a YAML front matter holding the
//! fields, then a Markdown body (`data/modes/<n>.mdx`, `data/mitigations/<n>.mdx`,
//! `data/scores/<Name>.mdx`). Importing reads a BenchRisk checkout (or a local
//! extension in the same layout); exporting writes one, so a user can send work back.
//! Fields other than the figures (texts, dates) are kept and written back unchanged.

use crate::{Benchmark, Dimension, Error, FailureMode, Mitigation, Original, Registry};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Splits a file into its front matter (parsed YAML mapping, as JSON values) and body.
fn split(path: &Path, text: &str) -> Result<(BTreeMap<String, Value>, String), Error> {
    let invalid = |message: String| Error::Invalid {
        location: path.display().to_string(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| invalid("does not start with a `---` front matter line".into()))?;
    let end = rest
        .match_indices("\n---")
        .map(|(i, _)| i)
        .find(|&i| {
            let after = &rest[i + 4..];
            after.is_empty() || after.starts_with('\n') || after.starts_with("\r\n")
        })
        .ok_or_else(|| invalid("the front matter has no closing `---` line".into()))?;
    let yaml = &rest[..end + 1];
    let body = rest[end + 4..]
        .strip_prefix("\r\n")
        .or_else(|| rest[end + 4..].strip_prefix('\n'))
        .unwrap_or(&rest[end + 4..])
        .to_owned();
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).map_err(|e| {
        // The YAML starts on line 2 of the file.
        let line = e.location().map(|l| l.line() + 1);
        Error::Invalid {
            location: match line {
                Some(l) => format!("{}:{l}", path.display()),
                None => path.display().to_string(),
            },
            message: format!("malformed YAML front matter: {e}"),
        }
    })?;
    let json: Value = serde_json::to_value(&value)
        .map_err(|e| invalid(format!("front matter cannot be read as data: {e}")))?;
    match json {
        Value::Object(map) => Ok((map.into_iter().collect(), body)),
        Value::Null => Ok((BTreeMap::new(), body)),
        other => Err(invalid(format!(
            "the front matter is not a mapping but `{other}`"
        ))),
    }
}

struct Fields<'a> {
    path: &'a Path,
    map: BTreeMap<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &str, message: String) -> Error {
        Error::Invalid {
            location: format!("{}, field `{field}`", self.path.display()),
            message,
        }
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field).filter(|v| !v.is_null())
    }

    fn number(&mut self, field: &str) -> Result<f64, Error> {
        match self.take(field) {
            Some(Value::Number(n)) => Ok(n.as_f64().expect("JSON numbers are finite")),
            Some(other) => Err(self.err(field, format!("expected a number, found `{other}`"))),
            None => Err(self.err(field, "is missing".into())),
        }
    }

    fn id(&mut self, field: &str) -> Result<u32, Error> {
        let v = self.number(field)?;
        if v.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&v) {
            return Err(self.err(field, format!("{v} is not a whole, non-negative number")));
        }
        Ok(v as u32)
    }

    fn string(&mut self, field: &str) -> Result<String, Error> {
        match self.take(field) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.err(field, format!("expected text, found `{other}`"))),
            None => Err(self.err(field, "is missing".into())),
        }
    }

    fn ids(&mut self, field: &str) -> Result<Vec<u32>, Error> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| self.err(field, format!("`{v}` is not a mitigation number")))
                })
                .collect(),
            Some(other) => Err(self.err(
                field,
                format!("expected a list of numbers, found `{other}`"),
            )),
        }
    }

    fn original(self, body: String) -> Option<Original> {
        Some(Original {
            fields: self.map,
            body,
        })
    }
}

fn read_dir_mdx(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        action: "read",
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mdx"))
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<(BTreeMap<String, Value>, String), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    split(path, &text)
}

pub fn read_mode(path: &Path) -> Result<FailureMode, Error> {
    let (map, body) = read(path)?;
    let mut f = Fields { path, map };
    let id = f.id("number")?;
    let severity = f.number("severity")?;
    let stage_text = f.string("stage")?;
    let stage = crate::parse_stage(&stage_text).ok_or_else(|| {
        f.err(
            "stage",
            format!("`{stage_text}` is not one of `(1) Task Definition` … `(7) Upkeep`"),
        )
    })?;
    let dim_text = f.string("dimension")?;
    let dimension = Dimension::parse(&dim_text).ok_or_else(|| {
        f.err(
            "dimension",
            format!(
                "`{dim_text}` is not one of {}",
                Dimension::ALL.map(|d| d.name()).join(", ")
            ),
        )
    })?;
    Ok(FailureMode {
        id,
        severity,
        stage,
        dimension,
        summary: String::new(),
        original: f.original(body),
    })
}

pub fn read_mitigation(path: &Path) -> Result<Mitigation, Error> {
    let (map, body) = read(path)?;
    let mut f = Fields { path, map };
    Ok(Mitigation {
        id: f.id("mitigationNumber")?,
        mode: f.id("mitigatedNumber")?,
        likelihood_reduction: f.number("likelihoodReductionPercent")?,
        severity_reduction: f.number("severityReductionPercent")?,
        summary: String::new(),
        original: f.original(body),
    })
}

pub fn read_benchmark(path: &Path) -> Result<Benchmark, Error> {
    let (map, body) = read(path)?;
    let mut f = Fields { path, map };
    let name = f.string("name")?;
    let adopted = f.ids("adoptedMitigations")?;
    let absent = f.ids("absentMitigations")?;
    let hidden = match f.take("hide") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(f.err("hide", format!("expected true or false, found `{other}`")));
        }
    };
    Ok(Benchmark {
        name,
        adopted,
        absent,
        hidden,
        original: f.original(body),
    })
}

/// The `data` directory of a checkout: `dir/data` if it exists, else `dir`.
fn data_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("data");
    if nested.join("modes").is_dir() {
        nested
    } else {
        dir.to_owned()
    }
}

/// Reads a BenchRisk checkout (the repository root or its `data/`). Records are sorted
/// by id, benchmarks by name. Validation is separate ([`Registry::checked`]).
pub fn import(dir: &Path) -> Result<Registry, Error> {
    let data = data_dir(dir);
    let mut modes = read_dir_mdx(&data.join("modes"))?
        .iter()
        .map(|p| read_mode(p))
        .collect::<Result<Vec<_>, _>>()?;
    modes.sort_by_key(|m| m.id);
    let mut mitigations = read_dir_mdx(&data.join("mitigations"))?
        .iter()
        .map(|p| read_mitigation(p))
        .collect::<Result<Vec<_>, _>>()?;
    mitigations.sort_by_key(|m| m.id);
    let scores = data.join("scores");
    let mut benchmarks = if scores.is_dir() {
        read_dir_mdx(&scores)?
            .iter()
            .map(|p| read_benchmark(p))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    // By name, whatever the files are called (`bbq.mdx` holds BBQ).
    benchmarks.sort_by_key(|b| b.name.to_lowercase());
    Ok(Registry {
        source: dir.display().to_string(),
        modes,
        mitigations,
        benchmarks,
    })
}

/// Front matter in BenchRisk's layout: the figures' fields first, then the others.
fn front_matter(figures: Vec<(&str, Value)>, original: Option<&Original>) -> String {
    let mut map = serde_yaml_ng::Mapping::new();
    for (k, v) in figures {
        map.insert(
            serde_yaml_ng::Value::String(k.to_owned()),
            serde_yaml_ng::to_value(v).expect("JSON values convert to YAML"),
        );
    }
    if let Some(o) = original {
        for (k, v) in &o.fields {
            map.insert(
                serde_yaml_ng::Value::String(k.clone()),
                serde_yaml_ng::to_value(v).expect("JSON values convert to YAML"),
            );
        }
    }
    let yaml = serde_yaml_ng::to_string(&map).expect("mappings serialize");
    // BenchRisk writes dates quoted (`dateScored: '2025-04-01'`); keep that look.
    let yaml: String = yaml
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((key, value))
                if key.starts_with("date")
                    && value.len() == 10
                    && value.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    }) =>
            {
                format!("{key}: '{value}'\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    let body = original.map_or("todo", |o| o.body.as_str());
    format!("---\n{yaml}---\n{body}")
}

/// The MDX text of a benchmark's answers: exactly what BenchRisk's new-benchmark
/// submission asks for.
pub fn benchmark_mdx(b: &Benchmark) -> String {
    let mut figures = vec![
        ("name", Value::String(b.name.clone())),
        ("adoptedMitigations", serde_json::json!(b.adopted)),
        ("absentMitigations", serde_json::json!(b.absent)),
    ];
    if b.hidden {
        figures.push(("hide", Value::Bool(true)));
    }
    front_matter(figures, b.original.as_ref())
}

/// Writes a registry in BenchRisk's layout under `dir/data/`, every file or none: on a
/// failure the folders it created are removed and the files it would replace stay.
pub fn export(registry: &Registry, dir: &Path) -> Result<(), Error> {
    let data = dir.join("data");
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut write = |path: PathBuf, text: String| -> Result<(), Error> {
        files.push((path, text));
        Ok(())
    };
    for m in &registry.modes {
        let mut figures = vec![
            ("number", serde_json::json!(m.id)),
            ("severity", serde_json::json!(m.severity)),
            ("stage", Value::String(crate::stage_label(m.stage))),
            ("dimension", Value::String(m.dimension.name().into())),
        ];
        if m.original.is_none() && !m.summary.is_empty() {
            figures.push(("short", Value::String(m.summary.clone())));
        }
        write(
            data.join("modes").join(format!("{}.mdx", m.id)),
            front_matter(figures, m.original.as_ref()),
        )?;
    }
    for m in &registry.mitigations {
        let mut figures = vec![
            ("mitigationNumber", serde_json::json!(m.id)),
            ("mitigatedNumber", serde_json::json!(m.mode)),
            (
                "severityReductionPercent",
                serde_json::json!(m.severity_reduction),
            ),
            (
                "likelihoodReductionPercent",
                serde_json::json!(m.likelihood_reduction),
            ),
        ];
        if m.original.is_none() && !m.summary.is_empty() {
            figures.push(("questionStatement", Value::String(m.summary.clone())));
        }
        write(
            data.join("mitigations").join(format!("{}.mdx", m.id)),
            front_matter(figures, m.original.as_ref()),
        )?;
    }
    for b in &registry.benchmarks {
        write(
            data.join("scores").join(format!("{}.mdx", b.name)),
            benchmark_mdx(b),
        )?;
    }
    // Folders this export creates, outermost first, to take back on failure.
    let mut created: Vec<PathBuf> = Vec::new();
    for sub in ["modes", "mitigations", "scores"] {
        let folder = data.join(sub);
        for d in [dir, data.as_path(), folder.as_path()] {
            if !d.exists() {
                created.push(d.to_owned());
            }
        }
        let made = std::fs::create_dir_all(&folder).map_err(|source| Error::Io {
            action: "create",
            path: folder.clone(),
            source,
        });
        if made.is_err() {
            remove_created(&created);
            made?;
        }
    }
    let set: Vec<(&Path, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_path(), t.as_bytes()))
        .collect();
    assay_rundir::write_all_atomic(&set).inspect_err(|_| remove_created(&created))?;
    Ok(())
}

fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_body_split() {
        let (map, body) = split(Path::new("x.mdx"), "---\na: 1\nb: [1, 2]\n---\nhello\n").unwrap();
        assert_eq!(map["a"], serde_json::json!(1));
        assert_eq!(map["b"], serde_json::json!([1, 2]));
        assert_eq!(body, "hello\n");
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let err = split(
            Path::new("modes/3.mdx"),
            "---\nnumber: 3\nseverity: [\n---\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("modes/3.mdx:"), "{err}");
        assert!(err.contains("malformed YAML"), "{err}");
        let err = split(Path::new("m.mdx"), "number: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("front matter"), "{err}");
    }

    #[test]
    fn wrong_field_types_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("5.mdx");
        std::fs::write(&p, "---\nnumber: 5\nseverity: high\nstage: (1) Task Definition\ndimension: Longevity\n---\n").unwrap();
        let err = read_mode(&p).unwrap_err().to_string();
        assert!(
            err.contains("field `severity`") && err.contains("expected a number"),
            "{err}"
        );
        std::fs::write(
            &p,
            "---\nnumber: 5\nseverity: 0.5\nstage: (1) Task Definition\ndimension: Longevty\n---\n",
        )
        .unwrap();
        let err = read_mode(&p).unwrap_err().to_string();
        assert!(
            err.contains("field `dimension`") && err.contains("Longevty"),
            "{err}"
        );
    }
}
