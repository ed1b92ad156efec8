//! Persistent state of the index in the LSM tree (fjall): layer-0 adjacency lists, upper-layer
//! lists, the node table and metadata, plus the decoded adjacency cache in front of it.
//!
//! Who calls it: `db` only. It knows the byte encodings (`codec`) and reaches the LSM through
//! `storage::KvStore` (`store`: fjall itself is in `storage::disk`); it knows nothing of HNSW
//! rules.

mod adj_table;
pub(crate) mod codec;
mod edge_cache;
mod store;

pub(crate) use adj_table::AdjTable;
pub(crate) use edge_cache::EdgeCache;
pub(crate) use store::{LsmStore, StoreWrite};

use std::hash::{BuildHasher, Hasher};

/// A fast hasher for integer ids (multiply-xorshift); ids are not attacker-controlled keys of a
/// network service, and SipHash would cost more than the lookup it guards.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHashBuilder;

pub(crate) struct IdHasher(u64);

impl BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0 ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
