//! assay-tasks
