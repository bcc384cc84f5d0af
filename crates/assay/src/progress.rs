//! The terminal progress bar every kind of run reports to.

use indicatif::{ProgressBar, ProgressStyle};

/// One bar per phase of a run (a task, answers, judgements), on standard error.
pub(crate) struct Bar(ProgressBar);

impl Bar {
    pub(crate) fn new() -> Self {
        Self(ProgressBar::hidden())
    }

    /// Removes the last bar from the terminal.
    pub(crate) fn clear(&self) {
        self.0.finish_and_clear();
    }
}

impl assay_rundir::Progress for Bar {
    fn phase(&mut self, name: &str, total: usize, done: usize) {
        self.0.finish();
        self.0 = ProgressBar::new(total as u64).with_position(done as u64);
        self.0.set_style(
            ProgressStyle::with_template("{prefix:>20} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.0.set_prefix(name.to_owned());
        self.0.reset_eta();
    }

    fn advance(&mut self, n: usize) {
        self.0.inc(n as u64);
    }

    fn finish(&mut self) {
        self.0.finish();
    }
}
