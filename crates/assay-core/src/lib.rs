//! The nouns every other assay crate speaks: [`Sample`], the three request kinds a
//! [`LanguageModel`] answers, and the per-sample [`SampleScore`] a scorer produces.
//!
//! This crate does no IO and knows nothing about candle, HTTP or files: a backend
//! implements [`LanguageModel`], a task turns data rows into [`Sample`]s and requests,
//! and the evaluator glues them.

mod model;
mod request;
mod sample;

pub use model::{LanguageModel, ModelError, ModelIdentity};
pub use request::{
    ChatMessage, FinishReason, GenerateRequest, GenerateResponse, LoglikelihoodRequest,
    LoglikelihoodResponse, RollingRequest, RollingResponse,
};
pub use sample::{Sample, SampleScore, Target};
