//! Side-by-side evaluation: every contestant answers a prompt set ([`run`]), an LLM
//! judge compares answers pairwise in both orders and/or grades each answer on a 1-10
//! rubric ([`judge`]), and the verdicts become an arena-style battle log that
//! `assay-rank` turns into ratings. Judge quality (position bias, agreement between
//! the two orders) is measured ([`stats`]).

pub mod judge;
pub mod markdown;
pub mod prompts;
pub mod report;
pub mod run;
pub mod stats;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read or write `{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Input { location: String, message: String },
    #[error("model `{model}`: {source}")]
    Model {
        model: String,
        source: assay_core::ModelError,
    },
    #[error(transparent)]
    Run(#[from] assay_rundir::Error),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
