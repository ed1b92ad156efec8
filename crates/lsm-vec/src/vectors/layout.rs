//! Where slot `i` lives in the file, for both layouts (pure arithmetic).

use crate::options::VectorStorageType;

/// Size of a page of the vector file and of the page cache.
pub(crate) const PAGE_BYTES: usize = 4096;
/// f32 values per page.
pub(crate) const PAGE_FLOATS: usize = PAGE_BYTES / 4;
/// The header occupies the first page; data pages follow.
pub(crate) const HEADER_BYTES: u64 = PAGE_BYTES as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub storage: VectorStorageType,
    /// Bytes of one record (`dim * 4`).
    pub rec_bytes: usize,
    /// Records per page (paged layout, records up to one page); 1 for records spanning pages.
    pub slots_per_page: usize,
    /// Pages one record takes (paged layout, records larger than a page); else 1.
    pub pages_per_slot: usize,
}

impl Layout {
    pub fn new(storage: VectorStorageType, dim: usize) -> Layout {
        let rec_bytes = dim * 4;
        let (slots_per_page, pages_per_slot) =
            if rec_bytes <= PAGE_BYTES { (PAGE_BYTES / rec_bytes, 1) } else { (1, rec_bytes.div_ceil(PAGE_BYTES)) };
        Layout { storage, rec_bytes, slots_per_page, pages_per_slot }
    }

    /// Data page and float index within it of the first value of `slot` (hot path: u32 math).
    #[inline]
    pub fn locate(&self, slot: u32) -> (u32, usize) {
        match self.storage {
            VectorStorageType::Paged if self.pages_per_slot == 1 => {
                let spp = self.slots_per_page as u32;
                (slot / spp, (slot % spp) as usize * (self.rec_bytes / 4))
            }
            _ => {
                let off = self.offset(slot) - HEADER_BYTES;
                ((off / PAGE_BYTES as u64) as u32, (off % PAGE_BYTES as u64) as usize / 4)
            }
        }
    }

    /// File offset of slot `slot`.
    pub fn offset(&self, slot: u32) -> u64 {
        let s = slot as u64;
        match self.storage {
            VectorStorageType::Basic => HEADER_BYTES + s * self.rec_bytes as u64,
            VectorStorageType::Paged => {
                if self.pages_per_slot > 1 {
                    HEADER_BYTES + s * (self.pages_per_slot * PAGE_BYTES) as u64
                } else {
                    let spp = self.slots_per_page as u64;
                    HEADER_BYTES + (s / spp) * PAGE_BYTES as u64 + (s % spp) * self.rec_bytes as u64
                }
            }
        }
    }

    /// Data page holding the first byte of `slot` (pages are numbered from the end of the header).
    pub fn first_page(&self, slot: u32) -> u64 {
        (self.offset(slot) - HEADER_BYTES) / PAGE_BYTES as u64
    }

    /// The data pages `slot` touches.
    #[cfg(test)]
    pub fn pages(&self, slot: u32) -> std::ops::Range<u64> {
        let start = self.offset(slot) - HEADER_BYTES;
        let end = start + self.rec_bytes as u64;
        (start / PAGE_BYTES as u64)..end.div_ceil(PAGE_BYTES as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_records_never_straddle_pages() {
        for dim in [1usize, 3, 100, 128, 384, 1000, 1024] {
            let l = Layout::new(VectorStorageType::Paged, dim);
            for slot in 0..200 {
                let p = l.pages(slot);
                assert_eq!(p.end - p.start, 1, "dim {dim} slot {slot}");
            }
        }
    }

    #[test]
    fn large_records_take_whole_pages() {
        let l = Layout::new(VectorStorageType::Paged, 1536);
        assert_eq!(l.pages_per_slot, 2);
        assert_eq!(l.offset(3), HEADER_BYTES + 3 * 2 * PAGE_BYTES as u64);
        assert_eq!(l.pages(3), 6..8);
    }

    #[test]
    fn locate_agrees_with_offset() {
        for storage in [VectorStorageType::Basic, VectorStorageType::Paged] {
            for dim in [1usize, 3, 64, 100, 1024, 1536] {
                let l = Layout::new(storage, dim);
                for slot in [0u32, 1, 7, 8, 15, 16, 1000, 123_457] {
                    let off = l.offset(slot) - HEADER_BYTES;
                    let (p, s) = l.locate(slot);
                    assert_eq!(p as u64 * PAGE_BYTES as u64 + s as u64 * 4, off, "{storage:?} dim {dim} slot {slot}");
                }
            }
        }
    }

    #[test]
    fn basic_is_packed() {
        let l = Layout::new(VectorStorageType::Basic, 100);
        assert_eq!(l.offset(10), HEADER_BYTES + 4000);
        assert_eq!(l.pages(10), 0..2);
    }
}
