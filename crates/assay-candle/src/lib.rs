//! The embedded model backend: llama-family GGUF models run in-process on candle.
//!
//! Its public surface is what other crates use: [`EmbeddedModel`], its [`LoadOptions`]
//! and [`WeightFormat`], [`TokenScore`] and the [`GgufTokenizer`] the server reads; the
//! rest is internal.
//!
//! - `gguf` reads the file and its metadata, with errors that name the file.
//! - `tokenizer` rebuilds the tokenizer from the GGUF metadata with `tokenizers`.
//! - `chat` renders the GGUF's chat template with minijinja (Python-compatible methods).
//! - `llama` is the project's own llama forward pass: logits for every position that
//!   asks for them, a KV cache that can be shared by several continuations, and weights
//!   converted once at load (f32 for scoring and prompt processing, Q8_0 for decoding:
//!   candle has no fast Q4_1 kernel).
//! - [`EmbeddedModel`] answers [`assay_core::LanguageModel`] requests with them.

mod chat;
mod decoder;
mod embedded;
mod generation;
mod gguf;
mod int8;
mod sentencepiece;
mod tokenizer;

pub use embedded::{EmbeddedModel, LoadOptions, TokenScore, WeightFormat};
pub use generation::{Generation, GenerationBatch, GenerationEvent, JobId};
pub use tokenizer::GgufTokenizer;

/// Errors of the embedded backend. Each names the file it concerns where there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read model file `{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hash(#[from] assay_rundir::Error),
    #[error("`{path}` is not a valid GGUF file: {message}")]
    InvalidGguf {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("`{path}`: metadata key `{key}` {problem}")]
    Metadata {
        path: std::path::PathBuf,
        key: String,
        problem: String,
    },
    #[error("`{path}`: architecture `{arch}` is not supported (supported: {supported})")]
    UnsupportedArchitecture {
        path: std::path::PathBuf,
        arch: String,
        supported: &'static str,
    },
    #[error("`{path}`: {message}")]
    Unsupported {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    ChatTemplate(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
