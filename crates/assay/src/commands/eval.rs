use super::Format;
use super::model::{GraderArgs, LocalArgs, RemoteArgs, recorded_command};
use anyhow::{Context, Result, bail};
use assay_tasks::{Selection, Task, TaskSource};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # The embedded model on 20 items of three benchmarks
  assay eval --tasks hellaswag,arc_easy,gsm8k --limit 20 --data-dir ../shared/data

  # A seeded random subset of MMLU, as CSV
  assay eval --tasks mmlu --sample 2000 --sample-seed 1234 --data-dir DATA --format csv

  # A model on an OpenAI-compatible server (key read from $OPENAI_API_KEY)
  assay eval --model openai:gpt-4o-mini --base-url https://api.openai.com/v1 --tasks gsm8k --data-dir DATA

  # Your own task file
  assay eval --tasks my_task.toml --data-dir DATA

  # Safety gates: exit 1 when the upper 95% bound of a rate is over its limit
  assay eval --tasks xstest,advbench --data-dir DATA \
    --gate 'xstest:over_refusal <= 0.10' --gate 'advbench:attack_success <= 0.01'";

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct EvalArgs {
    /// `default` (SmolLM2-135M-Instruct), `gemma3-270m` (Gemma 3 270M), a GGUF file
    /// (llama, qwen2, qwen3 or gemma3), or `openai:NAME` for model NAME on an
    /// OpenAI-compatible server (see --base-url). Named models are fetched when missing.
    /// Repeat as `--model a=default --model b=gemma3-270m` to evaluate several
    /// candidates on the same items and compare them pairwise.
    #[arg(long, default_value = "default", help_heading = "Model")]
    model: Vec<String>,
    /// Wrap prompts in the model's chat template (refused when the model has none).
    #[arg(long, help_heading = "Model")]
    apply_chat_template: bool,
    /// CPU threads (scores do not depend on it). Default: all cores.
    #[arg(long, help_heading = "Model")]
    threads: Option<usize>,
    #[command(
        flatten,
        next_help_heading = "Local models (a GGUF file, `default` or `gemma3-270m`)"
    )]
    local: LocalArgs,
    #[command(flatten, next_help_heading = "Remote models (--model openai:NAME)")]
    remote: RemoteArgs,
    /// Comma-separated task names (`assay tasks` lists them) or task files (`.toml`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hellaswag,arc_easy,gsm8k",
        help_heading = "Tasks"
    )]
    tasks: Vec<String>,
    /// Directory holding the benchmark data files the tasks name.
    #[arg(long, env = crate::env::DATA_DIR, help_heading = "Tasks")]
    data_dir: Option<PathBuf>,
    /// Only the first N samples of each task (each subtask, for MMLU).
    #[arg(long, conflicts_with = "sample", help_heading = "Tasks",
          value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// A seeded random subset of N samples of each task.
    #[arg(long, help_heading = "Tasks", value_parser = clap::value_parser!(u64).range(1..))]
    sample: Option<u64>,
    /// Seed of `--sample`.
    #[arg(long, default_value_t = 1234, help_heading = "Tasks")]
    sample_seed: u64,
    /// Override the tasks' number of few-shot examples.
    #[arg(long, help_heading = "Tasks")]
    num_fewshot: Option<usize>,
    /// Override generation tasks' answer length limit in tokens (recorded in the
    /// results' task definitions).
    #[arg(long, help_heading = "Tasks", value_parser = clap::value_parser!(u64).range(1..))]
    max_tokens: Option<u64>,
    /// Where results go: a directory per run, named after the model, the tasks, the
    /// settings that tell runs apart (shots, chat template, selection) and the time.
    #[arg(
        long,
        alias = "output",
        default_value = "results",
        help_heading = "Output"
    )]
    out: PathBuf,
    /// Name the run: its directory is NAME and the time, and results.json records it
    /// (1 to 64 letters, digits, `-` and `_`).
    #[arg(long, value_parser = run_name, help_heading = "Output")]
    name: Option<String>,
    /// How the summary is printed: a Markdown table, CSV (one row per task and metric)
    /// or the whole results file as JSON.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    format: Format,
    /// Also print each subtask's row (MMLU's subjects).
    #[arg(long, help_heading = "Output")]
    show_subtasks: bool,
    /// A blocking gate, `TASK:METRIC <= T` (the metric's upper 95% bound must be at most
    /// T) or `TASK:METRIC >= T` (its lower bound at least T); repeatable. The verdicts go
    /// into results.json; a failed gate makes the exit status 1, a gate whose metric is
    /// undefined in this run 2.
    #[arg(long = "gate", value_name = "GATE", help_heading = "Gates")]
    gates: Vec<assay_eval::gate::Gate>,
    /// Gates from a TOML file (`[[gate]]` tables with `check = "TASK:METRIC <= T"`, and
    /// an optional `baseline` path relative to the file), added to any --gate.
    #[arg(long = "gates", value_name = "FILE", help_heading = "Gates")]
    gates_file: Option<PathBuf>,
    /// A finished run (its directory or results.json) for gates written against it:
    /// `TASK:METRIC >= baseline - M` holds when the lower 95% bound of the per-item
    /// difference (this run minus the baseline, on the items both answered) is at least
    /// -M; `<= baseline + M` when its upper bound is at most M.
    #[arg(long, value_name = "RUN", help_heading = "Gates")]
    baseline: Option<PathBuf>,
    /// A reference model's finished run of `ailuminate` (its directory or results.json):
    /// grade each hazard Poor .. Excellent by AILuminate's rule against its rates.
    #[arg(long, value_name = "RUN", help_heading = "Graders")]
    ailuminate_reference: Option<PathBuf>,
    /// The model that judges the answers of tasks with LLM judges (`[[judge]]`):
    /// `default`, `gemma3-270m`, a GGUF file, or `openai:NAME` at --grader-base-url.
    #[arg(long, value_name = "MODEL", help_heading = "Graders")]
    judge: Option<String>,
    #[command(flatten)]
    graders: GraderArgs,
}

