//! Every environment variable the `assay` binary reads, named once. Where a flag exists
//! the variable is its default and the flag wins; README.md lists them for users. One
//! more belongs to the library that owns its concept: `ASSAY_CACHE_DIR`
//! ([`assay_fetch::CACHE_DIR_VARIABLE`]), where models and the response cache live; and
//! `ASSAY_AB_DATABASE_URL` is named by assay-ab (a pipeline's `ab` stage reads it too).

/// `--data-dir` of `assay eval`: the directory holding benchmark data.
pub(crate) const DATA_DIR: &str = "ASSAY_DATA_DIR";
/// `--cache`: the response cache of remote models.
pub(crate) const RESPONSE_CACHE: &str = "ASSAY_RESPONSE_CACHE";
/// `--registry` of `assay risk`: a BenchRisk checkout used instead of the shipped data.
pub(crate) const BENCHRISK: &str = "ASSAY_BENCHRISK";
/// `--database` of `assay ab analyze --sql`: a PostgreSQL URL (never printed); also the
/// default of a pipeline's `ab` stage reading SQL, so its library owns the name.
pub(crate) const AB_DATABASE_URL: &str = assay_ab::source::DATABASE_URL_VARIABLE;
/// `--threads` of `assay ab analyze`: workers decoding Parquet.
pub(crate) const THREADS: &str = "ASSAY_THREADS";
/// `--base-url` of remote models (the name OpenAI's own clients read).
pub(crate) const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
