//! The pipeline file (TOML). Read strictly: an unknown key or a wrong type is an error
//! with the file, line and column; so is a baseline or stage naming nothing, a name
//! given twice, and a pipeline without candidates or stages.
//!
//! ```toml
//! baseline = "current"          # the candidate every other must beat
//! data_dir = "../data"          # benchmark data (relative to this file)
//!
//! [[candidate]]
//! name = "current"
//! model = "default"
//!
//! [[candidate]]
//! name = "brief"
//! model = "default"
//! system_prompt = "Answer in one sentence."
//!
//! [[stage]]
//! kind = "benchmarks"
//! name = "offline"
//! tasks = ["arc_easy"]
//! ```
//!
//! Stages run in the order written; each kind's keys are documented in its module.

use crate::candidate::Candidate;
use crate::stage::{KINDS, Stage};
use crate::{Error, Models};
use assay_core::LanguageModel;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub struct Pipeline {
    /// The file it was read from.
    pub path: PathBuf,
    pub baseline: String,
    pub data_dir: Option<PathBuf>,
    pub candidates: Vec<Candidate>,
    pub stages: Vec<Box<dyn Stage>>,
    /// (line, column) of each candidate's and stage's table, for later messages.
    candidate_at: Vec<(usize, usize)>,
    stage_at: Vec<(usize, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    baseline: Spanned<String>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default, rename = "candidate")]
    candidates: Vec<Spanned<Candidate>>,
    /// Read on its own, stage by stage, so each kind's errors keep their position.
    #[serde(default, rename = "stage")]
    _stages: Option<serde::de::IgnoredAny>,
}

/// Candidate and stage names become folder names and test-case names.
use assay_rundir::{NAME_RULE, valid_name};

