//! Online A/B test analysis for a model launch: per-unit rows (CSV, JSONL, Parquet or a
//! PostgreSQL query) are streamed into per-arm sufficient statistics ([`moments`],
//! [`aggregate`]); each metric of each treatment is compared with control ([`effect`]:
//! Welch, delta method, CUPED, always-valid sequential intervals, Bayesian view); the
//! experiment is checked for sample-ratio mismatch ([`srm`]), goal metrics are corrected
//! for multiplicity ([`correct`]), and a launch decision with reasons comes out
//! ([`analyze`]). [`power`] plans the sample size; [`report`] writes the tables and the
//! HTML page.

pub mod aggregate;
pub mod analyze;
pub mod config;
/// Corrections for many comparisons live in `assay-stats` (the evaluator compares
/// candidates with them too).
pub use assay_stats::correct;
pub mod effect;
pub mod metrics;
pub mod moments;
pub mod poststrat;
pub mod power;
pub mod report;
pub mod segments;
pub mod source;
pub mod srm;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Input(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn io_csv(path: &Path, e: csv::Error) -> Error {
        Error::Input(format!("{}: {e}", path.display()))
    }
}
