//! Bounded cache of decoded layer-0 adjacency lists (internal id -> list), in front of the LSM.
//!
//! The LSM stays the source of truth. The writer updates this cache after each commit while it
//! holds the index write lock, so no reader can observe a list older than the committed one
//! after the commit is applied.

use crate::cache::{ClockCache, Hit};

pub(crate) struct EdgeCache {
    inner: ClockCache<Box<[u32]>>,
}

impl EdgeCache {
    pub fn new(capacity: usize) -> EdgeCache {
        EdgeCache { inner: ClockCache::new(capacity) }
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<Hit<Box<[u32]>>> {
        self.inner.get(id)
    }

    pub fn put(&self, id: u32, list: Box<[u32]>) {
        self.inner.put(id, list);
    }

    pub fn remove(&self, id: u32) {
        self.inner.remove(id);
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }
}