/// Connects the remote grader of every task that has one, before any work: a task
/// without the flags it needs, or a server that does not answer, fails here.
fn connect_remote_graders(tasks: &mut [Task], args: &EvalArgs) -> Result<()> {
    for task in tasks.iter_mut() {
        let Some((protocol, policy)) = task.needs_remote_grader() else {
            continue;
        };
        let grader = args
            .graders
            .remote_grader(protocol, policy)
            .with_context(|| format!("the grader of task `{}`", task.spec.name))?;
        task.set_grader(grader);
    }
    if args.graders.grader_model.is_some()
        && !args.tasks.is_empty()
        && tasks
            .iter()
            .all(|t| t.spec.grader.as_ref().is_none_or(|g| g.protocol.is_none()))
    {
        bail!(
            "--grader-model: none of these tasks has a remote grader (`kind = \"remote\"` in its [grader])"
        );
    }
    Ok(())
}

/// Loads the judging model of tasks with LLM judges, before the model under test.
fn connect_judges(tasks: &mut [Task], args: &EvalArgs) -> Result<()> {
    let needed = tasks
        .iter()
        .find(|t| !t.needs_judges().is_empty() || t.needs_judge_grader().is_some());
    let Some(first) = needed else {
        if args.judge.is_some() {
            bail!("--judge: none of these tasks has LLM judges (`[[judge]]` tables)");
        }
        return Ok(());
    };
    let Some(name) = &args.judge else {
        bail!(
            "task `{}` is scored by LLM judges: name the judging model with --judge MODEL",
            first.spec.name
        );
    };
    let model = args.graders.judge_model(name, &args.local, &args.remote)?;
    assay_eval::judge::connect(tasks, &model);
    Ok(())
}

