//! Side-by-side preferences turned into rankings: battle logs ([`battles`]), Bradley–Terry
//! ratings with bootstrap or sandwich intervals, online Elo and plain win rates
//! ([`bt`]).

pub mod agreement;
pub mod battles;
pub mod bt;
pub mod style;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Input { location: String, message: String },
    #[error(
        "the battles do not connect every model, so Bradley-Terry ratings are undefined between these groups (within each group, every model has both won or tied and lost against the others; across groups, one side never scored): {}",
        groups.iter().map(|g| format!("{{{g}}}")).collect::<Vec<_>>().join(" | ")
    )]
    NotConnected { groups: Vec<String> },
    #[error("{0}")]
    Invalid(String),
}