impl Pipeline {
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a pipeline file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let at = |offset: usize, message: String| {
            let (line, column) = assay_core::input::line_column(text, offset);
            Error::File {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let toml_error =
            |e: toml::de::Error| at(e.span().map_or(0, |s| s.start), e.message().to_owned());
        let head: Head = toml::from_str(text).map_err(toml_error)?;

        let mut candidates: Vec<Candidate> = Vec::new();
        for spanned in &head.candidates {
            let c = spanned.get_ref();
            let start = spanned.span().start;
            if !valid_name(&c.name) {
                return Err(at(
                    start,
                    format!("candidate name `{}`: use {NAME_RULE}", c.name),
                ));
            }
            if candidates.iter().any(|o| o.name == c.name) {
                return Err(at(start, format!("candidate `{}` is named twice", c.name)));
            }
            if c.model.trim().is_empty() {
                return Err(at(start, format!("candidate `{}` names no model", c.name)));
            }
            if let Some(t) = c.temperature
                && !(0.0..=2.0).contains(&t)
            {
                return Err(at(
                    start,
                    format!("candidate `{}`: temperature {t} is outside 0 to 2", c.name),
                ));
            }
            if c.max_tokens == Some(0) {
                return Err(at(
                    start,
                    format!("candidate `{}`: max_tokens must be at least 1", c.name),
                ));
            }
            let mut c = c.clone();
            let dir = path.parent().unwrap_or(Path::new(""));
            c.chat_template = c.chat_template.map(|t| crate::stage::resolve(dir, &t));
            candidates.push(c);
        }
        let baseline = head.baseline.get_ref().clone();
        if !candidates.iter().any(|c| c.name == baseline) {
            return Err(at(
                head.baseline.span().start,
                format!(
                    "baseline `{baseline}` is not a candidate (candidates: {})",
                    names(&candidates)
                ),
            ));
        }
        if candidates.len() < 2 {
            return Err(at(
                0,
                "a pipeline needs the baseline and at least one other `[[candidate]]`".into(),
            ));
        }

        let doc = DeTable::parse(text).map_err(toml_error)?;
        let mut stages: Vec<Box<dyn Stage>> = Vec::new();
        let mut starts = Vec::new();
        if let Some(list) = doc.get_ref().get("stage") {
            let DeValue::Array(items) = list.get_ref() else {
                return Err(at(
                    list.span().start,
                    "`stage` must be an array of tables (`[[stage]]`)".into(),
                ));
            };
            for item in items.iter() {
                let start = item.span().start;
                let DeValue::Table(table) = item.get_ref() else {
                    return Err(at(start, "a stage must be a table (`[[stage]]`)".into()));
                };
                let Some(kind) = table.get("kind") else {
                    return Err(at(
                        start,
                        format!(
                            "a stage needs a `kind` ({})",
                            KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                let DeValue::String(kind_name) = kind.get_ref() else {
                    return Err(at(kind.span().start, "`kind` must be a string".into()));
                };
                let Some((_, build)) = KINDS.iter().find(|(k, _)| k == kind_name) else {
                    return Err(at(
                        kind.span().start,
                        format!(
                            "unknown stage kind `{kind_name}` (kinds: {})",
                            KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                let stage = build(item.clone()).map_err(toml_error)?;
                if !valid_name(stage.name()) {
                    return Err(at(
                        start,
                        format!("stage name `{}`: use {NAME_RULE}", stage.name()),
                    ));
                }
                if stages.iter().any(|s| s.name() == stage.name()) {
                    return Err(at(
                        start,
                        format!("stage `{}` is named twice", stage.name()),
                    ));
                }
                starts.push(start);
                stages.push(stage);
            }
        }
        if stages.is_empty() {
            return Err(at(
                text.len(),
                "no stages: add `[[stage]]` tables (kinds: benchmarks, side_by_side, ab)".into(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("")).to_owned();
        Ok(Pipeline {
            path: path.to_owned(),
            baseline,
            data_dir: head.data_dir.map(|d| crate::stage::resolve(&dir, &d)),
            candidates,
            stages,
            candidate_at: head
                .candidates
                .iter()
                .map(|c| assay_core::input::line_column(text, c.span().start))
                .collect(),
            stage_at: starts
                .iter()
                .map(|&s| assay_core::input::line_column(text, s))
                .collect(),
        })
    }

    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    pub fn baseline(&self) -> &Candidate {
        self.candidates
            .iter()
            .find(|c| c.name == self.baseline)
            .expect("checked at parse: the baseline is a candidate")
    }

    /// Checks everything that can be checked before any model works: every
    /// candidate's model, then each stage's files, tasks and settings.
    pub fn check(&mut self, models: &dyn Models) -> Result<(), Error> {
        let at = |(line, column): (usize, usize), message: String| Error::File {
            path: self.path.clone(),
            line,
            column,
            message,
        };
        for (c, &pos) in self.candidates.iter().zip(&self.candidate_at) {
            models
                .check(&c.model)
                .map_err(|m| at(pos, format!("candidate `{}`: {m}", c.name)))?;
            if let Some(t) = &c.chat_template
                && !t.is_file()
            {
                return Err(at(
                    pos,
                    format!(
                        "candidate `{}`: chat template `{}` does not exist",
                        c.name,
                        t.display()
                    ),
                ));
            }
        }
        // A system prompt only reaches a model through a chat template assay applies.
        for (c, &pos) in self.candidates.iter().zip(&self.candidate_at) {
            if c.system_prompt.is_none() {
                continue;
            }
            let model = c
                .load(models)
                .map_err(|e| at(pos, format!("candidate `{}`: {e}", c.name)))?;
            if model.chats_natively() {
                return Err(at(
                    pos,
                    format!(
                        "candidate `{}` has a system prompt, but `{}` is served through a chat API that formats conversations itself, so assay cannot put the system prompt first; use a completions API (--api completions) or drop the system prompt",
                        c.name, c.model
                    ),
                ));
            }
            if let Some(why) = assay_eval::chat_problem(&model) {
                return Err(at(
                    pos,
                    format!(
                        "candidate `{}` has a system prompt, but its model cannot format a conversation: {why}; give it a `chat_template` file",
                        c.name
                    ),
                ));
            }
        }
        let dir = self.dir().to_owned();
        let baseline = self.baseline().clone();
        let setup = crate::stage::Setup {
            dir: &dir,
            data_dir: self.data_dir.as_deref(),
            candidates: &self.candidates,
            baseline: &baseline,
            models,
        };
        for (stage, &pos) in self.stages.iter_mut().zip(&self.stage_at) {
            stage.check(&setup).map_err(|e| match e {
                Error::Stage { stage, message } => at(pos, format!("stage `{stage}`: {message}")),
                other => other,
            })?;
        }
        Ok(())
    }

    /// Everything that decides the pipeline's numbers: a run directory holds the run of
    /// one such identity.
    pub fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "schema": 1,
            "baseline": self.baseline,
            "candidates": self.candidates,
            "stages": self.stages.iter().map(|s| serde_json::json!({
                "kind": s.kind(),
                "name": s.name(),
                "settings": s.settings(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The candidates' names for a message: the first 20, then how many more (a file with
/// 2,000 candidates must not give a 2,000-name error).
pub(crate) fn names(candidates: &[Candidate]) -> String {
    const SHOWN: usize = 20;
    let mut text = candidates
        .iter()
        .take(SHOWN)
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if candidates.len() > SHOWN {
        text.push_str(&format!(" and {} more", candidates.len() - SHOWN));
    }
    text
}
