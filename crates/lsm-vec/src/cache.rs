//! A bounded cache keyed by dense u32 ids (vector pages, internal node ids) whose hits take no
//! lock and write no shared cache line.
//!
//! Layout: a fixed top-level array of lazily allocated chunks of `ArcSwapOption` slots, so a
//! lookup is two indexations and an `arc-swap` load (thread-local bookkeeping only). Inserts and
//! evictions serialise on a mutex that owns the CLOCK ring of resident ids; a hit sets the
//! entry's reference bit only if it is clear. Removing an id leaves a stale ring entry that the
//! next sweep drops, so removal is O(1).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::{ArcSwapOption, Guard};

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const TOP: usize = 1 << (32 - CHUNK_BITS);

/// A cached value and its CLOCK reference bit.
pub(crate) struct Entry<T> {
    pub value: T,
    referenced: AtomicBool,
}

impl<T> Entry<T> {
    pub fn new(value: T) -> Entry<T> {
        Entry { value, referenced: AtomicBool::new(false) }
    }
}

struct Slot<T> {
    value: ArcSwapOption<Entry<T>>,
    /// Whether `id` has an entry in the ring (only changed under the ring mutex).
    in_ring: AtomicBool,
}

struct Ring {
    ids: Vec<u32>,
    hand: usize,
}

/// A lazily allocated chunk of `CHUNK` slots.
type Chunk<T> = OnceLock<Box<[Slot<T>]>>;

pub(crate) struct ClockCache<T> {
    chunks: Box<[Chunk<T>]>,
    ring: Mutex<Ring>,
    capacity: usize,
}

/// A held cache hit.
pub(crate) type Hit<T> = Guard<Option<Arc<Entry<T>>>>;

impl<T> ClockCache<T> {
    pub fn new(capacity: usize) -> ClockCache<T> {
        ClockCache {
            chunks: (0..TOP).map(|_| OnceLock::new()).collect(),
            ring: Mutex::new(Ring { ids: Vec::new(), hand: 0 }),
            capacity,
        }
    }

    fn slot(&self, id: u32) -> &Slot<T> {
        let chunk = self.chunks[(id >> CHUNK_BITS) as usize].get_or_init(|| {
            (0..CHUNK).map(|_| Slot { value: ArcSwapOption::empty(), in_ring: AtomicBool::new(false) }).collect()
        });
        &chunk[(id as usize) & (CHUNK - 1)]
    }

    fn existing_slot(&self, id: u32) -> Option<&Slot<T>> {
        let chunk = self.chunks[(id >> CHUNK_BITS) as usize].get()?;
        Some(&chunk[(id as usize) & (CHUNK - 1)])
    }

    /// The cached value of `id`, if any (the guard keeps it alive).
    #[inline]
    pub fn get(&self, id: u32) -> Option<Hit<T>> {
        let g = self.existing_slot(id)?.value.load();
        let e = g.as_ref()?;
        if !e.referenced.load(Relaxed) {
            e.referenced.store(true, Relaxed);
        }
        Some(g)
    }

    /// Caches `value` for `id` (replacing any cached value), evicting with CLOCK when full.
    pub fn put(&self, id: u32, value: T) {
        self.put_entry(id, Arc::new(Entry::new(value)));
    }

    /// [`ClockCache::put`] of an entry built by the caller (large values are filled in place).
    pub fn put_entry(&self, id: u32, entry: Arc<Entry<T>>) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let slot = self.slot(id);
        slot.value.store(Some(entry));
        if slot.in_ring.swap(true, Relaxed) {
            return;
        }
        ring.ids.push(id);
        while ring.ids.len() > self.capacity {
            self.evict_one(&mut ring, id);
        }
    }

    fn evict_one(&self, ring: &mut Ring, keep: u32) {
        loop {
            if ring.hand >= ring.ids.len() {
                ring.hand = 0;
            }
            let h = ring.hand;
            let id = ring.ids[h];
            let slot = self.slot(id);
            let cur = slot.value.load();
            match cur.as_ref() {
                None => {
                    // Stale entry of a removed id.
                    slot.in_ring.store(false, Relaxed);
                    ring.ids.swap_remove(h);
                    return;
                }
                Some(e) if id == keep || e.referenced.swap(false, Relaxed) => ring.hand += 1,
                Some(_) => {
                    slot.value.store(None);
                    slot.in_ring.store(false, Relaxed);
                    ring.ids.swap_remove(h);
                    return;
                }
            }
        }
    }

    /// Drops `id` from the cache.
    pub fn remove(&self, id: u32) {
        if let Some(s) = self.existing_slot(id) {
            s.value.store(None);
        }
    }

    /// Resident entries (may briefly count removed ids until the next sweep).
    pub fn len(&self) -> usize {
        self.ring.lock().map(|r| r.ids.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_clock_cache() {
        let c: ClockCache<u32> = ClockCache::new(8);
        for i in 0..1000u32 {
            c.put(i * 7919, i);
            assert!(c.len() <= 8);
            // Keep one entry hot: it must survive.
            assert!(c.get(0).is_some(), "hot entry evicted at {i}");
        }
        assert_eq!(c.get(999 * 7919).unwrap().as_ref().unwrap().value, 999);
        c.remove(0);
        assert!(c.get(0).is_none());
        c.put(5, 1);
        c.put(5, 2);
        // Remove and re-insert many times: the ring must not fill with duplicates.
        for _ in 0..100 {
            c.remove(5);
            c.put(5, 3);
        }
        assert!(c.get(999 * 7919).is_some(), "re-inserting one id evicted others");
        assert_eq!(c.get(5).unwrap().as_ref().unwrap().value, 3);
        let off: ClockCache<u32> = ClockCache::new(0);
        off.put(1, 1);
        assert!(off.get(1).is_none());
    }

    #[test]
    fn ids_across_chunks() {
        let c: ClockCache<u64> = ClockCache::new(100);
        for id in [0u32, 65_535, 65_536, u32::MAX] {
            c.put(id, id as u64);
            assert_eq!(c.get(id).unwrap().as_ref().unwrap().value, id as u64);
        }
    }
}
