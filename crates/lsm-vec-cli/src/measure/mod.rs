//! Measurement shared by the commands: `pass` (one query pass and its sweep row), `report`
//! (memory and disk usage, percentiles, recall, progress, output files, the engine's JSON).

pub mod pass;
pub mod report;
