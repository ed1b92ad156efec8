//! [`SimStorage`]: an in-memory [`Storage`] that survives "reopen" within one process and can
//! fail, tear or lose what the engine writes, for the power-cut tests (feature
//! `fault-injection`).
//!
//! A test keeps the `SimStorage`, opens a database over it (`LsmVecDb::open_with_storage`),
//! arms a fault ([`SimStorage::arm`]), runs a workload, and when the fault has fired drops the
//! handle, calls [`SimStorage::restart`] and reopens over the same storage. When the fault fires
//! the machine is *down*: the step fails, and so does every later step of every handle opened
//! before, as if the process had died (an injected error is followed by the process's death,
//! or by a power cut, as the seed decides; a torn write and a power cut are power cuts). After
//! `restart` new handles work; old ones never do again.
//!
//! Durability follows the real backend's promises (`memory.rs` keeps the state): a vector file
//! write is durable after the file's `sync`; an LSM batch after a commit with `sync` or a
//! `persist`; creating a file makes its (empty) directory entry durable; removals and
//! truncations are durable at once.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::faults::{FaultReport, Op, Plan, SimFault, Writeback};
use super::memory::{MemFile, MemKv, Survives, SECTOR};
use super::{KvStore, KvWrite, ScanFn, Space, Storage, VectorIo};
use crate::error::{Error, Result};

/// How many steps of each kind the storage has seen (every handle, every reopen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounts {
    /// Vector file reads and LSM gets, scans and last-key look-ups.
    pub reads: u64,
    /// Vector file writes.
    pub writes: u64,
    /// fsyncs of a vector file or of an LSM.
    pub syncs: u64,
    /// LSM batch commits.
    pub commits: u64,
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, MemFile>,
    kvs: BTreeMap<PathBuf, MemKv>,
    /// Order number of the next write or commit (for ordered writeback).
    order: u64,
    /// Handles opened before the last restart carry an older epoch and fail.
    epoch: u64,
    down: bool,
    plan: Option<Plan>,
    report: Option<FaultReport>,
    counts: IoCounts,
}

/// The simulated storage. See the module documentation.
#[derive(Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStorage").finish_non_exhaustive()
    }
}

fn down_error() -> io::Error {
    io::Error::other("simulated storage is down (the process died or the power went): restart and reopen")
}

fn injected(fault: SimFault) -> io::Error {
    io::Error::other(format!("injected I/O error (simulated {fault:?})"))
}

/// A sector boundary strictly inside the write `[off, off + len)`, as a length of its prefix.
fn tear_point(plan: &mut Plan, off: u64, len: usize) -> Option<usize> {
    let first = (off / SECTOR + 1) * SECTOR;
    let end = off + len as u64;
    if first >= end {
        return None;
    }
    let n = (end - 1 - first) / SECTOR + 1;
    Some((first + plan.below(n) * SECTOR - off) as usize)
}

impl State {
    /// Checks that a handle of `epoch` may do a step of kind `op`, and counts it. `Some` when
    /// the armed fault fires at this step (the plan is taken out).
    fn step(&mut self, epoch: u64, op: Op) -> io::Result<Option<Plan>> {
        if self.down || epoch != self.epoch {
            return Err(down_error());
        }
        match op {
            Op::Read => self.counts.reads += 1,
            Op::Write => self.counts.writes += 1,
            Op::Sync => self.counts.syncs += 1,
            Op::Commit => self.counts.commits += 1,
        }
        let fire = self.plan.as_mut().is_some_and(|p| p.hit(op));
        Ok(if fire { self.plan.take() } else { None })
    }

    fn next_order(&mut self) -> u64 {
        self.order += 1;
        self.order
    }

    /// The machine goes down after `plan`'s fault: the process dies, or the power goes
    /// (`power`), and the report is kept.
    fn go_down(&mut self, mut plan: Plan, mut report: FaultReport, power: bool) {
        if power {
            self.cut(&mut plan, &mut report);
        }
        report.power_cut = power;
        self.down = true;
        self.report = Some(report);
    }

