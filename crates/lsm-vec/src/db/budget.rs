//! How `memory_budget_bytes` is split among the parts that grow with the data.
//!
//! Rule (also in the README):
//! * budget 0 (default): no budget. Codes for every graph node, the dense adjacency table for
//!   every node, the page cache at `paged_max_cached_pages`, the edge cache at `edge_cache_size`
//!   (used only for ids the table does not cover: none).
//! * budget B > 0, for N nodes at open (sized for 1.25 N, so growth stays inside):
//!   1. bookkeeping, ~`NODE_BYTES` per node (id map, node table, slots, in-degrees), comes first;
//!   2. the codes (`dim` bytes per graph node, +4 under cosine) must fit in what is left, else
//!      `open` fails with `InvalidArgument` naming both numbers (set `quantization = none`,
//!      or raise the budget). If inserts later push the codes past their share, they are
//!      dropped (searches use the full vectors; logged, and `stats().code_bytes` shows 0);
//!   3. the page cache: `paged_max_cached_pages` when it was changed from the specification's
//!      default, else a tenth of what is left (at least 64 pages);
//!   4. the adjacency table covers as many ids as the rest holds, and the edge cache gets
//!      `edge_cache_size` lists when it was changed from its default, else none (ids past the
//!      table read their lists from the LSM's block cache).
//!
//! A budget smaller than the bookkeeping, or than 1 MiB, is `InvalidArgument`.

use crate::error::{Error, Result};
use crate::graph::AdjTable;
use crate::options::DbOptions;
use crate::quant::Codes;
use crate::vectors::PAGE_BYTES;

/// Bookkeeping bytes per node outside the budgeted parts (measured on the in-memory tables).
pub(crate) const NODE_BYTES: u64 = 64;
const MIN_BUDGET: u64 = 1 << 20;

/// The sizes of the budgeted parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MemoryPlan {
    /// The budget (0: none).
    pub budget: u64,
    /// Bytes of one code (0: no codes).
    pub code_per: u64,
    /// Bytes of one adjacency table row.
    pub row: u64,
    /// Code bytes planned at open (`u64::MAX`: unbounded; 0: no codes).
    pub code_bytes: u64,
    /// Internal ids below this have their lists in the dense table.
    pub adj_nodes: usize,
    pub page_cache_pages: usize,
    pub edge_cache_lists: usize,
}

pub(crate) fn plan(o: &DbOptions, nodes: usize) -> Result<MemoryPlan> {
    let defaults = DbOptions::default();
    let code_per = Codes::bytes_per_vector(o.dim, o.metric, o.quantization)
        + match (o.quantization, o.routing) {
            (crate::options::Quantization::None, _) | (_, crate::options::Routing::Exact) => 0,
            (_, crate::options::Routing::Probabilistic) => crate::quant::Router::BYTES_PER_NODE,
        };
    let budget = o.memory_budget_bytes;
    if budget == 0 {
        return Ok(MemoryPlan {
            budget: 0,
            code_per,
            row: AdjTable::row_bytes(o.max_degree0()),
            code_bytes: if code_per == 0 { 0 } else { u64::MAX },
            adj_nodes: usize::MAX,
            page_cache_pages: o.paged_max_cached_pages,
            edge_cache_lists: o.edge_cache_size,
        });
    }
    let sized = (nodes as u64 + nodes as u64 / 4).max(1024);
    let fixed = sized * NODE_BYTES;
    if budget < MIN_BUDGET || budget <= fixed {
        return Err(Error::invalid(format!(
            "memory_budget_bytes {budget} is too small: {} vectors need {} bytes of bookkeeping, and the budget must be at least {MIN_BUDGET}",
            nodes, fixed
        )));
    }
    let mut left = budget - fixed;
    let codes = sized * code_per;
    if codes > left {
        return Err(Error::invalid(format!(
            "memory_budget_bytes {budget} cannot hold the codes of {nodes} vectors ({codes} bytes after {fixed} bytes of bookkeeping): \
             raise the budget or set quantization = none"
        )));
    }
    left -= codes;
    let page_cache_pages = if o.paged_max_cached_pages != defaults.paged_max_cached_pages {
        o.paged_max_cached_pages
    } else {
        ((left / 10) / PAGE_BYTES as u64).max(64) as usize
    };
    left = left.saturating_sub(page_cache_pages as u64 * PAGE_BYTES as u64);
    let row = AdjTable::row_bytes(o.max_degree0());
    let edge_cache_lists = if o.edge_cache_size != defaults.edge_cache_size { o.edge_cache_size } else { 0 };
    left = left.saturating_sub(edge_cache_lists as u64 * (row + 48));
    // The table covers as many ids as fit together with their bookkeeping and codes: beyond
    // the `sized` nodes already paid for, each covered id also costs its bookkeeping and code.
    let caches = budget - fixed - codes - left;
    let full = (budget - caches) / (row + NODE_BYTES + code_per);
    let adj_nodes = if full >= sized { full } else { left / row } as usize;
    Ok(MemoryPlan { budget, code_per, row, code_bytes: codes, adj_nodes, page_cache_pages, edge_cache_lists })
}

impl MemoryPlan {
    /// Whether the codes of `nodes` graph nodes (with their bookkeeping, the adjacency rows the
    /// table holds for them, and the caches) fit in the budget.
    pub fn codes_fit(&self, nodes: usize) -> bool {
        if self.code_per == 0 {
            return false;
        }
        if self.budget == 0 {
            return true;
        }
        let n = nodes as u64;
        let caches = self.page_cache_pages as u64 * PAGE_BYTES as u64 + self.edge_cache_lists as u64 * (self.row + 48);
        n * (NODE_BYTES + self.code_per) + n.min(self.adj_nodes as u64) * self.row + caches <= self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_the_budget() {
        let mut o = DbOptions::new(128);
        o.m = 16;
        for budget in [4u64 << 20, 64 << 20, 1 << 30] {
            o.memory_budget_bytes = budget;
            let p = plan(&o, 10_000).unwrap();
            let total = 12_500 * NODE_BYTES
                + p.code_bytes
                + p.page_cache_pages as u64 * 4096
                + (p.adj_nodes as u64).min(12_500) * AdjTable::row_bytes(o.max_degree0());
            assert!(total <= budget, "{budget}: {p:?} uses {total}");
            assert!(p.codes_fit(10_000));
            // A table full to its capacity still leaves room for the codes of its nodes.
            let full = p.adj_nodes as u64 * (NODE_BYTES + 128 + AdjTable::row_bytes(o.max_degree0()))
                + p.page_cache_pages as u64 * 4096;
            assert!(full <= budget, "{budget}: a full table overflows ({full})");
        }
        o.memory_budget_bytes = 100;
        assert_eq!(plan(&o, 10).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        o.memory_budget_bytes = 2 << 20;
        assert_eq!(plan(&o, 1_000_000).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        o.quantization = crate::options::Quantization::None;
        o.memory_budget_bytes = 0;
        assert_eq!(plan(&o, 5).unwrap().code_bytes, 0);
    }
}
