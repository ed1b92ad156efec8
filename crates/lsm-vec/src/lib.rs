//! # lsm-vec
//!
//! A disk-resident vector database for dynamic workloads: an HNSW index whose upper layers live
//! in memory and whose layer 0 lives in an LSM tree ([fjall](https://docs.rs/fjall)), with the raw
//! vectors in a paged file read through a bounded page cache.
//!
//! ```
//! use lsm_vec::{DbOptions, LsmVecDb, SearchOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut opts = DbOptions::new(4);
//! opts.reinit = true;
//! let db = LsmVecDb::open(dir.path(), opts).unwrap();
//! db.insert(42, &[1.0, 0.0, 0.0, 0.0]).unwrap();
//! db.insert(7, &[0.0, 1.0, 0.0, 0.0]).unwrap();
//! let hits = db.search_knn(&[0.9, 0.1, 0.0, 0.0], &SearchOptions::new(1, 16)).unwrap();
//! assert_eq!(hits[0].id, 42);
//! db.close().unwrap();
//! ```
#![warn(missing_docs)]

mod cache;
mod db;
pub mod distance;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod graph;
mod hnsw;
mod options;
mod prefetch;
mod quant;
mod rng;
mod stats;
mod storage;
mod vectors; // Not API: wrappers of the private decoders for the fuzz tests and fuzz/; may change in any release.

pub use db::LsmVecDb;
pub use error::{Error, ErrorKind, Result};
pub use options::{
    DbOptions, DistanceMetric, Quantization, Routing, SearchOptions, SearchResult, VectorStorageType, MAX_DIM,
};
pub use stats::{LatencySummary, Stats};

/// Injected I/O failures, for tests of the failure paths (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub mod fault {
    pub use crate::db::fault::Fault;
}

/// Simulated storage for the power-cut tests (feature `fault-injection`): an in-memory file
/// system that remembers what is durable, fails a chosen I/O step, tears a write or cuts the
/// power. Open a database over it with [`LsmVecDb::open_with_storage`].
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod sim {
    pub use crate::storage::sim::{IoCounts, SimStorage};
    pub use crate::storage::{FaultReport, SimFault, Writeback};
}

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
