//! The questionnaire: walks a benchmark author through the offered mitigations, grouped
//! by production stage and failure mode (each failure mode explained once), and keeps the
//! answers in an answers file in BenchRisk's format, saved after every answer. Running it
//! again on the same file resumes at the first unanswered question.
//!
//! Answers: `y` adopted, `n` not adopted, `s` skip for now, `?` explain, `q` save and
//! stop. The end of input also saves and stops.

use crate::{Benchmark, Error, Registry, mdx};
use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::Path;

/// The submission's other fields, for a new answers file (BenchRisk's new-benchmark
/// template asks for them).
#[derive(Debug, Clone)]
pub struct Submission {
    pub description: String,
    pub reference: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

impl Submission {
    /// The template's placeholders, dated `date`.
    pub fn placeholders(date: &str) -> Self {
        Self {
            description: "Replace this text with a sentence describing the purpose of the benchmark".into(),
            reference: "Replace this text with any documentation you would like to see stated on BenchRisk.ai alongside its BenchRisk scores".into(),
            date: date.to_owned(),
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub answered: usize,
    pub total: usize,
    pub benchmark: Benchmark,
}

impl Outcome {
    pub fn complete(&self) -> bool {
        self.answered == self.total
    }
}

fn save(path: &Path, b: &Benchmark) -> Result<(), Error> {
    assay_rundir::write_atomic(path, mdx::benchmark_mdx(b).as_bytes())?;
    Ok(())
}

/// Runs the questionnaire for benchmark `name`, reading answers from `input` and writing
/// prompts to `output`; the answers live in `answers_path` (created if missing, resumed
/// if present).
pub fn run(
    registry: &Registry,
    name: &str,
    submission: &Submission,
    answers_path: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<Outcome, Error> {
    let mut b = if answers_path.exists() {
        let b = mdx::read_benchmark(answers_path)?;
        if !b.name.eq_ignore_ascii_case(name) {
            return Err(Error::Invalid {
                location: answers_path.display().to_string(),
                message: format!("holds answers for `{}`, not `{name}`", b.name),
            });
        }
        b
    } else {
        let fields = [
            ("benchmarkDescription", &submission.description),
            ("dateScored", &submission.date),
            ("reference", &submission.reference),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.clone())))
        .collect();
        Benchmark {
            name: name.to_owned(),
            adopted: Vec::new(),
            absent: Vec::new(),
            hidden: false,
            original: Some(crate::Original {
                fields,
                body: "\n## Notes, References, and Justifications\n\n_Add optional information here._\n".into(),
            }),
        }
    };
    let out = |output: &mut dyn Write, text: String| -> Result<(), Error> {
        output
            .write_all(text.as_bytes())
            .and_then(|_| output.flush())
            .map_err(|source| Error::Io {
                action: "write to",
                path: "<terminal>".into(),
                source,
            })
    };
    // Offered mitigations by stage, failure mode, id.
    let mut questions = registry.offered();
    questions.sort_by_key(|m| {
        let mode = registry
            .mode(m.mode)
            .expect("offered mitigations have a mode");
        (mode.stage, mode.id, m.id)
    });
    let total = questions.len();
    let answered =
        |b: &Benchmark| -> BTreeSet<u32> { b.adopted.iter().chain(&b.absent).copied().collect() };
    let done = answered(&b)
        .iter()
        .filter(|id| questions.iter().any(|q| q.id == **id))
        .count();
    out(
        output,
        format!(
            "BenchRisk questionnaire for {name}: {total} questions, {done} answered already.\n\
             Answer y (adopted), n (not adopted), s (skip for now), ? (explain), q (save and stop).\n"
        ),
    )?;
    let (mut stage, mut mode_shown) = (0u8, 0u32);
    let mut line = String::new();
    for (k, q) in questions.iter().enumerate() {
        if answered(&b).contains(&q.id) {
            continue;
        }
        let mode = registry
            .mode(q.mode)
            .expect("offered mitigations have a mode");
        if mode.stage != stage {
            stage = mode.stage;
            out(
                output,
                format!("\n== Stage {} ==\n", crate::stage_label(stage)),
            )?;
        }
        if mode.id != mode_shown {
            mode_shown = mode.id;
            out(
                output,
                format!(
                    "\nFailure mode {} ({}, severity {:.1}): {}\n",
                    mode.id,
                    mode.dimension,
                    mode.severity,
                    mode.text()
                ),
            )?;
        }
        loop {
            out(
                output,
                format!("[{}/{total}] {} {} [y/n/s/?/q] ", k + 1, q.id, q.text()),
            )?;
            line.clear();
            let n = input.read_line(&mut line).map_err(|source| Error::Io {
                action: "read",
                path: "<terminal>".into(),
                source,
            })?;
            if n == 0 {
                out(output, "\n".into())?;
                return finish(registry, b, total, answers_path, output, &out);
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => {
                    b.adopted.push(q.id);
                    save(answers_path, &b)?;
                    break;
                }
                "n" | "no" => {
                    b.absent.push(q.id);
                    save(answers_path, &b)?;
                    break;
                }
                "s" | "skip" => break,
                "q" | "quit" => return finish(registry, b, total, answers_path, output, &out),
                "?" => out(
                    output,
                    format!(
                        "  If adopted, this cuts failure mode {}'s likelihood by {:.2}% and its severity by {:.2}%. \
                         The failure: {}\n",
                        mode.id,
                        q.likelihood_reduction,
                        q.severity_reduction,
                        mode.text()
                    ),
                )?,
                other => out(
                    output,
                    format!("  `{other}` is not an answer; type y, n, s, ? or q\n"),
                )?,
            }
        }
    }
    finish(registry, b, total, answers_path, output, &out)
}

fn finish(
    registry: &Registry,
    b: Benchmark,
    total: usize,
    answers_path: &Path,
    output: &mut dyn Write,
    out: &dyn Fn(&mut dyn Write, String) -> Result<(), Error>,
) -> Result<Outcome, Error> {
    save(answers_path, &b)?;
    let offered: BTreeSet<u32> = registry.offered().iter().map(|m| m.id).collect();
    let answered = b
        .adopted
        .iter()
        .chain(&b.absent)
        .filter(|id| offered.contains(id))
        .collect::<BTreeSet<_>>()
        .len();
    let s = crate::score(registry, &b.adopted);
    out(
        output,
        format!(
            "\nSaved {} ({answered} of {total} answered). Scores so far: {}; minimum {}, average {}.\n",
            answers_path.display(),
            crate::Dimension::ALL
                .iter()
                .map(|d| format!(
                    "{d} {}",
                    s.dimension(*d)
                        .map_or("-".into(), |v| crate::score::display_integer(v).to_string())
                ))
                .collect::<Vec<_>>()
                .join(", "),
            crate::score::display_integer(s.minimum),
            crate::score::display_integer(s.average),
        ),
    )?;
    if answered == total {
        out(
            output,
            format!(
                "\nAll questions answered. Submit it to BenchRisk as a new-benchmark issue with this text:\n\n```\n{}```\n",
                mdx::benchmark_mdx(&b)
            ),
        )?;
    } else {
        out(output, "Run the same command again to continue.\n".into())?;
    }
    Ok(Outcome {
        answered,
        total,
        benchmark: b,
    })
}
