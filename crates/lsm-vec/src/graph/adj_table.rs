//! The layer-0 lists of internal ids below a capacity, in one dense fixed-degree table: row `id`
//! holds the list length and up to `max_degree0` ids. A search reads a list with one
//! indexation, no lock, no reference count and no decoding; the LSM stays the source of truth
//! (the table is filled by the scan at open and written through by every commit, under the
//! index write lock). Ids at or above the capacity (set by the memory budget) use the edge
//! cache and the LSM instead. A list longer than a row (never made by the algorithm, but
//! possible in a damaged or foreign database) is kept in a side map.

use std::collections::HashMap;

use super::IdHashBuilder;

const ABSENT: u32 = u32::MAX;

pub(crate) struct AdjTable {
    stride: usize,
    capacity: usize,
    data: Vec<u32>,
    overflow: HashMap<u32, Vec<u32>, IdHashBuilder>,
}

impl AdjTable {
    /// A table for lists of up to `max_degree` ids, for internal ids below `capacity`.
    pub fn new(max_degree: usize, capacity: usize) -> AdjTable {
        AdjTable { stride: max_degree + 1, capacity, data: Vec::new(), overflow: HashMap::with_hasher(IdHashBuilder) }
    }

    /// Whether `id`'s list lives here (else in the edge cache / LSM).
    #[inline]
    pub fn covers(&self, id: u32) -> bool {
        (id as usize) < self.capacity
    }

    /// The list of a covered id; `None` if it has none.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&[u32]> {
        let i = id as usize * self.stride;
        let n = *self.data.get(i)?;
        if n == ABSENT {
            None
        } else if (n as usize) < self.stride {
            Some(&self.data[i + 1..i + 1 + n as usize])
        } else {
            self.overflow.get(&id).map(|l| l.as_slice())
        }
    }

    /// Sets the list of covered id `id`.
    pub fn set(&mut self, id: u32, list: &[u32]) {
        let i = id as usize * self.stride;
        if self.data.len() < i + self.stride {
            let want = (i + self.stride).max(self.data.len() + self.data.len() / 4);
            // Growth by a quarter, exactly: `resize` alone would double the capacity.
            let len = want.next_multiple_of(self.stride);
            self.data.reserve_exact(len - self.data.len());
            self.data.resize(len, ABSENT);
        }
        if list.len() < self.stride {
            self.data[i] = list.len() as u32;
            self.data[i + 1..i + 1 + list.len()].copy_from_slice(list);
            self.overflow.remove(&id);
        } else {
            self.data[i] = self.stride as u32;
            self.overflow.insert(id, list.to_vec());
        }
    }

    pub fn remove(&mut self, id: u32) {
        let i = id as usize * self.stride;
        if i < self.data.len() {
            self.data[i] = ABSENT;
            self.overflow.remove(&id);
        }
    }

    /// Asks the CPU to start loading `id`'s row.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let i = id as usize * self.stride;
        if i < self.data.len() {
            crate::prefetch::prefetch_ptr(self.data[i..].as_ptr().cast(), (self.stride * 4).div_ceil(64).min(4));
        }
    }

    /// Lists held.
    pub fn len(&self) -> usize {
        self.data.chunks_exact(self.stride).filter(|r| r[0] != ABSENT).count()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        (self.data.capacity() * 4) as u64 + self.overflow.values().map(|l| l.capacity() as u64 * 4 + 48).sum::<u64>()
    }

    /// Bytes one row costs.
    pub fn row_bytes(max_degree: usize) -> u64 {
        (max_degree as u64 + 1) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_overflow() {
        let mut t = AdjTable::new(3, 10);
        assert!(t.covers(9) && !t.covers(10));
        assert_eq!(t.get(4), None);
        t.set(4, &[1, 2]);
        t.set(0, &[]);
        assert_eq!(t.get(4), Some(&[1u32, 2][..]));
        assert_eq!(t.get(0), Some(&[][..]));
        t.set(5, &[1, 2, 3, 4, 5]);
        assert_eq!(t.get(5), Some(&[1u32, 2, 3, 4, 5][..]));
        t.set(5, &[7]);
        assert_eq!(t.get(5), Some(&[7u32][..]));
        t.remove(4);
        assert_eq!(t.get(4), None);
        assert_eq!(t.len(), 2);
    }
}
