//! The LSM records of the index over a [`KvStore`]: keyspaces `adj0`, `upper`, `nodes`, `meta`,
//! decoded and encoded by `codec`. The store itself (fjall, or the simulated store of the
//! power-cut tests) is behind the trait (`crate::storage`).
//!
//! Every mutation of the index is one [`LsmStore::commit`] of one atomic batch, handed at least
//! to the OS, or fsync'd with `sync_writes`.

use std::path::{Path, PathBuf};

use super::codec::{self, NodeRecord};
use crate::error::{Error, Result};
use crate::storage::{Key, KvStore, KvWrite, Space, Storage};

/// One write of a commit. `None` removes the key.
pub(crate) enum StoreWrite {
    Adj0(u32, Option<Vec<u32>>),
    Upper(u32, Option<Vec<Vec<u32>>>),
    Node(u32, Option<NodeRecord>),
    Meta(&'static str, Vec<u8>),
}

impl StoreWrite {
    fn encode(self) -> KvWrite {
        let id = |space, id, value| KvWrite { space, key: Key::Id(codec::key_u32(id)), value };
        match self {
            StoreWrite::Adj0(i, l) => id(Space::Adj0, i, l.map(|l| codec::encode_list(&l))),
            StoreWrite::Upper(i, l) => id(Space::Upper, i, l.map(|l| codec::encode_upper(&l))),
            StoreWrite::Node(i, n) => id(Space::Nodes, i, n.map(|n| codec::encode_node(&n))),
            StoreWrite::Meta(k, v) => KvWrite { space: Space::Meta, key: Key::Name(k), value: Some(v) },
        }
    }
}

pub(crate) struct LsmStore {
    kv: Box<dyn KvStore>,
    dir: PathBuf,
}

impl LsmStore {
    /// Whether `dir` holds a store (so an LSM was created there).
    pub fn exists(storage: &dyn Storage, dir: &Path) -> bool {
        storage.kv_exists(dir)
    }

    /// Removes the store in `dir` (and nothing else), for `reinit`.
    pub fn remove_files(storage: &dyn Storage, dir: &Path) -> Result<()> {
        storage.remove_kv(dir)
    }

    pub fn open(storage: &dyn Storage, dir: &Path, cache_bytes: u64) -> Result<LsmStore> {
        Ok(LsmStore { kv: storage.open_kv(dir, cache_bytes)?, dir: dir.to_path_buf() })
    }

    fn corrupt(&self, what: &str, key: u32) -> Error {
        Error::corruption(&self.dir, Some(key as u64), format!("undecodable {what} record for internal id {key}"))
    }

    pub fn adj0(&self, id: u32) -> Result<Option<Vec<u32>>> {
        let mut list = None;
        if !self.kv.get(Space::Adj0, &codec::key_u32(id), &mut |v| list = Some(codec::decode_list(v)))? {
            return Ok(None);
        }
        list.flatten().map(Some).ok_or_else(|| self.corrupt("adj0", id))
    }

    /// About how many node records there are (cheap; for sizing at open).
    pub fn approx_nodes(&self) -> usize {
        self.kv.approximate_len(Space::Nodes)
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut out = None;
        self.kv.get(Space::Meta, key.as_bytes(), &mut |v| out = Some(v.to_vec()))?;
        Ok(out)
    }

    /// Calls `f` for every node record; `format` is the LSM record format (1 only while
    /// migrating).
    pub fn for_each_node(&self, format: u32, mut f: impl FnMut(u32, NodeRecord) -> Result<()>) -> Result<()> {
        let decode = if format == 1 { codec::decode_node_v1 } else { codec::decode_node };
        self.kv.scan(Space::Nodes, &mut |k, v| {
            let id = codec::decode_key_u32(k).ok_or_else(|| self.corrupt("nodes key", 0))?;
            let n = decode(v).ok_or_else(|| self.corrupt("nodes", id))?;
            f(id, n)
        })
    }

    /// One past the largest internal id that has a node record or a layer-0 list (0 when
    /// there are none): no list may name an id at or above it.
    pub fn id_bound(&self) -> Result<u32> {
        let mut bound = 0u32;
        for (space, what) in [(Space::Nodes, "node key"), (Space::Adj0, "adj0 key")] {
            if let Some(k) = self.kv.last_key(space)? {
                let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt(what, 0))?;
                bound = bound.max(id.saturating_add(1));
            }
        }
        Ok(bound)
    }

    pub fn for_each_adj0(&self, mut f: impl FnMut(u32, Vec<u32>) -> Result<()>) -> Result<()> {
        self.kv.scan(Space::Adj0, &mut |k, v| {
            let id = codec::decode_key_u32(k).ok_or_else(|| self.corrupt("adj0 key", 0))?;
            let list = codec::decode_list(v).ok_or_else(|| self.corrupt("adj0", id))?;
            f(id, list)
        })
    }

    pub fn for_each_upper(&self, mut f: impl FnMut(u32, Vec<Vec<u32>>) -> Result<()>) -> Result<()> {
        self.kv.scan(Space::Upper, &mut |k, v| {
            let id = codec::decode_key_u32(k).ok_or_else(|| self.corrupt("upper key", 0))?;
            let lists = codec::decode_upper(v).ok_or_else(|| self.corrupt("upper", id))?;
            f(id, lists)
        })
    }

    /// Commits all `writes` atomically.
    pub fn commit(&self, writes: Vec<StoreWrite>, sync: bool) -> Result<()> {
        self.kv.commit(&mut writes.into_iter().map(StoreWrite::encode), sync)
    }

    /// Makes every committed batch durable (fsyncs the journal).
    pub fn persist(&self) -> Result<()> {
        self.kv.persist()
    }

    /// Bytes the LSM occupies on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.kv.disk_bytes()
    }
}
