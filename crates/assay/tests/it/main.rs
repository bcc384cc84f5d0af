//! The `assay` binary end to end, in one test binary (as ripgrep's `tests/` and uv's
//! `tests/it/`): a module per command, helpers in `common`, snapshots of every command's
//! help, output and main errors in `outputs`.

mod common;
#[path = "../../../assay-openai/tests/support/fake_server.rs"]
mod fake_server;

mod ab;
mod ab_browser;
mod ab_postgres;
mod annotate_browser;
mod cli;
mod compare;
mod fuzz;
mod heatmap_browser;
mod hostile;
mod outputs;
mod pairwise;
mod pipeline;
mod rank;
mod remote;
mod risk;
mod safety;
mod view_browser;
