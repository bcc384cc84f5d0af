//! What every kind of run does with files, in one place: a run directory that holds one
//! run ([`RunDir`]), an append-only journal that survives a crash ([`Journal`]), atomic
//! publishing ([`write_atomic`]), SHA-256 ([`sha256_hex`], [`sha256_file`],
//! [`HashingWriter`]) and the progress interface runs report to ([`Progress`]).
//!
//! `assay eval` and `assay pairwise` are built on it, and so is every later kind of run:
//! a run killed at any point resumes from its journal, and a reader never sees half a
//! file.

#![forbid(unsafe_code)]

mod atomic;
mod dir;
mod hash;
mod journal;
mod progress;

pub use atomic::{write_all_atomic, write_atomic};
pub use dir::{Opened, RunDir};
pub use hash::{HashingWriter, sha256, sha256_file, sha256_hex};
pub use journal::Journal;
pub use progress::{Progress, Quiet};

use std::path::PathBuf;

/// What a name users give (a run, a candidate, a stage) may be, as messages say it: it
/// names folders and test cases, so it must be safe in both.
pub const NAME_RULE: &str = "1 to 64 letters, digits, `-` and `_`";

/// Whether `name` follows [`NAME_RULE`].
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{dir}` holds a different run ({differs} differ); choose another output directory, or remove it to start over"
    )]
    Conflict { dir: PathBuf, differs: String },
    #[error("`{path}` is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
    #[error(
        "`{dir}` is in use by another assay run; wait for it to finish, or choose another output directory"
    )]
    Busy { dir: PathBuf },
}

pub(crate) fn io_error<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