    /// Drops what was not synced, as `plan.writeback` says.
    fn cut(&mut self, plan: &mut Plan, report: &mut FaultReport) {
        match plan.writeback {
            Writeback::Ordered => {
                let mut orders: Vec<u64> = self
                    .files
                    .values()
                    .flat_map(|f| f.pending().iter().map(|p| p.order))
                    .chain(self.kvs.values().flat_map(|k| k.pending().iter().map(|b| b.order)))
                    .collect();
                orders.sort_unstable();
                // A torn write is the last thing that happened: everything before it landed.
                let keep = if plan.fault == SimFault::TornWrite {
                    orders.len()
                } else {
                    plan.below(orders.len() as u64 + 1) as usize
                };
                let limit = orders.get(keep).copied().unwrap_or(u64::MAX);
                for kv in self.kvs.values_mut() {
                    let n = kv.pending().iter().take_while(|b| b.order < limit).count();
                    report.batches_kept += n;
                    report.batches_lost += kv.pending().len() - n;
                    kv.cut(n);
                }
                for f in self.files.values_mut() {
                    f.cut(|p| {
                        if p.order < limit {
                            report.writes_kept += 1;
                            Survives::All
                        } else {
                            report.writes_lost += 1;
                            Survives::Nothing
                        }
                    });
                }
            }
            Writeback::Unordered => {
                for kv in self.kvs.values_mut() {
                    let total = kv.pending().len();
                    let n = plan.below(total as u64 + 1) as usize;
                    report.batches_kept += n;
                    report.batches_lost += total - n;
                    kv.cut(n);
                }
                for f in self.files.values_mut() {
                    f.cut(|p| match plan.below(3) {
                        0 => {
                            report.writes_kept += 1;
                            Survives::All
                        }
                        1 => {
                            report.writes_lost += 1;
                            Survives::Nothing
                        }
                        _ => match tear_point(plan, p.off, p.data.len()) {
                            Some(n) => {
                                report.writes_torn += 1;
                                Survives::Prefix(n)
                            }
                            None => {
                                report.writes_lost += 1;
                                Survives::Nothing
                            }
                        },
                    });
                }
            }
        }
    }

    /// A fault fired at a step that did not happen (a read, a write, an fsync): the step fails
    /// and the process dies, or the power goes, as the seed says.
    fn fail(&mut self, mut plan: Plan) -> io::Error {
        let fault = plan.fault;
        let power = fault == SimFault::PowerCut || plan.coin();
        self.go_down(plan, FaultReport::new(fault), power);
        injected(fault)
    }
}

