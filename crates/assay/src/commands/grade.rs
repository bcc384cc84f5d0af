//! `assay grade`: a grader over a CSV file of responses, and its agreement with
//! reference (human) labels when the file has them.

use super::SummaryFormat;
use anyhow::{Context, Result, bail};
use assay_grade::ensemble::{Combine, Ensemble};
use assay_grade::{GradeError, Graded, Grader, Verdict};
use assay_openai::graders::{GuardKind, RemoteGrader};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  # XSTest's string-match grader on GPT-4's published completions, against the human labels
  assay grade ../shared/data/xstest/completions/gpt4_human_and_strmatch.csv --labels-column final_label

  # Your own answers, one per row in column `answer`, as JSON
  assay grade answers.csv --response-column answer --format json

  # Profanity scores of every row (a lexical baseline), written per row to scores.csv
  assay grade answers.csv --response-column answer --grader alt-profanity-check --out scores.csv

  # Llama Guard 3 served by vLLM judges each (prompt, answer) pair
  assay grade answers.csv --prompt-column prompt --response-column answer \
    --grader llama-guard-3 --grader-model meta-llama/Llama-Guard-3-1B --base-url http://127.0.0.1:8000/v1";

#[derive(Clone, Copy, ValueEnum)]
enum GraderName {
    /// XSTest's published refusal classifier (full refusal or full compliance).
    XstestStringMatch,
    /// alt-profanity-check 1.9.1 ported: P(profane), a lexical baseline.
    AltProfanityCheck,
    /// hatesonar 0.1.0 ported: hate speech / offensive / neither, a lexical baseline.
    Hatesonar,
    /// Llama Guard 3 served behind the OpenAI-compatible API (`--grader-model`).
    #[value(name = "llama-guard-3")]
    LlamaGuard3,
    /// ShieldGemma served behind the OpenAI-compatible API (`--grader-model`).
    Shieldgemma,
    /// OpenAI's `/moderations` endpoint (`--grader-model`, e.g. omni-moderation-latest).
    OpenaiModeration,
    /// An LLM judge: `--rubric FILE` asked of `--judge MODEL`, read by `--labels` or
    /// `--scale`.
    Judge,
}

#[derive(Clone, Copy, ValueEnum)]
enum CombineArg {
    Mean,
    Majority,
}

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct GradeArgs {
    /// A CSV file with a header, one response per row.
    file: PathBuf,
    /// Which grader judges each response; repeat it for an ensemble (`--combine`).
    #[arg(long, value_enum, default_values_t = [GraderName::XstestStringMatch])]
    grader: Vec<GraderName>,
    /// How several graders make one verdict: the mean of their scores, or the
    /// majority of their flags (score at least 0.5).
    #[arg(long, value_enum)]
    combine: Option<CombineArg>,
    /// The column holding the responses.
    #[arg(long, default_value = "completion")]
    response_column: String,
    /// The column holding the prompts (graders that read them).
    #[arg(long)]
    prompt_column: Option<String>,
    /// A column of reference labels (people's), in the grader's vocabulary: report the
    /// grader's agreement with them (accuracy, Cohen's kappa, confusion table).
    #[arg(long)]
    labels_column: Option<String>,
    /// A Markdown summary, or JSON with every field.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
    /// Also write every row's verdict (row, label, score, rationale) to this CSV file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The served model of a remote grader (`llama-guard-3`, `shieldgemma`,
    /// `openai-moderation`).
    #[arg(long)]
    grader_model: Option<String>,
    /// ShieldGemma's policy text (default: its model card's "No Dangerous Content").
    #[arg(long)]
    shieldgemma_policy: Option<String>,
    /// The judging model of `--grader judge`: `default`, `gemma3-270m`, a GGUF file, or
    /// `openai:NAME` at --base-url.
    #[arg(long, value_name = "MODEL")]
    judge: Option<String>,
    /// The judge's rubric: a template over `{{ prompt }}`, `{{ response }}` and
    /// `{{ reference }}`.
    #[arg(long, value_name = "FILE")]
    rubric: Option<PathBuf>,
    /// The judge answers one of these labels (comma-separated), e.g. XSTest's classes.
    #[arg(long, value_delimiter = ',', conflicts_with = "scale")]
    labels: Vec<String>,
    /// Which of the judge's labels count as flagged (its score 1).
    #[arg(long, value_delimiter = ',', requires = "labels")]
    flagged: Vec<String>,
    /// The judge rates on this scale in MT-Bench's format, e.g. `1,10`.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<f64>,
    /// The column holding reference answers, for rubrics that show one.
    #[arg(long)]
    reference_column: Option<String>,
    #[command(flatten)]
    local: super::model::LocalArgs,
    #[command(flatten)]
    remote: super::model::RemoteArgs,
}

