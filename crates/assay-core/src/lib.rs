//! The nouns every other assay crate speaks: [`Sample`], the three request kinds a
//! [`LanguageModel`] answers, and the per-sample [`SampleScore`] a scorer produces.
//!
//! This crate does no IO and knows nothing about candle, HTTP or files: a backend
//! implements [`LanguageModel`], a task turns data rows into [`Sample`]s and requests,
//! and the evaluator glues them. [`ApiKey`] and [`redact_url`] keep secrets out of every
//! message, on both ends of the HTTP API.

pub mod input;
mod model;
mod request;
mod sample;
mod secret;

pub use model::{ErrorSource, LanguageModel, ModelError, ModelIdentity, UsageReport};
pub use request::{
    ChatMessage, FinishReason, GenerateRequest, GenerateResponse, LoglikelihoodRequest,
    LoglikelihoodResponse, RollingRequest, RollingResponse,
};
pub use sample::{Sample, SampleScore, Target};
pub use secret::{ApiKey, redact_url, scrub_url};
