//! assay-eval
