//! The OpenAI-compatible API: wire types ([`protocol`], shared with `assay serve`) and a
//! client backend ([`OpenAiModel`]) that evaluates any model an OpenAI-compatible
//! server serves.

mod client;
pub mod graders;
mod limiter;
pub mod protocol;

pub use client::{Capabilities, ClientConfig, ClientError, GenerationApi, OpenAiModel, Price};
