//! Injected I/O failures for tests (cargo feature `fault-injection`): the engine asks
//! [`Faults::hit`] before each vector write, each commit (before and after handing the batch to
//! the LSM) and each fsync; an armed fault fails that step once with an I/O error. Without the
//! feature `hit` is an empty inline function.

use crate::error::Result;

/// The I/O steps a test can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The `pwrite` of a new vector, before anything references it.
    VectorWrite,
    /// A commit, before the batch reaches the LSM: the write did not happen.
    CommitBefore,
    /// A commit, after the batch reached the LSM: the write did happen, but the call fails
    /// (as when the journal write succeeded and a later step of it failed).
    CommitAfter,
    /// An fsync of the vector file or the journal.
    Sync,
}

#[derive(Default)]
pub(crate) struct Faults {
    #[cfg(feature = "fault-injection")]
    armed: std::sync::Mutex<Vec<(Fault, u64)>>,
}

impl Faults {
    /// Arms `fault`: the `skip + 1`-th time its step runs from now, it fails (once).
    #[cfg(feature = "fault-injection")]
    pub fn arm(&self, fault: Fault, skip: u64) {
        self.armed.lock().unwrap_or_else(|p| p.into_inner()).push((fault, skip));
    }

    /// Fails if `fault` is armed and its countdown has run out.
    #[inline]
    pub fn hit(&self, _fault: Fault) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        {
            let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = armed.iter().position(|&(f, _)| f == _fault) {
                if armed[i].1 == 0 {
                    armed.remove(i);
                    return Err(crate::error::Error::injected(&format!("{_fault:?}")));
                }
                armed[i].1 -= 1;
            }
        }
        Ok(())
    }
}
