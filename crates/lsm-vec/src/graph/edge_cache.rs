//! Bounded, sharded cache of decoded layer-0 adjacency lists (internal id -> `Arc<[u32]>`).
//!
//! The LSM stays the source of truth. The writer updates this cache after each commit while it
//! holds the index write lock, so no reader can observe a list older than the committed one
//! after the commit is applied. Eviction is random within a shard (the first entry the hash map
//! yields), which is cheap and adequate for a cache that normally holds the whole working set.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::IdHashBuilder;

pub(crate) type List = Arc<[u32]>;

const SHARDS: usize = 64;

pub(crate) struct EdgeCache {
    shards: Box<[RwLock<HashMap<u32, List, IdHashBuilder>>]>,
    per_shard: usize,
}

impl EdgeCache {
    pub fn new(capacity: usize) -> EdgeCache {
        EdgeCache {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::with_hasher(IdHashBuilder))).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, id: u32) -> &RwLock<HashMap<u32, List, IdHashBuilder>> {
        &self.shards[(id as usize) % SHARDS]
    }

    pub fn get(&self, id: u32) -> Option<List> {
        if self.per_shard == 0 {
            return None;
        }
        self.shard(id).read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    pub fn put(&self, id: u32, list: List) {
        if self.per_shard == 0 {
            return;
        }
        let mut s = self.shard(id).write().unwrap_or_else(|p| p.into_inner());
        if s.len() >= self.per_shard && !s.contains_key(&id) {
            if let Some(&victim) = s.keys().next() {
                s.remove(&victim);
            }
        }
        s.insert(id, list);
    }

    pub fn remove(&self, id: u32) {
        self.shard(id).write().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map(|s| s.len()).unwrap_or(0)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_overwrites() {
        let c = EdgeCache::new(128);
        for i in 0..10_000u32 {
            c.put(i, Arc::from(vec![i]));
        }
        assert!(c.len() <= 128);
        c.put(5, Arc::from(vec![1, 2]));
        assert_eq!(&*c.get(5).unwrap(), &[1, 2]);
        c.remove(5);
        assert!(c.get(5).is_none());
        let off = EdgeCache::new(0);
        off.put(1, Arc::from(vec![1]));
        assert!(off.get(1).is_none());
    }
}
