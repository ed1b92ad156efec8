//! The vector file: fixed-size records ("slots") in one of two layouts, read with positioned
//! I/O (a `storage::VectorIo`) through a bounded user-space page cache, and the allocator that
//! places new vectors.
//!
//! Who calls it: `db` (open, write before commit, invalidate after commit) and, through the
//! `hnsw::Graph` implementation in `db`, the search. It knows nothing about the graph.

mod allocator;
mod file;
mod layout;

pub(crate) use allocator::SlotAllocator;
pub(crate) use file::{checksum, Header, IoCounters, VectorFile};
pub(crate) use layout::PAGE_BYTES;