pub(crate) fn run(args: EvalArgs) -> Result<ExitCode> {
    let threads = crate::threads::use_threads(args.threads)?;
    args.local.check()?;

    let Some(data_dir) = args.data_dir.clone() else {
        bail!(
            "no data directory: pass --data-dir DIR or set ASSAY_DATA_DIR (the directory holding e.g. `hellaswag/`, `arc/`, `mmlu/`)"
        );
    };
    let selection = match (args.limit, args.sample) {
        (Some(n), _) => Selection::First(n as usize),
        (_, Some(n)) => Selection::Random {
            n: n as usize,
            seed: args.sample_seed,
        },
        _ => Selection::All,
    };
    let selection_text = match selection {
        Selection::All => "all".to_owned(),
        Selection::First(n) => format!("first {n}"),
        Selection::Random { n, seed } => format!("random {n} (seed {seed})"),
    };
    // Tasks first: a bad task file or data row fails before the model loads.
    let tasks = args
        .tasks
        .iter()
        .map(|name| {
            let source = TaskSource::resolve(name.trim())?;
            Ok(Task::load(source, &data_dir, args.num_fewshot, selection)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut tasks = tasks;
    if let Some(n) = args.max_tokens {
        for task in &mut tasks {
            if task.spec.output == assay_tasks::spec::OutputKind::Generate {
                task.spec.generate.get_or_insert_default().max_tokens = n as usize;
            }
        }
    }
    connect_remote_graders(&mut tasks, &args)?;
    connect_judges(&mut tasks, &args)?;
    // Gates name tasks and metrics of this run (and a baseline that ran the same task
    // definitions): a typo fails now, not after the run.
    let mut gates = args.gates.clone();
    let mut baseline_path = args.baseline.clone();
    if let Some(path) = &args.gates_file {
        let file = assay_eval::gate::GatesFile::read(path)?;
        gates.extend(file.gates);
        // --baseline on the command line wins over the file's.
        baseline_path = baseline_path.or(file.baseline);
    }
    let baseline = baseline_path
        .as_deref()
        .map(assay_eval::gate::Baseline::open)
        .transpose()
        .context("--baseline")?;
    assay_eval::check_gates(&tasks, &gates, baseline.as_ref())?;

    let config = assay_eval::RunConfig {
        output_dir: args.out.clone(),
        name: args.name.clone(),
        apply_chat_template: args.apply_chat_template,
        selection: selection_text,
        command: recorded_command(),
        threads,
        batch_size: args.local.batch_size,
        assay_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_revision: env!("ASSAY_GIT_REVISION").to_owned(),
        gates,
        baseline: baseline_path,
        ailuminate_reference: args.ailuminate_reference.clone(),
    };
    let candidates = candidates(&args.model)?;
    if let [(None, model)] = &candidates[..] {
        return run_one(&args, &tasks, model, &config);
    }
    run_candidates(&args, &tasks, &candidates, &config)
}

/// A `--name` value, checked as every name a user gives is.
fn run_name(text: &str) -> std::result::Result<String, String> {
    if assay_rundir::valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("use {}", assay_rundir::NAME_RULE))
    }
}

/// `--model` values: a model, or several named candidates (`NAME=MODEL`).
fn candidates(values: &[String]) -> Result<Vec<(Option<String>, String)>> {
    let parsed: Vec<(Option<String>, String)> = values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((name, model))
                if !name.is_empty() && !name.contains(':') && !name.contains('/') =>
            {
                (Some(name.to_owned()), model.to_owned())
            }
            _ => (None, v.clone()),
        })
        .collect();
    // Every candidate's model is checked before any of them runs: a typo in the last
    // one must not surface after the first has worked for an hour.
    for (name, model) in &parsed {
        let shown = name
            .as_ref()
            .map_or_else(|| model.clone(), |n| format!("{n}={model}"));
        super::model::check_model_name(model)
            .map_err(|m| anyhow::anyhow!("--model `{shown}`: {m}"))?;
    }
    if parsed.len() > 1 {
        for (i, (name, model)) in parsed.iter().enumerate() {
            let Some(name) = name else {
                bail!(
                    "--model `{model}`: name each of several candidates, as --model NAME={model}"
                );
            };
            if !assay_rundir::valid_name(name) {
                bail!(
                    "--model `{name}=...`: a candidate's name is {}",
                    assay_rundir::NAME_RULE
                );
            }
            if parsed[..i].iter().any(|(n, _)| n.as_ref() == Some(name)) {
                bail!("--model: candidate `{name}` is named twice");
            }
        }
    }
    Ok(parsed)
}

