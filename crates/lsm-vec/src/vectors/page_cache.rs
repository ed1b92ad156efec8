//! A bounded, sharded page cache with CLOCK replacement.
//!
//! Pages are immutable `Arc<[f32]>` of `PAGE_FLOATS` values; a hit clones the `Arc` under a
//! shard read lock and sets the entry's reference bit. The writer never mutates a cached page:
//! after a commit it invalidates the pages it wrote (see `db::engine`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use crate::graph::IdHashBuilder;

pub(crate) type Page = Arc<[f32]>;

struct Entry {
    page: u64,
    data: Page,
    referenced: AtomicBool,
}

struct Shard {
    map: HashMap<u64, usize, IdHashBuilder>,
    entries: Vec<Entry>,
    hand: usize,
    capacity: usize,
}

pub(crate) struct PageCache {
    shards: Box<[RwLock<Shard>]>,
}

impl PageCache {
    pub fn new(capacity_pages: usize) -> PageCache {
        let n = (capacity_pages / 64).clamp(1, 16);
        let shards = (0..n)
            .map(|i| {
                let capacity = capacity_pages / n + usize::from(i < capacity_pages % n);
                RwLock::new(Shard {
                    map: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), IdHashBuilder),
                    entries: Vec::with_capacity(capacity.min(1 << 16)),
                    hand: 0,
                    capacity,
                })
            })
            .collect();
        PageCache { shards }
    }

    fn shard(&self, page: u64) -> &RwLock<Shard> {
        let h = page.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        &self.shards[(h as usize) % self.shards.len()]
    }

    pub fn get(&self, page: u64) -> Option<Page> {
        let s = self.shard(page).read().unwrap_or_else(|p| p.into_inner());
        let &i = s.map.get(&page)?;
        let e = &s.entries[i];
        if !e.referenced.load(Relaxed) {
            e.referenced.store(true, Relaxed);
        }
        Some(e.data.clone())
    }

    pub fn insert(&self, page: u64, data: Page) {
        let mut s = self.shard(page).write().unwrap_or_else(|p| p.into_inner());
        if s.capacity == 0 || s.map.contains_key(&page) {
            return;
        }
        if s.entries.len() < s.capacity {
            let i = s.entries.len();
            s.entries.push(Entry { page, data, referenced: AtomicBool::new(false) });
            s.map.insert(page, i);
            return;
        }
        // CLOCK: sweep, clearing reference bits, until an unreferenced entry is found.
        loop {
            let h = s.hand;
            s.hand = (h + 1) % s.entries.len();
            if s.entries[h].referenced.swap(false, Relaxed) {
                continue;
            }
            let old = s.entries[h].page;
            s.map.remove(&old);
            s.entries[h] = Entry { page, data, referenced: AtomicBool::new(false) };
            s.map.insert(page, h);
            return;
        }
    }

    pub fn invalidate(&self, page: u64) {
        let mut s = self.shard(page).write().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = s.map.remove(&page) {
            s.entries.swap_remove(i);
            if i < s.entries.len() {
                let moved = s.entries[i].page;
                s.map.insert(moved, i);
            }
            if s.hand >= s.entries.len() {
                s.hand = 0;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map(|s| s.entries.len()).unwrap_or(0)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(v: f32) -> Page {
        Arc::from(vec![v; 4])
    }

    #[test]
    fn capacity_is_a_hard_bound_and_clock_keeps_hot_pages() {
        let c = PageCache::new(8);
        for p in 0..100u64 {
            c.insert(p, page(p as f32));
            assert!(c.len() <= 8, "{} pages cached", c.len());
        }
        assert!(c.get(99).is_some());
    }

    #[test]
    fn invalidate_removes() {
        let c = PageCache::new(4);
        c.insert(1, page(1.0));
        c.insert(2, page(2.0));
        c.invalidate(1);
        assert!(c.get(1).is_none());
        assert_eq!(c.get(2).unwrap()[0], 2.0);
    }
}
