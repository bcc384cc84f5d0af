//! The release decision: candidates go through ordered stages (benchmarks with gates,
//! side-by-side preferences, an A/B test), each of which lets some through and stops the
//! others with a reason; the survivors' best ships.
//!
//! A pipeline file ([`spec`]) names the candidates, the baseline they must beat and the
//! stages. A stage is one module implementing [`stage::Stage`] ([`benchmarks`],
//! [`side_by_side`], [`ab`]), registered by its `kind` in [`stage::KINDS`]: the runner
//! ([`runner`]) knows nothing of any kind. Every stage resumes from its own run
//! directories (evaluations, side-by-side journals), and a finished stage's outcome is
//! kept, so a killed pipeline continues where it stopped. [`agreement`] measures how far
//! the stages order the candidates alike; [`report`] writes the funnel as Markdown and
//! JUnit XML.

pub mod ab;
pub mod agreement;
pub mod benchmarks;
pub mod candidate;
pub mod report;
pub mod runner;
pub mod side_by_side;
pub mod spec;
pub mod stage;

use std::path::PathBuf;
use std::sync::Arc;

/// Why a pipeline could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake in the pipeline file, where it is.
    #[error("{}:{line}:{column}: {message}", path.display())]
    File {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A stage's settings that do not fit what they name (a task, a file, a column).
    #[error("stage `{stage}`: {message}")]
    Stage { stage: String, message: String },
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Run(#[from] assay_rundir::Error),
    /// A stage's work failed (a model, an evaluation); running again resumes it.
    #[error("stage `{stage}`: {source}")]
    Work {
        stage: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub(crate) fn stage(stage: &str, message: impl Into<String>) -> Self {
        Error::Stage {
            stage: stage.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn work(
        stage: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Work {
            stage: stage.to_owned(),
            source: source.into(),
        }
    }
}

/// How the pipeline gets models: the binary loads them (embedded, fetched, or served)
/// and checks their names before any work.
pub trait Models {
    /// Whether `model` names something loadable (`default`, a GGUF file, `openai:NAME`),
    /// without loading it; the message says what is wrong.
    fn check(&self, model: &str) -> Result<(), String>;
    /// Loads (or returns the already loaded) `model`, with `chat_template` (a Jinja
    /// file) instead of its own when given.
    fn load(
        &self,
        model: &str,
        chat_template: Option<&std::path::Path>,
    ) -> Result<Arc<dyn assay_core::LanguageModel>, Box<dyn std::error::Error + Send + Sync>>;

    /// A model that judges answers (`default`, a GGUF file, or a served one where the
    /// binary's grader settings say).
    fn judge(
        &self,
        model: &str,
    ) -> Result<Arc<dyn assay_core::LanguageModel>, Box<dyn std::error::Error + Send + Sync>> {
        self.load(model, None)
    }

    /// The served safety classifier a task's `kind = "remote"` grader names, connected
    /// now; an error says which settings are missing.
    fn remote_grader(
        &self,
        protocol: assay_tasks::spec::RemoteProtocol,
        policy: Option<&str>,
    ) -> Result<Arc<dyn assay_grade::Grader>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Facts of this execution recorded with each evaluation (they do not change numbers).
#[derive(Clone, Debug)]
pub struct Execution {
    pub command: Vec<String>,
    pub threads: usize,
    pub batch_size: usize,
    pub assay_version: String,
    pub git_revision: String,
}