pub(crate) fn run(args: GradeArgs) -> Result<ExitCode> {
    let classifier = |c: &assay_classify::Catalogued| -> Result<Arc<dyn Grader>> {
        let classifier = c.ensure(&mut |line| eprintln!("{line}"))?;
        Ok(Arc::new(assay_classify::ClassifierGrader::new(Arc::new(
            classifier,
        ))))
    };
    let remote = |name: GraderName, kind: GuardKind| -> Result<Arc<dyn Grader>> {
        let Some(model) = &args.grader_model else {
            bail!(
                "--grader {}: name the served model with --grader-model",
                name.to_possible_value().expect("a value").get_name()
            );
        };
        let config = args.remote.client_config(model)?;
        Ok(Arc::new(RemoteGrader::connect(config, kind)?))
    };
    if args.shieldgemma_policy.is_some()
        && !args
            .grader
            .iter()
            .any(|g| matches!(g, GraderName::Shieldgemma))
    {
        bail!("--shieldgemma-policy is for --grader shieldgemma");
    }
    let mut graders: Vec<Arc<dyn Grader>> = Vec::new();
    for &name in &args.grader {
        graders.push(match name {
            GraderName::XstestStringMatch => Arc::new(assay_grade::refusal::XstestStringMatch),
            GraderName::AltProfanityCheck => classifier(&assay_classify::PROFANITY_CHECK)?,
            GraderName::Hatesonar => classifier(&assay_classify::HATESONAR)?,
            GraderName::LlamaGuard3 => remote(name, GuardKind::LlamaGuard3)?,
            GraderName::Shieldgemma => remote(
                name,
                GuardKind::ShieldGemma {
                    policy: args.shieldgemma_policy.clone().unwrap_or_else(|| {
                        assay_grade::guard::SHIELDGEMMA_DANGEROUS_CONTENT.to_owned()
                    }),
                },
            )?,
            GraderName::OpenaiModeration => remote(name, GuardKind::OpenAiModeration)?,
            GraderName::Judge => judge(&args)?,
        });
    }
    let grader: Arc<dyn Grader> = match (graders.len(), args.combine) {
        (1, None) => graders.remove(0),
        (1, Some(_)) => bail!("--combine needs several graders (repeat --grader)"),
        (_, None) => bail!("several graders need --combine mean or --combine majority"),
        (_, Some(c)) => {
            let combine = match c {
                CombineArg::Mean => Combine::Mean,
                CombineArg::Majority => Combine::Majority,
            };
            Arc::new(Ensemble::new(graders, combine).expect("at least two graders"))
        }
    };
    let file = args.file.display().to_string();
    let mut reader =
        csv::Reader::from_path(&args.file).with_context(|| format!("cannot read `{file}`"))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("`{file}`: no header row"))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.is_empty() {
        bail!("`{file}` is empty: expected a header row naming its columns");
    }
    if let Some((name, a, b)) =
        assay_core::input::repeated_column(header.iter().map(String::as_str))
    {
        bail!("`{file}`: column `{name}` appears twice (columns {a} and {b})");
    }
    let column = |flag: &str, name: &str| -> Result<usize> {
        header.iter().position(|h| h == name).with_context(|| {
            format!(
                "{flag} `{name}`: `{file}` has no such column (it has: {})",
                header.join(", ")
            )
        })
    };
    let response = column("--response-column", &args.response_column)?;
    let reference = args
        .reference_column
        .as_deref()
        .map(|c| column("--reference-column", c))
        .transpose()?;
    let prompt = args
        .prompt_column
        .as_deref()
        .map(|c| column("--prompt-column", c))
        .transpose()?;
    let labels = args
        .labels_column
        .as_deref()
        .map(|c| column("--labels-column", c))
        .transpose()?;
    let mut rows = Vec::new();
    for (i, row) in reader.records().enumerate() {
        rows.push(row.with_context(|| format!("`{file}`: row {}", i + 2))?);
    }
    // Rows are graded in parallel; each verdict keeps its row's place. A reply the
    // grader's format does not allow is kept as unparsed and counted, never guessed; a
    // grader that cannot answer stops the command.
    let graded: Vec<Result<Verdict, String>> = {
        use rayon::prelude::*;
        rows.par_iter()
            .enumerate()
            .map(|(i, row)| {
                let field = |c: usize| row.get(c).unwrap_or_default();
                match grader.grade(Graded {
                    prompt: prompt.map_or("", field),
                    response: field(response),
                    reference: reference.map(field),
                }) {
                    Ok(v) => Ok(Ok(v)),
                    Err(GradeError::Unparsed { reply }) => Ok(Err(reply)),
                    Err(e) => {
                        Err(anyhow::Error::new(e).context(format!("`{file}`: row {}", i + 2)))
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?
    };
    let unparsed = graded.iter().filter(|g| g.is_err()).count();
    let all_references: Vec<String> = match labels {
        Some(c) => rows
            .iter()
            .map(|r| r.get(c).unwrap_or_default().to_owned())
            .collect(),
        None => Vec::new(),
    };
    if let Some(out) = &args.out {
        write_verdicts(out, &graded)?;
    }
    let verdicts: Vec<&Verdict> = graded.iter().filter_map(|g| g.as_ref().ok()).collect();
    let references: Vec<&str> = all_references
        .iter()
        .zip(&graded)
        .filter(|(_, g)| g.is_ok())
        .map(|(r, _)| r.as_str())
        .collect();
    if verdicts.is_empty() && unparsed > 0 {
        bail!(
            "`{file}`: the grader's reply to every one of the {unparsed} rows was unparsable{}",
            match &args.out {
                Some(out) => format!(" (the replies are in `{}`)", out.display()),
                None => " (--out FILE keeps the replies)".to_owned(),
            }
        );
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in &verdicts {
        *counts.entry(v.label.as_str()).or_default() += 1;
    }
    let agreement = match labels {
        Some(_) => {
            let mut classes: Vec<&str> = references.clone();
            classes.sort_unstable();
            classes.dedup();
            Some(assay_grade::agreement::agreement(
                references
                    .iter()
                    .copied()
                    .zip(verdicts.iter().map(|v| v.label.as_str())),
                &classes,
            )?)
        }
        None => None,
    };
    let id = grader.id();
    let scores: Vec<f64> = verdicts.iter().map(|v| v.score).collect();
    let mean_score = assay_stats::mean(&scores);
    match args.format {
        SummaryFormat::Json => {
            let value = serde_json::json!({
                "grader": id,
                "file": file,
                "n": verdicts.len(),
                "unparsed": unparsed,
                "labels": counts.iter().map(|(l, n)| serde_json::json!({"label": l, "count": n})).collect::<Vec<_>>(),
                "mean_score": mean_score.as_ref().ok(),
                "mean_score_undefined": mean_score.as_ref().err().map(ToString::to_string),
                "agreement": agreement.as_ref().map(|a| serde_json::json!({
                    "reference_column": args.labels_column,
                    "labels": a.labels,
                    "confusion": a.confusion,
                    "accuracy": a.accuracy,
                    "kappa": a.kappa.as_ref().ok(),
                    "kappa_undefined": a.kappa.as_ref().err(),
                })),
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        SummaryFormat::Table => {
            println!("grader: {id} on {} responses of `{file}`\n", verdicts.len());
            if unparsed > 0 {
                println!(
                    "unparsed: {unparsed} replies broke the grader's format; they are left out of every count below (their replies are in --out)\n"
                );
            }
            println!("| Label | Count | Share |\n|---|---:|---:|");
            for (label, n) in &counts {
                println!(
                    "| {label} | {n} | {:.4} |",
                    *n as f64 / verdicts.len() as f64
                );
            }
            match &mean_score {
                Ok(m) => println!(
                    "\nmean score {:.4} [{:.4}, {:.4}] (95% interval, n = {})",
                    m.value, m.ci_low, m.ci_high, m.n
                ),
                Err(why) => println!("\nmean score: undefined ({why})"),
            }
            if let Some(a) = &agreement {
                let column = args.labels_column.as_deref().unwrap_or_default();
                let e = &a.accuracy;
                println!(
                    "\nagreement with `{column}` (n = {}): accuracy {:.4} [{:.4}, {:.4}]",
                    e.n, e.value, e.ci_low, e.ci_high
                );
                match &a.kappa {
                    Ok(k) => println!(
                        "Cohen's kappa {:.4} [{:.4}, {:.4}] (standard error {:.4})",
                        k.value, k.ci_low, k.ci_high, k.stderr
                    ),
                    Err(why) => println!("Cohen's kappa: {why}"),
                }
                println!("\nrows: `{column}`; columns: the grader\n");
                println!("| | {} |", a.labels.join(" | "));
                println!("|---|{}", "---:|".repeat(a.labels.len()));
                for (label, row) in a.labels.iter().zip(&a.confusion) {
                    let cells: Vec<String> = row.iter().map(u64::to_string).collect();
                    println!("| {label} | {} |", cells.join(" | "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every row's verdict, in row order (`row` counts the header as row 1, as editors do);
/// an unparsed reply has the label `unparsed`, no score, and the reply as rationale.
fn write_verdicts(path: &std::path::Path, graded: &[Result<Verdict, String>]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "label", "score", "rationale"])?;
    for (i, g) in graded.iter().enumerate() {
        let (label, score, rationale) = match g {
            Ok(v) => (
                v.label.clone(),
                v.score.to_string(),
                v.rationale.clone().unwrap_or_default(),
            ),
            Err(reply) => ("unparsed".to_owned(), String::new(), reply.clone()),
        };
        w.write_record([(i + 2).to_string(), label, score, rationale])?;
    }
    let bytes = w.into_inner().context("cannot format the verdicts")?;
    assay_rundir::write_atomic(path, &bytes)
        .with_context(|| format!("--out `{}`", path.display()))?;
    Ok(())
}

/// The LLM judge `--grader judge` describes, with its model loaded.
fn judge(args: &GradeArgs) -> Result<Arc<dyn Grader>> {
    let (Some(model), Some(rubric)) = (&args.judge, &args.rubric) else {
        bail!("--grader judge needs --judge MODEL and --rubric FILE");
    };
    let text = std::fs::read_to_string(rubric)
        .with_context(|| format!("--rubric: cannot read `{}`", rubric.display()))?;
    let scale = match args.scale[..] {
        [] => None,
        [lo, hi] if lo < hi => Some([lo, hi]),
        _ => bail!("--scale: give LOW,HIGH with LOW below HIGH (e.g. 1,10)"),
    };
    if scale.is_none() && args.labels.is_empty() {
        bail!("--grader judge needs --labels A,B,... or --scale LOW,HIGH");
    }
    if let Some(f) = args.flagged.iter().find(|f| !args.labels.contains(f)) {
        bail!("--flagged `{f}` is not one of --labels");
    }
    if text.trim().is_empty() {
        bail!("--rubric `{}` is empty", rubric.display());
    }
    if let Err(e) = assay_tasks::prompt::environment().template_from_str(&text) {
        bail!("--rubric `{}`: {e}", rubric.display());
    }
    let name = rubric
        .file_stem()
        .map_or_else(|| "rubric".to_owned(), |s| s.to_string_lossy().into_owned());
    let spec = assay_tasks::spec::JudgeSpec {
        name,
        rubric: text,
        scale,
        labels: args.labels.clone(),
        flagged: args.flagged.clone(),
        max_tokens: 256,
    };
    let model = args.local.load(model, &args.remote)?;
    Ok(Arc::new(assay_eval::judge::Judge::new(
        Arc::from(model),
        spec,
    )))
}