impl SimStorage {
    /// An empty storage with no fault armed.
    pub fn new() -> Arc<SimStorage> {
        Arc::new(SimStorage::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Arms `fault` at the `skip + 1`-th step of its kind from now (replacing an armed one);
    /// `writeback` says what a power cut keeps, `seed` decides every other choice.
    pub fn arm(&self, fault: SimFault, skip: u64, writeback: Writeback, seed: u64) {
        self.lock().plan = Some(Plan::new(fault, skip, writeback, seed));
    }

    /// Disarms the armed fault, if it has not fired.
    pub fn disarm(&self) {
        self.lock().plan = None;
    }

    /// What happened when the last armed fault fired (`None` while it has not).
    pub fn report(&self) -> Option<FaultReport> {
        self.lock().report.clone()
    }

    /// Whether the machine is down (a fault fired and [`SimStorage::restart`] was not called).
    pub fn is_down(&self) -> bool {
        self.lock().down
    }

    /// Steps counted so far.
    pub fn counts(&self) -> IoCounts {
        self.lock().counts
    }

    /// Cuts the power now: what was not synced is lost as `writeback` says (`seed` decides).
    pub fn cut_power(&self, writeback: Writeback, seed: u64) -> FaultReport {
        let mut st = self.lock();
        let plan = Plan::new(SimFault::PowerCut, 0, writeback, seed);
        st.go_down(plan, FaultReport::new(SimFault::PowerCut), true);
        st.report.clone().expect("just set")
    }

    /// The machine comes back up: handles opened from now work, those opened before never
    /// again. The report of the last fault is cleared.
    pub fn restart(&self) {
        let mut st = self.lock();
        st.down = false;
        st.epoch += 1;
        st.report = None;
    }

    fn up(&self) -> io::Result<(MutexGuard<'_, State>, u64)> {
        let st = self.lock();
        if st.down {
            return Err(down_error());
        }
        let epoch = st.epoch;
        Ok((st, epoch))
    }

    fn file(&self, path: &Path, epoch: u64) -> Box<dyn VectorIo> {
        Box::new(SimFile { state: self.state.clone(), path: path.to_path_buf(), epoch })
    }
}

impl Storage for SimStorage {
    fn open_file(&self, path: &Path, _write: bool) -> io::Result<Box<dyn VectorIo>> {
        let (st, epoch) = self.up()?;
        if !st.files.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(self.file(path, epoch))
    }

    fn create_file(&self, path: &Path, replace: bool) -> io::Result<Box<dyn VectorIo>> {
        let (mut st, epoch) = self.up()?;
        match st.files.get_mut(path) {
            Some(_) if !replace => return Err(io::Error::from(io::ErrorKind::AlreadyExists)),
            Some(f) => f.truncate(),
            None => {
                st.files.insert(path.to_path_buf(), MemFile::default());
            }
        }
        Ok(self.file(path, epoch))
    }

    fn file_exists(&self, path: &Path) -> bool {
        self.up().is_ok_and(|(st, _)| st.files.contains_key(path))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let (mut st, _) = self.up()?;
        st.files.remove(path).map(|_| ()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn kv_exists(&self, dir: &Path) -> bool {
        self.up().is_ok_and(|(st, _)| st.kvs.contains_key(dir))
    }

    fn open_kv(&self, dir: &Path, _cache_bytes: u64) -> Result<Box<dyn KvStore>> {
        let (mut st, epoch) = self.up().map_err(|e| Error::io(format!("open the LSM ({})", dir.display()), e))?;
        st.kvs.entry(dir.to_path_buf()).or_default();
        Ok(Box::new(SimKv { state: self.state.clone(), dir: dir.to_path_buf(), epoch }))
    }

    fn remove_kv(&self, dir: &Path) -> Result<()> {
        let (mut st, _) = self.up().map_err(|e| Error::io(format!("remove the LSM ({})", dir.display()), e))?;
        st.kvs.remove(dir);
        Ok(())
    }
}

/// Locks the shared state; a panic of another thread holding it (a failed test assertion) does
/// not hide the state from the rest of the test.
fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A simulated file, as opened by one handle.
struct SimFile {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    epoch: u64,
}

impl SimFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }
}

fn gone() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl VectorIo for SimFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let mut st = self.lock();
        if let Some(plan) = st.step(self.epoch, Op::Read)? {
            return Err(st.fail(plan));
        }
        st.files.get(&self.path).map(|f| f.read(buf, off)).ok_or_else(gone)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        let mut st = self.lock();
        let fired = st.step(self.epoch, Op::Write)?;
        let order = st.next_order();
        match fired {
            None => {}
            Some(mut plan) if plan.fault == SimFault::TornWrite => {
                // The power goes during this write: the earlier unsynced data fares as the
                // writeback mode says, and a prefix of this write's sectors lands.
                let keep = tear_point(&mut plan, off, buf.len()).unwrap_or(0);
                let mut report = FaultReport::new(SimFault::TornWrite);
                st.cut(&mut plan, &mut report);
                let f = st.files.get_mut(&self.path).ok_or_else(gone)?;
                if keep > 0 {
                    f.write(order, off, &buf[..keep]);
                    f.sync();
                    report.writes_torn += 1;
                } else {
                    report.writes_lost += 1;
                }
                report.power_cut = true;
                st.down = true;
                st.report = Some(report);
                return Err(injected(SimFault::TornWrite));
            }
            Some(plan) => return Err(st.fail(plan)),
        }
        let f = st.files.get_mut(&self.path).ok_or_else(gone)?;
        f.write(order, off, buf);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut st = self.lock();
        if let Some(plan) = st.step(self.epoch, Op::Sync)? {
            return Err(st.fail(plan));
        }
        st.files.get_mut(&self.path).ok_or_else(gone)?.sync();
        Ok(())
    }

