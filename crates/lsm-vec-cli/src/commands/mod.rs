//! One module per subcommand: `bench`, `gen_data`, `load`, `stats`, `trace` (gen-trace and
//! replay, which share the trace layout).

pub mod bench;
pub mod gen_data;
pub mod load;
pub mod stats;
pub mod trace;
