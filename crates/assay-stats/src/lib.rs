//! assay-stats