    fn len_bytes(&self) -> io::Result<u64> {
        let st = self.lock();
        if st.down || st.epoch != self.epoch {
            return Err(down_error());
        }
        st.files.get(&self.path).map(|f| f.len()).ok_or_else(gone)
    }
}

/// A simulated key-value store, as opened by one handle.
struct SimKv {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
    epoch: u64,
}

impl SimKv {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    fn err(&self, doing: &str, e: io::Error) -> Error {
        Error::io(format!("{doing} ({})", self.dir.display()), e)
    }

    /// Counts a read and fails it if the fault fires; the store, if it is still there.
    fn read_step(&self, st: &mut State, doing: &str) -> Result<()> {
        if let Some(plan) = st.step(self.epoch, Op::Read).map_err(|e| self.err(doing, e))? {
            return Err(self.err(doing, st.fail(plan)));
        }
        if !st.kvs.contains_key(&self.dir) {
            return Err(self.err(doing, gone()));
        }
        Ok(())
    }
}

impl KvStore for SimKv {
    fn get(&self, space: Space, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let value = {
            let mut st = self.lock();
            self.read_step(&mut st, "read the LSM")?;
            st.kvs[&self.dir].get(space, key).map(|v| v.to_vec())
        };
        match value {
            Some(v) => {
                f(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(&self, space: Space, f: &mut ScanFn<'_>) -> Result<()> {
        // Copied out, so that `f` runs without the lock.
        let entries: Vec<(Vec<u8>, Vec<u8>)> = {
            let mut st = self.lock();
            self.read_step(&mut st, "scan the LSM")?;
            st.kvs[&self.dir].table(space).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (k, v) in &entries {
            f(k, v)?;
        }
        Ok(())
    }

    fn last_key(&self, space: Space) -> Result<Option<Vec<u8>>> {
        let mut st = self.lock();
        self.read_step(&mut st, "read the last key")?;
        Ok(st.kvs[&self.dir].table(space).keys().next_back().cloned())
    }

    fn commit(&self, writes: &mut dyn Iterator<Item = KvWrite>, sync: bool) -> Result<()> {
        let writes: Vec<KvWrite> = writes.collect();
        let doing = "commit a write batch";
        let mut st = self.lock();
        let fired = st.step(self.epoch, Op::Commit).map_err(|e| self.err(doing, e))?;
        let order = st.next_order();
        if let Some(mut plan) = fired {
            if plan.fault == SimFault::PowerCut {
                return Err(self.err(doing, st.fail(plan)));
            }
            // The commit fails; the batch reached the journal (in the OS, not synced) or not.
            let applied = plan.coin();
            if applied {
                if let Some(kv) = st.kvs.get_mut(&self.dir) {
                    kv.commit(order, writes, false);
                }
            }
            let power = plan.coin();
            let mut report = FaultReport::new(plan.fault);
            report.commit_applied = applied;
            st.go_down(plan, report, power);
            return Err(self.err(doing, injected(SimFault::Commit)));
        }
        let kv = st.kvs.get_mut(&self.dir).ok_or_else(|| self.err(doing, gone()))?;
        kv.commit(order, writes, sync);
        Ok(())
    }

    fn persist(&self) -> Result<()> {
        let doing = "fsync the journal";
        let mut st = self.lock();
        if let Some(plan) = st.step(self.epoch, Op::Sync).map_err(|e| self.err(doing, e))? {
            return Err(self.err(doing, st.fail(plan)));
        }
        st.kvs.get_mut(&self.dir).ok_or_else(|| self.err(doing, gone()))?.persist();
        Ok(())
    }

    fn approximate_len(&self, space: Space) -> usize {
        self.lock().kvs.get(&self.dir).map(|k| k.table(space).len()).unwrap_or(0)
    }

    fn disk_bytes(&self) -> u64 {
        self.lock().kvs.get(&self.dir).map(|k| k.bytes()).unwrap_or(0)
    }
}
