//! Shared helpers for the model tests: where the default model is.

use std::path::PathBuf;

/// The default model, from `ASSAY_TEST_MODEL` or the cache that `assay fetch` fills.
pub fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ASSAY_TEST_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("ASSAY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/assay"));
    let path = home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "the default model is missing at {}: run `cargo run -p assay -- fetch` first (scripts/test does)",
        path.display()
    );
    path
}
