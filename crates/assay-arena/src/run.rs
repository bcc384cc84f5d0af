//! A side-by-side run: answers, judgements, battle log and results in one directory.
//!
//! Every answer and every judgement is appended to `journal.jsonl` and flushed as soon
//! as its call returns, so a run stopped at any point (crash, Ctrl-C) continues where
//! it stopped when the same command runs again: only missing work is asked for
//! (remote models' answers are also in the response cache). `run.json` pins what the
//! directory holds (prompts' hash, contestants, judge, judge prompts' hash); another
//! run is refused there rather than mixed in. `battles.csv` and `results.json` are
//! written (atomically) only when every judgement is in.

use crate::Error;
use crate::judge::{self, Verdict};
use crate::markdown::{self, Style};
use crate::prompts::Prompt;
use crate::stats::{self, JudgeQuality};
use assay_core::{
    ChatMessage, GenerateRequest, LanguageModel, LoglikelihoodRequest, ModelIdentity,
};
use assay_rank::battles::BattleLogWriter;
use assay_rundir::{Journal, Progress, RunDir, sha256_hex};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const FORMAT_VERSION: u32 = 1;

/// One side of the comparison: a model with its sampling settings.
#[derive(Clone)]
pub struct Contestant {
    pub name: String,
    pub model: Arc<dyn LanguageModel>,
    pub temperature: f64,
    /// Sampling seed; prompt i uses `seed + i`, so sampled answers are reproducible
    /// (and cacheable).
    pub seed: u64,
    pub max_tokens: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeMethod {
    /// The judge writes an explanation and a label, parsed from its text.
    Generate,
    /// The labels are scored as continuations of a prefilled verdict.
    Logprobs,
}

#[derive(Clone)]
pub struct Judge {
    pub model: Arc<dyn LanguageModel>,
    pub method: JudgeMethod,
    /// Longest explanation, for the generate method.
    pub max_tokens: usize,
}

/// How the two orders of one comparison become battles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// Arena-Hard: each order is a battle of its own (position effects average out).
    CountBoth,
    /// MT-Bench: a win only when both orders agree and neither is a tie; else a tie.
    AgreeOrTie,
}

#[derive(Clone)]
pub struct Options {
    pub out: PathBuf,
    pub pairwise: bool,
    pub grade: bool,
    pub combine: Combine,
    /// Bootstrap rounds for the ranking's intervals.
    pub rounds: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    pub contestant: String,
    pub prompt_id: String,
    pub text: String,
    pub tokens: usize,
    pub finish_reason: assay_core::FinishReason,
}

/// One pairwise judgement: `first` was shown as A, `second` as B.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Game {
    pub prompt_id: String,
    pub first: String,
    pub second: String,
    /// `None` when the judge's text held no verdict.
    pub verdict: Option<Verdict>,
    /// Label probabilities in [`Verdict::ALL`] order (log-probability method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<f64>>,
    /// The judge's text (generate method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grade {
    pub prompt_id: String,
    pub contestant: String,
    /// The rating (the most likely one with the log-probability method).
    pub grade: Option<f64>,
    /// Σ k·P(k), log-probability method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    Answer(Answer),
    Game(Game),
    Grade(Grade),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ContestantSummary {
    pub name: String,
    pub model: ModelIdentity,
    pub temperature: f64,
    pub seed: u64,
    pub answers: usize,
    pub mean_tokens: f64,
    pub truncated: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<stats::GradeSummary>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RankedModel {
    pub model: String,
    pub rating: f64,
    pub lower: f64,
    pub upper: f64,
    pub rank: usize,
    pub record: assay_rank::bt::Record,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PairwiseSummary {
    pub combine: Combine,
    pub games: usize,
    pub unparsed: usize,
    pub battles: usize,
    pub judge: JudgeQuality,
    /// Bradley-Terry ratings of the battles, or why there are none.
    pub ranking: Result<Vec<RankedModel>, String>,
    pub ranking_method: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PairwiseResults {
    pub schema: u32,
    pub spec: ArenaSpec,
    pub prompts: usize,
    pub contestants: Vec<ContestantSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairwise: Option<PairwiseSummary>,
    /// How much of this run's work was found done in the journal.
    pub resumed: usize,
}

/// What a run directory holds (`run.json`): the prompts' hash, the contestants and the
/// judge. The mode is not part of it: grades can be added to a pairwise run (and the
/// reverse) reusing its answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArenaSpec {
    pub schema: u32,
    pub prompts_sha256: String,
    pub contestants: Vec<ContestantSpec>,
    pub judge: Option<JudgeSpec>,
}

/// A contestant as the spec records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContestantSpec {
    pub name: String,
    pub model: ModelIdentity,
    pub temperature: f64,
    pub seed: u64,
    pub max_tokens: usize,
}

/// The judge as the spec records it; its prompts' hash changes when the templates do.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JudgeSpec {
    pub model: ModelIdentity,
    pub method: JudgeMethod,
    pub max_tokens: usize,
    pub prompts_sha256: String,
}

