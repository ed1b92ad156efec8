//! The state of the simulated storage: files and key-value stores held in memory, each as what
//! is durable plus what was written since its last sync (what a power cut may lose).
//!
//! * A file is its durable image and the list of writes since its last `sync`, in order (the
//!   current contents are the durable image with those writes applied, kept up to date).
//! * A key-value store is its durable contents and the list of batches committed without sync,
//!   in order; a commit with sync, or `persist`, makes everything up to it durable.
//!
//! A power cut rebuilds the durable state from what survives ([`MemFile::cut`],
//! [`MemKv::cut`]); which writes survive is decided by the caller (`sim.rs`, from the fault
//! plan). Every write and batch carries a global order number so that the caller can also keep
//! an exact prefix of everything (ordered writeback).

use std::collections::BTreeMap;

use super::{KvWrite, Space};

/// The unit a torn write tears at.
pub(super) const SECTOR: u64 = 512;

/// One write not yet durable.
pub(super) struct PendingWrite {
    pub order: u64,
    pub off: u64,
    pub data: Vec<u8>,
}

/// What of a pending write survives a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Survives {
    All,
    Nothing,
    /// The first bytes only (a torn write).
    Prefix(usize),
}

#[derive(Default)]
pub(super) struct MemFile {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<PendingWrite>,
}

fn apply(img: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = off as usize;
    if img.len() < off + data.len() {
        img.resize(off + data.len(), 0);
    }
    img[off..off + data.len()].copy_from_slice(data);
}

impl MemFile {
    /// Reads from the current contents; returns how many bytes there were.
    pub fn read(&self, buf: &mut [u8], off: u64) -> usize {
        let start = (off as usize).min(self.current.len());
        let n = (self.current.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&self.current[start..start + n]);
        n
    }

    pub fn write(&mut self, order: u64, off: u64, data: &[u8]) {
        apply(&mut self.current, off, data);
        self.pending.push(PendingWrite { order, off, data: data.to_vec() });
    }

    pub fn len(&self) -> u64 {
        self.current.len() as u64
    }

    pub fn sync(&mut self) {
        for p in self.pending.drain(..) {
            apply(&mut self.durable, p.off, &p.data);
        }
    }

    /// Truncates to nothing, durably.
    pub fn truncate(&mut self) {
        *self = MemFile::default();
    }

    pub fn pending(&self) -> &[PendingWrite] {
        &self.pending
    }

    /// The power cut: the durable image gets the pending writes `keep` lets through, in order;
    /// the rest is gone.
    pub fn cut(&mut self, mut keep: impl FnMut(&PendingWrite) -> Survives) {
        for p in std::mem::take(&mut self.pending) {
            match keep(&p) {
                Survives::All => apply(&mut self.durable, p.off, &p.data),
                Survives::Nothing => {}
                Survives::Prefix(n) => apply(&mut self.durable, p.off, &p.data[..n.min(p.data.len())]),
            }
        }
        self.current = self.durable.clone();
    }
}

type Table = BTreeMap<Vec<u8>, Vec<u8>>;
/// A write of a batch: keyspace, key, value (`None`: removed).
type Write = (Space, Vec<u8>, Option<Vec<u8>>);

/// One batch committed without sync.
pub(super) struct PendingBatch {
    pub order: u64,
    writes: Vec<Write>,
}

#[derive(Default)]
pub(super) struct MemKv {
    durable: [Table; 4],
    current: [Table; 4],
    pending: Vec<PendingBatch>,
}

fn apply_batch(t: &mut [Table; 4], writes: &[Write]) {
    for (space, k, v) in writes {
        let t = &mut t[*space as usize];
        match v {
            Some(v) => t.insert(k.clone(), v.clone()),
            None => t.remove(k),
        };
    }
}

impl MemKv {
    pub fn get(&self, space: Space, key: &[u8]) -> Option<&[u8]> {
        self.current[space as usize].get(key).map(|v| v.as_slice())
    }

    pub fn table(&self, space: Space) -> &Table {
        &self.current[space as usize]
    }

    pub fn commit(&mut self, order: u64, writes: Vec<KvWrite>, sync: bool) {
        let writes: Vec<_> = writes.into_iter().map(|w| (w.space, w.key.as_bytes().to_vec(), w.value)).collect();
        apply_batch(&mut self.current, &writes);
        self.pending.push(PendingBatch { order, writes });
        if sync {
            self.persist();
        }
    }

    pub fn persist(&mut self) {
        for b in self.pending.drain(..) {
            apply_batch(&mut self.durable, &b.writes);
        }
    }

    pub fn pending(&self) -> &[PendingBatch] {
        &self.pending
    }

    /// The power cut: the first `keep` pending batches become durable, the rest are gone (a
    /// checksummed journal is read up to its first damaged batch).
    pub fn cut(&mut self, keep: usize) {
        for b in self.pending.drain(..).take(keep) {
            apply_batch(&mut self.durable, &b.writes);
        }
        self.current = self.durable.clone();
    }

    /// Bytes of keys and values.
    pub fn bytes(&self) -> u64 {
        self.current.iter().flat_map(|t| t.iter()).map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }
}