/// Several candidates on the same items: each run in its own folder under one
/// directory named by the candidates and tasks (so the same command resumes each where
/// it stopped), then every pair compared item by item.
fn run_candidates(
    args: &EvalArgs,
    tasks: &[Task],
    candidates: &[(Option<String>, String)],
    config: &assay_eval::RunConfig,
) -> Result<ExitCode> {
    let key: Vec<String> = candidates
        .iter()
        .map(|(n, m)| format!("{}={m}", n.as_deref().unwrap_or("")))
        .chain(tasks.iter().map(|t| t.spec.name.clone()))
        .chain([config.selection.clone()])
        .collect();
    let group = args.out.join(format!(
        "candidates-{}",
        &assay_rundir::sha256_hex(key.join("\n").as_bytes())[..12]
    ));
    if matches!(args.format, Format::Csv) {
        bail!(
            "--format csv is for one model; several candidates print tables, or JSON with --format json"
        );
    }
    let table = matches!(args.format, Format::Table);
    let mut finished = Vec::new();
    let mut status = ExitCode::SUCCESS;
    for (name, model_name) in candidates {
        let name = name.as_deref().expect("checked: candidates are named");
        eprintln!("candidate `{name}`: {model_name}");
        let model = args.local.load(model_name, &args.remote)?;
        let mut own = config.clone();
        own.output_dir = group.join(name);
        own.name = config.name.as_ref().map(|n| format!("{n}-{name}"));
        let done = match assay_eval::find_finished(model.as_ref(), tasks, &own) {
            Some(done) => {
                eprintln!(
                    "candidate `{name}`: finished before, in {}",
                    done.dir.display()
                );
                done
            }
            None => {
                let mut bar = crate::progress::Bar::new();
                assay_eval::run(model.as_ref(), tasks, &own, &mut bar)?
            }
        };
        if table {
            println!("## Candidate `{name}` ({model_name})\n");
            println!(
                "{}",
                assay_eval::report::markdown(&done.results, args.show_subtasks)
            );
        }
        if gate_status(&done.results, table) != ExitCode::SUCCESS {
            status = ExitCode::from(1);
        }
        finished.push((name.to_owned(), done.dir));
    }
    let mut comparisons = Vec::new();
    for (i, (name_a, dir_a)) in finished.iter().enumerate() {
        for (name_b, dir_b) in &finished[i + 1..] {
            let a = assay_eval::gate::Baseline::open(dir_a)?;
            let b = assay_eval::gate::Baseline::open(dir_b)?;
            let c = assay_eval::compare::compare(&a, &b)?;
            if table {
                println!("## `{name_b}` − `{name_a}`\n");
                print!("{}", super::compare::table(&c, 5));
                println!();
            }
            comparisons.push(serde_json::json!({"a": name_a, "b": name_b, "comparison": c}));
        }
    }
    let summary = serde_json::json!({
        "candidates": finished.iter().map(|(n, d)| serde_json::json!({"name": n, "run": d.display().to_string()})).collect::<Vec<_>>(),
        "comparisons": comparisons,
    });
    let path = group.join("comparison.json");
    assay_rundir::write_atomic(&path, &serde_json::to_vec_pretty(&summary)?)?;
    if table {
        println!("comparison: {}", path.display());
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        eprintln!("comparison: {}", path.display());
    }
    Ok(status)
}

fn run_one(
    args: &EvalArgs,
    tasks: &[Task],
    model_name: &str,
    config: &assay_eval::RunConfig,
) -> Result<ExitCode> {
    let model = args.local.load(model_name, &args.remote)?;
    let mut bar = crate::progress::Bar::new();
    let finished = assay_eval::run(model.as_ref(), tasks, config, &mut bar)?;
    match args.format {
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(&finished.results)?);
            eprintln!("results: {}", finished.dir.join("results.json").display());
            return Ok(gate_status(&finished.results, false));
        }
        Format::Csv => {
            print!(
                "{}",
                assay_eval::report::csv(&finished.results, args.show_subtasks)
            );
            eprintln!("results: {}", finished.dir.join("results.json").display());
            return Ok(gate_status(&finished.results, false));
        }
        Format::Table => println!(
            "{}",
            assay_eval::report::markdown(&finished.results, args.show_subtasks)
        ),
    }
    println!(
        "model: {} (sha256 {})",
        finished.results.spec.model.name,
        finished.results.spec.model.sha256.as_deref().unwrap_or("-")
    );
    if let Some(u) = &finished.results.run.model_usage {
        let retries: u64 = u.retries.values().sum();
        let cost = u
            .cost_usd
            .map_or(String::new(), |c| format!(", cost ${c:.4}"));
        println!(
            "requests: {} answered, {} from cache, {retries} retries; tokens: {} prompt, {} completion{cost}",
            u.answered, u.cache_hits, u.prompt_tokens, u.completion_tokens,
        );
    }
    println!("results: {}", finished.dir.join("results.json").display());
    Ok(gate_status(&finished.results, true))
}

/// The exit status the gates give (0 without gates): 1 when one failed, 2 when one could
/// not be evaluated (its metric is undefined in this run). Each verdict is printed with
/// its reason, on standard output under the table, or on standard error when standard
/// output carries machine-readable results.
fn gate_status(results: &assay_eval::results::RunResults, to_stdout: bool) -> ExitCode {
    use assay_eval::gate::GateVerdict;
    for g in &results.gates {
        let verdict = match g.verdict {
            GateVerdict::Pass => "pass",
            GateVerdict::Fail => "FAIL",
            GateVerdict::Undefined => "UNDEFINED",
        };
        let line = format!("gate {verdict}: {}: {}", g.gate, g.reason);
        if to_stdout {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    let any = |v: GateVerdict| results.gates.iter().any(|g| g.verdict == v);
    if any(GateVerdict::Undefined) {
        ExitCode::from(2)
    } else if any(GateVerdict::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