impl ArenaSpec {
    fn new(prompts: &[Prompt], contestants: &[Contestant], judge: Option<&Judge>) -> Self {
        Self {
            schema: FORMAT_VERSION,
            prompts_sha256: sha256_hex(&serde_json::to_vec(prompts).expect("prompts serialize")),
            contestants: contestants
                .iter()
                .map(|c| ContestantSpec {
                    name: c.name.clone(),
                    model: c.model.identity(),
                    temperature: c.temperature,
                    seed: c.seed,
                    max_tokens: c.max_tokens,
                })
                .collect(),
            judge: judge.map(|j| JudgeSpec {
                model: j.model.identity(),
                method: j.method,
                max_tokens: j.max_tokens,
                prompts_sha256: sha256_hex(
                    format!(
                        "{}\u{0}{}\u{0}{}\u{0}{}",
                        judge::PAIRWISE_TEMPLATE,
                        judge::GRADE_TEMPLATE,
                        judge::PAIRWISE_PREFILL,
                        judge::GRADE_PREFILL
                    )
                    .as_bytes(),
                ),
            }),
        }
    }
}

fn chat(model: &dyn LanguageModel, text: &str) -> String {
    model
        .apply_chat_template(&[ChatMessage::user(text)])
        .unwrap_or_else(|_| text.to_owned())
}

fn model_error(model: &dyn LanguageModel) -> impl FnOnce(assay_core::ModelError) -> Error + '_ {
    move |source| Error::Model {
        model: model.identity().name,
        source,
    }
}

/// The run's finished work, from the journal and from this session, keyed for lookup.
#[derive(Default)]
struct Work {
    /// By (contestant, prompt id).
    answers: HashMap<(String, String), Answer>,
    /// By (prompt id, first, second).
    games: HashMap<(String, String, String), Game>,
    /// By (contestant, prompt id).
    grades: HashMap<(String, String), Grade>,
}

impl Work {
    fn add(&mut self, entry: Entry) {
        match entry {
            Entry::Answer(a) => {
                self.answers
                    .insert((a.contestant.clone(), a.prompt_id.clone()), a);
            }
            Entry::Game(g) => {
                self.games
                    .insert((g.prompt_id.clone(), g.first.clone(), g.second.clone()), g);
            }
            Entry::Grade(g) => {
                self.grades
                    .insert((g.contestant.clone(), g.prompt_id.clone()), g);
            }
        }
    }
}

/// Contestant `c`'s answer to prompt `p`; every one exists once the answers phase is done.
fn answer_of<'a>(answers: &'a HashMap<(String, String), Answer>, c: &str, p: &str) -> &'a Answer {
    &answers[&(c.to_owned(), p.to_owned())]
}

