//! The fault plan of the simulated storage: which I/O step fails, how, and what the power cut
//! that may follow keeps. Counting is by kind of step across the whole run (every handle, every
//! reopen), so a test that replays the same workload hits the same step; every later choice
//! (whether a failed commit reached the journal, which unsynced writes survive) comes from the
//! plan's seed.

use crate::rng::SplitMix64;

/// The faults a plan can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SimFault {
    /// A read (vector file `pread`, or an LSM get / scan / last-key look-up) fails.
    Read,
    /// A vector file write fails; nothing of it is written.
    Write,
    /// An fsync (of the vector file, or of the LSM) fails.
    Sync,
    /// An LSM batch commit fails; whether the batch reached the journal is decided by the seed.
    Commit,
    /// A vector file write lands only in part (a prefix of its 512-byte sectors), then the power
    /// goes.
    TornWrite,
    /// The power goes just before a write, a commit or an fsync.
    PowerCut,
}

impl SimFault {
    /// Every kind, for tests that cycle through them.
    pub const ALL: [SimFault; 6] =
        [SimFault::Read, SimFault::Write, SimFault::Sync, SimFault::Commit, SimFault::TornWrite, SimFault::PowerCut];
}

/// What of the unsynced data a power cut keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Writeback {
    /// A prefix, in the order issued, of every write and commit of every file: tests the
    /// engine's ordering protocol by itself.
    Ordered,
    /// As an OS page cache writes back: the LSM keeps a prefix of its unsynced batches (its
    /// journal is checksummed and read up to the first damaged batch), the vector file an
    /// arbitrary subset of its unsynced writes, some of them torn.
    Unordered,
}

/// What happened when the planned fault fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultReport {
    /// The fault that fired.
    pub fault: SimFault,
    /// The power went (unsynced data was lost as the writeback mode says); otherwise only the
    /// process died, and everything written survives.
    pub power_cut: bool,
    /// For [`SimFault::Commit`]: the failed batch reached the journal.
    pub commit_applied: bool,
    /// Unsynced LSM batches the power cut kept.
    pub batches_kept: usize,
    /// Unsynced LSM batches the power cut lost.
    pub batches_lost: usize,
    /// Unsynced vector writes the power cut kept whole.
    pub writes_kept: usize,
    /// Unsynced vector writes the power cut lost.
    pub writes_lost: usize,
    /// Unsynced vector writes the power cut kept torn (the torn write of
    /// [`SimFault::TornWrite`] included).
    pub writes_torn: usize,
}

impl FaultReport {
    pub(super) fn new(fault: SimFault) -> FaultReport {
        FaultReport {
            fault,
            power_cut: false,
            commit_applied: false,
            batches_kept: 0,
            batches_lost: 0,
            writes_kept: 0,
            writes_lost: 0,
            writes_torn: 0,
        }
    }
}

/// The I/O steps that are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Read,
    Write,
    Sync,
    Commit,
}

/// An armed fault: it fires at the `skip + 1`-th step of its kind.
pub(super) struct Plan {
    pub fault: SimFault,
    pub writeback: Writeback,
    skip: u64,
    pub rng: SplitMix64,
}

impl Plan {
    pub fn new(fault: SimFault, skip: u64, writeback: Writeback, seed: u64) -> Plan {
        Plan { fault, writeback, skip, rng: SplitMix64::new(seed ^ 0x5EED_FA17) }
    }

    /// Whether steps of kind `op` count for this plan.
    fn counts(&self, op: Op) -> bool {
        matches!(
            (self.fault, op),
            (SimFault::Read, Op::Read)
                | (SimFault::Write | SimFault::TornWrite, Op::Write)
                | (SimFault::Sync, Op::Sync)
                | (SimFault::Commit, Op::Commit)
                | (SimFault::PowerCut, Op::Write | Op::Sync | Op::Commit)
        )
    }

    /// Counts a step of kind `op`; true when it is the one that fails.
    pub fn hit(&mut self, op: Op) -> bool {
        if !self.counts(op) {
            return false;
        }
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.rng.next_u64() & 1 == 1
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.rng.next_u64() as u128 * n as u128) >> 64) as u64
    }
}
