//! Epoch-stamped visited set: clearing is O(1) except once every 65535 uses.

pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    pub fn new() -> Visited {
        Visited { marks: Vec::new(), epoch: 0 }
    }

    /// Starts a new search over ids `< bound`.
    pub fn reset(&mut self, bound: usize) {
        if self.marks.len() < bound {
            self.marks.resize(bound + bound / 4 + 16, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// Marks `id`; true if it was not marked in this search.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        if i >= self.marks.len() {
            self.marks.resize(i + i / 4 + 16, 0);
        }
        if self.marks[i] == self.epoch {
            false
        } else {
            self.marks[i] = self.epoch;
            true
        }
    }
}