/// Every contestant's answer to every prompt, one batch of calls per contestant.
fn answer_all(
    prompts: &[Prompt],
    contestants: &[Contestant],
    work: &mut Work,
    journal: &mut Journal<Entry>,
    progress: &mut dyn Progress,
) -> Result<(), Error> {
    let answers = &mut work.answers;
    let total = contestants.len() * prompts.len();
    progress.phase("answers", total, answers.len());
    for c in contestants {
        let todo: Vec<(usize, &Prompt)> = prompts
            .iter()
            .enumerate()
            .filter(|(_, p)| !answers.contains_key(&(c.name.clone(), p.id.clone())))
            .collect();
        for chunk in todo.chunks(c.model.samples_per_call(true).max(1)) {
            let requests: Vec<GenerateRequest> = chunk
                .iter()
                .map(|(i, p)| GenerateRequest {
                    context: chat(c.model.as_ref(), &p.prompt),
                    until: vec![],
                    max_tokens: c.max_tokens,
                    temperature: c.temperature,
                    seed: Some(c.seed.wrapping_add(*i as u64)),
                })
                .collect();
            let responses = c
                .model
                .generate(&requests)
                .map_err(model_error(c.model.as_ref()))?;
            let new: Vec<Answer> = chunk
                .iter()
                .zip(responses)
                .map(|((_, p), r)| Answer {
                    contestant: c.name.clone(),
                    prompt_id: p.id.clone(),
                    text: r.text,
                    tokens: r.tokens,
                    finish_reason: r.finish_reason,
                })
                .collect();
            journal.append(&new.iter().cloned().map(Entry::Answer).collect::<Vec<_>>())?;
            progress.advance(new.len());
            for a in new {
                answers.insert((a.contestant.clone(), a.prompt_id.clone()), a);
            }
        }
    }
    Ok(())
}

/// Every pair of contestants on every prompt, judged in both orders.
fn judge_pairs(
    prompts: &[Prompt],
    contestants: &[Contestant],
    judge: &Judge,
    work: &mut Work,
    journal: &mut Journal<Entry>,
    progress: &mut dyn Progress,
) -> Result<(), Error> {
    let (answers, games) = (&work.answers, &mut work.games);
    let answer = |c: &str, p: &str| answer_of(answers, c, p);
    let mut todo = Vec::new();
    for p in prompts {
        for (i, a) in contestants.iter().enumerate() {
            for b in &contestants[i + 1..] {
                for (first, second) in [(&a.name, &b.name), (&b.name, &a.name)] {
                    if !games.contains_key(&(p.id.clone(), first.clone(), second.clone())) {
                        todo.push((p, first.clone(), second.clone()));
                    }
                }
            }
        }
    }
    let pairs = contestants.len() * (contestants.len() - 1) * prompts.len();
    progress.phase("pairwise judgements", pairs, pairs - todo.len());
    let judge_contexts = |(p, first, second): &(&Prompt, String, String)| {
        chat(
            judge.model.as_ref(),
            &judge::pairwise_prompt(
                &p.prompt,
                &answer(first, &p.id).text,
                &answer(second, &p.id).text,
            ),
        )
    };
    let per_call = judge
        .model
        .samples_per_call(judge.method == JudgeMethod::Generate)
        .max(1);
    for chunk in todo.chunks(per_call) {
        let contexts: Vec<String> = chunk.iter().map(judge_contexts).collect();
        let verdicts = ask_pairwise(judge, &contexts)?;
        let new: Vec<Game> = chunk
            .iter()
            .zip(verdicts)
            .map(
                |((p, first, second), (verdict, probabilities, text))| Game {
                    prompt_id: p.id.clone(),
                    first: first.clone(),
                    second: second.clone(),
                    verdict,
                    probabilities,
                    text,
                },
            )
            .collect();
        journal.append(&new.iter().cloned().map(Entry::Game).collect::<Vec<_>>())?;
        progress.advance(new.len());
        for g in new {
            games.insert((g.prompt_id.clone(), g.first.clone(), g.second.clone()), g);
        }
    }
    Ok(())
}

