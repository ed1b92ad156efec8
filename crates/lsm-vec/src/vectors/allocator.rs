//! Chooses the slot of each new vector.
//!
//! Basic layout: the lowest free slot, else the end of the file. Paged layout: a free slot on
//! the page of one of the new vector's nearest neighbours (so graph neighbours share pages and a
//! search reads fewer pages); failing that a fresh page while at most a quarter of the slots
//! are free, else the lowest free slot. Slot occupancy is derived from the node table at open,
//! so nothing here is persisted.

use std::collections::BTreeSet;

use super::layout::Layout;
use crate::options::VectorStorageType;

pub(crate) struct SlotAllocator {
    layout: Layout,
    used: Vec<bool>,
    free: BTreeSet<u32>,
    /// Free slots per page group (paged layout only).
    group_free: Vec<u32>,
}

impl SlotAllocator {
    pub fn new(layout: Layout) -> SlotAllocator {
        SlotAllocator { layout, used: Vec::new(), free: BTreeSet::new(), group_free: Vec::new() }
    }

    fn spp(&self) -> u32 {
        match self.layout.storage {
            VectorStorageType::Basic => 1,
            VectorStorageType::Paged => self.layout.slots_per_page as u32,
        }
    }

    /// Extends the slot space so that `slot` exists (whole page groups at a time).
    fn grow_to(&mut self, slot: u32) {
        let spp = self.spp();
        let want = ((slot / spp) + 1) * spp;
        while (self.used.len() as u32) < want {
            let s = self.used.len() as u32;
            self.used.push(false);
            self.free.insert(s);
            let g = (s / spp) as usize;
            if self.group_free.len() <= g {
                self.group_free.push(0);
            }
            self.group_free[g] += 1;
        }
    }

    /// Marks `slot` used (at open, from the node table).
    pub fn mark_used(&mut self, slot: u32) {
        self.grow_to(slot);
        if !self.used[slot as usize] {
            self.used[slot as usize] = true;
            self.free.remove(&slot);
            let g = (slot / self.spp()) as usize;
            self.group_free[g] -= 1;
        }
    }

    pub fn release(&mut self, slot: u32) {
        if (slot as usize) < self.used.len() && self.used[slot as usize] {
            self.used[slot as usize] = false;
            self.free.insert(slot);
            let g = (slot / self.spp()) as usize;
            self.group_free[g] += 1;
        }
    }

    /// Picks and marks a slot; `near` are slots of the new vector's nearest neighbours.
    pub fn allocate(&mut self, near: &[u32]) -> u32 {
        let spp = self.spp();
        if self.layout.storage == VectorStorageType::Paged && spp > 1 {
            for &n in near {
                let g = n / spp;
                if (g as usize) < self.group_free.len() && self.group_free[g as usize] > 0 {
                    let slot = (g * spp..(g + 1) * spp)
                        .find(|&s| !self.used[s as usize])
                        .expect("group_free counts a free slot");
                    self.mark_used(slot);
                    return slot;
                }
            }
            if !near.is_empty() && self.free.len() * 4 <= self.used.len() {
                let slot = self.used.len() as u32;
                self.mark_used(slot);
                return slot;
            }
        }
        let slot = match self.free.first() {
            Some(&s) => s,
            None => self.used.len() as u32,
        };
        self.mark_used(slot);
        slot
    }

    #[cfg(test)]
    pub fn slots_in_use(&self) -> usize {
        self.used.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_reuses_lowest_free_slot() {
        let mut a = SlotAllocator::new(Layout::new(VectorStorageType::Basic, 128));
        for i in 0..5 {
            assert_eq!(a.allocate(&[]), i);
        }
        a.release(1);
        a.release(3);
        assert_eq!(a.allocate(&[]), 1);
        assert_eq!(a.allocate(&[]), 3);
        assert_eq!(a.allocate(&[]), 5);
    }

    #[test]
    fn paged_places_next_to_neighbours_and_bounds_free_space() {
        let l = Layout::new(VectorStorageType::Paged, 128); // 8 per page
        let mut a = SlotAllocator::new(l);
        let s0 = a.allocate(&[]);
        assert_eq!(s0, 0);
        // A neighbour on page 0 with room: same page.
        assert_eq!(a.allocate(&[s0]) / 8, 0);
        for _ in 0..6 {
            a.allocate(&[s0]);
        }
        // Page 0 is full: a fresh page is opened (no free slots elsewhere).
        let s = a.allocate(&[s0]);
        assert_eq!(s, 8);
        // Many fresh pages would waste space: at most a quarter of slots may be free.
        for i in 0..100 {
            a.allocate(&[(i % 9) * 8]);
        }
        assert!(a.free.len() * 4 <= a.used.len() + 4 * 8, "free {} of {}", a.free.len(), a.used.len());
        assert_eq!(a.slots_in_use(), 109);
    }
}
