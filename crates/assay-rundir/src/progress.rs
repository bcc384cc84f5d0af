//! The progress interface: a run reports phases and finished units; the caller decides
//! how (and whether) to show them.

/// Progress callbacks of a run.
pub trait Progress {
    /// A phase starts (a task, "answers", "pairwise judgements"): `total` units, of which
    /// `done` were found finished in the journal.
    fn phase(&mut self, _name: &str, _total: usize, _done: usize) {}
    /// `n` more units of the current phase are finished.
    fn advance(&mut self, _n: usize) {}
    /// The current phase is over.
    fn finish(&mut self) {}
}

/// Shows nothing.
pub struct Quiet;
impl Progress for Quiet {}