/// Every answer graded on its own (MT-Bench's single-answer grading).
fn grade_all(
    prompts: &[Prompt],
    contestants: &[Contestant],
    judge: &Judge,
    work: &mut Work,
    journal: &mut Journal<Entry>,
    progress: &mut dyn Progress,
) -> Result<(), Error> {
    let (answers, grades) = (&work.answers, &mut work.grades);
    let answer = |c: &str, p: &str| answer_of(answers, c, p);
    let total = contestants.len() * prompts.len();
    let todo: Vec<(&Prompt, &Contestant)> = prompts
        .iter()
        .flat_map(|p| contestants.iter().map(move |c| (p, c)))
        .filter(|(p, c)| !grades.contains_key(&(c.name.clone(), p.id.clone())))
        .collect();
    progress.phase("grades", total, total - todo.len());
    let per_call = judge
        .model
        .samples_per_call(judge.method == JudgeMethod::Generate)
        .max(1);
    for chunk in todo.chunks(per_call) {
        let contexts: Vec<String> = chunk
            .iter()
            .map(|(p, c)| {
                chat(
                    judge.model.as_ref(),
                    &judge::grade_prompt(
                        &p.prompt,
                        &answer(&c.name, &p.id).text,
                        p.reference.as_deref(),
                    ),
                )
            })
            .collect();
        let rated = ask_grades(judge, &contexts)?;
        let new: Vec<Grade> = chunk
            .iter()
            .zip(rated)
            .map(|((p, c), (grade, expected, text))| Grade {
                prompt_id: p.id.clone(),
                contestant: c.name.clone(),
                grade,
                expected,
                text,
            })
            .collect();
        journal.append(&new.iter().cloned().map(Entry::Grade).collect::<Vec<_>>())?;
        progress.advance(new.len());
        for g in new {
            grades.insert((g.contestant.clone(), g.prompt_id.clone()), g);
        }
    }
    Ok(())
}

/// The battle log (CSV): each battle with its prompt, game and both answers' style
/// features (length in tokens, headers, lists, bold), for style-controlled ranking.
fn battle_log(battles: &[stats::Battle], answers: &HashMap<(String, String), Answer>) -> Vec<u8> {
    let answer = |c: &str, p: &str| answer_of(answers, c, p);
    let mut log = BattleLogWriter::new(&[
        "prompt_id",
        "game",
        "length_a",
        "length_b",
        "headers_a",
        "headers_b",
        "lists_a",
        "lists_b",
        "bold_a",
        "bold_b",
    ]);
    let styles: HashMap<(&str, &str), Style> = answers
        .values()
        .map(|a| {
            (
                (a.contestant.as_str(), a.prompt_id.as_str()),
                markdown::style(&a.text),
            )
        })
        .collect();
    for b in battles {
        let (sa, sb) = (
            styles[&(b.model_a.as_str(), b.prompt_id.as_str())],
            styles[&(b.model_b.as_str(), b.prompt_id.as_str())],
        );
        log.push(
            &b.model_a,
            &b.model_b,
            b.winner,
            &[
                b.prompt_id.clone(),
                b.game.to_owned(),
                answer(&b.model_a, &b.prompt_id).tokens.to_string(),
                answer(&b.model_b, &b.prompt_id).tokens.to_string(),
                sa.headers.to_string(),
                sb.headers.to_string(),
                sa.lists.to_string(),
                sb.lists.to_string(),
                sa.bold.to_string(),
                sb.bold.to_string(),
            ],
        );
    }
    log.finish()
}

