//! Placeholder while the engine is written; every call fails.
use std::path::Path;
use crate::error::{Error, Result};
use crate::options::{DbOptions, SearchOptions, SearchResult};
use crate::stats::Stats;

pub(crate) struct Engine { opts: DbOptions }
fn nyi<T>() -> Result<T> { Err(Error::Storage("engine under construction".into())) }
impl Engine {
    pub fn open(_p: &Path, _o: DbOptions) -> Result<Engine> { nyi() }
    pub fn open_existing(_p: &Path) -> Result<Engine> { nyi() }
    pub fn close(&self) -> Result<()> { nyi() }
    pub fn options(&self) -> &DbOptions { &self.opts }
    pub fn insert(&self, _i: u64, _v: &[f32]) -> Result<()> { nyi() }
    pub fn insert_batch(&self, _i: &[u64], _v: &[f32]) -> Result<()> { nyi() }
    pub fn update(&self, _i: u64, _v: &[f32]) -> Result<()> { nyi() }
    pub fn delete(&self, _i: u64) -> Result<()> { nyi() }
    pub fn get(&self, _i: u64) -> Result<Vec<f32>> { nyi() }
    pub fn contains(&self, _i: u64) -> bool { false }
    pub fn len(&self) -> usize { 0 }
    pub fn search(&self, _q: &[f32], _o: &SearchOptions) -> Result<Vec<SearchResult>> { nyi() }
    pub fn search_batch(&self, _q: &[f32], _o: &SearchOptions, _t: usize) -> Result<Vec<Vec<SearchResult>>> { nyi() }
    pub fn flush(&self) -> Result<()> { nyi() }
    pub fn stats(&self) -> Result<Stats> { nyi() }
}
