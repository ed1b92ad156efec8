//! The repair of deleted graph nodes, done after the delete returned.
//!
//! `delete` of a graph node only marks its record deleted (one small batch): the caller id is
//! gone at once and searches no longer return the node (the result filter), but the node keeps
//! its lists, slot and code and goes on routing searches, so recall does not drop while it
//! waits. The *repair* is what a delete did before: relink the node's neighbourhood (a beam
//! search around it, rebuilt lists, in-links for its out-neighbours), then remove it (or keep
//! it as a ghost while something still links to it), free its slot and id.
//!
//! Who repairs, and when: a background thread (`lsm-vec-repair`, one per handle) repairs one
//! group of at most [`REPAIR_GROUP`] pending nodes at a time (taking the writer lock for it, so
//! writes interleave) whenever no other write came for [`IDLE_WAIT`]: the work goes to the gaps
//! between writes instead of delaying them. When the backlog exceeds [`backlog_limit`] (a tenth
//! of the live vectors, at least 1,024: deletes arrive without gaps), each `delete` also repairs
//! one group itself before it returns, so the backlog stays bounded and the cost is paid at the
//! rate deletes come. A crash or close leaves the pending nodes marked in their records; the
//! next open finds them and the thread finishes them.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use super::engine::{lock_mutex, Engine, Op, WriterState};
use crate::error::Result;

/// Pending nodes repaired in one batch.
pub(crate) const REPAIR_GROUP: usize = 8;
/// The smallest backlog limit.
pub(crate) const BACKLOG_MIN: usize = 1024;
/// How long the writer must have been idle before the background thread repairs a group.
const IDLE_WAIT: Duration = Duration::from_millis(20);

/// Beyond this backlog a delete repairs a group before it returns: a tenth of the live
/// vectors, at least [`BACKLOG_MIN`].
pub(crate) fn backlog_limit(live: usize) -> usize {
    (live / 10).max(BACKLOG_MIN)
}

/// The repairer thread's handle and its wake-up signal.
#[derive(Default)]
pub(crate) struct Repairer {
    /// `true` once the handle closes.
    stop: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Engine {
    /// Repairs up to `max` pending nodes (oldest first) in one batch; returns how many.
    pub(super) fn repair_some(&self, w: &mut WriterState, max: usize) -> Result<usize> {
        let ids: Vec<u32> = {
            let st = self.read_state();
            st.doomed.iter().copied().filter(|&id| st.is_doomed(id)).take(max).collect()
        };
        if ids.is_empty() {
            // Only stale entries (nodes repaired by an update, say): drop them.
            self.write_state().doomed.clear();
            return Ok(0);
        }
        self.mutate_locked(w, Op::Repair, ids.len(), |txn, _w, visited| {
            for &id in &ids {
                self.plan_remove(txn, id, false, visited)?;
            }
            Ok(())
        })?;
        // Committed: the records are gone (or ghosts). They were the oldest pending entries, so
        // they (and any stale entry before them) leave from the front: no scan of the backlog.
        let mut st = self.write_state();
        while st.doomed.front().is_some_and(|&id| !st.is_doomed(id)) {
            st.doomed.pop_front();
        }
        Ok(ids.len())
    }

    /// Repairs the whole backlog now, one group per batch.
    pub(super) fn finish_repairs(&self) -> Result<()> {
        loop {
            let mut w = self.lock_writer();
            if self.repair_some(&mut w, REPAIR_GROUP)? == 0 {
                return Ok(());
            }
        }
    }

    /// Called by `delete` after its commit: repairs a group inline when the backlog is over
    /// its limit.
    pub(super) fn after_delete(&self) {
        let over = {
            let st = self.read_state();
            st.doomed.len() >= backlog_limit(st.live)
        };
        if over {
            let mut w = self.lock_writer();
            if let Err(e) = self.repair_some(&mut w, REPAIR_GROUP) {
                self.log(&format!("repair of deleted nodes failed: {e}"));
            }
        }
    }

    /// Starts the repairer thread of this handle (it holds only a weak reference, and exits
    /// when the handle closes or is dropped).
    pub(crate) fn start_repairer(self: &Arc<Engine>) -> Result<()> {
        let weak: Weak<Engine> = Arc::downgrade(self);
        let h = std::thread::Builder::new()
            .name("lsm-vec-repair".into())
            .spawn(move || repair_loop(weak))
            .map_err(|e| crate::error::Error::io("starting the repair thread", e))?;
        *lock_mutex(&self.repairer.thread) = Some(h);
        Ok(())
    }

    /// How long ago the last write other than a repair committed.
    fn idle_for(&self) -> Duration {
        let last = self.last_write_ms.load(std::sync::atomic::Ordering::Relaxed);
        Duration::from_millis(self.clock_ms().saturating_sub(last))
    }

    /// Milliseconds since the handle opened.
    pub(super) fn clock_ms(&self) -> u64 {
        self.opened_at.elapsed().as_millis() as u64
    }

    /// Stops the repairer thread and waits for it (the group it is repairing is finished).
    pub(super) fn stop_repairer(&self) {
        *lock_mutex(&self.repairer.stop) = true;
        self.repairer.wake.notify_all();
        let h = lock_mutex(&self.repairer.thread).take();
        if let Some(h) = h {
            if h.thread().id() != std::thread::current().id() {
                // A panic in the repairer lost no data (the marks stay in the LSM and the next
                // open queues them again), but it must not go unnoticed.
                if let Err(p) = h.join() {
                    self.log(&crate::error::Error::panicked("the background repair thread", p.as_ref()).to_string());
                }
            }
        }
    }
}

fn repair_loop(weak: Weak<Engine>) {
    loop {
        // Wait until there is a backlog and the writer has been idle for IDLE_WAIT.
        {
            let Some(e) = weak.upgrade() else { return };
            let stop = lock_mutex(&e.repairer.stop);
            if *stop {
                return;
            }
            let (stop, _) = e.repairer.wake.wait_timeout(stop, IDLE_WAIT).unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            drop(stop);
            if e.read_state().doomed.is_empty() || e.idle_for() < IDLE_WAIT {
                continue;
            }
        }
        let Some(e) = weak.upgrade() else { return };
        if e.poisoned.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut w = e.lock_writer();
        if *lock_mutex(&e.repairer.stop) {
            return;
        }
        if let Err(err) = e.repair_some(&mut w, REPAIR_GROUP) {
            e.log(&format!("repair of deleted nodes failed: {err}"));
            drop(w);
            // Not busy-looping on a persistent failure (a poisoned handle stops above).
            std::thread::sleep(IDLE_WAIT);
        }
    }
}