/// Runs (or continues) a side-by-side run and writes its results.
pub fn run(
    prompts: &[Prompt],
    contestants: &[Contestant],
    judge: Option<&Judge>,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<PairwiseResults, Error> {
    if contestants.len() < 2 && options.pairwise {
        return Err(Error::Invalid(
            "a pairwise run needs at least two contestants".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for c in contestants {
        if c.name.trim().is_empty() || !names.insert(c.name.as_str()) {
            return Err(Error::Invalid(format!(
                "contestant names must be distinct and not empty (`{}`)",
                c.name
            )));
        }
    }
    if (options.pairwise || options.grade) && judge.is_none() {
        return Err(Error::Invalid("judging needs a judge model".into()));
    }
    if let Some(j) = judge
        && j.method == JudgeMethod::Logprobs
        && !j.model.supports_loglikelihood()
    {
        return Err(Error::Invalid(format!(
            "judge `{}` cannot score text, so the log-probability method is unavailable; use the generate method",
            j.model.identity().name
        )));
    }
    let spec = ArenaSpec::new(prompts, contestants, judge);
    let (run_dir, _) = RunDir::open(&options.out, &spec)?;
    let prompts_path = run_dir.join("prompts.jsonl");
    if !prompts_path.exists() {
        let mut text = Vec::new();
        for p in prompts {
            serde_json::to_writer(&mut text, p).expect("prompts serialize");
            text.push(b'\n');
        }
        run_dir.publish("prompts.jsonl", &text)?;
    }
    let (mut journal, entries) = run_dir.journal::<Entry>("journal.jsonl")?;
    let resumed = entries.len();
    let mut work = Work::default();
    for e in entries {
        work.add(e);
    }
    answer_all(prompts, contestants, &mut work, &mut journal, progress)?;
    if let (true, Some(judge)) = (options.pairwise, judge) {
        judge_pairs(
            prompts,
            contestants,
            judge,
            &mut work,
            &mut journal,
            progress,
        )?;
    }
    if let (true, Some(judge)) = (options.grade, judge) {
        grade_all(
            prompts,
            contestants,
            judge,
            &mut work,
            &mut journal,
            progress,
        )?;
    }
    let Work {
        answers,
        games,
        grades,
    } = &work;
    let answer = |c: &str, p: &str| answer_of(answers, c, p);

    // Battles, statistics, results.
    let ordered_games: Vec<&Game> = prompts
        .iter()
        .flat_map(|p| {
            let games = &games;
            contestants.iter().enumerate().flat_map(move |(i, a)| {
                contestants[i + 1..].iter().flat_map(move |b| {
                    [(&a.name, &b.name), (&b.name, &a.name)]
                        .into_iter()
                        .filter_map(move |(f, s)| games.get(&(p.id.clone(), f.clone(), s.clone())))
                })
            })
        })
        .collect();
    let battles = stats::battles(&ordered_games, options.combine);
    let csv_bytes = battle_log(&battles, answers);

    let pairwise = options.pairwise.then(|| {
        let quality = stats::judge_quality(&ordered_games);
        let interval = assay_rank::bt::IntervalMethod::Bootstrap {
            rounds: options.rounds,
            seed: options.seed,
        };
        let (ranking, method) = match stats::rank(&battles, interval) {
            Ok((models, method)) => (Ok(models), method),
            Err(e) => (Err(e), String::new()),
        };
        PairwiseSummary {
            combine: options.combine,
            games: ordered_games.len(),
            unparsed: ordered_games.iter().filter(|g| g.verdict.is_none()).count(),
            battles: battles.len(),
            judge: quality,
            ranking,
            ranking_method: method,
        }
    });
    let contestants_summary = contestants
        .iter()
        .map(|c| {
            let mine: Vec<&Answer> = prompts.iter().map(|p| answer(&c.name, &p.id)).collect();
            let graded: Vec<&Grade> = prompts
                .iter()
                .filter_map(|p| grades.get(&(c.name.clone(), p.id.clone())))
                .collect();
            ContestantSummary {
                name: c.name.clone(),
                model: c.model.identity(),
                temperature: c.temperature,
                seed: c.seed,
                answers: mine.len(),
                mean_tokens: mine.iter().map(|a| a.tokens as f64).sum::<f64>()
                    / mine.len().max(1) as f64,
                truncated: mine
                    .iter()
                    .filter(|a| a.finish_reason == assay_core::FinishReason::Length)
                    .count(),
                grade: options.grade.then(|| stats::grade_summary(&graded)),
            }
        })
        .collect();
    let results = PairwiseResults {
        schema: FORMAT_VERSION,
        spec,
        prompts: prompts.len(),
        contestants: contestants_summary,
        pairwise,
        resumed,
    };
    if options.pairwise {
        run_dir.publish("battles.csv", &csv_bytes)?;
    }
    run_dir.publish(
        "results.json",
        &serde_json::to_vec_pretty(&results).expect("results serialize"),
    )?;
    Ok(results)
}

/// The judge's greedy answers to `contexts` (generate method).
fn judge_texts(judge: &Judge, contexts: &[String]) -> Result<Vec<String>, Error> {
    let model = judge.model.as_ref();
    let requests: Vec<GenerateRequest> = contexts
        .iter()
        .map(|c| GenerateRequest {
            context: c.clone(),
            until: vec![],
            max_tokens: judge.max_tokens,
            temperature: 0.0,
            seed: None,
        })
        .collect();
    let responses = model.generate(&requests).map_err(model_error(model))?;
    Ok(responses.into_iter().map(|r| r.text).collect())
}

/// A finished or unfinished run read back from its directory (for the annotation page).
pub struct Saved {
    pub prompts: Vec<Prompt>,
    /// Contestant names in the order of the run.
    pub contestants: Vec<String>,
    pub answers: Vec<Answer>,
    pub games: Vec<Game>,
}

/// Reads a run directory written by [`run`].
pub fn load(dir: &Path) -> Result<Saved, Error> {
    let run_dir = RunDir::existing(dir)?;
    // Only the contestants' names and order are needed here, so a spec written by an
    // older version (or by hand) reads as long as it has them.
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Contestants {
        contestants: Vec<Named>,
    }
    let spec: Contestants = run_dir.spec()?;
    let contestants = spec.contestants.into_iter().map(|c| c.name).collect();
    let prompts = crate::prompts::read(&run_dir.join("prompts.jsonl"))?;
    let (mut answers, mut games) = (Vec::new(), Vec::new());
    for entry in Journal::<Entry>::read(&run_dir.join("journal.jsonl"))? {
        match entry {
            Entry::Answer(a) => answers.push(a),
            Entry::Game(g) => games.push(g),
            Entry::Grade(_) => {}
        }
    }
    Ok(Saved {
        prompts,
        contestants,
        answers,
        games,
    })
}

type PairwiseAnswer = (Option<Verdict>, Option<Vec<f64>>, Option<String>);

fn ask_pairwise(judge: &Judge, contexts: &[String]) -> Result<Vec<PairwiseAnswer>, Error> {
    let model = judge.model.as_ref();
    match judge.method {
        JudgeMethod::Generate => Ok(judge_texts(judge, contexts)?
            .into_iter()
            .map(|text| (judge::parse_verdict(&text), None, Some(text)))
            .collect()),
        JudgeMethod::Logprobs => {
            let labels = judge::verdict_continuations();
            let probabilities = score_labels(model, contexts, judge::PAIRWISE_PREFILL, &labels)?;
            Ok(probabilities
                .into_iter()
                .map(|p| {
                    let best = argmax(&p);
                    (Some(Verdict::ALL[best]), Some(p), None)
                })
                .collect())
        }
    }
}

type GradeAnswer = (Option<f64>, Option<f64>, Option<String>);

fn ask_grades(judge: &Judge, contexts: &[String]) -> Result<Vec<GradeAnswer>, Error> {
    let model = judge.model.as_ref();
    match judge.method {
        JudgeMethod::Generate => Ok(judge_texts(judge, contexts)?
            .into_iter()
            .map(|text| (judge::parse_grade(&text), None, Some(text)))
            .collect()),
        JudgeMethod::Logprobs => {
            let labels = judge::grade_continuations();
            let probabilities = score_labels(model, contexts, judge::GRADE_PREFILL, &labels)?;
            Ok(probabilities
                .into_iter()
                .map(|p| {
                    let expected = p.iter().enumerate().map(|(k, q)| (k + 1) as f64 * q).sum();
                    (Some((argmax(&p) + 1) as f64), Some(expected), None)
                })
                .collect())
        }
    }
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Label probabilities for each context (prefilled), from one log-likelihood call.
fn score_labels(
    model: &dyn LanguageModel,
    contexts: &[String],
    prefill: &str,
    labels: &[String],
) -> Result<Vec<Vec<f64>>, Error> {
    let requests: Vec<LoglikelihoodRequest> = contexts
        .iter()
        .flat_map(|c| {
            labels.iter().map(move |l| LoglikelihoodRequest {
                context: format!("{c}{prefill}"),
                continuation: l.clone(),
            })
        })
        .collect();
    let responses = model.loglikelihood(&requests).map_err(model_error(model))?;
    Ok(responses
        .chunks(labels.len())
        .map(|r| judge::normalise(&r.iter().map(|x| x.logprob).collect::<Vec<_>>()))
        .collect())
}
